//! Redis building blocks for running one crawl across many worker processes: the per-level
//! [`Frontier`] (with a shared visited set, reclaim of dead workers' tasks and a dead-letter
//! stream), the [`RecordStream`] from workers to a collector, [`JobQueue`]s for other shared
//! work (such as LLM tasks), [`SharedRateLimit`]s (with cooldowns) that all processes
//! respect together, and a crawl's description and counters ([`CrawlMeta`]). [`keys`] names
//! every key, for this crate and `haul-cluster` alike. [`testing::RedisServer`] runs a
//! throw-away `redis-server` for tests.
//!
//! # Why Redis Streams and not a job-queue crate
//!
//! Everything is plain Redis Streams with consumer groups (`XADD`, `XREADGROUP`, `XACK`,
//! `XPENDING`, `XAUTOCLAIM`), verified against redis-server 7.0.15 (this crate's
//! `tests/redis.rs`, e.g. `a_dead_workers_task_is_reclaimed_then_dead_lettered`, runs them on
//! a real `redis-server`): a message left unacknowledged by a dead
//! consumer is reclaimed after its idle timeout with a delivery count, which gives both
//! recovery from `SIGKILL` within a visibility timeout we choose and a dead-letter policy.
//! apalis 1.0 + apalis-redis was considered and rejected: it uses lists and Lua rather than
//! Streams, a dead worker's tasks come back only after missed heartbeats (about 5 minutes by
//! default), and its issue tracker has open reports of tasks lost on process death.
//!
//! # Guarantees
//!
//! * At-least-once: a task is acknowledged only after its records are written (by the
//!   caller, see [`Frontier`]'s protocol); records may arrive twice and are de-duplicated by
//!   (site, url) downstream.
//! * A URL is queued once per site across all workers (`SADD`'s answer decides, in the same
//!   Lua script as the `XADD`, so a retried enqueue neither loses nor duplicates it).
//! * Levels complete in order: workers take tasks from the current level only, and the level
//!   advances (atomically) only when it has no undelivered task and every pending one has its
//!   links queued ([`Frontier::take_links`], which queues a task's links and marks them taken
//!   in one script); such stragglers (a page waiting for an LLM answer) finish while the next
//!   level runs, and are reclaimed from a dead worker like any task, without queuing their
//!   links again. In the same step the done level's acknowledged entries are trimmed (`XTRIM`;
//!   the stream and its group stay); its stragglers are trimmed once acknowledged (the level
//!   is *settled*, its links-done set deleted), and the crawl finishes only when the last
//!   level is done and no task of any level is pending.
//! * Redis unreachable at start: a [`RedisError`] naming the URL. Redis gone mid-crawl: every
//!   operation pauses and retries with exponential backoff (connections are
//!   `redis::aio::ConnectionManager`s) for [`ConnectOptions::reconnect_for`], then fails with
//!   [`RedisError::Gone`], naming the URL.

mod breaker;
mod conn;
mod frontier;
pub mod keys;
mod meta;
mod queue;
mod ratelimit;
mod records;
mod semaphore;
mod stream;
pub mod testing;

pub use breaker::{SharedBreaker, SharedBreakerOptions, SharedGate, SharedStop};
pub use conn::{ConnectOptions, Redis, RedisError};
pub use frontier::{
    DEFAULT_KEEP_FINISHED, Frontier, FrontierOptions, Reclaimed, Task, WORKERS_GROUP, Work,
};
pub use meta::{CrawlMeta, store_share};
pub use queue::{Job, JobQueue, ReclaimedJobs};
pub use ratelimit::{Rate, SharedRateLimit};
pub use records::{COLLECTOR_GROUP, RecordStream, StreamedRecord};
pub use redis::Pipeline;
pub use semaphore::{Lease, SharedSemaphore};
