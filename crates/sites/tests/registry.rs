//! The registry holds exactly one site per folder under `sites/`, named after the folder.

use std::path::Path;

#[test]
fn registry_matches_the_sites_folder() {
    let sites_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sites");
    let mut folders: Vec<String> = std::fs::read_dir(&sites_dir)
        .expect("sites/ exists")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let registry = haul_sites::registry().expect("no duplicate or malformed site names");
    let names: Vec<String> = registry.names().iter().map(|s| s.to_string()).collect();
    assert_eq!(
        names, folders,
        "every folder under sites/ must register exactly one site named after it, and be \
         listed in crates/sites (Cargo.toml and src/lib.rs)"
    );
    for reg in registry.iter() {
        assert_eq!(
            reg.package,
            format!("haul-site-{}", reg.extractor.name()),
            "site {} is registered by an unexpected package",
            reg.extractor.name()
        );
    }
}
