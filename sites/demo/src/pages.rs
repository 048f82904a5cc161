//! The demo shop's pages, rendered from the catalogue: a pure function from path to response.
//!
//! Kept free of any HTTP server so that the extractor tests, the test servers in
//! `haul-testkit` and `haul serve demo` all serve exactly the same bytes.

use std::fmt::Write as _;

use crate::catalog::{CATALOG, CATEGORIES, DemoProduct, Markup, PAGE_SIZE};

/// One HTTP response of the demo shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Content-Type header.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

fn html(body: String) -> Response {
    Response {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body,
    }
}

/// The response for `path` (query strings are ignored), or a 404 page.
pub fn respond(path: &str) -> Response {
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let found = match segments.as_slice() {
        [""] => Some(html(home())),
        ["robots.txt"] => Some(Response {
            status: 200,
            content_type: "text/plain",
            body: "User-agent: *\nDisallow: /cart\nDisallow: /account\n".into(),
        }),
        ["category", slug] => category(slug, 1).map(html),
        ["category", slug, "page", n] => n
            .parse()
            .ok()
            .and_then(|n: usize| category(slug, n))
            .map(html),
        ["product", slug] => CATALOG
            .iter()
            .find(|p| p.slug == *slug)
            .map(|p| html(product(p))),
        // The same shop written by scripts (for browser tests): the server sends an empty
        // shell and the page builds its content from inline JSON after load.
        ["js", "product", slug] => CATALOG
            .iter()
            .find(|p| p.slug == *slug)
            .map(|p| html(script_built(&product_main(p), p.title))),
        ["mixed"] => Some(html(mixed())),
        ["js"] => Some(html(js_listing())),
        _ => None,
    };
    found.unwrap_or_else(|| Response {
        status: 404,
        content_type: "text/html; charset=utf-8",
        body: layout("Not found", "<h1>Page not found</h1>"),
    })
}

