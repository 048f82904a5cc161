//! The WooCommerce extractor: what the Store API differs in from other store APIs (routes,
//! the products of a response, the storefront mapping; the rest is `haul_extract::store`).

use haul_core::{Document, Extraction, Extractor, Url};
use haul_extract::paging::Paging;
use haul_extract::store::{StoreApi, StorePage};
use scraper::Selector;
use serde_json::Value;

use crate::json::Product;

/// The WooCommerce Store API extractor (registered as `woocommerce`).
#[derive(Debug, Clone, Copy, Default)]
pub struct WooCommerce;

/// The Store API products route, relative to the REST API root.
const PRODUCTS_ROUTE: &str = "wc/store/v1/products";
/// The query of a first listing page.
const FIRST_PAGE: &str = "per_page=100&page=1";

/// The kind of a REST route given as segments after the API root (`wc/store/v1/products`).
fn route_page(route: &[&str]) -> StorePage {
    let rest = match route {
        ["wc", "store", "v1", "products", rest @ ..] | ["wc", "store", "products", rest @ ..] => {
            rest
        }
        _ => return StorePage::Storefront,
    };
    match rest {
        [] => StorePage::Products,
        [id] if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => StorePage::Product,
        _ => StorePage::Storefront,
    }
}

fn page_of(url: &Url) -> StorePage {
    // `?rest_route=/wc/store/v1/products` (sites without pretty permalinks).
    if let Some((_, route)) = url.query_pairs().find(|(k, _)| k == "rest_route") {
        let segs: Vec<&str> = route.split('/').filter(|s| !s.is_empty()).collect();
        return route_page(&segs);
    }
    let segs: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    // `/wp-json/...`, also under a sub-folder (`/shop/wp-json/...`).
    match segs.iter().position(|s| *s == "wp-json") {
        Some(i) => route_page(&segs[i + 1..]),
        None => StorePage::Storefront,
    }
}

fn by_slug(url: &Url) -> bool {
    url.query_pairs().any(|(k, _)| k == "slug")
}

/// How the Store API products route is paged: `page` and `per_page` (10 by default, at most
/// 100).
pub const PAGING: Paging = Paging::new("page", "per_page", 10, 100);

/// The products route under a REST API root as WordPress advertises it: `https://x/wp-json/`
/// or `https://x/?rest_route=/`. `query` is added to the route (`per_page=100&page=1`).
fn products_endpoint(api_root: &Url, query: &str) -> Url {
    let mut u = api_root.clone();
    u.set_fragment(None);
    if api_root.query_pairs().any(|(k, _)| k == "rest_route") {
        u.set_query(Some(&format!("rest_route=/{PRODUCTS_ROUTE}&{query}")));
        return u;
    }
    if !u.path().ends_with('/') {
        let path = format!("{}/", u.path());
        u.set_path(&path);
    }
    u.set_query(None);
    let mut out = u.join(PRODUCTS_ROUTE).unwrap_or(u);
    out.set_query(Some(query));
    out
}

