//! The demo shop's extractor: JSON-LD first, then microdata, then the shop's own CSS classes.

use std::str::FromStr;

use haul_core::{
    Availability, Currency, Decimal, Document, ExtractError, Extraction, Extractor, Method,
    PageClass, PageKind, Record, RenderNeed, Url,
};
use scraper::{ElementRef, Html, Selector};

/// The demo shop's extractor (registered as `demo`).
#[derive(Debug, Clone, Copy)]
pub struct Demo;

fn sel(s: &str) -> Selector {
    // The selectors below are constants; a typo is a programming error caught by the tests.
    Selector::parse(s).expect("valid selector")
}

fn text(e: ElementRef<'_>) -> String {
    e.text().collect::<Vec<_>>().join(" ")
}

/// Parses the shop's own price format: `$1,299.00`, `Was $49.90`.
fn shop_price(s: &str) -> Option<Decimal> {
    let digits: String = s
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    Decimal::from_str(&digits).ok()
}

/// The demo shop's page kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Home, category and paginated listing pages.
    Listing,
    /// A product page served complete.
    Product,
    /// A product page under `/js/`, written by a script after `load`.
    ScriptBuiltProduct,
}

impl Kind {
    /// The kind of `url`.
    pub fn of(url: &Url) -> Self {
        let path = url.path();
        if path.starts_with("/js/product/") {
            Self::ScriptBuiltProduct
        } else if path.starts_with("/product/") {
            Self::Product
        } else {
            Self::Listing
        }
    }
}

impl PageKind for Kind {
    const ALL: &'static [Self] = &[Self::Listing, Self::Product, Self::ScriptBuiltProduct];

    fn name(self) -> &'static str {
        match self {
            Self::Listing => "listing",
            Self::Product => "product",
            Self::ScriptBuiltProduct => "script-built product",
        }
    }

    /// Only the script-built pages need a browser, and only when plain HTTP finds nothing.
    fn render(self) -> RenderNeed {
        match self {
            Self::ScriptBuiltProduct => RenderNeed::Auto,
            Self::Listing | Self::Product => RenderNeed::Never,
        }
    }

    fn wait_for(self) -> Option<&'static str> {
        (self == Self::ScriptBuiltProduct).then_some(".rendered")
    }
}

impl Extractor for Demo {
    fn name(&self) -> &'static str {
        "demo"
    }

    fn description(&self) -> &'static str {
        "the demo shop haul ships (serve it with `haul serve demo`)"
    }

    fn classify(&self, url: &Url) -> PageClass {
        PageClass::of(Kind::of(url))
    }

    fn kinds(&self) -> Vec<PageClass> {
        PageClass::all::<Kind>()
    }

    fn parse(&self, doc: &Document) -> Result<Extraction, ExtractError> {
        let html = haul_extract::parse_html(&doc.body);
        let mut out = Extraction::default();
        let base = doc.base_url();
        for a in html.select(&sel(
            ".main-nav a, .category-list a, .product-grid a, .pagination a",
        )) {
            if let Some(link) = a.value().attr("href").and_then(|h| base.join(h).ok()) {
                out.links.push(link);
            }
        }
        if doc.url.path().contains("/product/") {
            let mut canonical = doc.url.clone();
            canonical.set_query(None);
            canonical.set_fragment(None);
            let record = from_json_ld(&html, &canonical)
                .or_else(|| from_microdata(&html, &canonical))
                .or_else(|| from_plain(&html, &canonical));
            match record {
                Some(r) => {
                    if r.price.is_none() {
                        out.warn(format!("{canonical}: no price found"));
                    }
                    out.records.push(r);
                }
                // A script-built page fetched over plain HTTP is an empty shell: no record,
                // and the runner renders it when it can.
                None if doc.url.path().starts_with("/js/") && !doc.rendered => {
                    out.warn(format!("{canonical}: empty shell, needs a browser"));
                }
                None => {
                    return Err(ExtractError::Unparseable {
                        url: doc.url.to_string(),
                        message: "product page without a product title".into(),
                    });
                }
            }
        }
        Ok(out)
    }
}

fn record(url: &Url, title: &str, method: Method) -> Record {
    Record::product("demo", url.as_str(), title, method)
}

fn from_json_ld(html: &Html, url: &Url) -> Option<Record> {
    for script in html.select(&sel(r#"script[type="application/ld+json"]"#)) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text(script)) else {
            continue;
        };
        if v["@type"] != "Product" {
            continue;
        }
        let mut r = record(url, v["name"].as_str()?, Method::JsonLd);
        let offer = &v["offers"];
        r.price = offer["price"]
            .as_str()
            .and_then(|p| Decimal::from_str(p).ok());
        r.currency = offer["priceCurrency"]
            .as_str()
            .and_then(|c| Currency::new(c).ok());
        r.availability = offer["availability"].as_str().and_then(Availability::parse);
        r.brand = v["brand"]["name"].as_str().map(str::to_string);
        r.sku = v["sku"].as_str().map(str::to_string);
        r.image = v["image"]
            .as_str()
            .and_then(|i| url.join(i).ok())
            .map(String::from);
        r.list_price = list_price(html, r.price);
        return Some(r);
    }
    None
}

