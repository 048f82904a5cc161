//! `cargo xtask new-site NAME --domain DOMAIN` scaffolds a site crate (extractor skeleton with
//! a contract, fixtures and their index, an integration test that also crawls the fixtures
//! through the real runner, registration and linking); `cargo xtask remove-site NAME` undoes
//! exactly that (Cargo.lock included). `xtask/tests/new_site.rs` checks both on a copy of the
//! workspace.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::util;

/// The lines that link a site crate, as (file, anchor line after which to insert, line). The
/// aggregator names the crate by path, so the root `Cargo.toml` is not touched (its
/// `members` glob already has `sites/*`).
fn link_lines(name: &str) -> [(&'static str, &'static str, String); 2] {
    [
        (
            "crates/sites/Cargo.toml",
            "haul-site-demo.workspace = true",
            format!("haul-site-{name} = {{ path = \"../../sites/{name}\" }}"),
        ),
        (
            "crates/sites/src/lib.rs",
            "use haul_site_demo as _;",
            format!("use haul_site_{} as _;", name.replace('-', "_")),
        ),
    ]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub(crate) fn new_site(args: &[String]) -> Result<()> {
    let (name, domain) = match args {
        [name, flag, domain] if flag == "--domain" => (name.as_str(), domain.as_str()),
        _ => bail!("usage: cargo xtask new-site NAME --domain DOMAIN"),
    };
    if !valid_name(name) {
        bail!("site name {name:?} must start with a letter and use only a-z, 0-9 and '-'");
    }
    if domain.contains('/') || !domain.contains('.') {
        bail!("--domain {domain:?} must be a host name such as shop.example");
    }
    let root = util::root();
    let dir = root.join("sites").join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let ident = name.replace('-', "_");
    let ty: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{ident}}", &ident)
            .replace("{{Type}}", &ty)
            .replace("{{domain}}", domain)
    };
    fs::create_dir_all(dir.join("src"))?;
    fs::create_dir_all(dir.join("tests/fixtures"))?;
    fs::write(dir.join("Cargo.toml"), fill(CARGO_TOML))?;
    fs::write(dir.join("src/lib.rs"), fill(LIB_RS))?;
    fs::write(dir.join("tests/site.rs"), fill(TEST_RS))?;
    fs::write(dir.join("tests/fixtures/product.html"), fill(FIXTURE))?;
    fs::write(dir.join("tests/fixtures/home.html"), fill(HOME_FIXTURE))?;
    fs::write(
        dir.join("tests/fixtures").join(crate::fixtures::INDEX_FILE),
        fill(FIXTURE_INDEX),
    )?;
    for (file, anchor, line) in link_lines(name) {
        insert_after(&root.join(file), anchor, &line)?;
    }
    eprintln!(
        "created sites/{name} (package haul-site-{name}) and linked it into crates/sites.\n\
         next: edit sites/{name}/src/lib.rs, save real pages with `cargo xtask record {name} URL...`,\n\
         run `cargo test -p haul-site-{name}` and `cargo xtask check {name}`;\n\
         undo everything with `cargo xtask remove-site {name}`"
    );
    Ok(())
}

pub(crate) fn remove_site(args: &[String]) -> Result<()> {
    let [name] = args else {
        bail!("usage: cargo xtask remove-site NAME");
    };
    if !valid_name(name) || name == "demo" {
        bail!("refusing to remove site {name:?}");
    }
    let root = util::root();
    let dir = root.join("sites").join(name);
    if !dir.exists() {
        bail!("{} does not exist", dir.display());
    }
    for (file, _, line) in link_lines(name) {
        let path = root.join(file);
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {file}"))?;
        let kept: Vec<&str> = text.lines().filter(|l| l.trim() != line).collect();
        fs::write(&path, kept.join("\n") + "\n").with_context(|| format!("cannot write {file}"))?;
    }
    fs::remove_dir_all(&dir)?;
    // Drop the crate from Cargo.lock too. `cargo update --workspace` re-resolves the lock
    // against the manifests and keeps every other locked version; it reads the registry index
    // but downloads no crate. (`cargo metadata` would download every package of the lock,
    // other platforms' too, so `--offline` failed on a cargo home that had not fetched them;
    // `--no-deps` does not resolve, so it would leave the lock as it was.)
    let status = util::cargo()
        .args(["update", "--workspace", "--quiet"])
        .status()
        .context("cannot run cargo update to update Cargo.lock")?;
    if !status.success() {
        bail!("cargo update failed ({status}) while dropping haul-site-{name} from Cargo.lock");
    }
    eprintln!("removed sites/{name}, its links and its Cargo.lock entry");
    Ok(())
}

