//! schema.org `Product` / `ProductGroup` / `Offer` / `AggregateOffer` nodes to records.
//!
//! Shared by the JSON-LD and microdata layers: microdata items are converted to the same JSON
//! shape as JSON-LD (`{"@type": ..., "prop": value}`), so one reader handles both.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use haul_core::{Availability, Currency, Decimal, Method, Record};
use serde_json::Value;

use crate::page::Page;
use crate::text::{decode_entities, normalize_space};

/// How deep the walks over a JSON value descend. serde_json stops reading at 128 levels, but
/// values also come from microdata and are walked again here; deeper parts are ignored.
const MAX_JSON_DEPTH: usize = 128;

/// How many offer nodes the products of one page read in all. `@id` references let a small
/// page name the same big `AggregateOffer` from every product; real pages read a few hundred.
const MAX_OFFERS_PER_PAGE: usize = 10_000;

/// `@id` → node, to resolve references such as `"hasVariant": [{"@id": "#v1"}]`, and the
/// page's remaining budget of offer nodes to read.
pub(crate) struct Ids<'a> {
    map: HashMap<&'a str, &'a Value>,
    offers_left: Cell<usize>,
}

impl<'a> Ids<'a> {
    pub(crate) fn new() -> Self {
        Self {
            map: HashMap::new(),
            offers_left: Cell::new(MAX_OFFERS_PER_PAGE),
        }
    }

    fn get(&self, id: &str) -> Option<&'a Value> {
        self.map.get(id).copied()
    }

    /// Names `v` by `id` unless an earlier node has that id.
    fn index(&mut self, id: &'a str, v: &'a Value) {
        self.map.entry(id).or_insert(v);
    }

    /// Takes one offer read from the page's budget; false when it is spent.
    fn take_offer(&self) -> bool {
        let left = self.offers_left.get();
        self.offers_left.set(left.saturating_sub(1));
        left > 0
    }
}

/// The types of a node (`@type` as a string or an array), reduced to their last path segment
/// and lower-cased: `"http://schema.org/Product"` gives `"product"`.
pub(crate) fn types(v: &Value) -> Vec<String> {
    let one = |s: &str| {
        s.rsplit(['/', ':', '#'])
            .next()
            .unwrap_or(s)
            .trim()
            .to_ascii_lowercase()
    };
    match v.get("@type").or_else(|| v.get("type")) {
        Some(Value::String(s)) => s.split_whitespace().map(one).collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(one).collect(),
        _ => Vec::new(),
    }
}

/// Whether a node describes something sold: a product type, or a thing with offers.
pub(crate) fn is_product(v: &Value) -> bool {
    let t = types(v);
    t.iter().any(|t| {
        matches!(
            t.as_str(),
            "product" | "productgroup" | "productmodel" | "individualproduct" | "someproducts"
        )
    }) || (v.get("offers").is_some()
        && t.iter().any(|t| {
            matches!(
                t.as_str(),
                "vehicle"
                    | "car"
                    | "motorcycle"
                    | "book"
                    | "softwareapplication"
                    | "mobileapplication"
                    | "videogame"
                    | "creativework"
            )
        }))
}

/// Follows a `{"@id": ...}` reference to its node when the node is known.
pub(crate) fn resolve<'a>(v: &'a Value, ids: &Ids<'a>) -> &'a Value {
    if let Value::Object(m) = v
        && let Some(Value::String(id)) = m.get("@id")
        && m.len() == 1
        && let Some(target) = ids.get(id.as_str())
    {
        return target;
    }
    v
}

/// The values of a property that may be one value or an array, references resolved.
fn many<'a>(v: Option<&'a Value>, ids: &Ids<'a>) -> Vec<&'a Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().map(|x| resolve(x, ids)).collect(),
        Some(other) => vec![resolve(other, ids)],
    }
}

/// A string property: a string, a number, the first of an array, or `{"@value"|"name": ...}`;
/// entities decoded and whitespace normalised; `None` when empty.
pub(crate) fn string(v: Option<&Value>) -> Option<String> {
    string_at(v, 0)
}

/// How deep [`string`] looks through arrays and `@value` / `name` objects.
const MAX_STRING_DEPTH: usize = 8;

fn string_at(v: Option<&Value>, depth: usize) -> Option<String> {
    if depth > MAX_STRING_DEPTH {
        return None;
    }
    let s = match v? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => return a.iter().find_map(|x| string_at(Some(x), depth + 1)),
        Value::Object(m) => {
            return string_at(m.get("@value").or_else(|| m.get("name")), depth + 1);
        }
        _ => return None,
    };
    let s = normalize_space(&decode_entities(&s));
    (!s.is_empty()).then_some(s)
}

