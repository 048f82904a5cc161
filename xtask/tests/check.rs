//! `cargo xtask check`: every site's contract holds on its indexed fixtures, a broken page is
//! named by its file, the index's expectations are enforced, and the errors name the culprit;
//! `record`'s index update keeps what is there.

#[path = "../src/fixtures.rs"]
mod fixtures;

#[path = "../src/check.rs"]
mod check;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// `check` of `site` on the fixtures folder `dir`, as `cargo xtask check` runs it.
fn run_on(site: &str, dir: &Path) -> anyhow::Result<check::SiteReport> {
    check::run(
        &root(),
        &args(&[site, "--fixtures", &dir.display().to_string()]),
    )
}

#[test]
fn every_site_with_a_contract_keeps_it_on_its_indexed_fixtures() {
    let registry = haul_sites::registry().unwrap();
    let mut checked = Vec::new();
    for reg in registry.iter() {
        let name = reg.extractor.name();
        let dir = check::default_dir(&root(), name);
        let kinds = reg.extractor.kinds();
        if kinds.iter().any(|k| k.contract().is_some()) {
            let report = check::run(&root(), &args(&[name]))
                .unwrap_or_else(|e| panic!("cargo xtask check {name}: {e:#}"));
            assert!(report.failed_files().is_empty());
            assert!(
                report.unindexed.is_empty(),
                "{name}: fixtures missing from index.toml: {:?}",
                report.unindexed
            );
            // Every page kind of the contract is exercised by some indexed page.
            for page in kinds.iter().filter(|k| k.contract().is_some()) {
                assert!(
                    report
                        .pages
                        .iter()
                        .any(|p| p.entry.check && p.kind == page.kind()),
                    "{name}: no indexed fixture of page kind {}",
                    page.kind()
                );
            }
            checked.push(name);
        } else {
            let e = check::run(&root(), &args(&[name])).unwrap_err();
            assert!(
                format!("{e:#}").contains("declares no contract"),
                "{name}: {e:#}"
            );
        }
        // A site with recorded pages has them indexed (so `check` works once it has a contract).
        if dir.is_dir() {
            let index = fixtures::load(&dir).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(!index.pages.is_empty(), "{name}: empty index");
        }
    }
    for site in ["shopify", "slickdeals", "woocommerce"] {
        assert!(checked.contains(&site), "{site} not checked: {checked:?}");
    }
}

/// A temporary fixtures folder with `files` (name, body) and an index of `pages` entries.
fn folder(files: &[(&str, &str)], index: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    std::fs::write(dir.path().join(fixtures::INDEX_FILE), index).unwrap();
    dir
}

fn shopify_fixture(name: &str) -> String {
    std::fs::read_to_string(check::default_dir(&root(), "shopify").join(name)).unwrap()
}

#[test]
fn a_broken_page_is_reported_as_a_breach_naming_its_file() {
    let good = shopify_fixture("products-page1.json");
    // The shop renamed `vendor` (the brand) and `images`: records lack required fields.
    let renamed = good
        .replace("\"vendor\"", "\"maker\"")
        .replace("\"images\"", "\"pictures\"");
    assert_ne!(renamed, good);
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "products-renamed-fields.json",
            &renamed,
            &["lacks required field brand", "lacks required field image"],
        ),
        (
            "products-none.json",
            r#"{"products": []}"#,
            &["gave 0 records, the contract wants at least 1"],
        ),
        ("products-object.json", "{}", &["parse failed", "products"]),
        (
            "products-html.json",
            "<html>maintenance</html>",
            &["parse failed"],
        ),
    ];
    for (file, body, breaches) in cases {
        let dir = folder(
            &[("good.json", &good), (file, body)],
            &format!(
                "[[page]]\nfile = \"good.json\"\nurl = \"http://shop.test/products.json?page=1\"\n\n\
                 [[page]]\nfile = \"{file}\"\nurl = \"http://shop.test/products.json?page=2\"\n"
            ),
        );
        let err = run_on("shopify", dir.path()).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(file), "{file}: {msg}");
        assert!(msg.contains("1 of 2"), "{file}: {msg}");
        assert!(!msg.contains("good.json"), "{file}: {msg}");
        let report = check::check_site("shopify", dir.path()).unwrap();
        assert_eq!(report.failed_files(), vec![*file]);
        let table = report.table();
        for b in *breaches {
            assert!(
                table
                    .lines()
                    .any(|l| l.starts_with(&format!("{file}: ")) && l.contains(b)),
                "{file}: no breach mentioning {b:?} in\n{table}"
            );
        }
        assert!(table.contains("FAIL"), "{table}");
    }
}

#[test]
fn the_index_expectations_are_enforced() {
    let good = shopify_fixture("products-page1.json");
    let empty = shopify_fixture("products-page3-empty.json");
    let url = "http://shop.test/products.json?limit=3&page=3";
    let one = |extra: &str, body: &str| {
        let dir = folder(
            &[("p.json", body)],
            &format!("[[page]]\nfile = \"p.json\"\nurl = \"{url}\"\n{extra}\n"),
        );
        run_on("shopify", dir.path())
    };
    // How many breaches the past-the-end page shows (the site's contract decides).
    let dir = folder(
        &[("p.json", &empty)],
        &format!("[[page]]\nfile = \"p.json\"\nurl = \"{url}\"\n"),
    );
    let n = check::check_site("shopify", dir.path()).unwrap().pages[0]
        .breaches
        .len();
    assert!(n > 0, "an empty products page must break the contract");
    // (index entry fields after file and url, file body, whether check passes)
    let cases: Vec<(String, &str, bool)> = vec![
        (String::new(), &good, true),
        ("kind = \"products\"".into(), &good, true),
        // The site names another kind than the index says.
        ("kind = \"product\"".into(), &good, false),
        // A known-bad page: passes while it stays as bad as recorded.
        (
            format!("breaches = {n}\nnote = \"past the end\""),
            &empty,
            true,
        ),
        (format!("breaches = {}", n + 1), &empty, false),
        (String::new(), &empty, false),
        // A known-bad page that turned good no longer proves anything: fails.
        (format!("breaches = {n}"), &good, false),
        // Not a page at all: skipped, whatever it holds.
        ("check = false".into(), "not json", true),
    ];
    for (extra, body, passes) in cases {
        let got = one(&extra, body);
        assert_eq!(got.is_ok(), passes, "{extra:?}: {got:?}");
        if let Err(e) = got {
            assert!(format!("{e:#}").contains("p.json"), "{e:#}");
        }
    }
}

