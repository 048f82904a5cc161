//! [`ChangingShop`]: a small outdoor shop whose prices, stock and catalogue a test changes
//! between crawls (for change events and watch tests). Pages look like a real shop's, for
//! the `generic` site: product pages with JSON-LD (price, currency, availability), the
//! visible price and related products with their own prices (noise), a paginated listing
//! (`/shop`, `/shop?page=N`), a home page with a deal card and "recently viewed" links; a
//! product taken out of the catalogue answers 410 Gone, one merely unlisted still answers.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Products per listing page.
pub const PER_PAGE: usize = 4;

/// One product of the shop, as the test sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopItem {
    /// Its path is `/p/<slug>`.
    pub slug: String,
    /// Its name.
    pub title: String,
    /// Its price in USD, as the page writes it (`24.99`).
    pub price: String,
    /// In stock (else out of stock).
    pub in_stock: bool,
    /// Shown on the listing.
    pub listed: bool,
    /// Its page exists (else 410 Gone).
    pub exists: bool,
    /// Linked from the home page's "recently viewed" block.
    pub recently_viewed: bool,
}

/// A listed, existing product.
pub fn shop_item(slug: &str, title: &str, price: &str, in_stock: bool) -> ShopItem {
    ShopItem {
        slug: slug.into(),
        title: title.into(),
        price: price.into(),
        in_stock,
        listed: true,
        exists: true,
        recently_viewed: false,
    }
}

/// The shop; clones share the catalogue, so a test changes it while the router serves.
#[derive(Debug, Clone, Default)]
pub struct ChangingShop {
    items: Arc<Mutex<Vec<ShopItem>>>,
}

impl ChangingShop {
    /// A shop selling `items` (in listing order).
    pub fn new(items: Vec<ShopItem>) -> Self {
        Self {
            items: Arc::new(Mutex::new(items)),
        }
    }

    /// Changes the product `slug` (panics when there is none: a test mistake).
    pub fn update(&self, slug: &str, change: impl FnOnce(&mut ShopItem)) {
        let mut items = self.items.lock().expect("catalogue lock");
        let item = items
            .iter_mut()
            .find(|i| i.slug == slug)
            .unwrap_or_else(|| panic!("no product {slug}"));
        change(item);
    }

    /// Adds a product at the end of the listing.
    pub fn add(&self, item: ShopItem) {
        self.items.lock().expect("catalogue lock").push(item);
    }

    /// The shop as a router.
    pub fn router(&self) -> Router {
        let shop = self.clone();
        Router::new().fallback(move |req: Request| {
            let shop = shop.clone();
            async move {
                let items = shop.items.lock().map(|i| i.clone()).unwrap_or_default();
                respond(&items, req.uri().path(), req.uri().query().unwrap_or(""))
            }
        })
    }
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn respond(items: &[ShopItem], path: &str, query: &str) -> Response {
    let listed: Vec<&ShopItem> = items.iter().filter(|i| i.listed && i.exists).collect();
    match path {
        "/" => html(StatusCode::OK, home(items, &listed)),
        "/shop" => {
            let page = query
                .strip_prefix("page=")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            match listing(&listed, page) {
                Some(body) => html(StatusCode::OK, body),
                None => html(StatusCode::NOT_FOUND, not_found()),
            }
        }
        _ => match path
            .strip_prefix("/p/")
            .and_then(|s| items.iter().find(|i| i.slug == s))
        {
            Some(item) if item.exists => html(StatusCode::OK, product(item, &listed)),
            Some(_) => html(StatusCode::GONE, not_found()),
            None => html(StatusCode::NOT_FOUND, not_found()),
        },
    }
}

fn page(title: &str, head: &str, main: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en-US">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/shop.css">
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Organization","name":"Ridge Outfitters","url":"/"}}</script>
{head}
</head>
<body>
<div class="promo">Free shipping over $50 &middot; Free returns</div>
<header class="site-header"><a class="logo" href="/">Ridge Outfitters</a>
<nav><a href="/shop">Shop all</a> <a href="/cart">Cart (0)</a></nav></header>
<main>
{main}
</main>
<footer><p>&copy; 2026 Ridge Outfitters. Prices in USD include VAT.</p><p>Newsletter: get $5 off your first order.</p></footer>
</body>
</html>
"#
    )
}

