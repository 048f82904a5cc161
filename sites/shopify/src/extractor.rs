//! The Shopify extractor: what Shopify's API differs in from other store APIs (routes, the
//! products of a response, locale prefixes; the rest is `haul_extract::store`) and the
//! store-currency look-up through `/meta.json`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use haul_core::{Context, Currency, Document, Extraction, Extractor, Url};
use haul_extract::paging::Paging;
use haul_extract::store::{StoreApi, StorePage};
use serde_json::Value;

use crate::json::{PageInfo, Product};

/// The Shopify extractor (registered as `shopify`). Use the registered [`SHOPIFY`] static.
///
/// It keeps one piece of state: the currency of each store it has seen, read once per store
/// from `/meta.json`.
#[derive(Debug)]
pub struct Shopify {
    /// Store origin -> the currency its `meta.json` states (`None`: it states none, or it
    /// could not be had for a lasting reason such as a 404).
    currencies: Mutex<BTreeMap<String, Option<Currency>>>,
}

/// The registered Shopify extractor.
pub static SHOPIFY: Shopify = Shopify::new();

impl Default for Shopify {
    fn default() -> Self {
        Self::new()
    }
}

/// A path split into an optional market/locale prefix (`en-ca`) and the rest.
struct StorePath {
    locale: Option<String>,
    segments: Vec<String>,
}

fn is_locale(s: &str) -> bool {
    let b = s.as_bytes();
    let lang = |x: &[u8]| x.iter().all(u8::is_ascii_alphabetic);
    match b.len() {
        2 => lang(b),
        5 => lang(&b[..2]) && b[2] == b'-' && lang(&b[3..]),
        _ => false,
    }
}

impl StorePath {
    fn of(url: &Url) -> Self {
        let mut segments: Vec<String> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).map(str::to_string).collect())
            .unwrap_or_default();
        let locale = match segments.first() {
            Some(first) if is_locale(first) => Some(segments.remove(0)),
            _ => None,
        };
        Self { locale, segments }
    }

    fn page(&self) -> StorePage {
        match self.rest().as_slice() {
            ["products.json"] | ["collections", _, "products.json"] => StorePage::Products,
            ["products", file] if file.len() > ".json".len() && file.ends_with(".json") => {
                StorePage::Product
            }
            _ => StorePage::Storefront,
        }
    }

    fn rest(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }

    /// The JSON endpoint of a storefront page, relative to the store's origin.
    fn endpoint(&self) -> String {
        let prefix = self
            .locale
            .as_deref()
            .map_or(String::new(), |l| format!("/{l}"));
        let listing = |path: &str| format!("{prefix}{path}?limit=250&page=1");
        match self.rest().as_slice() {
            ["products", h] | ["collections", _, "products", h] => {
                format!("{prefix}/products/{h}.json")
            }
            ["collections", h, ..] => listing(&format!("/collections/{h}/products.json")),
            _ => listing("/products.json"),
        }
    }
}

/// How `products.json` is paged: `page` and `limit` (30 by default, at most 250).
pub const PAGING: Paging = Paging::new("page", "limit", 30, 250);

impl Shopify {
    /// An extractor with an empty currency cache (the registered one is [`SHOPIFY`]).
    pub const fn new() -> Self {
        Self {
            currencies: Mutex::new(BTreeMap::new()),
        }
    }

    fn cached(&self, origin: &str) -> Option<Option<Currency>> {
        let map = self.currencies.lock().unwrap_or_else(|p| p.into_inner());
        map.get(origin).copied()
    }

    fn remember(&self, origin: &str, currency: Option<Currency>) {
        let mut map = self.currencies.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(origin.to_string(), currency);
    }

    /// The currency the store's `/meta.json` states, fetched once per store. `Err` is a
    /// warning for the extraction (the look-up failed and may be tried again later).
    async fn store_currency(&self, cx: &Context, page: &Url) -> Result<Option<Currency>, String> {
        let origin = page.origin().ascii_serialization();
        if let Some(known) = self.cached(&origin) {
            return Ok(known);
        }
        let meta = page
            .join("/meta.json")
            .map_err(|e| format!("{page}: cannot build the meta.json address: {e}"))?;
        match cx.fetch(meta.clone()).await {
            Ok(doc) => {
                let currency = serde_json::from_str::<Value>(&doc.body)
                    .ok()
                    .and_then(|v| Currency::new(v.get("currency")?.as_str()?).ok());
                self.remember(&origin, currency);
                match currency {
                    Some(_) => Ok(currency),
                    None => Err(format!(
                        "{meta}: no currency stated; records of {origin} have no currency"
                    )),
                }
            }
            Err(e) if e.is_transient() => Err(format!(
                "{e}; records of this page have no currency (meta.json will be tried again)"
            )),
            Err(e) => {
                self.remember(&origin, None);
                Err(format!("{e}; records of {origin} have no currency"))
            }
        }
    }
}

