//! `cargo xtask new-site NAME --domain DOMAIN` scaffolds a site crate (extractor skeleton,
//! fixture, integration test, registration and linking); `cargo xtask remove-site NAME`
//! undoes exactly that.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::util;

/// The lines that link a site crate, as (file, anchor line after which to insert, line).
fn link_lines(name: &str) -> [(&'static str, &'static str, String); 3] {
    [
        (
            "Cargo.toml",
            "haul-site-demo = { path = \"sites/demo\" }",
            format!("haul-site-{name} = {{ path = \"sites/{name}\" }}"),
        ),
        (
            "crates/sites/Cargo.toml",
            "haul-site-demo.workspace = true",
            format!("haul-site-{name}.workspace = true"),
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
    for (file, anchor, line) in link_lines(name) {
        insert_after(&root.join(file), anchor, &line)?;
    }
    eprintln!(
        "created sites/{name} (package haul-site-{name}) and linked it into crates/sites.\n\
         next: edit sites/{name}/src/lib.rs, save real pages with `cargo xtask record {name} URL...`,\n\
         run `cargo test -p haul-site-{name}`; undo everything with `cargo xtask remove-site {name}`"
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
    eprintln!("removed sites/{name} and its links");
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
haul-price.workspace = true
scraper.workspace = true

[lints]
workspace = true
"#;

const LIB_RS: &str = r#"//! The {{domain}} extractor (registered as `{{name}}`).
//!
//! Generated by `cargo xtask new-site`; adapt the selectors to the shop's real markup (save
//! pages with `cargo xtask record {{name}} URL...` and compare with `haul parse`).

use haul_core::{Document, ExtractError, Extraction, Extractor, Method, Record, RenderNeed, Url};
use scraper::{Html, Selector};

/// The {{domain}} extractor.
#[derive(Debug, Clone, Copy)]
pub struct {{Type}};

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("valid selector")
}

impl Extractor for {{Type}} {
    fn name(&self) -> &'static str {
        "{{name}}"
    }

    fn description(&self) -> &'static str {
        "{{domain}}"
    }

    fn domains(&self) -> &'static [&'static str] {
        &["{{domain}}"]
    }

    fn render(&self, _url: &Url) -> RenderNeed {
        RenderNeed::Auto
    }

    fn parse(&self, doc: &Document) -> Result<Extraction, ExtractError> {
        let html = Html::parse_document(&doc.body);
        let mut out = Extraction::default();
        for a in html.select(&sel("a[href]")) {
            if let Some(link) = a.value().attr("href").and_then(|h| doc.url.join(h).ok()) {
                out.links.push(link);
            }
        }
        let Some(title) = html.select(&sel("h1")).next() else {
            return Ok(out); // not a product page
        };
        let title: String = title.text().collect();
        let mut record = Record::product("{{name}}", doc.url.as_str(), title, Method::Css);
        if let Some(price) = html.select(&sel(".price")).next() {
            let text: String = price.text().collect();
            let hints = haul_price::Hints {
                domain: doc.url.host_str(),
                ..Default::default()
            };
            let parsed = haul_price::parse_price(&text, &hints);
            record.price = parsed.amount;
            record.currency = parsed.currency;
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

const TEST_RS: &str = r#"//! {{name}}: the extractor on recorded pages under tests/fixtures/.

use haul_core::{Document, Extractor, Url};
use haul_site_{{ident}}::{{Type}};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn product_page_gives_one_record_with_title_and_price() {
    let url = Url::parse("https://{{domain}}/products/example").unwrap();
    let ex = {{Type}}.parse(&Document::new(url, fixture("product.html"))).unwrap();
    assert_eq!(ex.records.len(), 1);
    let r = &ex.records[0];
    assert_eq!(r.site, "{{name}}");
    assert_eq!(r.title, "Example Product");
    assert_eq!(r.price.map(|p| p.to_string()).as_deref(), Some("24.99"));
    assert!(ex.warnings.is_empty(), "{:?}", ex.warnings);
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
