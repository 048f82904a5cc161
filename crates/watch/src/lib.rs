//! `haul watch`'s scheduler: when each watched site crawls next. A site runs on an interval
//! (`every = "1h"`) or a cron expression (`cron = "0 */6 * * *"`, UTC), with a seeded random
//! jitter of up to a fraction of the interval; never two runs of one site at once (a run that
//! overruns its slot makes the next one start when it ends, once: missed slots are not made
//! up); the next run of every site is kept in the store ([`haul_output::schedule`]), so a
//! restarted watch neither reruns every site at once nor forgets a run that was due. Across
//! processes too: before a run the site's lease is claimed in the store (renewed while it
//! runs, released when it ends, lapsing after [`DEFAULT_LEASE_TTL`] when its watch crashed),
//! so two watches on one store share the runs instead of doing each twice.
//!
//! The crawl itself is not here: [`Watch::run`] calls a [`SiteRun`] (the binary's, which
//! crawls the site into the store) and keeps the clock.

mod clock;
mod error;
mod lease;
mod schedule;
mod store;
mod watch;

pub use clock::Clock;
pub use error::WatchError;
pub use haul_output::schedule::{Claim, Lease};
pub use lease::{DEFAULT_LEASE_TTL, LeaseTimes, owner_id};
pub use schedule::{DEFAULT_JITTER, Jitter, Schedule};
pub use store::{MemoryNextRuns, NextRuns, StoreNextRuns};
pub use watch::{RunSummary, SiteRun, Watch, WatchedSite};
