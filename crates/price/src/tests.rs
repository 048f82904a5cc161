//! Unit tests of the price parser: a table of representative strings across locales, currency
//! mapping with hints, `find_prices`, a no-panic sweep and the evaluation report.

use std::str::FromStr;

use haul_core::{Currency, Decimal};

use super::*;

fn cur(code: &str) -> Currency {
    Currency::new(code).unwrap()
}

/// (price text, currency hint, decimal separator hint, currency as written, amount, ISO code)
type Case = (
    &'static str,
    Option<&'static str>,
    Option<char>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Russian / Ukrainian / Bulgarian: space grouping, abbreviations, inflected words.
    ("2 660 руб", None, None, Some("руб"), Some("2660"), Some("RUB")),
    ("Цена: 3 490 руб.", None, None, Some("руб."), Some("3490"), Some("RUB")),
    ("3490 рублей", None, None, Some("руб"), Some("3490"), Some("RUB")),
    ("₽ 990", None, None, Some("₽"), Some("990"), Some("RUB")),
    ("6 300 Р", None, None, Some("Р"), Some("6300"), Some("RUB")),
    ("1 250,00 грн.", None, None, Some("грн."), Some("1250"), Some("UAH")),
    ("від 1 250 грн", None, None, Some("грн"), Some("1250"), Some("UAH")),
    ("27.00 лв.", None, None, Some("лв."), Some("27"), Some("BGN")),
    // Euro in several conventions.
    ("16,50 € *", None, None, Some("€"), Some("16.5"), Some("EUR")),
    ("1.234,56 €", None, None, Some("€"), Some("1234.56"), Some("EUR")),
    ("€ 2.109,00", None, None, Some("€"), Some("2109"), Some("EUR")),
    ("1\u{202F}234,56 €", None, None, Some("€"), Some("1234.56"), Some("EUR")),
    ("12,99 €/kg", None, None, Some("€"), Some("12.99"), Some("EUR")),
    ("ab 9,99 €", None, None, Some("€"), Some("9.99"), Some("EUR")),
    ("à partir de 29€99", None, None, Some("€"), Some("29.99"), Some("EUR")),
    ("35€ 99", None, None, Some("€"), Some("35.99"), Some("EUR")),
    ("35€ 999", None, None, Some("€"), Some("35"), Some("EUR")),
    ("99 € 79 €", None, None, Some("€"), Some("99"), Some("EUR")),
    ("From 26 to 50 €", None, None, Some("€"), Some("26"), Some("EUR")),
    ("749,00 euro", None, None, Some("euro"), Some("749"), Some("EUR")),
    ("EUR29.66 (inc VAT 20%)", None, None, Some("EUR"), Some("29.66"), Some("EUR")),
    ("3 Ausgaben für nur 14,85 EUR", None, None, Some("EUR"), Some("14.85"), Some("EUR")),
    ("Save 20% - now 39,95 €", None, None, Some("€"), Some("39.95"), Some("EUR")),
    ("€ 610,", None, None, Some("€"), Some("610"), Some("EUR")),
    ("1.837, 32 €", None, None, Some("€"), Some("1837.32"), Some("EUR")),
    ("€ 10.00 € 8.00 – € 10.00", None, None, Some("€"), Some("10"), Some("EUR")),
    // Dollars and their prefixed variants.
    ("Was: $124.95 Now: $99.00", None, None, Some("$"), Some("124.95"), None),
    ("$1,299", None, None, Some("$"), Some("1299"), None),
    ("$699,000", None, None, Some("$"), Some("699000"), None),
    ("$ 1.144.000", None, None, Some("$"), Some("1144000"), None),
    ("$.75", None, None, Some("$"), Some("0.75"), None),
    ("$119. 95", None, None, Some("$"), Some("119.95"), None),
    ("Costo: $2,222.- Más IVA", None, None, Some("$"), Some("2222"), None),
    ("Price: $15.95/mo", None, None, Some("$"), Some("15.95"), None),
    ("Only 3 left - $29.99", None, None, Some("$"), Some("29.99"), None),
    ("2 Litre Was $120.00", None, None, Some("$"), Some("120"), None),
    ("US$ 15.00", None, None, Some("US$"), Some("15"), Some("USD")),
    ("US $1.23", None, None, Some("US $"), Some("1.23"), Some("USD")),
    ("SGD$4.90", None, None, Some("SGD"), Some("4.9"), Some("SGD")),
    ("$1,190.00 AUD", None, None, Some("AUD"), Some("1190"), Some("AUD")),
    ("NZD $100.70", None, None, Some("NZD"), Some("100.7"), Some("NZD")),
    ("C$5.95", None, None, Some("C$"), Some("5.95"), Some("CAD")),
    ("A$19.95", None, None, Some("A$"), Some("19.95"), Some("AUD")),
    ("HK$ 88", None, None, Some("HK$"), Some("88"), Some("HKD")),
    ("MX$3,179.00", None, None, Some("MX$"), Some("3179"), Some("MXN")),
    ("R$ 1.299,90", None, None, Some("R$"), Some("1299.9"), Some("BRL")),
    ("$49.99", Some("USD"), None, Some("$"), Some("49.99"), Some("USD")),
    // Pounds, Swiss francs, Nordic crowns.
    ("£1,049.99 inc. VAT", None, None, Some("£"), Some("1049.99"), Some("GBP")),
    ("£94.50 GBP", None, None, Some("£"), Some("94.5"), Some("GBP")),
    ("CHF 1'234.50", None, None, Some("CHF"), Some("1234.5"), Some("CHF")),
    ("1'049,95 CHF", None, None, Some("CHF"), Some("1049.95"), Some("CHF")),
    ("199.90 Fr.", None, None, Some("Fr."), Some("199.9"), Some("CHF")),
    ("149 SEK", None, None, Some("SEK"), Some("149"), Some("SEK")),
    ("1.199,- DKK", None, None, Some("DKK"), Some("1199"), Some("DKK")),
    ("1 099,- kr", None, None, Some("kr"), Some("1099"), None),
    ("kr 1.099,00", None, None, Some("kr"), Some("1099"), None),
    // Central and Eastern Europe.
    ("Kč 1 299", None, None, Some("Kč"), Some("1299"), Some("CZK")),
    ("běžná cena 1 290 Kč s DPH", None, None, Some("Kč"), Some("1290"), Some("CZK")),
    ("50,- Kč", None, None, Some("Kč"), Some("50"), Some("CZK")),
    ("1 299,00 zł", None, None, Some("zł"), Some("1299"), Some("PLN")),
    ("140,00 pln", None, None, Some("pln"), Some("140"), Some("PLN")),
    ("39,90 lei", None, None, Some("lei"), Some("39.9"), Some("RON")),
    ("3.490 Ft", None, None, Some("Ft"), Some("3490"), Some("HUF")),
    ("89,90 TL", None, None, Some("TL"), Some("89.9"), Some("TRY")),
    ("6790 Dinara", None, None, Some("Dinara"), Some("6790"), Some("RSD")),
    // Asia, Middle East, Latin America, Africa.
    ("Rs. 2,499", None, None, Some("Rs."), Some("2499"), None),
    ("₹1,23,456.00", None, None, Some("₹"), Some("123456"), Some("INR")),
    ("AED 8000 (USD 2179)", None, None, Some("AED"), Some("8000"), Some("AED")),
    ("Rp 1.550.000", None, None, Some("Rp"), Some("1550000"), Some("IDR")),
    ("450 000 ₫", None, None, Some("₫"), Some("450000"), Some("VND")),
    ("200.000 đ", None, None, Some("đ"), Some("200000"), Some("VND")),
    ("12,000원", None, None, Some("원"), Some("12000"), Some("KRW")),
    ("3,500円", None, None, Some("円"), Some("3500"), Some("JPY")),
    ("¥12,800", None, None, Some("¥"), Some("12800"), None),
    ("22000.00元/台", None, None, Some("元"), Some("22000"), Some("CNY")),
    ("2963yen", None, None, Some("yen"), Some("2963"), Some("JPY")),
    ("₪ 89.90", None, None, Some("₪"), Some("89.9"), Some("ILS")),
    ("RM 49.00", None, None, Some("RM"), Some("49"), Some("MYR")),
    ("฿ 3.3900", None, None, Some("฿"), Some("3.39"), Some("THB")),
    ("\u{663}\u{665}\u{660} ر.س", None, None, Some("ر.س"), Some("350"), Some("SAR")),
    ("\u{6F1}\u{6F2}\u{6F0},\u{6F0}\u{6F0}\u{6F0} تومان", None, None, Some("تومان"), Some("120000"), None),
    ("R273.00", None, None, Some("R"), Some("273"), Some("ZAR")),
    ("S/. 59.90", None, None, Some("S/."), Some("59.9"), Some("PEN")),
    ("PTE 120 000 000", None, None, Some("PTE"), Some("120000000"), Some("PTE")),
    // No currency written, or only in the hint.
    ("12,-", None, None, None, Some("12"), None),
    ("105. –", None, None, None, Some("105"), None),
    ("1,099.99", None, None, None, Some("1099.99"), None),
    ("1.11000000000000009770", None, None, None, Some("1.11000000000000009770"), None),
    ("34.12 (40.94 inc VAT)", None, None, None, Some("34.12"), None),
    ("19,90", Some("€"), None, Some("€"), Some("19.9"), Some("EUR")),
    ("899,00", Some("Pris NOK 899,00"), None, Some("NOK"), Some("899"), Some("NOK")),
    ("2 400", Some("2 069 рублей"), None, Some("руб"), Some("2400"), Some("RUB")),
    ("34.992001", Some("GBP"), None, Some("GBP"), Some("34.992001"), Some("GBP")),
    ("", Some("EUR"), None, Some("EUR"), None, Some("EUR")),
    ("17.90", Some("ht / L'unité"), None, None, Some("17.9"), None),
    // Decimal separator hints.
    ("140.000", None, Some(','), None, Some("140000"), None),
    ("140.000", None, Some('.'), None, Some("140"), None),
    ("$..75,333", None, Some('.'), Some("$"), Some("0.75333"), None),
    ("$..75,333", None, Some(','), Some("$"), Some("75.333"), None),
    ("1250€60", None, Some('€'), Some("€"), Some("1250.6"), Some("EUR")),
    ("1250€ 600", None, Some('€'), Some("€"), Some("1250"), Some("EUR")),
    (" 423.923 KD", None, Some('.'), Some("KD"), Some("423.923"), Some("KWD")),
    // Not prices.
    ("Out of stock", None, None, None, None, None),
    ("Pure & IP BP Ph. Eur. USP ACS AR LR", None, None, None, None, None),
    ("Печная труба", None, None, None, None, None),
    ("50% off", None, None, None, None, None),
    ("-20 %", None, None, None, None, None),
    ("15.08.2017", None, None, None, None, None),
    ("Updated July, 2004", None, None, None, None, None),
    ("16.00 ft", None, None, None, None, None),
    ("1,5 l", None, None, None, None, None),
    ("Free Shipping on Orders $49+.", None, None, Some("$"), None, None),
    ("Type of Transfer *", Some("$"), None, Some("$"), None, None),
    ("2024-05-01", None, None, None, None, None),
    ("01/05/2024", None, None, None, None, None),
    ("12:30", None, None, None, None, None),
    // More shop phrasing.
    ("Size L 12.99", None, None, None, Some("12.99"), None),
    ("iPhone 15 Pro 128GB 999 €", None, None, Some("€"), Some("999"), Some("EUR")),
    ("1 x 250ml 9,99 €", None, None, Some("€"), Some("9.99"), Some("EUR")),
    ("4.5 out of 5 stars 1,234 ratings $29.99", None, None, Some("$"), Some("29.99"), None),
    ("CHF 1’234.–", None, None, Some("CHF"), Some("1234"), Some("CHF")),
    ("kr 1 234:-", None, None, Some("kr"), Some("1234"), None),
    ("1.234.567,89 €", None, None, Some("€"), Some("1234567.89"), Some("EUR")),
    ("от 1 500 ₽/мес", None, None, Some("₽"), Some("1500"), Some("RUB")),
    ("0.500", None, None, None, Some("0.5"), None),
    // Free.
    ("Free!", None, None, None, Some("0"), None),
    ("Gratis", None, None, None, Some("0"), None),
];

