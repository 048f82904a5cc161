//! Shopify's storefront product JSON (`products.json`, `products/<handle>.json`) and its
//! conversion into records.

use haul_core::{Availability, Currency, Decimal, Extraction, Method, Record, Url};
use haul_extract::store::{decimal, non_empty};
use serde::Deserialize;
use serde_json::Value;

/// One product as Shopify's storefront JSON gives it. Every field is optional so that one odd
/// product never fails a whole page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Product {
    pub(crate) id: Option<u64>,
    pub(crate) title: String,
    pub(crate) handle: String,
    pub(crate) vendor: Option<String>,
    pub(crate) variants: Vec<Variant>,
    pub(crate) images: Vec<Image>,
    /// `products/<handle>.json` also has the main image on its own.
    pub(crate) image: Option<Image>,
}

/// One variant of a product.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Variant {
    pub(crate) id: Option<u64>,
    pub(crate) title: Option<String>,
    /// A decimal string such as `"19.99"`.
    pub(crate) price: Option<Value>,
    pub(crate) compare_at_price: Option<Value>,
    pub(crate) sku: Option<String>,
    pub(crate) barcode: Option<String>,
    /// Present in `products.json`, absent from `products/<handle>.json`.
    pub(crate) available: Option<bool>,
    pub(crate) featured_image: Option<Image>,
    /// `products/<handle>.json` names the variant's image by id instead.
    pub(crate) image_id: Option<u64>,
    /// Some stores' `products/<handle>.json` state the currency of `price`.
    pub(crate) price_currency: Option<String>,
    pub(crate) presentment_prices: Vec<PresentmentPrice>,
}

/// An image; only its address matters here.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Image {
    pub(crate) id: Option<u64>,
    pub(crate) src: Option<String>,
}

/// `{"price": {"amount": "19.99", "currency_code": "USD"}, "compare_at_price": ...}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PresentmentPrice {
    pub(crate) price: Option<Money>,
}

/// An amount with its currency.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Money {
    pub(crate) amount: Option<Value>,
    pub(crate) currency_code: Option<String>,
}

/// A barcode that is a GTIN (8, 12, 13 or 14 digits). Shopify's `barcode` is free text (ISBNs
/// with dashes, internal codes), so anything else is not reported as a GTIN.
fn gtin(barcode: Option<&str>) -> Option<String> {
    let b = barcode?.trim();
    (matches!(b.len(), 8 | 12 | 13 | 14) && b.bytes().all(|c| c.is_ascii_digit()))
        .then(|| b.to_string())
}

/// Where the records of a page point to and come from.
pub(crate) struct PageInfo<'a> {
    /// The site's registered name, which records carry.
    pub(crate) site: &'static str,
    /// The store's origin plus locale prefix, such as `https://store.example` or
    /// `https://store.example/en-ca`.
    pub(crate) base: &'a str,
    /// The page the records were found on.
    pub(crate) page: &'a Url,
}

impl Variant {
    /// The currency the variant itself states, if any.
    fn own_currency(&self, price: Option<Decimal>) -> Option<Currency> {
        if let Some(c) = self.price_currency.as_deref() {
            return Currency::new(c).ok();
        }
        // A presentment price counts only when it is the same amount as `price`.
        self.presentment_prices
            .iter()
            .filter_map(|p| p.price.as_ref())
            .find(|m| decimal(m.amount.as_ref()).is_some() && decimal(m.amount.as_ref()) == price)
            .and_then(|m| Currency::new(m.currency_code.as_deref()?).ok())
    }
}

impl Product {
    /// The records of this product (one per variant), appended to `out` with warnings for
    /// what is missing.
    pub(crate) fn push_records(&self, info: &PageInfo<'_>, out: &mut Extraction) {
        let title = self.title.trim();
        let handle = self.handle.trim();
        if title.is_empty() || handle.is_empty() {
            out.warn(format!(
                "{}: product {} skipped: no title or handle",
                info.page,
                self.id
                    .map_or_else(|| "without id".into(), |i| i.to_string())
            ));
            return;
        }
        let product_url = format!("{}/products/{handle}", info.base);
        let product_image = self
            .images
            .first()
            .or(self.image.as_ref())
            .and_then(|i| absolute(info.page, i.src.as_deref()));
        if self.variants.is_empty() {
            out.warn(format!("{product_url}: product without variants, no price"));
            let mut r = Record::product(info.site, &product_url, title, Method::Api);
            r.brand = non_empty(self.vendor.as_deref());
            r.image = product_image;
            r.source = Some(info.page.to_string());
            out.records.push(r);
            return;
        }
        for v in &self.variants {
            let variant_title = v.title.as_deref().map(str::trim).unwrap_or_default();
            let full_title = if variant_title.is_empty() || variant_title == "Default Title" {
                title.to_string()
            } else {
                format!("{title} - {variant_title}")
            };
            let url = match v.id {
                Some(id) => format!("{product_url}?variant={id}"),
                None => product_url.clone(),
            };
            let mut r = Record::product(info.site, &url, full_title, Method::Api);
            r.price = decimal(v.price.as_ref());
            if r.price.is_none() {
                out.warn(format!("{url}: variant without a price"));
            }
            r.list_price = decimal(v.compare_at_price.as_ref())
                .filter(|was| r.price.is_some_and(|now| *was > now));
            r.currency = v.own_currency(r.price);
            r.availability = v.available.map(|a| {
                if a {
                    Availability::InStock
                } else {
                    Availability::OutOfStock
                }
            });
            r.brand = non_empty(self.vendor.as_deref());
            r.sku = non_empty(v.sku.as_deref());
            r.gtin = gtin(v.barcode.as_deref());
            let variant_image = v.featured_image.as_ref().or_else(|| {
                let id = v.image_id?;
                self.images.iter().find(|i| i.id == Some(id))
            });
            r.image = variant_image
                .and_then(|i| absolute(info.page, i.src.as_deref()))
                .or_else(|| product_image.clone());
            r.source = Some(info.page.to_string());
            out.records.push(r);
        }
    }
}

/// `src` made absolute against the page (Shopify sometimes writes `//cdn.shopify.com/...`).
fn absolute(page: &Url, src: Option<&str>) -> Option<String> {
    let src = src?.trim();
    if src.is_empty() {
        return None;
    }
    page.join(src).ok().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digit_barcodes_of_gtin_length_are_gtins() {
        let cases = [
            ("0012345678905", Some("0012345678905")),
            ("12345678", Some("12345678")),
            ("012345678905", Some("012345678905")),
            ("978-3-16-148410-0", None),
            ("ABC123", None),
            ("", None),
            ("1234567", None),
        ];
        for (b, want) in cases {
            assert_eq!(gtin(Some(b)).as_deref(), want, "{b}");
        }
    }
}
