//! `cargo xtask new-site` end to end, on a copy of the workspace: exactly the expected files
//! and link lines appear, the generated crate is formatted, its tests pass (a crawl through
//! the real runner included), `cargo xtask check` passes on its fixtures, the registry that
//! `haul sites` prints has it (the `haul-sites` registry test, which compares the registry
//! with the `sites/` folder, passes in the copy), and `cargo xtask remove-site` gives back the
//! tree exactly (Cargo.lock included).
//!
//! The copy and its own target folder live under cargo's `CARGO_TARGET_TMPDIR` and persist
//! between runs: files are only rewritten when their content changed, so cargo rebuilds
//! incrementally. The target folder must not be the outer one: cargo identifies workspace
//! crates by their path relative to the workspace root, so the copy's artifacts would be
//! taken for the real workspace's. The first run builds the dependencies once (several
//! minutes on 2 cores); later runs take about a minute. The `haul` binary is not built in the
//! copy: the registry test stands for `haul sites`, which prints that registry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// The workspace's files as git sees them: tracked and untracked-but-not-ignored.
fn workspace_files(root: &Path) -> Vec<PathBuf> {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git ls-files failed: {out:?}");
    out.stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        // Deleted but not yet staged files are listed too.
        .filter(|p| root.join(p).is_file())
        .collect()
}

/// Every file under `dir`, relative, with its content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Makes `copy` hold exactly `files` of `root`, rewriting only files whose content differs
/// (unchanged files keep their modification time, so cargo sees nothing to rebuild).
fn sync(root: &Path, copy: &Path, files: &[PathBuf]) {
    let wanted: BTreeSet<&PathBuf> = files.iter().collect();
    if copy.is_dir() {
        for stale in snapshot(copy).keys().filter(|p| !wanted.contains(p)) {
            std::fs::remove_file(copy.join(stale)).unwrap();
        }
        remove_empty_dirs(copy);
    }
    for f in files {
        let body = std::fs::read(root.join(f)).unwrap();
        let dest = copy.join(f);
        if std::fs::read(&dest).ok().as_ref() != Some(&body) {
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(&dest, body).unwrap();
        }
    }
}

fn remove_empty_dirs(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            remove_empty_dirs(&p);
            if std::fs::read_dir(&p).unwrap().next().is_none() {
                std::fs::remove_dir(&p).unwrap();
            }
        }
    }
}

