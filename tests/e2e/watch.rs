//! End-to-end: `haul watch` recrawls the demo shop on a short interval from haul.toml into a
//! SQLite store, logs one summary line per run, serves `/metrics` meanwhile, and stops
//! cleanly on SIGTERM. Two watches one after the other over a changing shop deliver exactly
//! the expected change events to a webhook, across the restart, and count them in
//! `haul_events_total`. Two watches at once on one store share the runs through the store's
//! lease: the shop sees each run once, never two at once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use haul_e2e::{demo_server, haul_command, kill, wait_until};
use haul_site_demo::CATALOG;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// `GET /metrics` over a plain socket: the body.
async fn scrape(addr: SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// The address of `/metrics` the watch logged.
fn metrics_addr(lines: &Mutex<Vec<String>>) -> SocketAddr {
    let all = lines.lock().unwrap();
    let line = all
        .iter()
        .find(|l| l.contains("metrics on http://"))
        .expect("the metrics address is logged");
    let rest = line.split("metrics on http://").nth(1).unwrap();
    rest.trim_end_matches("/metrics").trim().parse().unwrap()
}

fn count(lines: &Mutex<Vec<String>>, what: &str) -> usize {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(what))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_runs_twice_on_its_interval_serves_metrics_and_stops_on_sigterm() {
    let server = demo_server(std::time::Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db");
    let config = dir.path().join("haul.toml");
    std::fs::write(
        &config,
        format!(
            "render = \"never\"\n[sites.demo]\nevery = \"2s\"\nstart_urls = [\"{}\", \"{}\"]\n",
            server.url("/"),
            server.url("/no-such-page")
        ),
    )
    .unwrap();
    let mut child = haul_command(&[
        "watch",
        "--config",
        config.to_str().unwrap(),
        "-o",
        store.to_str().unwrap(),
        "--jitter",
        "0",
        "--metrics",
        "127.0.0.1:0",
    ])
    .env("RUST_LOG", "warn,haul_cli=info,haul_watch=info")
    .spawn()
    .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = lines.clone();
    let reading = tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    wait_until(60, "no first run in 60 s", || {
        count(&lines, "run done: site=demo") >= 1
    })
    .await;
    let addr = metrics_addr(&lines);
    let body = scrape(addr).await;
    let pages = CATALOG.len();
    for metric in [
        "haul_pages_total{site=\"demo\",outcome=\"ok\"}",
        &format!("haul_records_total{{site=\"demo\"}} {pages}"),
        "haul_runs_total{site=\"demo\"} 1",
        "haul_run_duration_seconds_count{site=\"demo\"} 1",
        "haul_failures_total{site=\"demo\",kind=\"http_404\"} 1",
        "haul_browser_pages_in_use 0",
        "haul_browser_pages_idle 0",
        "haul_browsers 0",
        "haul_llm_in_flight 0",
        "haul_llm_keys_cooling 0",
    ] {
        assert!(
            body.contains(metric),
            "{metric} missing from /metrics:\n{body}"
        );
    }
    wait_until(60, "no second run in 60 s", || {
        count(&lines, "run done: site=demo") >= 2
    })
    .await;
    kill("-TERM", child.id().unwrap());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("haul watch exits within 30 s of SIGTERM")
        .unwrap();
    reading.await.unwrap();
    let all = lines.lock().unwrap().join("\n");
    assert!(status.success(), "exit status {status}:\n{all}");
    let runs: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("run done: site=demo"))
        .collect();
    assert!(runs.len() >= 2, "{all}");
    for r in &runs[..2] {
        assert!(r.contains(&format!("records={pages} ")), "{r}");
        assert!(
            r.contains("failures=http_404:1 ")
                && r.contains("duration=")
                && r.contains("next_run=20"),
            "{r}"
        );
    }

    let records = haul_output::read_records(&store).unwrap();
    assert_eq!(records.len(), pages);
    let conn = rusqlite::Connection::open(&store).unwrap();
    let (runs, later): (i64, bool) = conn
        .query_row(
            "SELECT runs, next_run > last_started FROM schedule WHERE site = 'demo'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(runs >= 2, "{runs} runs kept");
    assert!(later, "the next run is kept, after the last one");
    let finished: i64 = conn
        .query_row(
            "SELECT count(*) FROM crawls WHERE finished_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        finished >= 2,
        "every run is a finished crawl of the store ({finished})"
    );
}

const SECRET: &str = "watch-webhook-secret";

/// Starts `haul watch generic` on `shop` every 2 s into `store`, its events posted to `hook`
/// (thresholds 0.50 and 2 %, a 1-hour cool-down, fast retries); its standard error is
/// collected into the returned lines.
fn watch_shop(
    shop: &str,
    hook: &str,
    dir: &std::path::Path,
) -> (tokio::process::Child, Arc<Mutex<Vec<String>>>) {
    let config = dir.join("haul.toml");
    std::fs::write(
        &config,
        "render = \"never\"\nmax_level = 5\n\n[events]\ncooldown = \"1h\"\nattempts = 100\n\
         retry_ms = 100\ndrain_secs = 1\n\n[sites.generic.events]\nmin_change = 0.5\n\
         min_percent = 2\n",
    )
    .unwrap();
    let store = dir.join("prices.db");
    let mut child = haul_command(&[
        "watch",
        "generic",
        "--start-url",
        shop,
        "--every",
        "2s",
        "--jitter",
        "0",
        "--config",
        config.to_str().unwrap(),
        "-o",
        store.to_str().unwrap(),
        "--webhook",
        hook,
        "--metrics",
        "127.0.0.1:0",
    ])
    .env("HAUL_WEBHOOK_SECRET", SECRET)
    .env("RUST_LOG", "warn,haul_cli=info,haul_watch=info")
    .spawn()
    .unwrap();
    let lines = collect_stderr(&mut child);
    (child, lines)
}

/// Collects `child`'s standard error, line by line, into the returned lines.
fn collect_stderr(child: &mut tokio::process::Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// SIGTERM, then the exit within 30 s; the collected lines.
async fn stop(mut child: tokio::process::Child, lines: &Mutex<Vec<String>>) -> String {
    kill("-TERM", child.id().unwrap());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("haul watch exits within 30 s of SIGTERM")
        .unwrap();
    let all = lines.lock().unwrap().join("\n");
    assert!(status.success(), "exit status {status}:\n{all}");
    assert!(!all.contains(SECRET), "the secret shows:\n{all}");
    all
}

/// Two `haul watch` processes, one after the other, on a shop whose prices, stock and
/// catalogue change in between: the first runs while the webhook is down and is stopped with
/// its events still pending; the restarted watch delivers them (after a few more refusals)
/// and the next run's events, exactly the expected ones (thresholds and cool-down applied),
/// each once and signed.
#[tokio::test(flavor = "multi_thread")]
async fn watch_runs_deliver_exactly_the_expected_events_across_a_restart() {
    use haul_e2e::webhook::{Receiver, expect, kinds, listed};
    use haul_testkit::{ChangingShop, TestServer, shop_item};
    use std::sync::atomic::Ordering;

    let shop = ChangingShop::new(vec![
        shop_item("kettle", "Steel Kettle", "40.00", true),
        shop_item("grinder", "Espresso Grinder", "50.00", true),
        shop_item("jacket", "Rain Jacket", "80.00", true),
        shop_item("lantern", "Camping Lantern", "20.00", false),
        shop_item("mat", "Yoga Mat", "30.00", true),
        shop_item("bottle", "Steel Bottle", "15.00", true),
        shop_item("socks", "Hiking Socks", "12.00", true),
    ]);
    let server = TestServer::start(shop.router()).await.unwrap();
    let start = server.url("/").to_string();
    let (receiver, _hook_server, hook) = Receiver::start(SECRET).await;
    receiver.down(true);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("prices.db");

    // The first watch: one run (seven new products) while the webhook refuses everything;
    // stopped with the events undelivered.
    let (child, lines) = watch_shop(&start, &hook, dir.path());
    wait_until(60, "no first run in 60 s", || {
        count(&lines, "run done: site=generic") >= 1
    })
    .await;
    wait_until(30, "no delivery attempt", || {
        receiver.refused.load(Ordering::SeqCst) > 0
    })
    .await;
    let metrics = scrape(metrics_addr(&lines)).await;
    assert!(
        metrics.contains("haul_events_total{kind=\"new_product\"} 7"),
        "{metrics}"
    );
    let first_log = stop(child, &lines).await;
    let first = listed(&store, &[]).await;
    assert_eq!(first.len(), 7, "{first:#?} {first_log}");
    assert!(receiver.taken().is_empty());

    // Between the watches: a 10 % drop, a cent's flicker and a rise under the 0.50 minimum
    // (silent), back in stock, out of stock, gone (410), gone from the listing (no longer
    // linked anywhere, its page still up), a new product.
    shop.update("jacket", |i| i.price = "72.00".into());
    shop.update("grinder", |i| i.price = "50.01".into());
    shop.update("kettle", |i| i.price = "40.40".into());
    shop.update("lantern", |i| i.in_stock = true);
    shop.update("mat", |i| i.in_stock = false);
    shop.update("bottle", |i| {
        i.exists = false;
        i.listed = false;
        i.recently_viewed = true;
    });
    shop.update("socks", |i| i.listed = false);
    shop.add(shop_item("stove", "Camping Stove", "60.00", true));
    receiver.refuse_next(3);

    // The restarted watch: the kept next run is due, so it runs at once; then one more run
    // in which nothing changed.
    let (child, lines) = watch_shop(&start, &hook, dir.path());
    wait_until(60, "no second run in 60 s", || {
        count(&lines, "run done: site=generic") >= 2
    })
    .await;
    let all_events = listed(&store, &[]).await;
    wait_until(30, "the events were not all delivered", || {
        receiver.taken().len() >= all_events.len()
    })
    .await;
    let log = stop(child, &lines).await;
    assert_eq!(
        kinds(&all_events[first.len()..]),
        expect(&[
            ("price_drop", "jacket"),
            ("back_in_stock", "lantern"),
            ("out_of_stock", "mat"),
            ("gone", "bottle"),
            ("gone", "socks"),
            ("new_product", "stove"),
        ]),
        "{log}"
    );
    let got = receiver.taken();
    let ids: Vec<i64> = all_events
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), ids, "{log}");
    assert!(got.values().all(|(_, n)| *n == 1), "an event came twice");
    assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);
    assert!(
        receiver.refused.load(Ordering::SeqCst) >= 4,
        "refused at first"
    );
}