/// The REST API root a WordPress page advertises in `<link rel="https://api.w.org/">`.
fn advertised_api_root(doc: &Document) -> Option<Url> {
    let html = haul_extract::parse_html(&doc.body);
    let sel = Selector::parse(r#"link[rel="https://api.w.org/"]"#).ok()?;
    let href = html.select(&sel).next()?.value().attr("href")?;
    doc.resolve(href)
}

/// The link a non-API page maps to.
fn storefront_link(doc: &Document) -> Url {
    let root = advertised_api_root(doc).unwrap_or_else(|| {
        let mut u = doc
            .url
            .join("/wp-json/")
            .unwrap_or_else(|_| doc.url.clone());
        u.set_query(None);
        u
    });
    let segs: Vec<&str> = doc
        .url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    match segs.as_slice() {
        // WooCommerce's default product permalink: the Store API filters by slug.
        [.., "product", slug] => products_endpoint(&root, &format!("slug={slug}")),
        _ => products_endpoint(&root, FIRST_PAGE),
    }
}

impl StoreApi for WooCommerce {
    const API: &'static str = "Store API";
    const PAGING: Paging = PAGING;
    type Product = Product;

    /// WooCommerce's multi-currency plugins (WOOCS, CURCY, WPML's) take the currency as the
    /// `currency` query parameter.
    fn session_pins(&self) -> haul_core::SiteSession {
        haul_core::SiteSession {
            currency_pin: haul_core::CurrencyPin::Query("currency"),
            ..haul_core::SiteSession::default()
        }
    }

    /// Claims the Store API products routes on any host: `/wp-json/wc/store/v1/products`,
    /// `/wp-json/wc/store/v1/products/<id>` (also unversioned, under a sub-folder, or as
    /// `?rest_route=`).
    fn page(&self, url: &Url) -> StorePage {
        page_of(url)
    }

    /// A slug filter names one product (kind `product`): no further pages.
    fn paged(&self, url: &Url) -> bool {
        !by_slug(url)
    }

    fn endpoint(&self, doc: &Document) -> Result<Url, String> {
        Ok(storefront_link(doc))
    }

    fn products(&self, page: StorePage, body: Value) -> Result<Vec<Value>, String> {
        match (page, body) {
            (StorePage::Products, Value::Array(a)) => Ok(a),
            (StorePage::Product, v @ Value::Object(_)) if v.get("id").is_some() => Ok(vec![v]),
            (_, v) => Err(
                // A WordPress REST error: {"code": "...", "message": "..."}.
                match (v["code"].as_str(), v["message"].as_str()) {
                    (Some(code), Some(msg)) => format!("Store API error {code}: {msg}"),
                    _ => format!("not a Store API {} response", page.name()),
                },
            ),
        }
    }

    fn push_records(&self, doc: &Document, product: Product, out: &mut Extraction) {
        product.push_record(self.name(), &doc.url, out);
    }

    fn required(_page: StorePage) -> &'static [&'static str] {
        &["title", "url", "price", "currency", "availability", "image"]
    }
}

