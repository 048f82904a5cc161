//! One crawl shared by worker processes on many machines, on Redis (the building blocks are
//! in haul-redis): the coordinator [enqueues](enqueue) a crawl, [workers](run_worker) take its
//! URLs level by level and publish records, a [collector](collect) writes them. Per-domain
//! politeness ([`RedisDomainGate`]) and LLM key limits ([`llm`]) are shared through Redis, so
//! N machines together respect the limits one machine would.
//!
//! Delivery is at-least-once end to end: a URL is acknowledged only after its records were
//! published and its links queued; a record only after the output flushed it. Duplicates
//! (a URL re-processed after its worker died) are dropped by the output's (site, url) key.

mod alive;
mod breaker;
mod collector;
mod coordinator;
mod error;
mod gate;
pub mod llm;
mod spec;
mod stats;
mod worker;

pub use breaker::RedisBreaker;
pub use collector::{CollectOptions, Collected, collect};
pub use coordinator::{Enqueued, enqueue};
pub use error::ClusterError;
pub use gate::RedisDomainGate;
pub use spec::{CrawlSpec, SiteSpec};
pub use stats::site_reports;
pub use worker::{WorkerOptions, default_name, run_worker, wait_for_spec};
