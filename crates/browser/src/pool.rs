//! The browser pool: `browsers` Chromium processes with up to `pages_per_browser` tabs each,
//! launched lazily, replaced when they die, retired after a quota of pages.
//!
//! Two semaphores keep the bounds: `use_permits` (FIFO, `N x M`) bounds the pages handed out,
//! `tab_permits` (`N x M`) bounds the tabs that exist, idle kept tabs included; every tab
//! carries its tab permit until it is closed. A new tab is only opened when its browser has no
//! idle tab; if all tab permits are taken by idle tabs of other browsers, one of those is
//! closed first. So Chromium never has more than `N x M` pool tabs open.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chromiumoxide::Page as CdpPage;
use haul_core::{PageError, PageHandle, PagePool, PoolStats, async_trait};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::hops::Hops;
use crate::instance::{Instance, OnExit, Settings, lock, permit};
use crate::page::ChromePage;
use crate::stats::Counters;
use crate::{BrowserConfig, BrowserError};

/// How often `acquire` tries again when the browser it picked turned out to be dead.
const ACQUIRE_ATTEMPTS: usize = 4;

/// A pool of headless Chromium pages implementing [`PagePool`].
///
/// Create it with [`BrowserPool::new`]; share the `Arc` (as `Arc<dyn PagePool>`). Browsers
/// launch on first use. [`close`](PagePool::close) shuts every browser down; dropping the pool
/// kills any browser still running and removes its temporary profile.
pub struct BrowserPool {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Arc<Settings>,
    use_permits: Arc<Semaphore>,
    tab_permits: Arc<Semaphore>,
    state: Mutex<State>,
    stats: Counters,
    next_id: AtomicU64,
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    entries: HashMap<u64, Entry>,
}

#[derive(Default, Clone, Copy)]
struct Slot {
    /// The browser in this slot (maybe still launching).
    id: Option<u64>,
    /// The last browser here died: the next launch is a relaunch.
    died: bool,
}

/// A browser and its load. Browsers that retire or die leave their slot but keep their entry
/// until their last page is released.
struct Entry {
    inst: Arc<Instance>,
    slot: Option<usize>,
    in_use: usize,
    idle: Vec<Tab>,
    served: u64,
}

/// An open tab and the permit it holds while it exists.
struct Tab {
    page: CdpPage,
    /// The tab's request interception (a render's guard while it runs).
    hops: Arc<Hops>,
    _permit: OwnedSemaphorePermit,
}

/// What `pick` chose.
struct Picked {
    inst: Arc<Instance>,
    idle: Option<Tab>,
    /// Idle tabs of a browser that just retired, to close.
    retired_idle: Vec<Tab>,
}

impl std::fmt::Debug for BrowserPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserPool")
            .field("chrome", &self.inner.settings.chrome)
            .field("browsers", &self.inner.settings.cfg.browsers)
            .field(
                "pages_per_browser",
                &self.inner.settings.cfg.pages_per_browser,
            )
            .finish()
    }
}

impl BrowserPool {
    /// A pool for `cfg`; checks the settings and finds the executable, launches nothing.
    pub fn new(cfg: BrowserConfig) -> Result<Arc<Self>, BrowserError> {
        let settings = Settings::prepare(cfg)?;
        let max = settings.cfg.max_pages();
        let slots = vec![Slot::default(); settings.cfg.browsers];
        Ok(Arc::new(Self {
            inner: Arc::new(Inner {
                settings,
                use_permits: Arc::new(Semaphore::new(max)),
                tab_permits: Arc::new(Semaphore::new(max)),
                state: Mutex::new(State {
                    slots,
                    entries: HashMap::new(),
                }),
                stats: Counters::default(),
                next_id: AtomicU64::new(1),
            }),
        }))
    }

    /// The single-use fallback with the same configuration: see [`OwnBrowser`](crate::OwnBrowser).
    pub fn single_use(cfg: BrowserConfig) -> Result<Arc<crate::OwnBrowser>, BrowserError> {
        crate::OwnBrowser::new(cfg)
    }

    /// The configuration in force.
    pub fn config(&self) -> &BrowserConfig {
        &self.inner.settings.cfg
    }

    /// The Chrome/Chromium executable in use.
    pub fn chrome(&self) -> &std::path::Path {
        &self.inner.settings.chrome
    }

    /// Counts one URL retried because its browser crashed (shown in [`PagePool::stats`]).
    pub fn record_retry(&self) {
        Counters::bump(&self.inner.stats.retries);
    }

