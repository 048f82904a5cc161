//! Noticing that a crawl's keys vanished from Redis (a restart without persistence,
//! `FLUSHALL`, eviction) while its workers and collectors run, so that they stop with
//! [`ClusterError::CrawlVanished`] within seconds instead of waiting for work forever.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use haul_redis::{CrawlMeta, Redis, RedisError};

use crate::ClusterError;

/// How often an idle worker or collector checks that its crawl still exists.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Checks that crawl `crawl` still has its description (`haul:{crawl}:spec`, the first key
/// the coordinator writes and one no process deletes while the crawl runs).
#[derive(Debug)]
pub(crate) struct Liveness {
    meta: CrawlMeta,
    crawl: String,
    url: String,
    last: Mutex<Option<Instant>>,
}

impl Liveness {
    /// The check of crawl `crawl` on `redis` (an invalid id is an error naming it).
    pub(crate) fn new(redis: &Redis, crawl: &str) -> Result<Self, RedisError> {
        Ok(Self {
            meta: CrawlMeta::new(redis, crawl)?,
            crawl: crawl.into(),
            url: redis.url().into(),
            last: Mutex::new(None),
        })
    }

    /// [`check_now`](Self::check_now), at most once per [`CHECK_EVERY`] (else `Ok` at once).
    pub(crate) async fn check(&self) -> Result<(), ClusterError> {
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < CHECK_EVERY) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        self.check_now().await
    }

    /// Fails with [`ClusterError::CrawlVanished`] when the crawl's description is gone.
    pub(crate) async fn check_now(&self) -> Result<(), ClusterError> {
        if self.meta.exists().await? {
            Ok(())
        } else {
            Err(self.vanished())
        }
    }

    /// The error naming this crawl and Redis.
    pub(crate) fn vanished(&self) -> ClusterError {
        ClusterError::CrawlVanished {
            crawl: self.crawl.clone(),
            url: self.url.clone(),
        }
    }
}
