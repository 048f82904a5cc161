//! `haul worker`: takes URLs of a distributed crawl from the Redis frontier, level by level,
//! processes them with the local engine (HTTP, browser pool, LLM), publishes the records and
//! queues the links, and only then acknowledges each URL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haul_core::Registry;
use haul_redis::{Frontier, FrontierOptions, RecordStream, Redis, Task, Work};
use haul_runner::{
    CancellationToken, CrawlOptions, CrawlReport, Crawler, GraceJoin, Joined, Services, SiteJob,
    SiteReport,
};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};
use url::Url;

use crate::{ClusterError, CrawlSpec, stats};

/// Settings of one worker process.
#[derive(Debug, Clone)]
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

/// What the worker shares with its task loops.
struct Shared {
    redis: Redis,
    crawl: String,
    frontier: Frontier,
    records: RecordStream,
    crawler: Crawler,
    jobs: HashMap<String, SiteJob>,
    max_pages: Option<u64>,
    visibility: Duration,
    cancel: CancellationToken,
    /// Tells this process's shares of the counters from those of an earlier worker with the
    /// same name (`{consumer}#{instance}`).
    instance: String,
}

/// Runs a worker until the crawl is finished or `cancel` fires: `opts.concurrency` loops
/// each take a URL (tasks of dead workers first), process it with a [`Crawler`] built from
/// `base` (its `max_level`/`max_pages` replaced by the crawl's) and `services`, publish its
/// records, queue its links, then acknowledge it. Returns this worker's share of the crawl.
///
/// Cancelling stops taking URLs; URLs in flight finish within `base.grace`, else they are
/// left unacknowledged and another worker takes them over after the visibility timeout.
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
    let jobs: HashMap<String, SiteJob> = spec
        .jobs(&opts.crawl, registry)?
        .into_iter()
        .map(|j| (j.extractor.name().to_string(), j))
        .collect();
    let crawl_opts = CrawlOptions {
        max_level: spec.max_level,
        max_pages: None,
        ..base.clone()
    };
    let pools = services.clone();
    let shared = Arc::new(Shared {
        redis: redis.clone(),
        crawl: opts.crawl.clone(),
        frontier: Frontier::new(redis, &opts.crawl, FrontierOptions::default()),
        records: RecordStream::open(redis, &opts.crawl).await?,
        crawler: Crawler::detached(crawl_opts, services, cancel.child_token()),
        jobs,
        max_pages: spec.max_pages,
        visibility: opts.visibility_timeout,
        cancel: cancel.clone(),
        instance: format!("{:016x}", fastrand::u64(..)),
    });
    info!(
        crawl = opts.crawl,
        worker = opts.name,
        sites = spec.sites.len(),
        "worker started"
    );
    let mut loops = JoinSet::new();
    for i in 0..opts.concurrency.max(1) {
        let shared = shared.clone();
        let consumer = format!("{}-{i}", opts.name);
        loops.spawn(async move { task_loop(shared, consumer).await });
    }
    let mut shares: Vec<SiteReport> = Vec::new();
    let mut failure = None;
    let mut join = GraceJoin::new(cancel.clone(), base.grace);
    loop {
        match join.next(&mut loops).await {
            Joined::Task(Ok(Ok(share))) => shares.extend(share.into_values()),
            Joined::Task(Ok(Err(e))) => {
                // One loop failing (Redis gone for good) ends the worker.
                cancel.cancel();
                failure.get_or_insert(e);
            }
            Joined::Task(Err(e)) if e.is_cancelled() => {}
            Joined::Task(Err(e)) => warn!("a worker loop panicked: {e}"),
            Joined::Empty => break,
            Joined::Aborted(_) => {
                warn!("grace period over: URLs in flight left unacknowledged for other workers");
                break;
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let sites: Vec<String> = spec.sites.iter().map(|s| s.site.clone()).collect();
    let elapsed = started.elapsed().as_secs_f64();
    Ok(
        CrawlReport::from_shares(&sites, shares, elapsed, cancel.is_cancelled())
            .with_services(&pools),
    )
}

/// One of the worker's loops: takes tasks until the crawl is finished or cancelled.
async fn task_loop(
    shared: Arc<Shared>,
    consumer: String,
) -> Result<HashMap<String, SiteReport>, ClusterError> {
    let mut reports: HashMap<String, SiteReport> = HashMap::new();
    // No blocking reads: every loop of a process shares one blocking connection, on which
    // blocked reads queue behind each other (8 loops x 250 ms = 2 s per level change).
    // Frontier::work sleeps briefly itself when there is nothing to take.
    let block = Duration::ZERO;
    while !shared.cancel.is_cancelled() {
        let work = tokio::select! {
            w = shared.frontier.work(&consumer, block, shared.visibility) => w?,
            () = shared.cancel.cancelled() => break,
        };
        match work {
            Work::Finished => break,
            Work::Idle => continue,
            Work::Tasks(tasks) => {
                for task in tasks {
                    process(&shared, &consumer, &task, &mut reports).await?;
                }
            }
        }
    }
    Ok(reports)
}

/// Processes one task: crawl the page (touching the task meanwhile so it is not reclaimed),
/// then in one pipeline publish its records, queue its links, store this loop's share of the
/// counters (`reports`, with the page tallied) and acknowledge it.
async fn process(
    shared: &Shared,
    consumer: &str,
    task: &Task,
    reports: &mut HashMap<String, SiteReport>,
) -> Result<(), ClusterError> {
    let Some(job) = shared.jobs.get(&task.site) else {
        warn!(
            site = task.site,
            url = task.url,
            "task of a site not in the crawl; dropped"
        );
        shared.frontier.ack(task).await?;
        return Ok(());
    };
    let url = match Url::parse(&task.url) {
        Ok(u) => u,
        Err(e) => {
            warn!(url = task.url, "queued URL is invalid ({e}); dropped");
            shared.frontier.ack(task).await?;
            return Ok(());
        }
    };
    if let Some(max) = shared.max_pages
        && task.deliveries == 1
    {
        let n: u64 = shared
            .redis
            .query(
                "INCR pages scheduled",
                redis::cmd("INCR")
                    .arg(haul_redis::keys::scheduled(&shared.crawl, &task.site))
                    .clone(),
                None,
            )
            .await?;
        if n > max {
            debug!(url = task.url, "over --max-pages; skipped");
            shared.frontier.ack(task).await?;
            return Ok(());
        }
    }
    let crawl = shared.crawler.crawl_page(job, task.level, &url);
    tokio::pin!(crawl);
    let mut heartbeat = tokio::time::interval(shared.visibility / 3);
    heartbeat.tick().await;
    let mut page = loop {
        tokio::select! {
            page = &mut crawl => break page,
            _ = heartbeat.tick() => {
                if !shared.frontier.touch(consumer, task).await? {
                    debug!(url = task.url, "task was taken over by another worker");
                }
            }
        }
    };
    let records = std::mem::take(&mut page.records);
    page.written = records.len() as u64;
    let links: Vec<&str> = page.links.iter().map(Url::as_str).collect();
    let mut share = reports
        .get(&task.site)
        .cloned()
        .unwrap_or_else(|| SiteReport::new(&task.site));
    share.tally(task.level, &page);
    let field = format!("{consumer}#{}", shared.instance);
    let counters = stats::store_share(&shared.crawl, &task.site, &field, &share);
    shared
        .frontier
        .complete(task, &shared.records, &records, &links, Some(counters))
        .await?;
    reports.insert(task.site.clone(), share);
    debug!(url = task.url, records = page.written, "task done");
    Ok(())
}
