//! `data-*` price attributes: `data-price`, Magento's `data-price-amount` with
//! `data-price-type`, `data-product-price`, BigCommerce's `data-product-price-without-tax`,
//! list prices in `data-regular-price` / `data-old-price`..., and JSON in `data-product` /
//! `data-gtm` attributes; outside site chrome and blocks about other products.

use std::collections::HashMap;

use ego_tree::NodeId;
use haul_core::{Currency, Decimal};
use scraper::ElementRef;

use super::script::{Walk, candidates};
use super::{Ctx, Evidence, Source, text_amount};
use crate::text::price_text;

/// Attributes holding the current price.
const CURRENT_ATTRS: &[&str] = &[
    "data-price",
    "data-price-amount",
    "data-product-price",
    "data-price-value",
    "data-sale-price",
    "data-current-price",
    "data-product-price-without-tax",
    "data-product-price-with-tax",
];
/// Attributes holding a list / former price.
const LIST_ATTRS: &[&str] = &[
    "data-regular-price",
    "data-old-price",
    "data-list-price",
    "data-compare-price",
    "data-compare-at-price",
    "data-original-price",
    "data-product-rrp-price-without-tax",
    "data-product-non-sale-price-without-tax",
];
/// Attributes holding JSON about a product.
const JSON_ATTRS: &[&str] = &["data-product", "data-gtm", "data-layer", "data-analytics"];
/// Attributes naming the product next to a price attribute.
const NAME_ATTRS: &[&str] = &["data-product-name", "data-name", "data-item-name"];

/// Whether an attribute is one this source reads.
pub(crate) fn is_price_attr(name: &str) -> bool {
    CURRENT_ATTRS.contains(&name) || LIST_ATTRS.contains(&name) || JSON_ATTRS.contains(&name)
}
/// Ancestors compared to pair a price with a list price (Magento's `.price-box` is the 3rd).
const PAIR_LEVELS: usize = 4;

/// One price attribute found.
struct Hit<'a> {
    attr: &'static str,
    amount: Decimal,
    currency: Option<Currency>,
    own_list: Option<Decimal>,
    title: Option<String>,
    el: ElementRef<'a>,
    final_type: bool,
}

/// The page's price attributes as evidence.
pub(crate) fn attr_evidence(ctx: &Ctx<'_>) -> Vec<Evidence> {
    let mut current: Vec<Hit<'_>> = Vec::new();
    let mut lists: Vec<(Decimal, Vec<NodeId>)> = Vec::new();
    let mut out = Vec::new();
    let mut budget = 100_000usize;
    for (i, el) in ctx.scan.priced.iter().copied().enumerate() {
        if i % 256 == 255 && crate::budget::stop() {
            break;
        }
        if ctx.page.facts().of(el).noise.is_some() {
            continue;
        }
        read_element(ctx, el, &mut current, &mut lists);
        for attr in JSON_ATTRS {
            let Some(text) = el.value().attr(attr) else {
                continue;
            };
            if !text.contains("rice") || text.len() > 1 << 20 {
                continue;
            }
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
                let how = Walk {
                    source: Source::Attribute,
                    cents: false,
                    detail: false,
                    base: 0.55,
                    label: attr,
                    currency: None,
                };
                out.extend(candidates(ctx, &v, how, &mut budget));
            }
        }
    }
    out.extend(summarise(ctx, current, &lists));
    out
}

/// The ids of an element and its first ancestors.
fn chain(el: ElementRef<'_>) -> Vec<NodeId> {
    std::iter::once(el.id())
        .chain(el.ancestors().map(|a| a.id()))
        .take(PAIR_LEVELS + 1)
        .collect()
}

fn read_element<'a>(
    ctx: &Ctx<'_>,
    el: ElementRef<'a>,
    current: &mut Vec<Hit<'a>>,
    lists: &mut Vec<(Decimal, Vec<NodeId>)>,
) {
    let v = el.value();
    let hint = v
        .attr("data-currency")
        .or_else(|| v.attr("data-price-currency"));
    // An empty attribute marks the element whose text is the price (BigCommerce).
    let value = |a: &str| -> Option<(Decimal, Option<Currency>)> {
        let raw = v.attr(a)?;
        let text = if raw.trim().is_empty() {
            price_text(el)
        } else {
            raw.to_string()
        };
        text_amount(ctx.page, &text, hint)
    };
    let price_type = v.attr("data-price-type").unwrap_or("");
    let old_type = price_type.eq_ignore_ascii_case("oldPrice");
    let mut own_list = None;
    for a in LIST_ATTRS {
        if let Some((d, _)) = value(a) {
            own_list = own_list.or(Some(d));
            lists.push((d, chain(el)));
        }
    }
    if old_type && let Some((d, _)) = value("data-price-amount") {
        lists.push((d, chain(el)));
    }
    for a in CURRENT_ATTRS {
        if *a == "data-price-amount" && !(price_type.is_empty() || price_type == "finalPrice") {
            continue;
        }
        if let Some((amount, currency)) = value(a) {
            current.push(Hit {
                attr: a,
                amount,
                currency,
                own_list,
                title: NAME_ATTRS
                    .iter()
                    .find_map(|n| v.attr(n))
                    .map(crate::text::normalize_space)
                    .filter(|t| !t.is_empty()),
                el,
                final_type: price_type == "finalPrice",
            });
        }
    }
}

