//! `cargo xtask check SITE [--fixtures DIR]`: the site's contract against its recorded pages.
//!
//! Each page listed in the fixtures index ([`crate::fixtures`]) is parsed with the site's
//! extractor as if fetched from its URL, and `classify(url).check(site, extraction)` says
//! how it breaks the contract. A page fails when it shows a different number of breaches than
//! the index expects (0 unless it is a known-bad page), or a different page kind than the
//! index names.
//!
//! This module links every site (through `haul-sites`), so it is not part of the xtask binary
//! (which must keep building in seconds): it is compiled into the `check` example, which
//! `cargo xtask check` runs, and into xtask's tests.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use haul_core::{Document, Extractor, Url};

use crate::fixtures;

/// What `check` found on one indexed page.
#[derive(Debug, Clone)]
pub(crate) struct PageResult {
    /// The index entry.
    pub(crate) entry: fixtures::Entry,
    /// The page kind the site names for the URL.
    pub(crate) kind: &'static str,
    /// Records the extractor gave.
    pub(crate) records: usize,
    /// Links the extractor gave.
    pub(crate) links: usize,
    /// How the page breaks the contract (a parse error and a wrong page kind count too).
    pub(crate) breaches: Vec<String>,
}

impl PageResult {
    /// Whether the page does what the index says: as many breaches as expected.
    pub(crate) fn ok(&self) -> bool {
        !self.entry.check || self.breaches.len() == self.entry.breaches
    }
}

/// What `check` found on every indexed page of a site.
#[derive(Debug, Clone)]
pub(crate) struct SiteReport {
    /// The site's registered name.
    pub(crate) site: String,
    /// The fixtures folder.
    pub(crate) dir: PathBuf,
    /// One result per index entry, in index order.
    pub(crate) pages: Vec<PageResult>,
    /// Files in the folder that the index does not list (besides the index).
    pub(crate) unindexed: Vec<String>,
}

impl SiteReport {
    /// Files of the pages that fail, in index order, each once.
    pub(crate) fn failed_files(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in self.pages.iter().filter(|p| !p.ok()) {
            if !out.contains(&p.entry.file.as_str()) {
                out.push(&p.entry.file);
            }
        }
        out
    }

    /// The per-page table, then every breach and every unindexed file.
    pub(crate) fn table(&self) -> String {
        let rows: Vec<[String; 6]> = self
            .pages
            .iter()
            .map(|p| {
                let breaches = if !p.entry.check {
                    "skipped".to_string()
                } else if p.ok() && p.entry.breaches > 0 {
                    format!("{} (expected)", p.breaches.len())
                } else if p.ok() {
                    "0".to_string()
                } else {
                    format!("{} FAIL (expected {})", p.breaches.len(), p.entry.breaches)
                };
                let (kind, records, links) = if p.entry.check {
                    (
                        p.kind.to_string(),
                        p.records.to_string(),
                        p.links.to_string(),
                    )
                } else {
                    ("-".into(), "-".into(), "-".into())
                };
                [
                    p.entry.file.clone(),
                    p.entry.url.clone(),
                    kind,
                    records,
                    links,
                    breaches,
                ]
            })
            .collect();
        let head = ["FILE", "URL", "KIND", "RECORDS", "LINKS", "BREACHES"];
        let mut width = head.map(str::len);
        for row in &rows {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.len());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: [&str; 6]| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
                // Numbers right-aligned, text left-aligned; no padding after the last column.
                match i {
                    3 | 4 => {
                        let _ = write!(s, "{cell:>w$}  ");
                    }
                    5 => s.push_str(cell),
                    _ => {
                        let _ = write!(s, "{cell:<w$}  ");
                    }
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&mut out, head);
        for row in &rows {
            line(&mut out, row.each_ref().map(String::as_str));
        }
        for p in &self.pages {
            for b in &p.breaches {
                let _ = writeln!(out, "{}: {b}", p.entry.file);
            }
            if let (false, Some(note)) = (p.breaches.is_empty(), &p.entry.note) {
                let _ = writeln!(out, "{}: (note: {note})", p.entry.file);
            }
        }
        if !self.unindexed.is_empty() {
            let _ = writeln!(
                out,
                "not in {} (not checked): {}",
                fixtures::INDEX_FILE,
                self.unindexed.join(", ")
            );
        }
        out
    }
}

