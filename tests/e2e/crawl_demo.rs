//! End-to-end: the real `haul` binary crawls the demo shop served on 127.0.0.1.

use std::collections::HashMap;
use std::time::Duration;

use haul_e2e::{
    demo_crawl, demo_server, exited, haul_command, haul_fails, haul_ok, kill, read_records, stderr,
    wait_for_records,
};
use haul_site_demo::CATALOG;

#[tokio::test(flavor = "multi_thread")]
async fn crawl_gets_every_demo_product_right_within_the_concurrency_limit() {
    // Latency makes requests overlap, so the concurrency bound is actually exercised.
    let server = demo_server(Duration::from_millis(25)).await;
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("demo.jsonl");
    let start = server.url("/");
    let out = haul_ok(&demo_crawl(
        start.as_str(),
        &out_path,
        &["--concurrency", "3"],
    ))
    .await;

    let records = read_records(&out_path);
    assert_eq!(records.len(), CATALOG.len(), "one record per product");
    let by_url: HashMap<String, _> = records.iter().map(|r| (r.url.clone(), r)).collect();
    assert_eq!(by_url.len(), CATALOG.len(), "no product twice");
    for p in CATALOG {
        let url = server.url(&format!("/product/{}", p.slug)).to_string();
        let r = by_url.get(&url).unwrap_or_else(|| panic!("missing {url}"));
        assert_eq!(r.title, p.title, "{url}");
        assert_eq!(
            r.price.map(|d| d.to_string()),
            Some(p.price_decimal()),
            "{url}"
        );
        assert_eq!(
            r.list_price.map(|d| d.to_string()),
            p.list_price_decimal(),
            "{url}"
        );
        assert_eq!(
            r.currency.map(|c| c.to_string()).as_deref(),
            Some("USD"),
            "{url}"
        );
        assert_eq!(r.site, "demo");
    }

    let stats = server.stats();
    assert!(
        stats.max_in_flight() <= 3,
        "server saw {} requests at once with --concurrency 3",
        stats.max_in_flight()
    );
    assert!(
        stats.max_in_flight() >= 2,
        "pages of a level should overlap"
    );
    // Each page once: the utm-tagged pager link and the #reviews fragments are the same pages.
    for (path, hits) in stats.all_hits() {
        assert_eq!(hits, 1, "{path} fetched {hits} times");
    }
    let summary = stderr(&out);
    assert!(summary.contains("30 records"), "summary: {summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_level_limits_the_depth() {
    let server = demo_server(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("l1.jsonl");
    let start = server.url("/");
    haul_ok(&demo_crawl(
        start.as_str(),
        &out_path,
        &["--max-level", "1"],
    ))
    .await;
    // Level 0 = home, level 1 = the three category pages; products are level 2.
    assert!(read_records(&out_path).is_empty());
    assert_eq!(server.stats().hits("/robots.txt"), 1);
    assert_eq!(
        server.stats().requests(),
        1 + 4,
        "robots.txt, home and 3 categories"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_clear_error_with_a_non_zero_exit() {
    // (arguments, what the error says)
    let cases: [(&[&str], &[&str]); 3] = [
        (
            &[
                "crawl",
                "no-such-shop",
                "--start-url",
                "http://127.0.0.1:9/",
            ],
            &["unknown site \"no-such-shop\"", "known sites: ", "demo"],
        ),
        (
            &["crawl", "demo", "--start-url", "shop.example/no-scheme"],
            &["\"shop.example/no-scheme\" is not a valid URL"],
        ),
        (
            &[
                "crawl",
                "demo",
                "--concurrency",
                "0",
                "--start-url",
                "http://127.0.0.1:9/",
            ],
            &["--concurrency"],
        ),
    ];
    for (args, says) in cases {
        let err = haul_fails(args).await;
        for s in says {
            assert!(err.contains(s), "{args:?}: {err}");
        }
    }

    let server = demo_server(Duration::ZERO).await;
    let start = server.url("/");
    let nowhere = std::path::Path::new("/nonexistent-dir/out.jsonl");
    let err = haul_fails(&demo_crawl(start.as_str(), nowhere, &[])).await;
    assert!(
        err.contains("cannot create output file /nonexistent-dir/out.jsonl"),
        "{err}"
    );
    assert_eq!(
        server.stats().requests(),
        0,
        "nothing is fetched when the output cannot be written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_keeps_every_record_already_found() {
    stop_keeps_every_record_already_found("-INT").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_keeps_every_record_already_found_like_ctrl_c() {
    stop_keeps_every_record_already_found("-TERM").await;
}

/// Interrupts a crawl mid-way with `signal` (as `kill` takes it) and checks that every record
/// found so far is written and the report says the crawl was interrupted.
async fn stop_keeps_every_record_already_found(signal: &str) {
    // Slow pages so that the crawl is surely mid-way when it is interrupted.
    let server = demo_server(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("int.jsonl");
    let start = server.url("/");
    let child = haul_command(&demo_crawl(
        start.as_str(),
        &out_path,
        &["--concurrency", "2"],
    ))
    .spawn()
    .unwrap();
    // Wait until some records are on disk (they are flushed as they arrive).
    wait_for_records(&out_path, 3, 30).await;
    kill(signal, child.id().unwrap());
    let out = exited(child, 10, &format!("haul exits soon after kill {signal}")).await;
    let err = stderr(&out);
    assert!(err.contains("interrupted"), "{err}");
    let records = read_records(&out_path);
    assert!(
        records.len() >= 3 && records.len() < CATALOG.len(),
        "{} records",
        records.len()
    );
    // Every product page the server answered made it into the file.
    let served = server
        .stats()
        .all_hits()
        .keys()
        .filter(|p| p.starts_with("/product/"))
        .count();
    assert_eq!(
        records.len(),
        served,
        "every product page fetched was written"
    );
}
