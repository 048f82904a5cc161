//! Price evidence beyond schema.org: inline script state, `data-*` price attributes, loose
//! `itemprop` / `meta` prices and shop platforms' own product markup, each a small source
//! that proposes price candidates with a strength, for the merge to weigh against the
//! visible-price heuristics.
//!
//! Sources ([`Source`]):
//! * [`Source::Script`]: JSON state in inline scripts (`__NEXT_DATA__`,
//!   `window.__INITIAL_STATE__`, analytics `dataLayer` / `gtag` events, Shopify's product
//!   JSON, Magento's `x-magento-init` and `data-mage-init` price configs).
//! * [`Source::Attribute`]: `data-price`, `data-price-amount`, `data-product-price`... and
//!   JSON in `data-product` / `data-gtm` attributes.
//! * [`Source::Itemprop`]: `itemprop="price"` outside any `itemscope`, `twitter:data1` prices,
//!   `product:sale_price:amount`.
//! * [`Source::Platform`]: a detected shop platform's product-price markup (Shopify,
//!   WooCommerce, Magento, PrestaShop, Salesforce Commerce Cloud, BigCommerce).

mod attrs;
mod itemprop;
mod platform;
mod script;

use std::str::FromStr;

use haul_core::{Availability, Currency, Decimal, Method};
use serde_json::Value;

use crate::page::Page;
use ego_tree::iter::Edge;
use scraper::ElementRef;

use crate::text::{TitleWords, normalize_space, title_reference};

/// The kind of inline script state a price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptKind {
    /// Next.js `<script id="__NEXT_DATA__">`.
    NextData,
    /// `window.__INITIAL_STATE__`, `__PRELOADED_STATE__`, `__NUXT__` and the like.
    InitialState,
    /// An analytics event: `dataLayer.push({...})`, `dataLayer = [...]`, `gtag('event', ...)`.
    DataLayer,
    /// Shopify's product JSON (`data-product-json`, `ProductJson-...`, `ShopifyAnalytics.meta`).
    ShopifyJson,
    /// Magento's `text/x-magento-init` scripts and `data-mage-init` attributes.
    MageInit,
    /// Any other JSON script.
    Other,
}

/// A shop platform whose product markup is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Shopify.
    Shopify,
    /// WooCommerce (WordPress).
    WooCommerce,
    /// Magento / Adobe Commerce.
    Magento,
    /// PrestaShop.
    PrestaShop,
    /// Salesforce Commerce Cloud (Demandware).
    SalesforceCommerce,
    /// BigCommerce.
    BigCommerce,
}

/// Where a price candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Inline script state.
    Script(ScriptKind),
    /// A `data-*` price attribute (or JSON in one).
    Attribute,
    /// A loose `itemprop` price or a price `<meta>`.
    Itemprop,
    /// A shop platform's own product-price markup.
    Platform(Platform),
}

impl Source {
    /// The record `method` of a record whose price came from this source.
    pub fn method(self) -> Method {
        match self {
            Self::Script(_) => Method::Script,
            Self::Attribute => Method::Attribute,
            Self::Itemprop => Method::Microdata,
            Self::Platform(_) => Method::Platform,
        }
    }
}

/// One price candidate from one source.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// Where it came from.
    pub source: Source,
    /// Current price (the sale price when a sale is marked); always positive.
    pub price: Decimal,
    /// Regular / "was" price when the source gives one greater than `price`.
    pub list_price: Option<Decimal>,
    /// Currency, when the source states it (or the page does, for a bare number).
    pub currency: Option<Currency>,
    /// Stock status, when the source states it.
    pub availability: Option<Availability>,
    /// The product name the source pairs with the price, if any.
    pub title: Option<String>,
    /// 0..1: how much the source itself vouches for this being the page's main product's
    /// current price (not comparable to heuristic scores without calibration).
    pub strength: f64,
    /// Where it was found, for diagnostics: `"__NEXT_DATA__ props.pageProps.product.price"`.
    pub path: String,
}

