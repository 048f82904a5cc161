//! Shop platform fingerprints: detects Shopify, WooCommerce, Magento, PrestaShop, Salesforce
//! Commerce Cloud or BigCommerce from their markup and reads that platform's own price
//! markup for the page's main product (not product grids).

use haul_core::{Currency, Decimal};
use scraper::ElementRef;
use serde_json::Value;

use super::script::value_after;
use super::{Ctx, Evidence, Platform, ScriptKind, Source, json_amount, text_amount};
use crate::text::{price_text, sel};

/// Platforms in the order of the score array.
const PLATFORMS: [Platform; 6] = [
    Platform::Shopify,
    Platform::WooCommerce,
    Platform::Magento,
    Platform::PrestaShop,
    Platform::SalesforceCommerce,
    Platform::BigCommerce,
];
/// Inline script text looked at per script for fingerprints.
const MAX_SCRIPT_SCAN: usize = 1 << 20;

/// Substrings of URLs (`src`, `href`) and inline scripts, the platform and their weight.
const URL_MARKS: &[(&str, usize, usize)] = &[
    ("cdn.shopify.com", 0, 2),
    ("/cdn/shop/", 0, 2),
    ("/wp-content/plugins/woocommerce", 1, 3),
    ("/static/version", 2, 1),
    ("Magento_", 2, 2),
    ("/modules/ps_", 3, 2),
    ("/on/demandware.store/", 4, 3),
    ("demandware.static", 4, 3),
    ("bigcommerce.com/s-", 5, 3),
];
const SCRIPT_MARKS: &[(&str, usize, usize)] = &[
    ("Shopify.shop", 0, 3),
    ("ShopifyAnalytics", 0, 2),
    ("wc_add_to_cart_params", 1, 3),
    ("woocommerce_params", 1, 3),
    ("Magento_", 2, 2),
    ("var prestashop =", 3, 3),
    ("prestashop = {", 3, 2),
    ("demandware", 4, 2),
    ("BCData", 5, 3),
];
/// Class names, the platform and their weight.
const CLASS_MARKS: &[(&str, usize, usize)] = &[
    ("shopify-section", 0, 2),
    ("woocommerce", 1, 2),
    ("woocommerce-Price-amount", 1, 2),
    ("productView-price", 5, 2),
    ("price--withoutTax", 5, 2),
    ("price--rrp", 5, 1),
];

/// The platform the page is built with, from the fingerprints the scan counted.
pub(crate) fn detect(ctx: &Ctx<'_>) -> Option<Platform> {
    let score = ctx.scan.platform_score;
    let (best, s) = score.iter().enumerate().max_by_key(|(i, s)| (**s, 6 - i))?;
    (*s >= 3).then(|| PLATFORMS[best])
}

/// Counts the fingerprints of one element (`script_text`: an inline script's text).
pub(crate) fn element_marks(el: ElementRef<'_>, script_text: Option<&str>, score: &mut [usize; 6]) {
    let v = el.value();
    let add = |score: &mut [usize; 6], marks: &[(&str, usize, usize)], text: &str, once: bool| {
        for (m, p, w) in marks {
            if text.contains(m) {
                score[*p] += w;
                if once {
                    break;
                }
            }
        }
    };
    for a in ["src", "href"] {
        if let Some(u) = v.attr(a) {
            add(score, URL_MARKS, u, true);
        }
    }
    if let Some(c) = v.attr("class") {
        for token in c.split_whitespace() {
            if let Some((_, p, w)) = CLASS_MARKS.iter().find(|(m, _, _)| token.starts_with(m)) {
                score[*p] += w;
            }
        }
    }
    if v.attr("data-mage-init").is_some() {
        score[2] += 2;
    }
    if v.attr("data-product-price-without-tax").is_some() {
        score[5] += 2;
    }
    match v.name() {
        "div"
            if v.attr("data-product-id").is_some()
                && v.attr("class")
                    .is_some_and(|c| c.split_whitespace().any(|t| t == "price-box")) =>
        {
            score[2] += 2;
        }
        "script" if v.attr("src").is_none() => {
            if v.attr("type") == Some("text/x-magento-init") {
                score[2] += 3;
            }
            let text = script_text.unwrap_or("");
            let text = &text[..super::script::floor_boundary(text, MAX_SCRIPT_SCAN)];
            add(score, SCRIPT_MARKS, text, false);
        }
        "meta"
            if v.attr("name")
                .is_some_and(|n| n.eq_ignore_ascii_case("generator")) =>
        {
            let g = v.attr("content").unwrap_or("").to_ascii_lowercase();
            for (name, p) in [
                ("woocommerce", 1),
                ("prestashop", 3),
                ("magento", 2),
                ("shopify", 0),
            ] {
                if g.contains(name) {
                    score[p] += 3;
                }
            }
        }
        _ => {}
    }
    for (id, p, w) in [("our_price_display", 3, 2), ("product-details", 3, 1)] {
        if v.id() == Some(id) {
            score[p] += w;
        }
    }
}