/// A decimal written as a JSON number or as a plain decimal string (`"19.99"`), exactly.
fn plain_decimal(v: &Value) -> Option<Decimal> {
    match v {
        // serde_json prints the shortest representation that reads back to the same f64,
        // which is the number as written in the source for any price.
        Value::Number(n) => {
            let s = n.to_string();
            Decimal::from_str(&s)
                .ok()
                .or_else(|| Decimal::from_scientific(&s).ok())
        }
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()
                && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && t.matches('.').count() <= 1)
                .then(|| Decimal::from_str(t).ok())
                .flatten()
        }
        _ => None,
    }
}

/// A price value: a number, a plain decimal string (schema.org's format, `.` as the decimal
/// separator), or a price as shown (`"$1,299.00"`, `"1.299,00 €"`), read with the price
/// parser. Zero is treated as absent (shops write 0 for "price in cart" or unknown).
fn price_value(
    v: Option<&Value>,
    page: &Page,
    currency: Option<&str>,
) -> Option<(Decimal, Option<Currency>)> {
    let v = match v? {
        Value::Array(a) => a.first()?,
        Value::Object(m) => m.get("@value")?,
        other => other,
    };
    // `"12.990"` with CLP (a currency without minor units) is twelve thousand: such strings go
    // through the price parser, which knows that; so does a signed one (`"-3.00"`, rejected).
    let currency_code = currency
        .and_then(|c| page.currency(c))
        .or(page.stated_currency());
    let whole_units = currency_code.is_some_and(|c| !haul_price::has_minor_units(c));
    let plain = match v {
        Value::String(_) if whole_units => None,
        _ => plain_decimal(v),
    };
    let (amount, cur) = match plain {
        Some(d) => (d, None),
        None => {
            let s = v.as_str()?;
            let p = page.parse_price(&decode_entities(s), currency);
            (p.amount?, p.currency)
        }
    };
    (amount > Decimal::ZERO).then_some((tidy(amount), cur))
}

/// Drops meaningless trailing zeros of an amount written with more than two decimals
/// (`69.990000000000` gives `69.99`), keeping at least two (`15.000` gives `15.00`).
pub(crate) fn tidy(d: Decimal) -> Decimal {
    if d.scale() <= 2 {
        return d;
    }
    let mut n = d.normalize();
    if n.scale() < 2 {
        n.rescale(2);
    }
    n
}

/// What the offers of a product say.
#[derive(Debug, Default, Clone)]
struct OfferSummary {
    price: Option<Decimal>,
    list_price: Option<Decimal>,
    currency: Option<Currency>,
    availability: Option<Availability>,
    merchant: Option<String>,
}

fn currency_of(v: &Value, page: &Page) -> Option<Currency> {
    let code = string(v.get("priceCurrency").or_else(|| v.get("currency")))?;
    let c = page.currency(&code)?;
    Some(c)
}

fn is_list_price_type(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    [
        "listprice",
        "strikethroughprice",
        "msrp",
        "srp",
        "regularprice",
        "originalprice",
        "wasprice",
    ]
    .iter()
    .any(|k| t.contains(k))
}

/// How deep offers may nest (`AggregateOffer` > `Offer` is 2 on real pages). `@id`
/// references can make a cycle (`{"@id":"#o","offers":{"@id":"#o"}}`), which without a bound
/// recursed until the stack overflowed and aborted the process.
const MAX_OFFER_DEPTH: usize = 4;

/// The offer nodes one product has read: each is read once, however often it is referenced
/// (without this, two `AggregateOffer`s listing each other a thousand times each made a
/// thousand to the fourth reads).
type Seen = HashSet<*const Value>;

/// Reads one offer (`Offer`, `AggregateOffer`, or an offer nested in an `AggregateOffer`)
/// that `seen` does not hold yet.
fn read_offer<'a>(
    o: &'a Value,
    ids: &Ids<'a>,
    page: &Page,
    out: &mut Vec<OfferSummary>,
    seen: &mut Seen,
) {
    read_offer_at(o, ids, page, out, 0, seen);
}

