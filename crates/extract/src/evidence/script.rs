//! Inline script state: prices in the JSON that shops embed for their front-end code and
//! analytics (`__NEXT_DATA__`, `window.__INITIAL_STATE__`, `dataLayer` / `gtag` ecommerce
//! events, Shopify's product JSON, Magento's `x-magento-init` / `data-mage-init` configs).
//!
//! A JS assignment's value is read from the first `{` / `[` after its marker with serde_json's
//! streaming reader, which stops at the end of that one value. Object literals written by
//! hand (unquoted keys, single quotes, trailing commas) get a small bounded rewrite into JSON
//! first ([`js_to_json`]): the `json5` crate reads that language too, but only as a whole
//! string (it cannot stop at the value's end and leave the rest of the script) and it would be
//! a new dependency built on a parser generator for what a 50-line scanner does here; anything
//! beyond (functions, variables, `undefined`) still fails and the value is skipped.

use haul_core::{Availability, Currency, Decimal};
use scraper::ElementRef;
use serde_json::{Map, Value};

use super::{Ctx, Evidence, ScriptKind, Source, json_amount, json_currency_code};

/// Scripts longer than this are skipped (real state blobs are well under it).
pub(crate) const MAX_SCRIPT_BYTES: usize = 4 << 20;
/// JSON nodes walked per page, over all scripts and attributes.
const NODE_BUDGET: usize = 400_000;
/// How deep the walk descends (serde_json itself stops at 128).
const MAX_JSON_DEPTH: usize = 128;
/// Markers read per script (a script pushing thousands of events is not a product page's).
const MAX_MARKERS_PER_SCRIPT: usize = 16;
/// Candidates kept per JSON value (the best ones).
const MAX_PER_VALUE: usize = 3;

/// JS markers whose assigned / passed value is state, with its kind.
const MARKERS: &[(&str, ScriptKind)] = &[
    ("__INITIAL_STATE__", ScriptKind::InitialState),
    ("__PRELOADED_STATE__", ScriptKind::InitialState),
    ("__NUXT__", ScriptKind::InitialState),
    ("__APOLLO_STATE__", ScriptKind::InitialState),
    ("__INITIAL_DATA__", ScriptKind::InitialState),
    ("__PRODUCT_DATA__", ScriptKind::InitialState),
    ("dataLayer.push", ScriptKind::DataLayer),
    ("dataLayer =", ScriptKind::DataLayer),
    ("dataLayer=", ScriptKind::DataLayer),
    ("gtag(", ScriptKind::DataLayer),
    ("utag_data =", ScriptKind::DataLayer),
    ("utag_data=", ScriptKind::DataLayer),
    ("digitalData =", ScriptKind::DataLayer),
    ("digitalData=", ScriptKind::DataLayer),
    ("ShopifyAnalytics.meta =", ScriptKind::ShopifyJson),
    ("var meta =", ScriptKind::ShopifyJson),
];

/// Keys (lower-case, without `_` / `-`) of a current price, sale-ish ones first.
const CURRENT_KEYS: &[&str] = &[
    "saleprice",
    "salesprice",
    "specialprice",
    "finalprice",
    "currentprice",
    "sellingprice",
    "offerprice",
    "nowprice",
    "actualprice",
    "discountedprice",
    "productsaleprice",
    "productunitprice",
    "productprice",
    "price",
    "priceamount",
    "pricevalue",
    "amount",
];
/// Keys of a list / former price.
const LIST_KEYS: &[&str] = &[
    "listprice",
    "regularprice",
    "originalprice",
    "oldprice",
    "wasprice",
    "compareatprice",
    "compareprice",
    "msrp",
    "strikeprice",
    "strikethroughprice",
    "rrp",
    "fullprice",
    "retailprice",
    "pricebefore",
    "productoriginalprice",
    "productlistprice",
    "productmsrp",
];
/// Keys inside a price object that hold the current amount.
const AMOUNT_KEYS: &[&str] = &[
    "finalprice",
    "sales",
    "sale",
    "current",
    "final",
    "selling",
    "now",
    "amount",
    "value",
    "raw",
    "price",
    "pricewithtax",
    "baseprice",
];
/// Keys inside a price object that hold the list amount.
const INNER_LIST_KEYS: &[&str] = &[
    "list",
    "was",
    "old",
    "regular",
    "oldprice",
    "regularprice",
    "original",
    "compareat",
    "strikethrough",
    "rrp",
    "listprice",
];
/// Keys naming a product (a title).
const NAME_KEYS: &[&str] = &[
    "name",
    "title",
    "productname",
    "itemname",
    "displayname",
    "producttitle",
];
/// Keys identifying a product without naming it.
const ID_KEYS: &[&str] = &[
    "sku",
    "id",
    "productid",
    "itemid",
    "gid",
    "handle",
    "variantid",
    "productsku",
    "productinfo",
];
/// Keys under which objects are other products (listings, recommendations).
const LISTING_KEYS: &[&str] = &[
    "impressions",
    "recommendations",
    "recommended",
    "related",
    "relatedproducts",
    "upsell",
    "upsells",
    "crosssell",
    "crosssells",
    "similar",
    "recentlyviewed",
    "promotions",
    "cart",
    "minicart",
];
/// Keys of a Shopify product / variant object, whose whole-number prices are cents.
const SHOPIFY_KEYS: &[&str] = &[
    "compare_at_price",
    "price_min",
    "public_title",
    "requires_shipping",
    "inventory_management",
    "featured_image",
];