/// Where a platform shows its main product's prices.
struct Markup {
    /// The main product's container.
    root: &'static str,
    /// Current price elements inside it.
    current: &'static str,
    /// List price elements inside it.
    list: &'static str,
    /// The attribute holding the amount, when present (else the element's text).
    attr: Option<&'static str>,
}

const fn m(
    root: &'static str,
    current: &'static str,
    list: &'static str,
    attr: Option<&'static str>,
) -> Markup {
    Markup {
        root,
        current,
        list,
        attr,
    }
}

fn markups(p: Platform) -> &'static [Markup] {
    const SHOPIFY: &[Markup] = &[
        m(
            "[id^=ProductSection], [id^=MainProduct], .product-single, .product__info-wrapper, .product__info-container, .product-single__meta, [data-section-type=product], .product, main",
            ".price-item--sale, .product__price--sale, .price__sale .price-item--last",
            "s.price-item--regular, .price__sale .price-item--regular, .product__price--compare, .product-single__price--compare, [data-compare-price]",
            None,
        ),
        m(
            "[id^=ProductSection], [id^=MainProduct], .product-single, .product__info-wrapper, .product__info-container, .product-single__meta, [data-section-type=product], .product, main",
            "[data-product-price], .product__price, .product-single__price, .price-item--regular",
            ".product__price--compare, .product-single__price--compare, [data-compare-price]",
            None,
        ),
    ];
    const WOO: &[Markup] = &[
        m(
            ".summary, .entry-summary",
            ".price ins .amount",
            ".price del .amount",
            None,
        ),
        m(
            ".summary, .entry-summary",
            ".price .amount",
            ".price del .amount",
            None,
        ),
    ];
    const MAGENTO: &[Markup] = &[
        m(
            ".product-info-main, .product-info-price",
            "[data-price-type=finalPrice][data-price-amount]",
            "[data-price-type=oldPrice][data-price-amount]",
            Some("data-price-amount"),
        ),
        m(
            ".product-info-main, .product-info-price",
            ".price-box .special-price .price, .price-box .price",
            ".price-box .old-price .price",
            None,
        ),
    ];
    const PRESTASHOP: &[Markup] = &[
        m(
            ".product-prices",
            ".current-price [itemprop=price][content], .current-price span[content], .current-price-value[content]",
            ".regular-price",
            Some("content"),
        ),
        m(
            ".product-prices",
            ".current-price span, .current-price-value",
            ".regular-price",
            None,
        ),
        m(
            "#buy_block, .pb-center-column, #center_column, body",
            "#our_price_display",
            "#old_price_display",
            Some("content"),
        ),
    ];
    const SFCC: &[Markup] = &[
        m(
            ".product-detail, .product-details, .pdp-main, #pdpMain",
            ".prices .sales .value[content]",
            ".prices .strike-through .value[content]",
            Some("content"),
        ),
        m(
            ".product-detail, .product-details, .pdp-main, #pdpMain",
            ".prices .sales .value, .product-price .price-sales",
            ".prices .strike-through .value, .product-price .price-standard",
            None,
        ),
    ];
    const BIGCOMMERCE: &[Markup] = &[m(
        ".productView-price, .productView-details, .productView",
        "[data-product-price-without-tax], [data-product-price-with-tax]",
        "[data-product-rrp-price-without-tax], [data-product-non-sale-price-without-tax], .price--rrp, .price--non-sale",
        None,
    )];
    match p {
        Platform::Shopify => SHOPIFY,
        Platform::WooCommerce => WOO,
        Platform::Magento => MAGENTO,
        Platform::PrestaShop => PRESTASHOP,
        Platform::SalesforceCommerce => SFCC,
        Platform::BigCommerce => BIGCOMMERCE,
    }
}

/// Prices read from one markup: distinct current amounts in document order, list amounts.
struct Read {
    current: Vec<(Decimal, Option<Currency>)>,
    list: Vec<Decimal>,
    markup: &'static Markup,
}

