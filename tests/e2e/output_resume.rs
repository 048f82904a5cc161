//! End-to-end: output formats written by the real binary, the SQLite price history, and
//! `--resume` after `kill -9`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use haul_e2e::{demo_crawl, demo_server, haul_command, haul_ok, wait_until};
use haul_site_demo::CATALOG;
use haul_testkit::TestServer;

fn assert_is_the_catalogue(records: &[haul_core::Record], server: &TestServer) {
    assert_eq!(records.len(), CATALOG.len());
    let by_url: HashMap<&str, &haul_core::Record> =
        records.iter().map(|r| (r.url.as_str(), r)).collect();
    assert_eq!(by_url.len(), CATALOG.len(), "each record exactly once");
    for p in CATALOG {
        let url = server.url(&format!("/product/{}", p.slug)).to_string();
        let r = by_url[url.as_str()];
        assert_eq!(r.title, p.title);
        assert_eq!(r.price.map(|d| d.to_string()), Some(p.price_decimal()));
        assert_eq!(r.list_price.map(|d| d.to_string()), p.list_price_decimal());
        assert_eq!(r.sku.as_deref(), Some(p.sku));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_output_format_round_trips() {
    let server = demo_server(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let start = server.url("/");
    for ext in ["jsonl", "json", "csv", "db"] {
        let path = dir.path().join(format!("out.{ext}"));
        haul_ok(&demo_crawl(start.as_str(), &path, &[])).await;
        let records = haul_output::read_records(&path).unwrap();
        assert_is_the_catalogue(&records, &server);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sqlite_store_records_a_price_change_across_two_crawls() {
    let price = Arc::new(AtomicU32::new(1999));
    let app = Router::new()
        .route(
            "/",
            get(|| async { Html(r#"<ul class="product-grid"><li><a href="/product/kettle">Kettle</a></li><li><a href="/product/mug">Mug</a></li></ul>"#) }),
        )
        .route(
            "/product/kettle",
            get(|State(p): State<Arc<AtomicU32>>| async move {
                let cents = p.load(Ordering::SeqCst);
                Html(format!(
                    r#"<div class="product-main"><h1>Kettle</h1><span class="price-now">${}.{:02}</span></div><footer>Prices in USD</footer>"#,
                    cents / 100,
                    cents % 100
                ))
            }),
        )
        .route(
            "/product/mug",
            get(|| async { Html(r#"<div class="product-main"><h1>Mug</h1><span class="price-now">$5.00</span></div><footer>Prices in USD</footer>"#) }),
        )
        .with_state(price.clone());
    let server = TestServer::start(app).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prices.db");
    let start = server.url("/");
    let args = demo_crawl(start.as_str(), &db, &[]);
    haul_ok(&args).await;
    price.store(1499, Ordering::SeqCst);
    haul_ok(&args).await;

    let conn = rusqlite::Connection::open(&db).unwrap();
    let kettle = server.url("/product/kettle").to_string();
    let history: Vec<String> = conn
        .prepare("SELECT price FROM price_history WHERE url = ?1 ORDER BY id")
        .unwrap()
        .query_map([&kettle], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(history, vec!["19.99".to_string(), "14.99".to_string()]);
    let mug: i64 = conn
        .query_row(
            "SELECT count(*) FROM price_history WHERE url LIKE '%/product/mug'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mug, 1, "an unchanged price adds no history row");
    let current: String = conn
        .query_row("SELECT price FROM records WHERE url = ?1", [&kettle], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(current, "14.99");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_then_resume_gives_every_record_exactly_once() {
    let server = demo_server(Duration::from_millis(150)).await;
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let state = dir.path().join("state");
    let start = server.url("/");
    let extra = ["--concurrency", "3", "--state", state.to_str().unwrap()];
    let args = demo_crawl(start.as_str(), &out_path, &extra);
    let mut child = haul_command(&args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it mid-way through the product level.
    wait_until(30, "no progress in 30 s", || {
        let n = std::fs::read_to_string(&out_path)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        n >= 8
    })
    .await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let partial = haul_output::read_records(&out_path)
        .unwrap_or_default()
        .len();
    assert!(
        partial < CATALOG.len(),
        "killed before the end ({partial} records)"
    );
    let before = server.stats().all_hits();

    let mut resume_args = args.to_vec();
    resume_args.push("--resume");
    haul_ok(&resume_args).await;
    let records = haul_output::read_records(&out_path).unwrap();
    assert_is_the_catalogue(&records, &server);
    // Pages finished before the kill were not fetched again.
    let after = server.stats().all_hits();
    assert_eq!(
        after["/"], 1,
        "the home page (level 0) was done and is not fetched again"
    );
    let refetched = before
        .iter()
        // Level 1 (the first page of each category) was complete before level 2 started.
        .filter(|(p, n)| p.starts_with("/category") && !p.contains("/page/") && after[*p] > **n)
        .count();
    assert_eq!(refetched, 0, "finished level-1 pages are not fetched again");
}
