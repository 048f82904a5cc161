//! End-to-end with the real Chromium on `mixed`, a generated deal shop that looks like real
//! shops (site chrome and a long footer, one script bundle, a cookie banner, images, a failing
//! script on some pages, 30% of the product pages application shells that the bundle fills
//! after `load`): `--render always` and `--render auto` find every product with its price,
//! a failing sub-resource does not fail its page, and `auto` uses the browser for the
//! script-built product pages only, once each.
//!
//! Each crawl runs with `TMPDIR` set to its test's temporary folder (where haul puts its
//! Chromium profiles), so each test checks at its end for its own browsers only. The tests
//! share one lock all the same, so that their timings do not mix.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use haul_core::{Decimal, Record};
use haul_e2e::{assert_no_chromium_left, haul_command, read_records, read_stats, stderr};
use haul_testkit::{MixedProduct, TestServer, mixed_router, mixed_truth};
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

const PRODUCTS: usize = 300;
const SCRIPT_SHARE: usize = 30;
const LATENCY: Duration = Duration::from_millis(30);
/// Home (0), categories (1), their products and second pages (2), products of those (3).
const MAX_LEVEL: &str = "3";

struct Crawl {
    out: std::process::Output,
    records: Vec<Record>,
    stats: serde_json::Value,
    took: Duration,
}

impl Crawl {
    fn site(&self) -> &serde_json::Value {
        &self.stats["sites"][0]
    }

    fn count(&self, key: &str) -> u64 {
        self.site()[key].as_u64().unwrap_or_else(|| {
            panic!(
                "the --stats site report has no number `{key}`: {}",
                self.site()
            )
        })
    }

    fn pages(&self) -> u64 {
        self.count("pages_ok") + self.count("pages_failed")
    }
}

