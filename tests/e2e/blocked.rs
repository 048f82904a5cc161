//! End-to-end: `haul crawl` of a shop behind a bot wall (`haul_testkit::BotWall`, on
//! 127.0.0.1): after a few pages it answers challenge pages of several vendors (403 and 200,
//! a 302 to `/captcha`), each showing a decoy product. No record comes from a challenge
//! page, `--stats` counts the blocks by vendor and the `blocked` failures, the breaker pauses
//! the domain and then stops it, and the printed report names the domain and the time.

use std::time::{Duration, Instant};

use haul_e2e::{haul_bin, read_records, read_stats, stderr};
use haul_testkit::{BotWall, DECOY_NAME, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_wall_yields_no_decoy_record_and_stops_the_domain_with_a_report_line() {
    let wall = BotWall {
        free: 3,
        products: 12,
    };
    let shop = TestServer::start(wall.router()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (out, stats) = (dir.path().join("out.jsonl"), dir.path().join("stats.json"));
    let start = shop.url("/");
    let started = Instant::now();
    let run = tokio::process::Command::new(haul_bin())
        .args(["crawl", "generic", "--start-url", start.as_str()])
        .args([
            "--max-level",
            "1",
            "--render",
            "never",
            "--concurrency",
            "1",
        ])
        .args(["--retries", "1", "--block-pause-after", "2"])
        .args(["--block-stop-after", "5", "--block-backoff-ms", "300"])
        .arg("-o")
        .arg(&out)
        .arg("--stats")
        .arg(&stats)
        .output();
    let run = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the crawl ends")
        .unwrap();
    let err = stderr(&run);
    assert_eq!(
        run.status.code(),
        Some(3),
        "a stopped domain exits 3: {err}"
    );

    // Only the pages served before the wall went up made records; no decoy.
    let records = read_records(&out);
    let mut names: Vec<String> = records.iter().map(|r| r.title.clone()).collect();
    names.sort();
    assert_eq!(names, ["Widget 1", "Widget 2"], "{err}");
    assert!(!names.iter().any(|n| n == DECOY_NAME));

    let domain = format!("127.0.0.1:{}", shop.addr().port());
    let stats = read_stats(&stats);
    let site = &stats["sites"][0];
    assert_eq!(site["errors"]["blocked"], 3, "{site:#}");
    assert_eq!(site["errors"]["domain_stopped"], 7, "{site:#}");
    for vendor in [
        "cloudflare",
        "perimeterx",
        "captcha_redirect",
        "datadome",
        "akamai",
    ] {
        assert_eq!(site["blocks"][vendor], 1, "{vendor}: {site:#}");
    }
    assert_eq!(site["block_pauses"], 3, "{site:#}");
    let stop = &site["block_stops"][domain.as_str()];
    assert_eq!(stop["blocks"], 5, "{site:#}");
    assert_eq!(stop["url"], shop.url("/p/5").as_str());

    // The pauses grew: 300 ms, 600 ms, 1200 ms at least.
    assert!(started.elapsed() >= Duration::from_millis(2100));
    // Nothing more was asked of the stopped domain.
    for n in 6..=12 {
        assert_eq!(shop.stats().hits(&format!("/p/{n}")), 0, "/p/{n}");
    }

    // The printed report says where and when.
    let at = stop["at"].as_str().unwrap();
    let line = err
        .lines()
        .find(|l| l.contains("STOPPED:"))
        .unwrap_or_else(|| panic!("no STOPPED line: {err}"));
    assert!(
        line.contains(&format!(
            "STOPPED: {domain} blocked 5 times in a row (last by akamai on {})",
            shop.url("/p/5")
        )),
        "{line}"
    );
    assert!(
        line.contains(&format!(" at {}", &at[..19])),
        "{line} / {at}"
    );
    assert!(
        err.contains("blocked: akamai=1 captcha_redirect=1 cloudflare=1 datadome=1 perimeterx=1 (domain pauses: 3)"),
        "{err}"
    );
}

/// Two `haul worker`s crawl the bot wall: the blocks either of them meets count in one row
/// per domain through Redis, so the domain stops for both after `--block-stop-after` blocks
/// in all (with a breaker per worker it would take that many blocks each).
#[tokio::test(flavor = "multi_thread")]
async fn in_a_cluster_the_blocks_of_every_worker_count_in_one_row() {
    use haul_redis::testing::RedisServer;
    use std::process::Stdio;

    let wall = BotWall {
        free: 3,
        products: 30,
    };
    let shop = TestServer::start(wall.router()).await.unwrap();
    let redis = RedisServer::start().await;
    let url = redis.url();
    let worker = |name: &str| {
        tokio::process::Command::new(haul_bin())
            .args(["worker", "--redis", &url, "--crawl-id", "wall"])
            .args([
                "--worker-name",
                name,
                "--wait-secs",
                "60",
                "--render",
                "never",
            ])
            .args(["--concurrency", "1", "--retries", "0"])
            .args(["--block-pause-after", "2", "--block-stop-after", "5"])
            .args(["--block-backoff-ms", "200"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("haul worker starts")
    };
    let workers = [worker("a"), worker("b")];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let start = shop.url("/");
    let run = tokio::process::Command::new(haul_bin())
        .args(["crawl", "generic", "--redis", &url, "--crawl-id", "wall"])
        .args(["--start-url", start.as_str(), "--max-level", "1"])
        .arg("-o")
        .arg(&out)
        .output();
    let run = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("the crawl ends")
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let mut reports = String::new();
    for w in workers {
        let done = tokio::time::timeout(Duration::from_secs(60), w.wait_with_output())
            .await
            .expect("a worker exits once the crawl is over")
            .unwrap();
        reports.push_str(&stderr(&done));
    }
    let names: Vec<String> = read_records(&out).into_iter().map(|r| r.title).collect();
    assert!(!names.iter().any(|n| n == DECOY_NAME), "{names:?}");
    // Challenge pages served: the product pages asked for after the two free ones. One row
    // of 5 stops the domain; the other worker may have one page in flight when it stops;
    // and a free page's answer noted after the first block (the two workers' pages cross
    // in flight on a loaded machine) starts the row again, one block later.
    let asked: usize = (1..=30)
        .map(|n| shop.stats().hits(&format!("/p/{n}")))
        .sum();
    let blocks = asked - names.len();
    assert!(
        (5..=7).contains(&blocks),
        "{blocks} challenge pages served to two workers (a breaker each would take 10): {reports}"
    );
    assert!(asked < 30, "the stopped domain was still crawled: {asked}");
}
