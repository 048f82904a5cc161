//! `mixed`: a generated deal shop that looks like a real one, for the `generic` extractor and
//! the browser pool.
//!
//! Every HTML page has what real shops have around their products: a site stylesheet and one
//! script bundle (`/static/app.js`), images, a cookie-consent banner, a header with search,
//! account and cart links, category navigation, a long footer, site-wide JSON-LD
//! (`Organization`) and a tag-manager `<noscript>` pixel. Some pages also load a script that
//! does not exist (`/static/missing.js`, 404).
//!
//! * `/` links the categories and a grid of today's deals;
//! * `/c/<category>` (and `?page=2`...) lists 24 products per page with prices, plain HTML;
//! * `/p/<slug>-<n>` is product `n`: server-rendered (JSON-LD `Product` with offers,
//!   microdata, or visible markup with OpenGraph tags) or, for `script_share` percent of the
//!   products, an application shell (`<div id="app"><noscript>…</noscript></div>`) whose
//!   content `/static/app.js` builds only after the `load` event, from `/api/product/<n>`:
//!   right away (`fetch`, half of them also adding JSON-LD) or after a 300-800 ms timer
//!   (`XMLHttpRequest`);
//! * `/api/product/<n>` (JSON), `/static/*`, `/img/<n>.jpg` (even `n`: a few bytes; odd: 404),
//!   `/collect` (analytics beacon, 204), `/robots.txt`, `/about`.
//!
//! [`mixed_truth`] is the catalogue the site is generated from: what a crawl must find.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Product cards per listing page.
const PER_PAGE: usize = 24;
/// Products in the home page's deal grid.
const FEATURED: usize = 12;
/// The shop's name.
const SHOP: &str = "DealDrop";

/// Categories: display name, URL slug, product nouns.
const CATEGORIES: &[(&str, &str, &[&str])] = &[
    (
        "Laptops & Tablets",
        "laptops-tablets",
        &["Laptop", "Chromebook", "Tablet", "2-in-1 Laptop"],
    ),
    (
        "Headphones",
        "headphones",
        &["Wireless Earbuds", "Over-Ear Headphones", "Studio Monitors"],
    ),
    (
        "Kitchen",
        "kitchen",
        &["Air Fryer", "Espresso Machine", "Blender", "Knife Set"],
    ),
    (
        "Outdoor",
        "outdoor",
        &["Backpack", "Dome Tent", "Camp Stove", "Sleeping Bag"],
    ),
    (
        "Toys & Games",
        "toys-games",
        &["Building Set", "Board Game", "RC Car"],
    ),
    (
        "Tools",
        "tools",
        &["Cordless Drill", "Impact Driver", "Socket Set"],
    ),
    (
        "Fitness",
        "fitness",
        &["Adjustable Dumbbells", "Yoga Mat", "Exercise Bike"],
    ),
    (
        "Home",
        "home",
        &["Robot Vacuum", "Air Purifier", "Smart Thermostat"],
    ),
];

const BRANDS: &[&str] = &[
    "Kestrel",
    "Northwind",
    "Lumora",
    "Vantec",
    "Orbis",
    "Halden",
    "Zephyr",
    "Corvid",
    "Tamber",
    "Quillon",
];

const ADJECTIVES: &[&str] = &[
    "Compact",
    "Ultralight",
    "Pro",
    "Classic",
    "Smart",
    "Essential",
    "Premium",
    "Rugged",
    "Slim",
    "Turbo",
];

/// How a product page is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MixedKind {
    /// Server-rendered, JSON-LD `Product` with `offers` (and the visible price).
    JsonLd,
    /// Server-rendered, schema.org microdata.
    Microdata,
    /// Server-rendered, visible markup only (`<span class="price">`) plus OpenGraph tags
    /// without a price.
    Visible,
    /// Application shell; after `load` the bundle fetches the product and writes it.
    ScriptFetch,
    /// Like [`ScriptFetch`](Self::ScriptFetch), and the bundle also adds JSON-LD.
    ScriptFetchJsonLd,
    /// Application shell; after `load` the bundle requests the product (XHR) and writes it
    /// after a 300-800 ms timer.
    ScriptTimer,
}

impl MixedKind {
    /// Whether the page's product only exists after scripts ran.
    pub fn script_built(self) -> bool {
        matches!(
            self,
            Self::ScriptFetch | Self::ScriptFetchJsonLd | Self::ScriptTimer
        )
    }

    /// The `data-render` value the bundle reads.
    fn render_attr(self) -> &'static str {
        match self {
            Self::ScriptFetch => "fetch",
            Self::ScriptFetchJsonLd => "fetch-ld",
            Self::ScriptTimer => "timer",
            _ => "",
        }
    }
}

