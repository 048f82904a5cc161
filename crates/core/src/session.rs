//! A site's session: its default request headers, its locale/currency pin and its cookie jar,
//! shared by the crawl's HTTP requests and the browser pages that render the site.
//!
//! [`SiteSession`] is the settings (a site crate's default from
//! [`Extractor::session`](crate::Extractor::session), overlaid by `[sites.NAME]` in
//! `haul.toml`); [`Session`] is one site's live state during a crawl: the settings resolved to
//! headers, pinned cookies and query parameters, plus a [`Cookie`] jar filled by the shop's
//! `Set-Cookie` headers (and a browser's cookies), persisted between runs by the runner.
//! Cookie values are never logged: `Debug` shows names only.

use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::Currency;

/// The Chrome User-Agent of the browser header set ([`BROWSER_HEADERS`]).
pub const BROWSER_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The headers a desktop Chrome sends with a top-level navigation, for sites that refuse
/// clients that do not look like a browser (`browser_headers = true`). `Accept-Language` is
/// added from the site's locale (default `en-US,en;q=0.9`).
pub const BROWSER_HEADERS: &[(&str, &str)] = &[
    ("User-Agent", BROWSER_USER_AGENT),
    (
        "Accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
    ),
    (
        "sec-ch-ua",
        "\"Google Chrome\";v=\"131\", \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"",
    ),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", "\"Linux\""),
    ("Sec-Fetch-Dest", "document"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-Site", "none"),
    ("Sec-Fetch-User", "?1"),
    ("Upgrade-Insecure-Requests", "1"),
];

/// The most cookies a site's jar holds; past it the oldest go (browsers keep 180 or so per
/// domain). A shop cannot grow a crawl's memory or its requests' `Cookie` header without end.
pub const MAX_JAR_COOKIES: usize = 200;

/// The largest cookie kept (name and value, in bytes), as in browsers.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// How a platform takes a currency pin when only `currency` is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CurrencyPin {
    /// Not known: the pin is only checked (records in another currency are flagged).
    #[default]
    Unknown,
    /// A cookie of this name holding the ISO code (Shopify's `cart_currency`).
    Cookie(&'static str),
    /// A query parameter of this name holding the ISO code (WooCommerce multi-currency
    /// plugins' `currency`).
    Query(&'static str),
    /// A request header of this name holding the ISO code.
    Header(&'static str),
}

/// How a platform takes a country pin from the locale's region, when it has one (Shopify's
/// `localization` cookie holds the country code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CountryPin {
    /// None.
    #[default]
    Unknown,
    /// A cookie of this name holding the region (`US`).
    Cookie(&'static str),
}

/// A site's session settings: what every request to it carries and which currency its
/// records must be in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteSession {
    /// Default request headers (name, value), e.g. `Accept-Language`.
    pub headers: Vec<(String, String)>,
    /// Cookies sent with every request to the site (pinned: a cookie of the same name the
    /// shop sets does not replace them).
    pub cookies: Vec<(String, String)>,
    /// Query parameters added to every HTTP request to the site (not to the URLs recorded).
    pub query: Vec<(String, String)>,
    /// The locale pinned (`en-US`): `Accept-Language` unless `headers` name one, and the
    /// country pin of the platform.
    pub locale: Option<String>,
    /// The currency pinned: sent the platform's way ([`currency_pin`](Self::currency_pin))
    /// and checked: a record in another currency is flagged.
    pub currency: Option<Currency>,
    /// How the platform takes the currency pin (set by the site crate).
    pub currency_pin: CurrencyPin,
    /// How the platform takes the country pin (set by the site crate).
    pub country_pin: CountryPin,
    /// Send a real browser's header set over HTTP ([`BROWSER_HEADERS`]).
    pub browser_headers: bool,
}

impl SiteSession {
    /// These settings with `over`'s on top: its headers, cookies and query parameters
    /// replace same-named ones, its locale, currency and `browser_headers` (when set) win;
    /// the pins' ways stay the site's.
    pub fn overlay(mut self, over: &SiteSession) -> Self {
        fn merge(into: &mut Vec<(String, String)>, from: &[(String, String)], ci: bool) {
            for (k, v) in from {
                into.retain(|(n, _)| {
                    if ci {
                        !n.eq_ignore_ascii_case(k)
                    } else {
                        n != k
                    }
                });
                into.push((k.clone(), v.clone()));
            }
        }
        merge(&mut self.headers, &over.headers, true);
        merge(&mut self.cookies, &over.cookies, false);
        merge(&mut self.query, &over.query, false);
        if over.locale.is_some() {
            self.locale.clone_from(&over.locale);
        }
        if over.currency.is_some() {
            self.currency = over.currency;
        }
        self.browser_headers |= over.browser_headers;
        self
    }

    /// Whether nothing is configured (no header, cookie, query, pin or browser headers).
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
            && self.cookies.is_empty()
            && self.query.is_empty()
            && self.locale.is_none()
            && self.currency.is_none()
            && !self.browser_headers
    }
}