fn insert_after(path: &Path, anchor: &str, line: &str) -> Result<()> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if text.lines().any(|l| l.trim() == line) {
        return Ok(());
    }
    let mut out = Vec::new();
    let mut done = false;
    for l in text.lines() {
        out.push(l.to_string());
        if !done && l.trim() == anchor {
            out.push(line.to_string());
            done = true;
        }
    }
    if !done {
        bail!("{}: anchor line {anchor:?} not found", path.display());
    }
    fs::write(path, out.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

const CARGO_TOML: &str = r#"[package]
name = "haul-site-{{name}}"
description = "haul site extractor for {{domain}}."
version.workspace = true
edition.workspace = true
license.workspace = true
publish.workspace = true

[dependencies]
haul-core.workspace = true
haul-extract.workspace = true
haul-price.workspace = true
scraper.workspace = true

[dev-dependencies]
axum.workspace = true
haul-runner.workspace = true
haul-testkit.workspace = true
tokio.workspace = true

[lints]
workspace = true
"#;

const LIB_RS: &str = r#"//! The {{domain}} extractor (registered as `{{name}}`).
//!
//! Generated by `cargo xtask new-site`; adapt the selectors to the shop's real markup (save
//! pages with `cargo xtask record {{name}} URL...`, compare with `haul parse`, and check them
//! with `cargo xtask check {{name}}`).

use haul_core::{
    Document, ExtractError, Extraction, Extractor, Method, PageClass, PageContract, PageKind,
    Record, Url,
};
use scraper::Selector;

/// The {{domain}} extractor.
#[derive(Debug, Clone, Copy)]
pub struct {{Type}};

/// The page kinds of {{domain}}, each with what a good page of it yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any page that is not a product: links to follow.
    Listing,
    /// `/products/...`: one product.
    Product,
}

impl PageKind for Kind {
    const ALL: &'static [Self] = &[Self::Listing, Self::Product];

    fn name(self) -> &'static str {
        match self {
            Self::Listing => "listing",
            Self::Product => "product",
        }
    }

    fn contract(self) -> Option<PageContract> {
        Some(match self {
            Self::Listing => PageContract::new(0, 1, &[]),
            // Add "currency" (and more) once the shop's markup states it unambiguously.
            Self::Product => PageContract::new(1, 0, &["title", "url", "price"]),
        })
    }
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("valid selector")
}

impl Extractor for {{Type}} {
    fn name(&self) -> &'static str {
        "{{name}}"
    }

    fn domains(&self) -> &'static [&'static str] {
        &["{{domain}}"]
    }

    fn classify(&self, url: &Url) -> PageClass {
        match url.path().starts_with("/products/") {
            true => PageClass::of(Kind::Product),
            false => PageClass::of(Kind::Listing),
        }
    }

    fn kinds(&self) -> Vec<PageClass> {
        PageClass::all::<Kind>()
    }

    fn parse(&self, doc: &Document) -> Result<Extraction, ExtractError> {
        // Parsed with a bounded depth: a deeply nested page stays linear.
        let html = haul_extract::parse_html(&doc.body);
        let mut out = Extraction::default();
        for a in html.select(&sel("a[href]")) {
            out.links
                .extend(a.value().attr("href").and_then(|h| doc.url.join(h).ok()));
        }
        let Some(title) = html.select(&sel("h1")).next() else {
            return Ok(out); // not a product page
        };
        let title: String = title.text().collect();
        let mut record = Record::product(self.name(), doc.url.as_str(), title, Method::Css);
        if let Some(price) = html.select(&sel(".price")).next() {
            let text: String = price.text().collect();
            let hints = haul_price::Hints {
                domain: doc.url.host_str(),
                ..Default::default()
            };
            let parsed = haul_price::parse_price(&text, &hints);
            (record.price, record.currency) = (parsed.amount, parsed.currency);
        }
        if record.price.is_none() {
            out.warn(format!("{}: no price found", doc.url));
        }
        out.records.push(record);
        Ok(out)
    }
}

