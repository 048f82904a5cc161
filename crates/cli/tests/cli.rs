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
