//! The page-pool contract: pooled browser pages handed out as handles released on drop.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use crate::{Admission, Document, FetchError, Fetcher, PageError};

/// How to navigate a page.
#[derive(Debug, Clone)]
pub struct NavOptions {
    /// Upper bound for navigation plus waiting.
    pub timeout: Duration,
    /// A CSS selector that must appear before the page counts as loaded.
    pub wait_for: Option<String>,
    /// Without `wait_for`: after `load`, wait (bounded, within `timeout`) until the content
    /// is there: a price or a product list in a filled page, or network and DOM idle for a
    /// moment. Content that scripts insert after `load` (timers, XHR/fetch) is then seen.
    /// `false` returns right after `load`.
    pub settle: bool,
    /// The largest rendered document read, in bytes (UTF-8 of the DOM's HTML): a larger one
    /// fails as [`PageError::TooLarge`](crate::PageError::TooLarge), measured in the tab
    /// before anything is transferred. Default: [`DEFAULT_MAX_PAGE_BYTES`].
    pub max_bytes: u64,
    /// Checks every main-frame document request of the navigation (the first and each
    /// redirect hop, also a script's navigation) before the browser sends it, and the
    /// documents of frames against the private-network rule; a refused main-frame request
    /// fails the render as [`PageError::Refused`]. `None`: nothing is checked.
    pub guard: Option<NavGuard>,
    /// The site's session: its cookies (jar and pinned) are set in the browser before the
    /// navigation and the browser's cookies for the page are put back in the jar after it,
    /// so a session the page's scripts start is reused over plain HTTP. `None`: the
    /// browser's own cookies only.
    pub session: Option<std::sync::Arc<crate::Session>>,
}

/// The rules a browser navigation's requests are held to, before they are sent: those of
/// the crawl's fetcher ([`Fetcher::check_hop`] for the navigation's document requests,
/// [`Fetcher::check_address`] for frames).
#[derive(Clone)]
pub struct NavGuard(Arc<dyn Fetcher>);

impl NavGuard {
    /// The rules of `fetcher` (a site's fetcher carries the site's scope).
    pub fn new(fetcher: Arc<dyn Fetcher>) -> Self {
        Self(fetcher)
    }

    /// Whether the navigation may request `url` (its first request, or a hop from `from`).
    pub async fn document(&self, url: &Url, from: &Url) -> Result<(), FetchError> {
        self.0.check_hop(url, from).await
    }

    /// Takes `url`'s per-domain slot (and its turn, and checks robots.txt) for a navigation
    /// that moved on to a domain other than the one it was admitted on ([`Fetcher::admit`]);
    /// the slot is held until the returned [`Admission`] drops.
    pub async fn enter(&self, url: &Url) -> Result<Admission, FetchError> {
        self.0.admit(url).await
    }

    /// Whether a frame of the page may request `url`.
    pub async fn frame(&self, url: &Url) -> Result<(), FetchError> {
        self.0.check_address(url).await
    }
}

impl std::fmt::Debug for NavGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NavGuard")
    }
}

/// The default page size limit, over HTTP (body after decompression) and in the browser
/// (rendered DOM): 16 MiB. Real product pages are mostly under 1 MB.
pub const DEFAULT_MAX_PAGE_BYTES: u64 = 16 * 1024 * 1024;

impl Default for NavOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            wait_for: None,
            settle: true,
            max_bytes: DEFAULT_MAX_PAGE_BYTES,
            guard: None,
            session: None,
        }
    }
}

/// One browser tab, borrowed from a [`PagePool`] through a [`PageHandle`].
#[async_trait]
pub trait Page: Send {
    /// Navigates to `url`, waits for the `load` event and for `opts.wait_for` (if any), and
    /// returns the DOM after scripts ran as a [`Document`] with `rendered == true`.
    ///
    /// Contract: returns within `opts.timeout` (giving [`PageError::Timeout`]); a dead browser
    /// gives [`PageError::Crashed`] so the caller can retry the URL elsewhere.
    async fn render(&mut self, url: &Url, opts: &NavOptions) -> Result<Document, PageError>;

