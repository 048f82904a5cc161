//! The WooCommerce Store API product schema and its conversion into records.

use haul_core::{Availability, Currency, Decimal, Extraction, Method, Record, Url};
use haul_extract::store::{decimal, non_empty};
use serde::Deserialize;
use serde_json::Value;

/// One product as `/wp-json/wc/store/v1/products` gives it. Every field is optional so that
/// one odd product never fails a whole page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Product {
    pub(crate) id: Option<u64>,
    pub(crate) name: String,
    pub(crate) permalink: Option<String>,
    pub(crate) sku: Option<String>,
    pub(crate) prices: Option<Prices>,
    pub(crate) is_in_stock: Option<bool>,
    pub(crate) is_on_backorder: Option<bool>,
    pub(crate) images: Vec<Image>,
    /// A decimal string such as `"4.50"`.
    pub(crate) average_rating: Option<Value>,
    pub(crate) review_count: Option<u64>,
    /// WooCommerce 9.6+ (product brands).
    pub(crate) brands: Vec<Term>,
}

/// The `prices` object: amounts are integer strings in minor units.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Prices {
    pub(crate) price: Option<Value>,
    pub(crate) regular_price: Option<Value>,
    pub(crate) price_range: Option<PriceRange>,
    pub(crate) currency_code: Option<String>,
    pub(crate) currency_minor_unit: Option<u32>,
}

/// `price_range` of a variable product.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PriceRange {
    pub(crate) min_amount: Option<Value>,
    pub(crate) max_amount: Option<Value>,
}

/// An image; only its address matters here.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Image {
    pub(crate) src: Option<String>,
}

/// A taxonomy term such as a brand.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Term {
    pub(crate) name: String,
}

/// An exact decimal from an integer amount in minor units: `"1999"` with `minor_unit` 2 is
/// 19.99, `"500"` with 0 is 500. Empty strings, `null` and non-integers give `None`.
pub(crate) fn from_minor(v: Option<&Value>, minor_unit: u32) -> Option<Decimal> {
    let units: i128 = match v? {
        Value::String(s) => s.trim().parse().ok()?,
        Value::Number(n) => n.as_i64()?.into(),
        _ => return None,
    };
    Decimal::try_from_i128_with_scale(units, minor_unit).ok()
}

/// Text with HTML entities decoded and tags dropped, whitespace-normalised. Product names
/// come HTML-encoded from WordPress (`Hoodie &#8211; Blue`, `T&amp;C`); scraper's HTML parser
/// decodes them the way a browser does.
pub(crate) fn decode_html(s: &str) -> String {
    let frag = haul_extract::parse_html_fragment(s);
    frag.root_element()
        .text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Product {
    /// The record of this product, appended to `out` with warnings for what is missing.
    pub(crate) fn push_record(&self, site: &str, page: &Url, out: &mut Extraction) {
        let title = decode_html(&self.name);
        if title.is_empty() {
            out.warn(format!(
                "{page}: product {} skipped: no name",
                self.id
                    .map_or_else(|| "without id".into(), |i| i.to_string())
            ));
            return;
        }
        let url = match (self.permalink.as_deref(), self.id) {
            (Some(p), _) if !p.trim().is_empty() => page.join(p.trim()).ok(),
            // WordPress's short link for a post id.
            (_, Some(id)) => page.join(&format!("/?p={id}")).ok(),
            _ => None,
        };
        let Some(url) = url else {
            out.warn(format!(
                "{page}: product {title:?} skipped: no permalink or id"
            ));
            return;
        };
        let mut r = Record::product(site, url.as_str(), title, Method::Api);
        match &self.prices {
            Some(prices) => match prices.currency_minor_unit {
                Some(unit) => self.set_prices(&mut r, prices, unit),
                None => out.warn(format!(
                    "{url}: prices without currency_minor_unit, amounts unknown"
                )),
            },
            None => out.warn(format!("{url}: no prices")),
        }
        if r.price.is_none() {
            out.warn(format!("{url}: no price"));
        }
        r.availability = match (self.is_on_backorder, self.is_in_stock) {
            (Some(true), _) => Some(Availability::BackOrder),
            (_, Some(true)) => Some(Availability::InStock),
            (_, Some(false)) => Some(Availability::OutOfStock),
            _ => None,
        };
        r.sku = non_empty(self.sku.as_deref());
        r.brand = self
            .brands
            .first()
            .map(|b| decode_html(&b.name))
            .filter(|b| !b.is_empty());
        r.image = self
            .images
            .iter()
            .find_map(|i| non_empty(i.src.as_deref()))
            .and_then(|src| page.join(&src).ok())
            .map(String::from);
        let reviews = self.review_count.unwrap_or(0);
        if reviews > 0 {
            r.rating = decimal(self.average_rating.as_ref()).filter(|d| !d.is_zero());
            r.rating_count = Some(reviews);
        }
        r.source = Some(page.to_string());
        out.records.push(r);
    }

    fn set_prices(&self, r: &mut Record, prices: &Prices, unit: u32) {
        r.currency = prices
            .currency_code
            .as_deref()
            .and_then(|c| Currency::new(c).ok());
        let range = prices.price_range.as_ref().and_then(|pr| {
            let min = from_minor(pr.min_amount.as_ref(), unit)?;
            let max = from_minor(pr.max_amount.as_ref(), unit).unwrap_or(min);
            Some((min, max))
        });
        match range {
            // A real range (variable and grouped products): the lowest price, no list price
            // (see the crate docs).
            Some((min, max)) if min != max => r.price = Some(min),
            _ => {
                r.price =
                    from_minor(prices.price.as_ref(), unit).or_else(|| range.map(|(min, _)| min));
                r.list_price = from_minor(prices.regular_price.as_ref(), unit)
                    .filter(|was| r.price.is_some_and(|now| *was > now));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn minor_units_convert_exactly() {
        let cases = [
            (json!("1999"), 2, Some("19.99")),
            (json!("1999"), 0, Some("1999")),
            (json!("5"), 3, Some("0.005")),
            (json!("120000"), 2, Some("1200.00")),
            (json!(450), 2, Some("4.50")),
            (json!(""), 2, None),
            (json!("19.99"), 2, None),
            (json!(null), 2, None),
        ];
        for (v, unit, want) in cases {
            assert_eq!(
                from_minor(Some(&v), unit).map(|d| d.to_string()).as_deref(),
                want,
                "{v} / {unit}"
            );
        }
    }

    #[test]
    fn names_are_html_decoded() {
        let cases = [
            ("Hoodie &#8211; Blue", "Hoodie – Blue"),
            ("Salt &amp; Pepper Set", "Salt & Pepper Set"),
            ("<em>Limited</em> Mug", "Limited Mug"),
            ("  Plain   name ", "Plain name"),
            (
                "&quot;Quoted&quot; &#8220;fancy&#8221;",
                "\"Quoted\" \u{201c}fancy\u{201d}",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(decode_html(raw), want, "{raw}");
        }
    }
}
