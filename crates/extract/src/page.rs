//! A parsed page with what every layer needs: the DOM, its URL, its canonical URL and the
//! currency evidence of the page (declared codes, language and region, domain), gathered into
//! the page's [`Locale`], which every price parsed through the page gets as a hint.

use std::cell::OnceCell;
use std::collections::HashMap;

use haul_core::{Currency, Url};
use haul_price::{Hints, Locale, Price, currency_to_iso, parse_price};
use scraper::Html;

use crate::text::{normalize_space, sel};

/// A page parsed once and shared by every extraction layer.
///
/// Not `Send` (the DOM is not): build and use it on one (blocking) thread.
pub struct Page {
    html: Html,
    url: Url,
    /// Where relative links resolve: the `<base href>`, else `url`.
    base: Url,
    canonical: Url,
    host: String,
    lang: Option<String>,
    declared_currency: Option<Currency>,
    /// Language, region and declared currency (see [`Page::locale`]).
    locale: Locale,
    assumed_currency: Option<Currency>,
    /// Ancestor facts of every element, computed on first use.
    facts: OnceCell<crate::dom::DomFacts>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("url", &self.url.as_str())
            .field("canonical", &self.canonical.as_str())
            .field("lang", &self.lang)
            .field("declared_currency", &self.declared_currency)
            .field("locale", &self.locale)
            .field("assumed_currency", &self.assumed_currency)
            .finish()
    }
}

/// Generic top-level domains, which say nothing about a country.
const GENERIC_TLDS: &[&str] = &[
    "com", "net", "org", "shop", "store", "biz", "info", "co", "io", "online", "site",
];

/// The currency a locale such as `en-US`, `de_AT` or `ja` implies, if any: its region's, else
/// its language's when the language is spoken in one currency area only (`de` gives none).
pub fn locale_currency(locale: &str) -> Option<Currency> {
    Locale::parse(locale)?.implied_currency()
}

impl Page {
    /// Parses `html` fetched from `url`.
    pub fn parse(html: &str, url: &Url) -> Self {
        let doc = crate::html::parse_html(html);
        Self::from_html(doc, html, url)
    }

    fn from_html(doc: Html, raw: &str, url: &Url) -> Self {
        let base = haul_core::head::base_url(&haul_core::head::scan(raw), url);
        let canonical = canonical_url(&doc, url, &base);
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let lang = doc
            .root_element()
            .value()
            .attr("lang")
            .or_else(|| doc.root_element().value().attr("xml:lang"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string);
        let declared_currency = declared_currency(&doc, raw);
        let locale =
            page_locale(&doc, raw, lang.as_deref(), url, &host).with_currency(declared_currency);
        let english = match locale.language() {
            Some(l) => l == "en",
            None => !looks_foreign(&doc),
        };
        let tld = host.rsplit('.').next().unwrap_or("");
        // A bare `$` on an English page of a generic domain (.com, .net, .us...) with nothing
        // else to go by: US dollars, by an overwhelming convention of such shops. A page in
        // another language (`es` on a .com) gets no such assumption: its `$` stays undecided.
        let generic = GENERIC_TLDS.contains(&tld) || tld == "us";
        let assumed_currency = (english && generic)
            .then(|| Currency::new("USD").ok())
            .flatten();
        Self {
            html: doc,
            url: url.clone(),
            base,
            canonical,
            host,
            lang,
            declared_currency,
            locale,
            assumed_currency,
            facts: OnceCell::new(),
        }
    }

    /// The parsed DOM.
    pub fn html(&self) -> &Html {
        &self.html
    }

    /// What the heuristics ask about each element's ancestors, computed once per page.
    pub(crate) fn facts(&self) -> &crate::dom::DomFacts {
        self.facts
            .get_or_init(|| crate::dom::DomFacts::new(&self.html))
    }

    /// The URL the page was fetched from.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Where the page's relative links resolve: its `<base href>`, else its URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The page's canonical address: its `<link rel="canonical">` when that is an absolute
    /// http(s) URL on the same host, else the fetched URL without its fragment.
    pub fn canonical_url(&self) -> &Url {
        &self.canonical
    }

    /// The `lang` attribute of `<html>`, if any.
    pub fn lang(&self) -> Option<&str> {
        self.lang.as_deref()
    }

    /// The page's locale, from its own evidence in order of trust: the language and an explicit
    /// region of `<html lang>`, `og:locale`, `content-language` or JSON-LD `inLanguage` (a
    /// region written with another language than the page's, or an English template's region
    /// on a country domain, does not count); a locale in the URL path (`/en-gb/`, `/us/`); the
    /// country-code domain (`.cl`, `.com.ar`, `.co.uk`). Its currency is the one the page
    /// declares (`priceCurrency`, `og:price:currency`), else the region's, else the language's.
    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// The page's currency as the page states it without a price: an ISO code declared in
    /// markup (`priceCurrency`, `og:price:currency`), else the currency of the page's locale
    /// (its region from `lang`, `og:locale`, the URL path or the country domain, else its
    /// language when that is spoken in one currency area only).
    pub fn stated_currency(&self) -> Option<Currency> {
        self.declared_currency.or(self.locale.currency())
    }

    /// Hints for the price parser: the page's domain, its locale (deciding `1.299` and a `$`)
    /// and its stated currency (or, for an English page on a generic domain, USD, which only
    /// decides what a bare `$` means).
    pub fn hints(&self) -> Hints<'_> {
        Hints {
            currency_hint: None,
            decimal_separator: None,
            domain: Some(&self.host),
            default_currency: self.stated_currency().or(self.assumed_currency),
            locale: (!self.locale.is_empty()).then_some(self.locale),
        }
    }

