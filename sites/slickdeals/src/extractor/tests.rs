//! Unit tests of the Slickdeals extractor on the recorded fixtures.

use super::*;

const BASE: &str = "https://slickdeals.net";

fn u(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(path: &str, file: &str) -> Extraction {
    Slickdeals
        .parse(&Document::new(u(&format!("{BASE}{path}")), fixture(file)))
        .unwrap()
}

fn s(d: Option<haul_core::Decimal>) -> Option<String> {
    d.map(|d| d.to_string())
}

#[test]
fn kinds_render_needs_and_wait_selectors() {
    let cases = [
        (
            "https://slickdeals.net/",
            "listing",
            RenderNeed::Auto,
            Some(CARD_SELECTOR),
        ),
        (
            "https://slickdeals.net/deals/tech/",
            "listing",
            RenderNeed::Auto,
            Some(CARD_SELECTOR),
        ),
        (
            "https://slickdeals.net/f/17876543-airpods?src=frontpage",
            "deal",
            RenderNeed::Never,
            None,
        ),
        (
            "https://slickdeals.net/e/17870000-editors-pick",
            "deal",
            RenderNeed::Never,
            None,
        ),
        (
            "https://slickdeals.net/f/",
            "listing",
            RenderNeed::Auto,
            Some(CARD_SELECTOR),
        ),
        (
            "https://slickdeals.net/forums/",
            "listing",
            RenderNeed::Auto,
            Some(CARD_SELECTOR),
        ),
    ];
    for (url, kind, need, wait) in cases {
        let url = u(url);
        let class = Slickdeals.classify(&url);
        assert_eq!(class.kind(), kind, "{url}");
        assert_eq!(class.render(), need, "{url}");
        assert_eq!(class.wait_for(), wait, "{url}");
    }
    assert!(Slickdeals.handles(&u("https://slickdeals.net/f/1-x")));
    assert!(Slickdeals.handles(&u("https://www.slickdeals.net/")));
    assert!(!Slickdeals.handles(&u("https://notslickdeals.net/")));
    assert_eq!(Slickdeals.start_urls(), vec![u("https://slickdeals.net/")]);
}

#[test]
fn front_page_cards_give_links_and_deal_records() {
    let ex = parse("/", "frontpage.html");
    let deal = |id: &str| u(&format!("{BASE}/f/{id}"));
    // Every deal card links to its deal page (query dropped); the sponsored card and the
    // sidebar do not count.
    assert_eq!(
        ex.links,
        vec![
            deal("17876543-apple-airpods-pro-2-usb-c-169-99-free-shipping"),
            deal("17876601-65-samsung-du7200-crystal-uhd-4k-smart-tv-399-99"),
            deal("17876655-free-pc-game-hogwarts-legacy-epic-games"),
            deal("17876702-costco-members-extra-20-off-select-patio-furniture"),
            deal("17876720-2-pack-mainstays-microfiber-bed-pillows-4-98"),
        ]
    );
    // (title, price, was, store, votes, image id, card link when it is no deal page); the
    // Costco card has no price: no record.
    let newegg = "https://www.newegg.com/samsung-990-evo-2tb/p/N82E16820147881";
    let want = [
        (
            "Apple AirPods Pro 2 Wireless Earbuds (USB-C)",
            "169.99",
            Some("249.00"),
            "Amazon",
            245,
            "17876543",
            None,
        ),
        (
            "65\" Samsung DU7200 Crystal UHD 4K Smart TV",
            "399.99",
            Some("529.99"),
            "Best Buy",
            87,
            "17876601",
            None,
        ),
        (
            "Hogwarts Legacy (PC Digital Download)",
            "0",
            None,
            "Epic Games Store",
            56,
            "17876655",
            None,
        ),
        (
            "2-Pack Mainstays Microfiber Bed Pillows (Standard/Queen)",
            "4.98",
            Some("9.97"),
            "Walmart",
            1024,
            "17876720",
            None,
        ),
        // Links straight to the store: the card's record names it (fragment dropped) as its
        // URL and as the deal link; nothing to follow.
        (
            "Samsung 990 EVO 2TB PCIe 4.0 NVMe SSD",
            "119.99",
            Some("169.99"),
            "Newegg",
            42,
            "17876733",
            Some(newegg),
        ),
    ];
    assert_eq!(ex.records.len(), want.len(), "{:#?}", ex.records);
    for (r, (title, price, was, store, votes, image, off_site)) in ex.records.iter().zip(want) {
        assert_eq!(r.kind, RecordKind::Deal);
        assert_eq!(r.title, title);
        assert_eq!(s(r.price).as_deref(), Some(price), "{title}");
        assert_eq!(s(r.list_price).as_deref(), was, "{title}");
        assert_eq!(
            r.currency.map(|c| c.to_string()).as_deref(),
            Some("USD"),
            "{title}"
        );
        assert_eq!(r.merchant.as_deref(), Some(store), "{title}");
        assert_eq!(r.votes, Some(votes), "{title}");
        let img = r.image.as_deref().unwrap();
        assert_eq!(
            img,
            format!("https://static.slickdealscdn.com/attachment/1/7/8/{image}.thumb")
        );
        let linked = ex.links.iter().any(|l| l.as_str() == r.url);
        match off_site {
            None => assert!(linked && r.deal_url.is_none(), "{}", r.url),
            Some(link) => {
                assert!(!linked, "{}", r.url);
                assert_eq!((r.url.as_str(), r.deal_url.as_deref()), (link, Some(link)));
            }
        }
        assert_eq!(r.source.as_deref(), Some("https://slickdeals.net/"));
        assert_eq!(r.method, Method::Css);
    }
}

/// A context for `level` of a crawl that goes down to `max_level`, with a fetcher that is
/// never used.
fn context(level: u32, max_level: u32) -> Context {
    let fetcher = haul_runner::HttpFetcher::new(&haul_runner::HttpOptions::local()).unwrap();
    Context::new(&Slickdeals, std::sync::Arc::new(fetcher))
        .with_level(level)
        .with_max_level(max_level)
}

#[tokio::test]
async fn a_listing_whose_links_are_followed_keeps_only_cards_without_a_deal_page() {
    let doc = || Document::new(u(&format!("{BASE}/")), fixture("frontpage.html"));
    let newegg = "https://www.newegg.com/samsung-990-evo-2tb/p/N82E16820147881";
    // (level, max level, records): at the crawl's last level the cards are all there is.
    let cases = [(0, 1, 1), (0, 2, 1), (1, 2, 1), (0, 0, 5), (2, 2, 5)];
    for (level, max_level, records) in cases {
        let ex = Slickdeals
            .extract(&context(level, max_level), doc())
            .await
            .unwrap();
        assert_eq!(ex.links.len(), 5, "level {level} of {max_level}");
        assert_eq!(ex.records.len(), records, "level {level} of {max_level}");
        assert!(ex.records.iter().any(|r| r.url == newegg));
        let kept = PageClass::of(Kind::Listing).check("slickdeals", &ex);
        assert!(kept.is_empty(), "{kept:?}");
    }
    // Deal pages are never filtered.
    let path = "/f/17876543-apple-airpods-pro-2-usb-c-169-99-free-shipping";
    let deal = Document::new(u(&format!("{BASE}{path}")), fixture("deal-17876543.html"));
    let ex = Slickdeals.extract(&context(1, 2), deal).await.unwrap();
    assert_eq!(ex.records.len(), 1);
}

#[test]
fn sponsored_cards_and_cards_without_a_link_give_nothing() {
    let cases = [
        r#"<div class="dealCard dealCard--sponsored"><a class="dealCard__title" href="https://shop.example/x">Ad</a><span class="dealCard__price">$5</span></div>"#,
        r#"<div class="dealCard" data-role="sponsoredDealCard"><a class="dealCard__title" href="/f/123-ad">Ad</a><span class="dealCard__price">$5</span></div>"#,
        r#"<li class="bp-p-blueberryDealCard bp-p-blueberryDealCard--Sponsored"><a class="bp-c-card_title" href="/f/124-ad">Ad</a><span class="bp-p-dealCard_price">$5</span></li>"#,
        r#"<div class="dealCard"><span class="dealCard__title">T</span><span class="dealCard__price">$1</span></div>"#,
    ];
    for body in cases {
        let ex = Slickdeals
            .parse(&Document::new(u("https://slickdeals.net/"), body))
            .unwrap();
        assert!(ex.records.is_empty() && ex.links.is_empty(), "{body}");
    }
    // The same card without the sponsored mark is a deal.
    let body = r#"<div class="dealCard"><a class="dealCard__title" href="https://shop.example/x">Kettle</a><span class="dealCard__price">$5</span></div>"#;
    let ex = Slickdeals
        .parse(&Document::new(u("https://slickdeals.net/"), body))
        .unwrap();
    assert_eq!(ex.records.len(), 1);
    assert_eq!(ex.records[0].url, "https://shop.example/x");
}

#[test]
fn blueprint_cards_are_read_too() {
    let ex = parse("/", "frontpage-blueprint.html");
    assert_eq!(ex.links.len(), 2);
    assert_eq!(ex.records.len(), 2);
    let r = &ex.records[0];
    assert_eq!(r.title, "LEGO Icons Orchid 10311 Building Set");
    assert_eq!(
        r.url,
        "https://slickdeals.net/f/17877001-lego-icons-orchid-10311-31-99"
    );
    assert_eq!(s(r.price).as_deref(), Some("31.99"));
    assert_eq!(s(r.list_price).as_deref(), Some("49.99"));
    assert_eq!(r.merchant.as_deref(), Some("Target"));
    assert_eq!(r.votes, Some(33));
    assert!(r.image.is_some());
    let r = &ex.records[1];
    assert_eq!(
        r.url,
        "https://slickdeals.net/f/17877020-anker-737-power-bank-24k-69-99"
    );
    assert_eq!(
        (r.merchant.as_deref(), r.votes, r.image.as_deref()),
        (Some("Amazon"), Some(12), None)
    );
}

#[test]
fn script_built_front_page_gives_nothing_over_http() {
    let ex = parse("/", "frontpage-script.html");
    assert!(ex.records.is_empty(), "{:?}", ex.records);
    assert!(ex.links.is_empty(), "{:?}", ex.links);
    // The breach the contract reports (no links) is what tells a monitor the page needs a
    // browser.
    assert_eq!(
        PageClass::of(Kind::Listing).check("slickdeals", &ex).len(),
        1
    );
}

#[test]
fn deal_pages_in_current_and_older_markup() {
    struct Want {
        path: &'static str,
        file: &'static str,
        title: &'static str,
        price: Option<&'static str>,
        was: Option<&'static str>,
        store: &'static str,
        votes: i64,
        posted: &'static str,
        deal_url: &'static str,
        image: Option<&'static str>,
        warnings: usize,
    }
    let cases = [
        Want {
            path: "/f/17876543-apple-airpods-pro-2-usb-c-169-99-free-shipping?src=frontpage",
            file: "deal-17876543.html",
            title: "Apple AirPods Pro 2 Wireless Earbuds (USB-C) $169.99 + Free Shipping",
            price: Some("169.99"),
            was: Some("249.00"),
            store: "Amazon",
            votes: 245,
            posted: "2024-12-03T15:14:00-05:00",
            deal_url: "https://slickdeals.net/click?pno=1234567&lno=1&trd=See%20Deal&au8=&u2=https%3A%2F%2Fwww.amazon.com%2Fdp%2FB0D1XD1ZV3",
            image: Some("https://static.slickdealscdn.com/attachment/1/7/8/17876543.attach"),
            warnings: 0,
        },
        Want {
            // The older thread markup: dealTitle, dealPrice, oldListPrice, #largeBuyNow.
            path: "/f/17876601-65-samsung-du7200-crystal-uhd-4k-smart-tv-399-99",
            file: "deal-17876601.html",
            title: "65\" Samsung DU7200 Crystal UHD 4K Smart TV $399.99",
            price: Some("399.99"),
            was: Some("529.99"),
            store: "Best Buy",
            votes: 87,
            posted: "12-02-2024 at 08:31 AM",
            deal_url: "https://slickdeals.net/click?pno=7654321&lno=1&u2=https%3A%2F%2Fwww.bestbuy.com%2Fsite%2F6578582.p",
            image: Some("https://static.slickdealscdn.com/attachment/1/7/8/17876601.attach"),
            warnings: 0,
        },
        Want {
            // Free; the outbound button is found by its text; a minus sign; og:image.
            path: "/f/17876655-free-pc-game-hogwarts-legacy-epic-games",
            file: "deal-17876655.html",
            title: "Hogwarts Legacy (PC Digital Download) Free",
            price: Some("0"),
            was: None,
            store: "Epic Games Store",
            votes: -4,
            posted: "2024-12-03T11:00:00+00:00",
            deal_url: "https://slickdeals.net/click?pno=2223334&lno=1&u2=https%3A%2F%2Fstore.epicgames.com%2Fen-US%2Fp%2Fhogwarts-legacy",
            image: Some("https://static.slickdealscdn.com/attachment/1/7/8/17876655.attach"),
            warnings: 0,
        },
        Want {
            // A coupon: "20% off" is not a price (warned, not invented).
            path: "/f/17876702-costco-members-extra-20-off-select-patio-furniture",
            file: "deal-17876702.html",
            title: "Costco Members: Extra 20% Off Select Patio Furniture",
            price: None,
            was: None,
            store: "Costco",
            votes: 19,
            posted: "2024-12-02T19:45:10-08:00",
            deal_url: "https://slickdeals.net/click?pno=3334445&lno=1&u2=https%3A%2F%2Fwww.costco.com%2Fpatio-furniture.html",
            image: None,
            warnings: 1,
        },
    ];
    for w in cases {
        let ex = parse(w.path, w.file);
        assert!(ex.links.is_empty(), "{}", w.file);
        assert_eq!(
            ex.warnings.len(),
            w.warnings,
            "{}: {:?}",
            w.file,
            ex.warnings
        );
        assert_eq!(ex.records.len(), 1, "{}", w.file);
        let r = &ex.records[0];
        assert_eq!(r.kind, RecordKind::Deal);
        assert_eq!(
            r.url,
            format!("{BASE}{}", w.path.split('?').next().unwrap())
        );
        assert_eq!(r.title, w.title, "{}", w.file);
        assert_eq!(s(r.price).as_deref(), w.price, "{}", w.file);
        assert_eq!(s(r.list_price).as_deref(), w.was, "{}", w.file);
        let currency = w.price.map(|_| "USD");
        assert_eq!(
            r.currency.map(|c| c.to_string()).as_deref(),
            currency,
            "{}",
            w.file
        );
        assert_eq!(r.merchant.as_deref(), Some(w.store), "{}", w.file);
        assert_eq!(r.votes, Some(w.votes), "{}", w.file);
        assert_eq!(r.posted_at.as_deref(), Some(w.posted), "{}", w.file);
        assert_eq!(r.deal_url.as_deref(), Some(w.deal_url), "{}", w.file);
        assert_eq!(r.image.as_deref(), w.image, "{}", w.file);
        assert_eq!(r.source, None);
    }
}

#[test]
fn odd_pages_never_panic_and_a_titleless_deal_page_is_an_error() {
    for body in [
        "",
        "<html>",
        "<<<>>>",
        "{\"json\": true}",
        "<div class=\"dealCard\"><a href=\"/f/\">x</a></div>",
    ] {
        let ex = Slickdeals
            .parse(&Document::new(u("https://slickdeals.net/"), body))
            .unwrap();
        assert!(ex.records.is_empty(), "{body}");
    }
    let url = "https://slickdeals.net/f/17879999-gone";
    let err = Slickdeals
        .parse(&Document::new(
            u(url),
            "<html><body><p>nothing</p></body></html>",
        ))
        .unwrap_err();
    assert!(err.to_string().contains(url), "{err}");
}