fn norm(k: &str) -> String {
    k.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// How a JSON value is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walk<'p> {
    pub(crate) source: Source,
    /// Whole-number prices are cents (Shopify product JSON).
    pub(crate) cents: bool,
    /// The whole value is one product detail event (`gtag('event', 'view_item', ...)`).
    pub(crate) detail: bool,
    /// Base strength of the source.
    pub(crate) base: f64,
    /// Label for `path`.
    pub(crate) label: &'p str,
    /// The currency the value's context states (Shopify's `ShopifyAnalytics.meta.currency`).
    pub(crate) currency: Option<&'p str>,
}

/// One product-like object found in JSON.
#[derive(Debug, Clone)]
struct Found {
    price: Decimal,
    list: Option<Decimal>,
    currency: Option<Currency>,
    availability: Option<Availability>,
    title: Option<String>,
    path: String,
    /// Inside a product detail event.
    detail: bool,
    /// Under a key of other products.
    listing: bool,
    /// Length of the array the object sits in (1 when not in an array).
    siblings: usize,
}

/// What the walk carries down the tree.
#[derive(Clone)]
struct Inherit {
    currency: Option<String>,
    detail: bool,
    listing: bool,
    siblings: usize,
}

/// The page's inline script state: candidates from every JSON script, JS state assignment,
/// analytics event and `data-mage-init` attribute.
pub(crate) fn script_evidence(ctx: &Ctx<'_>) -> Vec<Evidence> {
    let mut out = Vec::new();
    let mut budget = NODE_BUDGET;
    for (script, text) in &ctx.scan.scripts {
        if crate::budget::stop() || budget == 0 {
            break;
        }
        read_script(ctx, *script, text, &mut budget, &mut out);
    }
    for el in ctx.scan.mage_init.iter().copied() {
        if crate::budget::stop() || budget == 0 {
            break;
        }
        if ctx.page.facts().of(el).noise.is_some() {
            continue;
        }
        let Some(text) = el.value().attr("data-mage-init") else {
            continue;
        };
        if !text.contains("rice") || text.len() > MAX_SCRIPT_BYTES {
            continue;
        }
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            let how = Walk {
                source: Source::Script(ScriptKind::MageInit),
                cents: false,
                detail: false,
                base: 0.65,
                label: "data-mage-init",
                currency: None,
            };
            out.extend(candidates(ctx, &v, how, &mut budget));
        }
    }
    out
}

fn read_script(
    ctx: &Ctx<'_>,
    script: ElementRef<'_>,
    text: &str,
    budget: &mut usize,
    out: &mut Vec<Evidence>,
) {
    let v = script.value();
    let ty = v.attr("type").unwrap_or("").trim().to_ascii_lowercase();
    if ty.contains("ld+json") || v.attr("src").is_some() {
        return;
    }
    if text.len() > MAX_SCRIPT_BYTES || !text.contains("rice") {
        return;
    }
    let id = v.attr("id").unwrap_or("");
    let json_kind = if id == "__NEXT_DATA__" {
        Some((ScriptKind::NextData, 0.6, "__NEXT_DATA__"))
    } else if ty == "text/x-magento-init" {
        Some((ScriptKind::MageInit, 0.65, "x-magento-init"))
    } else if v.attr("data-product-json").is_some()
        || id.to_ascii_lowercase().starts_with("productjson")
    {
        Some((ScriptKind::ShopifyJson, 0.75, "product JSON"))
    } else if ty.contains("json") {
        Some((ScriptKind::Other, 0.45, "JSON script"))
    } else {
        None
    };
    if let Some((kind, base, label)) = json_kind {
        let t = text
            .trim()
            .trim_start_matches("<!--")
            .trim_end_matches("-->");
        if let Some(Ok(value)) = serde_json::Deserializer::from_str(t.trim())
            .into_iter::<Value>()
            .next()
        {
            let how = Walk {
                source: Source::Script(kind),
                cents: kind == ScriptKind::ShopifyJson,
                detail: false,
                base,
                label,
                currency: None,
            };
            out.extend(candidates(ctx, &value, how, budget));
        }
        return;
    }
    if !ty.is_empty() && !ty.contains("javascript") && ty != "module" {
        return;
    }
    read_js(ctx, text, budget, out);
}