/// Every price candidate of every evidence source, strongest first, deduplicated (one per
/// source, price, list price and currency). Never panics; cheap next to the heuristics.
pub fn evidence(page: &Page) -> Vec<Evidence> {
    let stop = crate::budget::stop;
    if stop() {
        return Vec::new();
    }
    let ctx = Ctx::new(page);
    let mut out = script::script_evidence(&ctx);
    if !stop() {
        out.extend(attrs::attr_evidence(&ctx));
    }
    if !stop() {
        out.extend(itemprop::itemprop_evidence(&ctx));
    }
    if !stop() {
        let found = platform::platform_evidence(&ctx, &out);
        out.extend(found);
    }
    finish(out)
}

/// Sorts strongest first (stable: document order among equals), clamps strengths, drops
/// duplicates.
fn finish(mut out: Vec<Evidence>) -> Vec<Evidence> {
    for e in &mut out {
        e.strength = e.strength.clamp(0.0, 1.0);
        if e.list_price.is_some_and(|l| l <= e.price) {
            e.list_price = None;
        }
    }
    out.sort_by(|a, b| b.strength.total_cmp(&a.strength));
    let mut seen = std::collections::HashSet::new();
    out.retain(|e| seen.insert((e.source, e.price, e.list_price, e.currency)));
    out
}

/// What every source needs about the page, computed once.
pub(crate) struct Ctx<'a> {
    pub(crate) page: &'a Page,
    /// The elements the sources read, found in one pass.
    pub(crate) scan: Scan<'a>,
    /// The words the page uses for its product: its first `<h1>`s, `og:title`, `<title>`
    /// (see [`crate::text::title_reference`]).
    pub(crate) reference: TitleWords,
}

/// Elements read per kind (price attributes, loose itemprops, metas, scripts).
const MAX_SCANNED: usize = 2_000;

/// The elements the sources read, collected in one pass over the DOM.
#[derive(Default)]
pub(crate) struct Scan<'a> {
    h1s: Vec<String>,
    title: Option<String>,
    /// `<meta>` keys (`property`, `name` or `itemprop`, lower-case) and contents.
    metas: Vec<(String, String)>,
    /// Inline scripts and their text (up to [`script::MAX_SCRIPT_BYTES`]).
    pub(crate) scripts: Vec<(ElementRef<'a>, String)>,
    /// Elements with `data-mage-init`.
    pub(crate) mage_init: Vec<ElementRef<'a>>,
    /// Elements with a price `data-*` attribute.
    pub(crate) priced: Vec<ElementRef<'a>>,
    /// `itemprop` price / lowPrice / priceCurrency elements outside any `itemscope`.
    pub(crate) loose_itemprops: Vec<ElementRef<'a>>,
    /// Platform fingerprint scores (see `platform`).
    pub(crate) platform_score: [usize; 6],
}

impl<'a> Scan<'a> {
    /// One pre-order pass over the DOM, without recursion; `itemscope` tracked on the way.
    fn new(page: &'a Page) -> Self {
        let mut s = Self::default();
        let mut scopes: Vec<bool> = Vec::new();
        let mut open_scopes = 0usize;
        for (i, edge) in page.html().tree.root().traverse().enumerate() {
            if i % 4096 == 4095 && crate::budget::stop() {
                break;
            }
            match edge {
                Edge::Open(node) => {
                    let Some(el) = ElementRef::wrap(node) else {
                        continue;
                    };
                    let scope = el.value().attr("itemscope").is_some();
                    s.visit(el, open_scopes > 0 || scope);
                    scopes.push(scope);
                    open_scopes += usize::from(scope);
                }
                Edge::Close(node) => {
                    if ElementRef::wrap(node).is_some() && scopes.pop() == Some(true) {
                        open_scopes -= 1;
                    }
                }
            }
        }
        s
    }