/// Two `haul watch` processes started together on one store and one shop, every 2 s: each run
/// of the site happens in one of them, never two at once. The shop's own log of requests (in
/// arrival order) is cut into runs at each fetch of the start page: no page comes twice
/// within one (two runs at once would interleave their pages), and the start page was fetched
/// once per run the store counts (finished or stopped by the SIGTERM).
#[tokio::test(flavor = "multi_thread")]
async fn two_watches_on_one_store_never_run_a_site_twice_at_once() {
    use axum::extract::Request;
    use axum::middleware::{self, Next};
    use haul_testkit::{TestServer, demo_router};

    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = requests.clone();
    // Slow pages, so that a run lasts long enough for the other watch's clock to come round.
    let shop = demo_router(std::time::Duration::from_millis(40)).layer(middleware::from_fn(
        move |req: Request, next: Next| {
            log.lock().unwrap().push(req.uri().path().to_string());
            next.run(req)
        },
    ));
    let server = TestServer::start(shop).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db");
    let config = dir.path().join("haul.toml");
    std::fs::write(&config, "render = \"never\"\n").unwrap();
    let start = server.url("/").to_string();
    let watch = || {
        let mut child = haul_command(&[
            "watch",
            "demo",
            "--start-url",
            &start,
            "--every",
            "2s",
            "--jitter",
            "0",
            "--config",
            config.to_str().unwrap(),
            "-o",
            store.to_str().unwrap(),
        ])
        .env("RUST_LOG", "warn,haul_cli=info,haul_watch=info")
        .spawn()
        .unwrap();
        let lines = collect_stderr(&mut child);
        (child, lines)
    };
    let ((a, a_lines), (b, b_lines)) = (watch(), watch());
    let (a_pid, b_pid) = (a.id().unwrap(), b.id().unwrap());
    let done = "run done: site=demo";
    wait_until(40, "not four runs in 40 s", || {
        count(&a_lines, done) + count(&b_lines, done) >= 4
    })
    .await;
    let (a_log, b_log) = tokio::join!(stop(a, &a_lines), stop(b, &b_lines));

    let conn = rusqlite::Connection::open(&store).unwrap();
    let (runs, lease): (u32, Option<String>) = conn
        .query_row(
            "SELECT runs, lease_owner FROM schedule WHERE site = 'demo'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let logs = format!("first watch:\n{a_log}\nsecond watch:\n{b_log}");
    let runs = runs as usize;
    let lines_with = |what: &str| a_log.matches(what).count() + b_log.matches(what).count();
    assert_eq!(
        lines_with(done),
        runs,
        "a summary line per run kept\n{logs}"
    );
    assert!(runs >= 4, "{runs} runs\n{logs}");
    assert_eq!(lease, None, "both released their leases\n{logs}");

    let requests = requests.lock().unwrap().clone();
    let pages: Vec<&str> = (requests.iter())
        .map(String::as_str)
        .filter(|p| *p != "/robots.txt")
        .collect();
    assert_eq!(pages.first(), Some(&"/"), "{requests:?}");
    let starts = pages.iter().filter(|p| **p == "/").count();
    let stopped = lines_with("run interrupted: site=demo");
    assert_eq!(
        starts,
        runs + stopped,
        "start-page fetches\n{requests:?}\n{logs}"
    );
    for (k, run) in pages.split(|p| *p == "/").skip(1).enumerate() {
        let mut seen = std::collections::HashSet::new();
        let twice: Vec<&&str> = run.iter().filter(|p| !seen.insert(**p)).collect();
        assert!(
            twice.is_empty(),
            "run {k} fetched {twice:?} twice: two runs at once\n{requests:?}\n{logs}"
        );
    }
    // Whichever waited for the other's run says so, naming it (its pid in its owner id).
    for (log, other) in [(&a_log, b_pid), (&b_log, a_pid)] {
        for l in log
            .lines()
            .filter(|l| l.contains("running in another watch"))
        {
            assert!(l.contains(&format!(":{other}:")), "{l}");
        }
    }
}
