//! Generative test of the hostile web: random and pathological documents (deep nesting, huge
//! attribute values, cyclic and deep JSON-LD, random bytes, odd unicode, random price strings)
//! thrown at `haul-price`, `haul-extract` and every registered site's `parse`. Nothing may
//! panic, and no parser may take more than [`MAX_CPU`] of CPU on one document (measured per
//! call, in the unoptimised test build). The seed is fixed and the case budget small, so the
//! run is the same every time.

use std::time::Duration;

use haul_core::{Document, Url};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// CPU time one parser may take on one document (generous: the optimised build takes well
/// under a tenth of it on the worst documents generated here).
const MAX_CPU: Duration = Duration::from_secs(2);

/// Cases per strategy.
const CASES: u32 = 16;

/// The CPU time of the calling thread, from /proc (clock ticks of 10 ms).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Runs `f`, failing when it takes more than [`MAX_CPU`] of CPU.
fn timed<T>(what: &str, body: &str, f: impl FnOnce() -> T) -> T {
    let start = thread_cpu();
    let out = f();
    let spent = thread_cpu().saturating_sub(start);
    assert!(
        spent < MAX_CPU,
        "{what}: {spent:?} of CPU for a document of {} bytes starting {:?}",
        body.len(),
        body.chars().take(120).collect::<String>()
    );
    out
}

/// Every parser on one document: the price parser on its text, generic extraction, and each
/// site's `parse` at a page, a Shopify JSON and a WooCommerce Store API address.
fn hammer(body: &str) {
    let hints = haul_price::Hints::default();
    let short: String = body.chars().take(400).collect();
    timed("haul-price", body, || {
        let _ = haul_price::parse_price(&short, &hints);
        let _ = haul_price::find_prices(&short, &hints);
    });
    let url = Url::parse("https://shop.example/products/x").expect("a valid URL");
    let page = timed("Page::parse", body, || {
        haul_extract::Page::parse(body, &url)
    });
    timed("extract_page", body, || {
        haul_extract::extract_page(&page, "generic")
    });
    timed("evidence", body, || haul_extract::evidence::evidence(&page));
    timed("page_markdown", body, || haul_extract::page_markdown(&page));
    timed("page_links", body, || haul_extract::page_links(&page));
    let registry = haul_sites::registry().expect("a valid registry");
    for reg in registry.iter() {
        let e = reg.extractor;
        let host = e.domains().first().copied().unwrap_or("shop.example");
        for path in [
            "/products/x",
            "/products.json?page=1",
            "/wp-json/wc/store/v1/products?page=1",
        ] {
            let Ok(u) = Url::parse(&format!("https://{host}{path}")) else {
                continue;
            };
            let doc = Document::new(u, body);
            let _ = timed(&format!("{} at {path}", e.name()), body, || e.parse(&doc));
        }
    }
}

fn runner(seed: u8) -> TestRunner {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    )
}

fn run(seed: u8, strategy: impl Strategy<Value = String>) {
    let mut r = runner(seed);
    let result = r.run(&strategy, |doc| {
        hammer(&doc);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Tags for the generated pages: block, inline, formatting, list, table, foreign, raw text.
const TAGS: &[&str] = &[
    "div", "span", "b", "a", "p", "li", "ul", "td", "tr", "table", "section", "svg", "math",
    "select", "option", "h1", "h2", "s", "del", "sup", "script", "textarea", "template", "x-y",
];

fn tag() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(TAGS)
}

/// Short text pieces that the extractors look at.
fn text_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("$19.99".to_string()),
        Just("1.299,00 €".to_string()),
        Just("Was $5 Now $4".to_string()),
        Just("Add to cart".to_string()),
        Just("&amp;&#x1F600;&#0;&bogus;".to_string()),
        proptest::collection::vec(any::<char>(), 0..40).prop_map(|c| c.into_iter().collect()),
    ]
}

/// A page nested up to 100,000 deep with one tag, text only at the bottom, or up to 5,000
/// deep with a price-like element at every level.
fn deep_page() -> impl Strategy<Value = String> {
    let shape = prop_oneof![(1usize..100_000, Just(false)), (1usize..5_000, Just(true))];
    (tag(), shape, text_piece()).prop_map(|(t, (n, every), text)| {
        let open = if every {
            format!("<{t} class=price itemprop=offers itemscope>{text}")
        } else {
            format!("<{t}>")
        };
        format!(
            "<html><head><title>{text}</title></head><body><h1>{text}</h1>{}{text}{}</body></html>",
            open.repeat(n),
            format!("</{t}>").repeat(n)
        )
    })
}

