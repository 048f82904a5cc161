//! The browser pool against the real Chromium: concurrency bound, pages given back, crash
//! recovery, retirement, the single-use fallback, and no Chromium left behind.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Shop, assert_no_chromium_left, product_opts, render_retrying, start};
use haul_browser::{BrowserConfig, BrowserPool, OwnBrowser};
use haul_core::{Document, NavOptions, PageError, PagePool};
use tokio::sync::MutexGuard;

/// Takes the lock of the tests that run Chromium, sets up logging and starts the shop (each
/// response delayed by `latency`).
async fn serial_shop(latency: Duration) -> (MutexGuard<'static, ()>, Shop) {
    let serial = common::SERIAL.lock().await;
    init_logs();
    (serial, start(latency).await)
}

/// Renders the shop's product `n` on a page of `pool`, waiting for its script-built content.
fn render_product(
    pool: &Arc<BrowserPool>,
    shop: &Shop,
    n: u32,
) -> impl Future<Output = (u32, Document)> + Send + 'static {
    let pool = pool.clone();
    let url = shop.url(&format!("p/{n}"));
    async move {
        let mut page = pool.acquire().await.unwrap();
        (n, page.render(&url, &product_opts()).await.unwrap())
    }
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("RUST_LOG")
                .unwrap_or_else(|_| format!("warn,{}", haul_browser::LOG_FILTER)),
        )
        .with_test_writer()
        .try_init();
}

fn cfg(browsers: usize, pages_per_browser: usize) -> BrowserConfig {
    BrowserConfig {
        browsers,
        pages_per_browser,
        ..BrowserConfig::local()
    }
}

/// Samples a pool's CDP page targets and profile directories on a task of its own.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, HashSet<std::path::PathBuf>)>,
}