    fn visit(&mut self, el: ElementRef<'a>, scoped: bool) {
        let v = el.value();
        let mut script_text = None;
        match v.name() {
            "h1" if self.h1s.len() < 3 => {
                self.h1s
                    .push(normalize_space(&el.text().collect::<String>()));
            }
            "title" if self.title.is_none() => {
                self.title = Some(normalize_space(&el.text().collect::<String>()));
            }
            "meta" if self.metas.len() < MAX_SCANNED => {
                let key = ["property", "name", "itemprop"]
                    .iter()
                    .find_map(|a| v.attr(a));
                if let (Some(k), Some(c)) = (key, v.attr("content")) {
                    self.metas
                        .push((k.trim().to_ascii_lowercase(), normalize_space(c)));
                }
            }
            "script" if v.attr("src").is_none() && self.scripts.len() < MAX_SCANNED => {
                let text: String = el.text().collect();
                if text.len() <= script::MAX_SCRIPT_BYTES {
                    self.scripts.push((el, text));
                    script_text = self.scripts.last().map(|s| s.1.as_str());
                }
            }
            _ => {}
        }
        platform::element_marks(el, script_text, &mut self.platform_score);
        let mut priced = false;
        for (name, value) in v.attrs() {
            if name == "data-mage-init" && self.mage_init.len() < MAX_SCANNED {
                self.mage_init.push(el);
            } else if name == "itemprop"
                && !scoped
                && self.loose_itemprops.len() < MAX_SCANNED
                && value.split_whitespace().any(|p| {
                    ["price", "lowprice", "pricecurrency"]
                        .contains(&p.to_ascii_lowercase().as_str())
                })
            {
                self.loose_itemprops.push(el);
            } else if !priced && name.starts_with("data-") && attrs::is_price_attr(name) {
                priced = true;
            }
        }
        if priced && self.priced.len() < MAX_SCANNED {
            self.priced.push(el);
        }
    }
}

impl<'a> Ctx<'a> {
    fn new(page: &'a Page) -> Self {
        let scan = Scan::new(page);
        let mut ctx = Self {
            page,
            scan,
            reference: TitleWords::default(),
        };
        let pieces = ctx
            .scan
            .h1s
            .iter()
            .cloned()
            .chain(ctx.meta("og:title"))
            .chain(ctx.scan.title.clone());
        ctx.reference = TitleWords::new(&title_reference(pieces));
        ctx
    }

    /// `content` of the first `<meta>` whose `property`, `name` or `itemprop` is `key`
    /// (lower-case), non-empty.
    pub(crate) fn meta(&self, key: &str) -> Option<String> {
        self.scan
            .metas
            .iter()
            .find(|(k, c)| k == key && !c.is_empty())
            .map(|(_, c)| c.clone())
    }

    /// How well a title names the page's product: `None` without a title with words, else
    /// the share of its words the page's title and `<h1>` use.
    pub(crate) fn overlap(&self, title: Option<&str>) -> Option<f64> {
        let t = title?;
        if crate::text::title_tokens(t).is_empty() || self.reference.is_empty() {
            return None;
        }
        Some(self.reference.share_of(t))
    }

    /// A strength adjustment for the title a source pairs with its price: up when it names
    /// the page's product, down when it names something else.
    pub(crate) fn title_bonus(&self, title: Option<&str>) -> f64 {
        match self.overlap(title) {
            Some(o) if o >= 0.6 => 0.15,
            Some(o) if o >= 0.3 => 0.05,
            Some(_) => -0.25,
            None => -0.05,
        }
    }
}

/// Whether text written as a price is negative (`-5`, `−5`, `- $5`): not a price.
fn negative(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('-') || t.starts_with('\u{2212}') || t.starts_with('(')
}

/// A positive amount written as plain digits with at most one `.` (`"1299.00"`), exactly.
fn plain_decimal(text: &str) -> Option<Decimal> {
    let t = text.trim();
    if t.is_empty()
        || t.len() > 24
        || !t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || t.matches('.').count() > 1
    {
        return None;
    }
    Decimal::from_str(t).ok()
}

/// A price as written in markup or a JSON string: a plain decimal exactly, anything else with
/// the page's price parser (`"1.299,00 €"`). `None` for zero, negative and unreadable.
pub(crate) fn text_amount(
    page: &Page,
    text: &str,
    currency_hint: Option<&str>,
) -> Option<(Decimal, Option<Currency>)> {
    if negative(text) || text.len() > 200 {
        return None;
    }
    let (amount, currency) = match plain_decimal(text) {
        Some(d) => (d, currency_hint.and_then(|c| page.currency(c))),
        None => {
            let p = page.parse_price(text, currency_hint);
            (p.amount?, p.currency)
        }
    };
    (amount > Decimal::ZERO).then(|| (crate::schema::tidy(amount), currency))
}