/// The values assigned or passed at the JS markers of one script.
fn read_js(ctx: &Ctx<'_>, text: &str, budget: &mut usize, out: &mut Vec<Evidence>) {
    let mut read = 0;
    let shopify_currency = shopify_currency(text);
    for (marker, kind) in MARKERS {
        let mut from = 0;
        while let Some(i) = text.get(from..).and_then(|t| t.find(marker)) {
            let at = from + i + marker.len();
            from = at;
            read += 1;
            if read > MAX_MARKERS_PER_SCRIPT || *budget == 0 {
                return;
            }
            // Shopify's `var meta` only in Shopify's own analytics snippet.
            if *marker == "var meta =" && !text.contains("ShopifyAnalytics") {
                continue;
            }
            let Some((lead, value)) = value_after(&text[at..]) else {
                continue;
            };
            let detail = lead.contains("view_item") && !lead.contains("view_item_list");
            let how = Walk {
                source: Source::Script(*kind),
                cents: *kind == ScriptKind::ShopifyJson,
                detail,
                base: match kind {
                    ScriptKind::ShopifyJson => 0.75,
                    ScriptKind::DataLayer => 0.6,
                    _ => 0.55,
                },
                label: marker.trim_end_matches(['=', ' ', '(']),
                currency: shopify_currency.filter(|_| *kind == ScriptKind::ShopifyJson),
            };
            out.extend(candidates(ctx, &value, how, budget));
        }
    }
}

/// The code in `ShopifyAnalytics.meta.currency = 'CAD';`.
fn shopify_currency(text: &str) -> Option<&str> {
    let marker = "ShopifyAnalytics.meta.currency";
    let i = text.find(marker)? + marker.len();
    let rest = text.get(i..)?.trim_start().strip_prefix('=')?.trim_start();
    let code = rest.get(1..4)?;
    (rest.starts_with(['\'', '"']) && code.bytes().all(|b| b.is_ascii_alphabetic())).then_some(code)
}

/// The JSON value that follows a marker: the text between them (`= `, `('event',
/// 'view_item', `) and the value, read from the first `{` / `[` within a short distance, or
/// from a `JSON.parse("...")` string.
pub(crate) fn value_after(rest: &str) -> Option<(&str, Value)> {
    let window = &rest[..floor_boundary(rest, 160)];
    let start = window.find(['{', '[', '"'])?;
    let lead = &window[..start];
    if lead.contains([';', '}', ')']) {
        return None;
    }
    let tail = &rest[start..];
    if tail.starts_with('"') {
        // `JSON.parse("{\"a\":1}")`.
        if !lead.contains("JSON.parse(") {
            return None;
        }
        let s = serde_json::Deserializer::from_str(tail)
            .into_iter::<String>()
            .next()?
            .ok()?;
        return Some((lead, first_value(&s)?));
    }
    Some((lead, first_value(tail)?))
}

/// The first JSON value of `text` (JSON, or a JS object literal [`js_to_json`] can rewrite).
fn first_value(text: &str) -> Option<Value> {
    match serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .next()
    {
        Some(Ok(v)) => Some(v),
        _ => {
            let json = js_to_json(text)?;
            serde_json::from_str(&json).ok()
        }
    }
}

