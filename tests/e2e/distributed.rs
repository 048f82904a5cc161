//! End-to-end: one crawl shared by several `haul worker` processes through a real
//! `redis-server` on 127.0.0.1: same records as a single process, exactly once, also when a
//! worker is killed with SIGKILL; per-domain limits hold over all workers together.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use haul_e2e::{
    assert_spaced, demo_server, exited, haul, haul_bin, haul_fails, haul_ok, kill, read_records,
    stderr,
};
use haul_redis::testing::RedisServer;
use haul_testkit::TestServer;
use tokio::process::{Child, Command};

/// What identifies a record's content, for comparing crawls.
type Key = (String, String, String, Option<String>);

fn keys(records: &[haul_core::Record]) -> (BTreeSet<Key>, Vec<(String, String)>) {
    let mut seen = BTreeMap::new();
    let mut dup = Vec::new();
    for r in records {
        if seen.insert((r.site.clone(), r.url.clone()), ()).is_some() {
            dup.push((r.site.clone(), r.url.clone()));
        }
    }
    let set = records
        .iter()
        .map(|r| {
            (
                r.site.clone(),
                r.url.clone(),
                r.title.clone(),
                r.price.map(|p| p.to_string()),
            )
        })
        .collect();
    (set, dup)
}

/// `haul worker` for crawl `crawl` named `name` (waiting up to 60 s for work, no rendering),
/// to start in the background: its standard error piped, killed when dropped.
fn worker_command(redis: &str, crawl: &str, name: &str) -> Command {
    let mut cmd = Command::new(haul_bin());
    cmd.args([
        "worker",
        "--redis",
        redis,
        "--crawl-id",
        crawl,
        "--worker-name",
        name,
        "--wait-secs",
        "60",
        "--render",
        "never",
    ])
    .env("RUST_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    cmd
}

/// A running `haul worker` (see [`worker_command`]) with the `extra` arguments.
fn worker(redis: &str, crawl: &str, name: &str, extra: &[&str]) -> Child {
    worker_command(redis, crawl, name)
        .args(extra)
        .spawn()
        .expect("haul worker starts")
}

/// `n` workers `w0`, `w1`... of crawl `crawl` (see [`worker`]).
fn workers(redis: &str, crawl: &str, n: usize, extra: &[&str]) -> Vec<Child> {
    (0..n)
        .map(|i| worker(redis, crawl, &format!("w{i}"), extra))
        .collect()
}

/// Asserts that `records` hold each record of `expected` once and nothing else (`why` says
/// what a difference would mean).
fn assert_exactly_once(records: &[haul_core::Record], expected: &BTreeSet<Key>, why: &str) {
    let (got, dup) = keys(records);
    assert!(dup.is_empty(), "records written twice: {dup:?}");
    assert_eq!(got.len(), expected.len(), "{why}");
    assert_eq!(got, *expected, "{why}");
}

/// Waits for a worker to exit by itself; returns its standard error.
async fn finished(child: Child) -> (bool, String) {
    let out = exited(child, 60, "a worker exits once the crawl is finished").await;
    (out.status.success(), stderr(&out))
}

/// Pages a worker reports having processed (the `total:` line of its report).
fn pages_of(report: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.strip_prefix("total: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total line in worker report:\n{report}"))
}

