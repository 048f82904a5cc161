//! [`Visit`]: one page a crawl processed, as the writer learns of it after the page's records.
//! Only the SQLite store keeps visits (its `pages` table); the file formats ignore them.

use chrono::{DateTime, Utc};

/// One page a crawl processed: what the store remembers of it between runs (for
/// conditional requests, skipping unchanged pages, and `gone` events). Sent with
/// [`RecordSender::visit`](crate::RecordSender::visit) after the page's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// The registered name of the site whose crawl processed it.
    pub site: String,
    /// The page's canonical URL (as the frontier handed it out, not the records' URLs).
    pub url: String,
    /// The HTTP status of its last answer, when one came.
    pub status: Option<u16>,
    /// The failure kind label (`http_404`, `timeout`...) when the page failed.
    pub failure: Option<String>,
    /// The `ETag` of the page's answer, when it had one.
    pub etag: Option<String>,
    /// The `Last-Modified` of the page's answer, when it had one.
    pub last_modified: Option<String>,
    /// The URLs of the records the page gave (written or not, in the page's order).
    pub records: Vec<String>,
    /// The links the page gave (absolute, before the crawl's scope and patterns), kept for a
    /// recrawl that does not download the page again (`page_links`).
    pub links: Vec<String>,
    /// When the page was done.
    pub at: DateTime<Utc>,
}

impl Visit {
    /// A visit of `url` by `site` done now, with nothing known yet.
    pub fn new(site: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            site: site.into(),
            url: url.into(),
            status: None,
            failure: None,
            etag: None,
            last_modified: None,
            records: Vec::new(),
            links: Vec::new(),
            at: Utc::now(),
        }
    }
}