impl Sampler {
    fn start(pool: Arc<BrowserPool>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let until = stop.clone();
        let task = tokio::spawn(async move {
            let (mut max_targets, mut dirs) = (0, HashSet::new());
            while !until.load(Ordering::SeqCst) {
                if let Ok(n) = pool.open_targets().await {
                    max_targets = max_targets.max(n);
                }
                dirs.extend(pool.profile_dirs());
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            (max_targets, dirs)
        });
        Self { stop, task }
    }

    /// Stops sampling; the most page targets seen open at once and every profile directory.
    async fn finish(self) -> (usize, HashSet<std::path::PathBuf>) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_renders_stay_within_the_bound_and_give_every_page_back() {
    let (_serial, shop) = serial_shop(Duration::from_millis(40)).await;
    let pool = BrowserPool::new(cfg(2, 3)).unwrap();
    let sampler = Sampler::start(pool.clone());

    let tasks: Vec<_> = (0..60u32)
        .map(|n| tokio::spawn(render_product(&pool, &shop, n)))
        .collect();
    for task in tasks {
        let (n, doc) = task.await.unwrap();
        assert!(doc.rendered);
        assert_eq!(doc.status, 200);
        assert!(
            doc.body
                .contains(&format!("<h1 class=\"product\">Item {n}</h1>")),
            "script-written content missing for page {n}: {}",
            doc.body
        );
    }
    let (max_targets, dirs) = sampler.finish().await;

    let c = &shop.counters;
    let max_in_flight = c.max_scripts_in_flight.load(Ordering::SeqCst);
    assert!(max_targets <= 6, "CDP reported {max_targets} pages open");
    assert!(
        max_targets >= 2,
        "pages did not run concurrently ({max_targets})"
    );
    assert!(
        max_in_flight <= 6,
        "server saw {max_in_flight} pages at once"
    );
    assert!(max_in_flight >= 2, "server saw no concurrency");
    assert_eq!(c.pages.load(Ordering::SeqCst), 60);
    assert_eq!(
        c.images.load(Ordering::SeqCst),
        0,
        "images were not blocked"
    );
    let stats = pool.stats();
    assert_eq!(stats.pages_served, 60);
    assert_eq!(stats.launches, 2, "{stats:?}");
    assert_eq!((stats.relaunches, stats.retirements), (0, 0));
    assert!(stats.peak_open <= 6 && stats.peak_open >= 2, "{stats:?}");
    assert!(stats.mean_page_ms > 0.0);
    assert_eq!(dirs.len(), 2);

    // Every page came back: none borrowed, the open tabs are exactly the kept idle ones,
    // and closing those brings CDP's count back to the baseline (no tab per browser).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pool.pages_in_use(), 0);
    let idle = pool.idle_pages();
    assert!((1..=6).contains(&idle), "{idle} idle pages");
    assert_eq!(pool.open_targets().await.unwrap(), idle);
    pool.close_idle().await;
    // Chromium drops a closed target from its list shortly after the close returns.
    let mut open = pool.open_targets().await.unwrap();
    for _ in 0..50 {
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        open = pool.open_targets().await.unwrap();
    }
    assert_eq!(open, 0);

    // A page dropped by a panicking borrower is closed, not reused.
    let borrower = {
        let pool = pool.clone();
        let url = shop.url("p/100");
        tokio::spawn(async move {
            let mut page = pool.acquire().await.unwrap();
            page.render(&url, &product_opts()).await.unwrap();
            panic!("extractor bug");
        })
    };
    assert!(borrower.await.unwrap_err().is_panic());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pool.pages_in_use(), 0);
    assert_eq!(pool.idle_pages(), 0);
    assert_eq!(pool.open_targets().await.unwrap(), 0);

    pool.close().await;
    assert!(pool.pids().is_empty());
    assert_no_chromium_left(&dirs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_browser_is_replaced_and_every_url_succeeds_on_retry() {
    let (_serial, shop) = serial_shop(Duration::from_millis(40)).await;
    let pool = BrowserPool::new(cfg(2, 3)).unwrap();
    let sampler = Sampler::start(pool.clone());
    let done = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));

    let tasks: Vec<_> = (0..60u32)
        .map(|n| {
            let (pool, done, retries) = (pool.clone(), done.clone(), retries.clone());
            let url = shop.url(&format!("p/{n}"));
            tokio::spawn(async move {
                let (doc, _) = render_retrying(pool.as_ref(), &url, &product_opts(), || {
                    pool.record_retry();
                    retries.fetch_add(1, Ordering::SeqCst);
                })
                .await;
                done.fetch_add(1, Ordering::SeqCst);
                (n, doc)
            })
        })
        .collect();

    // Kill one Chromium (the browser process itself) once a few pages are done.
    while done.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let victim = pool.pids()[0];
    let status = tokio::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());

    for task in tasks {
        let (n, doc) = task.await.unwrap();
        assert!(doc.body.contains(&format!(">Item {n}<")), "page {n}");
    }
    let (max_targets, dirs) = sampler.finish().await;
    assert!(max_targets <= 6);

    let stats = pool.stats();
    assert!(stats.relaunches >= 1, "{stats:?}");
    assert!(stats.launches >= 3, "{stats:?}");
    assert_eq!(stats.retries, retries.load(Ordering::SeqCst) as u64);
    assert!(!pool.pids().contains(&victim));
    assert!(dirs.len() >= 3, "{dirs:?}");