impl StoreApi for Shopify {
    const API: &'static str = "Shopify product";
    const PAGING: Paging = PAGING;
    type Product = Product;

    /// Shopify takes a currency in the `cart_currency` cookie and a country (which decides
    /// the market's currency and prices) in the `localization` cookie.
    fn session_pins(&self) -> haul_core::SiteSession {
        haul_core::SiteSession {
            currency_pin: haul_core::CurrencyPin::Cookie("cart_currency"),
            country_pin: haul_core::CountryPin::Cookie("localization"),
            ..haul_core::SiteSession::default()
        }
    }

    /// Claims Shopify's JSON endpoints on any host: `/products.json`,
    /// `/products/<handle>.json` and `/collections/<handle>/products.json` (optionally under a
    /// locale prefix such as `/en-ca`).
    fn page(&self, url: &Url) -> StorePage {
        StorePath::of(url).page()
    }

    fn endpoint(&self, doc: &Document) -> Result<Url, String> {
        let endpoint = StorePath::of(&doc.url).endpoint();
        doc.url
            .join(&endpoint)
            .map_err(|e| format!("{}: bad endpoint {endpoint}: {e}", doc.url))
    }

    fn products(&self, page: StorePage, body: Value) -> Result<Vec<Value>, String> {
        match (page, body) {
            (StorePage::Products, Value::Object(mut v)) => match v.remove("products") {
                Some(Value::Array(a)) => Ok(a),
                _ => Err("no \"products\" array".into()),
            },
            (StorePage::Product, Value::Object(mut v)) => match v.remove("product") {
                Some(p @ Value::Object(_)) => Ok(vec![p]),
                _ => Err("no \"product\" object".into()),
            },
            (StorePage::Products, _) => Err("no \"products\" array".into()),
            _ => Err("no \"product\" object".into()),
        }
    }

    fn push_records(&self, doc: &Document, product: Product, out: &mut Extraction) {
        let origin = doc.url.origin().ascii_serialization();
        let base = match &StorePath::of(&doc.url).locale {
            Some(l) => format!("{origin}/{l}"),
            None => origin,
        };
        let info = PageInfo {
            site: self.name(),
            base: &base,
            page: &doc.url,
        };
        product.push_records(&info, out);
    }

    fn required(page: StorePage) -> &'static [&'static str] {
        match page {
            StorePage::Products => &["title", "url", "price", "availability", "brand", "image"],
            _ => &["title", "url", "price", "brand", "image"],
        }
    }

    /// Fills in the store's currency from `/meta.json` for records that state none (not under
    /// a locale prefix, whose prices may be in another currency).
    async fn complete(&self, cx: &Context, url: &Url, mut ex: Extraction) -> Extraction {
        let needs_currency = ex.records.iter().any(|r| r.currency.is_none());
        if !needs_currency || StorePath::of(url).locale.is_some() {
            return ex;
        }
        match self.store_currency(cx, url).await {
            Ok(Some(currency)) => {
                for r in ex.records.iter_mut().filter(|r| r.currency.is_none()) {
                    r.currency = Some(currency);
                }
            }
            Ok(None) => {}
            Err(warning) => ex.warn(warning),
        }
        ex
    }
}

