//! Locale-aware prices on small realistic pages: `<html lang>`, `og:locale`, the country-code
//! domain and the declared currency decide between grouping and decimal separators and what a
//! `$` means, through `extract_product` and `Page::parse_price`.

use haul_core::{Record, Url};
use haul_extract::{Page, extract_product};

fn url(u: &str) -> Url {
    Url::parse(u).expect("valid test URL")
}

/// A plain product page (no structured data) showing `price` on `lang` (empty: no attribute),
/// with extra `<head>` markup.
fn shop_page(lang: &str, head: &str, title: &str, price: &str) -> String {
    let lang = if lang.is_empty() {
        String::new()
    } else {
        format!(r#" lang="{lang}""#)
    };
    format!(
        r#"<html{lang}><head><title>{title}</title>{head}</head><body><main>
          <h1>{title}</h1><div class="product-price"><span class="price">{price}</span></div>
          <button>Add to cart</button></main></body></html>"#
    )
}

fn record(html: &str, u: &str) -> Record {
    let ex = extract_product(html, &url(u), "generic");
    ex.records.into_iter().next().expect("a record")
}

/// (case, lang, head, title, shown price, URL, price, currency)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    ("es-CL page, $ is CLP, `.` groups", "es-CL", "", "Zapatilla Running Pro", "$12.990",
     "https://tienda.example.cl/p/1", "12990", Some("CLP")),
    ("lang en template on a .cl domain", "en", "", "Zapatilla Running Pro", "$12.990",
     "https://tienda.example.cl/p/1", "12990", Some("CLP")),
    ("en-US template on a .cl domain", "en-US", "", "Zapatilla Running Pro", "$ 129.990",
     "https://tienda.example.cl/p/1", "129990", Some("CLP")),
    ("pt-BR page", "pt-BR", "", "Tênis de Corrida", "R$ 1.299,90",
     "https://loja.example.com.br/p/1", "1299.90", Some("BRL")),
    ("og:locale pl_PL, no lang", "", r#"<meta property="og:locale" content="pl_PL">"#,
     "Buty do biegania", "1 299,00 zł", "https://sklep.example.pl/p/1", "1299.00", Some("PLN")),
    ("es on .com.ar", "es", "", "Zapatilla Running", "$ 1.299",
     "https://www.example.com.ar/p/1", "1299", Some("ARS")),
    ("de on .de", "de", "", "Laufschuh", "1.299 €", "https://shop.example.de/p/1", "1299",
     Some("EUR")),
    ("lang es with a theme's og:locale en_US on .com.mx", "es",
     r#"<meta property="og:locale" content="en_US">"#, "Tenis para correr", "$1,299",
     "https://tienda.example.com.mx/p/1", "1299", Some("MXN")),
    ("en-CA on .ca", "en-CA", "", "Running Shoe", "$1,299.99", "https://shop.example.ca/p/1",
     "1299.99", Some("CAD")),
    ("fr-CA on a .com", "fr-CA", "", "Chaussure de course", "1 299,99 $",
     "https://boutique.example.com/p/1", "1299.99", Some("CAD")),
    ("US shop, lang en on .com", "en", "", "Running Shoe", "$1,299.99",
     "https://shop.example.com/p/1", "1299.99", Some("USD")),
    ("US shop without lang, English title", "", "", "Running Shoe for the Road",
     "$1,299.99", "https://shop.example.com/p/1", "1299.99", Some("USD")),
    ("declared CLP beats an en-US template", "en-US",
     r#"<meta property="product:price:currency" content="CLP">"#, "Zapatilla", "$12,990",
     "https://shop.example.com/p/1", "12990", Some("CLP")),
    ("es on .com: the $ stays undecided", "es", "", "Zapatilla de running", "$ 1.299",
     "https://tienda.example.com/p/1", "1299", None),
    ("no lang, Spanish title on .com: undecided", "",
     r#"<meta name="description" content="Compra la zapatilla de running con envío gratis para todo el país">"#,
     "Zapatilla de running para la ciudad", "$ 1.299", "https://tienda.example.com/p/1", "1299",
     None),
];

