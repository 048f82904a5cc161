//! End-to-end with the real Chromium: render auto on a mix of static and script-built pages,
//! the pooled and unpooled paths, the concurrency bound, crash recovery, and no orphans.
//!
//! Each crawl runs with `TMPDIR` set to a temporary folder of its test, where haul creates its
//! Chromium profiles, so that a test checks for its own browsers only (a machine-wide look
//! also saw the browsers of any other haul running meanwhile: a benchmark, a manual crawl).
//! The tests share one lock all the same, so that their timings do not mix.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use haul_e2e::{
    assert_no_chromium_left, demo_server, exited, haul_chromium_pids, haul_command, kill,
    read_records, read_stats, stderr, wait_for_records,
};
use haul_site_demo::CATALOG;
use haul_testkit::{TestServer, demo_router};
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

async fn crawl(
    server: &TestServer,
    start: &str,
    extra: &[&str],
    dir: &Path,
) -> (
    std::process::Output,
    Vec<haul_core::Record>,
    serde_json::Value,
) {
    let out_path = dir.join("out.jsonl");
    let stats_path = dir.join("stats.json");
    let out = haul_command(&["crawl", "demo", "--start-url", server.url(start).as_str()])
        .arg("-o")
        .arg(&out_path)
        .arg("--stats")
        .arg(&stats_path)
        .args(extra)
        .env("RUST_LOG", "warn")
        .env("TMPDIR", dir)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stats = read_stats(&stats_path);
    (out, read_records(&out_path), stats)
}

/// The requests of pages at work, as the server sees them: every request in flight except
/// Chromium's `/favicon.ico` fetches. Chromium asks for a page's icon after its `load` event,
/// when haul may already have read the page and handed the tab to the next URL, so the icon
/// request outlives the page's turn in the pool and is no page at work. Measured on the runs
/// that failed with "in flight: 7" or 8 (issue #11): every time more than 6 requests were in
/// flight, one or two of them were `/favicon.ico`, and the others were at most 3 per browser,
/// the killed one included. A tab loads its document, then its stylesheet, one after the
/// other, so without the icons requests in flight bound the pages at work.
#[derive(Debug, Default)]
struct PageRequests {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    icons: AtomicUsize,
}

impl PageRequests {
    /// `router` with its requests counted into `self`.
    fn count(self: &Arc<Self>, router: axum::Router) -> axum::Router {
        let seen = self.clone();
        router.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let seen = seen.clone();
                async move {
                    if req.uri().path() == "/favicon.ico" {
                        seen.icons.fetch_add(1, Ordering::SeqCst);
                        return next.run(req).await;
                    }
                    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
                    // Decrement also when the client goes away and the future is dropped.
                    struct Done(Arc<PageRequests>);
                    impl Drop for Done {
                        fn drop(&mut self) {
                            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let _done = Done(seen);
                    next.run(req).await
                }
            },
        ))
    }
}

