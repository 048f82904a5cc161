//! A site's schedule (an interval or a cron expression) and the jitter added to each run.

use std::str::FromStr as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::WatchError;

/// The default jitter: each run starts up to 10 % of its interval late.
pub const DEFAULT_JITTER: f64 = 0.1;

/// When a site runs.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every so often, counted from the planned start of the previous run.
    Every(Duration),
    /// At the times of a 5-field cron expression (minute hour day-of-month month
    /// day-of-week), in UTC.
    Cron {
        /// The expression as given.
        expr: String,
        /// The parsed expression.
        cron: Box<croner::Cron>,
    },
}

impl Schedule {
    /// An interval in humantime's form (`90s`, `30m`, `1h 30m`, `1day`): at least one second.
    pub fn every(value: &str) -> Result<Self, WatchError> {
        let err = |reason: String| WatchError::Interval {
            value: value.into(),
            reason,
        };
        let d = humantime::parse_duration(value.trim()).map_err(|e| err(e.to_string()))?;
        if d < Duration::from_secs(1) {
            return Err(err("shorter than 1s".into()));
        }
        Ok(Self::Every(d))
    }

    /// A cron expression (5 fields, UTC; croner's extensions such as `L` and `#` allowed).
    pub fn cron(value: &str) -> Result<Self, WatchError> {
        let cron = croner::Cron::from_str(value.trim()).map_err(|e| WatchError::Cron {
            value: value.into(),
            reason: e.to_string(),
        })?;
        Ok(Self::Cron {
            expr: value.trim().into(),
            cron: Box::new(cron),
        })
    }

    /// The schedule as kept in the store (`every 1h`, `cron 0 */6 * * *`).
    pub fn spec(&self) -> String {
        match self {
            Self::Every(d) => format!("every {}", humantime::format_duration(*d)),
            Self::Cron { expr, .. } => format!("cron {expr}"),
        }
    }

    /// The first planned time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Result<DateTime<Utc>, WatchError> {
        match self {
            Self::Every(d) => {
                Ok(t + chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX))
            }
            Self::Cron { expr, cron } => {
                cron.find_next_occurrence(&t, false)
                    .map_err(|_| WatchError::NoNextRun {
                        value: expr.clone(),
                        after: t,
                    })
            }
        }
    }

    /// The first planned time after `after` on the grid of slot `planned`: for an interval,
    /// `planned + k x interval` (k >= 1), for a cron expression its first time after both.
    /// Slots missed meanwhile (a late start, a watch that was not running) are skipped.
    pub fn next_slot(
        &self,
        planned: DateTime<Utc>,
        after: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, WatchError> {
        match self {
            Self::Every(d) => {
                let step = chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX);
                let late = (after - planned).max(chrono::Duration::zero());
                let ms = step.num_milliseconds().max(1);
                let k = late.num_milliseconds() / ms + 1;
                Ok(planned + chrono::Duration::milliseconds(ms.saturating_mul(k)))
            }
            Self::Cron { .. } => self.next_after(planned.max(after)),
        }
    }

    /// The interval that starts at the planned time `slot`: the time to the slot after it
    /// (for an interval, the interval). The jitter is a fraction of it.
    pub fn period_at(&self, slot: DateTime<Utc>) -> Duration {
        match self {
            Self::Every(d) => *d,
            Self::Cron { .. } => self
                .next_after(slot)
                .ok()
                .and_then(|n| (n - slot).to_std().ok())
                .unwrap_or_default(),
        }
    }
}

/// A random delay added to every planned run: uniform in `[0, fraction x interval)`, from a
/// seeded generator (so tests, and `--jitter-seed`, are deterministic). Spreads the runs of
/// many watchers (and of sites on the same schedule) instead of starting them together.
#[derive(Debug, Clone)]
pub struct Jitter {
    fraction: f64,
    seed: u64,
    rng: fastrand::Rng,
}

impl Jitter {
    /// Up to `fraction` (0 to 1) of each interval, drawn from a generator seeded with `seed`.
    pub fn new(fraction: f64, seed: u64) -> Result<Self, WatchError> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(WatchError::Jitter(fraction));
        }
        Ok(Self {
            fraction,
            seed,
            rng: fastrand::Rng::with_seed(seed),
        })
    }

    /// The same fraction with a generator of its own for `site` (seeded from this one's seed
    /// and the site's name), so that sites do not draw the same delays.
    pub fn for_site(&self, site: &str) -> Self {
        // FNV-1a: a stable hash (std's `DefaultHasher` may change between releases).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in site.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Self {
            fraction: self.fraction,
            seed: self.seed ^ h,
            rng: fastrand::Rng::with_seed(self.seed ^ h),
        }
    }

    /// The fraction of the interval a run may start late.
    pub fn fraction(&self) -> f64 {
        self.fraction
    }

    /// A delay for a run whose interval is `period`.
    pub fn delay(&mut self, period: Duration) -> Duration {
        period.mul_f64(self.fraction * self.rng.f64())
    }
}
