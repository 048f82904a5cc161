//! The one page pipeline of every crawl, local or distributed: a [`Frontier`] hands out URLs,
//! [`Crawler::drive`] runs `slots` loops that take a URL, process it (fetch or render, extract,
//! retry), write or hand over its records, accept its links, tally the page into the slot's
//! [`SiteReport`] share and complete it back to the frontier; once the crawl is cancelled, the
//! pages in flight get the grace period.
//!
//! What differs between a local crawl and a distributed worker is behind [`Frontier`]: where
//! URLs come from and in which order (levels in memory, or Redis streams), the page budget
//! (`--max-pages`), where the links, records and counters go, and whether a page cut off by the
//! end of the grace period is a failure (locally) or left for another worker.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use haul_core::{FailureKind, Later};
use tokio::task::JoinSet;
use tracing::{debug, warn};
use url::Url;

use crate::crawl::{Crawler, PageOutcome, SiteJob};
use crate::report::SiteReport;
use crate::scope::{Scope, canonicalize};
use crate::shutdown::{GraceJoin, Joined};

/// One URL handed out by a [`Frontier`], with whatever the frontier needs to complete it.
#[derive(Debug, Clone)]
pub struct PageTask<T> {
    /// The registered name of the site whose job crawls it.
    pub site: String,
    /// Its crawl level (0 = start URLs).
    pub level: u32,
    /// The (canonical) URL.
    pub url: Url,
    /// The frontier's own handle of the task (a stream entry, nothing locally).
    pub ticket: T,
}