fn card(i: &ShopItem) -> String {
    format!(
        r#"<li class="product-card"><a href="/p/{slug}"><span class="card-title">{title}</span></a> <span class="price">${price}</span></li>"#,
        slug = i.slug,
        title = i.title,
        price = i.price
    )
}

fn home(items: &[ShopItem], listed: &[&ShopItem]) -> String {
    let deal = listed.first().map(|i| card(i)).unwrap_or_default();
    let recent: String = items
        .iter()
        .filter(|i| i.recently_viewed)
        .map(|i| format!(r#"<li><a href="/p/{}">{}</a></li>"#, i.slug, i.title))
        .collect();
    let main = format!(
        r#"<section class="hero"><h1>Gear for every trail</h1><p>New arrivals every week.</p><a href="/shop">Shop all products</a></section>
<section class="deal"><h2>Deal of the day</h2><ul>{deal}</ul></section>
<section class="recent"><h2>Recently viewed</h2><ul>{recent}</ul></section>"#
    );
    page("Ridge Outfitters – Outdoor gear", "", &main)
}

fn listing(listed: &[&ShopItem], page_no: usize) -> Option<String> {
    let pages = listed.len().div_ceil(PER_PAGE).max(1);
    if page_no == 0 || page_no > pages {
        return None;
    }
    let cards: String = listed
        .iter()
        .skip((page_no - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|i| card(i))
        .collect();
    let mut pager = String::new();
    for p in 1..=pages {
        if p == page_no {
            let _ = write!(pager, r#"<span class="current">{p}</span> "#);
        } else {
            let _ = write!(pager, r#"<a href="/shop?page={p}">{p}</a> "#);
        }
    }
    if page_no < pages {
        let _ = write!(
            pager,
            r#"<a rel="next" href="/shop?page={}">Next</a>"#,
            page_no + 1
        );
    }
    let main = format!(
        r#"<h1>All products</h1><p class="count">{} products</p><ul class="grid">{cards}</ul><nav class="pagination">{pager}</nav>"#,
        listed.len()
    );
    Some(page("All products | Ridge Outfitters", "", &main))
}

fn product(i: &ShopItem, listed: &[&ShopItem]) -> String {
    let stock = if i.in_stock { "InStock" } else { "OutOfStock" };
    let ld = format!(
        r#"<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Product","name":"{title}","sku":"RO-{slug}","brand":{{"@type":"Brand","name":"Ridge"}},"offers":{{"@type":"Offer","url":"/p/{slug}","price":"{price}","priceCurrency":"USD","availability":"https://schema.org/{stock}"}}}}</script>
<link rel="canonical" href="/p/{slug}">"#,
        title = i.title,
        slug = i.slug,
        price = i.price,
    );
    let related: String = listed
        .iter()
        .filter(|o| o.slug != i.slug)
        .take(3)
        .map(|o| card(o))
        .collect();
    let stock_note = if i.in_stock {
        "In stock – ships tomorrow"
    } else {
        "Out of stock"
    };
    let main = format!(
        r#"<nav class="breadcrumb"><a href="/">Home</a> &rsaquo; <a href="/shop">Shop</a> &rsaquo; {title}</nav>
<div class="product"><h1 class="product-title">{title}</h1><div class="price-box"><span class="price">${price}</span></div><p class="stock">{stock_note}</p>
<button class="add-to-cart">Add to cart</button></div>
<div class="description"><h2>Description</h2><p>Built for long days outside, tested by our team on the ridge.</p></div>
<section class="related-products"><h2>You may also like</h2><ul>{related}</ul></section>"#,
        title = i.title,
        price = i.price,
    );
    page(&format!("{} | Ridge Outfitters", i.title), &ld, &main)
}

fn not_found() -> String {
    page(
        "Not found | Ridge Outfitters",
        "",
        "<h1>This product is no longer available</h1><p>Browse <a href=\"/shop\">all products</a>.</p>",
    )
}
