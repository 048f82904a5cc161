//! When `--render auto` takes the browser: the evidence in an HTTP page that scripts build it,
//! the reason each rendered page was rendered (reported in `--stats`), and the memory of which
//! way works per site and page kind.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use haul_core::{Document, ExtractError, FetchError};
use regex::Regex;
use url::Url;

/// Why a page went to the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenderReason {
    /// `--render always`.
    Always,
    /// The site's extractor asks for the browser for this URL.
    Extractor,
    /// Over HTTP the page is an empty application root (`#app`, `#root`, `#__next`, ...).
    AppShell,
    /// Over HTTP the page gave nothing and shows a "please enable JavaScript" notice.
    Noscript,
    /// Over HTTP a product-looking page with script bundles gave no record.
    NoRecord,
    /// Over HTTP a page with script bundles gave neither records nor links.
    NothingFound,
    /// Pages of this site and kind have needed the browser: rendered without trying HTTP.
    Remembered,
}

impl RenderReason {
    /// The name used in reports (`render_reasons` in `--stats`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Extractor => "extractor",
            Self::AppShell => "app_shell",
            Self::Noscript => "noscript",
            Self::NoRecord => "no_record",
            Self::NothingFound => "nothing_found",
            Self::Remembered => "remembered",
        }
    }
}

/// An application root with nothing in it but a `<noscript>` notice, a short "Loading…" text
/// or an empty placeholder element.
static APP_SHELL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?is)(?:<app-root\b[^>]*>|<(?:div|main|section|body)\b[^>]*?(?:\bid\s*=\s*["']?(?:app|root|__next|__nuxt|___gatsby|svelte|main-app|react-root|spa-root)(?:["'\s/][^>]*)?>|(?:\bdata-reactroot\b|\bng-app\b|\bdata-v-app\b)[^>]*>))\s*(?:<noscript\b[^>]*>.*?</noscript>\s*)?(?:[^<]{0,40})?\s*(?:<(?:div|span)\b[^>]*>\s*[^<]{0,40}\s*</(?:div|span)>\s*)?</(?:div|main|section|body|app-root)>"#,
    )
    .expect("valid app-shell pattern")
});

/// A script loaded from a file (a bundle), as opposed to inline data.
static SCRIPT_BUNDLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)<script\b[^>]*\bsrc\s*="#).expect("valid script pattern"));

/// Any script element, inline or loaded.
static SCRIPT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<script\b").expect("valid script pattern"));

/// The start and end of `<noscript>` elements.
static NOSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)<noscript\b[^>]*>(.{0,600}?)</noscript>").expect("valid noscript pattern")
});

/// URL paths that name a single product or deal on common shop platforms.
static PRODUCT_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:/(?:p|pd|product|products|produkt|produit|producto|prodotto|item|items|itm|dp|gp/product|ip|sku|deal|deals|offer|artikel|article)/[^/]+|[-_/](?:p|pd|prod|item|sku|i)[-_.]?\d{3,}|/\d{5,}(?:\.html?)?/?$)",
    )
    .expect("valid product-path pattern")
});

/// Whether `url` (or the extractor's page kind) names a single product or deal.
pub(crate) fn product_like(url: &Url, kind: &str) -> bool {
    let kind = kind.to_ascii_lowercase();
    ["product", "item", "deal", "offer"]
        .iter()
        .any(|k| kind.contains(k))
        || PRODUCT_PATH.is_match(url.path())
}

/// The evidence in a page fetched over HTTP that gave no record: why it should be rendered,
/// or `None` when it looks complete as it is (a listing with links, a page without scripts).
pub(crate) fn script_evidence(
    doc: &Document,
    product_like: bool,
    found_links: bool,
) -> Option<RenderReason> {
    if doc.is_json() {
        return None;
    }
    let body = doc.body.as_str();
    if APP_SHELL.is_match(body) {
        return Some(RenderReason::AppShell);
    }
    let bundles = SCRIPT_BUNDLE.is_match(body);
    if !bundles && !SCRIPT.is_match(body) {
        return None;
    }
    // A listing that gave its links over HTTP is complete as it is.
    if !product_like && found_links {
        return None;
    }
    let notice = NOSCRIPT.captures_iter(body).any(|c| {
        let inner = c.get(1).map_or("", |m| m.as_str()).to_ascii_lowercase();
        inner.contains("javascript") && !inner.contains("<iframe") && !inner.contains("<img")
    });
    if notice {
        Some(RenderReason::Noscript)
    } else if product_like && bundles {
        Some(RenderReason::NoRecord)
    } else if !found_links {
        Some(RenderReason::NothingFound)
    } else {
        None
    }
}