/// One product of the `mixed` shop: the known truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixedProduct {
    /// Product number (1-based).
    pub n: usize,
    /// URL path of its page, `/p/<slug>-<n>`.
    pub path: String,
    /// Title.
    pub title: String,
    /// Brand.
    pub brand: &'static str,
    /// Current price as a decimal string with cents (`"1299.00"`).
    pub price: String,
    /// Former price shown struck through, when the product is on sale.
    pub list_price: Option<String>,
    /// ISO currency (`USD`, `EUR` or `GBP`).
    pub currency: &'static str,
    /// Whether the page is an application shell built by scripts.
    pub script_built: bool,
    /// How the page is built.
    pub kind: MixedKind,
    /// Whether the page also loads `/static/missing.js` (404).
    pub broken_script: bool,
    /// For [`MixedKind::ScriptTimer`]: the bundle's timer, in milliseconds (else 0).
    pub delay_ms: u64,
    /// Index into the category list.
    category: usize,
    price_cents: u64,
    list_cents: Option<u64>,
}

impl MixedProduct {
    /// The price as the page shows it (`$1,299.00`).
    pub fn display_price(&self) -> String {
        money(self.price_cents, self.currency)
    }

    fn display_list(&self) -> Option<String> {
        self.list_cents.map(|c| money(c, self.currency))
    }

    fn image(&self) -> String {
        format!("/img/{}.jpg", self.n)
    }

    fn sku(&self) -> String {
        format!("DD-{:05}", self.n)
    }

    fn description(&self) -> String {
        let (cat, _, _) = CATEGORIES[self.category];
        format!(
            "The {} is one of our most popular picks in {cat}. Designed by {} for everyday use, \
             it comes with a two-year limited warranty and free returns within 30 days. \
             Customers love its build quality and value for money.",
            self.title, self.brand
        )
    }
}

/// SplitMix64: a deterministic, well-spread hash of a product number.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `$1,299.00`, `€24.50`, `£7.05`.
fn money(cents: u64, currency: &str) -> String {
    let symbol = match currency {
        "EUR" => "€",
        "GBP" => "£",
        _ => "$",
    };
    let units = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{symbol}{grouped}.{:02}", cents % 100)
}

fn decimal(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Whether product `n` is script-built: exactly `share` of every 100 consecutive products,
/// spread over the catalogue (37 is coprime with 100).
fn is_script_built(n: usize, share: usize) -> bool {
    (n * 37 + 11) % 100 < share
}

fn product(n: usize, share: usize) -> MixedProduct {
    let h = mix(n as u64);
    let category = n % CATEGORIES.len();
    let (_, _, nouns) = CATEGORIES[category];
    let brand = BRANDS[(h % BRANDS.len() as u64) as usize];
    let adjective = ADJECTIVES[((h >> 8) % ADJECTIVES.len() as u64) as usize];
    let noun = nouns[((h >> 16) % nouns.len() as u64) as usize];
    let name = format!("{brand} {adjective} {noun}");
    let title = format!("{name} {}{n}", &brand[..1]);
    let path = format!("/p/{}-{n}", slugify(&name));
    // One in 16 costs over a thousand (thousands separators); everything has cents.
    let units = if (h >> 24).is_multiple_of(16) {
        1000 + (h >> 28) % 2000
    } else {
        5 + (h >> 28) % 495
    };
    let price_cents = units * 100 + (h >> 40) % 100;
    // A third are deals with a former price.
    let list_cents = (h >> 48)
        .is_multiple_of(3)
        .then(|| price_cents * 5 / 4 / 100 * 100 + 99);
    let currency = match (h >> 52) % 10 {
        0 => "EUR",
        1 => "GBP",
        _ => "USD",
    };
    let script_built = is_script_built(n, share);
    let kind = match ((h >> 56) % 3, script_built) {
        (0, false) => MixedKind::JsonLd,
        (1, false) => MixedKind::Microdata,
        (_, false) => MixedKind::Visible,
        (0, true) => MixedKind::ScriptFetch,
        (1, true) => MixedKind::ScriptFetchJsonLd,
        (_, true) => MixedKind::ScriptTimer,
    };
    let delay_ms = if kind == MixedKind::ScriptTimer {
        300 + (h >> 4) % 501
    } else {
        0
    };
    MixedProduct {
        n,
        path,
        title,
        brand,
        price: decimal(price_cents),
        list_price: list_cents.map(decimal),
        currency,
        script_built,
        kind,
        broken_script: n.is_multiple_of(7),
        delay_ms,
        category,
        price_cents,
        list_cents,
    }
}

/// The catalogue of [`mixed_router`]`(products, script_share_percent, _)`: products `1..=
/// products`, `script_share_percent` of them script-built (exactly that share of every 100).
pub fn mixed_truth(products: usize, script_share_percent: usize) -> Vec<MixedProduct> {
    (1..=products)
        .map(|n| product(n, script_share_percent.min(100)))
        .collect()
}

/// The `mixed` shop as a router (see the [module](self)): `products` product pages,
/// `script_share_percent` of them application shells built by scripts after `load`; every
/// response delayed by `latency`.
pub fn mixed_router(products: usize, script_share_percent: usize, latency: Duration) -> Router {
    let shop = Arc::new(Shop::new(mixed_truth(products, script_share_percent)));
    Router::new().fallback(move |req: Request| {
        let shop = shop.clone();
        async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            shop.respond(req.uri().path(), req.uri().query().unwrap_or(""))
        }
    })
}

