//! What a crawl keeps besides its queues: its description (the spec, as JSON), the shares of
//! its report counters and the per-site count of pages scheduled, under the keys
//! [`crate::keys`] names. The values are opaque strings here: `haul-cluster` decides what
//! they mean.

use std::collections::BTreeMap;

use crate::conn::{Redis, RedisError};
use crate::keys;

/// Crawl `crawl`'s description and counters on one Redis. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CrawlMeta {
    redis: Redis,
    crawl: String,
}

impl CrawlMeta {
    /// The description and counters of crawl `crawl`; fails with
    /// [`RedisError::InvalidCrawlId`] for an id that cannot name a crawl.
    pub fn new(redis: &Redis, crawl: &str) -> Result<Self, RedisError> {
        keys::check_crawl_id(crawl)?;
        Ok(Self {
            redis: redis.clone(),
            crawl: crawl.into(),
        })
    }

    /// The crawl's description as stored (`haul:{crawl}:spec`), if it was enqueued.
    pub async fn spec(&self) -> Result<Option<String>, RedisError> {
        let cmd = redis::cmd("GET").arg(keys::spec(&self.crawl)).clone();
        self.redis.query("GET crawl spec", cmd, None).await
    }

    /// Whether the crawl's description is stored: from the moment it is enqueued until it is
    /// purged or expires. A crawl whose workers run but whose description is gone has lost
    /// its keys (Redis restarted without persistence, `FLUSHALL`, eviction).
    pub async fn exists(&self) -> Result<bool, RedisError> {
        let cmd = redis::cmd("EXISTS").arg(keys::spec(&self.crawl)).clone();
        let n: u64 = self.redis.query("EXISTS crawl spec", cmd, None).await?;
        Ok(n == 1)
    }

    /// Stores the crawl's description.
    pub async fn set_spec(&self, json: &str) -> Result<(), RedisError> {
        let cmd = redis::cmd("SET")
            .arg(keys::spec(&self.crawl))
            .arg(json)
            .clone();
        self.redis.query("SET crawl spec", cmd, None).await
    }

    /// Every share of `site`'s report counters (`haul:{crawl}:stats:{site}`): field name
    /// (one per worker task loop) to value.
    pub async fn shares(&self, site: &str) -> Result<BTreeMap<String, String>, RedisError> {
        let cmd = redis::cmd("HGETALL")
            .arg(keys::stats(&self.crawl, site))
            .clone();
        self.redis.query("HGETALL crawl stats", cmd, None).await
    }

    /// Counts one more page of `site` scheduled (`haul:{crawl}:scheduled:{site}`) and returns
    /// the count, this page included.
    pub async fn count_scheduled(&self, site: &str) -> Result<u64, RedisError> {
        let cmd = redis::cmd("INCR")
            .arg(keys::scheduled(&self.crawl, site))
            .clone();
        self.redis.query("INCR pages scheduled", cmd, None).await
    }
}

/// The commands that store `value` as share `field` of `site`'s report counters in crawl
/// `crawl` (reply ignored), to run in the pipeline that completes a task
/// ([`crate::Frontier::complete`]'s `extra`).
pub fn store_share(crawl: &str, site: &str, field: &str, value: &str) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("HSET")
        .arg(keys::stats(crawl, site))
        .arg(field)
        .arg(value)
        .ignore();
    pipe
}
