//! The evidence sources on thousands of generated pages: random and pathological markup,
//! state scripts, price attributes and platform fingerprints. Nothing may panic, every price
//! is positive, every strength within 0..1, and no page takes long. Seeded: every run is the
//! same.

use std::time::Duration;

use haul_core::{Decimal, Url};
use haul_extract::Page;
use haul_extract::evidence::evidence;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Markup pieces the sources look at, broken and whole.
const PIECES: &[&str] = &[
    "<script>window.__INITIAL_STATE__ = ",
    "<script>dataLayer.push(",
    "<script>var dataLayer = [",
    "<script>gtag('event', 'view_item', ",
    "<script>var utag_data = ",
    "JSON.parse(\"",
    "<script>var meta = ",
    "ShopifyAnalytics",
    "<script id=\"__NEXT_DATA__\" type=\"application/json\">",
    "<script type=\"text/x-magento-init\">",
    "<script type=\"application/json\" id=\"ProductJson-1\">",
    "</script>",
    "{\"product\":{\"name\":\"Tent\",\"price\":",
    "{name: 'Tent', price: '",
    "\"prices\":{\"finalPrice\":{\"amount\":",
    "\"price\":{\"value\":",
    "\"compare_at_price\":",
    "\"centAmount\":",
    "\"fractionDigits\":99,",
    "\"items\":[{\"item_name\":\"Tent\",\"price\":",
    "\"discount\":",
    "129900",
    "-5",
    "0",
    "1e400",
    "\"1.299,00 €\"",
    "\"$\"",
    "null",
    "}",
    "]",
    "{",
    "[",
    ",",
    ":",
    "'",
    "\\",
    "<div data-price=\"",
    "<span data-price-amount=\"12\" data-price-type=\"oldPrice\">",
    "<span data-product-price-without-tax>",
    "<div data-mage-init='{\"priceBox\":{\"priceConfig\":{\"productId\":1,\"prices\":",
    "<div data-gtm='",
    "'>",
    "\">",
    "<meta itemprop=\"price\" content=\"",
    "<span itemprop=\"lowPrice\">",
    "<div itemscope>",
    "</div>",
    "<meta name=\"twitter:label1\" content=\"Price\"><meta name=\"twitter:data1\" content=\"",
    "<meta property=\"product:sale_price:amount\" content=\"",
    "<body class=\"woocommerce\"><div class=\"summary\"><p class=\"price\"><ins><span class=\"amount\">",
    "<div class=\"product-info-main\"><span data-price-type=\"finalPrice\" data-price-amount=\"",
    "<script>var prestashop = {\"currency\":{\"iso_code\":",
    "<link href=\"/on/demandware.static/x.css\"><div class=\"product-detail\"><div class=\"prices\"><span class=\"sales\"><span class=\"value\" content=\"",
    "<script>var BCData = {\"product_attributes\":{\"price\":{\"without_tax\":{\"value\":",
    "<div class=\"shopify-section\"><script>Shopify.shop = 1;</script><div class=\"product\"><span data-product-price>",
    "<header>",
    "<footer>",
    "<h1>Tent</h1>",
];

/// The CPU time of the calling thread, from /proc (clock ticks of 10 ms): what a page costs
/// whatever else the machine runs.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(PIECES).prop_map(str::to_string),
        1 => proptest::collection::vec(any::<char>(), 0..12).prop_map(|c| c.into_iter().collect()),
        1 => (1usize..300).prop_map(|n| "{\"a\":".repeat(n)),
        1 => (1usize..300).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
    ]
}

fn page_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(piece(), 0..40).prop_map(|v| v.concat())
}

#[test]
fn evidence_survives_generated_pages() {
    let config = Config {
        cases: 3_000,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
    let url = Url::parse("https://shop.example/products/tent").expect("a valid URL");
    let result = runner.run(&page_text(), |html| {
        let page = Page::parse(&html, &url);
        let start = thread_cpu();
        let ev = evidence(&page);
        let spent = thread_cpu().saturating_sub(start);
        prop_assert!(spent < Duration::from_secs(2), "{spent:?} on {html:?}");
        for e in &ev {
            prop_assert!(e.price > Decimal::ZERO, "{e:?} on {html:?}");
            prop_assert!((0.0..=1.0).contains(&e.strength), "{e:?}");
            prop_assert!(e.list_price.is_none_or(|l| l > e.price), "{e:?}");
        }
        prop_assert!(ev.windows(2).all(|w| w[0].strength >= w[1].strength));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn evidence_survives_huge_and_deep_state() {
    let url = Url::parse("https://shop.example/products/tent").expect("a valid URL");
    let deep = format!(
        "<script>window.__INITIAL_STATE__ = {}{}</script>",
        "{\"a\":[".repeat(5_000),
        "]}".repeat(5_000)
    );
    let wide = format!(
        "<script id=\"__NEXT_DATA__\" type=\"application/json\">[{}]</script>",
        vec![r#"{"name":"x","price":1.5}"#; 100_000].join(",")
    );
    let unterminated = format!("<script>dataLayer.push({{a: '{}", "x".repeat(1 << 20));
    let many_attrs = r#"<span data-price="1.00" data-old-price="2">"#.repeat(20_000);
    // An `<h1>` never closed holds the rest of the page (its title words), and the state
    // holds thousands of variants with schema.org-shaped offers: each is compared with the
    // page's title words.
    let broken_h1 = format!(
        "<h1>Tent {}<script id=\"__NEXT_DATA__\" type=\"application/json\">[{}]</script>",
        "ultralight dome tent for two ".repeat(40_000),
        vec![r#"{"name":"Tent variant","offers":{"price":"3","priceCurrency":"EUR"}}"#; 5_000]
            .join(",")
    );
    for html in [deep, wide, unterminated, many_attrs, broken_h1] {
        let page = Page::parse(&html, &url);
        let start = thread_cpu();
        let _ = evidence(&page);
        let spent = thread_cpu().saturating_sub(start);
        assert!(spent < Duration::from_secs(5), "{spent:?} of CPU");
    }
}
