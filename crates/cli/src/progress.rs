//! Crawl progress on standard error: a bar per site when stderr is a terminal (indicatif),
//! plain log lines per finished level otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use haul_runner::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress display used by `haul crawl`.
pub(crate) trait Display: Progress {
    /// Clears the bars before the final report is printed.
    fn finish(&self);
}

/// Bars on a terminal, log lines elsewhere (or nothing when `enabled` is false and stderr is
/// not a terminal).
pub(crate) fn for_stderr(enabled: bool) -> Arc<dyn Display> {
    if enabled && std::io::stderr().is_terminal() {
        Arc::new(Bars::default())
    } else {
        Arc::new(Lines::default())
    }
}

#[derive(Default)]
struct SiteCounts {
    level: u32,
    queued: u64,
    done: u64,
    failed: u64,
    records: u64,
}

/// indicatif bars, one per site.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, (ProgressBar, SiteCounts)>>,
}

impl Default for Bars {
    fn default() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl Progress for Bars {
    fn level_started(&self, site: &str, level: u32, queued: u64) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        let (bar, counts) = bars.entry(site.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>12} {bar:30} {pos}/{len} pages {msg} {per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(site.to_string());
            (bar, SiteCounts::default())
        });
        counts.level = level;
        counts.queued = queued;
        counts.done = 0;
        bar.set_length(queued);
        bar.set_position(0);
        bar.set_message(format!(
            "L{level} {} records {} errors",
            counts.records, counts.failed
        ));
    }

    fn page_done(&self, site: &str, level: u32, ok: bool, records: u64) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((bar, counts)) = bars.get_mut(site) {
            counts.done += 1;
            counts.records += records;
            counts.failed += u64::from(!ok);
            bar.inc(1);
            bar.set_message(format!(
                "L{level} {} records {} errors",
                counts.records, counts.failed
            ));
        }
    }

    fn site_done(&self, site: &str) {
        let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((bar, _)) = bars.get(site) {
            bar.finish();
        }
    }
}

impl Display for Bars {
    fn finish(&self) {
        let _ = self.multi.clear();
    }
}

/// A log line per finished level, for logs and pipes.
struct Lines {
    started: Instant,
    counts: Mutex<HashMap<String, SiteCounts>>,
}

impl Default for Lines {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            counts: Mutex::new(HashMap::new()),
        }
    }
}

impl Progress for Lines {
    fn level_started(&self, site: &str, level: u32, queued: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let c = counts.entry(site.to_string()).or_default();
        c.level = level;
        c.queued = queued;
        c.done = 0;
        tracing::info!(site, level, queued, "level started");
    }

    fn page_done(&self, site: &str, level: u32, ok: bool, records: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let c = counts.entry(site.to_string()).or_default();
        c.done += 1;
        c.records += records;
        c.failed += u64::from(!ok);
        if c.done == c.queued {
            let secs = self.started.elapsed().as_secs_f64();
            tracing::info!(
                site,
                level,
                pages = c.done,
                records = c.records,
                errors = c.failed,
                "level done after {secs:.1} s"
            );
        }
    }
}

impl Display for Lines {
    fn finish(&self) {}
}