/// The catalogue with its listings.
struct Shop {
    products: Vec<MixedProduct>,
    /// Product indexes per category, in catalogue order.
    by_category: Vec<Vec<usize>>,
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let cache = if content_type.starts_with("text/html") || content_type.contains("json") {
        "no-cache"
    } else {
        "public, max-age=3600"
    };
    (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ],
        body.into(),
    )
        .into_response()
}

const HTML: &str = "text/html; charset=utf-8";

impl Shop {
    fn new(products: Vec<MixedProduct>) -> Self {
        let mut by_category = vec![Vec::new(); CATEGORIES.len()];
        for (i, p) in products.iter().enumerate() {
            by_category[p.category].push(i);
        }
        Self {
            products,
            by_category,
        }
    }

    fn by_number(&self, n: &str) -> Option<&MixedProduct> {
        let n: usize = n.parse().ok()?;
        self.products.get(n.checked_sub(1)?)
    }

    fn respond(&self, path: &str, query: &str) -> Response {
        match path {
            "/" => respond(StatusCode::OK, HTML, self.home()),
            "/about" => respond(StatusCode::OK, HTML, self.about()),
            "/robots.txt" => respond(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                "User-agent: *\nDisallow: /cart\nDisallow: /checkout\nDisallow: /account/\nDisallow: /api/\n",
            ),
            "/static/app.js" => respond(
                StatusCode::OK,
                "application/javascript; charset=utf-8",
                APP_JS,
            ),
            "/static/site.css" => respond(StatusCode::OK, "text/css; charset=utf-8", SITE_CSS),
            "/collect" => StatusCode::NO_CONTENT.into_response(),
            _ => self.dynamic(path, query),
        }
    }

    fn dynamic(&self, path: &str, query: &str) -> Response {
        if let Some(rest) = path.strip_prefix("/p/")
            && let Some((_, n)) = rest.rsplit_once('-')
            && let Some(p) = self.by_number(n)
            && p.path == path
        {
            return respond(StatusCode::OK, HTML, self.product_page(p));
        }
        if let Some(slug) = path.strip_prefix("/c/")
            && let Some(c) = CATEGORIES.iter().position(|(_, s, _)| *s == slug)
        {
            let page = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .map_or(Some(1), |v| v.parse::<usize>().ok());
            if let Some(body) = page.and_then(|page| self.category_page(c, page)) {
                return respond(StatusCode::OK, HTML, body);
            }
        }
        if let Some(n) = path.strip_prefix("/api/product/")
            && let Some(p) = self.by_number(n)
        {
            return respond(StatusCode::OK, "application/json", api_json(p));
        }
        if let Some(n) = path
            .strip_prefix("/img/")
            .and_then(|f| f.strip_suffix(".jpg"))
            .and_then(|n| n.parse::<u64>().ok())
            && n.is_multiple_of(2)
        {
            return respond(StatusCode::OK, "image/jpeg", TINY_JPEG);
        }
        if path.starts_with("/api/") {
            return respond(
                StatusCode::NOT_FOUND,
                "application/json",
                r#"{"error":"not found"}"#,
            );
        }
        if path.starts_with("/static/") || path.starts_with("/img/") {
            return respond(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found",
            );
        }
        respond(StatusCode::NOT_FOUND, HTML, self.not_found())
    }

    /// A whole HTML page: `head_extra` in the head (and the failing script when
    /// `broken_script`), `main` inside the site chrome.
    fn page(&self, title: &str, head_extra: &str, broken_script: bool, main: &str) -> String {
        let missing = if broken_script {
            "<script src=\"/static/missing.js\"></script>\n"
        } else {
            ""
        };
        format!(
            r#"<!doctype html>
<html lang="en-US">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/site.css">
<link rel="icon" href="/img/0.jpg">
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Organization","name":"{SHOP}","url":"/","logo":"/img/0.jpg","sameAs":["https://social.example/dealdrop"]}}</script>
{head_extra}{missing}<script src="/static/app.js" defer></script>
</head>
<body>
<noscript><iframe src="https://tags.example/ns.html?id=GTM-D3ALS" height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>
{header}
<main id="main-content">
{main}
</main>
{footer}
{banner}
</body>
</html>
"#,
            header = self.header(),
            footer = FOOTER,
            banner = COOKIE_BANNER,
        )
    }