#[test]
fn errors_name_the_culprit() {
    let good = shopify_fixture("products-page1.json");
    let empty = tempfile::tempdir().unwrap();
    let missing = folder(
        &[],
        "[[page]]\nfile = \"gone.json\"\nurl = \"http://shop.test/products.json\"\n",
    );
    let bad_url = folder(
        &[("p.json", &good)],
        "[[page]]\nfile = \"p.json\"\nurl = \"not a url\"\n",
    );
    let bad_field = folder(
        &[("p.json", &good)],
        "[[page]]\nfile = \"p.json\"\nurl = \"http://shop.test/\"\nrenderd = true\n",
    );
    let escape = folder(
        &[],
        "[[page]]\nfile = \"../x.json\"\nurl = \"http://shop.test/\"\n",
    );
    let d = |t: &tempfile::TempDir| t.path().display().to_string();
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            args(&["no-such-site"]),
            args(&["unknown site", "no-such-site"]),
        ),
        (args(&["demo"]), args(&["\"demo\"", "declares no contract"])),
        (
            args(&["shopify", "--fixtures", &d(&empty)]),
            args(&["no fixture index", &d(&empty)]),
        ),
        (
            args(&["shopify", "--fixtures", &d(&missing)]),
            args(&["gone.json", "missing"]),
        ),
        (
            args(&["shopify", "--fixtures", &d(&bad_url)]),
            args(&["not a url", "p.json"]),
        ),
        (
            args(&["shopify", "--fixtures", &d(&bad_field)]),
            args(&["index.toml", "renderd"]),
        ),
        (
            args(&["shopify", "--fixtures", &d(&escape)]),
            args(&["../x.json", "plain file name"]),
        ),
        (args(&[]), args(&["usage"])),
        (args(&["--fixtures", "x"]), args(&["usage"])),
    ];
    for (argv, wanted) in cases {
        let err = check::run(&root(), &argv).expect_err(&format!("{argv:?} must fail"));
        let msg = format!("{err:#}");
        for w in wanted {
            assert!(msg.contains(&w), "{argv:?}: {w:?} not in {msg:?}");
        }
    }
}

#[test]
fn record_adds_and_updates_index_entries_keeping_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fixtures::upsert(d, "a.html", "https://s.example/a").unwrap();
    fixtures::upsert(d, "b.json", "https://s.example/b.json").unwrap();
    let text = std::fs::read_to_string(fixtures::index_path(d)).unwrap();
    assert!(text.starts_with("# Recorded pages"), "{text}");
    // Hand edits survive a re-record of the same file from a new URL.
    let edited = text.replace(
        "url = \"https://s.example/a\"",
        "url = \"https://s.example/a\"\n# a comment\nnote = \"kept\"",
    );
    std::fs::write(fixtures::index_path(d), edited).unwrap();
    fixtures::upsert(d, "a.html", "https://s.example/a?v=2").unwrap();
    // Recording a file again from a URL it is already listed at changes nothing.
    fixtures::upsert(d, "b.json", "https://s.example/b.json").unwrap();
    let text = std::fs::read_to_string(fixtures::index_path(d)).unwrap();
    assert!(text.contains("# a comment"), "{text}");
    let index = fixtures::load(d).unwrap();
    let got: Vec<(&str, &str, Option<&str>)> = index
        .pages
        .iter()
        .map(|e| (e.file.as_str(), e.url.as_str(), e.note.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a.html", "https://s.example/a?v=2", Some("kept")),
            ("b.json", "https://s.example/b.json", None),
        ]
    );
    assert!(
        index
            .pages
            .iter()
            .all(|e| e.check && !e.rendered && e.breaches == 0)
    );
}

#[test]
fn record_notes_every_page_haul_fetch_saved() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stdout = format!(
        "https://s.example/p/1 -> {0}/s.example_p_1.html\n\
         https://s.example/products.json?page=2 -> {0}/s.example_products.json_page_2.html\n",
        d.display()
    );
    assert_eq!(fixtures::note_fetched(d, &stdout).unwrap(), 2);
    // Recording the same pages again adds nothing.
    assert_eq!(fixtures::note_fetched(d, &stdout).unwrap(), 2);
    let index = fixtures::load(d).unwrap();
    let got: Vec<(&str, &str)> = index
        .pages
        .iter()
        .map(|e| (e.file.as_str(), e.url.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("s.example_p_1.html", "https://s.example/p/1"),
            (
                "s.example_products.json_page_2.html",
                "https://s.example/products.json?page=2"
            ),
        ]
    );
    assert_eq!(
        fixtures::note_fetched(d, "error: nothing saved\n").unwrap(),
        0
    );
}
