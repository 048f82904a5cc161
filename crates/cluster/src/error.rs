//! The errors of distributed crawling, each naming the crawl, site or server at fault.

use haul_redis::RedisError;

/// Why a coordinator, worker or collector stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Redis was unreachable, went away for too long, or refused a command.
    #[error(transparent)]
    Redis(#[from] RedisError),
    /// A crawl with this id is already queued and not finished.
    #[error(
        "crawl {crawl:?} is already running on Redis {url} (started {started}); wait for it, \
         pick another --crawl-id, or pass --fresh to discard it"
    )]
    AlreadyRunning {
        /// The crawl id.
        crawl: String,
        /// The Redis URL (password hidden).
        url: String,
        /// When it was enqueued (as stored).
        started: String,
    },
    /// The crawl's description in Redis cannot be read.
    #[error("crawl {crawl:?}: the crawl description in Redis is unreadable: {message}")]
    BadSpec {
        /// The crawl id.
        crawl: String,
        /// What is wrong.
        message: String,
    },
    /// The crawl names a site this binary does not have.
    #[error(
        "crawl {crawl:?} needs site {site:?}, which this haul binary does not have (see `haul sites`); \
         run workers built from the same sources as the coordinator"
    )]
    UnknownSite {
        /// The crawl id.
        crawl: String,
        /// The site name.
        site: String,
    },
    /// No crawl with this id appeared in time.
    #[error("no crawl {crawl:?} was enqueued on Redis {url} within {waited_secs} s")]
    NoCrawl {
        /// The crawl id.
        crawl: String,
        /// The Redis URL.
        url: String,
        /// How long the worker waited.
        waited_secs: u64,
    },
    /// The crawl's keys are gone from Redis while its workers or collectors ran: its queued
    /// URLs are lost, and waiting would be forever.
    #[error(
        "crawl {crawl:?} vanished from Redis {url}: its keys are gone (Redis restarted without \
         persistence, FLUSHALL/FLUSHDB, eviction under maxmemory, or the finished crawl expired); \
         its queued URLs are lost. Enqueue it again (haul crawl --redis ... --fresh), and give \
         Redis persistence (appendonly yes) and maxmemory-policy noeviction"
    )]
    CrawlVanished {
        /// The crawl id.
        crawl: String,
        /// The Redis URL (password hidden).
        url: String,
    },
    /// Writing the records failed.
    #[error(transparent)]
    Output(#[from] haul_output::OutputError),
}