    fn header(&self) -> String {
        let mut nav = String::new();
        for (name, slug, _) in CATEGORIES {
            let _ = write!(
                nav,
                r#"<li class="nav-item"><a href="/c/{slug}">{}</a></li>"#,
                escape(name)
            );
        }
        format!(
            r#"<div class="promo-strip">Free shipping on orders over $35 &middot; 30-day returns</div>
<header class="site-header">
<a class="logo" href="/">{SHOP}</a>
<form class="search" action="/search" method="get"><input type="search" name="q" placeholder="Search deals"><button type="submit">Search</button></form>
<a class="account-link" href="/account/login">Sign in</a>
<a class="cart-link" href="/cart">Cart (0)</a>
</header>
<nav class="main-nav" aria-label="Categories"><ul>{nav}<li class="nav-item"><a href="/about">About us</a></li></ul></nav>"#
        )
    }

    fn card(p: &MixedProduct, class: &str) -> String {
        let was = p
            .display_list()
            .map(|l| format!(r#" <s class="price-was">{l}</s>"#))
            .unwrap_or_default();
        format!(
            r#"<li class="{class}"><a href="{path}"><img src="{img}" alt="" loading="lazy" width="200" height="200"><span class="card-title">{title}</span></a><div class="card-price"><span class="price">{price}</span>{was}</div></li>"#,
            path = p.path,
            img = p.image(),
            title = escape(&p.title),
            price = p.display_price(),
        )
    }

    fn home(&self) -> String {
        let mut cats = String::new();
        for (name, slug, _) in CATEGORIES {
            let _ = write!(
                cats,
                r#"<li class="category-tile"><a href="/c/{slug}">{}</a></li>"#,
                escape(name)
            );
        }
        let deals: String = self
            .products
            .iter()
            .filter(|p| p.list_cents.is_some())
            .take(FEATURED)
            .map(|p| Self::card(p, "deal-card"))
            .collect();
        let main = format!(
            r#"<section class="hero"><h1>Today's best deals</h1><p>Hand-picked price drops from trusted stores, updated every hour.</p></section>
<section class="shop-by-category"><h2>Shop by category</h2><ul>{cats}</ul></section>
<section class="todays-deals"><h2>Deals of the day</h2><ul class="deal-grid">{deals}</ul></section>"#
        );
        self.page(
            &format!("{SHOP} – Deals every day"),
            r#"<meta property="og:type" content="website"><meta property="og:title" content="DealDrop – Deals every day">
"#,
            false,
            &main,
        )
    }

    fn category_page(&self, c: usize, page: usize) -> Option<String> {
        let (name, slug, _) = CATEGORIES[c];
        let all = &self.by_category[c];
        let pages = all.len().div_ceil(PER_PAGE).max(1);
        if page == 0 || page > pages {
            return None;
        }
        let cards: String = all
            .iter()
            .skip((page - 1) * PER_PAGE)
            .take(PER_PAGE)
            .map(|i| Self::card(&self.products[*i], "product-card"))
            .collect();
        let href = |p: usize| {
            if p == 1 {
                format!("/c/{slug}")
            } else {
                format!("/c/{slug}?page={p}")
            }
        };
        let mut pager = String::new();
        if page > 1 {
            let _ = write!(
                pager,
                r#"<a rel="prev" href="{}">Previous</a> "#,
                href(page - 1)
            );
        }
        for p in 1..=pages {
            if p == page {
                let _ = write!(pager, r#"<span class="current">{p}</span> "#);
            } else {
                let _ = write!(pager, r#"<a href="{}">{p}</a> "#, href(p));
            }
        }
        if page < pages {
            let _ = write!(pager, r#"<a rel="next" href="{}">Next</a>"#, href(page + 1));
        }
        let main = format!(
            r#"<nav class="breadcrumb"><a href="/">Home</a> &rsaquo; {name}</nav>
<h1 class="category-title">{name}</h1>
<p class="result-count">{count} deals</p>
<ul class="product-grid">{cards}</ul>
<nav class="pagination" aria-label="Pages">{pager}</nav>"#,
            name = escape(name),
            count = all.len(),
        );
        let canonical = format!(r#"<link rel="canonical" href="{}">"#, href(page));
        Some(self.page(
            &format!("{} deals | {SHOP}", escape(name)),
            &canonical,
            false,
            &main,
        ))
    }

    fn about(&self) -> String {
        let main = r#"<h1>About DealDrop</h1>
<p>DealDrop started in a garage in 2014 with one idea: nobody should pay full price for the things they need. Our editors check every deal by hand, compare it with the price history of the product and only publish it when it is really a good price.</p>
<p>We earn a small commission when you buy through our links; it never changes the price you pay and never decides which deals we publish.</p>"#;
        self.page(&format!("About us | {SHOP}"), "", true, main)
    }

    fn not_found(&self) -> String {
        self.page(
            &format!("Page not found | {SHOP}"),
            "",
            false,
            "<h1>Sorry, this page does not exist</h1><p>Try the search or browse the categories.</p>",
        )
    }

    fn product_page(&self, p: &MixedProduct) -> String {
        if p.script_built {
            return self.shell_page(p);
        }
        let (cat_name, cat_slug, _) = CATEGORIES[p.category];
        let title = escape(&p.title);
        let was = p
            .display_list()
            .map(|l| format!(r#" <s class="price-was">Was {l}</s>"#))
            .unwrap_or_default();
        let breadcrumb = format!(
            r#"<nav class="breadcrumb"><a href="/">Home</a> &rsaquo; <a href="/c/{cat_slug}">{}</a> &rsaquo; {title}</nav>"#,
            escape(cat_name)
        );
        let reviews = format!(
            r#"<div class="reviews-summary">&#9733;&#9733;&#9733;&#9733;&#9734; {}.{} ({} reviews)</div>"#,
            3 + p.n % 2,
            p.n % 10,
            10 + p.n * 3 % 400
        );
        let buy = r#"<form class="buy-box" action="/cart/add" method="post"><input type="hidden" name="qty" value="1"><button type="submit" class="add-to-cart">Add to cart</button></form>
<p class="shipping-note">Free shipping on orders over $35</p>"#;
        let (head, info) = match p.kind {
            MixedKind::JsonLd => {
                let offers_list = p
                    .list_price
                    .as_ref()
                    .map(|l| {
                        format!(
                            r#","priceSpecification":{{"@type":"UnitPriceSpecification","priceType":"https://schema.org/ListPrice","price":"{l}","priceCurrency":"{}"}}"#,
                            p.currency
                        )
                    })
                    .unwrap_or_default();
                let ld = format!(
                    r#"<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Product","name":"{name}","sku":"{sku}","image":"{img}","description":"{desc}","brand":{{"@type":"Brand","name":"{brand}"}},"offers":{{"@type":"Offer","url":"{path}","price":"{price}","priceCurrency":"{cur}","availability":"https://schema.org/InStock"{offers_list}}}}}</script>
"#,
                    name = json_escape(&p.title),
                    sku = p.sku(),
                    img = p.image(),
                    desc = json_escape(&p.description()),
                    brand = p.brand,
                    path = p.path,
                    price = p.price,
                    cur = p.currency,
                );
                let info = format!(
                    r#"<div class="product-info"><h1 class="product-title">{title}</h1><p class="brand">by {brand}</p>{reviews}<div class="price-box"><span class="price">{price}</span>{was}</div>{buy}</div>"#,
                    brand = p.brand,
                    price = p.display_price(),
                );
                (ld, info)
            }
            MixedKind::Microdata => {
                let info = format!(
                    r#"<div class="product-info" itemscope itemtype="https://schema.org/Product"><h1 class="product-title" itemprop="name">{title}</h1><meta itemprop="sku" content="{sku}"><p class="brand">by <span itemprop="brand">{brand}</span></p><img itemprop="image" src="{img}" alt="" width="400" height="400">{reviews}<div class="price-box" itemprop="offers" itemscope itemtype="https://schema.org/Offer"><meta itemprop="priceCurrency" content="{cur}"><span class="price" itemprop="price" content="{price}">{display}</span>{was}<link itemprop="availability" href="https://schema.org/InStock"></div>{buy}</div>"#,
                    sku = p.sku(),
                    brand = p.brand,
                    img = p.image(),
                    cur = p.currency,
                    price = p.price,
                    display = p.display_price(),
                );
                (String::new(), info)
            }
            _ => {
                let og = format!(
                    r#"<meta property="og:type" content="product"><meta property="og:title" content="{title}"><meta property="og:image" content="{img}"><meta property="og:url" content="{path}"><meta property="og:site_name" content="{SHOP}">
"#,
                    img = p.image(),
                    path = p.path,
                );
                let info = format!(
                    r#"<div class="product-info"><h1 class="product-title">{title}</h1><p class="brand">by {brand}</p>{reviews}<div class="price-box"><span class="price">{price}</span>{was}</div>{buy}</div>"#,
                    brand = p.brand,
                    price = p.display_price(),
                );
                (og, info)
            }
        };
        let related: String = self.by_category[p.category]
            .iter()
            .map(|i| &self.products[*i])
            .filter(|o| o.n > p.n)
            .take(4)
            .map(|o| Self::card(o, "product-card"))
            .collect();
        let related = if related.is_empty() {
            String::new()
        } else {
            format!(
                r#"<section class="related-products"><h2>You may also like</h2><ul class="product-grid">{related}</ul></section>"#
            )
        };
        let main = format!(
            r#"{breadcrumb}
<div class="product-page">
<div class="gallery"><img src="{img}" alt="{title}" width="600" height="600"></div>
{info}
<div class="description"><h2>Description</h2><p>{desc}</p></div>
</div>
{related}"#,
            img = p.image(),
            desc = escape(&p.description()),
        );
        let head = format!(r#"<link rel="canonical" href="{}">{head}"#, p.path);
        self.page(&format!("{title} | {SHOP}"), &head, p.broken_script, &main)
    }

    /// An application shell: no product in the HTML, the bundle writes it after `load`.
    fn shell_page(&self, p: &MixedProduct) -> String {
        let main = format!(
            r#"<div id="app" data-product-id="{n}" data-render="{render}" data-delay="{delay}"><noscript>Please enable JavaScript to view this page.</noscript></div>"#,
            n = p.n,
            render = p.kind.render_attr(),
            delay = p.delay_ms,
        );
        let head = format!(r#"<link rel="canonical" href="{}">"#, p.path);
        self.page(
            &format!("{SHOP} – Deals every day"),
            &head,
            p.broken_script,
            &main,
        )
    }
}

/// `/api/product/<n>`: what the bundle renders.
fn api_json(p: &MixedProduct) -> String {
    let (cat_name, cat_slug, _) = CATEGORIES[p.category];
    serde_json::json!({
        "id": p.n,
        "sku": p.sku(),
        "name": p.title,
        "brand": p.brand,
        "category": {"name": cat_name, "url": format!("/c/{cat_slug}")},
        "image": p.image(),
        "description": p.description(),
        // A number, as APIs do: 1299 for 1299.00.
        "price": p.price.parse::<f64>().unwrap_or(0.0),
        "currency": p.currency,
        "display_price": p.display_price(),
        "display_list_price": p.display_list(),
        "in_stock": true,
    })
    .to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn json_escape(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// The cookie-consent banner of every page.
const COOKIE_BANNER: &str = r#"<div id="cookie-banner" class="cookie-consent" role="dialog" aria-label="Cookie consent">
<p>We use cookies and similar technologies to run this site, remember your preferences, measure how our deals perform and show you relevant offers. You can change your choice at any time in the privacy settings.</p>
<button type="button" class="cookie-accept">Accept</button> <button type="button" class="cookie-reject">Reject non-essential</button>
</div>"#;

/// The footer of every page: links (most of them to pages a crawler skips) and text.
const FOOTER: &str = r#"<footer class="site-footer">
<div class="footer-columns">
<div class="footer-col"><h3>Customer service</h3><ul><li><a href="/help/shipping">Shipping information</a></li><li><a href="/help/returns">Returns &amp; refunds</a></li><li><a href="/contact">Contact us</a></li><li><a href="/help">Help center</a></li></ul></div>
<div class="footer-col"><h3>About DealDrop</h3><ul><li><a href="/about">Our story</a></li><li><a href="/careers">Careers</a></li><li><a href="/terms">Terms of use</a></li><li><a href="/privacy">Privacy policy</a></li><li><a href="/cookies">Cookie settings</a></li></ul></div>
<div class="footer-col newsletter"><h3>Never miss a deal</h3><p>Sign up for our newsletter and get the best price drops of the week in your inbox every Friday. No spam, unsubscribe at any time.</p><form action="/newsletter" method="post"><input type="email" name="email" placeholder="Your e-mail address"><button type="submit">Subscribe</button></form></div>
</div>
<div class="footer-text">
<p>DealDrop lists deals from hundreds of online stores. Prices and availability are accurate as of the date and time indicated and are subject to change. Any price and availability information displayed on the merchant's site at the time of purchase will apply to the purchase of the product. We check every deal by hand before we publish it, and we update our listings several times a day, but a store may end a promotion at any moment without notice.</p>
<p>Free shipping applies to orders over $35 shipped to addresses in the contiguous United States; other destinations, oversized items and express delivery may incur additional fees that are shown at checkout. Returns are accepted within 30 days of delivery for most items in new condition with their original packaging. Some categories, such as personal care products, opened software and gift cards, cannot be returned.</p>
<p>As an affiliate we may earn a commission from qualifying purchases made through the links on this site. This never affects the price you pay and never decides which deals we feature. All product names, logos and brands are property of their respective owners; their use on this site does not imply endorsement.</p>
<p>Price history: every product page shows how its price moved over the last 90 days, so you can tell a real deal from a price that was raised last week to be discounted today. Set a price alert and we e-mail you the moment the price drops below your target, in any of the stores that carry the product.</p>
<p class="copyright">&copy; 2014-2025 DealDrop Inc. All rights reserved. 123 Market Street, Suite 400, San Francisco, CA 94105.</p>
</div>
</footer>"#;

/// The site's stylesheet.
const SITE_CSS: &str = r#"*{box-sizing:border-box}body{margin:0;font-family:system-ui,sans-serif;color:#222;background:#fafafa}
.promo-strip{background:#111;color:#fff;text-align:center;font-size:13px;padding:4px}
.site-header{display:flex;gap:16px;align-items:center;padding:12px 24px;background:#fff;border-bottom:1px solid #ddd}
.logo{font-weight:700;font-size:24px;color:#e4002b;text-decoration:none}
.main-nav ul{display:flex;gap:12px;list-style:none;margin:0;padding:8px 24px;background:#fff}
main{max-width:1200px;margin:0 auto;padding:24px}
.product-grid,.deal-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:16px;list-style:none;padding:0}
.product-card,.deal-card{background:#fff;border:1px solid #eee;padding:12px}
.price{color:#e4002b;font-weight:700;font-size:20px}.price-was{color:#888;margin-left:8px}
.product-page{display:grid;grid-template-columns:1fr 1fr;gap:32px}
.add-to-cart{background:#e4002b;color:#fff;border:0;padding:12px 32px;font-size:18px}
.site-footer{background:#222;color:#ccc;padding:32px 24px;font-size:14px}.site-footer a{color:#fff}
.footer-columns{display:flex;gap:48px}
#cookie-banner{position:fixed;bottom:0;left:0;right:0;background:#fff;border-top:2px solid #e4002b;padding:16px;box-shadow:0 -2px 8px rgba(0,0,0,.2)}
#app:empty{min-height:600px}
"#;

/// The site's one script bundle. Every page loads it; on application shells (`#app` with
/// `data-render`) it renders the product from `/api/product/<n>` after `load`.
const APP_JS: &str = r#"/* DealDrop storefront bundle */
(function () {
  'use strict';

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c];
    });
  }

  function consent() {
    var banner = document.getElementById('cookie-banner');
    if (!banner) { return; }
    if (document.cookie.indexOf('consent=') >= 0) { banner.parentNode.removeChild(banner); return; }
    var buttons = banner.querySelectorAll('button');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener('click', function (e) {
        var yes = e.target.className.indexOf('accept') >= 0 ? '1' : '0';
        document.cookie = 'consent=' + yes + '; path=/; max-age=31536000';
        banner.parentNode.removeChild(banner);
      });
    }
  }

  function render(app, p, withJsonLd) {
    document.title = p.name + ' | DealDrop';
    var was = p.display_list_price ? ' <s class="price-was">Was ' + esc(p.display_list_price) + '</s>' : '';
    app.innerHTML =
      '<nav class="breadcrumb"><a href="/">Home</a> &rsaquo; <a href="' + esc(p.category.url) + '">' + esc(p.category.name) + '</a></nav>' +
      '<div class="product-page">' +
      '<div class="gallery"><img src="' + esc(p.image) + '" alt="" width="600" height="600"></div>' +
      '<div class="product-info"><h1 class="product-title">' + esc(p.name) + '</h1>' +
      '<p class="brand">by ' + esc(p.brand) + '</p>' +
      '<div class="price-box"><span class="price">' + esc(p.display_price) + '</span>' + was + '</div>' +
      '<button type="button" class="add-to-cart">Add to cart</button>' +
      '<p class="shipping-note">Free shipping on orders over $35</p></div>' +
      '<div class="description"><h2>Description</h2><p>' + esc(p.description) + '</p></div>' +
      '</div>';
    if (withJsonLd) {
      var ld = document.createElement('script');
      ld.type = 'application/ld+json';
      ld.textContent = JSON.stringify({
        '@context': 'https://schema.org',
        '@type': 'Product',
        name: p.name,
        sku: p.sku,
        image: p.image,
        brand: { '@type': 'Brand', name: p.brand },
        offers: {
          '@type': 'Offer',
          price: p.price,
          priceCurrency: p.currency,
          availability: 'https://schema.org/InStock'
        }
      });
      document.head.appendChild(ld);
    }
    app.setAttribute('data-ready', 'true');
  }

  function getJson(url, done) {
    var xhr = new XMLHttpRequest();
    xhr.open('GET', url);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.onload = function () {
      if (xhr.status === 200) { done(JSON.parse(xhr.responseText)); }
    };
    xhr.send();
  }

  function boot() {
    var app = document.getElementById('app');
    if (!app) { return; }
    var id = app.getAttribute('data-product-id');
    var mode = app.getAttribute('data-render');
    var delay = parseInt(app.getAttribute('data-delay') || '0', 10);
    var url = '/api/product/' + encodeURIComponent(id);
    if (mode === 'fetch' || mode === 'fetch-ld') {
      fetch(url, { headers: { Accept: 'application/json' } })
        .then(function (r) { return r.json(); })
        .then(function (p) { render(app, p, mode === 'fetch-ld'); });
    } else if (mode === 'timer') {
      getJson(url, function (p) {
        setTimeout(function () { render(app, p, false); }, delay);
      });
    }
  }

  function beacon() {
    var data = 'e=pageview&p=' + encodeURIComponent(location.pathname + location.search);
    if (navigator.sendBeacon) { navigator.sendBeacon('/collect', data); }
  }

  document.addEventListener('DOMContentLoaded', consent);
  window.addEventListener('load', function () {
    boot();
    beacon();
  });
})();
"#;

/// A few bytes served as a JPEG (browsers show a broken image; nobody looks).
const TINY_JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 0xFF, 0xD9,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn get(shop: &Shop, path_and_query: &str) -> (StatusCode, String, String) {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let r = shop.respond(path, query);
        let status = r.status();
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = body_text(r);
        (status, ct, body)
    }

    fn body_text(r: Response) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .expect("body");
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }

    #[test]
    fn the_truth_has_the_asked_share_of_script_built_pages_and_mixed_markup() {
        let truth = mixed_truth(300, 30);
        assert_eq!(truth.len(), 300);
        assert_eq!(truth.iter().filter(|p| p.script_built).count(), 90);
        let kinds: std::collections::HashSet<MixedKind> = truth.iter().map(|p| p.kind).collect();
        assert_eq!(kinds.len(), 6, "every kind of page: {kinds:?}");
        let paths: std::collections::HashSet<&str> =
            truth.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths.len(), 300, "unique paths");
        assert!(truth.iter().any(|p| p.display_price().contains(',')));
        assert!(truth.iter().any(|p| p.currency != "USD"));
        assert!(truth.iter().all(|p| p.path.ends_with(&format!("-{}", p.n))));
        assert!(
            truth
                .iter()
                .filter(|p| p.kind == MixedKind::ScriptTimer)
                .all(|p| (300..=800).contains(&p.delay_ms))
        );
        assert_eq!(
            mixed_truth(100, 0)
                .iter()
                .filter(|p| p.script_built)
                .count(),
            0
        );
        assert_eq!(money(129_900, "USD"), "$1,299.00");
        assert_eq!(money(705, "GBP"), "£7.05");
    }

    #[test]
    fn shells_have_no_product_in_their_html_and_the_rest_is_served() {
        let truth = mixed_truth(60, 30);
        let shop = Shop::new(truth.clone());
        for p in &truth {
            let (status, ct, body) = get(&shop, &p.path);
            assert_eq!(status, StatusCode::OK, "{}", p.path);
            assert!(ct.starts_with("text/html"));
            assert!(body.contains(r#"<script src="/static/app.js""#));
            assert!(body.contains(r#"<div id="cookie-banner""#));
            assert_eq!(body.contains("/static/missing.js"), p.broken_script);
            if p.script_built {
                assert!(
                    !body.contains(&p.display_price()),
                    "{}: price in a shell",
                    p.path
                );
                assert!(!body.contains(&p.title), "{}: title in a shell", p.path);
                assert!(!body.contains(r#""@type":"Product""#));
                assert!(body.contains("<div id=\"app\""));
                let (status, ct, api) = get(&shop, &format!("/api/product/{}", p.n));
                assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/json"));
                assert!(api.contains(&p.display_price()), "{api}");
            } else {
                assert!(body.contains(&p.display_price()), "{}", p.path);
                assert!(body.contains(&escape(&p.title)), "{}", p.path);
            }
        }
        let (status, ct, home) = get(&shop, "/");
        assert_eq!(status, StatusCode::OK);
        assert!(ct.starts_with("text/html"));
        assert!(home.contains(r#"href="/c/kitchen""#));
        // 60 products over 8 categories: one page each; a second page does not exist.
        let (status, _, listing) = get(&shop, "/c/kitchen");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            listing.matches("class=\"product-card\"").count(),
            shop.by_category[2].len()
        );
        assert_eq!(get(&shop, "/c/kitchen?page=2").0, StatusCode::NOT_FOUND);
        let big = Shop::new(mixed_truth(300, 30));
        let (_, _, first) = get(&big, "/c/kitchen");
        assert_eq!(first.matches("class=\"product-card\"").count(), 24);
        assert!(first.contains(r#"href="/c/kitchen?page=2""#));
        assert_eq!(get(&big, "/c/kitchen?page=2").0, StatusCode::OK);
        for (path, ct) in [
            ("/static/app.js", "application/javascript; charset=utf-8"),
            ("/static/site.css", "text/css; charset=utf-8"),
            ("/img/2.jpg", "image/jpeg"),
        ] {
            let (status, got, _) = get(&shop, path);
            assert_eq!((status, got.as_str()), (StatusCode::OK, ct), "{path}");
        }
        assert_eq!(get(&shop, "/static/missing.js").0, StatusCode::NOT_FOUND);
        assert_eq!(get(&shop, "/img/3.jpg").0, StatusCode::NOT_FOUND);
        assert_eq!(get(&shop, "/p/nothing-999").0, StatusCode::NOT_FOUND);
        assert_eq!(
            get(&shop, &truth[0].path.replace("/p/", "/p/x")).0,
            StatusCode::NOT_FOUND
        );
    }
}
