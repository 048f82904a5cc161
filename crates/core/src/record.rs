//! The record model: one product or deal as extracted from a page.

use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One product or deal, as extracted from one page.
///
/// Contract:
/// * `site` is the registered name of the extractor that produced it; `url` is the canonical
///   address of the product or deal page (not of the listing it was found on).
/// * Prices are exact decimals ([`Decimal`], serialised as strings such as `"19.99"`), never
///   floating point. `price` is what a buyer pays now; `list_price` is the "was" / regular price
///   when the page shows one that differs.
/// * `currency` is an ISO-4217 code; it is `None` rather than a guess when the page does not
///   say.
/// * `method` says *how* the record was extracted, so that users can weigh an LLM answer
///   differently from JSON-LD.
/// * Optional fields are `None` when the page does not state them; they are never invented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// Product or deal.
    pub kind: RecordKind,
    /// Registered name of the site extractor that produced this record.
    pub site: String,
    /// Canonical URL of the product or deal page.
    pub url: String,
    /// Title as shown to buyers, whitespace-normalised.
    pub title: String,
    /// Current price (what a buyer pays now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    /// List / regular / "was" price when shown and different from `price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_price: Option<Decimal>,
    /// ISO-4217 currency of `price` and `list_price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// Stock status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Availability>,
    /// Merchant or store selling it (for deals: the store the deal is at).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant: Option<String>,
    /// Brand or manufacturer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// Absolute URL of the main product image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Merchant's stock keeping unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// GTIN / EAN / UPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<String>,
    /// Average rating as shown (scale as on the page, usually out of 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<Decimal>,
    /// Number of ratings or reviews behind `rating`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_count: Option<u64>,
    /// Community votes on a deal (deal aggregators), may be negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub votes: Option<i64>,
    /// When a deal was posted, as the page states it (RFC 3339 when it could be parsed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted_at: Option<String>,
    /// For deals: the outbound link to the store's offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_url: Option<String>,
    /// When haul saw the page this record came from.
    pub seen_at: DateTime<Utc>,
    /// How the record was extracted.
    pub method: Method,
    /// How sure the extractor is of `price`, from 0 (a guess) to 1 (the shop's own structured
    /// data, confirmed by the visible page); `None` when the extractor does not score its
    /// records (site crates reading a shop's API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The input this record came from when it differs from `url` (a file for `haul parse`, a
    /// listing page for records found on listings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Record {
    /// A record with the required fields set and every optional field empty; `seen_at` is now.
    pub fn new(
        kind: RecordKind,
        site: impl Into<String>,
        url: impl Into<String>,
        title: impl Into<String>,
        method: Method,
    ) -> Self {
        Self {
            kind,
            site: site.into(),
            url: url.into(),
            title: normalize_space(&title.into()),
            price: None,
            list_price: None,
            currency: None,
            availability: None,
            merchant: None,
            brand: None,
            image: None,
            sku: None,
            gtin: None,
            rating: None,
            rating_count: None,
            votes: None,
            posted_at: None,
            deal_url: None,
            seen_at: Utc::now(),
            method,
            confidence: None,
            source: None,
        }
    }

    /// A product record (shorthand for [`Record::new`] with [`RecordKind::Product`]).
    pub fn product(
        site: impl Into<String>,
        url: impl Into<String>,
        title: impl Into<String>,
        method: Method,
    ) -> Self {
        Self::new(RecordKind::Product, site, url, title, method)
    }

    /// Problems that make this record unusable; empty when fine.
    ///
    /// A record must have a non-empty title and URL, and prices must not be negative.
    pub fn problems(&self) -> Vec<RecordProblem> {
        let mut out = Vec::new();
        if self.title.trim().is_empty() {
            out.push(RecordProblem::EmptyTitle {
                url: self.url.clone(),
            });
        }
        if self.url.trim().is_empty() {
            out.push(RecordProblem::EmptyUrl {
                title: self.title.clone(),
            });
        }
        for (field, p) in [("price", self.price), ("list_price", self.list_price)] {
            if p.is_some_and(|p| p.is_sign_negative()) {
                out.push(RecordProblem::NegativePrice {
                    url: self.url.clone(),
                    field,
                });
            }
        }
        out
    }
}

/// Why a record is unusable (see [`Record::problems`]); such a record is never written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordProblem {
    /// The title is empty or blank.
    #[error("record for {url} has an empty title")]
    EmptyTitle {
        /// The record's URL.
        url: String,
    },
    /// The URL is empty or blank.
    #[error("record {title:?} has an empty url")]
    EmptyUrl {
        /// The record's title.
        title: String,
    },
    /// A price is negative.
    #[error("record for {url} has a negative {field}")]
    NegativePrice {
        /// The record's URL.
        url: String,
        /// `price` or `list_price`.
        field: &'static str,
    },
}