haul_extract::store_extractor!(
    WooCommerce,
    "woocommerce",
    "any WooCommerce store through its public Store API (give --start-url https://store/)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::Availability;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn page_kinds_and_handles() {
        let cases = [
            (
                "https://w.example/wp-json/wc/store/v1/products?per_page=100&page=2",
                "products",
                true,
            ),
            (
                "https://w.example/wp-json/wc/store/v1/products/",
                "products",
                true,
            ),
            (
                "https://w.example/wp-json/wc/store/products",
                "products",
                true,
            ),
            (
                "https://w.example/shop/wp-json/wc/store/v1/products",
                "products",
                true,
            ),
            (
                "https://w.example/?rest_route=/wc/store/v1/products&page=2",
                "products",
                true,
            ),
            (
                "https://w.example/wp-json/wc/store/v1/products/42",
                "product",
                true,
            ),
            (
                "https://w.example/?rest_route=/wc/store/v1/products/42",
                "product",
                true,
            ),
            (
                "https://w.example/wp-json/wc/store/v1/products/categories",
                "storefront",
                false,
            ),
            (
                "https://w.example/wp-json/wc/v3/products",
                "storefront",
                false,
            ),
            ("https://w.example/", "storefront", false),
            ("https://w.example/product/hoodie/", "storefront", false),
            (
                "https://w.example/wp-json/wc/store/v1/products?slug=hoodie",
                "product",
                true,
            ),
        ];
        for (url, kind, handled) in cases {
            assert_eq!(WooCommerce.classify(&u(url)).kind(), kind, "{url}");
            assert_eq!(WooCommerce.handles(&u(url)), handled, "{url}");
        }
    }

    #[test]
    fn storefront_pages_link_to_the_products_route() {
        let plain = "<html><head><title>Shop</title></head><body>Shop</body></html>";
        let sub = r#"<html><head><link rel="https://api.w.org/" href="https://w.example/store/wp-json/"></head></html>"#;
        let ugly = r#"<html><head><link rel="https://api.w.org/" href="https://w.example/?rest_route=/"></head></html>"#;
        let cases = [
            (
                "https://w.example/",
                plain,
                "https://w.example/wp-json/wc/store/v1/products?per_page=100&page=1",
            ),
            (
                "https://w.example/about/?x=1",
                plain,
                "https://w.example/wp-json/wc/store/v1/products?per_page=100&page=1",
            ),
            (
                "https://w.example/store/",
                sub,
                "https://w.example/store/wp-json/wc/store/v1/products?per_page=100&page=1",
            ),
            (
                "https://w.example/",
                ugly,
                "https://w.example/?rest_route=/wc/store/v1/products&per_page=100&page=1",
            ),
            (
                "https://w.example/product/hoodie/",
                plain,
                "https://w.example/wp-json/wc/store/v1/products?slug=hoodie",
            ),
        ];
        for (url, body, want) in cases {
            let ex = WooCommerce.parse(&Document::new(u(url), body)).unwrap();
            assert!(ex.records.is_empty(), "{url}");
            assert_eq!(ex.links, vec![u(want)], "{url}");
            assert!(WooCommerce.handles(&ex.links[0]), "{want}");
        }
    }

    #[test]
    fn a_full_products_page_links_its_next_page_and_a_short_one_does_not() {
        // products-page1.json holds 5 products.
        let cases = [
            (
                "https://w.example/wp-json/wc/store/v1/products?per_page=5&page=1",
                Some("https://w.example/wp-json/wc/store/v1/products?per_page=5&page=2"),
            ),
            (
                "https://w.example/?rest_route=%2Fwc%2Fstore%2Fv1%2Fproducts&per_page=4&page=3",
                Some(
                    "https://w.example/?rest_route=%2Fwc%2Fstore%2Fv1%2Fproducts&per_page=4&page=4",
                ),
            ),
            (
                "https://w.example/wp-json/wc/store/v1/products?per_page=100&page=1",
                None,
            ),
            // The Store API's default page size is 10.
            ("https://w.example/wp-json/wc/store/v1/products", None),
            (
                "https://w.example/wp-json/wc/store/v1/products?slug=x&per_page=5",
                None,
            ),
        ];
        for (url, want) in cases {
            let ex = WooCommerce
                .parse(&Document::new(u(url), fixture("products-page1.json")))
                .unwrap();
            assert_eq!(
                ex.links,
                want.map(u).into_iter().collect::<Vec<_>>(),
                "{url}"
            );
        }
    }

    #[test]
    fn products_page_gives_one_record_per_product() {
        let url = u("http://shop.test/wp-json/wc/store/v1/products?per_page=5&page=1");
        let ex = WooCommerce
            .parse(&Document::new(url.clone(), fixture("products-page1.json")))
            .unwrap();
        assert!(ex.warnings.is_empty(), "{:?}", ex.warnings);
        assert_eq!(
            ex.links,
            vec![u(
                "http://shop.test/wp-json/wc/store/v1/products?per_page=5&page=2"
            )]
        );
        // (title, slug, price, list price, currency, availability)
        let want = [
            (
                "Beanie with Logo",
                "beanie-with-logo",
                "18.00",
                Some("20.00"),
                "USD",
                Availability::InStock,
            ),
            (
                "Hoodie \u{2013} Zipper",
                "hoodie-zipper",
                "45.00",
                None,
                "USD",
                Availability::InStock,
            ),
            // A variable product: the lowest price of its range, no list price.
            (
                "Hoodie",
                "hoodie",
                "42.00",
                None,
                "USD",
                Availability::InStock,
            ),
            (
                "Salt & Pepper Grinder Set",
                "salt-pepper-grinder-set",
                "1250",
                None,
                "JPY",
                Availability::OutOfStock,
            ),
            (
                "Wool Socks (3-pack)",
                "wool-socks-3-pack",
                "12.990",
                Some("15.000"),
                "KWD",
                Availability::BackOrder,
            ),
        ];
        assert_eq!(ex.records.len(), want.len());
        for (r, (title, slug, price, was, currency, avail)) in ex.records.iter().zip(want) {
            assert_eq!(r.title, title);
            assert_eq!(
                r.url,
                format!("http://shop.test/product/{slug}/"),
                "{title}"
            );
            assert_eq!(r.price.unwrap().to_string(), price, "{title}");
            assert_eq!(
                r.list_price.map(|d| d.to_string()).as_deref(),
                was,
                "{title}"
            );
            assert_eq!(r.currency.unwrap().as_str(), currency, "{title}");
            assert_eq!(r.availability, Some(avail), "{title}");
            assert!(
                r.image
                    .as_deref()
                    .unwrap()
                    .starts_with("http://shop.test/wp-content/uploads/"),
                "{title}"
            );
            assert_eq!(r.source.as_deref(), Some(url.as_str()));
            assert_eq!(r.method, haul_core::Method::Api);
        }
        assert_eq!(ex.records[0].sku.as_deref(), Some("woo-beanie-logo"));
        assert_eq!(ex.records[0].rating.unwrap().to_string(), "4.50");
        assert_eq!(ex.records[0].rating_count, Some(2));
        assert_eq!(ex.records[0].brand.as_deref(), Some("Woo & Co"));
        // "0" with no reviews is no rating.
        assert_eq!(ex.records[1].rating, None);
        assert_eq!(ex.records[1].rating_count, None);
        assert_eq!(ex.records[2].sku, None);
    }

    #[test]
    fn single_product_and_slug_filter_give_no_next_page() {
        let ex = WooCommerce
            .parse(&Document::new(
                u("http://shop.test/wp-json/wc/store/v1/products/31"),
                fixture("product-31.json"),
            ))
            .unwrap();
        assert_eq!(ex.records.len(), 1);
        assert!(ex.links.is_empty());
        let ex = WooCommerce
            .parse(&Document::new(
                u("http://shop.test/wp-json/wc/store/v1/products?slug=hoodie"),
                fixture("products-page2.json"),
            ))
            .unwrap();
        assert!(!ex.records.is_empty());
        assert!(ex.links.is_empty());
    }

    #[test]
    fn errors_and_odd_products() {
        let list = u("https://w.example/wp-json/wc/store/v1/products");
        let cases = [
            (list.clone(), "<html>nope</html>", "not Store API JSON"),
            (
                list.clone(),
                r#"{"code":"rest_no_route","message":"No route was found matching the URL and request method."}"#,
                "rest_no_route",
            ),
            (
                u("https://w.example/wp-json/wc/store/v1/products/9"),
                "[]",
                "not a Store API product",
            ),
        ];
        for (url, body, want) in cases {
            let err = WooCommerce
                .parse(&Document::new(url.clone(), body))
                .unwrap_err()
                .to_string();
            assert!(err.contains(url.as_str()) && err.contains(want), "{err}");
        }
        let body = r#"[{"id":1,"name":""},{"id":2,"name":"No prices","permalink":"https://w.example/product/np/"},
            {"id":3,"name":"No unit","prices":{"price":"100"}},{"id":"x"}]"#;
        let ex = WooCommerce.parse(&Document::new(list, body)).unwrap();
        assert_eq!(ex.records.len(), 2);
        assert_eq!(ex.records[1].url, "https://w.example/?p=3");
        assert!(ex.records.iter().all(|r| r.price.is_none()));
        // no name; no prices + no price; no unit + no price; not an object of the schema.
        assert_eq!(ex.warnings.len(), 6, "{:?}", ex.warnings);
    }
}
