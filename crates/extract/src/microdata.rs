//! schema.org microdata (`itemscope` / `itemtype` / `itemprop`), converted to the JSON shape
//! of JSON-LD and read by the same code.

use std::cell::Cell;

use haul_core::{Method, Record};
use scraper::{ElementRef, Node};
use serde_json::{Map, Value};

use crate::page::Page;
use crate::schema::{self, Ids};
use crate::text::{element_text, price_text, sel};

/// Every top-level microdata item of the page (items not inside another item's property),
/// as JSON objects: `{"@type": "Product", "name": "...", "offers": {"@type": "Offer", ...}}`.
/// A property given several times becomes an array.
pub fn microdata_items(page: &Page) -> Vec<Value> {
    let mut out = Vec::new();
    let budget = Cell::new(MAX_COPIED_NODES);
    for scope in page.html().select(&sel("[itemscope]")) {
        // Top-level: no ancestor is an item scope that this element is a property of. An
        // item nested without `itemprop` is independent and top-level too.
        if scope.value().attr("itemprop").is_some() && has_scope_ancestor(scope) {
            continue;
        }
        out.push(item(scope, page, 0, &budget));
    }
    out
}

fn has_scope_ancestor(el: ElementRef<'_>) -> bool {
    el.ancestors()
        .filter_map(ElementRef::wrap)
        .any(|a| a.value().attr("itemscope").is_some())
}

/// How many JSON nodes a page's microdata may copy to give one value several property names
/// (`itemprop="offers makesOffer"`). Copies nest: without a bound, an item with two names
/// inside one with two names, a hundred levels deep, made 2^100 nodes.
const MAX_COPIED_NODES: usize = 100_000;

/// The number of nodes of a JSON value, counted without recursion.
fn nodes(v: &Value) -> usize {
    let mut stack = vec![v];
    let mut n = 0;
    while let Some(v) = stack.pop() {
        n += 1;
        match v {
            Value::Array(a) => stack.extend(a),
            Value::Object(m) => stack.extend(m.values()),
            _ => {}
        }
    }
    n
}

fn item(scope: ElementRef<'_>, page: &Page, depth: usize, budget: &Cell<usize>) -> Value {
    let mut map = Map::new();
    if let Some(t) = scope.value().attr("itemtype") {
        let types: Vec<Value> = t
            .split_whitespace()
            .map(|t| Value::String(t.to_string()))
            .collect();
        map.insert(
            "@type".into(),
            if types.len() == 1 {
                types.into_iter().next().unwrap_or(Value::Null)
            } else {
                Value::Array(types)
            },
        );
    }
    props(scope, page, depth + 1, &mut map, budget);
    Value::Object(map)
}

fn props(
    el: ElementRef<'_>,
    page: &Page,
    depth: usize,
    map: &mut Map<String, Value>,
    budget: &Cell<usize>,
) {
    if depth > crate::text::MAX_DEPTH {
        return;
    }
    for child in el.children() {
        let Node::Element(e) = child.value() else {
            continue;
        };
        if matches!(e.name(), "script" | "style" | "template") {
            continue;
        }
        let Some(c) = ElementRef::wrap(child) else {
            continue;
        };
        if let Some(names) = e.attr("itemprop") {
            let value = if e.attr("itemscope").is_some() {
                item(c, page, depth + 1, budget)
            } else {
                Value::String(prop_value(c, names))
            };
            // Every name after the first gets a copy, while the page's budget lasts.
            let copies = names.split_whitespace().count().saturating_sub(1);
            let cost = if copies > 0 {
                nodes(&value) * copies
            } else {
                0
            };
            let affordable = cost <= budget.get();
            if affordable {
                budget.set(budget.get() - cost);
            }
            let names = names
                .split_whitespace()
                .take(if affordable { copies + 1 } else { 1 });
            for name in names {
                // `http://schema.org/price` is allowed as a property name.
                let name = name.rsplit('/').next().unwrap_or(name).to_string();
                match map.get_mut(&name) {
                    None => {
                        map.insert(name, value.clone());
                    }
                    Some(Value::Array(a)) => a.push(value.clone()),
                    Some(prev) => {
                        let old = prev.take();
                        *prev = Value::Array(vec![old, value.clone()]);
                    }
                }
            }
            if e.attr("itemscope").is_some() {
                continue;
            }
        } else if e.attr("itemscope").is_some() {
            // An independent item: its properties are not ours.
            continue;
        }
        props(c, page, depth + 1, map, budget);
    }
}

