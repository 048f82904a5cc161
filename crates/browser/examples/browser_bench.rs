//! Runs the browser benchmark (`cargo run --release -p haul-browser --features bench --example browser_bench [pages]`);
//! `cargo xtask bench browser` calls the same `haul_browser::bench::run`.

use haul_browser::bench::{BenchOptions, run};

#[tokio::main]
async fn main() -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(format!("info,{}", haul_browser::LOG_FILTER))
        .init();
    let mut opts = BenchOptions::default();
    if let Some(pages) = std::env::args().nth(1) {
        opts.pages = pages.parse().map_err(|e| format!("pages {pages:?}: {e}"))?;
    }
    let report = run(&opts).await?;
    println!("{report}");
    Ok(())
}
