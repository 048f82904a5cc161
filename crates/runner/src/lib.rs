//! The crawl engine: level-by-level concurrent crawling of one or more sites.
//!
//! [`Crawler`] takes [`SiteJob`]s and crawls each site level by level: level 0 is the start
//! URLs; links an extractor returns go to the next level, up to `max_level`. Every URL of a
//! level runs concurrently, at most `concurrency` at a time per site, and a new URL starts as
//! soon as any slot is free (no batch barrier). Records stream to the [`Output`] as they are
//! found; a failing URL is counted and does not stop its level.
//!
//! The runner is the only crate that knows about every service at once: it builds the
//! [`HttpFetcher`], receives the page pool and LLM pool, and hands them to extractors through
//! `haul_core::Context`.

#[cfg(test)]
mod auto_tests;
mod blocks;
mod checked;
mod crawl;
#[cfg(test)]
mod crawl_tests;
#[cfg(test)]
mod fakes;
mod fetch;
mod levels;
mod network;
mod pipeline;
mod polite;
mod progress;
mod recrawl;
mod render;
mod report;
mod scope;
#[cfg(test)]
mod session_tests;
mod sessions;
mod shutdown;
mod sitemap;
mod state;

pub use blocks::{BlockBreaker, BlockStop, BreakerError, BreakerOptions, Gate, LocalBreaker};
pub use checked::Checked;
pub use crawl::{CrawlOptions, Crawler, PageOutcome, RenderMode, Services, SiteJob, Unfinished};
pub use fetch::{DEFAULT_MAX_BODY, HttpFetcher, HttpOptions, MAX_REDIRECTS, MAX_RETRY_AFTER_SECS};
pub use haul_output::{ExistingKeys, Output, OutputError, OutputFormat, Recall, RecordSender};
pub use network::{is_private, private_literal};
pub use pipeline::{Driven, Frontier, PageTask};
pub use polite::{DomainGate, GatePermit, PoliteFetcher, Politeness};
pub use progress::{Progress, Silent};
pub use recrawl::Carry;
pub use render::RenderReason;
pub use report::{CrawlReport, SiteReport};
pub use scope::{Scope, canonicalize};
pub use sessions::SessionStore;
pub use shutdown::{GraceJoin, Joined};
pub use sitemap::{SitemapUrl, discover as discover_sitemaps, parse_lastmod};
pub use state::{Journal, SiteResume, StateError};
pub use tokio_util::sync::CancellationToken;
