//! Crawl counters shared by all workers, as serialised [`SiteReport`]s: one Redis hash per
//! site (`haul:{crawl}:stats:{site}`, named by `haul_redis::keys`) whose fields are the task loops of the workers
//! (`{consumer}#{instance}`), each holding the JSON of that loop's accumulated share. A share
//! is rewritten in the pipeline that completes each of its pages, so it always counts exactly
//! the pages acknowledged. The coordinator [`merge`](SiteReport::merge)s the shares, page-time
//! histograms included, so its percentiles are real ones, computed as a local crawl's.

use std::collections::BTreeMap;

use haul_redis::{CrawlMeta, Pipeline, Redis};
use haul_runner::SiteReport;
use tracing::warn;

use crate::ClusterError;

/// The command that stores `share` (everything task loop `field` did on `site`, up to and
/// including the page being completed) as that loop's share of the counters (reply ignored),
/// to run in the pipeline that completes the page's task.
pub(crate) fn store_share(crawl: &str, site: &str, field: &str, share: &SiteReport) -> Pipeline {
    // A report of counters and maps only: serialising it cannot fail.
    let json = serde_json::to_string(share).unwrap_or_default();
    haul_redis::store_share(crawl, site, field, &json)
}

/// The shared counters of `sites`, every worker's share merged (the page-time percentiles
/// are left for [`SiteReport::finish`], which the caller runs with the crawl's wall time).
pub async fn site_reports(
    redis: &Redis,
    crawl: &str,
    sites: &[String],
) -> Result<Vec<SiteReport>, ClusterError> {
    let meta = CrawlMeta::new(redis, crawl)?;
    let mut out = Vec::new();
    for site in sites {
        let shares: BTreeMap<String, String> = meta.shares(site).await?;
        let mut report = SiteReport::new(site);
        for (field, json) in shares {
            match serde_json::from_str::<SiteReport>(&json) {
                Ok(share) => report.merge(share),
                Err(e) => warn!(site, field, "unreadable share of the crawl's counters: {e}"),
            }
        }
        out.push(report);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use haul_redis::testing::RedisServer;
    use haul_runner::PageOutcome;

    use super::*;

    fn page(n: u64) -> PageOutcome {
        PageOutcome {
            written: 1,
            status: Some(200),
            // A skewed distribution: a mean would be far from the median.
            elapsed: Duration::from_millis(if n % 10 == 9 { 1000 + n } else { 10 + n }),
            ..PageOutcome::new(url::Url::parse(&format!("http://shop.test/p/{n}")).unwrap())
        }
    }

    #[tokio::test]
    async fn shares_stored_by_several_loops_merge_into_the_local_report() {
        let server = RedisServer::start().await;
        let redis = Redis::connect(&server.url()).await.unwrap();
        let mut local = SiteReport::new("tiny");
        let mut shares = vec![SiteReport::new("tiny"); 4];
        for n in 0..60 {
            local.tally(1, &page(n));
            let i = (n % 4) as usize;
            shares[i].tally(1, &page(n));
            // As the worker does: the loop's whole share after every page.
            let pipe = store_share("c1", "tiny", &format!("w{i}#x"), &shares[i]);
            redis.pipe::<()>("store share", pipe).await.unwrap();
        }
        let mut got = site_reports(&redis, "c1", &["tiny".into(), "other".into()])
            .await
            .unwrap();
        local.finish(1.5);
        for r in &mut got {
            r.finish(1.5);
        }
        assert_eq!(got[0], local);
        let (p50, p95) = (got[0].page_ms_p50, got[0].page_ms_p95);
        assert!(p95 >= p50, "{p50} {p95}");
        // 54 pages of 10..=68 ms and 6 of about a second: the 31st and 57th of the sorted
        // times (their mean is 138 ms).
        assert_eq!((p50, p95), (43, 1029));
        assert_eq!(got[1], {
            let mut none = SiteReport::new("other");
            none.finish(1.5);
            none
        });
    }
}
