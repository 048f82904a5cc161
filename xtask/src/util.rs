//! Helpers for running cargo and locating build outputs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The workspace root (the parent of this crate's directory).
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The cargo the alias was run with.
pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs `cargo ARGS` as a named step, failing with the step's name.
pub(crate) fn step(name: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let started = Instant::now();
    eprintln!("xtask: == {name}: cargo {}", args.join(" "));
    let mut c = cargo();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let status = c
        .status()
        .with_context(|| format!("cannot run cargo for step {name}"))?;
    if !status.success() {
        bail!("step {name} failed ({status})");
    }
    eprintln!(
        "xtask: == {name} ok in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo metadata --format-version 1 --no-deps` of the workspace at `dir`, parsed (no
/// dependency is resolved or downloaded).
pub(crate) fn metadata(dir: &Path) -> Result<serde_json::Value> {
    let out = cargo()
        .current_dir(dir)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("cargo metadata printed no JSON")
}

/// The workspace's target directory (honours `CARGO_TARGET_DIR` and config).
pub(crate) fn target_dir() -> Result<PathBuf> {
    metadata(&root())?["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata gave no target_directory")
}

/// Builds `haul` in release mode, with `haul serve` (feature `serve`: benchmarks and
/// `crawl --demo` serve their shops with it), and returns the binary's path.
pub(crate) fn build_haul_release() -> Result<PathBuf> {
    step(
        "build",
        &[
            "build",
            "--release",
            "--package",
            "haul-cli",
            "--features",
            "serve",
            "--bin",
            "haul",
        ],
        &[],
    )?;
    Ok(target_dir()?.join("release").join("haul"))
}
