//! What a distributed crawl is: the sites with their start URLs and link patterns and the
//! limits every worker applies, stored as JSON under `haul:{crawl}:spec` (`haul_redis::keys`).

use haul_core::Registry;
use haul_redis::{CrawlMeta, FrontierOptions, Redis};
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
    /// Seconds the crawl's keys stay in Redis once it finished (`--keep-finished`; 0 =
    /// forever): the worker that finishes the crawl sets this time to live on every key.
    #[serde(default = "default_keep_finished")]
    pub keep_finished_secs: u64,
}

fn default_keep_finished() -> u64 {
    haul_redis::DEFAULT_KEEP_FINISHED.as_secs()
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
            keep_finished_secs: default_keep_finished(),
        }
    }

    /// The frontier settings every process of this crawl uses (the time to live of its keys
    /// once finished).
    pub fn frontier_options(&self) -> FrontierOptions {
        FrontierOptions {
            keep_finished: (self.keep_finished_secs > 0)
                .then(|| std::time::Duration::from_secs(self.keep_finished_secs)),
            ..FrontierOptions::default()
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
