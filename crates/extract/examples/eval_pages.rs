//! Evaluates the product extractor on saved product pages: `cargo run --release -p
//! haul-extract --example eval_pages -- [DIR] [--dump]` (default DIR:
//! ../shared/data/product-pages-dev). The data is read where it lies, never copied.
//! `--dump` also prints every page's record as one JSON line. The project's own pages
//! (`tests/fixtures/eval`) are added to the tuning half.

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let dump = args.iter().any(|a| a == "--dump");
    args.retain(|a| a != "--dump");
    let dir = args
        .first()
        .cloned()
        .unwrap_or_else(|| "../shared/data/product-pages-dev".to_string());
    if dump {
        let pages = std::path::Path::new(&dir).join("pages");
        let mut files = Vec::new();
        for split in std::fs::read_dir(&pages).into_iter().flatten().flatten() {
            for site in std::fs::read_dir(split.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                files.push(site.path().join("source.html"));
            }
        }
        files.sort();
        for f in files {
            let Ok(bytes) = std::fs::read(&f) else {
                continue;
            };
            let html = String::from_utf8_lossy(&bytes);
            let key = f
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ex = haul_extract::eval::extract_saved_extraction(&html, &key);
            let r = ex.records.first();
            println!(
                "{key}: {}",
                r.map(|r| serde_json::to_string(&r).unwrap_or_default())
                    .unwrap_or_else(|| "none".into())
            );
            for w in &ex.warnings {
                println!("{key}: warning: {w}");
            }
        }
    }
    // The pages written for this project count as tuning pages.
    let own = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval");
    match haul_extract::eval::evaluate_corpora(&dir, &[own]) {
        Ok(report) => {
            print!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
