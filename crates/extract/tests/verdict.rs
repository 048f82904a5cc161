//! The verdict on a product record: its confidence, and abstention when the page says the
//! product is no longer sold or cannot be bought and shows no price, or the evidence is weak.

use haul_core::{Availability, Extraction, Url};
use haul_extract::{Page, extract_page, extract_page_at};

fn extract(html: &str, url: &str, floor: Option<f64>) -> Extraction {
    let page = Page::parse(html, &Url::parse(url).expect("a URL"));
    match floor {
        Some(f) => extract_page_at(&page, "generic", f),
        None => extract_page(&page, "generic"),
    }
}

/// A shop page around `main`, with the chrome real shops have (a cart total, a related
/// products carousel with its own prices, a footer).
fn shop(head: &str, main: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en-GB"><head><title>Orbit Desk Lamp | Lumen</title>{head}
<script src="/static/app.js" defer></script></head><body>
<header><a href="/">Lumen</a><div class="mini-cart">Basket £0.00</div></header>
<main>{main}
<section class="related-products"><h2>You may also like</h2>
<div class="card"><a href="/p/2">Orbit Lamp 2026</a><span class="price">£59.00</span></div>
<div class="card"><a href="/p/3">E27 Bulb</a><span class="price">£6.50</span></div></section>
</main><footer>Lumen Ltd</footer></body></html>"#
    )
}

fn ld(price: &str, availability: &str) -> String {
    format!(
        r#"<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Product",
"name":"Orbit Desk Lamp","offers":{{"@type":"Offer","price":"{price}","priceCurrency":"GBP",
"availability":"https://schema.org/{availability}"}}}}</script>"#
    )
}

const URL: &str = "https://www.lumen.example.co.uk/p/orbit-desk-lamp";

#[test]
fn a_product_no_longer_sold_gets_no_price_and_a_warning() {
    // The structured data still holds the last price; the page says the lamp is gone.
    let html = shop(
        &ld("49.99", "InStock"),
        r#"<h1>Orbit Desk Lamp</h1><p class="notice">Sorry, this product is no longer available.</p>"#,
    );
    let ex = extract(&html, URL, None);
    let r = &ex.records[0];
    assert_eq!(r.price, None, "{r:?}");
    assert_eq!(r.currency, None);
    assert_eq!(r.availability, Some(Availability::Discontinued));
    assert!(
        ex.warnings.iter().any(|w| w
            .0
            .contains("49.99 withheld: the page says the product is no longer sold")),
        "{:?}",
        ex.warnings
    );
    // schema.org's Discontinued says so on its own.
    let html = shop(&ld("49.99", "Discontinued"), "<h1>Orbit Desk Lamp</h1>");
    assert_eq!(extract(&html, URL, None).records[0].price, None);
}

#[test]
fn a_sold_out_product_that_shows_its_price_keeps_it() {
    let html = shop(
        &ld("49.99", "OutOfStock"),
        r#"<h1>Orbit Desk Lamp</h1><span class="price">£49.99</span><p class="stock">Out of stock</p>"#,
    );
    let ex = extract(&html, URL, None);
    let r = &ex.records[0];
    assert_eq!(r.price.map(|p| p.to_string()).as_deref(), Some("49.99"));
    assert_eq!(r.availability, Some(Availability::OutOfStock));
    // Structured data and the visible page agree: high confidence.
    assert!(r.confidence.expect("a confidence") >= 0.85, "{r:?}");

    // Sold out and no price shown anywhere: the structured price is not vouched for.
    let html = shop(
        &ld("49.99", "OutOfStock"),
        r#"<h1>Orbit Desk Lamp</h1><p class="stock">Currently unavailable.</p>"#,
    );
    let ex = extract(&html, URL, None);
    assert_eq!(ex.records[0].price, None);
    assert!(
        ex.warnings.iter().any(|w| w.0.contains("unavailable")),
        "{:?}",
        ex.warnings
    );
}

#[test]
fn confidence_ranks_sources_and_a_floor_trades_recall_for_precision() {
    let structured = shop(
        &ld("49.99", "InStock"),
        r#"<h1>Orbit Desk Lamp</h1><span class="price">£49.99</span><button>Add to basket</button>"#,
    );
    let heuristic = shop(
        "",
        r#"<h1>Orbit Desk Lamp</h1><span class="price">£49.99</span><button>Add to basket</button>"#,
    );
    let c = |html: &str| {
        extract(html, URL, None).records[0]
            .confidence
            .expect("a confidence")
    };
    let (s, h) = (c(&structured), c(&heuristic));
    assert!(s > h, "structured {s} <= heuristic {h}");
    assert!((0.0..=1.0).contains(&s) && (0.0..=1.0).contains(&h));
    // A floor above the heuristic's confidence withholds its price, not the structured one.
    let floor = (s + h) / 2.0;
    assert_eq!(extract(&heuristic, URL, Some(floor)).records[0].price, None);
    assert!(
        extract(&structured, URL, Some(floor)).records[0]
            .price
            .is_some()
    );
}

#[test]
fn structured_data_contradicted_by_the_page_loses_confidence() {
    // JSON-LD says 49.99; the page shows 39.99 as the price and 49.99 nowhere.
    let agreeing = shop(
        &ld("49.99", "InStock"),
        r#"<h1>Orbit Desk Lamp</h1><span class="price">£49.99</span><button>Add to basket</button>"#,
    );
    let contradicted = shop(
        &ld("49.99", "InStock"),
        r#"<h1>Orbit Desk Lamp</h1><span class="price">£39.99</span><button>Add to basket</button>"#,
    );
    let a = extract(&agreeing, URL, None).records[0].clone();
    let b = extract(&contradicted, URL, None).records[0].clone();
    // The visible price wins and its confidence is lower than agreeing sources give.
    assert_eq!(b.price.map(|p| p.to_string()).as_deref(), Some("39.99"));
    assert!(b.confidence < a.confidence, "{b:?} vs {a:?}");
}

#[test]
fn a_price_whose_currency_cannot_be_decided_says_so_instead_of_guessing_usd() {
    // A `$` on a Spanish page of a generic domain: MXN, ARS, CLP, COP... not USD.
    let html = r#"<!DOCTYPE html><html lang="es"><head><title>Zapatillas Pampa | Deportes</title></head>
<body><header><a href="/">Deportes</a></header><main><h1>Zapatillas Pampa</h1>
<span class="price">$ 89.999</span><button>Agregar al carrito</button></main></body></html>"#;
    let ex = extract(html, "https://www.deportes.example.com/p/pampa", None);
    let r = &ex.records[0];
    assert_eq!(r.currency, None, "{r:?}");
    assert!(
        ex.warnings
            .iter()
            .any(|w| w.0.contains("currency undecided: `$` could be")),
        "{:?}",
        ex.warnings
    );
}
