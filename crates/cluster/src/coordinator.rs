//! `haul crawl --redis`: enqueues a crawl (its spec and level-0 URLs) for the workers, and
//! reads its state back (finished, dead letters, shared counters).

use haul_redis::{CrawlMeta, Frontier, FrontierOptions, Redis};
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
/// of its workers or collectors still run). A crawl id that cannot name a crawl (such as
/// `rate`, a namespace of the shared limits) is an error naming it, before anything is
/// written.
pub async fn enqueue(
    redis: &Redis,
    crawl: &str,
    mut spec: CrawlSpec,
    fresh: bool,
) -> Result<Enqueued, ClusterError> {
    let meta = CrawlMeta::new(redis, crawl)?;
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
    meta.set_spec(&json).await?;
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

#[cfg(test)]
mod tests {
    use haul_redis::testing::RedisServer;

    use super::*;

    #[tokio::test]
    async fn a_crawl_id_of_a_shared_namespace_is_refused_naming_it() {
        let server = RedisServer::start().await;
        let redis = Redis::connect(&server.url()).await.unwrap();
        let spec = CrawlSpec {
            sites: Vec::new(),
            max_level: 0,
            max_pages: None,
            started: String::new(),
            keep_finished_secs: 60,
        };
        for id in ["rate", "sem"] {
            let err = enqueue(&redis, id, spec.clone(), true).await.unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&format!("invalid crawl id {id:?}")), "{msg}");
            assert!(msg.contains("shared by every crawl"), "{msg}");
            // Workers and collectors are refused the same way.
            assert!(CrawlSpec::load(&redis, id).await.is_err());
            assert!(
                crate::site_reports(&redis, id, &["demo".into()])
                    .await
                    .is_err()
            );
        }
        let ok = enqueue(&redis, "ratings", spec, false).await.unwrap();
        assert_eq!(ok.urls, 0);
        assert!(CrawlSpec::load(&redis, "ratings").await.unwrap().is_some());
    }
}
