//! HTML to Markdown of a page's main content, for the LLM path: site chrome (navigation,
//! header, footer, asides), scripts, styles, search and login forms, hidden elements and
//! recommendation blocks are dropped before the conversion with `htmd`; link targets are not
//! written, and the result is compacted (`compact.rs`).

use std::collections::HashSet;
use std::sync::LazyLock;

use ego_tree::NodeId;
use htmd::HtmlToMarkdown;
use htmd::element_handler::Handlers;
use scraper::{ElementRef, Html};

use crate::compact::{PRODUCT_MARKDOWN_CHARS, compact_markdown};
use crate::heuristic::{is_noise_block, main_title};
use crate::html::dom_depth;
use crate::page::Page;
use crate::text::{is_hidden, normalize_space};

static CONVERTER: LazyLock<HtmlToMarkdown> = LazyLock::new(|| {
    HtmlToMarkdown::builder()
        .skip_tags(vec![
            "head", "title", "style", "script", "noscript", "template", "svg", "iframe", "canvas",
            "video", "audio", "object", "embed", "button", "select", "input", "textarea", "dialog",
        ])
        // A link's target costs a model many tokens and tells it nothing about the product
        // on the page: only its text is written.
        .add_handler(
            vec!["a"],
            |handlers: &dyn Handlers, element: htmd::Element<'_>| {
                Some(handlers.walk_children(element.node))
            },
        )
        // Inline images (data: URIs) are long and say nothing to a language model.
        .add_handler(
            vec!["img"],
            |handlers: &dyn Handlers, element: htmd::Element<'_>| {
                let src = element
                    .attrs
                    .iter()
                    .find(|a| &*a.name.local == "src")
                    .map(|a| a.value.to_string())
                    .unwrap_or_default();
                if src.is_empty() || src.starts_with("data:") {
                    None
                } else {
                    handlers.fallback(element)
                }
            },
        )
        .build()
});

/// Markdown of the page's main content.
///
/// The content root is `<main>` (or `[role=main]`, `<article>`) when it holds the product
/// title, else `<body>`. Removed first: `nav`, `header`, `footer`, `aside` and `form`
/// elements that do not hold the title (a shop's add-to-cart form often wraps the product's
/// price and stays, a search or newsletter form goes), hidden elements, and blocks whose class
/// or id says they are about other products (related, recommended, carousels...). `htmd`
/// then skips `title`, `style`, `script` and the like, and writes links as their text only.
/// Last, the Markdown is compacted for the model: images but the main one, empty list items
/// and repeated paragraphs go, and at most [`PRODUCT_MARKDOWN_CHARS`] characters around the
/// title are kept.
pub fn page_markdown(page: &Page) -> String {
    let mut html: Html = page.html().clone();
    let main = main_title(page);
    let title = main.map(|t| t.id());
    let title_text = main.map(|t| normalize_space(&t.text().collect::<String>()));
    let title_chain: HashSet<NodeId> = title
        .and_then(|t| page.html().tree.get(t))
        .map(|n| {
            std::iter::once(n.id())
                .chain(n.ancestors().map(|a| a.id()))
                .collect()
        })
        .unwrap_or_default();
    let mut drop: Vec<NodeId> = Vec::new();
    for el in page
        .html()
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
    {
        if title_chain.contains(&el.id()) {
            continue;
        }
        let v = el.value();
        let chrome = matches!(v.name(), "nav" | "header" | "footer" | "aside");
        let side_form = v.name() == "form" && !keeps_form(el);
        if chrome || side_form || is_hidden(el) || is_noise_block(el) {
            drop.push(el.id());
        }
    }
    for id in drop {
        if let Some(mut n) = html.tree.get_mut(id) {
            n.detach();
        }
    }
    if dom_depth(&html) > MARKDOWN_MAX_DEPTH {
        // The converter walks the DOM recursively: a page nested this deep would overflow
        // the stack. Its text, line by line, is what such a page gets.
        return compact_markdown(
            &plain_text(&html),
            title_text.as_deref(),
            PRODUCT_MARKDOWN_CHARS,
        );
    }
    let root_html = content_root(&html, title).unwrap_or_else(|| html.root_element().html());
    let md = CONVERTER.convert(&root_html).unwrap_or_default();
    compact_markdown(
        &tidy_markdown(&md),
        title_text.as_deref(),
        PRODUCT_MARKDOWN_CHARS,
    )
}

