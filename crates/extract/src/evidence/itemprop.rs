//! Loose `itemprop` and `<meta>` prices: `itemprop="price"` / `lowPrice` outside any
//! `itemscope` (the microdata layer reads the scoped ones), `twitter:data1` under a
//! `twitter:label1` "Price", and `product:sale_price:amount`.

use haul_core::{Currency, Decimal};
use scraper::ElementRef;

use super::{Ctx, Evidence, Source, text_amount};
use crate::text::price_text;

/// The page's loose itemprop and meta prices as evidence.
pub(crate) fn itemprop_evidence(ctx: &Ctx<'_>) -> Vec<Evidence> {
    let mut out = loose_itemprops(ctx);
    out.extend(twitter_price(ctx));
    out.extend(sale_price_meta(ctx));
    out
}

/// The value of an itemprop element: `content`, else `value`, else its text.
fn prop_value(el: ElementRef<'_>) -> String {
    let v = el.value();
    v.attr("content")
        .or_else(|| v.attr("value"))
        .map(str::to_string)
        .unwrap_or_else(|| price_text(el))
}

struct Loose<'a> {
    amount: Decimal,
    currency: Option<Currency>,
    low: bool,
    meta: bool,
    el: ElementRef<'a>,
}

fn loose_itemprops(ctx: &Ctx<'_>) -> Vec<Evidence> {
    let mut found = Vec::new();
    let mut currency: Option<String> = None;
    // Elements inside an `itemscope` were left out by the scan (the microdata layer reads them).
    for el in ctx.scan.loose_itemprops.iter().copied() {
        if crate::budget::stop() {
            break;
        }
        let props = el.value().attr("itemprop").unwrap_or("");
        let is = |p: &str| props.split_whitespace().any(|x| x.eq_ignore_ascii_case(p));
        let (price, low, cur) = (is("price"), is("lowPrice"), is("priceCurrency"));
        if !(price || low || cur) || ctx.page.facts().of(el).noise.is_some() {
            continue;
        }
        let text = prop_value(el);
        if cur {
            currency = currency.or(Some(text.trim().to_string()));
        } else {
            found.push((text, low, el));
        }
    }
    let loose: Vec<Loose<'_>> = found
        .into_iter()
        .filter_map(|(text, low, el)| {
            let (amount, c) = text_amount(ctx.page, &text, currency.as_deref())?;
            Some(Loose {
                amount,
                currency: c,
                low,
                meta: el.value().attr("content").is_some(),
                el,
            })
        })
        .collect();
    let mut distinct: Vec<Decimal> = loose.iter().filter(|l| !l.low).map(|l| l.amount).collect();
    distinct.sort();
    distinct.dedup();
    loose
        .iter()
        .map(|l| {
            let mut s: f64 = match distinct.len() {
                0 | 1 => 0.7,
                2 => 0.5,
                _ => 0.3,
            };
            if !l.meta {
                s -= 0.05;
            }
            if l.low {
                s = s.min(0.45);
            }
            let prop = if l.low { "lowPrice" } else { "price" };
            Evidence {
                source: Source::Itemprop,
                price: l.amount,
                list_price: None,
                currency: l
                    .currency
                    .or_else(|| currency.as_deref().and_then(|c| ctx.page.currency(c)))
                    .or_else(|| ctx.page.stated_currency()),
                availability: None,
                title: None,
                strength: s,
                path: format!("{}[itemprop={prop}] outside itemscope", l.el.value().name()),
            }
        })
        .collect()
}

/// `twitter:dataN` whose `twitter:labelN` says "Price".
fn twitter_price(ctx: &Ctx<'_>) -> Option<Evidence> {
    (1..=4).find_map(|n| {
        let label = ctx.meta(&format!("twitter:label{n}"))?;
        if !label.to_lowercase().contains("price") {
            return None;
        }
        let data = ctx.meta(&format!("twitter:data{n}"))?;
        let (price, currency) = text_amount(ctx.page, &data, None)?;
        Some(Evidence {
            source: Source::Itemprop,
            price,
            list_price: None,
            currency: currency.or_else(|| ctx.page.stated_currency()),
            availability: None,
            title: None,
            strength: 0.6,
            path: format!("meta twitter:data{n}"),
        })
    })
}

