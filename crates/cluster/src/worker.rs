//! `haul worker`: takes URLs of a distributed crawl from the Redis frontier, level by level,
//! processes them with the local engine's page pipeline (HTTP, browser pool, LLM), publishes the records and
//! queues the links, and only then acknowledges each URL.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use haul_core::Registry;
use haul_redis::{CrawlMeta, Frontier, RecordStream, Redis, Task, Work};
use haul_runner::{
    CancellationToken, CrawlOptions, CrawlReport, Crawler, PageOutcome, PageTask, Services,
    SiteReport,
};
use tracing::{debug, info, warn};
use url::Url;

use crate::alive::Liveness;
use crate::breaker::RedisBreaker;
use crate::{ClusterError, CrawlSpec, stats};

/// Settings of one worker process.
#[derive(Clone)]
pub struct WorkerOptions {
    /// The crawl id to work on.
    pub crawl: String,
    /// This worker's name (unique over the cluster; consumers are `{name}-{i}`).
    pub name: String,
    /// URLs processed at once by this worker.
    pub concurrency: usize,
    /// A URL taken by a worker that neither acknowledges nor touches it for this long is
    /// given to another worker (the worker is presumed dead).
    pub visibility_timeout: Duration,
    /// How long to wait for the crawl to be enqueued (`None` = until cancelled).
    pub wait_for_crawl: Option<Duration>,
    /// Told of every page this worker processes (metrics); nothing by default.
    pub progress: Arc<dyn haul_runner::Progress>,
}

impl std::fmt::Debug for WorkerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerOptions")
            .field("crawl", &self.crawl)
            .field("name", &self.name)
            .field("concurrency", &self.concurrency)
            .field("visibility_timeout", &self.visibility_timeout)
            .field("wait_for_crawl", &self.wait_for_crawl)
            .finish_non_exhaustive()
    }
}

impl WorkerOptions {
    /// Defaults for worker `name` (see [`default_name`]) of crawl `crawl`: as many URLs at
    /// once as a local crawl's per-site concurrency ([`CrawlOptions`]), a 60 s visibility
    /// timeout, waiting for the crawl until cancelled.
    pub fn new(crawl: &str, name: String) -> Self {
        Self {
            crawl: crawl.into(),
            name,
            concurrency: CrawlOptions::default().concurrency,
            visibility_timeout: Duration::from_secs(60),
            wait_for_crawl: None,
            progress: Arc::new(haul_runner::Silent),
        }
    }
}

/// `{hostname}-{pid}`, a consumer name unique over machines.
pub async fn default_name() -> String {
    let host = tokio::fs::read_to_string("/etc/hostname")
        .await
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}-{}", std::process::id())
}

/// Waits for crawl `crawl` to be enqueued and returns its spec.
pub async fn wait_for_spec(
    redis: &Redis,
    crawl: &str,
    wait: Option<Duration>,
    cancel: &CancellationToken,
) -> Result<Option<CrawlSpec>, ClusterError> {
    let started = Instant::now();
    let mut told = false;
    loop {
        if let Some(spec) = CrawlSpec::load(redis, crawl).await? {
            return Ok(Some(spec));
        }
        if wait.is_some_and(|w| started.elapsed() >= w) {
            return Err(ClusterError::NoCrawl {
                crawl: crawl.into(),
                url: redis.url().into(),
                waited_secs: started.elapsed().as_secs(),
            });
        }
        if !told {
            info!(
                crawl,
                "waiting for the crawl to be enqueued (haul crawl --redis ...)"
            );
            told = true;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = cancel.cancelled() => return Ok(None),
        }
    }
}

/// The crawl's Redis frontier as the page pipeline's [`haul_runner::Frontier`]: slot `i` is
/// consumer `{name}-{i}`; the `--max-pages` budget is one counter per site shared by every
/// worker; a page's links go to the next level as soon as they are known
/// ([`Frontier::take_links`]), so a slow extraction does not hold the next level; a
/// completed page's records, the slot's share of the counters and the acknowledgement go to
/// Redis in one pipeline.
struct RedisTasks {
    meta: CrawlMeta,
    crawl: String,
    frontier: Frontier,
    records: RecordStream,
    sites: HashSet<String>,
    max_pages: Option<u64>,
    visibility: Duration,
    /// One consumer name per slot.
    consumers: Vec<String>,
    /// Tasks a slot was given beyond the one it processes (a reclaimed batch), in order.
    queued: Vec<Mutex<VecDeque<Task>>>,
    /// Ids of the tasks handed to the pipeline and not yet completed (some still finishing
    /// after their links were taken): never taken again from this worker's own pending
    /// entries.
    held: Mutex<HashSet<String>>,
    /// Tells this process's shares of the counters from those of an earlier worker with the
    /// same name (`{consumer}#{instance}`).
    instance: String,
    /// Notices the crawl's keys vanishing while the slots find nothing to do.
    alive: Liveness,
}

