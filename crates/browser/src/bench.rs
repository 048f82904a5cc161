//! `cargo xtask bench browser`: script-rendered pages from an in-process server with added
//! latency, rendered one-browser-per-URL ([`OwnBrowser`]) and through the pool (new tab per
//! URL and reused tabs); reports pages/s and the peak memory (PSS) of the process tree.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::Html;
use axum::routing::get;
use futures::StreamExt;
use haul_core::{NavOptions, PagePool, Url};

use crate::{BrowserConfig, BrowserPool, OwnBrowser};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Pages per setup.
    pub pages: usize,
    /// Delay the server adds to each page's data script.
    pub latency: Duration,
    /// The pool configuration (its `browsers x pages_per_browser` is also the concurrency
    /// of the one-browser-per-URL run).
    pub browser: BrowserConfig,
    /// Also run the original design's 3 browsers x 5 pages.
    pub include_original: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            pages: 100,
            latency: Duration::from_millis(30),
            browser: BrowserConfig::local(),
            include_original: true,
        }
    }
}

/// One measured setup.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// What ran.
    pub setup: String,
    /// Pages rendered.
    pub pages: usize,
    /// Wall time for all pages, browser launches included, final close excluded.
    pub seconds: f64,
    /// Pages per second.
    pub pages_per_sec: f64,
    /// Peak PSS of this process and all its children (Chromium), in MiB.
    pub peak_pss_mib: f64,
    /// Browsers launched.
    pub launches: u64,
}

/// All measured setups.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Cores of the machine.
    pub cores: usize,
    /// Server latency per page, in milliseconds.
    pub latency_ms: u64,
    /// One row per setup.
    pub rows: Vec<BenchRow>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "browser bench: script-rendered pages, {} ms server latency, {} cores",
            self.latency_ms, self.cores
        )?;
        writeln!(
            f,
            "| setup | pages | seconds | pages/s | peak PSS (MiB) | launches |"
        )?;
        writeln!(f, "| --- | --- | --- | --- | --- | --- |")?;
        for r in &self.rows {
            writeln!(
                f,
                "| {} | {} | {:.1} | {:.1} | {:.0} | {} |",
                r.setup, r.pages, r.seconds, r.pages_per_sec, r.peak_pss_mib, r.launches
            )?;
        }
        Ok(())
    }
}

/// Runs every setup one after the other (each on a fresh pool, closed afterwards).
pub async fn run(opts: &BenchOptions) -> Result<BenchReport, String> {
    let base = serve(opts.latency).await?;
    let cfg = &opts.browser;
    let (n, m) = (cfg.browsers, cfg.pages_per_browser);
    let mut setups: Vec<(String, BrowserConfig, bool)> = vec![
        (
            format!("one browser per URL, {} at a time", cfg.max_pages()),
            cfg.clone(),
            false,
        ),
        (
            format!("pool {n} x {m}, new tab per URL"),
            BrowserConfig {
                reuse_pages: false,
                ..cfg.clone()
            },
            true,
        ),
        (
            format!("pool {n} x {m}, reused tabs (default)"),
            BrowserConfig {
                reuse_pages: true,
                ..cfg.clone()
            },
            true,
        ),
    ];
    if opts.include_original && (n, m) != (3, 5) {
        setups.push((
            "pool 3 x 5 (original sizing), reused tabs".into(),
            BrowserConfig {
                browsers: 3,
                pages_per_browser: 5,
                reuse_pages: true,
                ..cfg.clone()
            },
            true,
        ));
    }
    let mut rows = Vec::new();
    for (setup, cfg, pooled) in setups {
        let concurrency = cfg.max_pages();
        let pool: Arc<dyn PagePool> = if pooled {
            BrowserPool::new(cfg).map_err(|e| e.to_string())?
        } else {
            OwnBrowser::new(cfg).map_err(|e| e.to_string())?
        };
        let row = measure(&setup, pool, &base, opts.pages, concurrency).await?;
        tracing::info!(setup = %row.setup, pages_per_sec = row.pages_per_sec, peak_pss_mib = row.peak_pss_mib, "bench row");
        rows.push(row);
    }
    Ok(BenchReport {
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        latency_ms: u64::try_from(opts.latency.as_millis()).unwrap_or(u64::MAX),
        rows,
    })
}