haul_core::register_site!({{Type}});
"#;

const TEST_RS: &str = r#"//! {{name}}: the extractor on the recorded pages under tests/fixtures/, alone and through
//! the real crawler (`haul_testkit::crawl_site`, the pages served on 127.0.0.1:0).

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use haul_core::{Document, Extractor, Url};
use haul_runner::{CrawlOptions, SiteJob};
use haul_site_{{ident}}::{{Type}};
use haul_testkit::TestServer;

/// The origin the fixtures were recorded under (see tests/fixtures/index.toml).
const RECORDED: &str = "https://{{domain}}";

/// Path served -> fixture file.
const ROUTES: &[(&str, &str)] = &[("/", "home.html"), ("/products/example", "product.html")];

fn fixture_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Serves the fixtures at their paths; anything else is a 404.
fn router() -> Router {
    Router::new().fallback(|req: Request| async move {
        let Some((_, file)) = ROUTES.iter().find(|(p, _)| *p == req.uri().path()) else {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        };
        let body = tokio::fs::read_to_string(fixture_path(file))
            .await
            .expect("fixture exists");
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    })
}

#[test]
fn product_page_gives_one_record_with_title_and_price() {
    let url = Url::parse(&format!("{RECORDED}/products/example")).unwrap();
    let ex = {{Type}}
        .parse(&Document::new(url, fixture("product.html")))
        .unwrap();
    assert_eq!(ex.records.len(), 1);
    let r = &ex.records[0];
    assert_eq!(r.site, "{{name}}");
    assert_eq!(r.title, "Example Product");
    assert_eq!(r.price.map(|p| p.to_string()).as_deref(), Some("24.99"));
    assert!(ex.warnings.is_empty(), "{:?}", ex.warnings);
}

#[tokio::test]
async fn crawl_from_the_home_page_finds_the_product() {
    let server = TestServer::start(router()).await.unwrap();
    let opts = CrawlOptions {
        max_level: 1,
        retries: 0,
        ..CrawlOptions::default()
    };
    let base = format!("http://{}", server.addr());
    let (records, report) = haul_testkit::crawl_site(
        SiteJob::new(&{{Type}}, vec![server.url("/")]),
        opts,
        None,
        &base,
        RECORDED,
    )
    .await;
    let site = &report.sites[0];
    assert_eq!(site.pages_failed, 0, "{site:?}");
    assert_eq!(site.levels, vec![1, 1], "{site:?}");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["url"], format!("{RECORDED}/products/example"));
    assert_eq!(records[0]["title"], "Example Product");
    assert_eq!(records[0]["price"], "24.99");
}

#[test]
fn claims_its_domain_only() {
    assert!({{Type}}.handles(&Url::parse("https://www.{{domain}}/x").unwrap()));
    assert!(!{{Type}}.handles(&Url::parse("https://other.example/x").unwrap()));
}
"#;

const FIXTURE: &str = r#"<!doctype html>
<html><head><title>Example Product | {{domain}}</title></head>
<body><nav><a href="/">Home</a> <a href="/collections/all">All</a></nav>
<main><h1>Example Product</h1><p class="price">$24.99</p></main>
</body></html>
"#;

const HOME_FIXTURE: &str = r#"<!doctype html>
<html><head><title>{{domain}}</title></head>
<body><main><ul class="products">
<li><a href="/products/example">Example Product</a></li>
</ul></main>
</body></html>
"#;

const FIXTURE_INDEX: &str = r#"# Recorded pages in this folder and the URL each was fetched from: `cargo xtask check {{name}}`
# parses each page as if fetched from its URL and checks the site's contract.
# `cargo xtask record {{name}} URL...` adds entries. Optional fields per page: kind (the page
# kind the site must name), rendered (saved from a browser), breaches (a known-bad page breaks
# the contract that many times; say why in note), check = false (not a page: skipped).

[[page]]
file = "home.html"
url = "https://{{domain}}/"
kind = "listing"

[[page]]
file = "product.html"
url = "https://{{domain}}/products/example"
kind = "product"
"#;