    pool.close().await;
    assert_no_chromium_left(&dirs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_retire_after_their_quota() {
    let (_serial, shop) = serial_shop(Duration::from_millis(5)).await;
    let pool = BrowserPool::new(BrowserConfig {
        retire_after: 5,
        ..cfg(1, 2)
    })
    .unwrap();
    let mut dirs = HashSet::new();
    for chunk in (0..12u32).collect::<Vec<_>>().chunks(2) {
        let renders = chunk.iter().map(|n| render_product(&pool, &shop, *n));
        for (n, doc) in futures::future::join_all(renders).await {
            assert!(doc.body.contains(&format!(">Item {n}</h1>")), "page {n}");
        }
        dirs.extend(pool.profile_dirs());
    }
    let stats = pool.stats();
    assert_eq!(stats.pages_served, 12);
    assert_eq!(stats.retirements, 2, "{stats:?}");
    assert_eq!(stats.launches, 3, "{stats:?}");
    assert_eq!(stats.relaunches, 0);
    assert!(pool.pids().len() <= 1);
    pool.close().await;
    assert_no_chromium_left(&dirs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_browser_gives_the_same_dom_and_errors_are_precise() {
    let (_serial, shop) = serial_shop(Duration::from_millis(5)).await;
    let url = shop.url("p/7");
    let opts = product_opts();

    let pool = BrowserPool::new(cfg(1, 2)).unwrap();
    let pooled = pool
        .acquire()
        .await
        .unwrap()
        .render(&url, &opts)
        .await
        .unwrap();
    // The fallback, here with resource blocking switched off: same DOM, images load.
    assert_eq!(shop.counters.images.load(Ordering::SeqCst), 0);
    let own = OwnBrowser::new(BrowserConfig {
        block_resources: false,
        ..cfg(1, 2)
    })
    .unwrap();
    let mut dirs: HashSet<_> = pool.profile_dirs().into_iter().collect();
    let single = {
        let mut page = own.acquire().await.unwrap();
        dirs.extend(own.profile_dirs());
        assert_eq!(own.pids().len(), 1);
        page.render(&url, &opts).await.unwrap()
    };
    assert_eq!(pooled.body, single.body);
    assert_eq!(shop.counters.images.load(Ordering::SeqCst), 1);
    assert!(single.body.contains("<h1 class=\"product\">Item 7</h1>"));
    assert_eq!(
        (pooled.url.clone(), single.url.clone()),
        (url.clone(), url.clone())
    );
    let s = own.stats();
    assert_eq!((s.launches, s.pages_served), (1, 1));

    // Without `wait_for` or settling the script-written content is not there yet.
    let early = pool
        .acquire()
        .await
        .unwrap()
        .render(
            &shop.url("p/7?delay=3000"),
            &NavOptions {
                settle: false,
                ..NavOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(!early.body.contains("<h1 class=\"product\">Item 7</h1>"));
    assert!(early.body.contains("<div id=\"app\">loading</div>"));

    // HTTP errors keep their status; refused connections and timeouts are named.
    let gone = pool
        .acquire()
        .await
        .unwrap()
        .render(&shop.url("gone"), &NavOptions::default())
        .await
        .unwrap();
    assert_eq!(gone.status, 404);
    assert!(gone.body.contains("no such product"));
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let refused = url::Url::parse(&format!("http://127.0.0.1:{closed_port}/")).unwrap();
    match pool.acquire().await.unwrap().render(&refused, &opts).await {
        Err(PageError::Navigation { url, message }) => {
            assert_eq!(url, refused.as_str());
            // Through the network gate, with the gate's reason.
            assert!(message.contains("Connection refused"), "{message}");
        }
        other => panic!("expected a navigation error, got {other:?}"),
    }
    let never = NavOptions {
        timeout: Duration::from_millis(800),
        wait_for: Some(".never-there".into()),
        settle: true,
        ..NavOptions::default()
    };
    let mut page = pool.acquire().await.unwrap();
    match page.render(&url, &never).await {
        Err(PageError::Timeout { url: u, .. }) => assert_eq!(u, url.as_str()),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(!page.reusable(), "a timed-out page must not be reused");
    let bad = NavOptions {
        wait_for: Some("div[".into()),
        ..NavOptions::default()
    };
    let err = page.render(&url, &bad).await.unwrap_err().to_string();
    assert!(err.contains("div["), "{err}");
    drop(page);
    let mut page = pool.acquire().await.unwrap();
    page.render(&url, &opts).await.unwrap();
    let title = page.evaluate("document.title").await.unwrap();
    assert_eq!(title, serde_json::json!("Item 7"));

    // Pages send the desktop Chrome User-Agent by default.
    let ua = haul_browser::CHROME_USER_AGENT;
    let seen = page
        .render(&shop.url("ua"), &NavOptions::default())
        .await
        .unwrap();
    assert!(
        seen.body.contains(&format!("<p id=\"ua\">{ua}</p>")),
        "{}",
        seen.body
    );
    let agent = page.evaluate("navigator.userAgent").await.unwrap();
    assert_eq!(agent, serde_json::json!(ua));
    drop(page);

    // Dropping the pools without `close` leaves no Chromium and no profile behind.
    drop(pool);
    drop(own);
    assert_no_chromium_left(&dirs).await;
}
