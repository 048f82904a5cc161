//! `haul crawl --redis`: enqueues a crawl (its spec and level-0 URLs) for the workers, and
//! reads its state back (finished, dead letters, shared counters).

use haul_redis::{Frontier, FrontierOptions, Redis};
use haul_runner::canonicalize;
use tracing::info;

use crate::{ClusterError, CrawlSpec};

/// What [`enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// Level-0 URLs queued (over all sites).
    pub urls: u64,
    /// Keys of an earlier crawl with the same id that were deleted first.
    pub purged: u64,
}

/// Enqueues crawl `crawl`: stores `spec` and queues every site's start URLs on level 0.
///
/// A finished crawl with the same id is discarded first; an unfinished one is an error
/// ([`ClusterError::AlreadyRunning`]) unless `fresh`, which discards it (only safe when none
/// of its workers or collectors still run).
pub async fn enqueue(
    redis: &Redis,
    crawl: &str,
    mut spec: CrawlSpec,
    fresh: bool,
) -> Result<Enqueued, ClusterError> {
    let frontier = Frontier::new(redis, crawl, FrontierOptions::default());
    // When the earlier crawl with this id started (an unreadable spec still is one).
    let earlier = match CrawlSpec::load(redis, crawl).await {
        Ok(old) => old.map(|o| o.started),
        Err(ClusterError::BadSpec { .. }) => Some("at an unknown time".into()),
        Err(e) => return Err(e),
    };
    if let Some(started) = &earlier
        && !fresh
        && !frontier.is_finished().await?
    {
        return Err(ClusterError::AlreadyRunning {
            crawl: crawl.into(),
            url: redis.url().into(),
            started: started.clone(),
        });
    }
    let mut purged = 0;
    if fresh || earlier.is_some() {
        purged = frontier.purge().await?;
        if purged > 0 {
            info!(
                crawl,
                keys = purged,
                "discarded the earlier crawl with this id"
            );
        }
    }
    spec.started = chrono::Utc::now().to_rfc3339();
    let json = serde_json::to_string(&spec).map_err(|e| ClusterError::BadSpec {
        crawl: crawl.into(),
        message: e.to_string(),
    })?;
    redis
        .query::<()>(
            "SET crawl spec",
            redis::cmd("SET")
                .arg(CrawlSpec::key(crawl))
                .arg(json)
                .clone(),
            None,
        )
        .await?;
    let mut urls = 0;
    for site in &spec.sites {
        let canon: Vec<String> = site
            .start_urls
            .iter()
            .map(|u| canonicalize(u).to_string())
            .collect();
        urls += frontier.enqueue(0, &site.site, &canon).await?;
    }
    info!(crawl, urls, sites = spec.sites.len(), "crawl enqueued");
    Ok(Enqueued { urls, purged })
}
