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
use haul_core::FailureKind;
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
    /// processed (a distributed worker touches its claim so it is not taken over). Default:
    /// nothing.
    async fn keep_alive(
        &self,
        _slot: usize,
        _task: &PageTask<Self::Ticket>,
    ) -> Result<(), Self::Error> {
        Ok(())
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
    /// The site of the page being processed, if any.
    current: Option<String>,
}

type Slots = Arc<Vec<Mutex<Slot>>>;

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(|p| p.into_inner())
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
        let shares: Slots = Arc::new((0..slots).map(|_| Mutex::default()).collect());
        let mut loops = JoinSet::new();
        for slot in 0..slots {
            let (this, jobs, frontier, shares) =
                (self.clone(), jobs.clone(), frontier.clone(), shares.clone());
            loops.spawn(async move { this.slot_loop(slot, &jobs, &*frontier, &shares).await });
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
    /// the crawl is cancelled.
    async fn slot_loop<F: Frontier>(
        self: &Arc<Self>,
        slot: usize,
        jobs: &Jobs,
        frontier: &F,
        shares: &Slots,
    ) -> Result<(), F::Error> {
        loop {
            let task = tokio::select! {
                biased;
                () = self.cancel.cancelled() => None,
                t = frontier.next(slot) => t?,
            };
            let Some(task) = task else { return Ok(()) };
            lock(&shares[slot]).current = Some(task.site.clone());
            let Some((job, scope)) = jobs.0.get(&task.site) else {
                warn!(site = task.site, url = %task.url, "URL of a site not in the crawl; dropped");
                let mut page = PageOutcome::new(task.url.clone());
                page.error = Some(FailureKind::UnknownSite);
                let share = SiteReport::new(&task.site);
                frontier.complete(slot, task, &mut page, &share).await?;
                continue;
            };
            let mut page = self.process_task(slot, job, scope, frontier, &task).await?;
            page.links = self.accept_links(job, scope, task.level, std::mem::take(&mut page.links));
            let share = {
                let mut slot = lock(&shares[slot]);
                slot.current = None;
                let share = slot
                    .shares
                    .entry(task.site.clone())
                    .or_insert_with(|| SiteReport::new(&task.site));
                share.tally(task.level, &page);
                share.clone()
            };
            self.progress
                .page_done(&task.site, task.level, page.error.is_none(), page.written);
            debug!(site = task.site, url = %task.url, "page done");
            frontier.complete(slot, task, &mut page, &share).await?;
        }
    }

    /// Processes one task on its own tokio task (so that a panic is the page's failure, and
    /// aborting the loop aborts the page), keeping the frontier's claim alive meanwhile; then
    /// writes its records when the crawler has an output, else counts them as handed over.
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
        let scope = scope.clone();
        one.spawn(async move {
            let _global = this.global_permit().await;
            let cx = this.context(ext, &scope).with_level(level);
            let mut page = this.process(&cx, url).await;
            this.write(&mut page).await;
            page
        });
        let every = frontier.keep_alive_every();
        let mut beat = tokio::time::interval(every.unwrap_or(Duration::from_secs(3600)));
        beat.tick().await;
        let joined = loop {
            tokio::select! {
                j = one.join_next() => break j,
                _ = beat.tick(), if every.is_some() => frontier.keep_alive(slot, task).await?,
            }
        };
        let mut page = match joined {
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
        };
        if self.output.is_none() {
            page.written = page.records.len() as u64;
        }
        Ok(page)
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

/// Merges every slot's shares per site; when `count_aborted`, the page each slot was still
/// processing (cut off by the end of the grace period) counts as failed, of kind `aborted`.
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
        if let Some(site) = slot.current.filter(|_| count_aborted) {
            let report = merged
                .entry(site.clone())
                .or_insert_with(|| SiteReport::new(&site));
            report.pages_failed += 1;
            report.count_error(FailureKind::Aborted);
        }
    }
    merged.into_values().collect()
}