pub(crate) fn floor_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Rewrites the JS object or array literal at the start of `text` into JSON: bare keys
/// quoted, single-quoted strings double-quoted, trailing commas dropped; stops at the
/// literal's end. `None` when it does not end within [`MAX_SCRIPT_BYTES`].
pub(crate) fn js_to_json(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len().min(1 << 16));
    // Open containers: whether each is an object (where bare words are keys).
    let mut open: Vec<bool> = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut expect_key = false;
    while let Some((i, c)) = chars.next() {
        if i > MAX_SCRIPT_BYTES {
            return None;
        }
        match c {
            '"' | '\'' => {
                out.push('"');
                let mut escaped = false;
                for (_, d) in chars.by_ref() {
                    if escaped {
                        // `\'` is just `'` in JSON.
                        if d != '\'' {
                            out.push('\\');
                        }
                        out.push(d);
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == c {
                        break;
                    } else if d == '"' {
                        out.push_str("\\\"");
                    } else if d == '\n' {
                        out.push_str("\\n");
                    } else {
                        out.push(d);
                    }
                }
                out.push('"');
                expect_key = false;
            }
            '{' | '[' => {
                open.push(c == '{');
                out.push(c);
                expect_key = c == '{';
            }
            '}' | ']' => {
                let trimmed = out.trim_end().len();
                if out[..trimmed].ends_with(',') {
                    out.truncate(trimmed - 1);
                }
                out.push(c);
                open.pop()?;
                if open.is_empty() {
                    return Some(out);
                }
                expect_key = false;
            }
            ',' => {
                out.push(c);
                expect_key = open.last() == Some(&true);
            }
            c if expect_key && (c.is_alphabetic() || c == '_' || c == '$') => {
                out.push('"');
                out.push(c);
                while let Some((_, d)) = chars.peek().copied() {
                    if d.is_alphanumeric() || d == '_' || d == '$' {
                        out.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push('"');
                expect_key = false;
            }
            c => {
                if !c.is_whitespace() {
                    expect_key = false;
                }
                out.push(c);
            }
        }
    }
    None
}

/// The best candidates of one JSON value, as evidence.
pub(crate) fn candidates(
    ctx: &Ctx<'_>,
    value: &Value,
    how: Walk<'_>,
    budget: &mut usize,
) -> Vec<Evidence> {
    let found = walk(ctx, value, how, budget);
    let distinct: std::collections::HashSet<Decimal> = found.iter().map(|f| f.price).collect();
    let details: std::collections::HashSet<Decimal> = found
        .iter()
        .filter(|f| f.detail && !f.listing)
        .map(|f| f.price)
        .collect();
    let mut out: Vec<Evidence> = found
        .into_iter()
        .map(|f| {
            let bonus = ctx.title_bonus(f.title.as_deref());
            let named = bonus > 0.1;
            let mut s = how.base + bonus;
            if f.detail && !f.listing && details.len() == 1 {
                // The only product of a product detail event.
                s = s.max(if bonus < 0.0 { 0.65 } else { 0.8 });
            }
            if f.listing {
                s -= 0.3;
            }
            if f.siblings >= 3 && !named {
                s -= 0.2;
            }
            if distinct.len() >= 5 && !named {
                s -= 0.1;
            }
            Evidence {
                source: how.source,
                price: f.price,
                list_price: f.list.filter(|l| *l > f.price),
                currency: f.currency.or_else(|| ctx.page.stated_currency()),
                availability: f.availability,
                title: f.title,
                strength: s.clamp(0.0, 1.0),
                path: format!("{} {}", how.label, f.path),
            }
        })
        .collect();
    out.sort_by(|a, b| b.strength.total_cmp(&a.strength));
    out.truncate(MAX_PER_VALUE);
    out
}

/// Product-like objects of a JSON value, iteratively, within the depth and node budgets.
fn walk(ctx: &Ctx<'_>, root: &Value, how: Walk<'_>, budget: &mut usize) -> Vec<Found> {
    let mut out = Vec::new();
    let start = Inherit {
        currency: how.currency.map(str::to_string),
        detail: how.detail,
        listing: false,
        siblings: 1,
    };
    let mut stack: Vec<(&Value, usize, String, Inherit)> = vec![(root, 0, String::new(), start)];
    while let Some((v, depth, path, inh)) = stack.pop() {
        if *budget == 0 || depth > MAX_JSON_DEPTH {
            break;
        }
        *budget -= 1;
        match v {
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate().rev() {
                    if x.is_object() || x.is_array() {
                        let mut inh = inh.clone();
                        inh.siblings = a.len();
                        stack.push((x, depth + 1, format!("{path}[{i}]"), inh));
                    }
                }
            }
            Value::Object(m) => {
                let inh = inherit(m, inh);
                if let Some(f) = product_like(ctx, m, &path, &inh, how.cents) {
                    out.push(f);
                }
                for (k, x) in m.iter().rev() {
                    if !(x.is_object() || x.is_array()) {
                        continue;
                    }
                    let mut child = inh.clone();
                    child.siblings = 1;
                    let nk = norm(k);
                    child.listing |= LISTING_KEYS.contains(&nk.as_str());
                    child.detail |= nk == "detail";
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    stack.push((x, depth + 1, p, child));
                }
            }
            _ => {}
        }
    }
    out
}

/// What an object passes to its descendants: its currency, and whether it is a product
/// detail event or a list of other products.
fn inherit(m: &Map<String, Value>, mut inh: Inherit) -> Inherit {
    for k in [
        "currency",
        "currencyCode",
        "currency_code",
        "priceCurrency",
        "currencyIso",
        "site_currency",
        "order_currency",
    ] {
        if let Some(c) = m.get(k).and_then(json_currency_code) {
            inh.currency = Some(c);
            break;
        }
    }
    if let Some(Value::String(e)) = m.get("event") {
        let e = e.to_ascii_lowercase();
        if e.contains("list") || e.contains("impression") || e.contains("promotion") {
            inh.listing = true;
        } else if e.contains("view_item") || e.contains("detail") || e.contains("productview") {
            inh.detail = true;
        }
    }
    inh
}

/// A product-like object: a price-ish key next to a name or id key.
fn product_like(
    ctx: &Ctx<'_>,
    m: &Map<String, Value>,
    path: &str,
    inh: &Inherit,
    cents: bool,
) -> Option<Found> {
    let mut title = None;
    let mut identified = false;
    let mut current: Vec<(usize, &str, &Value)> = Vec::new();
    let mut list: Option<&Value> = None;
    let mut prices_obj = None;
    let mut offers = None;
    for (k, v) in m {
        let nk = norm(k);
        if let Some(rank) = CURRENT_KEYS.iter().position(|c| *c == nk) {
            current.push((rank, k, v));
        } else if LIST_KEYS.contains(&nk.as_str()) {
            list = list.or(Some(v));
        } else if nk == "prices" && v.is_object() {
            prices_obj = Some(v);
        } else if matches!(nk.as_str(), "offers" | "offer") {
            // A schema.org-shaped offer in the page's state (`{"price", "priceCurrency"}`).
            offers = offers.or(Some(v));
        } else if NAME_KEYS.contains(&nk.as_str()) {
            identified = true;
            if title.is_none() {
                title = name_of(v);
            }
        } else if ID_KEYS.contains(&nk.as_str()) {
            identified = true;
            if nk == "productinfo" && title.is_none() {
                title = ["productName", "name"]
                    .iter()
                    .find_map(|k| v.get(k).and_then(name_of));
            }
        }
    }
    if !identified {
        return None;
    }
    let cents = cents || SHOPIFY_KEYS.iter().any(|k| m.contains_key(*k));
    let hint = inh.currency.as_deref();
    current.sort_by_key(|(rank, _, _)| *rank);
    let read = |v: &Value| price_object(ctx, v, hint, cents, 0);
    let (mut price, mut key, mut cur, mut inner_list) = (None, "", None, None);
    for (_, k, v) in &current {
        if let Some((p, c, l)) = read(v) {
            if price.is_none() {
                (price, key, cur, inner_list) = (Some(p), *k, c, l);
            } else if price.is_some_and(|q| p > q) && inner_list.is_none() {
                // `price` above a `salePrice`: the regular price.
                inner_list = Some(p);
            }
        }
    }
    if price.is_none()
        && let Some(obj) = prices_obj
        && let Some((p, c, l)) = read(obj)
    {
        (price, key, cur, inner_list) = (Some(p), "prices", c, l);
    }
    if price.is_none()
        && let Some(o) = offers
        && let Some((p, c, l)) = read(o)
    {
        (price, key, cur, inner_list) = (Some(p), "offers", c, l);
    }
    let price = price?;
    let mut list = list.and_then(read).map(|x| x.0).or(inner_list);
    // GA4 items: `price` is after `discount`.
    if list.is_none()
        && (m.contains_key("item_name") || m.contains_key("item_id"))
        && let Some((d, _)) = m
            .get("discount")
            .and_then(|d| json_amount(ctx.page, d, None, false))
    {
        list = Some(price + d);
    }
    Some(Found {
        price,
        list,
        currency: cur.or_else(|| hint.and_then(|h| ctx.page.currency(h))),
        availability: availability(m).or_else(|| {
            // A schema.org-shaped offer carries the stock state with its price.
            offers
                .and_then(|o| o.as_object().or_else(|| o.get(0)?.as_object()))
                .and_then(availability)
        }),
        title,
        path: if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        },
        detail: inh.detail,
        listing: inh.listing,
        siblings: inh.siblings,
    })
}