/// Runs a worker until the crawl is finished or `cancel` fires: `opts.concurrency` slots of
/// the page pipeline ([`Crawler::drive`]) each take a URL (tasks of dead workers first),
/// process it with a [`Crawler`] built from `base` (its `max_level` replaced by the crawl's)
/// and `services`, publish its records, queue its links, then acknowledge it. Returns this
/// worker's share of the crawl.
///
/// Cancelling stops taking URLs; URLs in flight finish within `base.grace`, else they are
/// left unacknowledged and another worker takes them over after the visibility timeout.
/// A crawl whose keys vanish from Redis meanwhile is [`ClusterError::CrawlVanished`] within
/// about a second of the worker running out of work.
pub async fn run_worker(
    redis: &Redis,
    registry: &Registry,
    opts: WorkerOptions,
    base: CrawlOptions,
    services: Services,
    cancel: CancellationToken,
) -> Result<CrawlReport, ClusterError> {
    let started = Instant::now();
    let Some(spec) = wait_for_spec(redis, &opts.crawl, opts.wait_for_crawl, &cancel).await? else {
        return Ok(CrawlReport::new(Vec::new(), 0.0, true));
    };
    let jobs: Vec<_> = (spec.jobs(&opts.crawl, registry)?.into_iter())
        .map(|job| base.with_site_session(job))
        .collect();
    let crawl_opts = CrawlOptions {
        max_level: spec.max_level,
        // The budget is the frontier's, shared by the workers.
        max_pages: None,
        ..base
    };
    let slots = opts.concurrency.max(1);
    let tasks = RedisTasks {
        meta: CrawlMeta::new(redis, &opts.crawl)?,
        crawl: opts.crawl.clone(),
        frontier: Frontier::new(redis, &opts.crawl, spec.frontier_options()),
        records: RecordStream::open(redis, &opts.crawl).await?,
        sites: jobs
            .iter()
            .map(|j| j.extractor.name().to_string())
            .collect(),
        max_pages: spec.max_pages,
        visibility: opts.visibility_timeout,
        consumers: (0..slots).map(|i| format!("{}-{i}", opts.name)).collect(),
        queued: (0..slots).map(|_| Mutex::default()).collect(),
        held: Mutex::default(),
        instance: format!("{:016x}", fastrand::u64(..)),
        alive: Liveness::new(redis, &opts.crawl)?,
    };
    info!(
        crawl = opts.crawl,
        worker = opts.name,
        sites = spec.sites.len(),
        "worker started"
    );
    // Blocks count per domain over every worker of the crawl.
    let breaker = Arc::new(RedisBreaker::new(redis, &opts.crawl, crawl_opts.blocks));
    let proxies = crawl_opts.proxies.clone();
    let crawler = Arc::new(
        Crawler::detached(crawl_opts, services.clone(), cancel.child_token())
            .with_breaker(breaker)
            .with_progress(opts.progress.clone()),
    );
    let driven = crawler.drive(jobs, Arc::new(tasks), slots).await;
    if let Some(e) = driven.error {
        cancel.cancel();
        return Err(e);
    }
    let sites: Vec<String> = spec.sites.iter().map(|s| s.site.clone()).collect();
    let elapsed = started.elapsed().as_secs_f64();
    Ok(
        CrawlReport::from_shares(&sites, driven.sites, elapsed, cancel.is_cancelled())
            .with_services(&services)
            .with_proxies(proxies.as_deref()),
    )
}

impl RedisTasks {
    /// `task` as a page to process, or `None` when it is acknowledged at once: a site not in
    /// the crawl, an invalid URL, or a first delivery over the site's `--max-pages` budget.
    async fn admit(&self, task: Task) -> Result<Option<PageTask<Task>>, ClusterError> {
        if !self.sites.contains(&task.site) {
            warn!(
                site = task.site,
                url = task.url,
                "task of a site not in the crawl; dropped"
            );
            self.frontier.ack(&task).await?;
            return Ok(None);
        }
        let url = match Url::parse(&task.url) {
            Ok(u) => u,
            Err(e) => {
                warn!(url = task.url, "queued URL is invalid ({e}); dropped");
                self.frontier.ack(&task).await?;
                return Ok(None);
            }
        };
        if let Some(max) = self.max_pages
            && task.deliveries == 1
        {
            let n = self.meta.count_scheduled(&task.site).await?;
            if n > max {
                debug!(url = task.url, "over --max-pages; skipped");
                self.frontier.ack(&task).await?;
                return Ok(None);
            }
        }
        Ok(Some(PageTask {
            site: task.site.clone(),
            level: task.level,
            url,
            ticket: task,
        }))
    }