#[test]
fn table_of_price_strings() {
    let mut failures = Vec::new();
    for &(text, hint, sep, want_cur, want_amount, want_iso) in CASES {
        let hints = Hints {
            currency_hint: hint,
            decimal_separator: sep,
            ..Hints::default()
        };
        let p = parse_price(text, &hints);
        let want_amount = want_amount.map(|a| Decimal::from_str(a).unwrap());
        let want_iso = want_iso.map(cur);
        if p.amount != want_amount
            || p.currency_text.as_deref() != want_cur
            || p.currency != want_iso
        {
            failures.push(format!(
                "{text:?} (hint {hint:?}, sep {sep:?}): want {want_cur:?} {want_amount:?} {want_iso:?}, got {:?} {:?} {:?}",
                p.currency_text, p.amount, p.currency
            ));
        }
        if let Some(at) = &p.amount_text {
            assert!(
                text.contains(at.as_str()) || at.chars().all(|c| !c.is_ascii_digit()),
                "{text:?}: amount_text {at:?} is not a substring"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn amount_text_is_as_written() {
    let p = parse_price("Цена: 1 690,54 руб. (шт)", &Hints::default());
    assert_eq!(p.amount_text.as_deref(), Some("1 690,54"));
    let p = parse_price("1.899,- Kč", &Hints::default());
    assert_eq!(p.amount_text.as_deref(), Some("1.899"));
    let p = parse_price("Free!", &Hints::default());
    assert_eq!(p.amount_text.as_deref(), Some("Free"));
    // Scale is kept as written: money keeps its cents.
    let p = parse_price("$22.00", &Hints::default());
    assert_eq!(p.amount.unwrap().to_string(), "22.00");
}

#[test]
fn currency_to_iso_unambiguous_forms() {
    let none = Hints::default();
    let cases = [
        ("zł", Some("PLN")),
        ("руб", Some("RUB")),
        ("руб.", Some("RUB")),
        ("US$", Some("USD")),
        ("Kč", Some("CZK")),
        ("EUR", Some("EUR")),
        ("eur", Some("EUR")),
        ("usd", Some("USD")),
        ("Usd", Some("USD")),
        (" € ", Some("EUR")),
        ("R$", Some("BRL")),
        ("£", Some("GBP")),
        ("₩", Some("KRW")),
        ("lei", Some("RON")),
        ("Price in EUR", Some("EUR")),
        ("$", None),
        ("¥", None),
        ("kr", None),
        ("Rs", None),
        ("تومان", None),
        ("BTC", None),
        ("XYZ", None),
        ("", None),
    ];
    for (written, want) in cases {
        assert_eq!(
            currency_to_iso(written, &none),
            want.map(cur),
            "{written:?}"
        );
    }
}

#[test]
fn dollar_and_other_ambiguous_symbols_resolve_from_hints() {
    let domain = |d: &'static str| Hints {
        domain: Some(d),
        ..Hints::default()
    };
    assert_eq!(
        currency_to_iso("$", &domain("shop.example.ca")),
        Some(cur("CAD"))
    );
    assert_eq!(
        currency_to_iso("$", &domain("www.example.com.au")),
        Some(cur("AUD"))
    );
    assert_eq!(
        currency_to_iso("$", &domain("https://shop.example.co.nz/item/1")),
        Some(cur("NZD"))
    );
    assert_eq!(
        currency_to_iso("$", &domain("tienda.example.com.mx:8080")),
        Some(cur("MXN"))
    );
    assert_eq!(currency_to_iso("$", &domain("www.example.com")), None);
    assert_eq!(
        currency_to_iso("$", &domain("example.de")),
        None,
        "EUR is not a $ currency"
    );
    assert_eq!(
        currency_to_iso("kr", &domain("butik.example.se")),
        Some(cur("SEK"))
    );
    assert_eq!(
        currency_to_iso("kr", &domain("example.no")),
        Some(cur("NOK"))
    );
    assert_eq!(
        currency_to_iso("¥", &domain("example.co.jp")),
        Some(cur("JPY"))
    );
    assert_eq!(
        currency_to_iso("¥", &domain("example.cn")),
        Some(cur("CNY"))
    );
    assert_eq!(
        currency_to_iso("£", &domain("example.eg")),
        Some(cur("EGP"))
    );
    assert_eq!(
        currency_to_iso("Rs", &domain("example.pk")),
        Some(cur("PKR"))
    );
    assert_eq!(
        currency_to_iso("руб.", &domain("example.by")),
        Some(cur("BYN"))
    );

    // The default currency only when it is one of the symbol's meanings.
    let default = |c: &str| Hints {
        default_currency: Some(cur(c)),
        ..Hints::default()
    };
    assert_eq!(currency_to_iso("$", &default("USD")), Some(cur("USD")));
    assert_eq!(currency_to_iso("$", &default("EUR")), None);
    assert_eq!(currency_to_iso("€", &default("USD")), Some(cur("EUR")));
    // The TLD wins over the default.
    let both = Hints {
        domain: Some("example.ca"),
        default_currency: Some(cur("USD")),
        ..Hints::default()
    };
    assert_eq!(currency_to_iso("$", &both), Some(cur("CAD")));

    // A currency hint naming a specific dollar.
    let hint = Hints {
        currency_hint: Some("Prices in CAD"),
        ..Hints::default()
    };
    assert_eq!(currency_to_iso("$", &hint), Some(cur("CAD")));
}

#[test]
fn parse_price_resolves_currency_with_hints() {
    let p = parse_price("$12.99", &Hints::default());
    assert_eq!((p.currency_text.as_deref(), p.currency), (Some("$"), None));

    let ca = Hints {
        domain: Some("www.example.ca"),
        ..Hints::default()
    };
    let p = parse_price("$12.99", &ca);
    assert_eq!(
        (p.currency_text.as_deref(), p.currency),
        (Some("$"), Some(cur("CAD")))
    );

    let usd = Hints {
        default_currency: Some(cur("USD")),
        ..Hints::default()
    };
    assert_eq!(parse_price("$12.99", &usd).currency, Some(cur("USD")));
    // Nothing written: the default is assumed, but nothing is claimed as written.
    let p = parse_price("12.99", &usd);
    assert_eq!((p.currency_text, p.currency), (None, Some(cur("USD"))));
    // Something else written: the default does not override it.
    assert_eq!(parse_price("12,99 €", &usd).currency, Some(cur("EUR")));
    // No hints, no currency.
    assert_eq!(parse_price("12.99", &Hints::default()).currency, None);
}

#[test]
fn find_prices_lists_every_price() {
    let none = Hints::default();
    let got = |text: &str| -> Vec<(Option<String>, String)> {
        find_prices(text, &none)
            .into_iter()
            .map(|p| (p.currency_text, p.amount.unwrap().normalize().to_string()))
            .collect()
    };
    let s = |c: &str, a: &str| (Some(c.to_string()), a.to_string());
    assert_eq!(
        got("Was: $124.95 Now: $99.00"),
        vec![s("$", "124.95"), s("$", "99")]
    );
    assert_eq!(got("From 26 to 50 €"), vec![s("€", "26"), s("€", "50")]);
    assert_eq!(got("€10 £8"), vec![s("€", "10"), s("£", "8")]);
    assert_eq!(
        got("Qty 3 for $10, 6 for $18"),
        vec![s("$", "10"), s("$", "18")]
    );
    assert_eq!(
        got("3,49 zł 1,75 zł"),
        vec![s("zł", "3.49"), s("zł", "1.75")]
    );
    assert_eq!(
        got("34.12 (40.94 inc VAT)"),
        vec![(None, "34.12".to_string()), (None, "40.94".to_string())]
    );
    assert_eq!(got("Free"), vec![(None, "0".to_string())]);
    assert!(got("No price here").is_empty());
    assert!(got("").is_empty());

    let ca = Hints {
        domain: Some("example.ca"),
        ..Hints::default()
    };
    let prices = find_prices("Reg. $20 Sale $15", &ca);
    assert_eq!(prices.len(), 2);
    assert!(prices.iter().all(|p| p.currency == Some(cur("CAD"))));
}

/// Deterministic sweep over short strings of tricky characters: no panics, and the reported
/// amount text is always part of the input.
#[test]
fn never_panics_on_odd_input() {
    let alphabet: Vec<char> = "0123456789.,' \u{a0}€$£-–%+:krубRL٣(/*".chars().collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = (next() % 10) as usize;
        let text: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let sep = [None, Some('.'), Some(','), Some('€')][(next() % 4) as usize];
        let hints = Hints {
            decimal_separator: sep,
            currency_hint: Some(&text),
            ..Hints::default()
        };
        let p = parse_price(&text, &hints);
        if let Some(at) = &p.amount_text {
            assert!(text.contains(at.as_str()), "{text:?} -> {at:?}");
        }
        for q in find_prices(&text, &hints) {
            assert!(q.amount.is_some(), "{text:?}");
        }
    }
}

#[test]
fn eval_reports_counts_and_misses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prices.jsonl");
    let lines = [
        r#"{"price_text": "2 660 руб", "expected_currency": "руб", "expected_amount": "2660", "xfail": false}"#,
        r#"{"price_text": "$1.50", "currency_hint": null, "expected_currency": "$", "expected_amount": "1.5", "xfail": false}"#,
        r#"{"price_text": "12 apples", "expected_currency": "€", "expected_amount": "12", "xfail": false}"#,
        r#"{"price_text": null, "currency_hint": "€", "expected_currency": "€", "expected_amount": null, "xfail": true}"#,
        "",
        r#"{"price_text": "1250€ 60", "decimal_separator_hint": "€", "expected_currency": "€", "expected_amount": "1250.6", "xfail": true}"#,
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let report = eval::evaluate_file(&path).unwrap();
    assert_eq!(report.total, 5);
    assert_eq!(report.non_xfail, 3);
    assert_eq!(report.correct_non_xfail, 2);
    assert_eq!(report.xfail, 2);
    assert_eq!(report.correct_xfail, 2);
    assert_eq!(report.misses.len(), 1);
    assert_eq!(report.misses[0].line, 3);
    let shown = report.to_string();
    assert!(shown.contains("non-xfail: 2/3"), "{shown}");
    assert!(shown.contains("12 apples"), "{shown}");
    assert!(shown.contains("66.67%"), "{shown}");
}

#[test]
fn eval_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jsonl");
    let err = eval::evaluate_file(&missing).unwrap_err();
    assert!(err.to_string().contains("missing.jsonl"), "{err}");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"price_text\": \"1\"}\nnot json\n").unwrap();
    let err = eval::evaluate_file(&bad).unwrap_err();
    assert!(err.to_string().contains("bad.jsonl:2"), "{err}");

    let amount = dir.path().join("amount.jsonl");
    std::fs::write(
        &amount,
        "{\"price_text\": \"1\", \"expected_amount\": \"one\"}\n",
    )
    .unwrap();
    let err = eval::evaluate_file(&amount).unwrap_err();
    assert!(err.to_string().contains("amount.jsonl:1"), "{err}");
    assert!(err.to_string().contains("\"one\""), "{err}");
}