/// `product:sale_price:amount`, with `product:price:amount` as the list price when higher.
fn sale_price_meta(ctx: &Ctx<'_>) -> Option<Evidence> {
    let page = ctx.page;
    let code = ctx
        .meta("product:sale_price:currency")
        .or_else(|| ctx.meta("product:price:currency"));
    let amount = |k: &str| text_amount(page, &ctx.meta(k)?, code.as_deref());
    let (price, currency) = amount("product:sale_price:amount")?;
    let list = amount("product:price:amount")
        .map(|a| a.0)
        .filter(|l| *l > price);
    Some(Evidence {
        source: Source::Itemprop,
        price,
        list_price: list,
        currency: currency.or_else(|| page.stated_currency()),
        availability: None,
        title: None,
        strength: 0.7,
        path: "meta product:sale_price:amount".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::page;
    use super::*;

    fn shop(head: &str, main: &str) -> String {
        format!(
            r#"<!doctype html><html lang="en-GB"><head><title>Alpine Tent 2P | Trail Shop</title>{head}</head><body>
            <header><span class="cart-total" itemprop="price">£58.00</span></header>
            <div id="cookies">We use cookies.</div>
            <main><h1>Alpine Tent 2P</h1>{main}</main>
            <div class="recommendations"><span itemprop="price" content="39.00">£39.00</span></div>
            <div itemscope itemtype="https://schema.org/Offer"><meta itemprop="price" content="19.00"></div>
            <footer>© Trail Shop</footer></body></html>"#
        )
    }

    fn ev(html: &str) -> Vec<Evidence> {
        let p = page(html);
        itemprop_evidence(&Ctx::new(&p))
    }

    #[test]
    fn loose_meta_price_outside_itemscope() {
        let e = ev(&shop(
            "",
            r#"<div class="pdp-price"><meta itemprop="priceCurrency" content="EUR"><meta itemprop="price" content="129.90"><span>129,90 €</span></div>"#,
        ));
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0].price.to_string(), "129.90");
        assert_eq!(e[0].currency.unwrap().as_str(), "EUR");
        assert!(e[0].strength >= 0.7);
        assert_eq!(e[0].path, "meta[itemprop=price] outside itemscope");
    }

    #[test]
    fn loose_text_price_and_low_price() {
        let e = ev(&shop(
            "",
            r#"<p>From <span itemprop="lowPrice">£99.00</span></p><p class="price"><span itemprop="price">£129.90</span></p>"#,
        ));
        assert_eq!(e.len(), 2);
        let main = e.iter().find(|x| x.price.to_string() == "129.90").unwrap();
        assert_eq!(main.currency.unwrap().as_str(), "GBP");
        assert!(main.strength >= 0.6);
        let low = e.iter().find(|x| x.price.to_string() == "99.00").unwrap();
        assert!(low.strength < main.strength);
    }

    #[test]
    fn twitter_and_sale_price_meta() {
        let e = ev(&shop(
            r#"<meta name="twitter:label1" content="Price"><meta name="twitter:data1" content="£129.90">
               <meta property="product:price:amount" content="149.90"><meta property="product:sale_price:amount" content="129.90">
               <meta property="product:sale_price:currency" content="GBP">"#,
            "",
        ));
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e.iter().all(|x| x.price.to_string() == "129.90"));
        let sale = e.iter().find(|x| x.path.contains("sale")).unwrap();
        assert_eq!(sale.list_price.unwrap().to_string(), "149.90");
        assert_eq!(sale.currency.unwrap().as_str(), "GBP");
    }

    #[test]
    fn negative_and_scoped_prices_are_not_loose() {
        let e = ev(&shop("", r#"<meta itemprop="price" content="-129.90">"#));
        assert!(e.is_empty(), "{e:#?}");
    }
}