fn layout(title: &str, main: &str) -> String {
    let mut nav = String::new();
    for (slug, name) in CATEGORIES {
        let _ = write!(nav, r#"<li><a href="/category/{slug}">{name}</a></li>"#);
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Demo Outfitters</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/shop.css"></head>
<body>
<header class="site-header"><a class="logo" href="/">Demo Outfitters</a>
<nav class="main-nav"><ul>{nav}</ul></nav>
<div class="promo-banner">Free shipping on orders over $50.00 &middot; Gift cards from $10</div>
<a class="cart" href="/cart">Cart (0) $0.00</a></header>
<main id="content">
{main}
</main>
<footer class="site-footer"><p>&copy; 2026 Demo Outfitters. Prices in USD.</p>
<a href="/account">My account</a> <a href="https://social.example/demo">Follow us</a></footer>
</body></html>
"#
    )
}

fn home() -> String {
    let mut main = String::from(r#"<h1>Welcome to Demo Outfitters</h1><ul class="category-list">"#);
    for (slug, name) in CATEGORIES {
        let _ = write!(main, r#"<li><a href="/category/{slug}">{name}</a></li>"#);
    }
    main.push_str("</ul>");
    layout("Home", &main)
}

fn products_in(category: &str) -> Vec<&'static DemoProduct> {
    CATALOG.iter().filter(|p| p.category == category).collect()
}

fn category(slug: &str, page: usize) -> Option<String> {
    let name = CATEGORIES.iter().find(|(s, _)| *s == slug)?.1;
    let all = products_in(slug);
    let pages = all.len().div_ceil(PAGE_SIZE);
    if page == 0 || page > pages {
        return None;
    }
    let mut main = format!(r#"<h1>{name}</h1><ul class="product-grid">"#);
    for p in all.iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE) {
        let _ = write!(
            main,
            r#"<li class="product-card"><a href="/product/{}#reviews">{}</a> <span class="card-price">${}</span></li>"#,
            p.slug, p.title, p.price
        );
    }
    main.push_str(r#"</ul><nav class="pagination">"#);
    for n in 1..=pages {
        if n == page {
            let _ = write!(main, r#"<span class="current">{n}</span>"#);
        } else if n == 1 {
            // Page 1 is linked with a tracking parameter, as real shops do.
            let _ = write!(
                main,
                r#"<a href="/category/{slug}?utm_source=pager">{n}</a>"#
            );
        } else {
            let _ = write!(main, r#"<a href="/category/{slug}/page/{n}">{n}</a>"#);
        }
    }
    main.push_str("</nav>");
    Some(layout(name, &main))
}

/// A listing linking every product twice: the even ones as static pages, the odd ones as
/// script-built pages (`/js/product/...`), so a crawl from here needs the browser for half.
fn mixed() -> String {
    let mut main = String::from(r#"<h1>All products</h1><ul class="product-grid">"#);
    for (i, p) in CATALOG.iter().enumerate() {
        let prefix = if i % 2 == 0 { "" } else { "/js" };
        let _ = write!(
            main,
            r#"<li class="product-card"><a href="{prefix}/product/{}">{}</a></li>"#,
            p.slug, p.title
        );
    }
    main.push_str("</ul>");
    layout("All products", &main)
}

/// A static listing of every product's script-built page.
fn js_listing() -> String {
    let mut main = String::from(r#"<h1>All products</h1><ul class="product-grid">"#);
    for p in CATALOG {
        let _ = write!(
            main,
            r#"<li><a href="/js/product/{}">{}</a></li>"#,
            p.slug, p.title
        );
    }
    main.push_str("</ul>");
    layout("All products", &main)
}

/// An empty shell whose script writes `main` into the page after load and then marks it
/// with `<span class="rendered">` (what the extractor waits for).
fn script_built(main: &str, title: &str) -> String {
    let json = serde_json::to_string(main)
        .unwrap_or_default()
        .replace("</", "<\\/");
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Demo Outfitters</title></head>
<body><div id="app"></div>
<script>
window.addEventListener('load', function () {{
  setTimeout(function () {{
    document.getElementById('app').innerHTML = {json} + '<footer>Prices in USD</footer><span class="rendered"></span>';
  }}, 20);
}});
</script></body></html>
"#
    )
}

/// The main product block in the shop's plain markup.
fn product_main(p: &DemoProduct) -> String {
    let (_, avail_text) = availability(p);
    let was = was_price(p);
    format!(
        r#"<div class="product-main"><h1 class="product-title">{t}</h1>
<p class="brand">by {b}</p><p class="sku">SKU: {sku}</p>
<div class="price-box"><span class="price-now">${pr}</span>{was}</div>
<p class="stock">{avail_text}</p></div>"#,
        t = p.title,
        b = p.brand,
        sku = p.sku,
        pr = p.price
    )
}

/// The struck-through "was" price, when the product has a list price.
fn was_price(p: &DemoProduct) -> String {
    p.list_price
        .map(|l| format!(r#" <s class="price-was">Was ${l}</s>"#))
        .unwrap_or_default()
}

fn availability(p: &DemoProduct) -> (&'static str, &'static str) {
    if p.in_stock {
        ("https://schema.org/InStock", "In stock")
    } else {
        ("https://schema.org/OutOfStock", "Sold out")
    }
}

fn related(p: &DemoProduct) -> String {
    let mut out =
        String::from(r#"<section class="related-products"><h2>Customers also bought</h2><ul>"#);
    for r in CATALOG
        .iter()
        .filter(|r| r.category == p.category && r.slug != p.slug)
        .take(3)
    {
        let _ = write!(
            out,
            r#"<li><a href="/product/{}">{}</a> <span class="price">${}</span></li>"#,
            r.slug, r.title, r.price
        );
    }
    out.push_str("</ul></section>");
    out
}

fn product(p: &DemoProduct) -> String {
    let (schema_avail, avail_text) = availability(p);
    let was = was_price(p);
    let crumbs = format!(
        r#"<nav class="breadcrumbs"><a href="/">Home</a> / <a href="/category/{}">{}</a></nav>"#,
        p.category, p.category
    );
    let main = match p.markup {
        Markup::JsonLd => {
            let ld = serde_json::json!({
                "@context": "https://schema.org",
                "@type": "Product",
                "name": p.title,
                "sku": p.sku,
                "brand": {"@type": "Brand", "name": p.brand},
                "image": format!("/static/img/{}.jpg", p.slug),
                "offers": {
                    "@type": "Offer",
                    "price": p.price_decimal(),
                    "priceCurrency": "USD",
                    "availability": schema_avail,
                }
            });
            format!(
                r#"{crumbs}<script type="application/ld+json">{ld}</script>
<div class="product-main"><h1 class="product-title">{t}</h1>
<p class="brand">by {b}</p><div class="price-box"><span class="price-now">${pr}</span>{was}</div>
<p class="stock">{avail_text}</p><button>Add to cart</button></div>
{rel}"#,
                t = p.title,
                b = p.brand,
                pr = p.price,
                rel = related(p)
            )
        }
        Markup::Microdata => format!(
            r#"{crumbs}<div class="product-main" itemscope itemtype="https://schema.org/Product">
<h1 itemprop="name">{t}</h1><meta itemprop="sku" content="{sku}">
<p>by <span itemprop="brand">{b}</span></p>
<img itemprop="image" src="/static/img/{slug}.jpg" alt="{t}">
<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
<meta itemprop="priceCurrency" content="USD">
<span class="price-now">$<span itemprop="price" content="{pd}">{pr}</span></span>{was}
<link itemprop="availability" href="{schema_avail}"><p class="stock">{avail_text}</p></div>
<button>Add to cart</button></div>
{rel}"#,
            t = p.title,
            sku = p.sku,
            b = p.brand,
            slug = p.slug,
            pd = p.price_decimal(),
            pr = p.price,
            rel = related(p)
        ),
        Markup::Plain => format!(
            r#"{crumbs}<div class="product-main"><h1 class="product-title">{t}</h1>
<p class="brand">by {b}</p><p class="sku">SKU: {sku}</p>
<img class="hero" src="/static/img/{slug}.jpg" alt="{t}">
<div class="price-box"><span class="price-now">${pr}</span>{was}</div>
<p class="stock">{avail_text}</p><button>Add to cart</button></div>
{rel}"#,
            t = p.title,
            b = p.brand,
            sku = p.sku,
            slug = p.slug,
            pr = p.price,
            rel = related(p)
        ),
    };
    layout(p.title, &main)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_page_exists_and_unknown_paths_are_404() {
        assert_eq!(respond("/").status, 200);
        for p in CATALOG {
            assert_eq!(respond(&format!("/product/{}", p.slug)).status, 200);
        }
        for (slug, _) in CATEGORIES {
            assert_eq!(respond(&format!("/category/{slug}/page/2")).status, 200);
            assert_eq!(respond(&format!("/category/{slug}/page/9")).status, 404);
        }
        assert_eq!(respond("/nope").status, 404);
    }
}