async fn crawl(server: &TestServer, render: &[&str], dir: &Path) -> Crawl {
    let out_path = dir.join("out.jsonl");
    let stats_path = dir.join("stats.json");
    let started = Instant::now();
    let run = haul_command(&["crawl", "--start-url", server.url("/").as_str()])
        .args(["--max-level", MAX_LEVEL, "--no-progress"])
        .args(render)
        .arg("-o")
        .arg(&out_path)
        .arg("--stats")
        .arg(&stats_path)
        .env("RUST_LOG", "warn")
        // Chromium profiles go here, so the test sees its own browsers only.
        .env("TMPDIR", dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .unwrap_or_else(|_| panic!("haul crawl {render:?} did not finish in 240 s"))
        .expect("haul runs");
    let took = started.elapsed();
    let stats = read_stats(&stats_path);
    eprintln!(
        "haul crawl {render:?}: {:.1} s, stats: {}",
        took.as_secs_f64(),
        stats["sites"][0]
    );
    Crawl {
        out,
        records: read_records(&out_path),
        stats,
        took,
    }
}

/// Serves the mixed shop (every response delayed by `latency`) and crawls it with
/// `--render render` in a new temporary folder; asserts that haul succeeded.
async fn serve_and_crawl(
    latency: Duration,
    render: &str,
) -> (TestServer, tempfile::TempDir, Crawl) {
    let server = TestServer::start(mixed_router(PRODUCTS, SCRIPT_SHARE, latency))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = crawl(&server, &["--render", render], dir.path()).await;
    assert!(c.out.status.success(), "{}", stderr(&c.out));
    (server, dir, c)
}

/// Fails listing `problems` when there are any, else prints what the `--render render` crawl
/// took; then checks that no Chromium of the crawl's in `dir` is left.
async fn conclude(render: &str, problems: &str, c: &Crawl, dir: &Path) {
    assert!(problems.is_empty(), "--render {render}:\n{problems}");
    eprintln!(
        "render {render}: {} pages in {:.1} s, render reasons {}",
        c.pages(),
        c.took.as_secs_f64(),
        c.site()["render_reasons"]
    );
    assert_no_chromium_left(&[dir]).await;
}

/// `12.99 USD` (amount without trailing zeros, so that `1299` and `1299.00` agree).
fn price_key(price: Option<Decimal>, currency: Option<&str>) -> String {
    format!(
        "{} {}",
        price.map_or_else(|| "no price".into(), |p| p.normalize().to_string()),
        currency.unwrap_or("no currency")
    )
}

fn truth() -> Vec<MixedProduct> {
    mixed_truth(PRODUCTS, SCRIPT_SHARE)
}

/// The products `keep` selects: URL path -> price and currency.
fn expected(keep: impl Fn(&MixedProduct) -> bool) -> BTreeMap<String, String> {
    truth()
        .iter()
        .filter(|p| keep(p))
        .map(|p| {
            let price: Decimal = p.price.parse().expect("a decimal price");
            (p.path.clone(), price_key(Some(price), Some(p.currency)))
        })
        .collect()
}

/// What the crawl found: URL path -> price and currency (a path twice is reported).
fn found(records: &[Record]) -> (BTreeMap<String, String>, Vec<String>) {
    let mut map = BTreeMap::new();
    let mut twice = Vec::new();
    for r in records {
        let path = haul_core::Url::parse(&r.url)
            .map(|u| u.path().to_string())
            .unwrap_or_else(|_| r.url.clone());
        let value = price_key(r.price, r.currency.as_ref().map(|c| c.as_str()));
        if let Some(old) = map.insert(path.clone(), value) {
            twice.push(format!("{path} (also {old})"));
        }
    }
    (map, twice)
}

/// A readable difference between `want` and what was found, or `None` when they agree.
fn diff(want: &BTreeMap<String, String>, records: &[Record]) -> Option<String> {
    let (got, twice) = found(records);
    let kinds: BTreeMap<String, String> = truth()
        .into_iter()
        .map(|p| (p.path, format!("{:?}", p.kind)))
        .collect();
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for (path, w) in want {
        match got.get(path) {
            None => missing.push(format!("  {path} [{}]: want {w}", kinds[path])),
            Some(g) if g != w => {
                wrong.push(format!("  {path} [{}]: want {w}, got {g}", kinds[path]))
            }
            Some(_) => {}
        }
    }
    let unexpected: Vec<String> = got
        .iter()
        .filter(|(p, _)| !want.contains_key(*p))
        .map(|(p, g)| format!("  {p}: {g}"))
        .collect();
    if missing.is_empty() && wrong.is_empty() && unexpected.is_empty() && twice.is_empty() {
        return None;
    }
    let mut s = format!(
        "{} products expected, {} records: {} missing, {} with a wrong price, {} unexpected, {} twice\n",
        want.len(),
        records.len(),
        missing.len(),
        wrong.len(),
        unexpected.len(),
        twice.len()
    );
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for p in want.keys().filter(|p| got.get(*p) != want.get(*p)) {
        *by_kind.entry(kinds[p].as_str()).or_default() += 1;
    }
    let _ = writeln!(s, "not found right, by page kind: {by_kind:?}");
    for (title, lines) in [
        ("missing", &missing),
        ("wrong price", &wrong),
        ("unexpected", &unexpected),
        ("twice", &twice),
    ] {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(s, "{title}:");
        for l in lines.iter().take(25) {
            let _ = writeln!(s, "{l}");
        }
        if lines.len() > 25 {
            let _ = writeln!(s, "  ... and {} more", lines.len() - 25);
        }
    }
    Some(s)
}

/// Whether a requested path is one of the site's HTML pages (not a script, style, image,
/// API call, beacon or robots.txt).
fn is_page(path: &str) -> bool {
    ![
        "/static/",
        "/img/",
        "/api/",
        "/collect",
        "/robots.txt",
        "/favicon.ico",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

#[tokio::test(flavor = "multi_thread")]
async fn over_http_only_the_server_rendered_products_are_found() {
    // What the generic extractor makes of the site without a browser: every server-rendered
    // product and nothing else (the shells hold no product, listings give no records). When
    // this fails, the site or the extractor is wrong, not the rendering.
    let _serial = SERIAL.lock().await;
    let (server, _dir, c) = serve_and_crawl(Duration::ZERO, "never").await;
    if let Some(d) = diff(&expected(|p| !p.script_built), &c.records) {
        panic!("--render never: {d}");
    }
    assert_eq!(c.count("pages_failed"), 0, "{}", c.site()["errors"]);
    assert_eq!(c.count("rendered"), 0);
    let browser: usize = server
        .stats()
        .all_hits()
        .keys()
        .map(|p| server.stats().browser_hits(p))
        .sum();
    assert_eq!(browser, 0, "no browser without rendering");
}

#[tokio::test(flavor = "multi_thread")]
async fn render_always_finds_every_product_and_a_failing_script_does_not_fail_its_page() {
    let _serial = SERIAL.lock().await;
    let (_server, dir, c) = serve_and_crawl(LATENCY, "always").await;
    let mut problems = String::new();
    if let Some(d) = diff(&expected(|_| true), &c.records) {
        let _ = writeln!(problems, "records: {d}");
    }
    // The failing /static/missing.js is a sub-resource: the page's status is its own.
    let truth = truth();
    let (found, _) = found(&c.records);
    let broken: Vec<&str> = truth
        .iter()
        .filter(|p| p.broken_script)
        .map(|p| p.path.as_str())
        .collect();
    assert!(!broken.is_empty());
    let lost: Vec<&&str> = broken.iter().filter(|p| !found.contains_key(**p)).collect();
    if !lost.is_empty() {
        let _ = writeln!(
            problems,
            "{} of {} pages that load a missing script gave no record: {lost:?}",
            lost.len(),
            broken.len()
        );
    }
    if c.count("pages_failed") != 0 {
        let _ = writeln!(problems, "failed pages: {}", c.site()["errors"]);
    }
    let statuses = &c.site()["status"];
    if statuses != &serde_json::json!({ "200": c.pages() }) {
        let _ = writeln!(
            problems,
            "statuses {statuses}: every page (also those with a 404 script) should be 200"
        );
    }
    if c.count("rendered") != c.pages() {
        let _ = writeln!(
            problems,
            "rendered {} of {} pages",
            c.count("rendered"),
            c.pages()
        );
    }
    conclude("always", &problems, &c, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn render_auto_uses_the_browser_exactly_for_the_script_built_product_pages() {
    let _serial = SERIAL.lock().await;
    let (server, dir, c) = serve_and_crawl(LATENCY, "auto").await;
    let records_diff = diff(&expected(|_| true), &c.records);

    let truth = truth();
    let script_built: Vec<&MixedProduct> = truth.iter().filter(|p| p.script_built).collect();
    assert_eq!(script_built.len(), PRODUCTS * SCRIPT_SHARE / 100);
    // Browser requests per page, from the server's side.
    let stats = server.stats();
    let mut wrong_hits = Vec::new();
    for p in &script_built {
        let hits = stats.browser_hits(&p.path);
        if hits != 1 {
            wrong_hits.push(format!(
                "  {} [{:?}] (script-built): {hits} browser requests, want 1",
                p.path, p.kind
            ));
        }
    }
    let mut static_hit = Vec::new();
    for path in stats.all_hits().keys().filter(|p| is_page(p)) {
        if script_built.iter().any(|p| &p.path == path) {
            continue;
        }
        let hits = stats.browser_hits(path);
        if hits != 0 {
            static_hit.push(format!("  {path}: {hits} browser requests, want 0"));
        }
    }
    static_hit.sort();
    let mut problems = String::new();
    if let Some(d) = records_diff {
        let _ = writeln!(problems, "records: {d}");
    }
    if !wrong_hits.is_empty() {
        let _ = writeln!(
            problems,
            "{} script-built product pages not rendered exactly once:\n{}",
            wrong_hits.len(),
            wrong_hits.join("\n")
        );
    }
    if !static_hit.is_empty() {
        let shown: Vec<&String> = static_hit.iter().take(25).collect();
        let _ = writeln!(
            problems,
            "{} server-rendered pages loaded by the browser:\n{}{}",
            static_hit.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            if static_hit.len() > 25 { "\n  ..." } else { "" }
        );
    }
    let rendered = c.site()["rendered"].as_u64();
    let http_pages = c.site()["http_pages"].as_u64();
    let want_http = c.pages() - script_built.len() as u64;
    if rendered != Some(script_built.len() as u64) || http_pages != Some(want_http) {
        let _ = writeln!(
            problems,
            "stats: rendered {rendered:?} (want {}), http_pages {http_pages:?} (want {want_http} of {} pages); render_reasons {}",
            script_built.len(),
            c.pages(),
            c.site()["render_reasons"]
        );
    }
    conclude("auto", &problems, &c, dir.path()).await;
}