fn read_offer_at<'a>(
    o: &'a Value,
    ids: &Ids<'a>,
    page: &Page,
    out: &mut Vec<OfferSummary>,
    depth: usize,
    seen: &mut Seen,
) {
    if !o.is_object()
        || depth >= MAX_OFFER_DEPTH
        || !seen.insert(o as *const Value)
        || !ids.take_offer()
    {
        return;
    }
    let code = string(o.get("priceCurrency"));
    let mut s = OfferSummary {
        currency: currency_of(o, page),
        availability: string(o.get("availability")).and_then(|a| Availability::parse(&a)),
        merchant: o
            .get("seller")
            .and_then(|s| string(Some(resolve(s, ids)).and_then(|s| s.get("name").or(Some(s))))),
        ..Default::default()
    };
    let set_currency = |s: &mut OfferSummary, c: Option<Currency>| {
        if s.currency.is_none() {
            s.currency = c;
        }
    };
    if let Some((p, c)) = price_value(o.get("price"), page, code.as_deref()) {
        s.price = Some(p);
        set_currency(&mut s, c);
    }
    let low = price_value(o.get("lowPrice"), page, code.as_deref());
    if s.price.is_none()
        && let Some((p, c)) = low
    {
        s.price = Some(p);
        set_currency(&mut s, c);
    }
    for spec in many(o.get("priceSpecification"), ids) {
        let spec_code = string(spec.get("priceCurrency")).or(code.clone());
        let Some((p, c)) = price_value(
            spec.get("price").or_else(|| spec.get("minPrice")),
            page,
            spec_code.as_deref(),
        ) else {
            continue;
        };
        let c = currency_of(spec, page).or(c);
        let kind = string(spec.get("priceType")).unwrap_or_default();
        if is_list_price_type(&kind) {
            s.list_price = Some(p);
        } else if s.price.is_none() {
            s.price = Some(p);
        }
        set_currency(&mut s, c);
    }
    if s.price.is_some() || s.availability.is_some() {
        out.push(s);
    }
    // An AggregateOffer may list its offers.
    for inner in many(o.get("offers"), ids) {
        // A node that lists itself (directly or through a reference) adds nothing new.
        if !std::ptr::eq(inner, o) {
            read_offer_at(inner, ids, page, out, depth + 1, seen);
        }
    }
}

fn summarize(offers: &[OfferSummary]) -> OfferSummary {
    // The lowest price is what the page advertises ("from"); its list price goes with it.
    let best = offers
        .iter()
        .filter(|o| o.price.is_some())
        .min_by_key(|o| o.price);
    let mut out = best.cloned().unwrap_or_default();
    if out.currency.is_none() {
        out.currency = offers.iter().find_map(|o| o.currency);
    }
    if out.availability.is_none() {
        out.availability = offers.iter().find_map(|o| o.availability);
    }
    // In stock when any offer is.
    if offers
        .iter()
        .any(|o| o.availability == Some(Availability::InStock))
    {
        out.availability = Some(Availability::InStock);
    }
    if out.list_price.is_some_and(|l| Some(l) <= out.price) {
        out.list_price = None;
    }
    out
}

fn image(v: Option<&Value>, ids: &Ids<'_>, page: &Page) -> Option<String> {
    for img in many(v, ids) {
        let src = match img {
            Value::String(s) => Some(s.clone()),
            Value::Object(m) => ["url", "contentUrl", "contentURL", "@id"]
                .iter()
                .find_map(|k| m.get(*k).and_then(|x| string(Some(x)))),
            _ => None,
        };
        if let Some(abs) = src.and_then(|s| page.resolve(&s)) {
            return Some(abs);
        }
    }
    None
}

fn rating(v: &Value, ids: &Ids<'_>) -> (Option<Decimal>, Option<u64>) {
    let Some(r) = v.get("aggregateRating").map(|r| resolve(r, ids)) else {
        return (None, None);
    };
    let value = r.get("ratingValue").and_then(|x| {
        plain_decimal(x).or_else(|| string(Some(x)).and_then(|s| Decimal::from_str(s.trim()).ok()))
    });
    let count = ["reviewCount", "ratingCount"].iter().find_map(|k| {
        let x = r.get(*k)?;
        match x {
            Value::Number(n) => n.as_u64(),
            _ => string(Some(x))?.replace([',', '.', ' '], "").parse().ok(),
        }
    });
    (value, count)
}