    /// Process ids of the running browsers.
    pub fn pids(&self) -> Vec<u32> {
        self.live_instances()
            .iter()
            .filter_map(|i| i.pid())
            .collect()
    }

    /// Temporary profile directories of the running browsers.
    pub fn profile_dirs(&self) -> Vec<std::path::PathBuf> {
        self.live_instances()
            .iter()
            .filter_map(|i| i.profile_path())
            .collect()
    }

    /// Pages borrowed right now.
    pub fn pages_in_use(&self) -> usize {
        lock(&self.inner.state)
            .entries
            .values()
            .map(|e| e.in_use)
            .sum()
    }

    /// Kept tabs waiting to be reused.
    pub fn idle_pages(&self) -> usize {
        lock(&self.inner.state)
            .entries
            .values()
            .map(|e| e.idle.len())
            .sum()
    }

    /// Page targets the running browsers report over CDP (`Target.getTargets`), idle kept
    /// tabs included; a diagnostic for tests and `haul doctor`.
    pub async fn open_targets(&self) -> Result<usize, PageError> {
        let mut total = 0;
        for inst in self.live_instances() {
            total += inst.page_targets().await?;
        }
        Ok(total)
    }

    /// Closes the kept idle tabs (they reopen on demand).
    pub async fn close_idle(&self) {
        let tabs: Vec<(Arc<Instance>, Tab)> = {
            let mut st = lock(&self.inner.state);
            st.entries
                .values_mut()
                .flat_map(|e| {
                    let inst = e.inst.clone();
                    e.idle.drain(..).map(move |t| (inst.clone(), t))
                })
                .collect()
        };
        for (inst, tab) in tabs {
            inst.close_tab(&tab.page).await;
        }
    }

    fn live_instances(&self) -> Vec<Arc<Instance>> {
        lock(&self.inner.state)
            .entries
            .values()
            .filter(|e| e.inst.is_launched())
            .map(|e| e.inst.clone())
            .collect()
    }
}

impl Inner {
    /// Chooses the least-loaded browser with a free slot (launching one into an empty slot if
    /// that is least loaded) and reserves a page on it.
    fn pick(self: &Arc<Self>) -> Option<Picked> {
        let cfg = &self.settings.cfg;
        let mut st = lock(&self.state);
        for i in 0..st.slots.len() {
            if let Some(id) = st.slots[i].id
                && st.entries.get(&id).is_none_or(|e| e.inst.is_gone())
            {
                self.vacate(&mut st, id, true);
            }
        }
        let best = (0..st.slots.len())
            .filter_map(
                |i| match st.slots[i].id.and_then(|id| st.entries.get(&id)) {
                    Some(e) if e.in_use < cfg.pages_per_browser => {
                        Some(((e.in_use, e.idle.is_empty(), !e.inst.is_launched(), i), i))
                    }
                    Some(_) => None,
                    None => Some(((0, true, true, i), i)),
                },
            )
            .min_by_key(|(key, _)| *key)
            .map(|(_, i)| i)?;
        let id = match st.slots[best].id {
            Some(id) => id,
            None => {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let inst = Instance::new(id, self.settings.clone());
                Counters::bump(&self.stats.launches);
                if std::mem::take(&mut st.slots[best].died) {
                    Counters::bump(&self.stats.relaunches);
                }
                st.slots[best].id = Some(id);
                st.entries.insert(
                    id,
                    Entry {
                        inst,
                        slot: Some(best),
                        in_use: 0,
                        idle: Vec::new(),
                        served: 0,
                    },
                );
                id
            }
        };
        let entry = st.entries.get_mut(&id)?;
        entry.in_use += 1;
        entry.served += 1;
        Counters::bump(&self.stats.served);
        let idle = if cfg.reuse_pages {
            entry.idle.pop()
        } else {
            None
        };
        let mut retired_idle = Vec::new();
        if cfg.retire_after > 0 && entry.served >= cfg.retire_after {
            entry.slot = None;
            retired_idle = std::mem::take(&mut entry.idle);
            st.slots[best].id = None;
            Counters::bump(&self.stats.retirements);
            tracing::debug!(browser = id, "retiring Chromium after its quota of pages");
        }
        let inst = st.entries.get(&id)?.inst.clone();
        Some(Picked {
            inst,
            idle,
            retired_idle,
        })
    }

