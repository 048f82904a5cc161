//! OpenGraph and product meta tags: `og:title`, `og:image`, `og:price:amount`,
//! `product:price:amount`, `product:price:currency`, `product:availability`...

use haul_core::{Availability, Decimal, Method, Record};

use crate::page::Page;

/// A record from the page's OpenGraph / product meta tags, when it has an `og:title` (or
/// `twitter:title`). Its price comes from `product:sale_price:amount`,
/// `product:price:amount` or `og:price:amount`; `product:original_price:amount` (or
/// `og:price:standard_amount`) gives the list price.
pub fn open_graph(page: &Page, site: &str) -> Option<Record> {
    let title = page
        .meta("og:title")
        .or_else(|| page.meta("twitter:title"))?;
    let mut r = Record::product(
        site,
        page.canonical_url().as_str(),
        title,
        Method::OpenGraph,
    );
    let currency_code = [
        "product:price:currency",
        "og:price:currency",
        "product:sale_price:currency",
    ]
    .iter()
    .find_map(|k| page.meta(k));
    let amount = |keys: &[&str]| -> Option<(Decimal, Option<haul_core::Currency>)> {
        keys.iter().find_map(|k| {
            let text = page.meta(k)?;
            let p = page.parse_price(&text, currency_code.as_deref());
            let a = p.amount.filter(|a| *a > Decimal::ZERO)?;
            Some((a, p.currency))
        })
    };
    let sale = amount(&["product:sale_price:amount", "og:sale_price:amount"]);
    let regular = amount(&["product:price:amount", "og:price:amount", "product:price"]);
    let list = amount(&[
        "product:original_price:amount",
        "og:price:standard_amount",
        "product:price:standard_amount",
    ]);
    let (price, list_price) = match (sale, regular) {
        (Some(s), Some(reg)) if s.0 < reg.0 => (Some(s), Some(reg.0)),
        (Some(s), _) => (Some(s), list.map(|l| l.0)),
        (None, reg) => (reg, list.map(|l| l.0)),
    };
    if let Some((p, c)) = price {
        r.price = Some(p);
        r.currency = c.or_else(|| currency_code.as_deref().and_then(|c| page.currency(c)));
        r.list_price = list_price.filter(|l| *l > p);
    }
    r.image = [
        "og:image:secure_url",
        "og:image",
        "og:image:url",
        "twitter:image",
    ]
    .iter()
    .find_map(|k| page.meta(k).and_then(|u| page.resolve(&u)));
    r.brand = ["product:brand", "og:brand", "brand"]
        .iter()
        .find_map(|k| page.meta(k));
    r.availability = ["product:availability", "og:availability"]
        .iter()
        .find_map(|k| page.meta(k).and_then(|a| Availability::parse(&a)));
    r.sku = page.meta("product:retailer_item_id");
    r.gtin = ["product:upc", "product:ean", "product:gtin", "product:isbn"]
        .iter()
        .find_map(|k| page.meta(k));
    Some(r)
}

/// Whether the page's `og:type` says it is a product page (`product`, `og:product`,
/// `product.item`).
pub fn og_type_is_product(page: &Page) -> bool {
    page.meta("og:type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("product"))
}
