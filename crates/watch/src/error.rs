//! The scheduler's error type.

/// Why a schedule could not be parsed or kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// `every = "..."` is not a duration of at least one second.
    #[error(
        "{value:?} is not an interval such as \"30m\", \"1h\" or \"1day\" (at least 1s): {reason}"
    )]
    Interval {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `cron = "..."` is not a cron expression.
    #[error("{value:?} is not a cron expression such as \"0 */6 * * *\": {reason}")]
    Cron {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A cron expression that never fires again after the given time.
    #[error("cron expression {value:?} has no run after {after}")]
    NoNextRun {
        /// The expression.
        value: String,
        /// The time searched from.
        after: chrono::DateTime<chrono::Utc>,
    },
    /// The jitter fraction is outside 0..=1.
    #[error("jitter {0} is not a fraction from 0 to 1 (such as 0.1)")]
    Jitter(f64),
    /// The store's schedule table failed.
    #[error(transparent)]
    Store(#[from] haul_output::OutputError),
    /// A blocking store task panicked or was cancelled.
    #[error("the schedule store task failed: {0}")]
    Task(String),
}