/// One cookie of a jar, as a shop set it (or a browser reported it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cookie {
    /// Name.
    pub name: String,
    /// Value (never logged).
    pub value: String,
    /// The host it is sent to (without a leading dot).
    pub domain: String,
    /// Sent to `domain` only (no `Domain` attribute), not to its subdomains.
    #[serde(default)]
    pub host_only: bool,
    /// Path prefix.
    pub path: String,
    /// Sent over https only.
    #[serde(default)]
    pub secure: bool,
    /// Not readable by scripts.
    #[serde(default)]
    pub http_only: bool,
    /// Expiry in seconds since the Unix epoch; `None`: a session cookie (kept for the whole
    /// crawl, and by `--state` across runs).
    #[serde(default)]
    pub expires: Option<i64>,
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cookie")
            .field("name", &self.name)
            .field("domain", &self.domain)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Cookie {
    /// Parses a `Set-Cookie` header value received from `url`; `None` when it is unusable
    /// or its `Domain` is not `url`'s host or a parent of it.
    pub fn parse(set_cookie: &str, url: &Url) -> Option<Self> {
        let host = url.host_str()?.to_ascii_lowercase();
        let mut parts = set_cookie.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let mut c = Cookie {
            name: name.to_string(),
            value: value.trim().trim_matches('"').to_string(),
            domain: host.clone(),
            host_only: true,
            path: default_path(url),
            secure: false,
            http_only: false,
            expires: None,
        };
        let now = chrono::Utc::now().timestamp();
        let mut max_age = None;
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "domain" if !v.is_empty() => {
                    let d = v.trim_start_matches('.').to_ascii_lowercase();
                    if host != d && !host.ends_with(&format!(".{d}")) {
                        return None;
                    }
                    c.domain = d;
                    c.host_only = false;
                }
                "path" if v.starts_with('/') => c.path = v.to_string(),
                "secure" => c.secure = true,
                "httponly" => c.http_only = true,
                "max-age" => max_age = v.parse::<i64>().ok(),
                "expires" => {
                    if let Ok(t) = chrono::DateTime::parse_from_rfc2822(v)
                        .or_else(|_| chrono::DateTime::parse_from_rfc2822(&v.replace('-', " ")))
                    {
                        c.expires = Some(t.timestamp());
                    }
                }
                _ => {}
            }
        }
        if let Some(secs) = max_age {
            c.expires = Some(now.saturating_add(secs));
        }
        Some(c)
    }

    /// Whether the cookie is past its expiry.
    pub fn expired(&self, now: i64) -> bool {
        self.expires.is_some_and(|t| t <= now)
    }

    /// Whether the cookie goes with a request to `url`.
    pub fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let domain_ok = if self.host_only {
            host == self.domain
        } else {
            host == self.domain || host.ends_with(&format!(".{}", self.domain))
        };
        let path = url.path();
        let path_ok = path == self.path
            || (path.starts_with(&self.path)
                && (self.path.ends_with('/') || path[self.path.len()..].starts_with('/')));
        domain_ok && path_ok && (!self.secure || url.scheme() == "https")
    }
}

/// The default cookie path of a response's URL (RFC 6265 5.1.4).
fn default_path(url: &Url) -> String {
    let path = url.path();
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].into(),
    }
}