haul_extract::store_extractor!(
    Shopify,
    "shopify",
    "any Shopify store through its public products.json API (give --start-url https://store/)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::Availability;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn page_kinds_and_handles() {
        let cases = [
            ("https://s.example/products.json", "products", true),
            (
                "https://s.example/products.json?limit=250&page=3",
                "products",
                true,
            ),
            (
                "https://s.example/collections/summer/products.json?page=2",
                "products",
                true,
            ),
            ("https://s.example/en-ca/products.json", "products", true),
            ("https://s.example/products/tee.json", "product", true),
            ("https://s.example/products/.json", "storefront", false),
            ("https://s.example/", "storefront", false),
            ("https://s.example/products/tee", "storefront", false),
            ("https://s.example/collections/summer", "storefront", false),
            ("https://s.example/pages/about", "storefront", false),
            ("https://s.example/meta.json", "storefront", false),
        ];
        for (url, kind, handled) in cases {
            assert_eq!(SHOPIFY.classify(&u(url)).kind(), kind, "{url}");
            assert_eq!(SHOPIFY.handles(&u(url)), handled, "{url}");
        }
    }

    #[test]
    fn storefront_pages_link_to_their_json_endpoint() {
        let cases = [
            (
                "https://s.example/",
                "https://s.example/products.json?limit=250&page=1",
            ),
            (
                "https://s.example/fr/",
                "https://s.example/fr/products.json?limit=250&page=1",
            ),
            (
                "https://s.example/products/tee",
                "https://s.example/products/tee.json",
            ),
            (
                "https://s.example/collections/summer/products/tee?variant=1",
                "https://s.example/products/tee.json",
            ),
            (
                "https://s.example/collections/summer",
                "https://s.example/collections/summer/products.json?limit=250&page=1",
            ),
        ];
        for (url, want) in cases {
            let ex = SHOPIFY
                .parse(&Document::new(u(url), "<html><body>Shop</body></html>"))
                .unwrap();
            assert!(ex.records.is_empty(), "{url}");
            assert_eq!(ex.links, vec![u(want)], "{url}");
        }
    }

    #[test]
    fn a_full_products_page_links_its_next_page_and_a_short_one_does_not() {
        // products-page1.json holds 3 products.
        let cases = [
            (
                "https://s.example/products.json?limit=3&page=1",
                Some("https://s.example/products.json?limit=3&page=2"),
            ),
            (
                "https://s.example/en-ca/products.json?page=4&limit=2",
                Some("https://s.example/en-ca/products.json?page=5&limit=2"),
            ),
            ("https://s.example/products.json?limit=250&page=1", None),
            // Shopify's default page size is 30.
            ("https://s.example/products.json", None),
        ];
        for (url, want) in cases {
            let ex = SHOPIFY
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
    fn malformed_json_is_an_error_naming_the_url() {
        let cases = [
            ("https://s.example/products.json", "<html>not json</html>"),
            (
                "https://s.example/products.json",
                r#"{"errors":"Not Found"}"#,
            ),
            ("https://s.example/products/x.json", r#"{"products":[]}"#),
        ];
        for (url, body) in cases {
            let err = SHOPIFY.parse(&Document::new(u(url), body)).unwrap_err();
            assert!(err.to_string().contains(url), "{err}");
        }
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn products_page_gives_one_record_per_variant() {
        let url = u("https://s.example/products.json?limit=3&page=1");
        let ex = SHOPIFY
            .parse(&Document::new(url.clone(), fixture("products-page1.json")))
            .unwrap();
        assert!(ex.warnings.is_empty(), "{:?}", ex.warnings);
        assert_eq!(
            ex.links,
            vec![u("https://s.example/products.json?limit=3&page=2")]
        );
        // (title, url query, price, list price, available, sku, gtin, image file)
        type Row = (
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
            bool,
            Option<&'static str>,
            Option<&'static str>,
            &'static str,
        );
        let want: [Row; 6] = [
            (
                "Classic Cotton Tee - S / Black",
                "classic-cotton-tee?variant=44012345600011",
                "24.00",
                Some("30.00"),
                true,
                Some("NW-TEE-S-BLK"),
                Some("0012345678905"),
                "tee-black.jpg",
            ),
            (
                "Classic Cotton Tee - M / Black",
                "classic-cotton-tee?variant=44012345600012",
                "24.00",
                Some("30.00"),
                false,
                Some("NW-TEE-M-BLK"),
                Some("0012345678912"),
                "tee-black-folded.jpg",
            ),
            // compare_at_price below the price is not a "was" price.
            (
                "Classic Cotton Tee - XL / Black",
                "classic-cotton-tee?variant=44012345600013",
                "26.00",
                None,
                true,
                Some("NW-TEE-XL-BLK"),
                None,
                "tee-black.jpg",
            ),
            // "Default Title" is Shopify's placeholder: the product title alone; an ISBN with
            // dashes is not a GTIN; a protocol-relative image becomes absolute.
            (
                "Enamel Camp Mug",
                "enamel-camp-mug?variant=44012345700021",
                "12.50",
                None,
                true,
                Some("TG-MUG-01"),
                None,
                "camp-mug.png",
            ),
            (
                "Gift Card - $25",
                "gift-card?variant=44012345800031",
                "25.00",
                None,
                true,
                None,
                None,
                "gift-card.png",
            ),
            (
                "Gift Card - $50",
                "gift-card?variant=44012345800032",
                "50.00",
                None,
                true,
                None,
                None,
                "gift-card.png",
            ),
        ];
        assert_eq!(ex.records.len(), want.len());
        for (r, (title, path, price, was, avail, sku, gtin, image)) in ex.records.iter().zip(want) {
            assert_eq!(r.title, title);
            assert_eq!(
                r.url,
                format!("https://s.example/products/{path}"),
                "{title}"
            );
            assert_eq!(r.price.unwrap().to_string(), price, "{title}");
            assert_eq!(
                r.list_price.map(|d| d.to_string()).as_deref(),
                was,
                "{title}"
            );
            let stock = if avail {
                Availability::InStock
            } else {
                Availability::OutOfStock
            };
            assert_eq!(r.availability, Some(stock), "{title}");
            assert_eq!(r.sku.as_deref(), sku, "{title}");
            assert_eq!(r.gtin.as_deref(), gtin, "{title}");
            let img = r.image.as_deref().unwrap();
            assert!(
                img.starts_with("https://cdn.shopify.com/") && img.contains(image),
                "{title}: {img}"
            );
            // products.json states no currency: parse leaves it empty.
            assert_eq!(r.currency, None);
            assert_eq!(r.method, haul_core::Method::Api);
            assert_eq!(r.source.as_deref(), Some(url.as_str()));
            assert_eq!(r.site, "shopify");
        }
        assert_eq!(ex.records[0].brand.as_deref(), Some("Northwind Apparel"));
        assert_eq!(ex.records[3].brand.as_deref(), Some("Trailhead Goods"));
    }

    #[test]
    fn single_product_json_takes_the_currency_it_states() {
        let url = u("https://s.example/products/classic-cotton-tee.json");
        let ex = SHOPIFY
            .parse(&Document::new(
                url,
                fixture("product-classic-cotton-tee.json"),
            ))
            .unwrap();
        assert!(ex.links.is_empty());
        assert_eq!(ex.records.len(), 2);
        for r in &ex.records {
            assert_eq!(r.currency.map(|c| c.to_string()).as_deref(), Some("USD"));
            // This endpoint has no `available`: unknown, not guessed.
            assert_eq!(r.availability, None);
            assert_eq!(r.list_price.unwrap().to_string(), "30.00");
        }
        // Variants name their image by `image_id` here.
        let images: Vec<&str> = ex
            .records
            .iter()
            .filter_map(|r| r.image.as_deref())
            .collect();
        assert!(images[0].contains("/tee-black.jpg"), "{images:?}");
        assert!(images[1].contains("/tee-black-folded.jpg"), "{images:?}");
    }

    #[test]
    fn the_empty_page_ends_paging() {
        let url = u("https://s.example/products.json?limit=250&page=3");
        let ex = SHOPIFY
            .parse(&Document::new(url, fixture("products-page3-empty.json")))
            .unwrap();
        assert!(ex.records.is_empty() && ex.links.is_empty());
    }

    #[test]
    fn presentment_prices_name_the_currency_only_for_the_same_amount() {
        let body = r#"{"product":{"title":"P","handle":"p","variants":[
            {"id":1,"title":"A","price":"10.00","presentment_prices":[{"price":{"amount":"10.00","currency_code":"CAD"}}]},
            {"id":2,"title":"B","price":"10.00","presentment_prices":[{"price":{"amount":"13.50","currency_code":"CAD"}}]}]}}"#;
        let ex = SHOPIFY
            .parse(&Document::new(u("https://s.example/products/p.json"), body))
            .unwrap();
        let currencies: Vec<Option<String>> = ex
            .records
            .iter()
            .map(|r| r.currency.map(|c| c.to_string()))
            .collect();
        assert_eq!(currencies, vec![Some("CAD".to_string()), None]);
    }

    #[test]
    fn odd_products_are_skipped_with_a_warning() {
        let body = r#"{"products":[{"id":1,"title":"","handle":"x","variants":[]},
            {"id":2,"title":"Ok","handle":"ok","variants":[{"id":3,"title":"Default Title","price":"1.50"}]},
            {"id":"not a number"}]}"#;
        let ex = SHOPIFY
            .parse(&Document::new(u("https://s.example/products.json"), body))
            .unwrap();
        assert_eq!(ex.records.len(), 1);
        assert_eq!(ex.records[0].title, "Ok");
        assert_eq!(ex.records[0].price.unwrap().to_string(), "1.50");
        assert_eq!(ex.warnings.len(), 2, "{:?}", ex.warnings);
        // Three products are fewer than a page (30 by default): the last page.
        assert!(ex.links.is_empty(), "{:?}", ex.links);
    }
}
