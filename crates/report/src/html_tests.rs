//! Page tests: escaping, the change column, the order and self-containment.

use haul_output::PricePoint;

use super::*;

fn point(price: &str, crawl_id: i64, day: u32) -> PricePoint {
    PricePoint {
        seen_at: format!("2026-01-{day:02}T10:00:00Z"),
        price: Some(price.into()),
        currency: Some("EUR".into()),
        availability: Some("in_stock".into()),
        crawl_id,
    }
}

fn product(title: &str, history: Vec<PricePoint>, crawl_id: i64) -> ProductHistory {
    ProductHistory {
        site: "demo".into(),
        url: format!("http://127.0.0.1:1/product/{}", title.len()),
        title: title.into(),
        price: history.last().and_then(|h| h.price.clone()),
        currency: Some("EUR".into()),
        availability: Some("in_stock".into()),
        crawl_id,
        history,
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn hostile_titles_are_escaped_and_the_page_references_nothing() {
    let evil = "<script>alert(1)</script>\"' onmouseover=x <img src=http://evil/x>";
    let page = render(&[product(evil, vec![point("9.99", 1, 1)], 1)], now()).unwrap();
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;"),
        "{page}"
    );
    assert_eq!(page.matches("<svg").count(), 1);
    // With plain titles, nothing in the page refers to anything outside it.
    let page = render(&[product("Kettle", vec![point("9.99", 1, 1)], 1)], now()).unwrap();
    for forbidden in ["http:", "https:", "//", "src=", "href=", "url(", "@import"] {
        assert!(
            !page.contains(forbidden),
            "{forbidden} in the page:\n{page}"
        );
    }
}

#[test]
fn the_change_since_the_last_run_orders_the_biggest_drop_first() {
    let products = [
        product("Steady", vec![point("5.00", 1, 1)], 2),
        product("Riser", vec![point("10.00", 1, 1), point("12.00", 2, 2)], 2),
        product(
            "Dropper",
            vec![point("20.00", 1, 1), point("15.00", 2, 2)],
            2,
        ),
        product(
            "Old drop",
            vec![point("8.00", 1, 1), point("4.00", 2, 2)],
            3,
        ),
        product("Newcomer", vec![point("3.00", 3, 3)], 3),
    ];
    assert_eq!(Change::of(&products[0]), Change::Same);
    assert_eq!(
        Change::of(&products[3]),
        Change::Same,
        "its drop was a run before its last"
    );
    assert_eq!(Change::of(&products[4]), Change::New);
    let page = render(&products, now()).unwrap();
    let at = |s: &str| {
        page.find(&format!(">{s}<"))
            .unwrap_or_else(|| panic!("{s} missing"))
    };
    assert!(
        at("Dropper") < at("Newcomer") && at("Newcomer") < at("Riser"),
        "{page}"
    );
    assert!(page.contains("-5.00 EUR (-25.0 %)"), "{page}");
    assert!(page.contains("+2.00 EUR (+20.0 %)"), "{page}");
    assert_eq!(page.matches("<svg").count(), products.len());
}
