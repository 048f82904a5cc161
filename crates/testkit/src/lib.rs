//! In-process HTTP servers for tests, benchmarks and `haul serve`: always bound to
//! 127.0.0.1 on a free port, with request accounting (in-flight peak, hits per path).
//!
//! Tests assert concurrency limits from the server's side with [`ServerStats`], which is the
//! honest place to measure them: it counts what actually arrived.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

pub mod botwall;
pub mod changing;
pub mod hostile;
pub mod mixed;
pub mod recrawl;
pub mod site;

pub use botwall::{BotWall, DECOY_NAME};
pub use changing::{ChangingShop, ShopItem, shop_item};
pub use hostile::{
    FORMULA_TITLE, HOSTILE_GOOD, HOSTILE_PATHS, VIA_LOCALHOST, hostile_router, internal_router,
    redirects_router,
};
pub use mixed::{MixedKind, MixedProduct, mixed_router, mixed_truth};
pub use recrawl::{RecrawlShop, ShopCounts, ShopOptions};
pub use site::{Fixtures, Reply};

/// What a [`TestServer`] saw.
#[derive(Debug, Default)]
pub struct ServerStats {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    requests: AtomicUsize,
    hits: Mutex<HashMap<String, usize>>,
    browser_hits: Mutex<HashMap<String, usize>>,
}

