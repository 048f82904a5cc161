//! Smoke test of the benchmark used by `cargo xtask bench browser` (a few pages only).

use std::time::Duration;

use haul_browser::BrowserConfig;
use haul_browser::bench::{BenchOptions, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_every_setup() {
    let opts = BenchOptions {
        pages: 3,
        latency: Duration::from_millis(5),
        browser: BrowserConfig {
            browsers: 1,
            pages_per_browser: 2,
            ..BrowserConfig::local()
        },
        include_original: false,
    };
    let report = run(&opts).await.unwrap();
    let setups: Vec<&str> = report.rows.iter().map(|r| r.setup.as_str()).collect();
    assert_eq!(setups.len(), 3, "{setups:?}");
    assert!(setups[0].contains("one browser per URL"));
    assert_eq!(report.rows[0].launches, 3);
    assert_eq!(report.rows[2].launches, 1);
    for row in &report.rows {
        assert_eq!(row.pages, 3);
        assert!(
            row.pages_per_sec > 0.0 && row.peak_pss_mib > 50.0,
            "{row:?}"
        );
    }
    assert!(
        report
            .to_string()
            .contains("| pool 1 x 2, reused tabs (default) | 3 |")
    );
}
