//! The fixture index, `sites/<site>/tests/fixtures/index.toml`: the URL each recorded page was
//! fetched from, so that `cargo xtask check SITE` can parse it as if fetched from there.
//!
//! `cargo xtask record` adds or updates entries (keeping comments and hand-written fields);
//! `cargo xtask check` reads them. The format, one `[[page]]` table per page (a file may be
//! listed at several URLs):
//!
//! ```toml
//! [[page]]
//! file = "products-page3-empty.json"     # under tests/fixtures/
//! url = "http://shop.test/products.json?limit=250&page=3"
//! kind = "products"                      # optional: the page kind the site must name
//! rendered = false                       # optional: saved from a browser (scripts ran)
//! breaches = 2                           # optional: a known-bad page breaks the contract so
//! note = "past the last page"            #   many times (default 0); say why in `note`
//! check = false                          # optional: not a page (a side resource): skipped
//! ```
//!
//! Kept free of the haul libraries: the xtask binary (for `record`) compiles it as well as the
//! `check` example and the tests.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The index's file name inside a fixtures folder.
pub(crate) const INDEX_FILE: &str = "index.toml";

/// What a fresh index file starts with.
const HEADER: &str = "\
# Recorded pages in this folder and the URL each was fetched from: `cargo xtask check SITE`
# parses each page as if fetched from its URL and checks the site's contract.
# `cargo xtask record SITE URL...` adds entries. Optional fields per page: kind (the page kind
# the site must name), rendered (saved from a browser), breaches (a known-bad page breaks the
# contract that many times; say why in note), check = false (not a page: skipped).
";

/// A fixtures folder's index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Index {
    /// The pages, in file order.
    #[serde(default, rename = "page")]
    pub(crate) pages: Vec<Entry>,
}

/// One recorded page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    /// File name under the fixtures folder.
    pub(crate) file: String,
    /// The URL the page was fetched from.
    pub(crate) url: String,
    /// The page kind the site must name for `url`, when given.
    #[serde(default)]
    pub(crate) kind: Option<String>,
    /// Whether the page was saved from a browser (scripts ran).
    #[serde(default)]
    pub(crate) rendered: bool,
    /// How many contract breaches this page is known to show (a known-bad page).
    #[serde(default)]
    pub(crate) breaches: usize,
    /// Whether to check the page at all (`false` for side resources that are no page).
    #[serde(default = "yes")]
    pub(crate) check: bool,
    /// Why the page is special.
    #[serde(default)]
    pub(crate) note: Option<String>,
}

fn yes() -> bool {
    true
}

/// The index file of fixtures folder `dir`.
pub(crate) fn index_path(dir: &Path) -> PathBuf {
    dir.join(INDEX_FILE)
}

/// Reads the index of fixtures folder `dir`.
pub(crate) fn load(dir: &Path) -> Result<Index> {
    let path = index_path(dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no fixture index at {} (record pages with `cargo xtask record SITE URL...`, or \
             write it by hand: one [[page]] with file and url per page)",
            path.display()
        )
    })?;
    let index: Index =
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    for e in &index.pages {
        if e.file.is_empty() || e.file.contains('/') || e.file.contains('\\') || e.file == ".." {
            bail!(
                "{}: file {:?} must be a plain file name in that folder",
                path.display(),
                e.file
            );
        }
    }
    Ok(index)
}

/// Records in the index of fixtures folder `dir` that `file` was fetched from `url`: updates
/// the entry of `file` when there is exactly one, else adds one. Comments and other fields are
/// kept; the file is created when missing.
pub(crate) fn upsert(dir: &Path, file: &str, url: &str) -> Result<()> {
    let path = index_path(dir);
    let (text, header) = match std::fs::read_to_string(&path) {
        Ok(t) => (t, ""),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), HEADER),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let pages = doc
        .entry("page")
        .or_insert(toml_edit::Item::ArrayOfTables(Default::default()))
        .as_array_of_tables_mut()
        .with_context(|| format!("{}: `page` must be an array of tables", path.display()))?;
    let same_file: Vec<usize> = pages
        .iter()
        .enumerate()
        .filter(|(_, t)| t.get("file").and_then(|f| f.as_str()) == Some(file))
        .map(|(i, _)| i)
        .collect();
    match same_file[..] {
        [i] => {
            if let Some(t) = pages.get_mut(i) {
                t["url"] = toml_edit::value(url);
            }
        }
        _ if same_file
            .iter()
            .any(|&i| pages.get(i).and_then(|t| t.get("url")?.as_str()) == Some(url)) => {}
        _ => {
            let mut t = toml_edit::Table::new();
            t["file"] = toml_edit::value(file);
            t["url"] = toml_edit::value(url);
            pages.push(t);
        }
    }
    // A fresh file starts with the header (as a leading comment of an empty document,
    // toml_edit would keep it after the tables).
    std::fs::write(
        &path,
        format!("{header}{}{doc}", if header.is_empty() { "" } else { "\n" }),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    // What was written must read back.
    load(dir).map(drop)
}

/// Notes in the index of fixtures folder `dir` every page `haul fetch --out-dir DIR` reports
/// saving (its output lines `URL -> PATH`); returns how many.
pub(crate) fn note_fetched(dir: &Path, haul_fetch_stdout: &str) -> Result<usize> {
    let mut n = 0;
    for (url, path) in haul_fetch_stdout
        .lines()
        .filter_map(|l| l.split_once(" -> "))
    {
        let file = Path::new(path.trim())
            .file_name()
            .with_context(|| format!("haul fetch saved {url} to {path:?}, not a file"))?;
        upsert(dir, &file.to_string_lossy(), url.trim())?;
        n += 1;
    }
    Ok(n)
}
