//! The `haul` binary's own commands (this file also makes `cargo test` build the binary that
//! the end-to-end tests in `tests/` drive).

use std::process::Command;

fn haul(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_haul"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn sites_lists_the_registered_sites() {
    let out = haul(&["sites"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l.starts_with("demo ")), "{text}");
}

#[test]
fn crawl_without_anything_to_crawl_says_so() {
    let out = haul(&["crawl"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("nothing to crawl"), "{err}");
}

/// Without the `serve` feature (the default build) `haul serve` says how to get it.
#[cfg(not(feature = "serve"))]
#[test]
fn serve_without_the_feature_says_how_to_get_it() {
    let out = haul(&["serve", "demo"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--features serve"), "{err}");
}

#[test]
fn worker_help_shows_only_what_applies_to_a_worker() {
    let out = haul(&["worker", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for engine in [
        "--redis",
        "--crawl-id",
        "--concurrency",
        "--render",
        "--llm-via-redis",
    ] {
        assert!(help.contains(engine), "{engine} missing:\n{help}");
    }
    for crawl_only in [
        "--start-url",
        "-o,",
        "--output",
        "--max-level",
        "--max-pages",
        "--allow <",
        "--resume",
        "--detach",
        "[SITES]",
    ] {
        assert!(!help.contains(crawl_only), "{crawl_only} shown:\n{help}");
    }
    let out = haul(&[
        "worker",
        "--redis",
        "redis://127.0.0.1:1/0",
        "--start-url",
        "http://a/",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--start-url"), "{err}");
}