/// Collapses runs of whitespace into single spaces and trims the ends.
pub(crate) fn normalize_space(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a record describes a product page or a deal post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A product as sold by a shop.
    Product,
    /// A deal as posted on a deal aggregator.
    Deal,
}

/// How a record was extracted, from most to least trustworthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A shop's JSON API (Shopify, WooCommerce Store API...).
    Api,
    /// schema.org JSON-LD.
    JsonLd,
    /// schema.org microdata.
    Microdata,
    /// OpenGraph / product meta tags.
    OpenGraph,
    /// Inline script state: `__NEXT_DATA__`, `window.__INITIAL_STATE__`, analytics
    /// `dataLayer` events, a shop platform's product JSON.
    Script,
    /// Price `data-*` attributes (`data-price-amount`, `data-product-price`...).
    Attribute,
    /// A shop platform's own product-price markup (Shopify, WooCommerce, Magento...).
    Platform,
    /// Site-specific CSS selectors.
    Css,
    /// Generic heuristics on plain HTML.
    Heuristic,
    /// A language model read the page.
    Llm,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).ok();
        f.write_str(s.as_ref().and_then(|v| v.as_str()).unwrap_or("?"))
    }
}

/// Stock status, after schema.org's `ItemAvailability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Can be bought now.
    InStock,
    /// Cannot be bought now.
    OutOfStock,
    /// Can be ordered before release.
    PreOrder,
    /// Can be ordered, ships later.
    BackOrder,
    /// Only a few left.
    LimitedAvailability,
    /// No longer sold.
    Discontinued,
}

impl Availability {
    /// Parses schema.org values (`https://schema.org/InStock`, `InStock`, `in_stock`) and common
    /// shop wording ("in stock", "sold out", "out of stock"). Unknown text gives `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let tail = s.rsplit('/').next().unwrap_or(s);
        let key: String = tail
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        Some(match key.as_str() {
            "instock" | "available" | "onlineonly" | "instoreonly" | "true" => Self::InStock,
            "outofstock" | "soldout" | "unavailable" | "false" => Self::OutOfStock,
            "preorder" | "presale" => Self::PreOrder,
            "backorder" => Self::BackOrder,
            "limitedavailability" => Self::LimitedAvailability,
            "discontinued" => Self::Discontinued,
            _ => return None,
        })
    }
}

/// An ISO-4217 currency code: three ASCII capital letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// A string that is not an ISO-4217 code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an ISO-4217 currency code (three capital letters such as USD)")]
pub struct CurrencyError(pub String);

impl Currency {
    /// Parses a three-letter code, case-insensitively (`"usd"` gives `USD`).
    pub fn new(code: &str) -> Result<Self, CurrencyError> {
        let b = code.trim().as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_alphabetic) {
            Ok(Self([
                b[0].to_ascii_uppercase(),
                b[1].to_ascii_uppercase(),
                b[2].to_ascii_uppercase(),
            ]))
        } else {
            Err(CurrencyError(code.to_string()))
        }
    }

    /// The code as a string slice, such as `"EUR"`.
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_round_trips_and_rejects_garbage() {
        assert_eq!(Currency::new("eur").unwrap().as_str(), "EUR");
        assert!(Currency::new("€").is_err());
        assert!(Currency::new("EURO").is_err());
        let json = serde_json::to_string(&Currency::new("USD").unwrap()).unwrap();
        assert_eq!(json, "\"USD\"");
        assert!(serde_json::from_str::<Currency>("\"US\"").is_err());
    }

    #[test]
    fn record_serialises_prices_as_exact_strings() {
        let mut r = Record::product("demo", "http://x/p/1", "  A   thing ", Method::JsonLd);
        r.price = Some("19.99".parse().unwrap());
        r.currency = Some(Currency::new("EUR").unwrap());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["price"], "19.99");
        assert_eq!(v["title"], "A thing");
        assert_eq!(v["method"], "json_ld");
        assert_eq!(Method::Script.to_string(), "script");
        assert_eq!(Method::Attribute.to_string(), "attribute");
        assert_eq!(Method::Platform.to_string(), "platform");
        assert!(v.get("brand").is_none());
        let back: Record = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn availability_parses_schema_org_and_words() {
        assert_eq!(
            Availability::parse("https://schema.org/InStock"),
            Some(Availability::InStock)
        );
        assert_eq!(
            Availability::parse("Sold out"),
            Some(Availability::OutOfStock)
        );
        assert_eq!(Availability::parse("whatever"), None);
    }

    #[test]
    fn problems_flag_empty_title_and_negative_price() {
        let mut r = Record::product("demo", "http://x/p/1", " ", Method::Css);
        r.price = Some("-1".parse().unwrap());
        assert_eq!(r.problems().len(), 2);
    }
}