/// Runs `cargo ARGS` in the copy with its own target folder; returns stdout, failing the test
/// with the output when cargo fails. Prints how long it took.
fn cargo(copy: &Path, target: &Path, args: &[&str]) -> String {
    let started = Instant::now();
    let out = Command::new(cargo_bin())
        .args(args)
        .current_dir(copy)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("cargo runs");
    eprintln!(
        "new-site test: cargo {} took {:.1} s",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cargo {} failed ({}):\n{stdout}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The files that differ between two snapshots: (added, removed, changed).
fn diff(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let name = |p: &PathBuf| p.display().to_string();
    let added = after.keys().filter(|p| !before.contains_key(*p)).map(name);
    let removed = before.keys().filter(|p| !after.contains_key(*p)).map(name);
    let changed = before
        .iter()
        .filter(|(p, b)| after.get(*p).is_some_and(|a| a != *b))
        .map(|(p, _)| name(p));
    (added.collect(), removed.collect(), changed.collect())
}

/// The lines of `after` that are not in `before` (for files that only gained lines).
fn added_lines(before: &[u8], after: &[u8]) -> Vec<String> {
    let before = String::from_utf8_lossy(before);
    let after = String::from_utf8_lossy(after);
    let mut old = before.lines().peekable();
    let mut out = Vec::new();
    for line in after.lines() {
        if old.peek() == Some(&line) {
            old.next();
        } else {
            out.push(line.to_string());
        }
    }
    assert!(old.next().is_none(), "lines were removed:\n{after}");
    out
}

/// The tests share one copy of the workspace: one at a time.
static COPY: Mutex<()> = Mutex::new(());

fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// A synced copy of the workspace and its target folder, and the copy's files before any
/// change (with Cargo.lock in line with the manifests: a working tree may be mid-change).
fn fresh_copy() -> (PathBuf, PathBuf, BTreeMap<PathBuf, Vec<u8>>) {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-site");
    // Its own target folder: cargo identifies a workspace's crates by their path relative to
    // the workspace root, so in a shared target folder the copy's builds would stand in for
    // the real workspace's (measured: the outer `cargo xtask` then ran the copy's binary).
    let (copy, target) = (work.join("workspace"), work.join("target"));
    sync(&root(), &copy, &workspace_files(&root()));
    // Re-resolves Cargo.lock against the manifests, other locked versions kept, without
    // downloading any crate (as `remove-site` does; `cargo metadata` would download every
    // package of the lock, other platforms' included).
    cargo(&copy, &target, &["update", "--workspace", "--quiet"]);
    let before = snapshot(&copy);
    (copy, target, before)
}

/// Runs `new-site acme` in the copy and checks it added exactly the crate and the link lines.
fn generate(copy: &Path, target: &Path, before: &BTreeMap<PathBuf, Vec<u8>>) {
    cargo(
        copy,
        target,
        &["xtask", "new-site", "acme", "--domain", "acme.example"],
    );
    let generated = snapshot(copy);
    let (added, removed, changed) = diff(before, &generated);
    assert_eq!(
        added,
        [
            "sites/acme/Cargo.toml",
            "sites/acme/src/lib.rs",
            "sites/acme/tests/fixtures/home.html",
            "sites/acme/tests/fixtures/index.toml",
            "sites/acme/tests/fixtures/product.html",
            "sites/acme/tests/site.rs",
        ]
    );
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(
        changed,
        ["crates/sites/Cargo.toml", "crates/sites/src/lib.rs"]
    );
    let links = [
        (
            "crates/sites/Cargo.toml",
            "haul-site-acme = { path = \"../../sites/acme\" }",
        ),
        ("crates/sites/src/lib.rs", "use haul_site_acme as _;"),
    ];
    for (file, line) in links {
        let f = PathBuf::from(file);
        assert_eq!(added_lines(&before[&f], &generated[&f]), [line], "{file}");
    }
    let lib = String::from_utf8_lossy(&generated[&PathBuf::from("sites/acme/src/lib.rs")]);
    assert!(lib.contains("pub struct Acme;") && lib.contains("\"acme.example\""));
    let index =
        String::from_utf8_lossy(&generated[&PathBuf::from("sites/acme/tests/fixtures/index.toml")]);
    for entry in [
        "file = \"home.html\"\nurl = \"https://acme.example/\"",
        "file = \"product.html\"\nurl = \"https://acme.example/products/example\"",
    ] {
        assert!(index.contains(entry), "{entry:?} not in\n{index}");
    }
    // A second new-site of the same name refuses and changes nothing.
    let again = Command::new(cargo_bin())
        .args(["xtask", "new-site", "acme", "--domain", "acme.example"])
        .current_dir(copy)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // (cargo itself adds the new crate to Cargo.lock when it runs xtask again)
    let (added, removed, changed) = diff(&generated, &snapshot(copy));
    assert!(
        added.is_empty() && removed.is_empty() && changed.iter().all(|f| f == "Cargo.lock"),
        "a refused new-site changed files: {added:?} {removed:?} {changed:?}"
    );
    // The generated code is formatted as `cargo xtask ci` wants it.
    cargo(copy, target, &["fmt", "-p", "haul-site-acme", "--check"]);
}

/// Runs `remove-site acme` in the copy and checks the tree is as `before`.
fn remove(copy: &Path, target: &Path, before: &BTreeMap<PathBuf, Vec<u8>>) {
    cargo(copy, target, &["xtask", "remove-site", "acme"]);
    let (added, removed, changed) = diff(before, &snapshot(copy));
    assert!(
        added.is_empty() && removed.is_empty() && changed.is_empty(),
        "after remove-site: added {added:?}, removed {removed:?}, changed {changed:?}"
    );
}

#[test]
fn new_site_crate_builds_passes_its_tests_keeps_its_contract_is_registered_and_removes_cleanly() {
    let _one = COPY.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let (copy, target, before) = fresh_copy();
    generate(&copy, &target, &before);
    // Its tests pass (a crawl through the real runner included), and the registry `haul
    // sites` lists matches the sites/ folder, acme included.
    let tests = cargo(
        &copy,
        &target,
        &["test", "-p", "haul-site-acme", "-p", "haul-sites"],
    );
    assert!(
        tests.contains("crawl_from_the_home_page_finds_the_product ... ok"),
        "{tests}"
    );
    assert!(tests.contains("3 passed"), "{tests}");
    assert!(
        tests.contains("registry_matches_the_sites_folder ... ok"),
        "{tests}"
    );
    // Its fixtures keep its contract.
    let check = cargo(&copy, &target, &["xtask", "check", "acme"]);
    assert!(
        check.contains("product.html") && check.contains("acme: all 2 checked pages"),
        "{check}"
    );
    remove(&copy, &target, &before);
    eprintln!(
        "new-site test: {:.0} s in all",
        started.elapsed().as_secs_f64()
    );
}