/// Where a crawl's URLs come from and where finished pages go: the part of the page pipeline
/// that differs between a local crawl ([`Crawler::run`]) and a distributed worker.
///
/// Contract: every task [`next`](Frontier::next) hands out is given back exactly once to
/// [`complete`](Frontier::complete), unless the slot's loop was aborted at the end of the
/// grace period or a frontier call failed.
#[async_trait]
pub trait Frontier: Send + Sync + 'static {
    /// The frontier's handle of a task.
    type Ticket: Send + Sync + 'static;
    /// Why the frontier cannot go on (the driver stops the crawl and returns it).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The next URL for loop `slot` (`0..slots`), waiting while there is none yet but the
    /// crawl is not over; `None` once the crawl is over for this frontier, or its page budget
    /// is spent. The driver stops calling it once the crawl is cancelled (and drops the
    /// future), so it need not watch the cancellation itself.
    async fn next(&self, slot: usize) -> Result<Option<PageTask<Self::Ticket>>, Self::Error>;

    /// Completes a processed page: `page.links` are the links to follow (canonical, in scope,
    /// let through by the patterns, below `max_level`, each once per page; not yet checked
    /// against URLs seen before), `page.records` the records not yet written (empty when the
    /// crawler writes to its own output), and `share` everything slot `slot` did on the
    /// task's site so far, this page included.
    async fn complete(
        &self,
        slot: usize,
        task: PageTask<Self::Ticket>,
        page: &mut PageOutcome,
        share: &SiteReport,
    ) -> Result<(), Self::Error>;

    /// How often [`keep_alive`](Frontier::keep_alive) is called while a page is processed.
    /// Default: never.
    fn keep_alive_every(&self) -> Option<Duration> {
        None
    }

    /// Called every [`keep_alive_every`](Frontier::keep_alive_every) while `task` is
    /// processed, and while it finishes after its [`links`](Frontier::links) were taken (a
    /// distributed worker touches its claim so it is not taken over). Default: nothing.
    async fn keep_alive(
        &self,
        _slot: usize,
        _task: &PageTask<Self::Ticket>,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Whether the frontier takes a page's links before the page is complete
    /// ([`links`](Frontier::links)), so that slow extraction work (an LLM answer, see
    /// [`Context::later`](haul_core::Context::later)) does not hold the next level's pages.
    /// Default: no; the page's extraction then finishes before the page is completed.
    fn early_links(&self) -> bool {
        false
    }

    /// Takes the links of `task`'s page as soon as they are known, when
    /// [`early_links`](Frontier::early_links) says so: called exactly once per task, before
    /// [`complete`](Frontier::complete), with the links as `complete` would get them;
    /// `complete` then gets what this leaves in `links`. `finishing` tells whether the page
    /// still waits for slow extraction work; when not, `complete` follows at once and a
    /// frontier may as well leave the links to it. Default: nothing.
    async fn links(
        &self,
        _slot: usize,
        _task: &PageTask<Self::Ticket>,
        _links: &mut Vec<Url>,
        _finishing: bool,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    /// How many pages one loop may have waiting for slow extraction work after their links
    /// were taken; the loop claims no new task while that many wait. Default:
    /// 16. A frontier shared by several processes says fewer: a
    /// task one process claimed and cannot start yet is kept from the others, and waits for
    /// the visibility timeout should that process die.
    fn unfinished_per_slot(&self) -> usize {
        UNFINISHED_PER_SLOT
    }

    /// Whether a page cut off when the grace period ends counts as a failed page of the
    /// crawl. Default: yes. A distributed worker says no: the page stays claimed and another
    /// worker processes it.
    fn aborted_pages_fail(&self) -> bool {
        true
    }
}

/// The jobs a driver processes tasks of, by site name, each with its scope.
pub(crate) struct Jobs(HashMap<String, (SiteJob, Scope)>);

impl Jobs {
    pub(crate) fn new(jobs: impl IntoIterator<Item = SiteJob>) -> Self {
        Self(
            jobs.into_iter()
                .map(|j| {
                    let scope = j.scope();
                    (j.extractor.name().to_string(), (j, scope))
                })
                .collect(),
        )
    }
}

/// What [`Crawler::drive`] ended with: the shares of every slot merged per site (not
/// [finished](SiteReport::finish)), and the frontier's error if one stopped it.
#[derive(Debug)]
pub struct Driven<E> {
    /// One report per site that had pages, in no particular order.
    pub sites: Vec<SiteReport>,
    /// The first frontier error (the crawl was cancelled because of it).
    pub error: Option<E>,
}

/// What one loop did, kept outside the loops so that an aborted loop's counts survive.
#[derive(Default)]
struct Slot {
    /// The loop's share of the counters, per site.
    shares: HashMap<String, SiteReport>,
    /// The site of each page being processed (or finished after its links were handed on).
    in_flight: Vec<String>,
}

impl Slot {
    fn start(&mut self, site: &str) {
        self.in_flight.push(site.to_string());
    }

    /// Tallies `page` of `level` into the site's share; returns the share.
    fn done(&mut self, site: &str, level: u32, page: &PageOutcome) -> SiteReport {
        if let Some(i) = self.in_flight.iter().position(|s| s == site) {
            self.in_flight.swap_remove(i);
        }
        let share = self
            .shares
            .entry(site.to_string())
            .or_insert_with(|| SiteReport::new(site));
        share.tally(level, page);
        share.clone()
    }
}

/// How many pages one loop may have waiting for slow extraction work (an LLM answer) after
/// their links were handed on; the loop takes no new page while that many wait.
pub(crate) const UNFINISHED_PER_SLOT: usize = 16;

type Slots = Arc<Vec<Mutex<Slot>>>;

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

/// The result of an unfinished page's task: its frontier error, if any (a panic there is
/// logged: the page itself already ran on a task of its own).
fn finished<E>(done: Result<Result<(), E>, tokio::task::JoinError>) -> Result<(), E> {
    match done {
        Ok(result) => result,
        Err(e) => {
            warn!("finishing a page ended abnormally: {e}");
            Ok(())
        }
    }
}

impl Crawler {
    /// Runs `slots` loops over `frontier` until it is exhausted or the crawl is cancelled
    /// (then pages in flight get the grace period), each loop processing one page at a time
    /// through the one page pipeline. Returns the merged counters. A panic while processing a
    /// page is that page's failure (kind `panic`); the loop goes on.
    pub async fn drive<F: Frontier>(
        self: &Arc<Self>,
        jobs: impl IntoIterator<Item = SiteJob>,
        frontier: Arc<F>,
        slots: usize,
    ) -> Driven<F::Error> {
        let slots = slots.max(1);
        let jobs = Arc::new(Jobs::new(jobs));
        if let Some(proxies) = &self.opts.proxies {
            // The browser's gate picks a site's own proxies for connections to its hosts.
            for (site, (_, scope)) in &jobs.0 {
                proxies.claim_scope(site, scope);
            }
        }
        let shares: Slots = Arc::new((0..slots).map(|_| Mutex::default()).collect());
        let mut loops = JoinSet::new();
        for slot in 0..slots {
            let (this, jobs, frontier, shares) =
                (self.clone(), jobs.clone(), frontier.clone(), shares.clone());
            loops.spawn(async move { this.slot_loop(slot, &jobs, frontier, &shares).await });
        }
        let mut error = None;
        let mut aborted = 0;
        let mut join = GraceJoin::new(self.cancel.clone(), self.opts.grace);
        loop {
            match join.next(&mut loops).await {
                Joined::Task(Ok(Ok(()))) => {}
                Joined::Task(Ok(Err(e))) => {
                    warn!("the crawl stops: {e}");
                    self.cancel.cancel();
                    error.get_or_insert(e);
                }
                Joined::Task(Err(e)) => warn!("a crawl loop ended abnormally: {e}"),
                Joined::Empty => break,
                Joined::Aborted(n) => {
                    warn!(aborted = n, "grace period over: pages in flight aborted");
                    aborted = n;
                    break;
                }
            }
        }
        let sites = merge_shares(&shares, aborted > 0 && frontier.aborted_pages_fail());
        Driven { sites, error }
    }

    /// One loop of [`drive`](Self::drive): takes tasks until the frontier is exhausted or
    /// the crawl is cancelled, then waits for its pages still finishing.
    async fn slot_loop<F: Frontier>(
        self: &Arc<Self>,
        slot: usize,
        jobs: &Jobs,
        frontier: Arc<F>,
        shares: &Slots,
    ) -> Result<(), F::Error> {
        let mut unfinished = JoinSet::new();
        let most = frontier.unfinished_per_slot().max(1);
        loop {
            while unfinished.len() >= most {
                if let Some(done) = unfinished.join_next().await {
                    finished(done)?;
                }
            }
            while let Some(done) = unfinished.try_join_next() {
                finished(done)?;
            }
            let task = tokio::select! {
                biased;
                () = self.cancel.cancelled() => None,
                t = frontier.next(slot) => t?,
            };
            let Some(task) = task else { break };
            lock(&shares[slot]).start(&task.site);
            let Some((job, scope)) = jobs.0.get(&task.site) else {
                warn!(site = task.site, url = %task.url, "URL of a site not in the crawl; dropped");
                let mut page = PageOutcome::new(task.url.clone());
                page.error = Some(FailureKind::UnknownSite);
                let share = SiteReport::new(&task.site);
                lock(&shares[slot]).in_flight.pop();
                if frontier.early_links() {
                    frontier.links(slot, &task, &mut page.links, false).await?;
                }
                frontier.complete(slot, task, &mut page, &share).await?;
                continue;
            };
            let mut page = self
                .process_task(slot, job, scope, &*frontier, &task)
                .await?;
            if let Some(store) = &self.sessions {
                store.save_if_changed(&job.session).await;
            }
            page.links = self.accept_links(job, scope, task.level, std::mem::take(&mut page.links));
            if frontier.early_links() {
                let finishing = page.unfinished.is_some();
                frontier
                    .links(slot, &task, &mut page.links, finishing)
                    .await?;
            }
            if page.unfinished.is_some() {
                let (this, frontier, shares) = (self.clone(), frontier.clone(), shares.clone());
                let ext = job.extractor;
                unfinished.spawn(async move {
                    let finishing = async {
                        this.finish(ext, &mut page).await;
                        this.write(ext.name(), &mut page).await;
                    };
                    // The claim is kept alive until the page is complete.
                    beating(&*frontier, slot, &task, finishing).await?;
                    this.complete(slot, task, page, &*frontier, &shares).await
                });
                continue;
            }
            self.complete(slot, task, page, &*frontier, shares).await?;
        }
        while let Some(done) = unfinished.join_next().await {
            finished(done)?;
        }
        Ok(())
    }

    /// The last stage of a page: tallies it into the slot's share, shows it in the progress
    /// display and completes it back to the frontier.
    async fn complete<F: Frontier>(
        &self,
        slot: usize,
        task: PageTask<F::Ticket>,
        mut page: PageOutcome,
        frontier: &F,
        shares: &Slots,
    ) -> Result<(), F::Error> {
        if self.output.is_none() {
            page.written = page.records.len() as u64;
        }
        let share = lock(&shares[slot]).done(&task.site, task.level, &page);
        if let Some(kind) = page.error {
            self.progress.page_failed(&task.site, kind);
        }
        self.progress
            .page_done(&task.site, task.level, page.error.is_none(), page.written);
        debug!(site = task.site, url = %task.url, "page done");
        frontier.complete(slot, task, &mut page, &share).await
    }

    /// Processes one task on its own tokio task (so that a panic is the page's failure, and
    /// aborting the loop aborts the page), keeping the frontier's claim alive meanwhile; then
    /// writes its records when the crawler has an output and the page is not
    /// [unfinished](PageOutcome::unfinished). Extraction work handed to
    /// [`Context::later`](haul_core::Context::later) is left unfinished only when the
    /// frontier takes links early.
    async fn process_task<F: Frontier>(
        self: &Arc<Self>,
        slot: usize,
        job: &SiteJob,
        scope: &Scope,
        frontier: &F,
        task: &PageTask<F::Ticket>,
    ) -> Result<PageOutcome, F::Error> {
        let mut one = JoinSet::new();
        let (this, ext, level, url) = (self.clone(), job.extractor, task.level, task.url.clone());
        let (scope, session) = (scope.clone(), job.session.clone());
        let later = frontier.early_links().then(Later::default);
        one.spawn(async move {
            let _global = this.global_permit().await;
            let mut cx = this.context(ext, &scope, &session).with_level(level);
            if let Some(later) = &later {
                cx = cx.with_later(later.clone());
            }
            let mut page = this.process(&cx, url, later.as_ref()).await;
            if page.unfinished.is_none() {
                this.write(ext.name(), &mut page).await;
            }
            page
        });
        let joined = beating(frontier, slot, task, one.join_next()).await?;
        Ok(match joined {
            Some(Ok(page)) => page,
            Some(Err(e)) => {
                warn!(url = %task.url, "processing the page ended abnormally: {e}");
                let mut page = PageOutcome::new(task.url.clone());
                page.error = Some(if e.is_panic() {
                    FailureKind::Panic
                } else {
                    FailureKind::Cancelled
                });
                page
            }
            None => unreachable!("one task was spawned"),
        })
    }

    /// The links of a page of `level` that are followed: none at `max_level`, else each
    /// canonical link that `job` follows (scope, allow/deny), once.
    pub(crate) fn accept_links(
        &self,
        job: &SiteJob,
        scope: &Scope,
        level: u32,
        links: Vec<Url>,
    ) -> Vec<Url> {
        if level >= self.opts.max_level {
            return Vec::new();
        }
        let mut once = HashSet::new();
        links
            .into_iter()
            .map(|l| canonicalize(&l))
            .filter(|l| job.follows(scope, l) && once.insert(l.clone()))
            .collect()
    }
}

/// Awaits `work`, calling the frontier's [`keep_alive`](Frontier::keep_alive) for `task`
/// every [`keep_alive_every`](Frontier::keep_alive_every) meanwhile.
async fn beating<F: Frontier, T>(
    frontier: &F,
    slot: usize,
    task: &PageTask<F::Ticket>,
    work: impl Future<Output = T>,
) -> Result<T, F::Error> {
    let every = frontier.keep_alive_every();
    let mut beat = tokio::time::interval(every.unwrap_or(Duration::from_secs(3600)));
    beat.tick().await;
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return Ok(out),
            _ = beat.tick(), if every.is_some() => frontier.keep_alive(slot, task).await?,
        }
    }
}

/// Merges every slot's shares per site; when `count_aborted`, the pages each slot was still
/// processing (cut off by the end of the grace period) count as failed, of kind `aborted`.
fn merge_shares(slots: &Slots, count_aborted: bool) -> Vec<SiteReport> {
    let mut merged: HashMap<String, SiteReport> = HashMap::new();
    for slot in slots.iter() {
        let slot = std::mem::take(&mut *lock(slot));
        for (site, share) in slot.shares {
            merged
                .entry(site.clone())
                .or_insert_with(|| SiteReport::new(&site))
                .merge(share);
        }
        for site in slot.in_flight.into_iter().filter(|_| count_aborted) {
            let report = merged
                .entry(site.clone())
                .or_insert_with(|| SiteReport::new(&site));
            report.pages_failed += 1;
            report.count_error(FailureKind::Aborted);
        }
    }
    merged.into_values().collect()
}
