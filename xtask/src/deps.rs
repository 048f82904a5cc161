//! `cargo xtask deps`: the crate graph of ARCHITECTURE.md, enforced.
//!
//! ARCHITECTURE.md's "Dependency rules" section holds a table `| crate | may depend on | ... |`
//! and a line `Checked external crates: ...`. Every workspace crate's *normal* dependencies
//! (`cargo metadata --no-deps`, kind `null`; dev- and build-dependencies are free) on other
//! workspace crates and on the checked external crates must be listed in its row. An entry
//! marked `(optional)` may only be an optional dependency (behind a cargo feature). A crate
//! column may end in `*` to cover a family (`haul-site-*`). A workspace crate without a row,
//! a row that matches no crate and a name in the rules that is neither a workspace crate nor
//! a checked external crate are errors too, so the doc and the Cargo.toml files cannot drift
//! apart silently.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The heading of the section the rules are read from.
const SECTION: &str = "## Dependency rules";
/// The line (inside the section) that lists the checked external crates.
const EXTERNAL_LINE: &str = "Checked external crates:";

/// One row of the table.
#[derive(Debug)]
struct Rule {
    /// A crate name, or a prefix followed by `*`.
    pattern: String,
    /// Allowed dependencies, each with `true` when it must be optional.
    allowed: Vec<(String, bool)>,
}

impl Rule {
    fn matches(&self, name: &str) -> bool {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => self.pattern == name,
        }
    }

    /// How the row reads in an error message.
    fn describe(&self) -> String {
        if self.allowed.is_empty() {
            return "nothing".into();
        }
        self.allowed
            .iter()
            .map(|(n, opt)| {
                if *opt {
                    format!("{n} (optional)")
                } else {
                    n.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The rules of ARCHITECTURE.md.
#[derive(Debug)]
struct Rules {
    rows: Vec<Rule>,
    external: BTreeSet<String>,
}

/// Strips backticks and blanks around a name.
fn clean(s: &str) -> String {
    s.trim().trim_matches('`').trim().to_string()
}

/// Reads the "Dependency rules" section of `doc`.
fn parse_rules(doc: &str) -> Result<Rules> {
    let mut lines = doc.lines().skip_while(|l| l.trim() != SECTION);
    if lines.next().is_none() {
        bail!("ARCHITECTURE.md has no {SECTION:?} section");
    }
    let section: Vec<&str> = lines.take_while(|l| !l.starts_with("## ")).collect();

    let external_line = section
        .iter()
        .find_map(|l| l.trim().strip_prefix(EXTERNAL_LINE))
        .with_context(|| format!("{SECTION:?} has no line starting with {EXTERNAL_LINE:?}"))?;
    let external: BTreeSet<String> = external_line
        .trim_end_matches('.')
        .split(',')
        .map(clean)
        .filter(|n| !n.is_empty())
        .collect();

    let mut rows = Vec::new();
    for line in section
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with('|'))
    {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let (Some(krate), Some(deps)) = (cells.first(), cells.get(1)) else {
            bail!("{SECTION:?}: a table row needs two cells: {line:?}");
        };
        if *krate == "crate" || krate.chars().all(|c| c == '-' || c == ':' || c == ' ') {
            continue; // header and separator
        }
        let mut allowed = Vec::new();
        for item in deps.split(',').map(str::trim) {
            if item.is_empty() || item == "nothing" || item == "-" {
                continue;
            }
            let (name, optional) = match item.strip_suffix("(optional)") {
                Some(name) => (clean(name), true),
                None => (clean(item), false),
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                bail!(
                    "{SECTION:?}: cannot read {item:?} in the row of {krate}: write crate names \
                     separated by commas, each optionally followed by \"(optional)\""
                );
            }
            allowed.push((name, optional));
        }
        rows.push(Rule {
            pattern: clean(krate),
            allowed,
        });
    }
    if rows.is_empty() {
        bail!("{SECTION:?} has no `| crate | may depend on |` table");
    }
    Ok(Rules { rows, external })
}

/// Checks the workspace described by `metadata` (the JSON of `cargo metadata --format-version 1
/// --no-deps`) against the rules in `doc` (ARCHITECTURE.md). Returns one message per broken
/// rule (empty when the graph is as written); `Err` when the rules cannot be read.
pub(crate) fn check(metadata: &Value, doc: &str) -> Result<Vec<String>> {
    let rules = parse_rules(doc)?;
    let packages = metadata["packages"]
        .as_array()
        .context("cargo metadata has no packages")?;
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut errors = Vec::new();

    // The rules themselves: every row covers a crate, every allowed name exists.
    for rule in &rules.rows {
        if !names.iter().any(|n| rule.matches(n)) {
            errors.push(format!(
                "ARCHITECTURE.md has a row for {} but the workspace has no such crate",
                rule.pattern
            ));
        }
        for (dep, _) in &rule.allowed {
            let pattern = Rule {
                pattern: dep.clone(),
                allowed: Vec::new(),
            };
            if !rules.external.contains(dep) && !names.iter().any(|n| pattern.matches(n)) {
                errors.push(format!(
                    "ARCHITECTURE.md lets {} depend on {dep}, which is neither a workspace crate \
                     nor a checked external crate",
                    rule.pattern
                ));
            }
        }
    }

    for package in packages {
        let name = package["name"].as_str().unwrap_or("?");
        let Some(rule) = rules.rows.iter().find(|r| r.matches(name)) else {
            errors.push(format!(
                "{name} has no row in ARCHITECTURE.md's {SECTION:?} table"
            ));
            continue;
        };
        let deps = package["dependencies"].as_array().map_or(&[][..], |d| d);
        for dep in deps {
            // `kind` is null for normal dependencies, "dev" or "build" otherwise.
            if !dep["kind"].is_null() {
                continue;
            }
            let Some(dep_name) = dep["name"].as_str() else {
                continue;
            };
            if !names.contains(dep_name) && !rules.external.contains(dep_name) {
                continue; // an external crate nobody guards
            }
            let optional = dep["optional"].as_bool().unwrap_or(false);
            let allowed = rule.allowed.iter().find(|(pattern, _)| {
                Rule {
                    pattern: pattern.clone(),
                    allowed: Vec::new(),
                }
                .matches(dep_name)
            });
            match allowed {
                None => errors.push(format!(
                    "{name} -> {dep_name} is not allowed by ARCHITECTURE.md ({name} may depend \
                     on: {})",
                    rule.describe()
                )),
                Some((_, true)) if !optional => errors.push(format!(
                    "{name} -> {dep_name} must be an optional dependency (behind a cargo feature) \
                     by ARCHITECTURE.md ({name} may depend on: {})",
                    rule.describe()
                )),
                Some(_) => {}
            }
        }
    }
    Ok(errors)
}

/// `cargo xtask deps`: checks the workspace at `root` against its ARCHITECTURE.md.
pub(crate) fn run(root: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    eprintln!("xtask: == deps: cargo metadata --no-deps against ARCHITECTURE.md");
    let metadata = crate::util::metadata(root)?;
    let doc_path = root.join("ARCHITECTURE.md");
    let doc = std::fs::read_to_string(&doc_path)
        .with_context(|| format!("cannot read {}", doc_path.display()))?;
    let errors = check(&metadata, &doc)?;
    if !errors.is_empty() {
        bail!(
            "the crate graph breaks ARCHITECTURE.md's dependency rules:\n  {}",
            errors.join("\n  ")
        );
    }
    eprintln!(
        "xtask: == deps ok in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
