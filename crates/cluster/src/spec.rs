//! What a distributed crawl is: the sites with their start URLs and link patterns and the
//! limits every worker applies, stored as JSON under `haul:{crawl}:spec` (`haul_redis::keys`).

use haul_core::Registry;
use haul_redis::{CrawlMeta, Redis};
use haul_runner::SiteJob;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::ClusterError;

/// One site of a crawl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSpec {
    /// Registered site name.
    pub site: String,
    /// Level-0 URLs (they also define the site's scope).
    pub start_urls: Vec<Url>,
    /// Follow only links matching one of these regular expressions (empty = all in scope).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Never follow links matching any of these.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// A crawl as the coordinator enqueued it: what every worker needs to process its URLs the
/// same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlSpec {
    /// The sites.
    pub sites: Vec<SiteSpec>,
    /// Deepest level followed.
    pub max_level: u32,
    /// Pages per site at most (over all workers).
    #[serde(default)]
    pub max_pages: Option<u64>,
    /// When it was enqueued (RFC 3339, informational).
    #[serde(default)]
    pub started: String,
}

impl CrawlSpec {
    /// The spec of `jobs` (as planned for a local crawl).
    pub fn from_jobs(jobs: &[SiteJob], max_level: u32, max_pages: Option<u64>) -> Self {
        Self {
            sites: jobs
                .iter()
                .map(|j| SiteSpec {
                    site: j.extractor.name().to_string(),
                    start_urls: j.start_urls.clone(),
                    allow: j.allow.iter().map(|r| r.as_str().to_string()).collect(),
                    deny: j.deny.iter().map(|r| r.as_str().to_string()).collect(),
                })
                .collect(),
            max_level,
            max_pages,
            started: String::new(),
        }
    }

    /// The site jobs of this crawl, resolved against this binary's `registry`.
    pub fn jobs(&self, crawl: &str, registry: &Registry) -> Result<Vec<SiteJob>, ClusterError> {
        let compile = |patterns: &[String]| {
            patterns
                .iter()
                .map(|p| {
                    regex::Regex::new(p).map_err(|e| ClusterError::BadSpec {
                        crawl: crawl.into(),
                        message: format!("{p:?} is not a valid regular expression: {e}"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        self.sites
            .iter()
            .map(|s| {
                let extractor = registry
                    .get(&s.site)
                    .map_err(|_| ClusterError::UnknownSite {
                        crawl: crawl.into(),
                        site: s.site.clone(),
                    })?;
                let mut job = SiteJob::new(extractor, s.start_urls.clone());
                job.allow = compile(&s.allow)?;
                job.deny = compile(&s.deny)?;
                Ok(job)
            })
            .collect()
    }

    /// Reads the spec of `crawl`, if it was enqueued (an invalid crawl id is an error naming
    /// it: see `haul_redis::keys::check_crawl_id`).
    pub async fn load(redis: &Redis, crawl: &str) -> Result<Option<Self>, ClusterError> {
        let json = CrawlMeta::new(redis, crawl)?.spec().await?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| ClusterError::BadSpec {
                crawl: crawl.into(),
                message: e.to_string(),
            })
        })
        .transpose()
    }
}