/// A product name: a string, or the one string of a one-element array (Tealium's
/// `"product_name": ["..."]`).
fn name_of(v: &Value) -> Option<String> {
    let s = match v {
        Value::Array(a) if a.len() == 1 => a[0].as_str()?,
        other => other.as_str()?,
    };
    let t = crate::text::normalize_space(s);
    (!t.is_empty() && t.len() <= 300).then_some(t)
}

type Amount = (Decimal, Option<Currency>, Option<Decimal>);

/// A price value: a number or string, or an object holding the amount (`{"amount": ..}`,
/// `{"value": ..}`, `{"centAmount": .., "fractionDigits": 2}`, SFCC's `{"sales": {"value":
/// ..}, "list": {..}}`, Magento's `{"finalPrice": {"amount": ..}, "oldPrice": {..}}`), with the
/// list amount it gives.
fn price_object(
    ctx: &Ctx<'_>,
    v: &Value,
    hint: Option<&str>,
    cents: bool,
    depth: usize,
) -> Option<Amount> {
    let m = match v {
        Value::Object(m) if depth < 3 => m,
        // Tealium writes `"product_price": ["7.99"]`.
        Value::Array(a) if a.len() == 1 && depth < 3 => {
            return price_object(ctx, &a[0], hint, cents, depth + 1);
        }
        Value::Object(_) | Value::Array(_) | Value::Null | Value::Bool(_) => return None,
        scalar => {
            let (p, c) = json_amount(ctx.page, scalar, hint, cents)?;
            return Some((p, c, None));
        }
    };
    let code = [
        "currency",
        "currencyCode",
        "currencyIso",
        "currency_code",
        "priceCurrency",
    ]
    .iter()
    .find_map(|k| m.get(*k).and_then(json_currency_code));
    let hint = code.as_deref().or(hint);
    let mut price = None;
    if let Some(c) = m
        .get("centAmount")
        .and_then(Value::as_i64)
        .filter(|c| *c > 0)
    {
        let digits = m
            .get("fractionDigits")
            .and_then(Value::as_u64)
            .unwrap_or(2)
            .min(6) as u32;
        price = Some((
            Decimal::new(c, digits),
            hint.and_then(|h| ctx.page.currency(h)),
            None,
        ));
    }
    let keyed: Vec<(String, &Value)> = m.iter().map(|(k, x)| (norm(k), x)).collect();
    let first = |keys: &[&str]| {
        keys.iter().find_map(|want| {
            keyed
                .iter()
                .filter(|(k, _)| k == want)
                .find_map(|(_, x)| price_object(ctx, x, hint, cents, depth + 1))
        })
    };
    if price.is_none() {
        price = first(AMOUNT_KEYS);
    }
    let list = first(INNER_LIST_KEYS).map(|a| a.0);
    let (p, c, l) = price?;
    Some((p, c, l.or(list)))
}