/// A rendered page as an extraction input, or the same error a fetch of it would give when
/// the main document's status is not a success (so retries and reports treat both alike).
pub(crate) fn check_status(doc: Document) -> Result<Document, ExtractError> {
    if (200..300).contains(&doc.status) {
        return Ok(doc);
    }
    Err(ExtractError::Fetch(FetchError::Status {
        url: doc.requested.to_string(),
        status: doc.status,
        retry_after: doc
            .header("retry-after")
            .and_then(crate::fetch::retry_after_secs),
        body: None,
    }))
}

/// How pages of one site and page kind fared in `auto` mode.
#[derive(Debug, Default, Clone, Copy)]
struct KindTally {
    /// Pages that gave records over HTTP.
    http: u32,
    /// Pages that gave records only once rendered.
    rendered: u32,
    /// Pages of this kind decided so far.
    seen: u32,
}

/// Per (site, page kind): whether to render directly. A kind whose pages needed the browser
/// [`MIN_SAMPLES`] times and at least nine times as often as HTTP sufficed is rendered
/// directly; every [`RECHECK_EVERY`]th page of it still tries HTTP first, so a site that
/// starts serving its pages server-side is noticed. A plain mutex, never held across an
/// await.
#[derive(Debug, Default)]
pub(crate) struct RenderMemory {
    kinds: Mutex<HashMap<(&'static str, &'static str), KindTally>>,
}

impl KindTally {
    /// Whether pages of this kind consistently need the browser: at least [`MIN_SAMPLES`]
    /// did, and nine times as many as HTTP sufficed for.
    fn script_built(&self) -> bool {
        self.rendered >= MIN_SAMPLES && self.rendered >= 9 * self.http
    }
}

/// Pages that must have needed the browser before a kind is rendered directly.
const MIN_SAMPLES: u32 = 3;
/// One page in this many of a remembered kind is tried over HTTP first.
const RECHECK_EVERY: u32 = 16;
/// Counts are halved past this, so that old pages weigh less than new ones.
const WINDOW: u32 = 64;

impl RenderMemory {
    /// Whether the next page of `key` should skip the HTTP attempt.
    pub(crate) fn render_first(&self, key: (&'static str, &'static str)) -> bool {
        let mut kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
        let t = kinds.entry(key).or_default();
        t.seen = t.seen.wrapping_add(1);
        t.script_built() && !t.seen.is_multiple_of(RECHECK_EVERY)
    }