    /// Takes browser `id` out of its slot (marking the slot `died` if asked); shuts it down
    /// now if none of its pages is borrowed.
    fn vacate(&self, st: &mut State, id: u64, died: bool) {
        let Some(entry) = st.entries.get_mut(&id) else {
            return;
        };
        if let Some(i) = entry.slot.take()
            && st.slots[i].id == Some(id)
        {
            st.slots[i] = Slot { id: None, died };
        }
        // A dead browser's tabs are gone: dropping them frees their permits.
        entry.idle.clear();
        if entry.in_use == 0
            && let Some(entry) = st.entries.remove(&id)
        {
            spawn_shutdown(entry.inst);
        }
    }

    /// Called by a browser's handler task when its CDP connection ends.
    fn on_exit(self: &Arc<Self>, id: u64) {
        let mut st = lock(&self.state);
        let died = st.entries.get(&id).is_some_and(|e| e.slot.is_some());
        if st.entries.contains_key(&id) {
            self.vacate(&mut st, id, died);
        }
    }

    /// Gives back a reservation made by `pick` that produced no page.
    fn unreserve(&self, inst: &Arc<Instance>) {
        self.stats.served.fetch_sub(1, Ordering::Relaxed);
        let mut st = lock(&self.state);
        if let Some(entry) = st.entries.get_mut(&inst.id) {
            entry.in_use = entry.in_use.saturating_sub(1);
            entry.served = entry.served.saturating_sub(1);
            if entry.slot.is_none()
                && entry.in_use == 0
                && let Some(entry) = st.entries.remove(&inst.id)
            {
                spawn_shutdown(entry.inst);
            }
        }
    }

    /// Forgets a browser that failed to launch so the next `acquire` tries a fresh one.
    fn launch_failed(&self, inst: &Arc<Instance>) {
        let mut st = lock(&self.state);
        if let Some(entry) = st.entries.get_mut(&inst.id)
            && let Some(i) = entry.slot.take()
            && st.slots[i].id == Some(inst.id)
        {
            st.slots[i].id = None;
        }
        drop(st);
        self.unreserve(inst);
    }

    /// An idle tab of `inst`, when tabs are reused.
    fn take_idle_of(&self, inst: &Instance) -> Option<Tab> {
        if !self.settings.cfg.reuse_pages {
            return None;
        }
        lock(&self.state).entries.get_mut(&inst.id)?.idle.pop()
    }

    /// An idle tab of any browser, to close so that a new tab fits the bound.
    fn take_idle_victim(&self) -> Option<(Arc<Instance>, Tab)> {
        let mut st = lock(&self.state);
        let entry = st
            .entries
            .values_mut()
            .filter(|e| !e.idle.is_empty())
            .max_by_key(|e| e.idle.len())?;
        let tab = entry.idle.pop()?;
        Some((entry.inst.clone(), tab))
    }

    /// A tab permit: a free one, or the permit of an idle tab closed for it.
    async fn tab_permit(&self) -> Result<OwnedSemaphorePermit, PageError> {
        loop {
            if let Ok(permit) = self.tab_permits.clone().try_acquire_owned() {
                return Ok(permit);
            }
            if let Some((inst, tab)) = self.take_idle_victim() {
                inst.close_tab(&tab.page).await;
                return Ok(tab._permit);
            }
            // Every tab is borrowed or being closed: a close frees a permit soon.
            let wait = self.tab_permits.clone().acquire_owned();
            if let Ok(Ok(permit)) =
                tokio::time::timeout(std::time::Duration::from_millis(100), wait).await
            {
                return Ok(permit);
            }
        }
    }

    /// One attempt: pick a browser, make sure it runs, get a tab on it.
    async fn try_open(self: &Arc<Self>) -> Result<(Arc<Instance>, Tab), PageError> {
        let Some(picked) = self.pick() else {
            // Unreachable while the permit accounting holds; do not spin.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            return Err(PageError::Browser("no browser slot free".into()));
        };
        let inst = picked.inst;
        if !picked.retired_idle.is_empty() {
            let retiring = inst.clone();
            tokio::spawn(async move {
                for tab in picked.retired_idle {
                    retiring.close_tab(&tab.page).await;
                }
            });
        }
        if let Some(tab) = picked.idle {
            return Ok((inst, tab));
        }
        let weak = Arc::downgrade(self);
        let on_exit: OnExit = Box::new(move |id| {
            if let Some(inner) = weak.upgrade() {
                inner.on_exit(id);
            }
        });
        if let Err(e) = inst.ensure_launched(on_exit).await {
            self.launch_failed(&inst);
            return Err(e);
        }
        // A tab of this browser may have come back meanwhile: reuse it rather than open one.
        if let Some(tab) = self.take_idle_of(&inst) {
            return Ok((inst, tab));
        }
        let permit = self.tab_permit().await?;
        self.stats
            .open_now(self.settings.cfg.max_pages() - self.tab_permits.available_permits());
        match inst.new_tab().await {
            Ok((page, hops)) => Ok((
                inst,
                Tab {
                    page,
                    hops,
                    _permit: permit,
                },
            )),
            Err(e) => {
                self.unreserve(&inst);
                Err(e)
            }
        }
    }

