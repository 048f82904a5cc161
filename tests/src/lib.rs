//! Helpers for the end-to-end tests: find the `haul` binary cargo built, run it (to the end
//! or in the background), serve the demo shop, wait for a crawl to get somewhere, read its
//! JSON Lines output and its `--stats` report.

pub mod webhook;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use haul_core::Record;
use haul_testkit::{TestServer, demo_router};

/// The `haul` binary of the current build (`target/<profile>/haul`).
///
/// `cargo test --workspace` builds it because `haul-cli` has integration tests of its own.
pub fn haul_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/haul
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join("haul");
    assert!(
        bin.exists(),
        "{} not found: run the tests with `cargo test --workspace` (or `cargo xtask ci`)",
        bin.display()
    );
    bin
}

/// Runs `haul ARGS` to completion (without blocking the async runtime).
pub async fn haul(args: &[&str]) -> Output {
    tokio::process::Command::new(haul_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .expect("haul runs")
}

/// The arguments of `haul crawl demo --start-url START -o OUT EXTRA...`.
pub fn demo_crawl<'a>(start: &'a str, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let out = out.to_str().expect("a UTF-8 path");
    let mut args = vec!["crawl", "demo", "--start-url", start, "-o", out];
    args.extend_from_slice(extra);
    args
}

/// Runs `haul ARGS` to completion (see [`haul`]) and asserts that it succeeded, naming its
/// standard error.
pub async fn haul_ok(args: &[&str]) -> Output {
    let out = haul(args).await;
    assert!(
        out.status.success(),
        "haul {args:?} failed: {}",
        stderr(&out)
    );
    out
}

/// Runs `haul ARGS` to completion (see [`haul`]) and asserts that it failed; returns its
/// standard error.
pub async fn haul_fails(args: &[&str]) -> String {
    let out = haul(args).await;
    assert!(!out.status.success(), "haul {args:?} succeeded");
    stderr(&out)
}

/// `haul crawl generic` from `starts`, writing records to `out` and the `--stats` report to
/// `stats`, with its temporary files (Chromium profiles) under `tmp` and `RUST_LOG=warn`;
/// add the test's own flags (and environment) before running it.
pub fn crawl_generic(
    starts: &[&str],
    out: &Path,
    stats: &Path,
    tmp: &Path,
) -> tokio::process::Command {
    let mut cmd = haul_command(&["crawl", "generic"]);
    for s in starts {
        cmd.args(["--start-url", s]);
    }
    cmd.arg("-o")
        .arg(out)
        .arg("--stats")
        .arg(stats)
        .env("RUST_LOG", "warn")
        .env("TMPDIR", tmp);
    cmd
}

/// `haul ARGS` to start in the background: its standard error piped, killed when dropped.
pub fn haul_command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(haul_bin());
    cmd.args(args).stderr(Stdio::piped()).kill_on_drop(true);
    cmd
}

/// The demo shop on 127.0.0.1:0, every response delayed by `latency`.
pub async fn demo_server(latency: Duration) -> TestServer {
    TestServer::start(demo_router(latency))
        .await
        .expect("the demo shop starts")
}

/// Polls `done` every 20 ms until it holds; panics with `what` once `secs` seconds have passed.
pub async fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to `secs` seconds until the JSON Lines file at `path` holds `n` records or more
/// (a running crawl flushes them as they arrive).
pub async fn wait_for_records(path: &Path, n: usize, secs: u64) {
    let what = format!("not {n} records in {} after {secs} s", path.display());
    wait_until(secs, &what, || read_records(path).len() >= n).await;
}

/// Waits up to `secs` seconds for `child` to exit (panicking with `why` after that); its output.
pub async fn exited(child: tokio::process::Child, secs: u64, why: &str) -> Output {
    tokio::time::timeout(Duration::from_secs(secs), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{why}"))
        .expect("the child's output")
}

/// Asserts that `times` (arrival stamps at a test server, in any order) are what requests
/// sent at least `least` apart look like; `what` names them in the message.
///
/// A server stamps a request when its handler runs, which on a loaded machine can be well
/// after the request arrived, so one late stamp makes its next gap look short. What a late
/// stamp cannot do is make two gaps in a row short, or shorten the whole run by more than
/// its own delay: those are checked, so a pacing fault (two requests sent together) fails
/// and a starved handler does not.
pub fn assert_spaced(mut times: Vec<std::time::Instant>, least: Duration, what: &str) {
    times.sort();
    for three in times.windows(3) {
        let two_gaps = three[2] - three[0];
        assert!(
            two_gaps >= least,
            "{what}: three within {two_gaps:?} (sent at least {least:?} apart)"
        );
    }
    if let (Some(first), Some(last)) = (times.first(), times.last()) {
        let gaps = u32::try_from(times.len().saturating_sub(2)).unwrap_or(u32::MAX);
        let span = *last - *first;
        assert!(
            span >= least * gaps,
            "{what}: {} within {span:?} (sent at least {least:?} apart)",
            times.len()
        );
    }
}

/// Sends `signal` (as `kill` takes it: `-INT`, `-9`) to process `pid` and asserts it was sent.
pub fn kill(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

/// The JSON report `--stats FILE` wrote, or `null` when there is none.
pub fn read_stats(path: &Path) -> serde_json::Value {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Parses a JSON Lines file of records; panics naming the line that is not a record.
pub fn read_records(path: &Path) -> Vec<Record> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: not a record ({e}): {l}", path.display(), i + 1))
        })
        .collect()
}

/// Standard error of a finished process, for assertion messages.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// PIDs of processes whose command line names one of haul's Chromium profiles in one of
/// `dirs`: the `TMPDIR`s a test gave its crawls, so that it sees its own browsers only (a
/// machine-wide look also sees any other haul running meanwhile: a benchmark, a manual crawl).
pub fn haul_chromium_pids(dirs: &[&Path]) -> Vec<u32> {
    let profiles: Vec<String> = dirs
        .iter()
        .map(|d| format!("{}/haul-chromium-", d.display()))
        .collect();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if profiles.iter().any(|p| cmdline.contains(p.as_str())) {
            pids.push(pid);
        }
    }
    pids
}

/// Waits up to 10 s for every Chromium of haul's under `dirs` (see [`haul_chromium_pids`])
/// to exit; panics naming those left.
pub async fn assert_no_chromium_left(dirs: &[&Path]) {
    for _ in 0..100 {
        if haul_chromium_pids(dirs).is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "Chromium processes left behind: {:?}",
        haul_chromium_pids(dirs)
    );
}

/// The product a page's Markdown shows (`Product 12` ... `$12.99` in the generated shop), as
/// the LLM would answer it; no product on other pages.
pub fn generated_answer(req: &haul_llm::fake::FakeRequest) -> haul_llm::fake::FakeReply {
    let prompt = req.prompt();
    let shown: Vec<usize> = prompt
        .match_indices("Product ")
        .filter_map(|(i, m)| {
            let digits: String = prompt[i + m.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect();
    // A product page shows one product; a listing shows many.
    let products = match shown[..] {
        [n] => {
            serde_json::json!([{"title": format!("Product {n}"), "price": format!("${n}.99"), "currency": "USD"}])
        }
        _ => serde_json::json!([]),
    };
    haul_llm::fake::FakeReply::Answer(serde_json::json!({ "products": products }).to_string())
}
