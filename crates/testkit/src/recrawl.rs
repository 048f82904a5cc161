//! A shop for recrawl tests and the recrawl benchmark: pages with `ETag` and `Last-Modified`
//! that answer conditional requests with `304` (or ignore them), products reachable through
//! listings or only through sitemaps (robots.txt `Sitemap:`, a nested index, a gzipped and a
//! plain child), prices the test can change, and counters of what went over the wire (also
//! served as JSON at `/__stats`, for `haul serve recrawl`).

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};

/// Product links per listing page.
const PER_LISTING: usize = 50;

/// How the shop behaves.
#[derive(Debug, Clone)]
pub struct ShopOptions {
    /// Product pages (`/product/p<n>`, `Product <n>`).
    pub products: usize,
    /// Answer `If-None-Match` / `If-Modified-Since` with `304` (else always the full page).
    pub honour_validators: bool,
    /// Products listed only in the sitemaps (the home page links to none); else home ->
    /// listings of 50 -> products, and no sitemap.
    pub sitemap_only: bool,
    /// The sitemap index also lists a malformed sitemap and one of `huge_bytes` bytes.
    pub bad_sitemaps: bool,
    /// Size of the oversize sitemap, in bytes (about).
    pub huge_bytes: usize,
    /// Delay before every answer.
    pub latency: Duration,
}

impl ShopOptions {
    /// `products` products behind listings, validators honoured, no latency.
    pub fn new(products: usize) -> Self {
        Self {
            products,
            honour_validators: true,
            sitemap_only: false,
            bad_sitemaps: false,
            huge_bytes: 200_000,
            latency: Duration::ZERO,
        }
    }
}

/// What the shop sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShopCounts {
    /// Bytes of the bodies of full (`200`) answers.
    pub body_bytes: u64,
    /// Full answers.
    pub full: u64,
    /// `304 Not Modified` answers.
    pub not_modified: u64,
}

#[derive(Debug)]
struct Shop {
    opts: ShopOptions,
    /// Per product: its price in cents and when it last changed.
    products: Mutex<Vec<(u64, DateTime<Utc>)>>,
    body_bytes: AtomicU64,
    full: AtomicU64,
    not_modified: AtomicU64,
}

/// The shop's state, shared with the router: change prices, read counters.
#[derive(Debug, Clone)]
pub struct RecrawlShop(Arc<Shop>);

/// When every product first changed (long before any test runs).
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

impl RecrawlShop {
    /// A shop as `opts` says; product `n` costs `<n>.99` USD.
    pub fn new(opts: ShopOptions) -> Self {
        let products = (0..opts.products)
            .map(|n| (n as u64 * 100 + 99, epoch()))
            .collect();
        Self(Arc::new(Shop {
            opts,
            products: Mutex::new(products),
            body_bytes: AtomicU64::new(0),
            full: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
        }))
    }

    /// The shop as a router.
    pub fn router(&self) -> Router {
        Router::new().fallback(answer).with_state(self.0.clone())
    }

    /// Sets product `n`'s price (cents); its page, `ETag`, `Last-Modified` and sitemap
    /// `lastmod` change (to now).
    pub fn set_price(&self, n: usize, cents: u64) {
        let mut p = self.0.products.lock().unwrap_or_else(|e| e.into_inner());
        p[n] = (cents, Utc::now());
    }

    /// Product `n`'s price as the page shows it (`12.99`).
    pub fn price(&self, n: usize) -> String {
        let cents = self.0.products.lock().unwrap_or_else(|e| e.into_inner())[n].0;
        format!("{}.{:02}", cents / 100, cents % 100)
    }

    /// What went over the wire so far.
    pub fn counts(&self) -> ShopCounts {
        counts(&self.0)
    }

    /// Sets every counter back to zero.
    pub fn reset_counts(&self) {
        for c in [&self.0.body_bytes, &self.0.full, &self.0.not_modified] {
            c.store(0, Ordering::SeqCst);
        }
    }
}

fn counts(shop: &Shop) -> ShopCounts {
    ShopCounts {
        body_bytes: shop.body_bytes.load(Ordering::SeqCst),
        full: shop.full.load(Ordering::SeqCst),
        not_modified: shop.not_modified.load(Ordering::SeqCst),
    }
}

/// FNV-1a, for `ETag`s that change with the body.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn page(body: &str) -> String {
    format!(
        "<!doctype html><html><head><title>Recrawl shop</title></head><body><nav class=\"main-nav\"><a href=\"/\">Home</a></nav>{body}<footer>Prices in USD</footer></body></html>"
    )
}

/// One HTML page with validators, or `304` when the request's validators match them.
fn html(shop: &Shop, req: &HeaderMap, body: String, changed: DateTime<Utc>) -> Response {
    let etag = format!("\"{:x}\"", fnv(body.as_bytes()));
    let last_modified = changed.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let header_is = |name: header::HeaderName, value: &str| {
        req.get(&name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v == value)
    };
    // RFC 9110: If-None-Match wins over If-Modified-Since.
    let fresh = header_is(header::IF_NONE_MATCH, &etag)
        .or_else(|| header_is(header::IF_MODIFIED_SINCE, &last_modified))
        .unwrap_or(false);
    let validators = [(header::ETAG, etag), (header::LAST_MODIFIED, last_modified)];
    if shop.opts.honour_validators && fresh {
        shop.not_modified.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, validators).into_response();
    }
    full(
        shop,
        "text/html; charset=utf-8",
        body.into_bytes(),
        Some(validators),
    )
}