/// Random markup: a sequence of open tags, close tags, attributes with huge values, text,
/// microdata and JSON-LD.
fn random_markup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        tag().prop_map(|t| format!("<{t}>")),
        tag().prop_map(|t| format!("</{t}>")),
        (tag(), 0usize..20_000).prop_map(|(t, n)| format!("<{t} class=\"{}\">", "p".repeat(n))),
        text_piece(),
        Just(
            r#"<div itemscope itemtype="https://schema.org/Product" itemprop="a b c d">"#
                .to_string()
        ),
        Just(r#"<span itemprop="price offers name" content="9.99"></span>"#.to_string()),
        json_ld().prop_map(|j| format!(r#"<script type="application/ld+json">{j}</script>"#)),
        state_script(),
        Just(r#"<span data-price-amount="-1" data-price-type="finalPrice" data-price="9.99">"#.to_string()),
        Just(r#"<meta itemprop="price" content="1e400"><div class="shopify-section woocommerce price-box" data-product-id="1">"#.to_string()),
        Just("<!-- <div> -->".to_string()),
        Just("<![CDATA[".to_string()),
    ];
    proptest::collection::vec(piece, 0..80).prop_map(|v| v.concat())
}

/// Inline script state and price attributes for the evidence sources: JSON-LD-like values
/// (deep, self-referencing, not JSON) after every state marker they read.
fn state_script() -> impl Strategy<Value = String> {
    let marker = proptest::sample::select(vec![
        "<script>window.__INITIAL_STATE__ = ",
        "<script>dataLayer.push(",
        "<script>gtag('event','view_item',",
        "<script>var utag_data = JSON.parse(\"",
        "<script>ShopifyAnalytics.meta = ",
        r#"<script id="__NEXT_DATA__" type="application/json">"#,
        r#"<script type="text/x-magento-init">"#,
        r#"<script type="application/json" data-product-json>"#,
        "<script>var BCData = ",
        "<script>var prestashop = ",
    ]);
    (marker, json_ld()).prop_map(|(m, j)| {
        let attr = j.replace('\'', "&#39;");
        format!(
            "{m}{j}</script><div data-mage-init='{attr}' data-gtm='{attr}' data-price='{}'>",
            j.chars().take(30).collect::<String>()
        )
    })
}

/// JSON-LD that nests deep, references itself, fans out, or is not JSON at all.
fn json_ld() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..5_000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
        (1usize..3_000).prop_map(|n| format!(
            r#"{{"@type":"Product","name":"x","offers":{}{{"price":"1"}}{}}}"#,
            r#"{"@type":"AggregateOffer","offers":"#.repeat(n),
            "}".repeat(n)
        )),
        (1usize..2_000).prop_map(|n| {
            let refs = vec![r##"{"@id":"#b"}"##; n].join(",");
            let back = vec![r##"{"@id":"#a"}"##; n].join(",");
            format!(
                r##"{{"@graph":[{{"@type":"Product","name":"x","offers":{{"@id":"#a","price":"2","offers":[{refs}]}}}},{{"@id":"#b","@type":"Offer","offers":[{back}]}}]}}"##
            )
        }),
        Just(r##"{"@type":"Product","name":"x","offers":{"@id":"#o","offers":{"@id":"#o"}}}"##.to_string()),
        (1usize..2_000).prop_map(|n| format!(
            r#"{{"@type":"ProductGroup","name":"g","hasVariant":[{}]}}"#,
            vec![r#"{"@type":"Product","name":"v","isVariantOf":{"@id":"g"},"offers":{"price":"3"}}"#; n].join(",")
        )),
        proptest::collection::vec(any::<char>(), 0..200).prop_map(|c| c.into_iter().collect()),
    ]
}

/// Random bytes read as UTF-8 (lossily, as the fetcher does).
fn random_bytes() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), 0..8_192)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Price-like strings: digits, separators, currency signs and codes, and any character.
fn price_string() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        proptest::sample::select(
            "0123456789.,'  $€£¥₹-+()kKmMUSDEURCHF/:%"
                .chars()
                .collect::<Vec<_>>()
        ),
        any::<char>(),
    ];
    proptest::collection::vec(c, 0..400).prop_map(|c| c.into_iter().collect())
}

#[test]
fn deep_pages() {
    run(1, deep_page());
}

#[test]
fn random_markup_and_json_ld() {
    run(2, random_markup());
}

#[test]
fn json_ld_pages() {
    run(3, json_ld().prop_map(|j| {
        format!(r#"<html><body><h1>x</h1><script type="application/ld+json">{j}</script></body></html>"#)
    }));
}

#[test]
fn random_bytes_and_bodies_that_are_not_html() {
    run(4, random_bytes());
    run(5, json_ld());
}

#[test]
fn price_strings() {
    let mut r = runner(6);
    let result = r.run(&price_string(), |s| {
        let hints = haul_price::Hints::default();
        timed("haul-price", &s, || {
            let _ = haul_price::parse_price(&s, &hints);
            let _ = haul_price::find_prices(&s, &hints);
            let _ = haul_price::currency_to_iso(&s, &hints);
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