/// Whether an element sits in a struck-through price (`del`, `s`) below its container.
fn struck(el: ElementRef<'_>) -> bool {
    el.ancestors()
        .take(4)
        .filter_map(ElementRef::wrap)
        .any(|a| matches!(a.value().name(), "del" | "s" | "strike"))
        || matches!(el.value().name(), "del" | "s" | "strike")
}

fn read_markup(ctx: &Ctx<'_>, mk: &'static Markup, currency: Option<&str>) -> Option<Read> {
    let page = ctx.page;
    let value = |el: ElementRef<'_>| {
        let text = mk
            .attr
            .and_then(|a| el.value().attr(a))
            .map(str::to_string)
            .unwrap_or_else(|| price_text(el));
        text_amount(page, &text, currency)
    };
    let (cur_sel, list_sel) = (sel(mk.current), sel(mk.list));
    let mut read = Read {
        current: Vec::new(),
        list: Vec::new(),
        markup: mk,
    };
    for root in page.html().select(&sel(mk.root)).take(8) {
        if page.facts().of(root).noise.is_some() || read.current.len() > 8 {
            continue;
        }
        for el in root.select(&cur_sel).take(32) {
            if page.facts().of(el).noise.is_some() || struck(el) {
                continue;
            }
            if let Some(a) = value(el).filter(|a| !read.current.iter().any(|c| c.0 == a.0)) {
                read.current.push(a);
            }
        }
        for el in root.select(&list_sel).take(8) {
            if let Some((d, _)) = value(el) {
                read.list.push(d);
            }
        }
        if !read.current.is_empty() {
            break;
        }
    }
    (!read.current.is_empty()).then_some(read)
}

/// The detected platform's main-product price, as evidence.
pub(crate) fn platform_evidence(ctx: &Ctx<'_>, found: &[Evidence]) -> Vec<Evidence> {
    let Some(platform) = detect(ctx) else {
        return Vec::new();
    };
    let currency = match platform {
        Platform::PrestaShop => prestashop_currency(ctx),
        _ => None,
    };
    let mut out = Vec::new();
    if platform == Platform::BigCommerce {
        out.extend(bcdata(ctx));
    }
    let read = markups(platform)
        .iter()
        .find_map(|mk| read_markup(ctx, mk, currency.as_deref()));
    if let Some(r) = read {
        out.push(markup_evidence(ctx, platform, &r, found));
    } else if platform == Platform::Shopify
        && let Some(j) = found
            .iter()
            .filter(|e| e.source == Source::Script(ScriptKind::ShopifyJson))
            .max_by(|a, b| a.strength.total_cmp(&b.strength))
    {
        out.push(Evidence {
            source: Source::Platform(platform),
            path: format!("Shopify {}", j.path),
            ..j.clone()
        });
    }
    out
}

fn markup_evidence(ctx: &Ctx<'_>, platform: Platform, r: &Read, found: &[Evidence]) -> Evidence {
    let n = r.current.len();
    // Several amounts: a price range (variable product) or confusion; the lowest.
    let (price, currency) = r
        .current
        .iter()
        .copied()
        .min_by_key(|c| c.0)
        .unwrap_or((Decimal::ZERO, None));
    let mut strength = match n {
        1 => 0.85,
        2 => 0.55,
        _ => 0.35,
    };
    // Shopify: the product JSON agrees.
    if platform == Platform::Shopify
        && found.iter().any(|e| {
            e.source == Source::Script(ScriptKind::ShopifyJson)
                && e.price == price
                && e.strength >= 0.6
        })
    {
        strength += 0.05;
    }
    Evidence {
        source: Source::Platform(platform),
        price,
        list_price: r.list.iter().copied().filter(|l| *l > price).min(),
        currency: currency.or_else(|| ctx.page.stated_currency()),
        availability: None,
        title: None,
        strength,
        path: format!(
            "{platform:?} {} {}",
            r.markup.root.split(',').next().unwrap_or(""),
            r.markup.current.split(',').next().unwrap_or("")
        ),
    }
}

/// The text of the first inline script containing `marker`, and where the marker ends.
fn script_with<'c>(ctx: &'c Ctx<'_>, marker: &str) -> Option<(&'c str, usize)> {
    ctx.scan.scripts.iter().find_map(|(_, text)| {
        let at = text.find(marker)? + marker.len();
        Some((text.as_str(), at))
    })
}

/// PrestaShop's `var prestashop = {"currency": {"iso_code": "EUR"}, ...}`.
fn prestashop_currency(ctx: &Ctx<'_>) -> Option<String> {
    let (text, at) = script_with(ctx, "prestashop =")?;
    let (_, v) = value_after(&text[at..])?;
    super::json_currency_code(v.get("currency")?)
}