    /// Records how a page of `key` gave its records: over HTTP, or only rendered. Returns
    /// true when this made the kind one that is rendered directly.
    pub(crate) fn note(&self, key: (&'static str, &'static str), rendered: bool) -> bool {
        let mut kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
        let t = kinds.entry(key).or_default();
        let before = t.script_built();
        if rendered {
            t.rendered += 1;
        } else {
            t.http += 1;
        }
        if t.http + t.rendered > WINDOW {
            t.http /= 2;
            t.rendered /= 2;
        }
        !before && t.script_built()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(url: &str, body: &str) -> Document {
        Document::new(Url::parse(url).unwrap(), body)
    }

    const BUNDLE: &str = r#"<script src="/static/app.js" defer></script><link rel="stylesheet" href="/static/site.css">"#;

    #[test]
    fn app_shells_are_recognised_in_their_common_forms() {
        for root in [
            r#"<div id="app"></div>"#,
            r#"<div id="root"><noscript>You need to enable JavaScript to run this app.</noscript></div>"#,
            r#"<div id="__next">Loading…</div>"#,
            r#"<div id='app' class="shell"><div class="spinner"></div></div>"#,
            r#"<app-root></app-root>"#,
            r#"<div data-reactroot=""></div>"#,
            r#"<div id="app"><noscript>Bitte aktivieren Sie JavaScript.</noscript></div>"#,
        ] {
            let page = format!(
                "<html><head>{BUNDLE}</head><body><header><a href=/>Home</a></header>{root}<footer>(c) Shop</footer></body></html>"
            );
            assert_eq!(
                script_evidence(&doc("https://s.example/", &page), false, true),
                Some(RenderReason::AppShell),
                "{root}"
            );
        }
    }

    #[test]
    fn filled_roots_and_plain_listings_are_left_to_http() {
        let filled = format!(
            r#"<html><head>{BUNDLE}</head><body><div id="app"><h1>Red kettle</h1><p>A kettle that is red, with a long description.</p></div></body></html>"#
        );
        assert_eq!(
            script_evidence(&doc("https://s.example/c/kettles", &filled), false, true),
            None
        );
        // A listing with a JavaScript notice still gives its links over HTTP.
        let listing = format!(
            r#"<html><head>{BUNDLE}</head><body><noscript>Enable JavaScript for the best experience</noscript><ul><li><a href="/p/1">One</a></li></ul></body></html>"#
        );
        assert_eq!(
            script_evidence(&doc("https://s.example/c/kettles", &listing), false, true),
            None
        );
        // Google Tag Manager's noscript iframe is no notice.
        let gtm = r#"<html><body><script src="/a.js"></script><noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-X"></iframe></noscript></body></html>"#;
        assert_eq!(
            script_evidence(&doc("https://s.example/", gtm), false, true),
            None
        );
        // JSON is never script-built.
        let mut json = doc("https://s.example/products.json", r#"{"products":[]}"#);
        json.content_type = Some("application/json".into());
        assert_eq!(script_evidence(&json, true, false), None);
    }

    #[test]
    fn product_pages_without_records_but_with_bundles_are_rendered() {
        let url = Url::parse("https://s.example/p/red-kettle-123").unwrap();
        assert!(product_like(&url, "page"));
        let page = format!(
            r#"<html><head>{BUNDLE}</head><body><header><nav><a href="/">Home</a></nav></header><main class="pdp"><div class="pdp-mount"></div></main><footer>About us, shipping, returns.</footer></body></html>"#
        );
        assert_eq!(
            script_evidence(&doc(url.as_str(), &page), true, true),
            Some(RenderReason::NoRecord)
        );
        let notice = page.replace(
            "<main",
            "<noscript>Please enable JavaScript to view this page.</noscript><main",
        );
        assert_eq!(
            script_evidence(&doc(url.as_str(), &notice), true, true),
            Some(RenderReason::Noscript)
        );
        // Without any script there is nothing a browser would add.
        let plain = r#"<html><body><main>Sold out</main></body></html>"#;
        assert_eq!(script_evidence(&doc(url.as_str(), plain), true, true), None);
        // A page that gave nothing at all (no links either) with scripts.
        let bare = format!(
            r#"<html><head>{BUNDLE}</head><body><main class="x"><div class="mount"></div></main></body></html>"#
        );
        assert_eq!(
            script_evidence(&doc("https://s.example/about", &bare), false, false),
            Some(RenderReason::NothingFound)
        );
    }

    #[test]
    fn product_like_urls_and_kinds() {
        for u in [
            "https://s.example/product/kettle",
            "https://s.example/products/kettle",
            "https://s.example/dp/B00X1234",
            "https://s.example/kettle-p-12345",
            "https://s.example/shop/123456.html",
            "https://s.example/ip/kettle/12345",
        ] {
            assert!(product_like(&Url::parse(u).unwrap(), "page"), "{u}");
        }
        for u in [
            "https://s.example/",
            "https://s.example/category/kettles?page=2",
            "https://s.example/about-us",
        ] {
            assert!(!product_like(&Url::parse(u).unwrap(), "page"), "{u}");
        }
        assert!(product_like(
            &Url::parse("https://s.example/x").unwrap(),
            "deal"
        ));
    }

    #[test]
    fn memory_renders_a_kind_directly_only_when_it_consistently_needs_the_browser() {
        let m = RenderMemory::default();
        let key = ("shop", "page");
        // A mixed kind (a third script-built) is never rendered directly.
        for i in 0..30 {
            assert!(!m.render_first(key));
            m.note(key, i % 3 == 0);
        }
        let js = ("shop", "js");
        assert!(!m.note(js, true));
        assert!(!m.note(js, true));
        assert!(
            m.note(js, true),
            "the third script-built page makes it a rendered kind"
        );
        let direct = (0..32).filter(|_| m.render_first(js)).count();
        assert_eq!(direct, 30, "one page in 16 is re-checked over HTTP");
        // The re-check finds the pages server-side now: HTTP first again.
        m.note(js, false);
        assert!(!m.render_first(js));
    }

    #[test]
    fn a_rendered_error_page_is_the_same_error_as_over_http() {
        let mut d = doc("https://s.example/p/1", "<html>busy</html>");
        d.status = 503;
        d.headers.insert("retry-after".into(), "7".into());
        match check_status(d) {
            Err(ExtractError::Fetch(FetchError::Status {
                status,
                retry_after,
                ..
            })) => {
                assert_eq!((status, retry_after), (503, Some(7)));
            }
            other => panic!("expected a status error, got {other:?}"),
        }
    }
}
