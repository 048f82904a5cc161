//! Links worth following from a page: same-site anchors, without account, cart, checkout,
//! help and legal pages, fragments, scripts and static files.

use haul_core::Url;

use crate::page::Page;
use crate::text::sel;

/// Path words of pages that never hold products.
#[rustfmt::skip]
const SKIP_WORDS: &[&str] = &[
    "login", "logout", "log-in", "log-out", "signin", "sign-in", "signup", "sign-up", "register",
    "account", "myaccount", "my-account", "cart", "basket", "checkout", "wishlist", "password",
    "help", "privacy", "terms", "cookie", "cookies", "contact", "customer-service", "auth",
    "returns", "careers", "legal",
];

/// File extensions of resources that are not pages.
const SKIP_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "svg", "ico", "pdf", "zip", "css", "js", "json", "xml",
    "mp4", "mp3", "webm", "avi", "woff", "woff2", "ttf", "txt", "csv", "gz", "exe", "dmg",
];

fn same_site(a: &Url, b: &Url) -> bool {
    let strip = |u: &Url| {
        u.host_str()
            .map(|h| h.trim_start_matches("www.").to_ascii_lowercase())
    };
    strip(a).is_some() && strip(a) == strip(b)
}

/// Whether a URL obviously leads to a page without products (account, cart, help, a file).
pub fn is_non_product_link(url: &Url) -> bool {
    let path = url.path().to_ascii_lowercase();
    let skip_word = path
        .split(['/', '.', '_'])
        .filter(|s| !s.is_empty())
        .any(|seg| SKIP_WORDS.contains(&seg));
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|last| last.rsplit_once('.'))
        .map(|(_, e)| e);
    skip_word || ext.is_some_and(|e| SKIP_EXTENSIONS.contains(&e))
}

/// Absolute same-site links of the page (host equal up to a leading `www.`), fragments
/// removed, in document order without repeats, skipping `#...`, `javascript:`, `mailto:`,
/// The most links taken from one page (in document order). Real listings link a few hundred
/// pages; a page with a million links would otherwise queue a million URLs.
pub const MAX_LINKS: usize = 20_000;

/// Absolute same-site links of the page (host equal up to a leading `www.`), fragments
/// removed, in document order without repeats, at most [`MAX_LINKS`], skipping `#...`,
/// `javascript:`, `mailto:`, `tel:`, the page itself and
/// [non-product links](is_non_product_link).
pub fn page_links(page: &Page) -> Vec<Url> {
    let base = page.url();
    let mut out: Vec<Url> = Vec::new();
    let mut seen: std::collections::HashSet<Url> = std::collections::HashSet::new();
    for (i, a) in page.html().select(&sel("a[href]")).enumerate() {
        if out.len() >= MAX_LINKS || (i % 1024 == 1023 && crate::budget::stop()) {
            break;
        }
        let href = a.value().attr("href").unwrap_or("").trim();
        if href.is_empty() || href.starts_with('#') {
            continue;
        }
        let lower = href.to_ascii_lowercase();
        if ["javascript:", "mailto:", "tel:", "data:", "sms:"]
            .iter()
            .any(|p| lower.starts_with(p))
        {
            continue;
        }
        let Ok(mut u) = page.base_url().join(href) else {
            continue;
        };
        u.set_fragment(None);
        if !matches!(u.scheme(), "http" | "https") || !same_site(&u, base) {
            continue;
        }
        if is_non_product_link(&u) || u == *page.canonical_url() || u.as_str() == base.as_str() {
            continue;
        }
        if seen.insert(u.clone()) {
            out.push(u);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_same_site_pages_and_skips_the_rest() {
        let html = r##"<a href="/p/tent">Tent</a> <a href="https://www.shop.example/p/stove#reviews">Stove</a>
            <a href="/p/tent">again</a> <a href="#top">top</a> <a href="javascript:void(0)">x</a>
            <a href="mailto:a@b.c">mail</a> <a href="/cart">Cart</a> <a href="/account/login">in</a>
            <a href="/img/a.jpg">img</a> <a href="https://other.example/p/1">other</a>
            <a href="/category/tents?page=2">next</a> <a href="/p/self">self</a>"##;
        let url = Url::parse("https://shop.example/p/self").unwrap();
        let page = Page::parse(html, &url);
        let links: Vec<String> = page_links(&page).iter().map(Url::to_string).collect();
        assert_eq!(
            links,
            [
                "https://shop.example/p/tent",
                "https://www.shop.example/p/stove",
                "https://shop.example/category/tents?page=2"
            ]
        );
    }

    #[test]
    fn relative_links_resolve_against_the_base_href() {
        // A Magento-style page: `<base href>` at the shop's root, relative product links and
        // canonical, on a deep category page.
        let html = r#"<html><head><base href="https://shop.example/"><link rel="canonical" href="c/tents.html">
            <noscript><base href="/nojs/"></noscript></head>
            <body><a href="p/tent.html">Tent</a> <a href="./p/stove.html">Stove</a></body></html>"#;
        let url = Url::parse("https://shop.example/c/tents.html?p=2").unwrap();
        let page = Page::parse(html, &url);
        let links: Vec<String> = page_links(&page).iter().map(Url::to_string).collect();
        assert_eq!(
            links,
            [
                "https://shop.example/p/tent.html",
                "https://shop.example/p/stove.html"
            ]
        );
        assert_eq!(
            page.canonical_url().as_str(),
            "https://shop.example/c/tents.html"
        );
        assert_eq!(page.url().as_str(), url.as_str());
        assert_eq!(
            page.resolve("img/t.jpg").as_deref(),
            Some("https://shop.example/img/t.jpg")
        );
    }
}