fn availability(m: &Map<String, Value>) -> Option<Availability> {
    for k in [
        "availability",
        "stockStatus",
        "stock_status",
        "inventoryStatus",
    ] {
        if let Some(a) = m
            .get(k)
            .and_then(Value::as_str)
            .and_then(Availability::parse)
        {
            return Some(a);
        }
    }
    for k in [
        "available",
        "inStock",
        "in_stock",
        "is_in_stock",
        "isInStock",
    ] {
        if let Some(b) = m.get(k).and_then(Value::as_bool) {
            return Some(if b {
                Availability::InStock
            } else {
                Availability::OutOfStock
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tests::page;
    use super::*;

    /// A shop page around `scripts`: header with a cart, related products, cookie banner,
    /// footer, and scripts that are not state.
    fn shop(scripts: &str) -> String {
        format!(
            r#"<!doctype html><html lang="en-US"><head><title>Alpine Tent 2P | Trail Shop</title>
            <script>(function(w,d,s,l,i){{w[l]=w[l]||[];w[l].push({{'gtm.start':new Date().getTime(),event:'gtm.js'}});}})(window,document,'script','dataLayer','GTM-XXXX');</script>
            <script src="/assets/app.js"></script>
            <script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}} var shippingPrice = 4.95;</script>
            </head><body>
            <header><a href="/cart">Cart (2) $58.00</a><nav><a href="/tents">Tents</a></nav></header>
            <div id="cookie-banner">We use cookies. <button>Accept</button></div>
            <main><h1>Alpine Tent 2P</h1><div class="price">$129.90</div><button>Add to cart</button></main>
            <section class="related-products"><h2>You may also like</h2>
              <div class="card"><a href="/p/stove">Camp Stove</a><span class="price">$39.00</span></div>
              <div class="card"><a href="/p/mat">Sleeping Mat</a><span class="price">$49.00</span></div></section>
            <footer>Free shipping over $50 &copy; Trail Shop</footer>
            {scripts}
            </body></html>"#
        )
    }

    fn script_ev(html: &str) -> Vec<Evidence> {
        let p = page(html);
        let ctx = Ctx::new(&p);
        let mut ev = script_evidence(&ctx);
        ev.sort_by(|a, b| b.strength.total_cmp(&a.strength));
        ev
    }

    #[test]
    fn next_data_product_is_found_by_its_name() {
        let html = shop(
            r#"<script id="__NEXT_DATA__" type="application/json">{"props":{"pageProps":{
              "product":{"id":"p1","name":"Alpine Tent 2P","price":{"value":129.9,"currency":"USD"},
                 "listPrice":149.9,"inStock":true},
              "recommendations":[{"id":"p2","name":"Camp Stove","price":39},{"id":"p3","name":"Sleeping Mat","price":49}],
              "shipping":{"id":"std","name":"Standard","price":4.95}}},"page":"/p/[slug]"}</script>"#,
        );
        let ev = script_ev(&html);
        let top = &ev[0];
        assert_eq!(top.source, Source::Script(ScriptKind::NextData));
        assert_eq!(top.price.to_string(), "129.9");
        assert_eq!(top.list_price.unwrap().to_string(), "149.9");
        assert_eq!(top.currency.unwrap().as_str(), "USD");
        assert_eq!(top.availability, Some(Availability::InStock));
        assert_eq!(top.title.as_deref(), Some("Alpine Tent 2P"));
        assert!(top.strength >= 0.7, "{top:?}");
        assert_eq!(top.path, "__NEXT_DATA__ props.pageProps.product.price");
        assert!(ev[1..].iter().all(|e| e.strength < 0.5), "{ev:#?}");
    }

    #[test]
    fn ga4_and_ua_detail_events() {
        let html = shop(
            r#"<script>dataLayer.push({"event":"view_item","ecommerce":{"currency":"EUR","value":99.0,
              "items":[{"item_id":"T-2","item_name":"Alpine Tent 2P","price":99.0,"discount":30.9}]}});</script>"#,
        );
        let ev = script_ev(&html);
        assert_eq!(ev[0].source, Source::Script(ScriptKind::DataLayer));
        assert_eq!(ev[0].price.to_string(), "99.0");
        assert_eq!(ev[0].list_price.unwrap().to_string(), "129.9");
        assert_eq!(ev[0].currency.unwrap().as_str(), "EUR");
        assert!(ev[0].strength >= 0.8);

        // UA, unquoted keys and single quotes, no title match but the only detail product.
        let html = shop(
            r#"<script>var dataLayer = [{ ecommerce: { currencyCode: 'GBP', detail: { products: [{ name: 'AT-2P', id: 'T-2', price: '109.00', }] } } }];</script>"#,
        );
        let ev = script_ev(&html);
        assert_eq!(ev[0].price.to_string(), "109.00");
        assert_eq!(ev[0].currency.unwrap().as_str(), "GBP");
        assert!(ev[0].strength >= 0.65, "{ev:?}");

        // gtag view_item; an impressions list scores low.
        let html = shop(
            r#"<script>gtag('event', 'view_item', {"currency":"USD","items":[{"item_id":"T-2","item_name":"Tent","price":"129.90"}]});
            dataLayer.push({"event":"view_item_list","ecommerce":{"items":[{"item_name":"Camp Stove","price":39},{"item_name":"Sleeping Mat","price":49},{"item_name":"Lantern","price":19}]}});</script>"#,
        );
        let ev = script_ev(&html);
        assert_eq!(ev[0].price.to_string(), "129.90");
        assert!(ev[0].strength >= 0.8);
        assert!(ev[1..].iter().all(|e| e.strength < 0.3), "{ev:#?}");
    }

    #[test]
    fn shopify_product_json_is_in_cents() {
        let html = shop(
            r#"<script type="application/json" id="ProductJson-product-template">{"id":42,"title":"Alpine Tent 2P","handle":"alpine-tent","price":129900,"compare_at_price":149900,"available":true,
              "variants":[{"id":1,"title":"Green","price":129900,"compare_at_price":149900,"available":true},{"id":2,"title":"Orange","price":119900,"compare_at_price":null,"available":false}]}</script>
            <script>window.ShopifyAnalytics = window.ShopifyAnalytics || {}; window.ShopifyAnalytics.meta.currency = 'CAD';
            var meta = {"product":{"id":42,"vendor":"Trail","variants":[{"id":1,"price":129900,"name":"Alpine Tent 2P - Green","public_title":"Green","sku":"AT2"}]},"page":{"pageType":"product"}};
            for (var attr in meta) { window.ShopifyAnalytics.meta[attr] = meta[attr]; }</script>"#,
        );
        let ev = script_ev(&html);
        let top = &ev[0];
        assert_eq!(top.source, Source::Script(ScriptKind::ShopifyJson));
        assert_eq!(top.price.to_string(), "1299.00");
        assert_eq!(top.list_price.unwrap().to_string(), "1499.00");
        assert!(top.strength >= 0.85, "{ev:#?}");
        let meta = ev.iter().find(|e| e.path.starts_with("var meta")).unwrap();
        assert_eq!(meta.price.to_string(), "1299.00");
        assert_eq!(meta.currency.unwrap().as_str(), "CAD");
    }

    #[test]
    fn magento_price_config() {
        let html = shop(
            r#"<script type="text/x-magento-init">{"[data-role=priceBox][data-price-box=product-id-77]":{"priceBox":{"priceConfig":{"productId":"77","priceFormat":{"pattern":"€%s"},
              "prices":{"baseOldPrice":{"amount":100},"oldPrice":{"amount":149.5,"adjustments":[]},"basePrice":{"amount":100},"finalPrice":{"amount":129.5,"adjustments":[]}}}}}}</script>
            <div class="product-info-main" data-mage-init='{"priceBox":{"priceConfig":{"productId":"77","prices":{"finalPrice":{"amount":129.5},"oldPrice":{"amount":149.5}}}}}'></div>"#,
        );
        let ev = script_ev(&html);
        assert!(ev.len() >= 2);
        for e in &ev {
            assert_eq!(e.source, Source::Script(ScriptKind::MageInit));
            assert_eq!(e.price.to_string(), "129.5");
            assert_eq!(e.list_price.unwrap().to_string(), "149.5");
        }
    }

    #[test]
    fn initial_state_json_parse_and_junk() {
        let html = shop(
            r#"<script>var utag_data = {"site_currency":"USD","product_name":["Alpine Tent 2P"],"product_id":["AT2"],"product_price":["119.900000"]};
            window.__INITIAL_STATE__ = JSON.parse("{\"pdp\":{\"product\":{\"sku\":\"AT2\",\"title\":\"Alpine Tent 2P\",\"salePrice\":\"$119.90\",\"price\":\"$129.90\"}}}");
            window.__PRELOADED_STATE__ = function() { return {price: x} };
            window.__NUXT__=(function(a,b){return {data:[{price:a}]}}(1,2));</script>"#,
        );
        let ev = script_ev(&html);
        assert_eq!(ev.len(), 2, "{ev:#?}");
        assert!(ev[0].path.starts_with("utag_data product_price"), "{ev:#?}");
        assert_eq!(ev[0].price.to_string(), "119.90");
        let ev = &ev[1..];
        assert_eq!(ev[0].price.to_string(), "119.90");
        assert_eq!(ev[0].list_price.unwrap().to_string(), "129.90");
        assert_eq!(ev[0].currency.unwrap().as_str(), "USD");
        assert_eq!(ev[0].source, Source::Script(ScriptKind::InitialState));
    }

    #[test]
    fn negative_zero_and_listing_prices() {
        let html = shop(
            r#"<script type="application/json" id="state">{"products":[
              {"id":1,"name":"Camp Stove","price":39},{"id":2,"name":"Sleeping Mat","price":49},
              {"id":3,"name":"Lantern","price":19},{"id":4,"name":"Alpine Tent 2P","price":-1},
              {"id":5,"name":"Alpine Tent 2P","price":0}]}</script>"#,
        );
        let ev = script_ev(&html);
        assert!(ev.iter().all(|e| e.price > Decimal::ZERO));
        assert!(ev.iter().all(|e| e.strength < 0.3), "{ev:#?}");
    }

    #[test]
    fn js_literals_become_json() {
        assert_eq!(
            js_to_json("{a: 'it\\'s', \"b\": [1, 2,], c: {d: \"x\"},}; more()").as_deref(),
            Some(r#"{"a": "it's", "b": [1, 2], "c": {"d": "x"}}"#)
        );
        assert_eq!(
            js_to_json("[true, {k: null}]").as_deref(),
            Some(r#"[true, {"k": null}]"#)
        );
        assert_eq!(js_to_json("{a: 1"), None);
        assert_eq!(js_to_json("}"), None);
    }
}
