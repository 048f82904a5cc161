//! End-to-end: `haul watch` recrawls the demo shop on a short interval from haul.toml into a
//! SQLite store, logs one summary line per run, serves `/metrics` meanwhile, and stops
//! cleanly on SIGTERM. (`haul_events_total` shows up with the first change event; the events
//! tests check it.)

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
    let addr: SocketAddr = {
        let all = lines.lock().unwrap();
        let line = all
            .iter()
            .find(|l| l.contains("metrics on http://"))
            .expect("the metrics address is logged");
        let rest = line.split("metrics on http://").nth(1).unwrap();
        rest.trim_end_matches("/metrics").trim().parse().unwrap()
    };
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
