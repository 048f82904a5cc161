//! The watch's clock: wall time (for cron expressions and the times kept in the store) that
//! advances with tokio's clock, so tests with paused time move it without real sleeps.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Wall time as `start` plus the tokio time elapsed since the clock was made. (Sleeping on
/// tokio's monotonic clock, not re-reading the system clock, is what lets paused-time tests
/// drive it; a system clock stepped by hours while watching is seen only at the next restart.)
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: DateTime<Utc>,
    at: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::starting_at(Utc::now())
    }
}

impl Clock {
    /// A clock reading `wall` now.
    pub fn starting_at(wall: DateTime<Utc>) -> Self {
        Self {
            wall,
            at: Instant::now(),
        }
    }

    /// The current wall time.
    pub fn now(&self) -> DateTime<Utc> {
        let elapsed =
            chrono::Duration::from_std(self.at.elapsed()).unwrap_or(chrono::Duration::MAX);
        self.wall + elapsed
    }

    /// Sleeps until wall time `t` (returns at once when it has passed).
    pub async fn sleep_until(&self, t: DateTime<Utc>) {
        let wait = (t - self.now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
    }
}
