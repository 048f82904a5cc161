//! Helpers for the end-to-end tests: find the `haul` binary cargo built, run it, read its
//! JSON Lines output.

use std::path::{Path, PathBuf};
use std::process::Output;

use haul_core::Record;

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