/// BigCommerce's `var BCData = {"product_attributes": {"price": {"without_tax": {"value":
/// 29.99, "currency": "USD"}, "rrp_without_tax": {...}}}}`.
fn bcdata(ctx: &Ctx<'_>) -> Option<Evidence> {
    let (text, at) = script_with(ctx, "BCData")?;
    let (_, v) = value_after(&text[at..])?;
    let price_obj = v.get("product_attributes")?.get("price")?;
    let read = |k: &str| -> Option<(Decimal, Option<Currency>)> {
        let o = price_obj.get(k)?;
        let code = o.get("currency").and_then(Value::as_str);
        json_amount(ctx.page, o.get("value")?, code, false)
    };
    let (price, currency) = read("sale_price_without_tax")
        .or_else(|| read("without_tax"))
        .or_else(|| read("with_tax"))?;
    let list = [
        "rrp_without_tax",
        "non_sale_price_without_tax",
        "rrp_with_tax",
    ]
    .iter()
    .find_map(|k| read(k).map(|a| a.0).filter(|l| *l > price));
    Some(Evidence {
        source: Source::Platform(Platform::BigCommerce),
        price,
        list_price: list,
        currency: currency.or_else(|| ctx.page.stated_currency()),
        availability: None,
        title: None,
        strength: 0.85,
        path: "BCData product_attributes.price".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::page;
    use super::*;

    fn shop(head: &str, body_class: &str, main: &str) -> String {
        format!(
            r#"<!doctype html><html lang="en-US"><head><title>Alpine Tent 2P | Trail Shop</title>{head}</head>
            <body class="{body_class}"><header><div class="header-cart">Cart $58.00</div><nav><a href="/tents">Tents</a></nav></header>
            <div class="cookie-consent">We use cookies.</div>
            {main}
            <section class="related products"><ul><li class="product"><span class="price"><span class="amount">$39.00</span></span></li>
              <li class="product"><span class="price"><span class="amount">$49.00</span></span></li></ul></section>
            <footer>© Trail Shop</footer><script>console.log("price");</script></body></html>"#
        )
    }

    fn ev(html: &str) -> Vec<Evidence> {
        let p = page(html);
        let ctx = Ctx::new(&p);
        let found = super::super::script::script_evidence(&ctx);
        platform_evidence(&ctx, &found)
    }

    #[test]
    fn woocommerce_sale_price() {
        let html = shop(
            r#"<meta name="generator" content="WooCommerce 8.5.1"><script src="/wp-content/plugins/woocommerce/assets/js/frontend/add-to-cart.min.js"></script>"#,
            "product-template-default single single-product woocommerce woocommerce-page",
            r#"<div class="product type-product"><div class="summary entry-summary"><h1 class="product_title entry-title">Alpine Tent 2P</h1>
              <p class="price"><del aria-hidden="true"><span class="woocommerce-Price-amount amount"><bdi><span class="woocommerce-Price-currencySymbol">&#36;</span>149.90</bdi></span></del>
              <ins><span class="woocommerce-Price-amount amount"><bdi><span class="woocommerce-Price-currencySymbol">&#36;</span>129.90</bdi></span></ins></p></div></div>"#,
        );
        let e = ev(&html);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0].source, Source::Platform(Platform::WooCommerce));
        assert_eq!(e[0].price.to_string(), "129.90");
        assert_eq!(e[0].list_price.unwrap().to_string(), "149.90");
        assert_eq!(e[0].currency.unwrap().as_str(), "USD");
        assert!(e[0].strength >= 0.85);
    }

    #[test]
    fn magento_final_price() {
        let html = shop(
            r#"<script type="text/x-magento-init">{"*":{"Magento_Ui/js/core/app":{}}}</script>"#,
            "catalog-product-view",
            r#"<div class="product-info-main"><h1 class="page-title">Alpine Tent 2P</h1><div class="product-info-price"><div class="price-box price-final_price" data-role="priceBox" data-product-id="77">
              <span class="special-price"><span class="price-container"><span data-price-amount="129.9" data-price-type="finalPrice" class="price-wrapper"><span class="price">$129.90</span></span></span></span>
              <span class="old-price"><span class="price-container"><span data-price-amount="149.9" data-price-type="oldPrice" class="price-wrapper"><span class="price">$149.90</span></span></span></span></div></div></div>"#,
        );
        let e = ev(&html);
        assert_eq!(e[0].source, Source::Platform(Platform::Magento));
        assert_eq!(e[0].price.to_string(), "129.9");
        assert_eq!(e[0].list_price.unwrap().to_string(), "149.9");
    }

    #[test]
    fn prestashop_current_price_and_currency() {
        let html = shop(
            r#"<script>var prestashop = {"currency":{"iso_code":"CHF","sign":"CHF"},"language":{"iso_code":"de"}};</script>"#,
            "product",
            r#"<div id="product-details"></div><div class="product-prices"><div class="product-discount"><span class="regular-price">CHF 149.90</span></div>
              <div class="product-price h5 has-discount"><div class="current-price"><span itemprop="price" content="129.9">CHF 129.90</span></div></div></div>"#,
        );
        let e = ev(&html);
        assert_eq!(e[0].source, Source::Platform(Platform::PrestaShop));
        assert_eq!(e[0].price.to_string(), "129.9");
        assert_eq!(e[0].list_price.unwrap().to_string(), "149.90");
        assert_eq!(e[0].currency.unwrap().as_str(), "CHF");
    }

    #[test]
    fn salesforce_commerce_prices() {
        let html = shop(
            r#"<link rel="stylesheet" href="/on/demandware.static/Sites-Trail-Site/-/en_US/v1/css/global.css">"#,
            "",
            r#"<div class="product-detail product-wrapper" data-pid="AT2"><h1 class="product-name">Alpine Tent 2P</h1>
              <div class="prices"><div class="price"><span><del><span class="strike-through list"><span class="value" content="149.90">$149.90</span></span></del>
              <span class="sales"><span class="value" content="129.90">$129.90</span></span></span></div></div></div>
              <div class="recommendations"><div class="product-detail"><div class="prices"><span class="sales"><span class="value" content="39.00">$39.00</span></span></div></div></div>"#,
        );
        let e = ev(&html);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0].source, Source::Platform(Platform::SalesforceCommerce));
        assert_eq!(e[0].price.to_string(), "129.90");
        assert_eq!(e[0].list_price.unwrap().to_string(), "149.90");
    }

    #[test]
    fn bigcommerce_bcdata_and_markup() {
        let html = shop(
            r#"<script>var BCData = {"csrf_token":"x","product_attributes":{"sku":"AT2","price":{"without_tax":{"formatted":"$129.90","value":129.9,"currency":"USD"},"tax_label":"Tax","rrp_without_tax":{"formatted":"$149.90","value":149.9,"currency":"USD"}}}};</script>"#,
            "",
            r#"<div class="productView"><h1 class="productView-title">Alpine Tent 2P</h1><div class="productView-price">
              <span data-product-rrp-price-without-tax class="price price--rrp">$149.90</span>
              <span data-product-price-without-tax class="price price--withoutTax">$129.90</span></div></div>"#,
        );
        let e = ev(&html);
        assert_eq!(e.len(), 2, "{e:#?}");
        for x in &e {
            assert_eq!(x.source, Source::Platform(Platform::BigCommerce));
            assert_eq!(x.price, "129.9".parse::<Decimal>().unwrap());
            assert_eq!(x.list_price, Some("149.9".parse().unwrap()));
        }
    }

    #[test]
    fn shopify_markup_agrees_with_product_json() {
        let html = shop(
            r#"<script>var Shopify = Shopify || {}; Shopify.shop = "trail.myshopify.com";</script><link rel="preconnect" href="https://cdn.shopify.com">"#,
            "template-product",
            r#"<div id="shopify-section-main" class="shopify-section"><div class="product__info-container"><h1>Alpine Tent 2P</h1>
              <div class="price price--on-sale"><div class="price__sale"><s class="price-item price-item--regular">$149.90</s>
              <span class="price-item price-item--sale price-item--last">$129.90</span></div></div></div></div>
              <script type="application/json" data-product-json>{"id":1,"title":"Alpine Tent 2P","price":12990,"compare_at_price":14990}</script>"#,
        );
        let e = ev(&html);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0].source, Source::Platform(Platform::Shopify));
        assert_eq!(e[0].price.to_string(), "129.90");
        assert_eq!(e[0].list_price.unwrap().to_string(), "149.90");
        assert!(e[0].strength >= 0.9);
    }

    #[test]
    fn no_platform_no_evidence() {
        let html = shop(
            "",
            "",
            r#"<div class="summary"><p class="price"><span class="amount">$5</span></p></div>"#,
        );
        assert!(ev(&html).is_empty());
    }
}