    /// Why a price read through this page has an amount but no currency, as a warning for the
    /// record (`currency undecided: `$` could be USD, CAD, AUD, NZD or 28 more on
    /// shop.example.com (locale es)`); `None` when the currency is known or there is no amount.
    pub fn undecided_currency(&self, price: &Price) -> Option<String> {
        let why = price.undecided_currency()?;
        let locale = if self.locale.is_empty() {
            "no locale".to_string()
        } else {
            format!("locale {}", self.locale)
        };
        Some(format!(
            "currency undecided: {why} on {} ({locale})",
            self.host
        ))
    }

    /// Parses a price string with the page's hints; `currency_hint` is another string from
    /// the page that may name the currency (such as a `priceCurrency` value).
    pub fn parse_price(&self, text: &str, currency_hint: Option<&str>) -> Price {
        // The parser does not read a number glued to a trailing `+` ("$28.50+", a "from"
        // price); it is not part of the amount anyway.
        let cleaned = text.replace('+', " ");
        let mut hints = self.hints();
        hints.currency_hint = currency_hint;
        // The assumed currency only decides what a written `$` means; a bare number gets a
        // currency only from what the page states.
        hints.default_currency = self.stated_currency();
        let mut p = parse_price(&cleaned, &hints);
        if p.currency.is_none() {
            match &p.currency_text {
                Some(written) => p.currency = self.resolve_written(written, currency_hint),
                None => p.currency = currency_hint.and_then(|h| currency_to_iso(h, &hints)),
            }
        }
        p
    }

    /// Resolves a written currency that the parser left ambiguous, trying in turn the
    /// declared currency, the locale's and the assumed one (a `$` on a page that declares EUR
    /// somewhere but is localised for the US is USD).
    fn resolve_written(&self, written: &str, currency_hint: Option<&str>) -> Option<Currency> {
        let mut hints = self.hints();
        hints.currency_hint = currency_hint;
        [
            self.declared_currency,
            self.locale.currency(),
            self.assumed_currency,
        ]
        .into_iter()
        .flatten()
        .find_map(|c| {
            hints.default_currency = Some(c);
            currency_to_iso(written, &hints)
        })
    }