/// Hints for a page with locale tag `tag` (`""` for none) on `domain`.
fn page_hints(tag: &str, domain: Option<&'static str>) -> Hints<'static> {
    let mut locale = Locale::parse(tag);
    if let Some(d) = domain.and_then(Locale::from_domain) {
        let mut l = locale.unwrap_or_default();
        if l.region().is_none()
            && let Some(r) = d.region()
        {
            l = l.with_region(r);
        }
        locale = Some(l);
    }
    Hints {
        domain,
        locale,
        ..Hints::default()
    }
}

/// (price text, locale tag, domain, amount, ISO code)
type LocaleCase = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
);

#[rustfmt::skip]
const LOCALE_CASES: &[LocaleCase] = &[
    // The three examples of the issue.
    ("$1.299", "", Some("tienda.example.cl"), "1299", Some("CLP")),
    ("R$ 1.299,90", "pt-BR", None, "1299.90", Some("BRL")),
    ("1 299,00 zł", "pl", None, "1299.00", Some("PLN")),
    // A lone separator followed by three digits, decided by the locale.
    ("1.299 €", "de", None, "1299", Some("EUR")),
    ("1.299", "en-US", None, "1.299", None),
    ("1,299", "en", None, "1299", None),
    ("1,299 €", "de", None, "1.299", Some("EUR")),
    ("1,299", "de-DE", None, "1.299", None),
    // A bare number takes the default currency only (`Page` passes its stated one), but the
    // locale's currency still tells that it has no minor units.
    ("12.990", "es-CL", None, "12990", None),
    ("$12.990", "es-CL", None, "12990", Some("CLP")),
    ("$ 1.299", "es-AR", None, "1299", Some("ARS")),
    ("$ 1.299", "es", Some("www.example.com.ar"), "1299", Some("ARS")),
    ("$1,299.99", "en-CA", Some("shop.example.ca"), "1299.99", Some("CAD")),
    ("$1,299.99", "", Some("shop.example.ca"), "1299.99", Some("CAD")),
    ("$1,299", "es-MX", None, "1299", Some("MXN")),
    ("$1.299", "es-MX", None, "1.299", Some("MXN")),
    ("1.299,90 €", "fr", None, "1299.90", Some("EUR")),
    ("1.299 kr", "sv", None, "1299", Some("SEK")),
    ("kr 1.299,-", "nb-NO", None, "1299", Some("NOK")),
    ("1.299 kr.", "da", None, "1299", Some("DKK")),
    // Currencies without minor units: grouping whatever the locale says.
    ("Rp 1.299.000", "id", None, "1299000", Some("IDR")),
    ("¥1,299", "ja", None, "1299", Some("JPY")),
    ("¥1.299", "ja-JP", None, "1299", Some("JPY")),
    ("$12,990", "en", Some("tienda.example.cl"), "12990", Some("CLP")),
    ("1,299 Ft", "hu", None, "1299", Some("HUF")),
    ("₩1.299", "en-US", None, "1299", Some("KRW")),
    ("$ 12.990", "es-CO", None, "12990", Some("COP")),
    // Swiss: the point, apostrophe grouping.
    ("CHF 1'299.90", "de-CH", None, "1299.90", Some("CHF")),
    ("CHF 1.299", "fr-CH", None, "1.299", Some("CHF")),
    // An explicit ISO code written in the price wins over the locale.
    ("$1.299 USD", "es-CL", None, "1299", Some("USD")),
    ("US$ 12.99", "es-AR", None, "12.99", Some("USD")),
    // Unambiguous forms keep their usual reading.
    ("1.234,56 €", "en-US", None, "1234.56", Some("EUR")),
    ("1,234.56", "de", None, "1234.56", None),
    ("12,99 €", "en", None, "12.99", Some("EUR")),
    ("0.750", "de", None, "0.750", None),
];

