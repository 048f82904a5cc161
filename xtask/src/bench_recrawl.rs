//! `cargo xtask bench recrawl`: an unchanged shop crawled twice into one SQLite store; the
//! second crawl sends the validators the store kept. Wall time, CPU and the body bytes the
//! server sent (read from the shop's own counters at `/__stats`) for both.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::bench::{flag, sample_until_exit, serve};
use crate::util;

/// The shop's counters: `(body_bytes, full answers, 304 answers)`.
fn shop_counts(base: &str) -> Result<(u64, u64, u64)> {
    let addr = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    // A hand-written GET: xtask depends on no HTTP client, and this is one request.
    let mut conn = TcpStream::connect(&addr).with_context(|| format!("cannot reach {addr}"))?;
    write!(
        conn,
        "GET /__stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .context("no body in the /__stats answer")?;
    let v: serde_json::Value = serde_json::from_str(body.trim())
        .with_context(|| format!("unreadable /__stats answer {body:?}"))?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    Ok((n("body_bytes"), n("full"), n("not_modified")))
}

/// One crawl's figures.
struct Run {
    wall: f64,
    cpu: f64,
    pages: u64,
    records: u64,
    not_modified: u64,
    body_bytes: u64,
    full: u64,
    answered_304: u64,
}

/// `haul crawl demo` of `url` into `db`, measured.
fn crawl(haul: &Path, url: &str, db: &Path, stats: &Path) -> Result<Run> {
    let before = shop_counts(url)?;
    let started = Instant::now();
    let mut child = std::process::Command::new(haul)
        .args(["crawl", "demo", "--start-url", url, "--max-level", "2"])
        .args(["--concurrency", "64", "--per-domain-concurrency", "64"])
        .arg("--no-progress")
        .arg("-o")
        .arg(db)
        .arg("--stats")
        .arg(stats)
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    let mut cpu = [0f64];
    let (status, _peak) = sample_until_exit(&mut child, &[pid], &mut cpu)?;
    let cpu = cpu[0];
    let wall = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("haul crawl failed ({status})");
    }
    let after = shop_counts(url)?;
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(stats)?)?;
    let site = &report["sites"][0];
    let n = |k: &str| site[k].as_u64().unwrap_or(0);
    Ok(Run {
        wall,
        cpu,
        pages: n("pages_ok") + n("pages_failed"),
        records: n("records"),
        not_modified: n("not_modified"),
        body_bytes: after.0 - before.0,
        full: after.1 - before.1,
        answered_304: after.2 - before.2,
    })
}

/// The benchmark: `--products N` (2,000) behind listings, 20 ms latency per answer.
pub(crate) fn recrawl(args: &[String]) -> Result<()> {
    let products = flag(args, "--products", 2000)?;
    let haul = util::build_haul_release()?;
    let (products_s, latency) = (products.to_string(), "20");
    let (_server, url) = serve(
        &haul,
        &[
            "recrawl",
            "--products",
            &products_s,
            "--latency-ms",
            latency,
        ],
    )?;
    let dir = std::env::temp_dir().join(format!("haul-bench-recrawl-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("store.db");
    let stats = dir.join("stats.json");
    let first = crawl(&haul, &url, &db, &stats)?;
    let second = crawl(&haul, &url, &db, &stats)?;
    println!(
        "bench recrawl: {products} product pages (+ listings) served with 20 ms latency, --concurrency 64, into a SQLite store"
    );
    println!(
        "  {:<8} {:>6} {:>8} {:>6} {:>9} {:>9} {:>12} {:>6} {:>6}",
        "crawl", "pages", "records", "304", "wall s", "CPU s", "body bytes", "200s", "304s"
    );
    for (name, r) in [("first", &first), ("second", &second)] {
        println!(
            "  {:<8} {:>6} {:>8} {:>6} {:>9.2} {:>9.2} {:>12} {:>6} {:>6}",
            name,
            r.pages,
            r.records,
            r.not_modified,
            r.wall,
            r.cpu,
            r.body_bytes,
            r.full,
            r.answered_304
        );
    }
    let share = second.body_bytes as f64 * 100.0 / first.body_bytes.max(1) as f64;
    println!("  second crawl's body bytes: {share:.3} % of the first's (aim: under 10 %)");
    let _ = std::fs::remove_dir_all(&dir);
    if share >= 10.0 {
        bail!("the second crawl transferred {share:.1} % of the first's body bytes");
    }
    Ok(())
}