    /// Runs a script in the page and returns its JSON result. Default: unsupported.
    async fn evaluate(&mut self, _script: &str) -> Result<serde_json::Value, PageError> {
        Err(PageError::Browser(
            "this page type does not evaluate scripts".into(),
        ))
    }

    /// Whether the page may be handed out again (false after a failure or a cancelled
    /// navigation). The pool closes pages that are not reusable.
    fn reusable(&self) -> bool {
        true
    }
}

/// Pool counters reported in the crawl's final stats.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolStats {
    /// Pages handed out.
    pub pages_served: u64,
    /// Browsers launched (including relaunches).
    pub launches: u64,
    /// Browsers relaunched after dying.
    pub relaunches: u64,
    /// Browsers retired after serving their quota of pages.
    pub retirements: u64,
    /// URLs retried because their browser died.
    pub retries: u64,
    /// Most pages open at once.
    pub peak_open: u64,
    /// Mean time a page was held, in milliseconds.
    pub mean_page_ms: f64,
    /// Pages borrowed at the time of the snapshot (a gauge; 0 where the pool does not tell).
    #[serde(default)]
    pub in_use: u64,
    /// Kept tabs waiting for reuse at the time of the snapshot (a gauge).
    #[serde(default)]
    pub idle: u64,
    /// Running browsers at the time of the snapshot (a gauge).
    #[serde(default)]
    pub browsers: u64,
}

/// A pool of browser pages.
///
/// Contract: [`acquire`](PagePool::acquire) waits for a free slot (never exceeding the pool's
/// bound on open pages) and may launch browsers lazily; the returned handle gives the slot back
/// when dropped, whether the borrower finished, failed, timed out or panicked.
#[async_trait]
pub trait PagePool: Send + Sync {
    /// Borrows a page.
    async fn acquire(&self) -> Result<PageHandle, PageError>;

    /// Counters so far.
    fn stats(&self) -> PoolStats {
        PoolStats::default()
    }

    /// Closes every browser; later `acquire` calls may relaunch. Default: nothing to close.
    async fn close(&self) {}
}

type Release = Box<dyn FnOnce(Box<dyn Page>, bool) + Send>;

/// A borrowed page. Dereferences to [`Page`]; dropping it gives the page back to its pool
/// (which reuses or closes it).
pub struct PageHandle {
    page: Option<Box<dyn Page>>,
    broken: bool,
    release: Option<Release>,
}

impl PageHandle {
    /// Wraps `page`; `release(page, reusable)` runs exactly once, when the handle is dropped.
    pub fn new(
        page: Box<dyn Page>,
        release: impl FnOnce(Box<dyn Page>, bool) + Send + 'static,
    ) -> Self {
        Self {
            page: Some(page),
            broken: false,
            release: Some(Box::new(release)),
        }
    }

    /// Marks the page as not to be reused (the pool will close it).
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl std::ops::Deref for PageHandle {
    type Target = dyn Page;
    fn deref(&self) -> &Self::Target {
        // `page` is only taken in `drop`.
        self.page.as_deref().expect("page present until drop")
    }
}

impl std::ops::DerefMut for PageHandle {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.page.as_deref_mut().expect("page present until drop")
    }
}

impl Drop for PageHandle {
    fn drop(&mut self) {
        if let (Some(page), Some(release)) = (self.page.take(), self.release.take()) {
            let reusable = !self.broken && !std::thread::panicking() && page.reusable();
            release(page, reusable);
        }
    }
}

impl std::fmt::Debug for PageHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageHandle")
            .field("broken", &self.broken)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Fake;
    #[async_trait]
    impl Page for Fake {
        async fn render(&mut self, url: &Url, _: &NavOptions) -> Result<Document, PageError> {
            Ok(Document::new(url.clone(), "<html></html>"))
        }
    }

    #[test]
    fn handle_releases_once_and_reports_broken() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let h = PageHandle::new(Box::new(Fake), move |_, ok| l.lock().unwrap().push(ok));
        drop(h);
        let l = log.clone();
        let mut h = PageHandle::new(Box::new(Fake), move |_, ok| l.lock().unwrap().push(ok));
        h.mark_broken();
        drop(h);
        assert_eq!(*log.lock().unwrap(), vec![true, false]);
    }
}