/// One site's live session in a crawl: resolved headers, pinned cookies and query
/// parameters, the pinned currency and the site's cookie jar. Shared (`Arc`) by every
/// request and render of the site; the jar's lock is never held across an `.await`.
pub struct Session {
    site: String,
    headers: Vec<(String, String)>,
    pinned: Vec<(String, String)>,
    query: Vec<(String, String)>,
    currency: Option<Currency>,
    browser_headers: bool,
    /// Where the headers, pinned cookies and query parameters go (`None`: anywhere).
    scope: Option<crate::Scope>,
    jar: Mutex<Jar>,
}

#[derive(Default)]
struct Jar {
    cookies: Vec<Cookie>,
    changed: bool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.cookies().into_iter().map(|c| c.name).collect();
        f.debug_struct("Session")
            .field("site", &self.site)
            .field(
                "headers",
                &self.headers.iter().map(|h| &h.0).collect::<Vec<_>>(),
            )
            .field(
                "pinned",
                &self.pinned.iter().map(|c| &c.0).collect::<Vec<_>>(),
            )
            .field("currency", &self.currency)
            .field("cookies", &names)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The live session of `site` from its settings: the browser header set (when asked),
    /// then the locale's `Accept-Language`, then the configured headers; the configured
    /// cookies and query parameters plus the platform's currency and country pins.
    pub fn new(site: &str, s: &SiteSession) -> Self {
        let mut headers: Vec<(String, String)> = Vec::new();
        let set = |k: &str, v: String, headers: &mut Vec<(String, String)>| {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
            headers.push((k.to_string(), v));
        };
        if s.browser_headers {
            for (k, v) in BROWSER_HEADERS {
                set(k, (*v).to_string(), &mut headers);
            }
            set("Accept-Language", "en-US,en;q=0.9".into(), &mut headers);
        }
        if let Some(locale) = &s.locale {
            set("Accept-Language", accept_language(locale), &mut headers);
        }
        for (k, v) in &s.headers {
            set(k, v.clone(), &mut headers);
        }
        let mut pinned = s.cookies.clone();
        let mut query = s.query.clone();
        let absent = |list: &[(String, String)], name: &str| !list.iter().any(|(n, _)| n == name);
        if let Some(cur) = s.currency {
            let code = cur.as_str().to_string();
            match s.currency_pin {
                CurrencyPin::Cookie(n) if absent(&pinned, n) => pinned.push((n.into(), code)),
                CurrencyPin::Query(n) if absent(&query, n) => query.push((n.into(), code)),
                CurrencyPin::Header(n) if absent(&headers, n) => set(n, code, &mut headers),
                _ => {}
            }
        }
        if let (CountryPin::Cookie(n), Some(region)) =
            (s.country_pin, s.locale.as_deref().and_then(region_of))
            && absent(&pinned, n)
        {
            pinned.push((n.into(), region));
        }
        Self {
            site: site.to_string(),
            headers,
            pinned,
            query,
            currency: s.currency,
            browser_headers: s.browser_headers,
            scope: None,
            jar: Mutex::new(Jar::default()),
        }
    }