    /// `e`, or [`ClusterError::CrawlVanished`] when the crawl's keys are gone (a command on
    /// a vanished key fails with a bare `NOGROUP` or "no such key").
    async fn explain(&self, e: haul_redis::RedisError) -> ClusterError {
        match self.alive.check_now().await {
            Err(vanished @ ClusterError::CrawlVanished { .. }) => vanished,
            _ => e.into(),
        }
    }

    fn queued(&self, slot: usize) -> std::sync::MutexGuard<'_, VecDeque<Task>> {
        self.queued[slot].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `tasks` for `slot`, leaving out those this worker already processes (a
    /// consumer's own pending entries include its pages still finishing) or has queued.
    fn queue(&self, slot: usize, tasks: Vec<Task>) {
        let held = self.held();
        let mut queued = self.queued(slot);
        for task in tasks {
            if !held.contains(&task.id) && !queued.iter().any(|q| q.id == task.id) {
                queued.push_back(task);
            }
        }
    }
}

#[async_trait]
impl haul_runner::Frontier for RedisTasks {
    type Ticket = Task;
    type Error = ClusterError;

    async fn next(&self, slot: usize) -> Result<Option<PageTask<Task>>, ClusterError> {
        loop {
            let queued = self.queued(slot).pop_front();
            if let Some(task) = queued {
                match self.admit(task).await? {
                    Some(page) => {
                        self.held().insert(page.ticket.id.clone());
                        return Ok(Some(page));
                    }
                    None => continue,
                }
            }
            // No blocking reads: every slot of a process shares one blocking connection, on
            // which blocked reads queue behind each other (8 slots x 250 ms = 2 s per level
            // change). Frontier::work sleeps briefly itself when there is nothing to take.
            let work = match self
                .frontier
                .work(&self.consumers[slot], Duration::ZERO, self.visibility)
                .await
            {
                Ok(w) => w,
                Err(e) => return Err(self.explain(e).await),
            };
            match work {
                Work::Finished => return Ok(None),
                // Keys that vanished look like a level with nothing to take: say so instead.
                Work::Idle => self.alive.check().await?,
                Work::Tasks(tasks) => self.queue(slot, tasks),
            }
        }
    }

    async fn complete(
        &self,
        slot: usize,
        task: PageTask<Task>,
        page: &mut PageOutcome,
        share: &SiteReport,
    ) -> Result<(), ClusterError> {
        let records = std::mem::take(&mut page.records);
        // None when they went to the next level early (`links`).
        let links: Vec<&str> = page.links.iter().map(Url::as_str).collect();
        let field = format!("{}#{}", self.consumers[slot], self.instance);
        let counters = stats::store_share(&self.crawl, &task.site, &field, share);
        let completed = self
            .frontier
            .complete(
                &task.ticket,
                &self.records,
                &records,
                &links,
                Some(counters),
            )
            .await;
        self.held().remove(&task.ticket.id);
        if let Err(e) = completed {
            return Err(self.explain(e).await);
        }
        debug!(url = %task.url, records = records.len(), "task done");
        Ok(())
    }

    fn early_links(&self) -> bool {
        true
    }

    /// One page per loop may wait for its extraction after its links are in: a worker
    /// claims no more than it can start, so the other workers get their share of a level
    /// and a dying worker leaves few tasks to reclaim.
    fn unfinished_per_slot(&self) -> usize {
        1
    }

    /// Queues the links of a page still `finishing` (waiting for slow extraction work) on
    /// the next level and marks them taken, in one step: once every page of a level has its
    /// links taken (or is acknowledged) the next level starts, while such pages finish. A
    /// page processed again after its worker died queues nothing: its links were taken by
    /// the first delivery. The links of a page that completes at once go in its completing
    /// pipeline instead (one round trip).
    async fn links(
        &self,
        _slot: usize,
        task: &PageTask<Task>,
        links: &mut Vec<Url>,
        finishing: bool,
    ) -> Result<(), ClusterError> {
        if !finishing {
            return Ok(());
        }
        let urls: Vec<&str> = links.iter().map(Url::as_str).collect();
        let taken = match self.frontier.take_links(&task.ticket, &urls).await {
            Ok(t) => t,
            Err(e) => return Err(self.explain(e).await),
        };
        if taken.is_none() {
            debug!(url = %task.url, "links taken before (a task processed again)");
        }
        links.clear();
        Ok(())
    }

    fn keep_alive_every(&self) -> Option<Duration> {
        Some(self.visibility / 3)
    }

    async fn keep_alive(&self, slot: usize, task: &PageTask<Task>) -> Result<(), ClusterError> {
        let touched = match self
            .frontier
            .touch(&self.consumers[slot], &task.ticket)
            .await
        {
            Ok(t) => t,
            Err(e) => return Err(self.explain(e).await),
        };
        if !touched {
            debug!(url = %task.url, "task was taken over by another worker");
        }
        Ok(())
    }

    fn aborted_pages_fail(&self) -> bool {
        false
    }
}