/// Starts `haul crawl demo --redis URL --crawl-id ID --start-url ... -o OUT EXTRA` (the
/// coordinator) in the background.
fn coordinator(
    url: &str,
    crawl: &str,
    starts: &[String],
    out: &std::path::Path,
    extra: &[&str],
) -> tokio::task::JoinHandle<std::process::Output> {
    let mut args: Vec<String> = ["crawl", "demo", "--redis", url, "--crawl-id", crawl, "-o"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(out.to_str().unwrap().to_string());
    for s in starts {
        args.extend(["--start-url".to_string(), s.clone()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::spawn(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        haul(&args).await
    })
}

/// Waits for a finished coordinator and checks it succeeded.
async fn succeeded(
    coordinator: tokio::task::JoinHandle<std::process::Output>,
    why: &str,
) -> std::process::Output {
    let out = tokio::time::timeout(Duration::from_secs(120), coordinator)
        .await
        .unwrap_or_else(|_| panic!("{why}"))
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

/// `haul crawl demo --redis URL --crawl-id ID --start-url START --detach` (enqueues the crawl
/// and returns); its output.
async fn detach(url: &str, crawl: &str, start: &str) -> std::process::Output {
    haul(&[
        "crawl",
        "demo",
        "--redis",
        url,
        "--crawl-id",
        crawl,
        "--start-url",
        start,
        "--detach",
    ])
    .await
}

/// `haul collect --redis URL --crawl-id ID -o OUT`; asserts that it succeeded.
async fn collect(url: &str, crawl: &str, out: &std::path::Path) {
    haul_ok(&[
        "collect",
        "--redis",
        url,
        "--crawl-id",
        crawl,
        "-o",
        out.to_str().unwrap(),
    ])
    .await;
}

/// Waits until `server` answered `more` requests after `before`: the crawl is under way.
async fn under_way(server: &TestServer, before: usize, more: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.stats().requests() < before + more {
        assert!(Instant::now() < deadline, "the crawl did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A slow generated shop with its records from a local crawl: a redis-server, the shop, its
/// start URL, a temporary folder, the expected records and the shop's request count so far.
struct SlowShop {
    redis: RedisServer,
    site: TestServer,
    starts: Vec<String>,
    dir: tempfile::TempDir,
    expected: BTreeSet<Key>,
    before: usize,
}

async fn slow_shop(products: usize, latency: Duration) -> SlowShop {
    let redis = RedisServer::start().await;
    let site = TestServer::start(haul_testkit::generated_router(products, latency))
        .await
        .unwrap();
    let starts = vec![site.url("/").to_string()];
    let dir = tempfile::tempdir().unwrap();
    let (expected, _) = keys(&local_crawl(&starts, dir.path()).await);
    let before = site.stats().requests();
    SlowShop {
        redis,
        site,
        starts,
        dir,
        expected,
        before,
    }
}

async fn local_crawl(starts: &[String], dir: &std::path::Path) -> Vec<haul_core::Record> {
    let out = dir.join("local.jsonl");
    let mut args = vec![
        "crawl",
        "demo",
        "--render",
        "never",
        "-o",
        out.to_str().unwrap(),
    ];
    for s in starts {
        args.extend(["--start-url", s.as_str()]);
    }
    haul_ok(&args).await;
    read_records(&out)
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_give_a_single_process_crawls_records_exactly_once() {
    let redis = RedisServer::start().await;
    let demo = demo_server(Duration::ZERO).await;
    // The generated site's levels are told apart by path: `/` (0), `/category/` (1),
    // `/product/` (2); the order of requests shows whether levels ran in order.
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = order.clone();
    let router =
        haul_testkit::generated_router(500, Duration::ZERO).layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                seen.lock().unwrap().push(req.uri().path().to_string());
                next.run(req)
            },
        ));
    let generated = TestServer::start(router).await.unwrap();
    let starts = vec![demo.url("/").to_string(), generated.url("/").to_string()];
    let dir = tempfile::tempdir().unwrap();
    let expected = local_crawl(&starts, dir.path()).await;
    order.lock().unwrap().clear();
    let (expected, dup) = keys(&expected);
    assert!(dup.is_empty());
    assert!(
        expected.len() >= 530,
        "30 demo + 500 generated products: {}",
        expected.len()
    );
    let (demo_hits, generated_hits) = (demo.stats().requests(), generated.stats().requests());

    let url = redis.url();
    let workers = workers(&url, "three", 3, &[]);
    let out = dir.path().join("distributed.jsonl");
    let stats = dir.path().join("stats.json");
    let coordinator = succeeded(
        coordinator(
            &url,
            "three",
            &starts,
            &out,
            &["--stats", stats.to_str().unwrap()],
        ),
        "the crawl completes",
    )
    .await;
    let mut pages = Vec::new();
    for w in workers {
        let (ok, report) = finished(w).await;
        assert!(ok, "worker failed:\n{report}");
        pages.push(pages_of(&report));
    }
    let records = read_records(&out);
    assert_exactly_once(
        &records,
        &expected,
        "distributed records differ from the local crawl's",
    );
    let level = |p: &str| match p {
        "/" => Some(0),
        p if p.starts_with("/category/") => Some(1),
        p if p.starts_with("/product/") => Some(2),
        _ => None,
    };
    let levels: Vec<u32> = order
        .lock()
        .unwrap()
        .iter()
        .filter_map(|p| level(p))
        .collect();
    assert_eq!(levels.len(), 1 + 10 + 500);
    assert!(
        levels.windows(2).all(|w| w[0] <= w[1]),
        "a page of a level was requested before the previous level was done"
    );
    assert!(
        pages.iter().all(|p| *p > 0),
        "every worker took part: {pages:?}"
    );
    // Every page was fetched once over all workers, as in the local crawl. robots.txt aside:
    // each worker reads a site's robots.txt before its first page of that site, so once per
    // worker that got a page of it (a worker can get none of the 41 demo pages when the
    // others are faster), and the local crawl read it once.
    for (name, server, before) in [
        ("demo", &demo, demo_hits),
        ("generated", &generated, generated_hits),
    ] {
        let robots = server.stats().hits("/robots.txt") - 1;
        assert!(
            (1..=3).contains(&robots),
            "{name}: robots.txt read {robots} times by 3 workers"
        );
        assert_eq!(
            server.stats().requests() - before - robots,
            before - 1,
            "{name} pages fetched once each"
        );
    }
    let report = stderr(&coordinator);
    assert!(
        report.contains(&format!("wrote {} records", expected.len())),
        "{report}"
    );
    // The coordinator's report merges the workers' shares, page times included: its
    // percentiles are those of every page's time.
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    let site = &stats["sites"][0];
    let times: BTreeMap<u64, u64> = site["page_ms"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(ms, n)| (ms.parse().unwrap(), n.as_u64().unwrap()))
        .collect();
    let pages = site["pages_ok"].as_u64().unwrap() + site["pages_failed"].as_u64().unwrap();
    assert_eq!(times.values().sum::<u64>(), pages, "{site}");
    let sorted: Vec<u64> = times
        .iter()
        .flat_map(|(ms, n)| std::iter::repeat_n(*ms, *n as usize))
        .collect();
    let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    assert_eq!(site["page_ms_p50"].as_u64(), Some(at(0.5)), "{site}");
    assert_eq!(site["page_ms_p95"].as_u64(), Some(at(0.95)), "{site}");
    assert!(at(0.95) >= at(0.5));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_with_sigkill_mid_crawl_loses_nothing() {
    // Slow pages, so the crawl is still running when the worker dies.
    let shop = slow_shop(500, Duration::from_millis(25)).await;

    let url = shop.redis.url();
    let visibility = ["--visibility-timeout", "2"];
    let mut victim = worker(&url, "kill", "victim", &visibility);
    let others = workers(&url, "kill", 2, &visibility);
    let out = shop.dir.path().join("distributed.jsonl");
    let running = coordinator(&url, "kill", &shop.starts, &out, &[]);
    // Kill the victim in the middle of the product level.
    under_way(&shop.site, shop.before, 150).await;
    victim.start_kill().expect("SIGKILL");
    let status = victim.wait().await.unwrap();
    assert!(!status.success(), "the victim was killed, not finished");
    succeeded(running, "the crawl completes without the killed worker").await;
    for w in others {
        let (ok, report) = finished(w).await;
        assert!(ok, "worker failed:\n{report}");
    }
    assert_exactly_once(
        &read_records(&out),
        &shop.expected,
        "records lost or changed by the kill",
    );
}

/// Request start times of a server that answers slowly, to observe per-domain limits.
#[derive(Default)]
struct Log {
    starts: Vec<Instant>,
    in_flight: usize,
    max_in_flight: usize,
}

#[tokio::test(flavor = "multi_thread")]
async fn per_domain_concurrency_and_delay_hold_over_all_workers() {
    let log = Arc::new(Mutex::new(Log::default()));
    async fn page(State(log): State<Arc<Mutex<Log>>>, Path(n): Path<u32>) -> Html<String> {
        {
            let mut l = log.lock().unwrap();
            l.starts.push(Instant::now());
            l.in_flight += 1;
            l.max_in_flight = l.max_in_flight.max(l.in_flight);
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        log.lock().unwrap().in_flight -= 1;
        Html(format!(
            r#"<html><body><div class="product-main"><h1>Item {n}</h1><span class="price-now">${n}.00</span></div><footer>Prices in USD</footer></body></html>"#
        ))
    }
    let links: String = (0..24)
        .map(|n| format!(r#"<li><a href="/product/{n}">{n}</a></li>"#))
        .collect();
    let index = format!(r#"<html><body><ul class="product-grid">{links}</ul></body></html>"#);
    let app = Router::new()
        .route("/", get(move || async move { Html(index) }))
        .route("/product/{n}", get(page))
        .with_state(log.clone());
    let server = TestServer::start(app).await.unwrap();
    let redis = RedisServer::start().await;
    let url = redis.url();
    // Each worker alone would allow 8 at once and no delay between its own requests... but
    // the flags are per domain over the whole crawl.
    let limits = [
        "--per-domain-concurrency",
        "2",
        "--delay-ms",
        "40",
        "--concurrency",
        "8",
    ];
    let workers = workers(&url, "polite", 3, &limits);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let starts = [server.url("/").to_string()];
    let running = coordinator(&url, "polite", &starts, &out, &["--max-level", "1"]);
    succeeded(running, "the crawl completes").await;
    for w in workers {
        let (ok, report) = finished(w).await;
        assert!(ok, "{report}");
    }
    assert_eq!(read_records(&out).len(), 24);
    let l = log.lock().unwrap();
    assert_eq!(l.starts.len(), 24);
    assert!(
        l.max_in_flight <= 2,
        "in flight at once: {}",
        l.max_in_flight
    );
    assert!(l.max_in_flight >= 1);
    // 40 ms apart on Redis' clock; stamped by this test's server, a few ms less.
    assert_spaced(l.starts.clone(), Duration::from_millis(35), "requests");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_redis_and_a_crawl_id_in_use_are_clear_errors() {
    let free = haul_redis::testing::free_port();
    let nowhere = format!("redis://127.0.0.1:{free}/0");
    let err = haul_fails(&["worker", "--redis", &nowhere]).await;
    assert!(err.contains(&format!("127.0.0.1:{free}")), "{err}");
    assert!(err.contains("unreachable"), "{err}");

    let redis = RedisServer::start().await;
    let url = redis.url();
    let first = detach(&url, "busy", "http://127.0.0.1:9/").await;
    assert!(first.status.success(), "{}", stderr(&first));
    let second = detach(&url, "busy", "http://127.0.0.1:9/").await;
    assert!(!second.status.success());
    let err = stderr(&second);
    assert!(err.contains("\"busy\" is already running"), "{err}");
    assert!(err.contains("--fresh"), "{err}");
    for (id, why) in [("a:b", "only letters"), ("rate", "shared by every crawl")] {
        let bad_id = haul(&["worker", "--redis", &url, "--crawl-id", id]).await;
        let err = stderr(&bad_id);
        assert!(!bad_id.status.success(), "{err}");
        assert!(err.contains(&format!("invalid crawl id {id:?}")), "{err}");
        assert!(err.contains(why), "{err}");
    }
}

/// The most request arrivals in any window `[t, t + 1 s)`.
fn max_in_one_second(mut times: Vec<Instant>) -> usize {
    times.sort();
    let mut best = 0;
    for (i, t) in times.iter().enumerate() {
        let n = times[i..]
            .iter()
            .take_while(|u| **u < *t + Duration::from_secs(1))
            .count();
        best = best.max(n);
    }
    best
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_sharing_one_llm_key_stay_under_its_limit_together() {
    use haul_llm::fake::{FakeReply, FakeServer};
    const PAGES: usize = 36;
    // The provider allows 10 requests per second per key and answers 429 above that.
    let llm = FakeServer::builder()
        .rate_limit(10)
        .respond(|req| {
            let n: String = req.prompt().chars().filter(char::is_ascii_digit).take(4).collect();
            FakeReply::Answer(format!(
                r#"{{"products": [{{"title": "Kettle {n}", "price": "${n}.00", "currency": "USD"}}]}}"#
            ))
        })
        .start()
        .await
        .unwrap();
    async fn page(Path(n): Path<u32>) -> Html<String> {
        Html(format!(
            r#"<html><head><title>Kettle</title></head><body><main><h1>Kettle {n}</h1>
<div class="buy"><b>Our price today:</b> {n} dollars flat</div>
<button class="add-to-cart">Add to cart</button></main></body></html>"#
        ))
    }
    let shop = TestServer::start(Router::new().route("/product/{n}", get(page)))
        .await
        .unwrap();
    let redis = RedisServer::start().await;
    let url = redis.url();
    let base = llm.base_url().to_string();
    let spawn = |name: &str| {
        worker_command(&url, "llm", name)
            .args(["--extract", "llm"])
            .args([
                // Four loops, each with at most one page waiting for its answer: neither
                // worker can claim all 36 pages before the other one starts.
                "--concurrency",
                "4",
                "--llm-provider",
                "openai",
                "--llm-base-url",
                &base,
            ])
            // 600 per minute = the provider's 10 per second, for the key over all workers.
            .args(["--llm-rpm", "600"])
            .env("HAUL_LLM_KEYS", "sk-the-one-shared-key")
            .spawn()
            .expect("haul worker starts")
    };
    let workers = [spawn("a"), spawn("b")];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let mut args = vec![
        "crawl".to_string(),
        "--redis".into(),
        url.clone(),
        "--crawl-id".into(),
        "llm".into(),
        "--max-level".into(),
        "0".into(),
        "-o".into(),
        out.to_str().unwrap().into(),
    ];
    for n in 0..PAGES {
        args.push("--start-url".into());
        args.push(shop.url(&format!("/product/{n}")).to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let res = haul_ok(&args).await;
    let mut reports = Vec::new();
    for w in workers {
        let (ok, report) = finished(w).await;
        assert!(ok, "{report}");
        assert!(!report.contains("sk-the-one-shared-key"), "the key leaked");
        reports.push(report);
    }
    let records = read_records(&out);
    assert_eq!(records.len(), PAGES, "{}", stderr(&res));
    assert!(records.iter().all(|r| r.title.starts_with("Kettle ")));
    let log = llm.log();
    assert_eq!(log.len(), PAGES, "one call per page");
    assert_eq!(llm.rate_limited(), 0, "no request over the key's limit");
    let busiest = max_in_one_second(log.iter().map(|l| l.at.into_std()).collect());
    // The fake counts 10 per one-second window plus one request of slack.
    assert!(busiest <= 11, "{busiest} requests in one second");
    // Both workers called the provider (the limit was shared, not avoided).
    assert!(
        reports.iter().all(|r| pages_of(r) > 0),
        "both workers took part: {reports:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_pause_while_redis_is_away_and_finish_the_crawl_after() {
    let shop = slow_shop(300, Duration::from_millis(20)).await;
    let url = shop.redis.url();
    let workers = workers(&url, "away", 2, &[]);
    let out = shop.dir.path().join("out.jsonl");
    let running = coordinator(&url, "away", &shop.starts, &out, &[]);
    under_way(&shop.site, shop.before, 60).await;
    // Redis stops answering (as behind a network cut) for longer than a command's timeout.
    let pid = shop.redis.pid().expect("redis runs");
    kill("-STOP", pid);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = shop.site.stats().requests();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Workers finish the pages they had but take no new URL while Redis is away.
    assert!(
        shop.site.stats().requests() - during <= 2 * 8,
        "workers went on without Redis"
    );
    kill("-CONT", pid);
    succeeded(running, "the crawl completes once Redis is back").await;
    for w in workers {
        let (ok, report) = finished(w).await;
        assert!(
            ok,
            "a worker gave up instead of waiting for Redis:\n{report}"
        );
    }
    assert_exactly_once(
        &read_records(&out),
        &shop.expected,
        "records lost while Redis was away",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_detached_crawl_is_written_by_haul_collect_which_can_be_run_again() {
    let redis = RedisServer::start().await;
    let demo = demo_server(Duration::ZERO).await;
    let starts = vec![demo.url("/").to_string()];
    let dir = tempfile::tempdir().unwrap();
    let (expected, _) = keys(&local_crawl(&starts, dir.path()).await);
    let url = redis.url();
    let enqueued = detach(&url, "later", &starts[0]).await;
    assert!(enqueued.status.success(), "{}", stderr(&enqueued));
    let (ok, report) = finished(worker(&url, "later", "solo", &[])).await;
    assert!(ok, "{report}");
    assert!(pages_of(&report) > 30, "{report}");
    // Finished: every key of the crawl expires after a day (the default --keep-finished).
    let ttls = key_ttls(&redis, "later");
    assert!(ttls.len() >= 5, "keys of the crawl: {ttls:?}");
    assert!(
        ttls.iter().all(|(_, t)| (86_000..=86_400).contains(t)),
        "{ttls:?}"
    );
    // Nothing was collected yet: the records wait in Redis.
    let out = dir.path().join("collected.jsonl");
    collect(&url, "later", &out).await;
    assert_exactly_once(&read_records(&out), &expected, "collected records");
    // A second run finds the crawl finished and nothing new: the file is unchanged.
    collect(&url, "later", &out).await;
    assert_eq!(read_records(&out).len(), expected.len());
    // The id of a finished crawl can be used again: its keys are replaced.
    let reused = detach(&url, "later", &starts[0]).await;
    assert!(reused.status.success(), "{}", stderr(&reused));
    assert!(
        stderr(&reused).contains("(1 start URLs)"),
        "{}",
        stderr(&reused)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn max_pages_bounds_the_crawl_over_all_workers() {
    let redis = RedisServer::start().await;
    let demo = demo_server(Duration::ZERO).await;
    let url = redis.url();
    let workers = workers(&url, "bounded", 2, &[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let starts = [demo.url("/").to_string()];
    let running = coordinator(
        &url,
        "bounded",
        &starts,
        &out,
        &["--max-pages", "12", "--keep-finished", "3600"],
    );
    let res = succeeded(running, "the crawl completes").await;
    // The finished crawl's keys expire after --keep-finished.
    let ttls = key_ttls(&redis, "bounded");
    assert!(ttls.len() >= 5, "keys of the crawl: {ttls:?}");
    assert!(
        ttls.iter().all(|(_, t)| (3000..=3600).contains(t)),
        "{ttls:?}"
    );
    let mut pages = 0;
    let mut workers_with_pages = 0;
    for w in workers {
        let (ok, report) = finished(w).await;
        assert!(ok, "{report}");
        let n = pages_of(&report);
        pages += n;
        workers_with_pages += usize::from(n > 0);
    }
    assert_eq!(pages, 12, "--max-pages counts the pages of all workers");
    // The server saw the same: 12 pages, each fetched once, over all workers...
    let mut hits = demo.stats().all_hits();
    let robots = hits.remove("/robots.txt").unwrap_or(0);
    assert_eq!(hits.len(), 12, "pages fetched: {hits:?}");
    assert!(
        hits.values().all(|n| *n == 1),
        "a page fetched twice: {hits:?}"
    );
    // ...and robots.txt, apart: once by each worker that fetched a page, before its first
    // one. A worker can get no page at all (the other may take all 12 before it asks), and
    // then fetches no robots.txt either.
    assert_eq!(
        robots, workers_with_pages,
        "robots.txt fetches (workers that fetched pages: {workers_with_pages})"
    );
    assert!(stderr(&res).contains("total: 12 pages"), "{}", stderr(&res));
}

/// `redis-cli -p PORT ARGS` (redis-cli comes with redis-server); its output.
fn redis_cli(redis: &RedisServer, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .arg("-p")
        .arg(redis.port().to_string())
        .args(args)
        .output()
        .expect("redis-cli runs (it is installed with redis-server)");
    assert!(out.status.success(), "redis-cli {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every key of crawl `crawl` with its time to live in seconds (-1 = none).
fn key_ttls(redis: &RedisServer, crawl: &str) -> Vec<(String, i64)> {
    let pattern = format!("haul:{crawl}:*");
    redis_cli(redis, &["--scan", "--pattern", &pattern])
        .lines()
        .map(|key| {
            let ttl = redis_cli(redis, &["TTL", key]);
            (
                key.to_string(),
                ttl.trim().parse().expect("TTL is a number"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn flushall_mid_crawl_is_a_clear_error_from_workers_and_coordinator_within_seconds() {
    let redis = RedisServer::start().await;
    let site = TestServer::start(haul_testkit::generated_router(
        300,
        Duration::from_millis(20),
    ))
    .await
    .unwrap();
    let starts = vec![site.url("/").to_string()];
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let workers = workers(&url, "flushed", 2, &[]);
    let out = dir.path().join("out.jsonl");
    let running = coordinator(&url, "flushed", &starts, &out, &[]);
    under_way(&site, 0, 40).await;
    // Redis loses every key, as after a restart without persistence.
    assert_eq!(redis_cli(&redis, &["FLUSHALL"]).trim(), "OK");
    let flushed = Instant::now();
    let limit = Duration::from_secs(15);
    let coord = tokio::time::timeout(limit, running)
        .await
        .expect("the coordinator stops within seconds")
        .unwrap();
    let coord_secs = flushed.elapsed().as_secs_f64();
    assert!(!coord.status.success(), "{}", stderr(&coord));
    assert!(
        stderr(&coord).contains("crawl \"flushed\" vanished from Redis")
            && stderr(&coord).contains("FLUSHALL"),
        "{}",
        stderr(&coord)
    );
    for w in workers {
        let out = tokio::time::timeout(limit, w.wait_with_output())
            .await
            .expect("a worker stops within seconds")
            .unwrap();
        assert!(!out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("crawl \"flushed\" vanished from Redis"),
            "{}",
            stderr(&out)
        );
    }
    eprintln!(
        "after FLUSHALL: coordinator stopped in {coord_secs:.1} s, workers by {:.1} s",
        flushed.elapsed().as_secs_f64()
    );
}

/// The links of a page of the slow-extraction shop (`/product/{name}`): levels 0
/// (`root`), 1 (`slow`, `quick`) and 2 (`after-slow`, `after-quick`).
fn kettle_links(name: &str) -> &'static [&'static str] {
    match name {
        "root" => &["slow", "quick"],
        "slow" => &["after-slow"],
        "quick" => &["after-quick"],
        _ => &[],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_extraction_on_one_worker_does_not_hold_the_next_level_of_any() {
    use haul_llm::fake::{FakeReply, FakeServer};
    // The LLM answers at once, except for the page `slow`: 10 s.
    const SLOW: Duration = Duration::from_secs(10);
    let llm = FakeServer::builder()
        .respond(|req| {
            let name: String = req
                .prompt()
                .split("Kettle ")
                .nth(1)
                .unwrap_or_default()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let answer = FakeReply::Answer(format!(
                r#"{{"products": [{{"title": "Kettle {name}", "price": "$12.00", "currency": "USD"}}]}}"#
            ));
            if name == "slow" {
                FakeReply::Delay(SLOW, Box::new(answer))
            } else {
                answer
            }
        })
        .start()
        .await
        .unwrap();
    async fn page(Path(name): Path<String>) -> Html<String> {
        let links: String = kettle_links(&name)
            .iter()
            .map(|l| format!(r#"<li><a href="/product/{l}">More kettles</a></li>"#))
            .collect();
        Html(format!(
            r#"<html><head><title>Kettle</title></head><body><main><h1>Kettle {name}</h1>
<div class="buy"><b>Our price today:</b> twelve dollars flat</div>
<button class="add-to-cart">Add to cart</button><ul>{links}</ul></main></body></html>"#
        ))
    }
    // When the server got each page.
    let fetched: Arc<Mutex<BTreeMap<String, Instant>>> = Arc::default();
    let seen = fetched.clone();
    let router =
        Router::new()
            .route("/product/{name}", get(page))
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let path = req.uri().path().to_string();
                    seen.lock()
                        .unwrap()
                        .entry(path)
                        .or_insert_with(Instant::now);
                    next.run(req)
                },
            ));
    let shop = TestServer::start(router).await.unwrap();
    let redis = RedisServer::start().await;
    let url = redis.url();
    let base = llm.base_url().to_string();
    // A 4 s visibility timeout: the slow page's claim is kept alive while its answer is
    // awaited, else another worker would take it over and ask the LLM again.
    let spawn = |name: &str| {
        worker_command(&url, "slow", name)
            .args(["--extract", "llm", "--visibility-timeout", "4"])
            .args(["--llm-provider", "openai", "--llm-base-url", &base])
            .env("HAUL_LLM_KEYS", "sk-test")
            .spawn()
            .expect("haul worker starts")
    };
    let workers = [spawn("a"), spawn("b")];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let start = shop.url("/product/root").to_string();
    let crawl = [
        "crawl",
        "--redis",
        &url,
        "--crawl-id",
        "slow",
        "--max-level",
        "2",
        "--start-url",
        &start,
        "-o",
        out.to_str().unwrap(),
    ];
    let res = haul_ok(&crawl).await;
    let ended = Instant::now();
    for w in workers {
        let (ok, report) = finished(w).await;
        assert!(ok, "{report}");
    }

    // Every record, the slow one included, once.
    let records = read_records(&out);
    let titles: BTreeSet<String> = records.iter().map(|r| r.title.clone()).collect();
    let want: BTreeSet<String> = ["root", "slow", "quick", "after-slow", "after-quick"]
        .iter()
        .map(|n| format!("Kettle {n}"))
        .collect();
    assert_eq!(titles, want, "{}", stderr(&res));
    assert_eq!(records.len(), want.len(), "no record twice");
    // One LLM call per page: no page was processed twice.
    let log = llm.log();
    assert_eq!(log.len(), want.len(), "{log:?}");
    let asked = log
        .iter()
        .find(|l| l.prompt.contains("Kettle slow"))
        .expect("the slow page went to the LLM")
        .at
        .into_std();
    let answered = asked + SLOW;
    // Level 2 was fetched (both pages, also the slow page's own link) before the slow
    // answer came, and the crawl waited for it.
    let fetched = fetched.lock().unwrap().clone();
    for path in ["/product/after-slow", "/product/after-quick"] {
        let at = fetched[path];
        assert!(
            at < answered,
            "{path} fetched {:?} after the slow page went to the LLM (answer after {SLOW:?})",
            at - asked
        );
    }
    assert!(ended > answered, "the crawl ended before the slow record");
}