/// Deepest nesting the Markdown converter is given.
const MARKDOWN_MAX_DEPTH: usize = 400;

/// The visible text nodes of a document, one per line, without recursion.
fn plain_text(html: &Html) -> String {
    let mut out = String::new();
    for node in html.tree.root().descendants() {
        let Some(text) = node.value().as_text() else {
            continue;
        };
        let hidden = node
            .ancestors()
            .filter_map(ElementRef::wrap)
            .any(|a| crate::text::INVISIBLE_TAGS.contains(&a.value().name()));
        let t = normalize_space(text);
        if !t.is_empty() && !hidden {
            out.push_str(&t);
            out.push('\n');
        }
    }
    out.trim().to_string()
}

/// Converts an HTML string (a whole page) to main-content Markdown; see [`page_markdown`].
pub fn html_to_markdown(html: &str, url: &haul_core::Url) -> String {
    page_markdown(&Page::parse(html, url))
}

/// Whether a form is the product's own (it holds a price or an add-to-cart button) rather
/// than a search, login or newsletter form.
fn keeps_form(form: ElementRef<'_>) -> bool {
    let side = form.descendants().filter_map(ElementRef::wrap).any(|e| {
        let v = e.value();
        v.name() == "input"
            && v.attr("type").is_some_and(|t| {
                matches!(
                    t.to_ascii_lowercase().as_str(),
                    "search" | "email" | "password"
                )
            })
    }) || form
        .value()
        .attr("role")
        .is_some_and(|r| r.eq_ignore_ascii_case("search"));
    if side {
        return false;
    }
    let text = normalize_space(&form.text().collect::<String>()).to_lowercase();
    text.contains("add to") || text.contains("buy") || text.bytes().any(|b| b.is_ascii_digit())
}

/// The HTML of the main content element that holds the title, if any.
fn content_root(html: &Html, title: Option<NodeId>) -> Option<String> {
    let title = title?;
    for sel in ["main", "[role=main]", "article"] {
        for el in html.select(&crate::text::sel(sel)) {
            if el.descendants().any(|d| d.id() == title) {
                return Some(el.html());
            }
        }
    }
    None
}

/// Collapses runs of blank lines and trailing spaces.
pub(crate) fn tidy_markdown(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut blank = 0;
    for line in md.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::Url;

    #[test]
    fn keeps_the_product_and_drops_chrome_and_noise() {
        let html = r#"<html><head><title>Alpine Tent | Shop</title><style>.x{}</style></head><body>
          <header><a href="/">Shop</a> <a href="/cart">Cart $0.00</a></header>
          <nav><a href="/tents">Tents</a></nav>
          <form role="search"><input type="search" name="q"></form>
          <main><h1>Alpine Tent</h1><p>A <b>light</b> tent.</p>
            <form action="/cart/add"><span class="price">$129.00</span><button>Add to cart</button></form>
            <div style="display:none">secret</div>
            <section class="related-products"><h2>You may also like</h2><p>Other tent $99.00</p></section>
          </main>
          <script>var price = 1;</script>
          <footer>Prices in USD</footer></body></html>"#;
        let md = html_to_markdown(html, &Url::parse("https://shop.example/p/1").unwrap());
        assert!(md.contains("# Alpine Tent"), "{md}");
        assert!(md.contains("A **light** tent."), "{md}");
        assert!(md.contains("$129.00"), "{md}");
        for gone in [
            "Cart",
            "Tents",
            "secret",
            "Other tent",
            "var price",
            "Prices in USD",
            "Add to cart",
        ] {
            assert!(!md.contains(gone), "{gone:?} in {md}");
        }
    }
}