fn from_microdata(html: &Html, url: &Url) -> Option<Record> {
    let scope = html
        .select(&sel(r#"[itemscope][itemtype$="schema.org/Product"]"#))
        .next()?;
    let prop = |name: &str| -> Option<ElementRef<'_>> {
        scope
            .select(&sel(&format!(r#"[itemprop="{name}"]"#)))
            .next()
    };
    let value = |e: ElementRef<'_>| -> String {
        let v = e.value();
        v.attr("content")
            .or_else(|| v.attr("href"))
            .or_else(|| v.attr("src"))
            .map(str::to_string)
            .unwrap_or_else(|| text(e))
    };
    let title = text(prop("name")?);
    let mut r = record(url, &title, Method::Microdata);
    r.price = prop("price").and_then(|e| Decimal::from_str(value(e).trim()).ok());
    r.currency = prop("priceCurrency").and_then(|e| Currency::new(&value(e)).ok());
    r.availability = prop("availability").and_then(|e| Availability::parse(&value(e)));
    r.brand = prop("brand").map(|e| value(e).trim().to_string());
    r.sku = prop("sku").map(value);
    r.image = prop("image")
        .and_then(|e| url.join(&value(e)).ok())
        .map(String::from);
    r.list_price = list_price(html, r.price);
    Some(r)
}

fn from_plain(html: &Html, url: &Url) -> Option<Record> {
    let main = html.select(&sel(".product-main")).next()?;
    let title = text(main.select(&sel("h1")).next()?);
    let mut r = record(url, &title, Method::Css);
    r.price = main
        .select(&sel(".price-now"))
        .next()
        .and_then(|e| shop_price(&text(e)));
    // The shop states its currency once, in the footer: "Prices in USD".
    if r.price.is_some() && html.root_element().html().contains("Prices in USD") {
        r.currency = Currency::new("USD").ok();
    }
    r.brand = main
        .select(&sel(".brand"))
        .next()
        .map(|e| text(e).trim().trim_start_matches("by ").to_string());
    r.sku = main
        .select(&sel(".sku"))
        .next()
        .map(|e| text(e).trim().trim_start_matches("SKU: ").to_string());
    r.image = main
        .select(&sel("img.hero"))
        .next()
        .and_then(|e| e.value().attr("src"))
        .and_then(|s| url.join(s).ok())
        .map(String::from);
    r.availability = main
        .select(&sel(".stock"))
        .next()
        .and_then(|e| Availability::parse(&text(e)));
    r.list_price = list_price(html, r.price);
    Some(r)
}

/// The "was" price inside the main product block (never one from related products).
fn list_price(html: &Html, price: Option<Decimal>) -> Option<Decimal> {
    let was = html
        .select(&sel(".product-main .price-was"))
        .next()
        .and_then(|e| shop_price(&text(e)))?;
    (Some(was) != price).then_some(was)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CATALOG, respond};

    #[test]
    fn every_product_page_gives_its_catalogue_record() {
        let base = Url::parse("http://127.0.0.1:1/").unwrap();
        for p in CATALOG {
            let url = base.join(&format!("/product/{}", p.slug)).unwrap();
            let doc = Document::new(url.clone(), respond(url.path()).body);
            let ex = Demo.parse(&doc).unwrap();
            assert_eq!(ex.records.len(), 1, "{}", p.slug);
            let r = &ex.records[0];
            assert_eq!(r.title, p.title);
            assert_eq!(
                r.price.unwrap().to_string(),
                p.price_decimal(),
                "{}",
                p.slug
            );
            assert_eq!(
                r.list_price.map(|d| d.to_string()),
                p.list_price_decimal(),
                "{}",
                p.slug
            );
            assert_eq!(r.currency.unwrap().as_str(), "USD");
            assert_eq!(r.brand.as_deref(), Some(p.brand));
            assert_eq!(r.sku.as_deref(), Some(p.sku));
            let stock = if p.in_stock {
                Availability::InStock
            } else {
                Availability::OutOfStock
            };
            assert_eq!(r.availability, Some(stock), "{}", p.slug);
            assert!(ex.warnings.is_empty());
        }
    }

    #[test]
    fn listing_pages_give_links_and_no_records() {
        let url = Url::parse("http://127.0.0.1:1/category/tents").unwrap();
        let ex = Demo
            .parse(&Document::new(url.clone(), respond(url.path()).body))
            .unwrap();
        assert!(ex.records.is_empty());
        assert!(
            ex.links
                .iter()
                .any(|l| l.path() == "/product/alpine-2-tent")
        );
        assert!(
            ex.links
                .iter()
                .any(|l| l.path() == "/category/tents/page/2")
        );
    }

    #[test]
    fn a_product_page_without_title_is_an_error_naming_the_url() {
        let url = Url::parse("http://127.0.0.1:1/product/x").unwrap();
        let err = Demo
            .parse(&Document::new(url, "<html><body>nothing</body></html>"))
            .unwrap_err();
        assert!(err.to_string().contains("/product/x"));
    }
}