async fn measure(
    setup: &str,
    pool: Arc<dyn PagePool>,
    base: &Url,
    pages: usize,
    concurrency: usize,
) -> Result<BenchRow, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            let me = std::process::id();
            while !stop.load(Ordering::SeqCst) {
                peak.fetch_max(crate::sys::tree_pss_bytes(me), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let opts = NavOptions {
        timeout: Duration::from_secs(30),
        wait_for: Some(".product".into()),
        settle: true,
        ..NavOptions::default()
    };
    let started = Instant::now();
    let results: Vec<Result<(), String>> = futures::stream::iter(0..pages)
        .map(|i| {
            let (pool, opts) = (pool.clone(), opts.clone());
            let url = base.join(&format!("p/{i}")).expect("valid bench URL");
            async move {
                let mut page = pool.acquire().await.map_err(|e| e.to_string())?;
                let doc = page.render(&url, &opts).await.map_err(|e| e.to_string())?;
                if doc.body.contains(&format!(">Item {i}</h1>")) {
                    Ok(())
                } else {
                    Err(format!("{url}: script-written content missing"))
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let _ = tokio::task::spawn_blocking(move || sampler.join()).await;
    let launches = pool.stats().launches;
    pool.close().await;
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        return Err(format!("{setup}: {e}"));
    }
    Ok(BenchRow {
        setup: setup.to_string(),
        pages,
        seconds,
        pages_per_sec: pages as f64 / seconds,
        peak_pss_mib: peak.load(Ordering::SeqCst) as f64 / (1024.0 * 1024.0),
        launches,
    })
}

/// A product page whose content a script writes after `load`, from a delayed data script;
/// with an image (blocked by default) like a real shop page.
fn page_html(n: u32) -> String {
    format!(
        r#"<!doctype html><html><head><title>Item {n}</title>
<style>body {{ font-family: sans-serif }} .price {{ color: #b00 }}</style>
<script src="/data/{n}.js"></script></head>
<body><div id="app">loading</div><img src="/img/{n}.png" alt="">
<script>
window.addEventListener('load', function () {{
  var app = document.getElementById('app');
  var html = '<h1 class="product">' + DATA.name + '</h1><span class="price">$' + DATA.price + '</span><ul>';
  for (var i = 0; i < 50; i++) {{ html += '<li class="related">Related ' + i + '</li>'; }}
  app.innerHTML = html + '</ul>';
}});
</script></body></html>"#
    )
}

/// Starts the bench server on 127.0.0.1 (random port); returns its base URL.
async fn serve(latency: Duration) -> Result<Url, String> {
    let app = Router::new()
        .route(
            "/p/{n}",
            get(|Path(n): Path<u32>| async move { Html(page_html(n)) }),
        )
        .route(
            "/data/{file}",
            get(
                |State(latency): State<Duration>, Path(file): Path<String>| async move {
                    tokio::time::sleep(latency).await;
                    let n = file.trim_end_matches(".js").to_string();
                    (
                        [(header::CONTENT_TYPE, "application/javascript")],
                        format!("var DATA = {{ name: 'Item {n}', price: '{n}.99' }};"),
                    )
                },
            ),
        )
        .route(
            "/img/{file}",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], vec![0u8; 4096]) }),
        )
        .with_state(latency);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("binding the bench server on 127.0.0.1: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("bench server address: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "bench server stopped");
        }
    });
    Url::parse(&format!("http://{addr}/")).map_err(|e| e.to_string())
}
