//! Shared test fixtures: an in-process shop server whose pages build their content with a
//! script, and helpers to render with retries and to check that no Chromium is left behind.

#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use haul_core::{Document, NavOptions, PageError, PagePool, Url};

/// Tests that run Chromium take this lock so that they do not compete for the 2 cores.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Counters the pages' requests update.
#[derive(Default)]
pub struct Counters {
    pub pages: AtomicUsize,
    pub images: AtomicUsize,
    pub scripts_in_flight: AtomicUsize,
    pub max_scripts_in_flight: AtomicUsize,
}

/// A running test server.
pub struct Shop {
    pub base: Url,
    pub counters: Arc<Counters>,
}

impl Shop {
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }
}

struct InFlight(Arc<Counters>);

impl InFlight {
    fn enter(c: &Arc<Counters>) -> Self {
        let now = c.scripts_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        c.max_scripts_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(c.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.scripts_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The product page `n`: its content is written by a script after `load` (needs
/// `wait_for: .product`) `delay_ms` after `load`, using data from a script the server delays
/// by its latency. `/p/{n}?delay=<ms>` sets the delay (default 20 ms).
pub fn product_html(n: u32, delay_ms: u64) -> String {
    format!(
        r#"<!doctype html><html><head><title>Item {n}</title>
<script src="/data/{n}.js"></script></head>
<body><div id="app">loading</div><img src="/img/{n}.png" alt="">
<script>
window.addEventListener('load', function () {{
  setTimeout(function () {{
    document.getElementById('app').innerHTML =
      '<h1 class="product">' + DATA.name + '</h1><span class="price">$' + DATA.price + '</span>';
  }}, {delay_ms});
}});
</script></body></html>"#
    )
}

/// Starts the shop on 127.0.0.1 (random port) with `latency` on every data script.
pub async fn start(latency: Duration) -> Shop {
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route(
            "/p/{n}",
            get(
                |State((c, _)): State<(Arc<Counters>, Duration)>,
                 Path(n): Path<u32>,
                 Query(q): Query<HashMap<String, u64>>| async move {
                    c.pages.fetch_add(1, Ordering::SeqCst);
                    Html(product_html(n, q.get("delay").copied().unwrap_or(20)))
                },
            ),
        )
        .route(
            "/data/{file}",
            get(
                |State((c, latency)): State<(Arc<Counters>, Duration)>,
                 Path(file): Path<String>| async move {
                    let _guard = InFlight::enter(&c);
                    tokio::time::sleep(latency).await;
                    let n = file.trim_end_matches(".js");
                    (
                        [(header::CONTENT_TYPE, "application/javascript")],
                        format!("var DATA = {{ name: 'Item {n}', price: '{n}.99' }};"),
                    )
                },
            ),
        )
        .route(
            "/img/{file}",
            get(
                |State((c, _)): State<(Arc<Counters>, Duration)>| async move {
                    c.images.fetch_add(1, Ordering::SeqCst);
                    ([(header::CONTENT_TYPE, "image/png")], Vec::<u8>::new())
                },
            ),
        )
        .route(
            "/ua",
            get(|headers: axum::http::HeaderMap| async move {
                let ua = headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                Html(format!("<html><body><p id=\"ua\">{ua}</p></body></html>"))
            }),
        )
        .route(
            "/gone",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    Html("<html><body><p class=\"missing\">no such product</p></body></html>"),
                )
                    .into_response()
            }),
        )
        .with_state((counters.clone(), latency));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Shop {
        base: Url::parse(&format!("http://{addr}/")).unwrap(),
        counters,
    }
}

/// Options fitting the shop's pages.
pub fn product_opts() -> NavOptions {
    NavOptions {
        timeout: Duration::from_secs(20),
        wait_for: Some(".product".into()),
        settle: true,
        ..NavOptions::default()
    }
}

/// Renders `url` like the runner does: a fresh page per attempt, retrying when the browser
/// crashed. Returns the document and the number of retries.
pub async fn render_retrying(
    pool: &dyn PagePool,
    url: &Url,
    opts: &NavOptions,
    on_retry: impl Fn(),
) -> (Document, u32) {
    let mut retries = 0;
    loop {
        let result = match pool.acquire().await {
            Ok(mut page) => page.render(url, opts).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(doc) => return (doc, retries),
            Err(PageError::Crashed { .. }) if retries < 5 => {
                retries += 1;
                on_retry();
            }
            Err(e) => panic!("rendering {url} failed: {e}"),
        }
    }
}

/// Waits (up to 30 s, for loaded CI machines) until no process uses any of `dirs` and none
/// of them exists.
pub async fn assert_no_chromium_left(dirs: &HashSet<PathBuf>) {
    assert!(!dirs.is_empty(), "no profile directory was recorded");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dirs2 = dirs.clone();
        let left: Vec<(PathBuf, Vec<u32>, bool)> = tokio::task::spawn_blocking(move || {
            dirs2
                .iter()
                .map(|d| {
                    (
                        d.clone(),
                        haul_browser::sys::processes_using_profile(d),
                        d.exists(),
                    )
                })
                .filter(|(_, pids, exists)| !pids.is_empty() || *exists)
                .collect()
        })
        .await
        .unwrap();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Chromium processes or profiles left behind: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
