//! `cargo xtask deps`: the real workspace keeps ARCHITECTURE.md's dependency rules, and a
//! forbidden edge, a missing row, a non-optional "(optional)" dependency and a stale row are
//! each named in the error.

#[path = "../src/deps.rs"]
mod deps;
// `deps::run` reads `cargo metadata` through it; the rest of it serves other commands.
#[allow(dead_code)]
#[path = "../src/util.rs"]
mod util;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// A declared dependency: (name, kind: `None` = normal or `Some("dev")`, optional).
type Dep<'a> = (&'a str, Option<&'a str>, bool);

/// A `cargo metadata --no-deps` document with `packages`, each `(name, [dependency])`.
fn metadata(packages: &[(&str, &[Dep<'_>])]) -> Value {
    let packages: Vec<Value> = packages
        .iter()
        .map(|(name, deps)| {
            let deps: Vec<Value> = deps
                .iter()
                .map(|(dep, kind, optional)| {
                    json!({ "name": dep, "kind": kind, "optional": optional, "req": "*" })
                })
                .collect();
            json!({ "name": name, "dependencies": deps })
        })
        .collect();
    json!({ "packages": packages })
}

const DOC: &str = "# Architecture

## Dependency rules

Checked external crates: `axum`, `reqwest`.

| crate | may depend on | why |
| --- | --- | --- |
| `haul-core` | `reqwest` | contracts |
| `haul-runner` | `haul-core`, `haul-output` | engine |
| `haul-output` | `haul-core` | sinks |
| `haul-cli` | `haul-core`, `haul-runner`, `haul-testkit` (optional) | binary |
| `haul-testkit` | `haul-core`, `axum` | servers |

## Next section

| crate | may depend on |
| --- | --- |
| `not-a-rule` | `anything` |
";

#[test]
fn the_workspace_keeps_architecture_md_rules() {
    deps::run(&root()).expect("the real crate graph matches ARCHITECTURE.md");
}

#[test]
fn a_graph_as_written_passes_and_unchecked_crates_are_free() {
    let m = metadata(&[
        (
            "haul-core",
            &[("reqwest", None, false), ("serde", None, false)],
        ),
        ("haul-output", &[("haul-core", None, false)]),
        (
            "haul-runner",
            &[
                ("haul-core", None, false),
                ("haul-output", None, false),
                // dev-dependencies are not checked
                ("haul-testkit", Some("dev"), false),
            ],
        ),
        (
            "haul-cli",
            &[("haul-runner", None, false), ("haul-testkit", None, true)],
        ),
        (
            "haul-testkit",
            &[("haul-core", None, false), ("axum", None, false)],
        ),
    ]);
    assert_eq!(deps::check(&m, DOC).unwrap(), Vec::<String>::new());
}

#[test]
fn a_forbidden_edge_is_named_with_what_the_crate_may_depend_on() {
    let m = metadata(&[
        (
            "haul-core",
            &[("reqwest", None, false), ("haul-runner", None, false)],
        ),
        (
            "haul-output",
            &[("haul-core", None, false), ("axum", None, false)],
        ),
        ("haul-runner", &[("haul-core", None, false)]),
        ("haul-cli", &[("haul-testkit", None, false)]),
        ("haul-testkit", &[("haul-core", None, false)]),
    ]);
    let errors = deps::check(&m, DOC).unwrap();
    assert_eq!(
        errors,
        [
            "haul-core -> haul-runner is not allowed by ARCHITECTURE.md (haul-core may depend \
             on: reqwest)",
            "haul-output -> axum is not allowed by ARCHITECTURE.md (haul-output may depend on: \
             haul-core)",
            "haul-cli -> haul-testkit must be an optional dependency (behind a cargo feature) by \
             ARCHITECTURE.md (haul-cli may depend on: haul-core, haul-runner, haul-testkit \
             (optional))",
        ],
    );
}

#[test]
fn a_crate_without_a_row_and_a_stale_row_are_errors() {
    let m = metadata(&[
        ("haul-core", &[]),
        ("haul-output", &[]),
        ("haul-runner", &[]),
        ("haul-cli", &[]),
        ("haul-new", &[("haul-core", None, false)]),
    ]);
    let errors = deps::check(&m, DOC).unwrap();
    assert_eq!(
        errors,
        [
            "ARCHITECTURE.md lets haul-cli depend on haul-testkit, which is neither a workspace \
             crate nor a checked external crate",
            "ARCHITECTURE.md has a row for haul-testkit but the workspace has no such crate",
            "haul-new has no row in ARCHITECTURE.md's \"## Dependency rules\" table",
        ],
    );
}

#[test]
fn rules_that_cannot_be_read_are_an_error() {
    let m = metadata(&[("haul-core", &[])]);
    let err = deps::check(&m, "# Architecture\n\nno rules here\n").unwrap_err();
    assert!(err.to_string().contains("Dependency rules"), "{err:#}");
    let err = deps::check(
        &m,
        "## Dependency rules\n\n| crate | may depend on |\n| --- | --- |\n| `haul-core` | x |\n",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("Checked external crates"),
        "{err:#}"
    );
}

/// A family row (`haul-site-*`) covers every crate of the family, on both sides.
#[test]
fn family_rows_match_by_prefix() {
    let doc = "## Dependency rules\n\nChecked external crates: `axum`.\n\n\
               | crate | may depend on |\n| --- | --- |\n\
               | `haul-core` | nothing |\n\
               | `haul-site-*` | `haul-core` |\n\
               | `haul-sites` | `haul-core`, `haul-site-*` |\n";
    let m = metadata(&[
        ("haul-core", &[]),
        ("haul-site-a", &[("haul-core", None, false)]),
        (
            "haul-site-b",
            &[("haul-core", None, false), ("axum", None, false)],
        ),
        (
            "haul-sites",
            &[("haul-site-a", None, false), ("haul-site-b", None, false)],
        ),
    ]);
    assert_eq!(
        deps::check(&m, doc).unwrap(),
        [
            "haul-site-b -> axum is not allowed by ARCHITECTURE.md (haul-site-b may depend on: \
          haul-core)"
        ],
    );
}