/// One evidence per attribute and amount; the more amounts an attribute has on the page,
/// the weaker each (product cards, variant options).
fn summarise(ctx: &Ctx<'_>, hits: Vec<Hit<'_>>, lists: &[(Decimal, Vec<NodeId>)]) -> Vec<Evidence> {
    let mut amounts: HashMap<&str, Vec<Decimal>> = HashMap::new();
    for h in &hits {
        let v = amounts.entry(h.attr).or_default();
        if !v.contains(&h.amount) {
            v.push(h.amount);
        }
    }
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for h in hits {
        if !seen.insert((h.attr, h.amount)) {
            continue;
        }
        let distinct = amounts.get(h.attr).map_or(1, Vec::len);
        let mut s = match distinct {
            1 => 0.7,
            2 => 0.55,
            3 | 4 => 0.4,
            _ => 0.25,
        };
        if h.final_type {
            s += 0.05;
        }
        if h.title.is_some() {
            s += ctx.title_bonus(h.title.as_deref());
        }
        let mine = chain(h.el);
        let paired = lists
            .iter()
            .filter(|(d, _)| *d > h.amount)
            .find(|(_, c)| c.iter().any(|id| mine.contains(id)))
            .map(|(d, _)| *d);
        let v = h.el.value();
        let class = v.attr("class").unwrap_or("").split_whitespace().next();
        out.push(Evidence {
            source: Source::Attribute,
            price: h.amount,
            list_price: h.own_list.filter(|l| *l > h.amount).or(paired),
            currency: h.currency.or_else(|| ctx.page.stated_currency()),
            availability: None,
            title: h.title,
            strength: s,
            path: match class {
                Some(c) => format!("{} on {}.{c}", h.attr, v.name()),
                None => format!("{} on {}", h.attr, v.name()),
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::page;
    use super::*;

    fn shop(main: &str) -> String {
        format!(
            r#"<!doctype html><html lang="de-DE"><head><title>Alpine Zelt 2P | Trail Shop</title></head><body>
            <header><div class="minicart" data-price="58.00">Warenkorb 58,00 €</div><nav><a href="/zelte">Zelte</a></nav></header>
            <div class="cookie-notice">Wir verwenden Cookies. <button>OK</button></div>
            <main><h1>Alpine Zelt 2P</h1>{main}<button>In den Warenkorb</button></main>
            <section class="block related"><div class="product-item"><span data-price-amount="39" data-price-type="finalPrice">39,00 €</span></div>
              <div class="product-item"><span data-price-amount="49" data-price-type="finalPrice">49,00 €</span></div></section>
            <footer><span data-price="4.95">Versand 4,95 €</span></footer>
            <script>var x = {{"price": 1}};</script>
            </body></html>"#
        )
    }

    fn attr_ev(html: &str) -> Vec<Evidence> {
        let p = page(html);
        let mut ev = attr_evidence(&Ctx::new(&p));
        ev.sort_by(|a, b| b.strength.total_cmp(&a.strength));
        ev
    }

    #[test]
    fn magento_price_box_pairs_final_and_old_price() {
        let html = shop(
            r#"<div class="price-box price-final_price" data-role="priceBox" data-product-id="77">
              <span class="special-price"><span class="price-container"><span id="product-price-77" data-price-amount="129.5" data-price-type="finalPrice" class="price-wrapper"><span class="price">129,50 €</span></span></span></span>
              <span class="old-price"><span class="price-container"><span id="old-price-77" data-price-amount="149.5" data-price-type="oldPrice" class="price-wrapper"><span class="price">149,50 €</span></span></span></span></div>"#,
        );
        let ev = attr_ev(&html);
        assert_eq!(ev.len(), 1, "{ev:#?}");
        assert_eq!(ev[0].price.to_string(), "129.5");
        assert_eq!(ev[0].list_price.unwrap().to_string(), "149.5");
        assert_eq!(ev[0].currency.unwrap().as_str(), "EUR");
        assert!(ev[0].strength >= 0.7);
        assert_eq!(ev[0].path, "data-price-amount on span.price-wrapper");
    }

    #[test]
    fn bigcommerce_empty_attributes_mean_the_text() {
        let html = shop(
            r#"<div class="productView-price"><span data-product-price-without-tax class="price price--withoutTax">1.299,00 €</span>
              <span data-product-rrp-price-without-tax class="price price--rrp">1.499,00 €</span></div>"#,
        );
        let ev = attr_ev(&html);
        assert_eq!(ev[0].price.to_string(), "1299.00");
        assert_eq!(ev[0].list_price.unwrap().to_string(), "1499.00");
    }

    #[test]
    fn many_prices_in_one_attribute_is_a_listing() {
        let cards: String = (1..=6)
            .map(|i| {
                format!(r#"<div class="card"><span data-price="{i}9.00">{i}9,00 €</span></div>"#)
            })
            .collect();
        let ev = attr_ev(&shop(&cards));
        assert_eq!(ev.len(), 6);
        assert!(ev.iter().all(|e| e.strength <= 0.3), "{ev:#?}");
    }

    #[test]
    fn json_attributes_and_bad_values() {
        let html = shop(
            r#"<div class="product-detail" data-gtm='{"name":"Alpine Zelt 2P","id":"AZ2","price":"129.50","brand":"Trail"}'>
              <span data-sale-price="-5"></span><span data-current-price="gratis"></span><span data-price="0"></span></div>"#,
        );
        let ev = attr_ev(&html);
        assert_eq!(ev.len(), 1, "{ev:#?}");
        assert_eq!(ev[0].price.to_string(), "129.50");
        assert_eq!(ev[0].title.as_deref(), Some("Alpine Zelt 2P"));
        assert!(ev[0].strength >= 0.7);
    }
}