#[test]
fn pages_decide_separators_and_currency_by_locale() {
    let mut failures = Vec::new();
    for &(case, lang, head, title, shown, u, want_price, want_currency) in CASES {
        let html = shop_page(lang, head, title, shown);
        let r = record(&html, u);
        let got = (
            r.price.map(|p| p.to_string()),
            r.currency.map(|c| c.to_string()),
        );
        let want = (
            Some(want_price.to_string()),
            want_currency.map(str::to_string),
        );
        if got != want {
            failures.push(format!("{case}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_ld_prices_with_a_currency_without_minor_units() {
    // JSON-LD writes "12.990" for twelve thousand pesos on an English-templated .cl shop.
    let html = r#"<html lang="en"><head><title>Zapatilla</title>
      <script type="application/ld+json">{"@type":"Product","name":"Zapatilla","offers":{"@type":"Offer","price":"12.990","priceCurrency":"CLP"}}</script>
      </head><body><h1>Zapatilla</h1></body></html>"#;
    let r = record(html, "https://tienda.example.cl/p/1");
    assert_eq!(r.price.map(|p| p.to_string()).as_deref(), Some("12990"));
    assert_eq!(r.currency.map(|c| c.to_string()).as_deref(), Some("CLP"));
    // A plain decimal string in a currency with cents is read as schema.org writes it.
    let html = html.replace("CLP", "USD").replace("12.990", "12.99");
    let r = record(&html, "https://shop.example.com/p/1");
    assert_eq!(r.price.map(|p| p.to_string()).as_deref(), Some("12.99"));
}

#[test]
fn a_negative_json_ld_price_is_not_a_price() {
    let html = r#"<html lang="en"><head><title>Coupon</title>
      <script type="application/ld+json">{"@type":"Product","name":"Coupon","offers":{"@type":"Offer","price":"-3.00","priceCurrency":"USD"}}</script>
      </head><body><h1>Coupon</h1></body></html>"#;
    let ex = extract_product(html, &url("https://shop.example.com/p/1"), "generic");
    assert!(
        ex.records.iter().all(|r| r.price.is_none()),
        "{:?}",
        ex.records
    );
    let page = Page::parse(html, &url("https://shop.example.com/p/1"));
    let p = page.parse_price("-3.00", Some("USD"));
    assert_eq!(p.amount.map(|a| a.to_string()).as_deref(), Some("-3.00"));
}

#[test]
fn page_locale_and_parse_price() {
    let page = Page::parse(
        r#"<html lang="en"><head></head><body></body></html>"#,
        &url("https://tienda.example.cl/p/1"),
    );
    let locale = page.locale();
    assert_eq!(
        (locale.language(), locale.region()),
        (Some("en"), Some("CL"))
    );
    assert_eq!(
        page.stated_currency().map(|c| c.to_string()).as_deref(),
        Some("CLP")
    );
    let p = page.parse_price("$12.990", None);
    assert_eq!(p.amount.map(|a| a.to_string()).as_deref(), Some("12990"));
    assert_eq!(p.currency.map(|c| c.to_string()).as_deref(), Some("CLP"));
    // An explicit ISO code in the price wins over the locale.
    let p = page.parse_price("US$ 12.99", None);
    assert_eq!(p.currency.map(|c| c.to_string()).as_deref(), Some("USD"));

    let page = Page::parse(
        r#"<html><head><script type="application/ld+json">{"inLanguage": "de-AT"}</script></head></html>"#,
        &url("https://shop.example.com/p/1"),
    );
    assert_eq!(page.locale().to_string(), "de-AT");
    let p = page.parse_price("1,299", None);
    assert_eq!(p.amount.map(|a| a.to_string()).as_deref(), Some("1.299"));
    assert_eq!(p.currency.map(|c| c.to_string()).as_deref(), Some("EUR"));

    let page = Page::parse(
        r#"<html lang="en-US"><head></head></html>"#,
        &url("https://shop.example.com/p/1"),
    );
    let p = page.parse_price("$1.299", None);
    assert_eq!(p.amount.map(|a| a.to_string()).as_deref(), Some("1.299"));
    assert_eq!(p.currency.map(|c| c.to_string()).as_deref(), Some("USD"));
    assert_eq!(page.undecided_currency(&p), None);
}

#[test]
fn an_undecided_currency_is_reported_not_guessed() {
    let page = Page::parse(
        r#"<html lang="es"><head></head><body></body></html>"#,
        &url("https://tienda.example.com/p/1"),
    );
    let p = page.parse_price("$ 1.299", None);
    assert_eq!(p.amount.map(|a| a.to_string()).as_deref(), Some("1299"));
    assert_eq!(p.currency, None);
    let warning = page.undecided_currency(&p).expect("a warning");
    assert_eq!(
        warning,
        "currency undecided: `$` could be USD, CAD, AUD, NZD or 28 more on tienda.example.com \
         (locale es)"
    );
    let p = page.parse_price("1.299", None);
    assert_eq!(
        page.undecided_currency(&p).as_deref(),
        Some("currency undecided: no currency written on tienda.example.com (locale es)")
    );
}