impl ServerStats {
    /// Most requests being handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Requests currently being handled.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Requests received in total.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Requests received for `path_and_query` (such as `/product/x`).
    pub fn hits(&self, path_and_query: &str) -> usize {
        self.hits
            .lock()
            .map(|h| h.get(path_and_query).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Requests for `path_and_query` made by a browser (a User-Agent naming Chrome).
    pub fn browser_hits(&self, path_and_query: &str) -> usize {
        self.browser_hits
            .lock()
            .map(|h| h.get(path_and_query).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Every path requested with its count.
    pub fn all_hits(&self) -> HashMap<String, usize> {
        self.hits.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

async fn count(State(stats): State<Arc<ServerStats>>, req: Request, next: Next) -> Response {
    let key = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let from_browser = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.contains("Chrome/"));
    if from_browser && let Ok(mut h) = stats.browser_hits.lock() {
        *h.entry(key.clone()).or_default() += 1;
    }
    if let Ok(mut h) = stats.hits.lock() {
        *h.entry(key).or_default() += 1;
    }
    stats.requests.fetch_add(1, Ordering::SeqCst);
    let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
    // Decrement even if the client goes away and the future is dropped.
    struct Guard(Arc<ServerStats>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _guard = Guard(stats.clone());
    next.run(req).await
}

/// A running server on 127.0.0.1:0; shut down when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    stats: Arc<ServerStats>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestServer {
    /// Serves `router` on a free loopback port, counting requests.
    pub async fn start(router: Router) -> std::io::Result<Self> {
        Self::bind(router, 0).await
    }

    /// Serves `router` on 127.0.0.1:`port` (0 = a free port).
    pub async fn bind(router: Router, port: u16) -> std::io::Result<Self> {
        Self::bind_on(router, std::net::Ipv4Addr::LOCALHOST, port).await
    }

    /// Serves `router` on another loopback address (`127.0.0.2` standing for an internal
    /// service that is not the shop's address); anything but loopback is refused.
    pub async fn bind_on(
        router: Router,
        ip: std::net::Ipv4Addr,
        port: u16,
    ) -> std::io::Result<Self> {
        if !ip.is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("test servers bind loopback addresses only, not {ip}"),
            ));
        }
        let listener = TcpListener::bind((ip, port)).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(ServerStats::default());
        let app = router.layer(middleware::from_fn_with_state(stats.clone(), count));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            stats,
            shutdown: Some(tx),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDRESS:PORT` + `path` (127.0.0.1 unless bound elsewhere).
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{}", self.addr, path)).expect("valid test URL")
    }

    /// What the server saw so far.
    pub fn stats(&self) -> &Arc<ServerStats> {
        &self.stats
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The demo shop as a router, every response delayed by `latency`.
pub fn demo_router(latency: Duration) -> Router {
    Router::new().fallback(move |req: Request| async move {
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let r = haul_site_demo::respond(&path);
        (
            StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, r.content_type)],
            Body::from(r.body),
        )
            .into_response()
    })
}

/// A generated shop of `products` product pages (plus listings of 50 links each), in the demo
/// shop's markup so the `demo` extractor reads it; every response delayed by `latency`.
/// Product `n` is `/product/p<n>`, titled `Product <n>`, priced `<n>.99` USD.
pub fn generated_router(products: usize, latency: Duration) -> Router {
    const PER_LISTING: usize = 50;
    let listings = products.div_ceil(PER_LISTING);
    Router::new().fallback(move |req: Request| async move {
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let path = req.uri().path().to_string();
        let html = |body: String| {
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                format!("<!doctype html><html><head><title>Generated shop</title></head><body><nav class=\"main-nav\"><a href=\"/\">Home</a></nav>{body}<footer>Prices in USD</footer></body></html>"),
            )
                .into_response()
        };
        if path == "/" {
            let links: String = (0..listings)
                .map(|i| format!(r#"<li><a href="/category/c{i}">Category {i}</a></li>"#))
                .collect();
            return html(format!(r#"<ul class="category-list">{links}</ul>"#));
        }
        let number = |prefix: &str| path.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok());
        if let Some(i) = number("/category/c").filter(|i| *i < listings) {
            let links: String = (i * PER_LISTING..((i + 1) * PER_LISTING).min(products))
                .map(|n| format!(r#"<li><a href="/product/p{n}">Product {n}</a> <span class="price">${n}.99</span></li>"#))
                .collect();
            return html(format!(r#"<ul class="product-grid">{links}</ul>"#));
        }
        if let Some(n) = number("/product/p").filter(|n| *n < products) {
            return html(format!(
                r#"<div class="product-main"><h1 class="product-title">Product {n}</h1><p class="brand">by Gen</p><div class="price-box"><span class="price-now">${n}.99</span></div><p class="stock">In stock</p></div>"#
            ));
        }
        (StatusCode::NOT_FOUND, "not found").into_response()
    })
}

/// Crawls `job` through the real runner (plain HTTP fetcher, `pages` if given) into a
/// temporary JSON Lines file and reads it back: each record as JSON with `base` (the test
/// server's origin) replaced by `recorded` and `seen_at` removed, sorted by (url, source), so
/// that site tests can snapshot them. Also returns the crawl report.
pub async fn crawl_site(
    job: haul_runner::SiteJob,
    opts: haul_runner::CrawlOptions,
    pages: Option<std::sync::Arc<dyn haul_core::PagePool>>,
    base: &str,
    recorded: &str,
) -> (Vec<serde_json::Value>, haul_runner::CrawlReport) {
    use haul_runner::{CancellationToken, Crawler, HttpFetcher, HttpOptions, Output, Services};
    let tmp = tempfile::tempdir().expect("temporary directory");
    let path = tmp.path().join("out.jsonl");
    let p = path.clone();
    let output = tokio::task::spawn_blocking(move || Output::create(&p))
        .await
        .expect("output task")
        .expect("output file");
    let services = Services {
        fetcher: std::sync::Arc::new(HttpFetcher::new(&HttpOptions::local()).expect("client")),
        pages,
        llm: None,
    };
    let report = Crawler::new(opts, services, output.sender(), CancellationToken::new())
        .run(vec![job])
        .await;
    output.finish().await.expect("output finished");
    let text = tokio::fs::read_to_string(&path)
        .await
        .expect("output readable");
    let mut records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value =
                serde_json::from_str(&l.replace(base, recorded)).expect("a JSON record");
            if let Some(o) = v.as_object_mut() {
                o.remove("seen_at");
            }
            v
        })
        .collect();
    records.sort_by_key(|v| (v["url"].to_string(), v["source"].to_string()));
    (records, report)
}
