//! The progress observer: how the crawl reports its advance to whoever displays it.

/// Receives crawl events as they happen. Implementations must be cheap and must not block
/// (they are called from the crawl's tasks).
pub trait Progress: Send + Sync {
    /// A level of `site` starts with `queued` URLs.
    fn level_started(&self, site: &str, level: u32, queued: u64);
    /// A page of `site` finished (`ok` = without error) and gave `records` records.
    fn page_done(&self, site: &str, level: u32, ok: bool, records: u64);
    /// A page of `site` failed with `kind` (after retries; called before its `page_done`).
    fn page_failed(&self, _site: &str, _kind: haul_core::FailureKind) {}
    /// `site` is done.
    fn site_done(&self, _site: &str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn level_started(&self, _: &str, _: u32, _: u64) {}
    fn page_done(&self, _: &str, _: u32, _: bool, _: u64) {}
}