#[test]
fn locale_decides_separators_and_currency() {
    let mut failures = Vec::new();
    for &(text, tag, domain, want_amount, want_iso) in LOCALE_CASES {
        let hints = page_hints(tag, domain);
        let p = parse_price(text, &hints);
        let want_amount = Decimal::from_str(want_amount).unwrap();
        let want_iso = want_iso.map(cur);
        // Compare the scale too: `1299.90` keeps its cents.
        if p.amount.map(|a| a.to_string()) != Some(want_amount.to_string())
            || p.currency != want_iso
        {
            failures.push(format!(
                "{text:?} ({tag:?} on {domain:?}): want {want_amount} {want_iso:?}, got {:?} {:?}",
                p.amount, p.currency
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dollar_on_a_non_english_generic_page_is_not_usd() {
    // `es` without a region on a .com: the `$` could be any peso or the dollar.
    let hints = page_hints("es", Some("tienda.example.com"));
    let p = parse_price("$ 1.299", &hints);
    assert_eq!(p.amount, Some(Decimal::from(1299)));
    assert_eq!(p.currency, None);
    let why = p.undecided_currency().unwrap();
    assert!(
        matches!(&why, Undecided::Ambiguous { written, meanings }
            if written == "$" && meanings.contains(&cur("USD")) && meanings.contains(&cur("CLP"))),
        "{why:?}"
    );
    assert!(
        why.to_string().starts_with("`$` could be USD, CAD"),
        "{why}"
    );
    // fr-CA: the region decides.
    let p = parse_price("1 299,99 $", &page_hints("fr-CA", None));
    assert_eq!(p.amount.unwrap().to_string(), "1299.99");
    assert_eq!(p.currency, Some(cur("CAD")));
    // pt without a region: a `$` stays undecided too.
    assert_eq!(parse_price("$10", &page_hints("pt", None)).currency, None);
}

#[test]
fn undecided_currency_says_why() {
    let none = Hints::default();
    assert_eq!(
        parse_price("12.99", &none).undecided_currency(),
        Some(Undecided::Unwritten)
    );
    assert_eq!(
        parse_price("5 ₿", &none).undecided_currency(),
        Some(Undecided::NoIsoCode {
            written: "₿".to_string()
        })
    );
    assert_eq!(parse_price("12,99 €", &none).undecided_currency(), None);
    assert_eq!(
        parse_price("Out of stock", &none).undecided_currency(),
        None
    );
    let kr = parse_price("199 kr", &none).undecided_currency().unwrap();
    assert_eq!(kr.to_string(), "`kr` could be SEK, NOK, DKK, ISK");
}

#[test]
fn a_leading_minus_keeps_the_sign() {
    let none = Hints::default();
    let amount = |text: &str| parse_price(text, &none).amount.map(|a| a.to_string());
    assert_eq!(amount("-3.00").as_deref(), Some("-3.00"));
    assert_eq!(amount("−3,00 €").as_deref(), Some("-3.00"));
    assert_eq!(amount("$-5.00").as_deref(), Some("-5.00"));
    assert_eq!(amount("Rabatt: -20,00 €").as_deref(), Some("-20.00"));
    assert_eq!(
        parse_price("-3.00", &none).amount_text.as_deref(),
        Some("-3.00")
    );
    // A dash between numbers is not a sign.
    assert_eq!(amount("10-15 €").as_deref(), Some("10"));
    assert_eq!(amount("199:-").as_deref(), Some("199"));
    assert_eq!(amount("12,-").as_deref(), Some("12"));
    assert_eq!(amount("art-12 9,99 €").as_deref(), Some("9.99"));
    assert_eq!(amount("- 20 €").as_deref(), Some("20"));
}

#[test]
fn locale_tags_regions_and_domains() {
    let l = Locale::parse("pt_BR").unwrap();
    assert_eq!((l.language(), l.region()), (Some("pt"), Some("BR")));
    assert_eq!(l.to_string(), "pt-BR");
    let l = Locale::parse("zh-Hant-TW").unwrap();
    assert_eq!((l.language(), l.region()), (Some("zh"), Some("TW")));
    let l = Locale::parse("es-419").unwrap();
    assert_eq!(l.region(), Some("419"));
    assert_eq!(l.decimal_separator(), Some('.'));
    assert_eq!(Locale::parse("de").unwrap().region(), None);
    assert_eq!(Locale::parse("123"), None);
    assert_eq!(Locale::parse(""), None);

    let region = |d: &str| Locale::from_domain(d).and_then(|l| l.region().map(str::to_string));
    assert_eq!(
        region("https://www.example.com.ar/p/1").as_deref(),
        Some("AR")
    );
    assert_eq!(region("example.co.uk").as_deref(), Some("GB"));
    assert_eq!(region("tienda.example.com.co").as_deref(), Some("CO"));
    assert_eq!(region("example.cl").as_deref(), Some("CL"));
    assert_eq!(region("example.com"), None);
    assert_eq!(region("example.co"), None, "a vanity .co");
    assert_eq!(region("example.io"), None);

    let sep = |t: &str| Locale::parse(t).unwrap().decimal_separator();
    for comma in [
        "de", "es", "es-ES", "es-CL", "es-AR", "pt-BR", "pl", "ru", "tr", "id", "fr-CA",
    ] {
        assert_eq!(sep(comma), Some(','), "{comma}");
    }
    for dot in [
        "en", "en-US", "en-GB", "es-MX", "ja", "zh-CN", "de-CH", "fr-CH", "he",
    ] {
        assert_eq!(sep(dot), Some('.'), "{dot}");
    }
    assert_eq!(sep("en-ZA"), None);
    assert_eq!(sep("en-DE"), Some(','));
    assert_eq!(Locale::from_region("CA").unwrap().decimal_separator(), None);
    assert_eq!(
        Locale::from_region("CL").unwrap().decimal_separator(),
        Some(',')
    );

    let currency = |t: &str| Locale::parse(t).unwrap().currency().map(|c| c.to_string());
    assert_eq!(currency("es-CL").as_deref(), Some("CLP"));
    assert_eq!(currency("es-CO").as_deref(), Some("COP"));
    assert_eq!(currency("en-GB").as_deref(), Some("GBP"));
    assert_eq!(currency("sv").as_deref(), Some("SEK"));
    assert_eq!(currency("es"), None);
    assert_eq!(currency("en"), None);
    let declared = Locale::parse("en-US")
        .unwrap()
        .with_currency(Some(cur("CLP")));
    assert_eq!(declared.currency(), Some(cur("CLP")));
    assert_eq!(declared.implied_currency(), Some(cur("USD")));
    assert_eq!(declared.to_string(), "en-US (CLP)");

    assert!(!has_minor_units(cur("CLP")));
    assert!(!has_minor_units(cur("JPY")));
    assert!(has_minor_units(cur("EUR")));
    assert!(has_minor_units(cur("ARS")));
}
