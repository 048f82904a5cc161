//! Cheap recrawls into a SQLite store: what the store remembers of each page
//! ([`haul_output::Recall`]) turns an HTTP fetch into a conditional request (`If-None-Match`,
//! `If-Modified-Since`), and a `304` (or a sitemap `lastmod` no newer than the last visit)
//! carries the page's last records and links forward instead of downloading it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use haul_core::{Document, FailureKind};
use haul_output::{PageMemo, Recall};
use tracing::warn;
use url::Url;

use crate::PageOutcome;
use crate::sitemap::SitemapUrl;

/// Why a page's last records were carried forward instead of extracted anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// The server answered `304 Not Modified` to the page's validators.
    NotModified,
    /// The page's sitemap `lastmod` is not newer than its last visit: it was not fetched.
    Unchanged,
}

/// A page's validators, as its answer gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Validators {
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
}

impl Validators {
    /// Those of a fetched document (none for a rendered one: the browser's cache decides
    /// there, and no conditional request is made for it).
    pub(crate) fn of(doc: &Document) -> Self {
        if doc.rendered {
            return Self::default();
        }
        let get = |name: &str| {
            doc.header(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        Self {
            etag: get("etag"),
            last_modified: get("last-modified"),
        }
    }

    /// These, or where one is missing (a 304 need not repeat them), `memo`'s.
    fn or(self, memo: Option<&PageMemo>) -> Self {
        Self {
            etag: self.etag.or_else(|| memo.and_then(|m| m.etag.clone())),
            last_modified: self
                .last_modified
                .or_else(|| memo.and_then(|m| m.last_modified.clone())),
        }
    }
}

/// The recrawl state of a crawl into a store: the store's memory of the pages, and the
/// pages each site's sitemaps say are unchanged since.
#[derive(Debug)]
pub(crate) struct Recrawl {
    recall: Arc<Recall>,
    /// Per site, the canonical URLs to carry forward without fetching (taken once each).
    unchanged: Mutex<HashMap<String, HashSet<String>>>,
}

impl Recrawl {
    pub(crate) fn new(recall: Recall) -> Self {
        Self {
            recall: Arc::new(recall),
            unchanged: Mutex::new(HashMap::new()),
        }
    }

    /// The conditional request headers for `site`'s page `url`: its last validators, if its
    /// last visit gave any and did not fail.
    pub(crate) fn conditional(&self, site: &str, url: &Url) -> Vec<(String, String)> {
        let Some(memo) = self.recall.page(site, url.as_str()) else {
            return Vec::new();
        };
        let mut headers = Vec::new();
        if let Some(etag) = &memo.etag {
            headers.push(("If-None-Match".to_string(), etag.clone()));
        }
        if let Some(lm) = &memo.last_modified {
            headers.push(("If-Modified-Since".to_string(), lm.clone()));
        }
        headers
    }

    /// Notes which of `site`'s sitemap pages are unchanged: a `lastmod` not newer than the
    /// page's last visit without failure. Returns how many.
    pub(crate) fn mark_unchanged(&self, site: &str, pages: &[SitemapUrl]) -> usize {
        let unchanged: HashSet<String> = pages
            .iter()
            .filter(|p| {
                let memo = self.recall.page(site, p.url.as_str());
                matches!((p.lastmod, memo), (Some(lastmod), Some(m)) if lastmod <= m.visited_at)
            })
            .map(|p| p.url.to_string())
            .collect();
        let n = unchanged.len();
        let mut map = self.unchanged.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(site.to_string()).or_default().extend(unchanged);
        n
    }

    /// Whether `site`'s page `url` is to be carried forward unfetched (once).
    pub(crate) fn take_unchanged(&self, site: &str, url: &Url) -> bool {
        let mut map = self.unchanged.lock().unwrap_or_else(|p| p.into_inner());
        map.get_mut(site)
            .is_some_and(|set| set.remove(url.as_str()))
    }

    /// Fills `page` with its last records (`seen_at` now) and links from the store, its
    /// validators completed from the store's, and marks it carried `how`. An unreadable
    /// store fails the page (kind `output`).
    pub(crate) async fn carry(&self, site: &str, page: &mut PageOutcome, how: Carry) {
        let memo = self.recall.page(site, page.url.as_str()).cloned();
        if how == Carry::Unchanged {
            page.status = memo.as_ref().and_then(|m| m.status);
        }
        let validators = Validators {
            etag: page.etag.take(),
            last_modified: page.last_modified.take(),
        }
        .or(memo.as_ref());
        page.etag = validators.etag;
        page.last_modified = validators.last_modified;
        let (recall, site_s, url) = (self.recall.clone(), site.to_string(), page.url.to_string());
        let read = tokio::task::spawn_blocking(move || recall.carried(&site_s, &url)).await;
        let carried = match read {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                warn!(site, url = %page.url, "cannot carry the page's records forward: {e}");
                page.error = Some(FailureKind::Output);
                return;
            }
            Err(e) => {
                warn!(site, url = %page.url, "reading the page's records ended abnormally: {e}");
                page.error = Some(FailureKind::Output);
                return;
            }
        };
        let now = Utc::now();
        page.records = carried
            .records
            .into_iter()
            .map(|mut r| {
                r.seen_at = now;
                r
            })
            .collect();
        page.links = carried
            .links
            .iter()
            .filter_map(|l| Url::parse(l).ok())
            .collect();
        page.carried = Some(how);
    }
}