/// The value of a property element, following the microdata rules (`content`, `href`, `src`,
/// `datetime`, `value`), else its text. Prices are read with [`price_text`] so that split
/// prices (`$<span>37</span><sup>30</sup>`) stay whole.
fn prop_value(el: ElementRef<'_>, names: &str) -> String {
    let v = el.value();
    let attr = match v.name() {
        "meta" => v.attr("content"),
        // A link's value is its URL, unless the property is a name (brands are often
        // written as links to a brand page).
        "a" | "area" | "link"
            if !(v.name() == "a"
                && names.split_whitespace().any(|n| {
                    matches!(
                        n.rsplit('/').next().unwrap_or(n),
                        "brand" | "name" | "manufacturer" | "seller"
                    )
                })) =>
        {
            v.attr("href")
        }
        "img" | "audio" | "embed" | "iframe" | "source" | "track" | "video" => {
            v.attr("src").or_else(|| v.attr("data-src"))
        }
        "object" => v.attr("data"),
        "data" | "meter" => v.attr("value"),
        "time" => v.attr("datetime"),
        _ => v.attr("content"),
    };
    if let Some(a) = attr {
        return a.trim().to_string();
    }
    if names
        .split_whitespace()
        .any(|n| n.to_ascii_lowercase().contains("price"))
    {
        price_text(el)
    } else {
        element_text(el)
    }
}

/// Product records from the page's microdata, in document order.
///
/// An `Offer` item whose `itemOffered` is a product (a shop's way of nesting it the other way
/// round) gives that product with the offer.
pub fn microdata(page: &Page, site: &str) -> Vec<Record> {
    let mut items = microdata_items(page);
    // Offer { itemOffered: Product } → Product { offers: Offer }.
    for it in items.iter_mut() {
        let is_offer = schema::types(it)
            .iter()
            .any(|t| t == "offer" || t == "aggregateoffer");
        if is_offer
            && let Some(mut product) = it.get("itemOffered").cloned()
            && schema::is_product(&product)
            && let Value::Object(m) = &mut product
        {
            let mut offer = it.clone();
            if let Value::Object(o) = &mut offer {
                o.remove("itemOffered");
            }
            m.entry("offers").or_insert(offer);
            *it = product;
        }
    }
    let mut products = Vec::new();
    let mut ids = Ids::new();
    for v in &items {
        schema::collect(v, &mut products, &mut ids);
    }
    products
        .into_iter()
        .filter_map(|p| schema::product_record(p, &ids, page, site, Method::Microdata))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::Url;

    #[test]
    fn nested_items_become_nested_objects() {
        let html = r#"<div itemscope itemtype="https://schema.org/Product">
            <h1 itemprop="name">Tent</h1>
            <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
              <span itemprop="price" content="19.90">$19.90</span>
              <meta itemprop="priceCurrency" content="USD">
            </div>
            <div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Other</span></div>
            <span itemprop="color">green</span>
          </div>"#;
        let page = Page::parse(html, &Url::parse("https://s.example/p").unwrap());
        let items = microdata_items(&page);
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0]["name"], "Tent");
        assert_eq!(items[0]["offers"]["price"], "19.90");
        assert_eq!(items[0]["color"], "green");
        assert!(items[0].get("Other").is_none());
        assert_eq!(items[1]["name"], "Other");
    }
}