/// Turns a product node into a record (`None` without a name). `url` is the record's URL.
pub(crate) fn product_record<'a>(
    v: &'a Value,
    ids: &Ids<'a>,
    page: &Page,
    site: &str,
    method: Method,
) -> Option<Record> {
    let variants = many(v.get("hasVariant"), ids);
    let name =
        string(v.get("name")).or_else(|| variants.iter().find_map(|x| string(x.get("name"))))?;
    let url = string(v.get("url"))
        .and_then(|u| page.resolve(&u))
        .filter(|u| {
            haul_core::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                == page.url().host_str().map(str::to_string)
        })
        .unwrap_or_else(|| page.canonical_url().to_string());
    let mut r = Record::product(site, url, name, method);

    let mut offers = Vec::new();
    let mut seen = Seen::new();
    for o in many(v.get("offers"), ids) {
        read_offer(o, ids, page, &mut offers, &mut seen);
    }
    for variant in &variants {
        for o in many(variant.get("offers"), ids) {
            read_offer(o, ids, page, &mut offers, &mut seen);
        }
    }
    // Microdata sometimes puts the price on the product itself.
    if offers.is_empty() {
        read_offer(v, ids, page, &mut offers, &mut Seen::new());
    }
    let s = summarize(&offers);
    r.price = s.price;
    r.list_price = s.list_price;
    r.currency = s.currency.or(if s.price.is_some() {
        page.stated_currency()
    } else {
        None
    });
    r.availability = s.availability;
    r.merchant = s.merchant;

    let first_variant = variants.first().copied();
    r.brand = v
        .get("brand")
        .or_else(|| v.get("manufacturer"))
        .or_else(|| first_variant.and_then(|x| x.get("brand")))
        .map(|b| resolve(b, ids))
        .and_then(|b| string(Some(b)))
        .and_then(|b| crate::text::clean_brand(&b));
    r.image = image(v.get("image"), ids, page)
        .or_else(|| first_variant.and_then(|x| image(x.get("image"), ids, page)));
    r.sku = string(v.get("sku"))
        .or_else(|| string(v.get("mpn")))
        .or_else(|| string(v.get("productID")));
    r.gtin = ["gtin", "gtin13", "gtin12", "gtin14", "gtin8", "isbn"]
        .iter()
        .find_map(|k| string(v.get(*k)))
        .map(|g| g.trim_start_matches("urn:").to_string());
    let (rating, count) = rating(v, ids);
    // A rating of 0 is how templates say "no ratings yet".
    r.rating = rating.filter(|x| !x.is_zero());
    r.rating_count = count.filter(|_| r.rating.is_some());
    Some(r)
}

/// Collects product nodes in `v` (not descending into products: their variants and related
/// products belong to them) and every `@id`-named node into `ids`, in document order.
/// Iterative, and no deeper than [`MAX_JSON_DEPTH`].
pub(crate) fn collect<'a>(v: &'a Value, products: &mut Vec<&'a Value>, ids: &mut Ids<'a>) {
    // (node, depth, whether products are still looked for: not inside a product)
    let mut stack = vec![(v, 0usize, true)];
    let mut steps = 0usize;
    while let Some((v, depth, find)) = stack.pop() {
        steps += 1;
        if steps.is_multiple_of(4096) && crate::budget::stop() {
            return;
        }
        if depth > MAX_JSON_DEPTH {
            continue;
        }
        match v {
            Value::Array(a) => {
                stack.extend(a.iter().rev().map(|x| (x, depth + 1, find)));
            }
            Value::Object(m) => {
                if let Some(Value::String(id)) = m.get("@id")
                    && m.len() > 1
                {
                    ids.index(id.as_str(), v);
                }
                let product = find && is_product(v);
                if product {
                    // Its ids are still indexed (variants referenced from elsewhere).
                    products.push(v);
                }
                let find = find && !product;
                stack.extend(m.values().rev().map(|x| (x, depth + 1, find)));
            }
            _ => {}
        }
    }
}

/// Removes products that are variants of a product group also present (their group stands
/// for them).
pub(crate) fn drop_grouped_variants<'a>(products: &mut Vec<&'a Value>, ids: &Ids<'a>) {
    let mut variant_ptrs: HashSet<*const Value> = HashSet::new();
    for p in products.iter() {
        for v in many(p.get("hasVariant"), ids) {
            variant_ptrs.insert(v as *const Value);
        }
    }
    let group_ids: HashSet<String> = products
        .iter()
        .filter(|p| p.get("hasVariant").is_some())
        .filter_map(|p| string(p.get("@id")))
        .collect();
    products.retain(|p| {
        let is_variant = variant_ptrs.contains(&(*p as *const Value));
        let points_to_group = p
            .get("isVariantOf")
            .and_then(|g| string(g.get("@id")).or_else(|| string(Some(g))))
            .is_some_and(|g| group_ids.contains(&g));
        !is_variant && !points_to_group
    });
}