/// A price in JSON: a number (in cents when `cents` and it is whole) or a string read by
/// [`text_amount`].
pub(crate) fn json_amount(
    page: &Page,
    v: &Value,
    currency_hint: Option<&str>,
    cents: bool,
) -> Option<(Decimal, Option<Currency>)> {
    match v {
        Value::Number(n) => {
            let s = n.to_string();
            let mut d = Decimal::from_str(&s)
                .ok()
                .or_else(|| Decimal::from_scientific(&s).ok())?;
            if d <= Decimal::ZERO {
                return None;
            }
            if cents && n.is_u64() {
                d = Decimal::new(i64::try_from(n.as_u64()?).ok()?, 2);
            }
            Some((
                crate::schema::tidy(d),
                currency_hint.and_then(|c| page.currency(c)),
            ))
        }
        Value::String(s) => text_amount(page, s, currency_hint),
        _ => None,
    }
}

/// An ISO code written in JSON (`"EUR"`) or an object holding one (`{"iso_code": "EUR"}`).
pub(crate) fn json_currency_code(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim(),
        Value::Object(m) => {
            return ["iso_code", "isoCode", "code", "currencyCode", "iso"]
                .iter()
                .find_map(|k| m.get(*k).and_then(json_currency_code));
        }
        _ => return None,
    };
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_alphabetic())).then(|| s.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::Url;

    pub(super) fn page(html: &str) -> Page {
        Page::parse(
            html,
            &Url::parse("https://shop.example/p/alpine-tent").unwrap(),
        )
    }

    #[test]
    fn sources_map_to_methods() {
        assert_eq!(
            Source::Script(ScriptKind::NextData).method(),
            Method::Script
        );
        assert_eq!(Source::Attribute.method(), Method::Attribute);
        assert_eq!(Source::Itemprop.method(), Method::Microdata);
        assert_eq!(
            Source::Platform(Platform::Magento).method(),
            Method::Platform
        );
    }

    #[test]
    fn amounts_keep_the_sign_and_read_cents() {
        let p = page(r#"<html lang="de-DE"></html>"#);
        let amt = |s: &str| text_amount(&p, s, None).map(|a| a.0.to_string());
        assert_eq!(amt("1299.00").as_deref(), Some("1299.00"));
        assert_eq!(amt("1.299,00 €").as_deref(), Some("1299.00"));
        assert_eq!(amt("-5"), None);
        assert_eq!(amt("0"), None);
        assert_eq!(amt("0.00"), None);
        let j = |v: Value, cents| json_amount(&p, &v, Some("EUR"), cents);
        let (d, c) = j(serde_json::json!(129900), true).unwrap();
        assert_eq!(
            (d.to_string().as_str(), c.unwrap().as_str()),
            ("1299.00", "EUR")
        );
        assert_eq!(
            j(serde_json::json!(12.5), true).unwrap().0.to_string(),
            "12.5"
        );
        assert_eq!(j(serde_json::json!(-3), false), None);
        assert_eq!(j(serde_json::json!(null), false), None);
    }

    #[test]
    fn evidence_is_sorted_and_deduplicated() {
        let html = r#"<html><head><title>Alpine Tent | Shop</title></head><body>
          <h1>Alpine Tent</h1>
          <div class="product-info"><span data-price="129.90">129,90</span>
          <meta itemprop="price" content="129.90"><meta itemprop="priceCurrency" content="EUR"></div>
          <div class="product-info-2"><span data-price="129.90"></span></div>
          </body></html>"#;
        let ev = evidence(&page(html));
        assert!(ev.len() >= 2, "{ev:#?}");
        assert!(ev.windows(2).all(|w| w[0].strength >= w[1].strength));
        let attrs = ev.iter().filter(|e| e.source == Source::Attribute).count();
        assert_eq!(attrs, 1, "{ev:#?}");
    }
}