fn full(
    shop: &Shop,
    content_type: &'static str,
    body: Vec<u8>,
    validators: Option<[(header::HeaderName, String); 2]>,
) -> Response {
    shop.full.fetch_add(1, Ordering::SeqCst);
    shop.body_bytes
        .fetch_add(body.len() as u64, Ordering::SeqCst);
    let mut resp = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    for (name, value) in validators.into_iter().flatten() {
        if let Ok(v) = value.parse() {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}

fn url_set(origin: &str, entries: impl Iterator<Item = (usize, DateTime<Utc>)>) -> String {
    let urls: String = entries
        .map(|(n, t)| {
            format!(
                "<url><loc>{origin}/product/p{n}</loc><lastmod>{}</lastmod></url>\n",
                t.to_rfc3339()
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n{urls}</urlset>\n"
    )
}

fn index(origin: &str, children: &[&str]) -> String {
    let items: String = children
        .iter()
        .map(|c| format!("<sitemap><loc>{origin}{c}</loc></sitemap>\n"))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n{items}</sitemapindex>\n"
    )
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = gz.write_all(text.as_bytes());
    gz.finish().unwrap_or_default()
}

/// The sitemap files, by path; `None` for any other path.
fn sitemap(shop: &Shop, origin: &str, path: &str) -> Option<Response> {
    let products = shop
        .products
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let half = products.len() / 2;
    let listed = |range: std::ops::Range<usize>| url_set(origin, range.map(|n| (n, products[n].1)));
    let xml = "application/xml";
    Some(match path {
        "/sitemap_index.xml" => {
            let mut children = vec!["/sitemaps/index-2.xml"];
            if shop.opts.bad_sitemaps {
                children.extend(["/sitemaps/broken.xml", "/sitemaps/huge.xml"]);
            }
            full(shop, xml, index(origin, &children).into_bytes(), None)
        }
        "/sitemaps/index-2.xml" => {
            let children = ["/sitemaps/products-1.xml.gz", "/sitemaps/products-2.xml"];
            full(shop, xml, index(origin, &children).into_bytes(), None)
        }
        "/sitemaps/products-1.xml.gz" => {
            full(shop, "application/gzip", gzip(&listed(0..half)), None)
        }
        "/sitemaps/products-2.xml" => {
            full(shop, xml, listed(half..products.len()).into_bytes(), None)
        }
        "/sitemaps/broken.xml" if shop.opts.bad_sitemaps => {
            let body = format!(
                "<urlset><url><loc>{origin}/product/p0</loc></url><url><loc>{origin}/product/p1</lo></url></urlset>"
            );
            full(shop, xml, body.into_bytes(), None)
        }
        "/sitemaps/huge.xml" if shop.opts.bad_sitemaps => {
            let one = format!("<url><loc>{origin}/product/p0</loc></url>\n");
            let body = format!(
                "<urlset>\n{}</urlset>\n",
                one.repeat(shop.opts.huge_bytes / one.len() + 1)
            );
            full(shop, xml, body.into_bytes(), None)
        }
        _ => return None,
    })
}

async fn answer(State(shop): State<Arc<Shop>>, req: Request) -> Response {
    if !shop.opts.latency.is_zero() {
        tokio::time::sleep(shop.opts.latency).await;
    }
    let path = req.uri().path().to_string();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let origin = format!("http://{host}");
    let headers = req.headers();
    let products = shop.opts.products;
    let listings = products.div_ceil(PER_LISTING);
    let number = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
    };
    if path == "/__stats" {
        let c = counts(&shop);
        let body = format!(
            "{{\"body_bytes\":{},\"full\":{},\"not_modified\":{}}}",
            c.body_bytes, c.full, c.not_modified
        );
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    if path == "/robots.txt" {
        let mut robots = "User-agent: *\nDisallow: /__stats\n".to_string();
        if shop.opts.sitemap_only {
            robots.push_str(&format!("Sitemap: {origin}/sitemap_index.xml\n"));
        }
        return full(&shop, "text/plain", robots.into_bytes(), None);
    }
    if shop.opts.sitemap_only
        && let Some(resp) = sitemap(&shop, &origin, &path)
    {
        return resp;
    }
    if path == "/" {
        let body = if shop.opts.sitemap_only {
            "<p>Welcome. Our catalogue is in the sitemap.</p>".to_string()
        } else {
            let links: String = (0..listings)
                .map(|i| format!(r#"<li><a href="/category/c{i}">Category {i}</a></li>"#))
                .collect();
            format!(r#"<ul class="category-list">{links}</ul>"#)
        };
        return html(&shop, headers, page(&body), epoch());
    }
    if let Some(i) = number("/category/c").filter(|i| *i < listings && !shop.opts.sitemap_only) {
        let links: String = (i * PER_LISTING..((i + 1) * PER_LISTING).min(products))
            .map(|n| format!(r#"<li><a href="/product/p{n}">Product {n}</a></li>"#))
            .collect();
        return html(
            &shop,
            headers,
            page(&format!(r#"<ul class="product-grid">{links}</ul>"#)),
            epoch(),
        );
    }
    if let Some(n) = number("/product/p").filter(|n| *n < products) {
        let (cents, changed) = shop.products.lock().unwrap_or_else(|e| e.into_inner())[n];
        let body = format!(
            r#"<div class="product-main"><h1 class="product-title">Product {n}</h1><p class="brand">by Gen</p><div class="price-box"><span class="price-now">${}.{:02}</span></div><p class="stock">In stock</p><p class="about">{}</p></div>"#,
            cents / 100,
            cents % 100,
            "A fine product, described at the length of a real product page. ".repeat(20)
        );
        return html(&shop, headers, page(&body), changed);
    }
    (StatusCode::NOT_FOUND, "not found").into_response()
}