    /// Picks and opens a page, trying again when the browser turned out to be dead.
    async fn open(self: &Arc<Self>) -> Result<(Arc<Instance>, Tab), PageError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_open().await {
                Ok(opened) => return Ok(opened),
                // The browser died under us: pick again (a new one launches).
                Err(PageError::Crashed { .. }) if attempt < ACQUIRE_ATTEMPTS => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes a page back: keeps it for reuse, or closes it (and a retired or dead browser
    /// whose last page this was).
    fn release(
        self: &Arc<Self>,
        rt: &tokio::runtime::Handle,
        inst: Arc<Instance>,
        tab: Tab,
        reusable: bool,
    ) {
        let keep = self.settings.cfg.reuse_pages && reusable && !inst.is_gone();
        let mut st = lock(&self.state);
        let mut finish = false;
        if let Some(entry) = st.entries.get_mut(&inst.id) {
            entry.in_use = entry.in_use.saturating_sub(1);
            if keep && entry.slot.is_some() {
                entry.idle.push(tab);
                return;
            }
            if entry.slot.is_none() && entry.in_use == 0 {
                st.entries.remove(&inst.id);
                finish = true;
            }
        }
        drop(st);
        rt.spawn(async move {
            if finish {
                inst.shutdown().await;
            } else {
                inst.close_tab(&tab.page).await;
            }
            drop(tab);
        });
    }

    fn all_instances(&self, st: &mut State) -> Vec<Arc<Instance>> {
        for slot in &mut st.slots {
            *slot = Slot::default();
        }
        st.entries.drain().map(|(_, e)| e.inst).collect()
    }
}

fn spawn_shutdown(inst: Arc<Instance>) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(async move { inst.shutdown().await });
        }
        Err(_) => inst.kill_now(),
    }
}

#[async_trait]
impl PagePool for BrowserPool {
    async fn acquire(&self) -> Result<PageHandle, PageError> {
        let inner = &self.inner;
        let use_permit = permit(&inner.use_permits, "the browser pool").await?;
        // Opening runs in its own task so that a borrower cancelled mid-way (a timeout around
        // `acquire`) cannot leak a reservation or a half-opened tab: the task gives back
        // whatever it got when nobody takes it.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let opener = inner.clone();
        tokio::spawn(async move {
            let opened = opener.open().await;
            if let Err(Ok((inst, tab))) = tx.send(opened) {
                opener.release(&tokio::runtime::Handle::current(), inst, tab, true);
            }
        });
        let (inst, tab) = rx
            .await
            .map_err(|_| PageError::Browser("opening a page was aborted".into()))??;
        let page = ChromePage::new(
            tab.page.clone(),
            tab.hops.clone(),
            inst.clone(),
            inner.settings.cfg.page_timeout,
        );
        let inner = inner.clone();
        let rt = tokio::runtime::Handle::current();
        let started = Instant::now();
        Ok(PageHandle::new(Box::new(page), move |page, reusable| {
            drop(page);
            inner.stats.page_held(started.elapsed());
            inner.release(&rt, inst, tab, reusable);
            drop(use_permit);
        }))
    }

    fn stats(&self) -> PoolStats {
        PoolStats {
            in_use: self.pages_in_use() as u64,
            idle: self.idle_pages() as u64,
            browsers: self.live_instances().len() as u64,
            ..self.inner.stats.snapshot()
        }
    }

    async fn close(&self) {
        let instances = {
            let mut st = lock(&self.inner.state);
            self.inner.all_instances(&mut st)
        };
        futures::future::join_all(instances.iter().map(|i| i.shutdown())).await;
        crate::sys::finish_sweep().await;
    }
}

impl Drop for BrowserPool {
    fn drop(&mut self) {
        let instances = {
            let mut st = lock(&self.inner.state);
            self.inner.all_instances(&mut st)
        };
        for inst in instances {
            inst.kill_now();
        }
    }
}