    /// The session kept to `scope`: requests elsewhere (an extractor's call to another
    /// host) carry none of its headers, pinned cookies or query parameters, and what they
    /// set is not kept.
    pub fn within(mut self, scope: crate::Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Whether a request to `url` is the site's: within its scope, if it has one.
    pub fn applies_to(&self, url: &Url) -> bool {
        self.scope.as_ref().is_none_or(|s| s.contains(url))
    }

    /// The site's name.
    pub fn site(&self) -> &str {
        &self.site
    }

    /// The headers every request to the site carries (the request's own win).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The site's `Accept-Language` (configured, from its locale, or the browser header
    /// set's), which rendered pages send too.
    pub fn accept_language(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("accept-language"))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the browser header set is sent over HTTP.
    pub fn browser_headers(&self) -> bool {
        self.browser_headers
    }

    /// The currency the site's records must be in, when pinned.
    pub fn currency(&self) -> Option<Currency> {
        self.currency
    }

    /// The pinned cookies (name, value), sent with every request to the site.
    pub fn pinned_cookies(&self) -> &[(String, String)] {
        &self.pinned
    }

    /// `url` with the pinned query parameters added (those it does not already have).
    pub fn with_query(&self, url: &Url) -> Url {
        let mut u = url.clone();
        let missing: Vec<&(String, String)> = self
            .query
            .iter()
            .filter(|(k, _)| !url.query_pairs().any(|(n, _)| n == k.as_str()))
            .collect();
        if !missing.is_empty() {
            u.query_pairs_mut().extend_pairs(missing);
        }
        u
    }

    /// The `Cookie` header for a request to `url`: the pinned cookies, then the jar's that
    /// match (longest path first), none of a pinned name; `None` when there are none.
    pub fn cookie_header(&self, url: &Url) -> Option<String> {
        let now = chrono::Utc::now().timestamp();
        let mut jar: Vec<Cookie> = self
            .lock()
            .cookies
            .iter()
            .filter(|c| !c.expired(now) && c.matches(url))
            .filter(|c| !self.pinned.iter().any(|(n, _)| *n == c.name))
            .cloned()
            .collect();
        jar.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let pairs: Vec<String> = self
            .pinned
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .chain(jar.iter().map(|c| format!("{}={}", c.name, c.value)))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Keeps the cookies of `Set-Cookie` header values received from `url`.
    pub fn store_set_cookies<'a>(&self, url: &Url, values: impl IntoIterator<Item = &'a str>) {
        let cookies: Vec<Cookie> = values
            .into_iter()
            .filter_map(|v| Cookie::parse(v, url))
            .collect();
        self.absorb(cookies);
    }

    /// Puts `cookies` in the jar, each replacing the one of the same name, domain and path;
    /// an expired one removes it. Unchanged cookies do not mark the jar changed.
    pub fn absorb(&self, cookies: impl IntoIterator<Item = Cookie>) {
        let now = chrono::Utc::now().timestamp();
        let mut jar = self.lock();
        for c in cookies {
            if c.name.len() + c.value.len() > MAX_COOKIE_BYTES {
                continue;
            }
            let same = |o: &Cookie| o.name == c.name && o.domain == c.domain && o.path == c.path;
            if let Some(i) = jar.cookies.iter().position(same) {
                if jar.cookies[i] == c {
                    continue;
                }
                jar.cookies.remove(i);
            } else if c.expired(now) {
                continue;
            }
            jar.changed = true;
            if !c.expired(now) {
                jar.cookies.push(c);
            }
        }
        let over = jar.cookies.len().saturating_sub(MAX_JAR_COOKIES);
        jar.cookies.drain(..over);
    }

    /// Every cookie of the jar (not the pinned ones), expired ones left out.
    pub fn cookies(&self) -> Vec<Cookie> {
        let now = chrono::Utc::now().timestamp();
        let jar = self.lock();
        jar.cookies
            .iter()
            .filter(|c| !c.expired(now))
            .cloned()
            .collect()
    }

    /// The jar's cookies for a browser navigation to `url`: those that match it plus the
    /// pinned ones (as host cookies of `url`'s host, path `/`).
    pub fn cookies_for(&self, url: &Url) -> Vec<Cookie> {
        let mut out: Vec<Cookie> = self
            .cookies()
            .into_iter()
            .filter(|c| c.matches(url))
            .collect();
        out.retain(|c| !self.pinned.iter().any(|(n, _)| *n == c.name));
        if let Some(host) = url.host_str() {
            for (name, value) in &self.pinned {
                out.push(Cookie {
                    name: name.clone(),
                    value: value.clone(),
                    domain: host.to_ascii_lowercase(),
                    host_only: true,
                    path: "/".into(),
                    secure: false,
                    http_only: false,
                    expires: None,
                });
            }
        }
        out
    }

    /// Whether the jar changed since the last call (and clears the mark): the runner saves
    /// a changed jar to the crawl's state.
    pub fn take_changed(&self) -> bool {
        std::mem::take(&mut self.lock().changed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Jar> {
        self.jar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `Accept-Language` for a locale: `de-CH` gives `de-CH,de;q=0.9`.
fn accept_language(locale: &str) -> String {
    let tag = locale.replace('_', "-");
    match tag.split_once('-') {
        Some((lang, _)) => format!("{tag},{lang};q=0.9"),
        None => tag,
    }
}

/// The region of a locale (`en-US` gives `US`), when it has one.
fn region_of(locale: &str) -> Option<String> {
    let region = locale
        .replace('_', "-")
        .split('-')
        .nth(1)?
        .to_ascii_uppercase();
    (region.len() == 2 && region.chars().all(|c| c.is_ascii_alphabetic())).then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn set_cookies_are_kept_and_sent_by_domain_path_and_expiry() {
        let s = Session::new("acme", &SiteSession::default());
        let from = u("http://shop.example/cart/add");
        s.store_set_cookies(
            &from,
            [
                "sid=abc; Path=/; HttpOnly",
                "cart=1",
                "wide=w; Domain=.shop.example; Path=/",
                "old=x; Max-Age=0",
                "evil=1; Domain=other.example",
            ],
        );
        assert!(s.take_changed());
        assert!(!s.take_changed());
        assert_eq!(
            s.cookie_header(&u("http://shop.example/cart/x")).as_deref(),
            Some("cart=1; sid=abc; wide=w")
        );
        assert_eq!(
            s.cookie_header(&u("http://www.shop.example/")).as_deref(),
            Some("wide=w")
        );
        assert_eq!(s.cookie_header(&u("http://other.example/")), None);
        s.store_set_cookies(&from, ["sid=abc; Path=/; HttpOnly"]);
        assert!(!s.take_changed(), "the same cookie again changes nothing");
        s.store_set_cookies(
            &from,
            ["sid=gone; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"],
        );
        assert!(s.take_changed());
        assert!(
            !s.cookie_header(&u("http://shop.example/"))
                .unwrap()
                .contains("sid")
        );
        assert!(!format!("{s:?}").contains("abc"), "values are not shown");
    }

    #[test]
    fn a_shop_cannot_grow_the_jar_without_end() {
        let s = Session::new("acme", &SiteSession::default());
        let url = u("http://shop.example/");
        let big = format!("big={}", "x".repeat(MAX_COOKIE_BYTES));
        s.store_set_cookies(&url, [big.as_str()]);
        assert!(s.cookies().is_empty());
        let many: Vec<String> = (0..MAX_JAR_COOKIES + 50)
            .map(|i| format!("c{i}=1"))
            .collect();
        s.store_set_cookies(&url, many.iter().map(String::as_str));
        let kept = s.cookies();
        assert_eq!(kept.len(), MAX_JAR_COOKIES);
        assert_eq!(kept[0].name, "c50", "the oldest went first");
    }

    #[test]
    fn settings_resolve_to_pins_and_headers() {
        let site = SiteSession {
            currency_pin: CurrencyPin::Cookie("cart_currency"),
            country_pin: CountryPin::Cookie("localization"),
            ..SiteSession::default()
        };
        let config = SiteSession {
            locale: Some("en_US".into()),
            currency: Some(Currency::new("usd").unwrap()),
            headers: vec![("X-Test".into(), "1".into())],
            cookies: vec![("a".into(), "b".into())],
            browser_headers: true,
            ..SiteSession::default()
        };
        let s = Session::new("shopify", &site.overlay(&config));
        assert_eq!(
            s.cookie_header(&u("http://x.example/")).as_deref(),
            Some("a=b; cart_currency=USD; localization=US")
        );
        let h = |n: &str| {
            s.headers()
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(h("accept-language").as_deref(), Some("en-US,en;q=0.9"));
        assert_eq!(h("user-agent").as_deref(), Some(BROWSER_USER_AGENT));
        assert!(h("sec-ch-ua").is_some());
        assert_eq!(h("x-test").as_deref(), Some("1"));
        // A shop's cookie of a pinned name does not replace the pin.
        s.store_set_cookies(&u("http://x.example/"), ["cart_currency=EUR"]);
        assert!(
            s.cookie_header(&u("http://x.example/"))
                .unwrap()
                .contains("cart_currency=USD")
        );
        assert!(
            !s.cookie_header(&u("http://x.example/"))
                .unwrap()
                .contains("EUR")
        );

        let woo = SiteSession {
            currency_pin: CurrencyPin::Query("currency"),
            currency: Some(Currency::new("USD").unwrap()),
            ..SiteSession::default()
        };
        let s = Session::new("woocommerce", &woo);
        assert_eq!(
            s.with_query(&u("http://x.example/wp-json/wc/store/products?page=2"))
                .as_str(),
            "http://x.example/wp-json/wc/store/products?page=2&currency=USD"
        );
    }
}
