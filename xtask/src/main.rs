//! `cargo xtask`: project automation. `cargo xtask ci` is exactly what CI runs.
//!
//! Subcommands:
//! * `ci` — format check, the dependency rules, clippy with `-D warnings`, docs, and every
//!   test of the workspace;
//! * `deps` — every crate's dependencies against ARCHITECTURE.md's "Dependency rules";
//! * `crawl [--demo] [ARGS...]` — builds `haul` in release mode and runs `haul crawl ARGS...`;
//!   with `--demo` it first serves the bundled demo shop and crawls it into `demo.jsonl`.

mod bench;
mod bench_recrawl;
mod crawl;
mod deps;
mod fixtures;
mod new_site;
mod util;

use anyhow::{Result, bail};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci                       fmt check, deps, clippy -D warnings, docs, all tests (what CI runs)
  deps                     check the crate graph against ARCHITECTURE.md's dependency rules
  crawl [--demo] [ARGS..]  release-build haul and run `haul crawl ARGS..`;
                           --demo serves the demo shop and crawls it into demo.jsonl (or -o FILE)
  bench http               crawl a generated 2,000-page site (20 ms latency): pages/s, memory, CPU
  bench llm                2,000 LLM tasks against a fake provider (100 ms, 3 keys x 20 req/s)
  bench llm e2e            haul crawl --extract llm on a 300-product shop against a limited fake
                           provider (1, 3, 10 keys): efficiency against the bound, 429s, tokens
  bench browser [pool|mixed]  pool: 100 script-rendered pages, browser per URL vs the pool;
                           mixed: haul crawls the realistic mixed shop (always, auto, --no-pool)
  bench recrawl            an unchanged 2,000-page shop crawled twice into a SQLite store: time,
                           CPU and body bytes at the server of both (the second sends validators)
  eval prices FILE.jsonl   price parser accuracy on a price-strings corpus
  eval pages [DIR]         extraction accuracy on a product-pages corpus (default
                           ../shared/data/product-pages-dev), split in tuning and held-out
                           halves by shop; the project's own pages count as tuning
  new-site NAME --domain D scaffold sites/NAME (extractor, fixture, test) and link it
  remove-site NAME         remove sites/NAME and its links (undoes new-site)
  record SITE URL...       save pages as fixtures under sites/SITE/tests/fixtures/ (and index.toml)
  check SITE [--fixtures DIR]  the site's contract on every page of its fixtures index.toml
  parse [--site S] [--url U] FILE|URL...   what the extractor gets, as JSON Lines";

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match cmd.as_str() {
        "ci" => ci(rest),
        "crawl" => crawl::crawl(rest),
        "deps" => {
            if !rest.is_empty() {
                bail!("`cargo xtask deps` takes no arguments, got {rest:?}");
            }
            deps::run(&util::root())
        }
        "bench" => bench::bench(rest),
        "new-site" => new_site::new_site(rest),
        "record" => record(rest),
        "check" => check(rest),
        "parse" => release_haul("parse", rest),
        "remove-site" => new_site::remove_site(rest),
        "eval" => release_haul("eval", &eval_args(rest)),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

/// `cargo xtask record SITE URL...`: saves the pages into the site's fixtures folder and
/// notes each page's URL in the folder's index (see [`fixtures`]).
fn record(rest: &[String]) -> Result<()> {
    let Some((site, urls)) = rest.split_first() else {
        bail!("usage: cargo xtask record SITE URL...");
    };
    let dir = util::root().join("sites").join(site);
    if !dir.join("Cargo.toml").exists() {
        bail!("no site crate at {}", dir.display());
    }
    let haul = util::build_haul_release()?;
    let out_dir = dir.join("tests/fixtures");
    let out = std::process::Command::new(&haul)
        .arg("fetch")
        .arg("--out-dir")
        .arg(&out_dir)
        .args(urls)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    // `haul fetch` prints `URL -> PATH` per saved page, also before failing on a later URL.
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    fixtures::note_fetched(&out_dir, &stdout)?;
    if !out.status.success() {
        bail!("haul fetch failed ({})", out.status);
    }
    Ok(())
}

/// `cargo xtask check SITE [--fixtures DIR]`: runs the `check` example, which links every site
/// (see examples/check.rs), in the caller's folder (where a relative `--fixtures DIR` is).
fn check(rest: &[String]) -> Result<()> {
    let status = util::cargo()
        .current_dir(std::env::current_dir()?)
        .args([
            "run",
            "--quiet",
            "--package",
            "xtask",
            "--example",
            "check",
            "--",
        ])
        .args(rest)
        .status()?;
    if !status.success() {
        bail!("cargo xtask check {} failed ({status})", rest.join(" "));
    }
    Ok(())
}

/// `cargo xtask eval ...` and `cargo xtask parse ...` run the release `haul eval ...` /
/// `haul parse ...` (the evaluation and parsing code lives in the libraries; xtask stays free
/// of them so that it builds in seconds).
/// `eval pages` with no folder evaluates the shared development corpus; the project's own
/// pages (`crates/extract/tests/fixtures/eval`) are always added as tuning pages.
fn eval_args(rest: &[String]) -> Vec<String> {
    let mut args = rest.to_vec();
    if args.first().map(String::as_str) != Some("pages") {
        return args;
    }
    if args.len() == 1 {
        let shared = util::root().join("../shared/data/product-pages-dev");
        args.push(shared.display().to_string());
    }
    let own = util::root().join("crates/extract/tests/fixtures/eval");
    args.extend(["--tuning".to_string(), own.display().to_string()]);
    args
}

fn release_haul(command: &str, rest: &[String]) -> Result<()> {
    let haul = util::build_haul_release()?;
    let status = std::process::Command::new(&haul)
        .arg(command)
        .args(rest)
        .status()?;
    if !status.success() {
        bail!("haul {command} failed ({status})");
    }
    Ok(())
}

fn ci(rest: &[String]) -> Result<()> {
    if !rest.is_empty() {
        bail!("`cargo xtask ci` takes no arguments, got {rest:?}");
    }
    let started = std::time::Instant::now();
    util::step("fmt", &["fmt", "--all", "--check"], &[])?;
    deps::run(&util::root())?;
    util::step(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    util::step(
        "doc",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    util::step("test", &["test", "--workspace"], &[])?;
    eprintln!(
        "xtask ci: all green in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