    /// Every price in a string (`"Was $49.90 Now $39.90"`, `"$19.95 – $24.95"`), each with
    /// its currency resolved like [`parse_price`](Self::parse_price) does.
    pub fn find_prices(&self, text: &str) -> Vec<Price> {
        let cleaned = text.replace('+', " ");
        let mut hints = self.hints();
        hints.default_currency = self.stated_currency();
        let mut all = haul_price::find_prices(&cleaned, &hints);
        for p in &mut all {
            if p.currency.is_none()
                && let Some(written) = &p.currency_text
            {
                p.currency = self.resolve_written(written, None);
            }
        }
        all
    }

    /// Resolves a currency as written (`"USD"`, `"$"`, `"€"`) with the page's hints.
    pub fn currency(&self, written: &str) -> Option<Currency> {
        currency_to_iso(written.trim(), &self.hints())
    }

    /// Absolute URL of `href` relative to the page (`None` for `data:` and unparseable).
    pub fn resolve(&self, href: &str) -> Option<String> {
        let href = href.trim();
        if href.is_empty() || href.starts_with("data:") || href.starts_with("javascript:") {
            return None;
        }
        let u = self.base.join(href).ok()?;
        matches!(u.scheme(), "http" | "https").then(|| u.to_string())
    }

    /// `content` of the first `<meta>` whose `property`, `name` or `itemprop` is `key`
    /// (case-insensitive), whitespace-normalised, non-empty.
    pub fn meta(&self, key: &str) -> Option<String> {
        self.html
            .select(&sel("meta"))
            .find(|m| {
                ["property", "name", "itemprop"].iter().any(|a| {
                    m.value()
                        .attr(a)
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case(key))
                })
            })
            .and_then(|m| m.value().attr("content"))
            .map(|c| normalize_space(&crate::text::decode_entities(c)))
            .filter(|c| !c.is_empty())
    }

    /// The text of `<title>`, whitespace-normalised.
    pub fn title_tag(&self) -> Option<String> {
        self.html
            .select(&sel("title"))
            .next()
            .map(|t| normalize_space(&t.text().collect::<String>()))
            .filter(|t| !t.is_empty())
    }
}

fn same_site(a: &str, b: &str) -> bool {
    let strip = |h: &str| h.trim_start_matches("www.").to_ascii_lowercase();
    strip(a) == strip(b)
}

fn canonical_url(doc: &Html, url: &Url, base: &Url) -> Url {
    let mut fallback = url.clone();
    fallback.set_fragment(None);
    let Some(href) = doc
        .select(&sel("link[rel]"))
        .find(|l| {
            l.value().attr("rel").is_some_and(|r| {
                r.split_whitespace()
                    .any(|t| t.eq_ignore_ascii_case("canonical"))
            })
        })
        .and_then(|l| l.value().attr("href"))
    else {
        return fallback;
    };
    match base.join(href.trim()) {
        Ok(mut c)
            if matches!(c.scheme(), "http" | "https")
                && !c.as_str().contains(['\'', '"', '{', '}', ' '])
                && same_site(c.host_str().unwrap_or(""), url.host_str().unwrap_or("")) =>
        {
            c.set_fragment(None);
            c
        }
        _ => fallback,
    }
}

