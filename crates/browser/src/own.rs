//! The non-pooled fallback: every page gets its own freshly launched browser, closed when the
//! page is released (what extractors did before the pool existed). Same `PagePool` contract,
//! so extractor code is identical with and without the pool.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use haul_core::{PageError, PageHandle, PagePool, PoolStats, async_trait};
use tokio::sync::Semaphore;

use crate::instance::{Instance, Settings, lock, permit};
use crate::page::ChromePage;
use crate::stats::Counters;
use crate::{BrowserConfig, BrowserError};

/// A [`PagePool`] whose `acquire` launches a browser of its own and whose handle closes that
/// browser (kill, reap, remove its profile) when dropped.
///
/// At most `browsers * pages_per_browser` such browsers run at once.
pub struct OwnBrowser {
    settings: Arc<Settings>,
    permits: Arc<Semaphore>,
    stats: Arc<Counters>,
    next_id: AtomicU64,
    running: Arc<Mutex<HashMap<u64, Arc<Instance>>>>,
}

impl std::fmt::Debug for OwnBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnBrowser")
            .field("chrome", &self.settings.chrome)
            .finish()
    }
}

impl OwnBrowser {
    /// A single-use "pool" for `cfg`; checks the settings and finds the executable.
    pub fn new(cfg: BrowserConfig) -> Result<Arc<Self>, BrowserError> {
        let settings = Settings::prepare(cfg)?;
        let max = settings.cfg.max_pages();
        Ok(Arc::new(Self {
            settings,
            permits: Arc::new(Semaphore::new(max)),
            stats: Arc::new(Counters::default()),
            next_id: AtomicU64::new(1),
            running: Arc::default(),
        }))
    }

    /// Counts one URL retried because its browser crashed.
    pub fn record_retry(&self) {
        Counters::bump(&self.stats.retries);
    }

    /// Process ids of the running browsers.
    pub fn pids(&self) -> Vec<u32> {
        lock(&self.running)
            .values()
            .filter_map(|i| i.pid())
            .collect()
    }

    /// Temporary profile directories of the running browsers.
    pub fn profile_dirs(&self) -> Vec<std::path::PathBuf> {
        lock(&self.running)
            .values()
            .filter_map(|i| i.profile_path())
            .collect()
    }
}

#[async_trait]
impl PagePool for OwnBrowser {
    async fn acquire(&self) -> Result<PageHandle, PageError> {
        let permit = permit(&self.permits, "the browser launcher").await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let inst = Instance::new(id, self.settings.clone());
        Counters::bump(&self.stats.launches);
        lock(&self.running).insert(id, inst.clone());
        // Launching runs in its own task so that a cancelled borrower cannot leave a browser
        // running: the task shuts down whatever nobody takes.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let running = self.running.clone();
        let launching = inst.clone();
        tokio::spawn(async move {
            let opened = async {
                launching.ensure_launched(Box::new(|_| {})).await?;
                launching.new_tab().await
            }
            .await;
            let failed = opened.is_err();
            if tx.send(opened).is_err() || failed {
                lock(&running).remove(&id);
                launching.shutdown().await;
            }
        });
        let page = rx
            .await
            .map_err(|_| PageError::Browser("launching a browser was aborted".into()))??;
        Counters::bump(&self.stats.served);
        let stats = self.stats.clone();
        let running = self.running.clone();
        let rt = tokio::runtime::Handle::current();
        let started = Instant::now();
        let (page, hops) = page;
        let page = ChromePage::new(page, hops, inst.clone(), self.settings.cfg.page_timeout);
        Ok(PageHandle::new(Box::new(page), move |page, _reusable| {
            drop(page);
            stats.page_held(started.elapsed());
            lock(&running).remove(&id);
            rt.spawn(async move {
                inst.shutdown().await;
                drop(permit);
            });
        }))
    }

    fn stats(&self) -> PoolStats {
        self.stats.snapshot()
    }

    async fn close(&self) {
        let running: Vec<_> = lock(&self.running).drain().map(|(_, i)| i).collect();
        futures::future::join_all(running.iter().map(|i| i.shutdown())).await;
        crate::sys::finish_sweep().await;
    }
}

impl Drop for OwnBrowser {
    fn drop(&mut self) {
        for (_, inst) in lock(&self.running).drain() {
            inst.kill_now();
        }
    }
}