/// The default fixtures folder of `site` in the workspace at `root`.
pub(crate) fn default_dir(root: &Path, site: &str) -> PathBuf {
    root.join("sites").join(site).join("tests/fixtures")
}

/// The registered extractor named `site`, which must declare a contract for some page kind.
fn site_with_contract(site: &str) -> Result<&'static dyn Extractor> {
    let registry = haul_sites::registry().context("the site registry is invalid")?;
    let ext = registry.get(site)?;
    if !ext.kinds().iter().any(|k| k.contract().is_some()) {
        bail!(
            "site {site:?} declares no contract (declare its page kinds with a contract, \
             haul_core::PageKind, and return them from Extractor::classify and \
             Extractor::kinds in its crate) so there is nothing to check"
        );
    }
    Ok(ext)
}

/// Checks every page indexed in fixtures folder `dir` against `site`'s contract.
///
/// Errors (rather than a report) when the site is unknown or has no contract, when `dir` has
/// no valid index, or when the index lists a file that is missing or a URL that is invalid.
pub(crate) fn check_site(site: &str, dir: &Path) -> Result<SiteReport> {
    let ext = site_with_contract(site)?;
    let index = fixtures::load(dir)?;
    if index.pages.is_empty() {
        bail!("{} lists no pages", fixtures::index_path(dir).display());
    }
    let mut pages = Vec::new();
    for entry in index.pages {
        let path = dir.join(&entry.file);
        if !path.is_file() {
            bail!(
                "{} lists {}, which is missing",
                fixtures::index_path(dir).display(),
                path.display()
            );
        }
        let url = Url::parse(&entry.url).with_context(|| {
            format!(
                "{}: url {:?} of {} is not a valid URL",
                fixtures::index_path(dir).display(),
                entry.url,
                entry.file
            )
        })?;
        let class = ext.classify(&url);
        let kind = class.kind();
        let mut result = PageResult {
            entry,
            kind,
            records: 0,
            links: 0,
            breaches: Vec::new(),
        };
        if !result.entry.check {
            pages.push(result);
            continue;
        }
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut doc = Document::new(url, String::from_utf8_lossy(&bytes).into_owned());
        doc.rendered = result.entry.rendered;
        match ext.parse(&doc) {
            Ok(ex) => {
                result.records = ex.records.len();
                result.links = ex.links.len();
                result.breaches = class
                    .check(ext.name(), &ex)
                    .iter()
                    .map(ToString::to_string)
                    .collect();
            }
            Err(e) => result.breaches.push(format!("parse failed: {e}")),
        }
        if let Some(want) = result.entry.kind.as_deref().filter(|k| *k != kind) {
            result
                .breaches
                .push(format!("page kind is {kind:?}, the index says {want:?}"));
        }
        pages.push(result);
    }
    let mut unindexed = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type()?.is_file()
            && name != fixtures::INDEX_FILE
            && !pages.iter().any(|p| p.entry.file == name)
        {
            unindexed.push(name);
        }
    }
    unindexed.sort();
    Ok(SiteReport {
        site: site.to_string(),
        dir: dir.to_path_buf(),
        pages,
        unindexed,
    })
}

/// `check SITE [--fixtures DIR]` in the workspace at `root`: prints the table to stdout and
/// fails naming the files whose pages break the contract.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<SiteReport> {
    const USAGE: &str = "usage: cargo xtask check SITE [--fixtures DIR]";
    let (site, dir) = match args {
        [site] => (site, default_dir(root, site)),
        [site, flag, dir] if flag == "--fixtures" => (site, PathBuf::from(dir)),
        [flag, dir, site] if flag == "--fixtures" => (site, PathBuf::from(dir)),
        _ => bail!("{USAGE}"),
    };
    if site.starts_with('-') {
        bail!("{USAGE}");
    }
    let report = check_site(site, &dir)?;
    print!("{}", report.table());
    let failed = report.failed_files();
    if !failed.is_empty() {
        bail!(
            "{}: {} of {} indexed pages break the contract: {}",
            report.site,
            report.pages.iter().filter(|p| !p.ok()).count(),
            report.pages.len(),
            failed.join(", ")
        );
    }
    println!(
        "{}: all {} checked pages in {} keep the contract",
        report.site,
        report.pages.iter().filter(|p| p.entry.check).count(),
        report.dir.display()
    );
    Ok(report)
}