/// The most frequent ISO code the page declares for its prices.
fn declared_currency(doc: &Html, raw: &str) -> Option<Currency> {
    let mut counts: HashMap<Currency, usize> = HashMap::new();
    let mut add = |code: &str| {
        let code = code.trim();
        if code.len() == 3
            && let Some(c) = currency_to_iso(code, &Hints::default())
            && c.as_str().eq_ignore_ascii_case(code)
        {
            *counts.entry(c).or_default() += 1;
        }
    };
    for m in doc.select(&sel("meta[content]")) {
        let key = ["property", "name", "itemprop"]
            .iter()
            .filter_map(|a| m.value().attr(a))
            .map(str::to_ascii_lowercase)
            .next()
            .unwrap_or_default();
        if key.ends_with("price:currency") || key == "pricecurrency" || key == "currency" {
            add(m.value().attr("content").unwrap_or(""));
        }
    }
    for e in doc.select(&sel("[itemprop=priceCurrency]")) {
        let v = e.value();
        match v.attr("content") {
            Some(c) => add(c),
            None => add(&e.text().collect::<String>()),
        }
    }
    // JSON-LD and script-embedded state: `"priceCurrency": "EUR"`, `"currency":"USD"`.
    for key in ["\"priceCurrency\"", "\"currencyCode\""] {
        let mut rest = raw;
        while let Some(i) = rest.find(key) {
            rest = &rest[i + key.len()..];
            let tail: String = rest
                .chars()
                .skip_while(|c| c.is_whitespace() || *c == ':' || *c == '"')
                .take(3)
                .collect();
            add(&tail);
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(c, _)| c)
}

/// The `content` of the first `<meta ATTR=VALUE>` (`VALUE` in any case).
fn meta_content(doc: &Html, attr: &str, value: &str) -> Option<String> {
    doc.select(&sel(&format!("meta[{attr}]")))
        .find(|m| {
            m.value()
                .attr(attr)
                .is_some_and(|v| v.eq_ignore_ascii_case(value))
        })
        .and_then(|m| m.value().attr("content"))
        .map(str::to_string)
}

/// The page's locale without its declared currency (see [`Page::locale`]).
fn page_locale(doc: &Html, raw: &str, lang: Option<&str>, url: &Url, host: &str) -> Locale {
    let og_locale = meta_content(doc, "property", "og:locale");
    let content_language = meta_content(doc, "http-equiv", "content-language");
    let in_language = json_string_after(raw, "\"inLanguage\"");
    let tags: Vec<Locale> = [
        lang,
        og_locale.as_deref(),
        content_language.as_deref(),
        in_language.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(Locale::parse)
    .collect();
    let language = tags.iter().find_map(|l| l.language());
    // A region counts when written with the page's language: `lang="es"` with a theme's
    // default `og:locale="en_US"` says nothing about the United States.
    let tagged = tags
        .iter()
        .find(|l| l.region().is_some() && l.language() == language);
    let domain_region = Locale::from_domain(host).and_then(|d| d.region().map(str::to_string));
    let region = match (tagged, domain_region.as_deref()) {
        // An English template (`en-US` boilerplate) does not outweigh a country domain.
        (Some(t), Some(d)) if t.language() == Some("en") && t.region() != Some(d) => {
            Some(d.to_string())
        }
        (Some(t), _) => t.region().map(str::to_string),
        (None, d) => path_region(url).or(d.map(str::to_string)),
    };
    let mut locale = Locale::default();
    if let Some(l) = language {
        locale = locale.with_language(l);
    }
    if let Some(r) = region {
        locale = locale.with_region(&r);
    }
    locale
}

/// A region or locale in the URL path: `/us/`, `/en-us/`, `/en_gb/`, `/de-at/`.
fn path_region(url: &Url) -> Option<String> {
    for seg in url.path_segments()?.take(3) {
        let s = seg.to_ascii_lowercase();
        let locale = if s.len() == 5 && matches!(s.as_bytes()[2], b'-' | b'_') {
            Locale::parse(&s)
        } else if s.len() == 2 {
            Locale::from_region(&s)
        } else {
            None
        };
        if let Some(l) = locale.filter(|l| l.implied_currency().is_some())
            && let Some(r) = l.region()
        {
            return Some(r.to_string());
        }
    }
    None
}

/// The string value after the first `"key"` in raw page text (`"inLanguage": "es-CL"`).
fn json_string_after(raw: &str, key: &str) -> Option<String> {
    let i = raw.find(key)?;
    let rest = raw[i + key.len()..].trim_start().strip_prefix(':')?;
    let rest = rest.trim_start().strip_prefix('"')?;
    let value: String = rest.chars().take_while(|c| *c != '"').take(20).collect();
    Some(value).filter(|v| !v.trim().is_empty())
}

/// Words frequent in shop titles, English and not.
const ENGLISH_WORDS: &[&str] = &[
    "the", "and", "for", "with", "of", "to", "your", "our", "new", "buy", "free", "shipping",
    "shop", "online", "sale", "in",
];
#[rustfmt::skip]
const FOREIGN_WORDS: &[&str] = &[
    "de", "la", "el", "los", "las", "y", "para", "con", "del", "por", "le", "les", "des", "et",
    "pour", "avec", "und", "der", "das", "für", "mit", "da", "dos", "em", "il", "di", "och",
    "og", "med", "til", "dla", "comprar", "envío",
    "frete", "grátis", "oferta", "tienda", "loja", "kaufen", "acheter",
];

/// Whether a page without a declared language reads as not English: its title, description
/// and first heading use clearly more words of other languages than English ones.
fn looks_foreign(doc: &Html) -> bool {
    let mut text = String::new();
    for css in ["title", "h1"] {
        if let Some(e) = doc.select(&sel(css)).next() {
            text.extend(e.text());
            text.push(' ');
        }
    }
    if let Some(d) = meta_content(doc, "name", "description") {
        text.push_str(&d);
    }
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let count = |list: &[&str]| words.iter().filter(|w| list.contains(w)).count();
    let (english, foreign) = (count(ENGLISH_WORDS), count(FOREIGN_WORDS));
    foreign >= 2 && foreign > english
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str, url: &str) -> Page {
        Page::parse(html, &Url::parse(url).unwrap())
    }

    #[test]
    fn currency_evidence_from_markup_locale_and_domain() {
        let p = page(
            r#"<html lang="en"><head><meta property="og:price:currency" content="CAD"></head></html>"#,
            "https://shop.example.com/p/1",
        );
        assert_eq!(p.stated_currency().unwrap().as_str(), "CAD");
        assert_eq!(
            p.parse_price("$12.50", None).currency.unwrap().as_str(),
            "CAD"
        );

        let p = page(
            r#"<html lang="de-DE"><body></body></html>"#,
            "https://x.example/",
        );
        assert_eq!(p.stated_currency().unwrap().as_str(), "EUR");

        let p = page(
            "<html><body></body></html>",
            "https://shop.example.com/en-gb/p/1",
        );
        assert_eq!(p.stated_currency().unwrap().as_str(), "GBP");

        // `$` on an English .com page: USD; a bare number there has no stated currency.
        let p = page(
            r#"<html lang="en"><body></body></html>"#,
            "https://shop.com/p",
        );
        assert_eq!(p.stated_currency(), None);
        assert_eq!(
            p.parse_price("$5.00", None).currency.unwrap().as_str(),
            "USD"
        );
        assert_eq!(p.parse_price("5.00", None).currency, None);

        // `.ca` decides `$` without any markup.
        let p = page("<html><body></body></html>", "https://shop.ca/p");
        assert_eq!(
            p.parse_price("$5.00", None).currency.unwrap().as_str(),
            "CAD"
        );

        let p = page(
            r#"<html lang="de"><body></body></html>"#,
            "https://shop.de/p",
        );
        let price = p.parse_price("1.299,00 €", None);
        assert_eq!(price.amount.unwrap().to_string(), "1299.00");
        assert_eq!(price.currency.unwrap().as_str(), "EUR");
    }

    #[test]
    fn canonical_url_must_be_on_the_same_site() {
        let p = page(
            r#"<link rel="canonical" href="/p/1?x=1">"#,
            "https://www.shop.example/p/1?utm=2#top",
        );
        assert_eq!(
            p.canonical_url().as_str(),
            "https://www.shop.example/p/1?x=1"
        );
        let p = page(
            r#"<link rel="canonical" href="https://elsewhere.example/p/1">"#,
            "https://shop.example/p/1#x",
        );
        assert_eq!(p.canonical_url().as_str(), "https://shop.example/p/1");
    }

    #[test]
    fn locale_currency_reads_regions_and_languages() {
        assert_eq!(locale_currency("en-US").unwrap().as_str(), "USD");
        assert_eq!(locale_currency("de_AT").unwrap().as_str(), "EUR");
        assert_eq!(locale_currency("ja").unwrap().as_str(), "JPY");
        assert_eq!(locale_currency("en"), None);
        assert_eq!(locale_currency("de"), None);
    }
}
