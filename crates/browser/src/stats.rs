//! Lock-free counters behind `PagePool::stats`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use haul_core::PoolStats;

/// Counters shared by a pool and the release callbacks of its handles.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) served: AtomicU64,
    pub(crate) launches: AtomicU64,
    pub(crate) relaunches: AtomicU64,
    pub(crate) retirements: AtomicU64,
    pub(crate) retries: AtomicU64,
    peak_open: AtomicU64,
    held_micros: AtomicU64,
    held_count: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long a page was borrowed.
    pub(crate) fn page_held(&self, held: Duration) {
        let micros = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
        self.held_micros.fetch_add(micros, Ordering::Relaxed);
        self.held_count.fetch_add(1, Ordering::Relaxed);
    }

    /// Records that `open` pages are open now.
    pub(crate) fn open_now(&self, open: usize) {
        self.peak_open.fetch_max(open as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> PoolStats {
        let count = self.held_count.load(Ordering::Relaxed);
        let micros = self.held_micros.load(Ordering::Relaxed);
        PoolStats {
            pages_served: self.served.load(Ordering::Relaxed),
            launches: self.launches.load(Ordering::Relaxed),
            relaunches: self.relaunches.load(Ordering::Relaxed),
            retirements: self.retirements.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            peak_open: self.peak_open.load(Ordering::Relaxed),
            mean_page_ms: if count == 0 {
                0.0
            } else {
                micros as f64 / count as f64 / 1000.0
            },
            ..PoolStats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_means_and_peaks() {
        let c = Counters::default();
        assert_eq!(c.snapshot(), PoolStats::default());
        c.page_held(Duration::from_millis(10));
        c.page_held(Duration::from_millis(30));
        c.open_now(3);
        c.open_now(2);
        Counters::bump(&c.retries);
        let s = c.snapshot();
        assert!((s.mean_page_ms - 20.0).abs() < 1e-9);
        assert_eq!((s.peak_open, s.retries), (3, 1));
    }
}