fn by_title(records: &[haul_core::Record]) -> HashMap<String, String> {
    records
        .iter()
        .map(|r| {
            (
                r.title.clone(),
                r.price.map(|p| p.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

fn catalogue() -> HashMap<String, String> {
    CATALOG
        .iter()
        .map(|p| (p.title.to_string(), p.price_decimal()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn render_auto_uses_the_browser_only_for_script_built_pages_pooled_or_not() {
    let _serial = SERIAL.lock().await;
    let server = demo_server(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let (out, records, stats) = crawl(&server, "/mixed", &[], dir.path()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        by_title(&records),
        catalogue(),
        "every product, static or script-built"
    );
    let script_built = CATALOG.len() / 2;
    assert_eq!(stats["sites"][0]["rendered"], script_built as u64);
    for (i, p) in CATALOG.iter().enumerate() {
        let static_path = format!("/product/{}", p.slug);
        let js_path = format!("/js/product/{}", p.slug);
        if i % 2 == 0 {
            assert_eq!(
                server.stats().browser_hits(&static_path),
                0,
                "{static_path} needs no browser"
            );
        } else {
            assert_eq!(
                server.stats().browser_hits(&js_path),
                1,
                "{js_path} rendered once"
            );
        }
    }
    assert!(stats["browser"]["launches"].as_u64().unwrap() >= 1);

    // The same extractor without a pool: every rendered page gets its own browser.
    let dir2 = tempfile::tempdir().unwrap();
    let (out, records_unpooled, stats) =
        crawl(&server, "/mixed", &["--no-pool"], dir2.path()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(by_title(&records_unpooled), by_title(&records));
    assert_eq!(
        stats["browser"]["launches"], script_built as u64,
        "one browser per page without the pool"
    );
    assert_no_chromium_left(&[dir.path(), dir2.path()]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_bounds_open_pages_and_recovers_from_a_killed_browser() {
    let _serial = SERIAL.lock().await;
    // Slow pages, so that a kill lands mid-crawl and concurrency is visible at the server.
    let page_requests = Arc::new(PageRequests::default());
    let server = TestServer::start(page_requests.count(demo_router(Duration::from_millis(150))))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let stats_path = dir.path().join("stats.json");
    let child = haul_command(&["crawl", "demo", "--start-url", server.url("/js").as_str()])
        .args([
            "--render",
            "always",
            "--browsers",
            "2",
            "--pages-per-browser",
            "3",
            "--concurrency",
            "12",
        ])
        .arg("-o")
        .arg(&out_path)
        .arg("--stats")
        .arg(&stats_path)
        .env("RUST_LOG", "warn")
        .env("TMPDIR", dir.path())
        .spawn()
        .unwrap();
    let haul_pid = child.id().unwrap();
    // Once a few records are out, kill one of the browsers haul launched.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let victim = loop {
        assert!(tokio::time::Instant::now() < deadline, "no records in 60 s");
        let done = read_records(&out_path).len();
        let browsers: Vec<u32> = haul_chromium_pids(&[dir.path()])
            .into_iter()
            .filter(|pid| parent_of(*pid) == Some(haul_pid))
            .collect();
        if done >= 5 && !browsers.is_empty() {
            break browsers[0];
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    kill("-9", victim);
    let out = exited(child, 120, "crawl finishes").await;
    assert!(out.status.success(), "{}", stderr(&out));
    let records = read_records(&out_path);
    assert_eq!(
        by_title(&records),
        catalogue(),
        "every record despite the killed browser"
    );
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stats_path).unwrap()).unwrap();
    assert!(
        stats["browser"]["relaunches"].as_u64().unwrap() >= 1,
        "{}",
        stats["browser"]
    );
    let retried = stats["sites"][0]["retry_kinds"]["browser_crash"]
        .as_u64()
        .unwrap_or(0)
        + stats["sites"][0]["retry_kinds"]["browser"]
            .as_u64()
            .unwrap_or(0)
        + stats["sites"][0]["retry_kinds"]["page_timeout"]
            .as_u64()
            .unwrap_or(0);
    assert!(
        retried >= 1,
        "pages on the killed browser were retried: {}",
        stats["sites"][0]
    );
    assert!(
        stats["browser"]["peak_open"].as_u64().unwrap() <= 6,
        "{}",
        stats["browser"]
    );
    // Pages at work, as the server sees them, never exceed the pool's 2 x 3 pages (the
    // killed browser's unfinished requests included: they were its pages at work).
    let pages_at_work = page_requests.max_in_flight.load(Ordering::SeqCst);
    assert!(
        pages_at_work <= 6,
        "page requests in flight: {pages_at_work} (all requests: {}, favicon fetches: {})",
        server.stats().max_in_flight(),
        page_requests.icons.load(Ordering::SeqCst)
    );
    assert_no_chromium_left(&[dir.path()]).await;
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_mid_crawl_closes_every_browser_and_keeps_the_output() {
    stop_mid_crawl_closes_every_browser_and_keeps_the_output("-INT").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_crawl_closes_every_browser_and_keeps_the_output() {
    stop_mid_crawl_closes_every_browser_and_keeps_the_output("-TERM").await;
}

/// Stops a crawl that renders every page with `signal` (as `kill` takes it): haul exits within
/// its grace period, keeps what it found, and leaves no Chromium behind.
async fn stop_mid_crawl_closes_every_browser_and_keeps_the_output(signal: &str) {
    let _serial = SERIAL.lock().await;
    let server = demo_server(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let child = haul_command(&["crawl", "demo", "--render", "always", "--grace-secs", "3"])
        .args(["--start-url", server.url("/js").as_str()])
        .arg("-o")
        .arg(&out_path)
        .env("RUST_LOG", "warn")
        .env("TMPDIR", dir.path())
        .spawn()
        .unwrap();
    wait_for_records(&out_path, 3, 60).await;
    // Also shows that the browsers are found in the crawl's TMPDIR.
    assert!(
        !haul_chromium_pids(&[dir.path()]).is_empty(),
        "the browser is running"
    );
    let interrupted = std::time::Instant::now();
    kill(signal, child.id().unwrap());
    let out = exited(child, 20, &format!("haul exits after kill {signal}")).await;
    assert!(
        interrupted.elapsed() < Duration::from_secs(10),
        "took {:?}",
        interrupted.elapsed()
    );
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    let records = read_records(&out_path);
    assert!(records.len() >= 3 && records.len() < CATALOG.len());
    assert_no_chromium_left(&[dir.path()]).await;
    // Closed cleanly: no profile left for the next haul to sweep.
    assert_eq!(profiles_in(dir.path()), Vec::<std::path::PathBuf>::new());
}

/// `haul-chromium-*` profile directories in `dir`.
fn profiles_in(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("haul-chromium-"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_dies_with_a_sigkilled_haul_and_the_next_haul_removes_its_profile() {
    let _serial = SERIAL.lock().await;
    let server = demo_server(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &str| {
        let mut cmd = haul_command(&["crawl", "demo", "--render", "always"]);
        cmd.args(["--start-url", server.url("/js").as_str()])
            .arg("-o")
            .arg(dir.path().join(out))
            .env("RUST_LOG", "warn")
            .env("TMPDIR", dir.path());
        cmd
    };
    let mut victim = run("killed.jsonl").spawn().unwrap();
    wait_for_records(&dir.path().join("killed.jsonl"), 1, 60).await;
    assert!(
        !haul_chromium_pids(&[dir.path()]).is_empty(),
        "the browser is running"
    );
    victim.start_kill().expect("SIGKILL");
    victim.wait().await.unwrap();
    let killed = std::time::Instant::now();
    // SIGKILL gives haul no chance to close its browser, but the kernel kills Chromium with
    // it (parent-death signal): nothing of the killed run keeps running.
    assert_no_chromium_left(&[dir.path()]).await;
    let gone_after = killed.elapsed();
    eprintln!("Chromium gone {gone_after:?} after haul was SIGKILLed");
    assert!(gone_after < Duration::from_secs(5), "took {gone_after:?}");
    // Its profile directory stays (nobody was left to remove it) ...
    assert!(!profiles_in(dir.path()).is_empty());

    // ... until the next haul that starts a browser sweeps it away, leaving nothing of its own.
    let next = run("next.jsonl")
        .args(["--max-pages", "2"])
        .output()
        .await
        .unwrap();
    assert!(next.status.success(), "{}", stderr(&next));
    assert_no_chromium_left(&[dir.path()]).await;
    assert_eq!(profiles_in(dir.path()), Vec::<std::path::PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn rendered_pages_obey_robots_txt_like_fetched_ones() {
    let _serial = SERIAL.lock().await;
    let server = demo_server(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    // The demo shop's robots.txt disallows /cart; `--render always` must not navigate there.
    let (out, records, stats) = crawl(&server, "/cart", &["--render", "always"], dir.path()).await;
    // Its only page failed, so the crawl says so with its exit status.
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("disallowed by robots.txt"),
        "{}",
        stderr(&out)
    );
    assert!(records.is_empty());
    assert_eq!(stats["sites"][0]["errors"]["robots"], 1, "{stats}");
    assert_eq!(stats["sites"][0]["rendered"], 0, "{stats}");
    assert_eq!(server.stats().hits("/cart"), 0, "the browser stayed away");
    assert_eq!(server.stats().hits("/robots.txt"), 1);
    assert_no_chromium_left(&[dir.path()]).await;
}
