//! The level-by-level crawl of one or more sites.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haul_core::{
    Choice, Context, ExtractError, Extraction, Extractor, FailureKind, FetchRequest, Fetcher,
    Later, LaterWork, LlmPool, PagePool, RenderNeed, Session, SiteSession, UnknownChoice,
};
use regex::Regex;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use url::Url;

use crate::blocks::{self, BlockBreaker, BlockStop, Gate, LocalBreaker};
use crate::checked::Checked;
use crate::levels::{Journaling, LevelFrontier};
use crate::progress::{Progress, Silent};
use crate::recrawl::{Carry, Recrawl, Validators};
use crate::render::{self, RenderMemory, RenderReason};
use crate::report::{CrawlReport, SiteReport};
use crate::scope::{Scope, Scoped, canonicalize};
use crate::sessions::SessionStore;
use crate::state::{Journal, SiteResume};
use haul_output::RecordSender;

/// When pages are rendered in a browser (`--render`, `render` in `haul.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RenderMode {
    /// Plain HTTP only (extractors that demand rendering fail with a clear error).
    Never,
    /// Every page in the browser.
    Always,
    /// HTTP first; the browser where the extractor demands it, or where the HTTP page gave no
    /// records and looks script-rendered.
    #[default]
    Auto,
}

impl Choice for RenderMode {
    const VALUES: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Never, "never", "Plain HTTP only"),
        (Self::Always, "always", "Render every page"),
        (
            Self::Auto,
            "auto",
            "HTTP first, the browser only where needed",
        ),
    ];
}

impl fmt::Display for RenderMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for RenderMode {
    type Err = UnknownChoice;

    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        Self::from_label(s)
    }
}

/// Settings of a crawl.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    /// Deepest level followed (0 = start URLs only).
    pub max_level: u32,
    /// Pages in flight at once per site.
    pub concurrency: usize,
    /// Stop scheduling new pages of a site after this many.
    pub max_pages: Option<u64>,
    /// When to use the browser.
    pub render: RenderMode,
    /// Upper bound for one page (fetch or render + extraction).
    pub page_timeout: Duration,
    /// Retries of a page whose failure is transient.
    pub retries: u32,
    /// First retry delay; doubled on every further retry, with jitter.
    pub retry_base: Duration,
    /// Pages in flight at once over all sites (none = only the per-site limits).
    pub global_concurrency: Option<usize>,
    /// Which extraction path sites take.
    pub extract: haul_core::ExtractMode,
    /// The confidence below which records get no price (`--min-confidence`); `None`: each
    /// extractor's default.
    pub min_confidence: Option<f64>,
    /// After cancellation, how long pages in flight may take to finish before they are
    /// aborted.
    pub grace: Duration,
    /// The longest a server's `Retry-After` delays a page's retry (`--max-retry-after`).
    pub max_retry_after: Duration,
    /// The largest rendered page read, in bytes (`--max-page-bytes`; HTTP bodies are capped
    /// by [`HttpOptions::max_body`](crate::HttpOptions::max_body)).
    pub max_page_bytes: u64,
    /// The per-domain block circuit breaker (`--block-pause-after`, `--block-stop-after`,
    /// `--block-backoff-ms`).
    pub blocks: crate::BreakerOptions,
    /// Session settings per site name (`[sites.NAME]` in `haul.toml`), laid over the site's
    /// default session by [`with_site_session`](Self::with_site_session) when a crawl
    /// ([`Crawler::run`]) or a distributed worker starts a site's job.
    pub site_sessions: std::collections::BTreeMap<String, SiteSession>,
    /// The crawl's upstream proxies, shared with the fetcher
    /// ([`HttpOptions::proxies`](crate::HttpOptions::proxies)) and the browser's gate: a
    /// blocked page moves its domain on to the next proxy.
    pub proxies: Option<Arc<haul_core::ProxyPool>>,
    /// Start every site from its sitemaps too (`--sitemap`); otherwise per site as
    /// [`site_sitemaps`](Self::site_sitemaps) or the site's [`Extractor::sitemap`] says.
    pub sitemap: bool,
    /// Per site name, whether it starts from its sitemaps (`sitemap` in `[sites.NAME]`).
    pub site_sitemaps: std::collections::BTreeMap<String, bool>,
}

impl CrawlOptions {
    /// Whether the crawl of `ext` starts from its sitemaps too.
    pub fn uses_sitemap(&self, ext: &dyn Extractor) -> bool {
        self.sitemap
            || self
                .site_sitemaps
                .get(ext.name())
                .copied()
                .unwrap_or_else(|| ext.sitemap())
    }

    /// `job` with its site's [`site_sessions`](Self::site_sessions) entry laid over the
    /// site's default session (see [`SiteJob::with_session`]); unchanged without an entry.
    pub fn with_site_session(&self, job: SiteJob) -> SiteJob {
        match self.site_sessions.get(job.extractor.name()) {
            Some(settings) => job.with_session(settings),
            None => job,
        }
    }
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            max_level: 3,
            concurrency: 8,
            max_pages: None,
            render: RenderMode::Auto,
            page_timeout: Duration::from_secs(30),
            retries: 3,
            retry_base: Duration::from_millis(250),
            global_concurrency: None,
            extract: haul_core::ExtractMode::Auto,
            min_confidence: None,
            grace: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(crate::MAX_RETRY_AFTER_SECS),
            max_page_bytes: haul_core::DEFAULT_MAX_PAGE_BYTES,
            blocks: crate::BreakerOptions::default(),
            site_sessions: std::collections::BTreeMap::new(),
            proxies: None,
            sitemap: false,
            site_sitemaps: std::collections::BTreeMap::new(),
        }
    }
}

/// One site to crawl.
#[derive(Clone)]
pub struct SiteJob {
    /// Its extractor.
    pub extractor: &'static dyn Extractor,
    /// Level-0 URLs.
    pub start_urls: Vec<Url>,
    /// Links are followed only when they match one of these (empty = all in scope).
    pub allow: Vec<Regex>,
    /// Links matching any of these are never followed.
    pub deny: Vec<Regex>,
    /// The site's session in this crawl (headers, locale/currency pin, cookie jar), shared by
    /// every fetch and render of the job: the site's default ([`Extractor::session`]) unless
    /// [`with_session`](Self::with_session) lays settings over it; kept to the job's
    /// [`scope`](Self::scope) as it was when the session was made.
    pub session: Arc<Session>,
}

impl SiteJob {
    /// A job for `extractor` from `start_urls`, with no allow/deny patterns.
    pub fn new(extractor: &'static dyn Extractor, start_urls: Vec<Url>) -> Self {
        let session = Session::new(extractor.name(), &extractor.session())
            .within(Scope::of_site(&start_urls, extractor.domains()));
        Self {
            extractor,
            start_urls,
            allow: Vec::new(),
            deny: Vec::new(),
            session: Arc::new(session),
        }
    }

    /// The job with `settings` (`[sites.NAME]`) laid over the site's default session.
    pub fn with_session(mut self, settings: &SiteSession) -> Self {
        let merged = self.extractor.session().overlay(settings);
        let session = Session::new(self.extractor.name(), &merged).within(self.scope());
        self.session = Arc::new(session);
        self
    }

    /// The hosts the crawl of this job may reach: those of its start URLs and the site's own
    /// domains ([`Scope::of_site`]). Links, redirect hops and browser navigations outside it
    /// are never fetched, whatever the extractor claims.
    pub fn scope(&self) -> Scope {
        Scope::of_site(&self.start_urls, self.extractor.domains())
    }

    /// Whether a (canonical) link is followed: within the job's `scope` and let through by
    /// the allow/deny patterns.
    pub(crate) fn follows(&self, scope: &Scope, url: &Url) -> bool {
        let s = url.as_str();
        scope.contains(url)
            && (self.allow.is_empty() || self.allow.iter().any(|r| r.is_match(s)))
            && !self.deny.iter().any(|r| r.is_match(s))
    }
}

impl std::fmt::Debug for SiteJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteJob")
            .field("site", &self.extractor.name())
            .field("start_urls", &self.start_urls)
            .finish()
    }
}

/// The shared services a crawl hands to extractors.
#[derive(Clone)]
pub struct Services {
    /// Polite HTTP client.
    pub fetcher: Arc<dyn Fetcher>,
    /// Browser pages, when a pool is configured.
    pub pages: Option<Arc<dyn PagePool>>,
    /// The process-wide LLM pool, when configured.
    pub llm: Option<Arc<dyn LlmPool>>,
}

/// Crawls sites level by level and streams records to an output.
pub struct Crawler {
    pub(crate) opts: CrawlOptions,
    services: Services,
    /// Where records go; `None` for a [`detached`](Crawler::detached) crawler whose caller
    /// takes the records from each [`PageOutcome`].
    pub(crate) output: Option<RecordSender>,
    pub(crate) cancel: CancellationToken,
    global: Option<Arc<Semaphore>>,
    pub(crate) progress: Arc<dyn Progress>,
    journal: Option<Arc<Journal>>,
    resume: HashMap<String, SiteResume>,
    /// Per site and page kind, whether `auto` renders directly or tries HTTP first.
    render_memory: RenderMemory,
    /// Per domain, pauses and stops after blocks in a row.
    breaker: Arc<dyn BlockBreaker>,
    /// Where the sites' cookie jars are kept between runs (`--state`).
    pub(crate) sessions: Option<SessionStore>,
    /// What the store remembers of earlier crawls, for conditional requests and sitemap
    /// `lastmod` skips ([`with_recall`](Crawler::with_recall)).
    recrawl: Option<Arc<Recrawl>>,
}

/// What processing one URL gave.
#[derive(Debug)]
pub struct PageOutcome {
    /// The URL processed.
    pub url: Url,
    /// Links the extractor returned (absolute, not yet filtered or canonicalised).
    pub links: Vec<Url>,
    /// Valid records of the page, not yet written (records with problems were dropped and
    /// counted as warnings).
    pub records: Vec<haul_core::Record>,
    /// Records written to the output (0 until they are sent).
    pub written: u64,
    /// Warnings of the extraction plus dropped records.
    pub warnings: u64,
    /// Retries taken.
    pub retries: u64,
    /// Why the page was rendered in a browser (`None`: over HTTP only).
    pub render_reason: Option<RenderReason>,
    /// HTTP status of the page, when one was received.
    pub status: Option<u16>,
    /// Kind of each retried failure.
    pub retry_kinds: Vec<FailureKind>,
    /// The page kind whose contract this page broke, if any.
    pub breach: Option<&'static str>,
    /// Time the page took, retries included.
    pub elapsed: Duration,
    /// The kind of failure (`http_404`, `timeout`...) when the page failed.
    pub error: Option<FailureKind>,
    /// Extraction work still to do once the links were handed on (see [`Context::later`]);
    /// `records`, `warnings` and `breach` are set when it is done.
    pub unfinished: Option<Unfinished>,
    /// Who blocked each blocked answer of the page (every attempt).
    pub blocks: Vec<String>,
    /// Blocked answers of the page after which it waited for its domain's pause.
    pub block_pauses: u32,
    /// The page's domain was stopped for blocking (by this page or before it).
    pub block_stop: Option<BlockStop>,
    /// The currency pinned for the site (its session's), which records are checked against.
    pub pin: Option<haul_core::Currency>,
    /// Records in another currency than the pinned one (flagged with a warning each, kept
    /// as they are).
    pub currency_mismatch: u64,
    /// The `ETag` of the page's answer (or, for a page carried forward, its last one).
    pub etag: Option<String>,
    /// The `Last-Modified` of the page's answer (or, for a page carried forward, its last).
    pub last_modified: Option<String>,
    /// Set when the page's last records and links were carried forward from the store
    /// instead of extracted anew (a `304`, an unchanged sitemap `lastmod`).
    pub carried: Option<Carry>,
}

/// A page's extraction so far and the slow work that completes it (opaque: the pipeline
/// finishes it).
pub struct Unfinished {
    ex: Extraction,
    work: Vec<LaterWork>,
}

impl std::fmt::Debug for Unfinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unfinished")
            .field("records", &self.ex.records.len())
            .field("work", &self.work.len())
            .finish()
    }
}

impl PageOutcome {
    /// The outcome of `url` before anything happened: no links, records, retries or error.
    pub fn new(url: Url) -> Self {
        Self {
            url,
            links: Vec::new(),
            records: Vec::new(),
            written: 0,
            warnings: 0,
            retries: 0,
            render_reason: None,
            status: None,
            retry_kinds: Vec::new(),
            breach: None,
            elapsed: Duration::ZERO,
            error: None,
            unfinished: None,
            blocks: Vec::new(),
            block_pauses: 0,
            block_stop: None,
            pin: None,
            currency_mismatch: 0,
            etag: None,
            last_modified: None,
            carried: None,
        }
    }

    /// Whether the page was rendered in a browser.
    pub fn rendered(&self) -> bool {
        self.render_reason.is_some()
    }
}

impl Crawler {
    /// A crawler writing to `output`; cancelling `cancel` stops scheduling new pages (pages in
    /// flight finish).
    pub fn new(
        opts: CrawlOptions,
        services: Services,
        output: RecordSender,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            output: Some(output),
            ..Self::detached(opts, services, cancel)
        }
    }

    /// A crawler without an output, for callers that drive URLs one by one with
    /// [`crawl_page`](Self::crawl_page) and write the records themselves (distributed
    /// workers). [`run`](Self::run) on it extracts but writes nothing.
    pub fn detached(opts: CrawlOptions, services: Services, cancel: CancellationToken) -> Self {
        let global = opts
            .global_concurrency
            .map(|n| Arc::new(Semaphore::new(n.max(1))));
        let breaker = Arc::new(LocalBreaker::new(opts.blocks));
        Self {
            opts,
            services,
            output: None,
            cancel,
            global,
            progress: Arc::new(Silent),
            journal: None,
            resume: HashMap::new(),
            render_memory: RenderMemory::default(),
            breaker,
            sessions: None,
            recrawl: None,
        }
    }

    /// Recrawls with what a SQLite store remembers of earlier crawls (the store this crawl
    /// writes to): plain-HTTP pages with validators are fetched conditionally, and a `304`
    /// or (with sitemaps) an unchanged `lastmod` carries the page's last records and links
    /// forward. Rendered pages are always rendered anew.
    pub fn with_recall(mut self, recall: haul_output::Recall) -> Self {
        self.recrawl = Some(Arc::new(Recrawl::new(recall)));
        self
    }

    /// Uses `breaker` for the per-domain block circuit breaker instead of this process's own
    /// (a breaker shared by the workers of a cluster).
    pub fn with_breaker(mut self, breaker: Arc<dyn BlockBreaker>) -> Self {
        self.breaker = breaker;
        self
    }

    /// Keeps each site's cookie jar in `store`: loaded before the site's first page, saved
    /// after every page that changed it (for a resumed or repeated crawl with the same
    /// `--state`).
    pub fn with_sessions(mut self, store: SessionStore) -> Self {
        self.sessions = Some(store);
        self
    }

    /// Journals levels and finished pages to `journal` (for `--resume`), and continues each
    /// site from `positions` (as returned by [`Journal::open`] with `resume`).
    pub fn with_state(mut self, journal: Journal, positions: HashMap<String, SiteResume>) -> Self {
        self.journal = Some(Arc::new(journal));
        self.resume = positions;
        self
    }

    /// Reports progress to `progress` (bars, log lines) as the crawl goes.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Crawls every job concurrently (each site with its own concurrency limit) and returns
    /// the report once all are done or the crawl was cancelled. The journal, if any, is
    /// closed before returning.
    pub async fn run(self, jobs: Vec<SiteJob>) -> CrawlReport {
        let started = Instant::now();
        let this = Arc::new(self);
        let mut set = JoinSet::new();
        for (i, job) in jobs.into_iter().enumerate() {
            let this = this.clone();
            let job = this.opts.with_site_session(job);
            if let Some(store) = &this.sessions {
                match store.load(&job.session).await {
                    Ok(0) => {}
                    Ok(n) => info!(
                        site = job.extractor.name(),
                        "{n} cookies from the crawl state"
                    ),
                    Err(e) => warn!("{e}; the site starts without its saved cookies"),
                }
            }
            set.spawn(async move { (i, this.crawl_site(job).await) });
        }
        let mut sites = Vec::new();
        while let Some(res) = set.join_next().await {
            match res {
                Ok(site) => sites.push(site),
                Err(e) => warn!("a site crawl task failed: {e}"),
            }
        }
        sites.sort_by_key(|(i, _)| *i);
        let journal = this.journal.clone();
        let report = CrawlReport::new(
            sites.into_iter().map(|(_, s)| s).collect(),
            started.elapsed().as_secs_f64(),
            this.cancel.is_cancelled(),
        )
        .with_services(&this.services)
        .with_proxies(this.opts.proxies.as_deref());
        drop(this);
        if let Some(journal) = journal.and_then(|j| Arc::try_unwrap(j).ok())
            && let Err(e) = journal.close().await
        {
            warn!("{e}");
        }
        report
    }

    /// The extractor context of `ext` in this crawl (level 0; set it per page), its fetches
    /// kept within `scope`.
    pub(crate) fn context(
        &self,
        ext: &'static dyn Extractor,
        scope: &Scope,
        session: &Arc<Session>,
    ) -> Context {
        let fetcher = Arc::new(Scoped {
            inner: self.services.fetcher.clone(),
            scope: scope.clone(),
            session: Some(session.clone()),
        });
        Context::new(ext, fetcher)
            .with_session(Some(session.clone()))
            .with_pages(self.services.pages.clone())
            .with_llm(self.services.llm.clone())
            .with_page_timeout(self.opts.page_timeout)
            .with_max_page_bytes(self.opts.max_page_bytes)
            .with_max_level(self.opts.max_level)
            .with_extract_mode(self.opts.extract)
            .with_min_confidence(self.opts.min_confidence)
    }

    /// Processes one URL of `job` at `level` outside [`run`](Self::run)'s level loop, for
    /// callers that schedule URLs themselves (distributed workers): fetches or renders it as
    /// the render mode says, extracts, retries transient failures. The records are returned
    /// in the outcome, not written (whatever the output); the links are returned canonical,
    /// filtered by the job's scope and allow/deny patterns, and only when `level` is below
    /// `max_level`. Honours the global concurrency limit.
    pub async fn crawl_page(&self, job: &SiteJob, level: u32, url: &Url) -> PageOutcome {
        let _global = self.global_permit().await;
        let scope = job.scope();
        let cx = self
            .context(job.extractor, &scope, &job.session)
            .with_level(level);
        let mut page = self.process(&cx, canonicalize(url), None).await;
        let links = std::mem::take(&mut page.links);
        page.links = self.accept_links(job, &scope, level, links);
        page
    }

    /// A slot of the global concurrency limit, if there is one.
    pub(crate) async fn global_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.global.clone()?.acquire_owned().await.ok()
    }

    /// Sends the page's records to the output, then its [`Visit`](haul_output::Visit) (what
    /// the store remembers of the page for the next run); on an output failure stops the
    /// crawl.
    pub(crate) async fn write(&self, site: &str, page: &mut PageOutcome) {
        let Some(output) = &self.output else {
            return;
        };
        let mut visit = haul_output::Visit::new(site, page.url.as_str());
        visit.records = page.records.iter().map(|r| r.url.clone()).collect();
        for record in std::mem::take(&mut page.records) {
            if let Err(e) = output.send(record).await {
                warn!("{e}; stopping the crawl");
                self.cancel.cancel();
                page.error = Some(FailureKind::Output);
                return;
            }
            page.written += 1;
        }
        visit.status = page.status;
        visit.failure = page.error.as_ref().map(FailureKind::label);
        visit.etag.clone_from(&page.etag);
        visit.last_modified.clone_from(&page.last_modified);
        visit.links = page.links.iter().map(Url::to_string).collect();
        if let Err(e) = output.visit(visit).await {
            warn!("{e}; stopping the crawl");
            self.cancel.cancel();
            page.error = Some(FailureKind::Output);
        }
    }

    /// Adds the pages `job`'s sitemaps list (within its scope and allow/deny patterns, each
    /// once) to its start URLs; notes those whose `lastmod` says they are unchanged since
    /// their last visit (when the crawl has a store's memory). Returns how many it listed.
    async fn add_sitemap_urls(&self, job: &mut SiteJob) -> u64 {
        let scope = job.scope();
        let fetcher = Scoped {
            inner: self.services.fetcher.clone(),
            scope: scope.clone(),
            session: Some(job.session.clone()),
        };
        let found =
            crate::sitemap::discover(&fetcher, &job.start_urls, self.opts.max_page_bytes).await;
        let listed = found.len();
        let pages: Vec<crate::sitemap::SitemapUrl> = found
            .into_iter()
            .map(|mut p| {
                p.url = canonicalize(&p.url);
                p
            })
            .filter(|p| job.follows(&scope, &p.url))
            .collect();
        let name = job.extractor.name();
        let unchanged = match &self.recrawl {
            Some(recrawl) => recrawl.mark_unchanged(name, &pages),
            None => 0,
        };
        info!(
            site = name,
            "sitemaps: {listed} pages listed, {} within the site's scope and patterns, {unchanged} unchanged since their last visit",
            pages.len()
        );
        let n = pages.len() as u64;
        for p in pages {
            if !job.start_urls.contains(&p.url) {
                job.start_urls.push(p.url);
            }
        }
        n
    }

    /// Crawls one site level by level: [`drive`](Self::drive) over the site's
    /// [`LevelFrontier`] with `concurrency` slots.
    async fn crawl_site(self: Arc<Self>, mut job: SiteJob) -> SiteReport {
        let started = Instant::now();
        let name = job.extractor.name();
        let from_sitemaps = if self.opts.uses_sitemap(job.extractor) {
            self.add_sitemap_urls(&mut job).await
        } else {
            0
        };
        let journal = match (&self.journal, &self.output) {
            (Some(journal), Some(output)) => Some(Journaling {
                journal: journal.clone(),
                output: output.clone(),
            }),
            _ => None,
        };
        let frontier = LevelFrontier::new(
            name,
            &job.start_urls,
            self.resume.get(name),
            self.opts.max_pages,
            journal,
            self.progress.clone(),
        );
        let slots = self.opts.concurrency;
        let driven = self.drive([job], Arc::new(frontier), slots).await;
        let mut report = SiteReport::new(name);
        report.sitemap_urls = from_sitemaps;
        for share in driven.sites {
            report.merge(share);
        }
        report.finish(started.elapsed().as_secs_f64());
        self.progress.site_done(name);
        report
    }

    /// Fetches (or renders) and extracts one URL, retrying transient failures. When `later`
    /// is given (it must be the one `cx` was built [with](Context::with_later)) and the
    /// extractor handed slow work to [`Context::later`], the outcome carries the links at
    /// once and the work in [`PageOutcome::unfinished`]; [`finish`](Self::finish) completes
    /// it.
    pub(crate) async fn process(
        &self,
        cx: &Context,
        url: Url,
        later: Option<&Later>,
    ) -> PageOutcome {
        let started = Instant::now();
        let mut result = PageOutcome::new(url.clone());
        result.pin = cx.session().and_then(|s| s.currency());
        if let Some(recrawl) = &self.recrawl
            && recrawl.take_unchanged(cx.site(), &url)
        {
            recrawl
                .carry(cx.site(), &mut result, Carry::Unchanged)
                .await;
            result.elapsed = started.elapsed();
            return result;
        }
        let mut attempt = 0;
        let domain = blocks::domain_of(&url);
        let outcome = loop {
            // Work kept by an attempt that then failed is not this page's.
            drop(later.map(Later::take));
            if let Err(e) = self.await_domain(&domain, &url, &mut result).await {
                break Err(e);
            }
            let limit = self.opts.page_timeout + Duration::from_secs(5);
            let res =
                match tokio::time::timeout(limit, self.fetch_and_extract(cx, &url, later)).await {
                    Ok(res) => res,
                    Err(_) => Err(ExtractError::Aborted {
                        url: url.to_string(),
                        message: format!("page took longer than {} s", limit.as_secs()),
                    }),
                };
            let gate = self.note_block(&domain, &url, &res, &mut result).await;
            if gate.is_some()
                && let Some(proxies) = &self.opts.proxies
            {
                proxies.blocked(
                    Some(cx.extractor().name()),
                    url.host_str().unwrap_or_default(),
                );
            }
            match res {
                Err(e) if matches!(gate, Some(Gate::Stopped(_))) => break Err(e),
                Err(e) if e.is_transient() && attempt < self.opts.retries => {
                    attempt += 1;
                    result.retries += 1;
                    result.retry_kinds.push(FailureKind::of(&e));
                    // A blocked page waits for its domain's pause, if any, at the top.
                    let delay = match gate {
                        Some(Gate::Paused(_)) => Duration::ZERO,
                        _ => retry_delay(&e, self.opts.retry_base, attempt)
                            .min(self.opts.max_retry_after.max(self.opts.retry_base)),
                    };
                    debug!(%url, attempt, "transient failure, retrying in {delay:?}: {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.cancel.cancelled() => break Err(e),
                    }
                }
                other => break other,
            }
        };
        match outcome {
            Ok((mut ex, reason, status, validators)) => {
                result.render_reason = reason;
                result.status = Some(status);
                result.etag = validators.etag;
                result.last_modified = validators.last_modified;
                let work = later.map(Later::take).unwrap_or_default();
                if let Some(recrawl) = &self.recrawl
                    && status == 304
                {
                    recrawl
                        .carry(cx.site(), &mut result, Carry::NotModified)
                        .await;
                } else if work.is_empty() {
                    self.keep(cx.extractor(), &mut result, ex);
                } else {
                    result.links = std::mem::take(&mut ex.links);
                    result.unfinished = Some(Unfinished { ex, work });
                }
            }
            Err(e) => {
                warn!(site = cx.site(), "{e}");
                if let ExtractError::Fetch(haul_core::FetchError::Status { status, .. }) = &e {
                    result.status = Some(*status);
                }
                result.error = Some(FailureKind::of(&e));
            }
        }
        result.elapsed = started.elapsed();
        result
    }

    /// Waits while the breaker pauses `domain`; fails the page when the domain is stopped
    /// (kind `domain_stopped`) or the crawl is cancelled meanwhile.
    async fn await_domain(
        &self,
        domain: &str,
        url: &Url,
        page: &mut PageOutcome,
    ) -> Result<(), ExtractError> {
        loop {
            match self.breaker.gate(domain).await {
                Gate::Open => return Ok(()),
                Gate::Stopped(stop) => {
                    page.block_stop = Some(stop);
                    return Err(haul_core::FetchError::DomainStopped {
                        url: url.to_string(),
                        domain: domain.to_string(),
                    }
                    .into());
                }
                Gate::Paused(wait) => {
                    debug!(%url, domain, "domain paused after blocks: waiting {wait:?}");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.cancel.cancelled() => {
                            return Err(haul_core::FetchError::Cancelled { url: url.to_string() }.into());
                        }
                    }
                }
            }
        }
    }

    /// Tells the breaker how an attempt went: a block (counted in the page, with the pause
    /// or stop it caused) or an answer that was not one. `None` for failures that say
    /// nothing about blocking (no answer).
    async fn note_block<T>(
        &self,
        domain: &str,
        url: &Url,
        res: &Result<T, ExtractError>,
        page: &mut PageOutcome,
    ) -> Option<Gate> {
        let vendor = match res {
            Ok(_) => {
                self.breaker.passed(domain).await;
                return None;
            }
            Err(e) => blocks::blocked_by(e)?,
        };
        page.blocks.push(vendor.to_string());
        let gate = self.breaker.blocked(domain, url, vendor).await;
        match &gate {
            Gate::Paused(wait) => {
                page.block_pauses += 1;
                warn!(%url, domain, vendor, "blocked: pausing the domain for {wait:?}");
            }
            Gate::Stopped(stop) => {
                warn!(%url, domain, vendor, blocks = stop.blocks, "blocked: stopping the domain");
                page.block_stop = Some(stop.clone());
            }
            Gate::Open => {}
        }
        Some(gate)
    }

    /// Completes a page that [`process`](Self::process) left [unfinished](PageOutcome::unfinished):
    /// runs the kept work (its own task, so that a panic is the page's failure, kind `panic`),
    /// adds its records and checks the whole extraction. Its links stay as they were.
    pub(crate) async fn finish(&self, ext: &'static dyn Extractor, page: &mut PageOutcome) {
        let Some(Unfinished { mut ex, work }) = page.unfinished.take() else {
            return;
        };
        let started = Instant::now();
        let done = tokio::spawn(async move {
            for w in work {
                ex.absorb(w.await);
            }
            ex
        })
        .await;
        match done {
            Ok(ex) => {
                let links = std::mem::take(&mut page.links);
                self.keep(ext, page, ex);
                page.links = links;
            }
            Err(e) => {
                warn!(url = %page.url, "finishing the page's extraction ended abnormally: {e}");
                page.error = Some(if e.is_panic() {
                    FailureKind::Panic
                } else {
                    FailureKind::Cancelled
                });
            }
        }
        page.elapsed += started.elapsed();
    }

    /// Checks `ex` (see [`Checked`]) and keeps what a crawl keeps of it in `page`.
    fn keep(&self, ext: &'static dyn Extractor, page: &mut PageOutcome, ex: Extraction) {
        let site = ext.name();
        let checked = Checked::new(ext, &page.url, ex);
        if let Some((kind, _)) = &checked.breach {
            warn!(site, url = %page.url, "contract broken: {}", checked.breach_message());
            page.breach = Some(*kind);
        }
        for w in &checked.warnings {
            debug!(site, "{w}");
        }
        for m in checked.dropped_messages() {
            warn!(site, "{m}");
        }
        page.warnings = checked.warning_count();
        page.links = checked.links;
        page.records = checked.records;
        if let Some(pin) = page.pin {
            for r in &page.records {
                if let Some(cur) = r.currency.filter(|c| *c != pin) {
                    warn!(site, url = %r.url, "record in {cur}, not in the pinned {pin}: the shop ignored the currency pin");
                    page.currency_mismatch += 1;
                    page.warnings += 1;
                }
            }
        }
    }

    /// Gets the document the way the render mode and the extractor ask for, then extracts.
    /// Returns the extraction, why the page was rendered (`None`: over HTTP only), and the
    /// HTTP status.
    async fn fetch_and_extract(
        &self,
        cx: &Context,
        url: &Url,
        later: Option<&Later>,
    ) -> Result<Got, ExtractError> {
        let ext = cx.extractor();
        let class = ext.classify(url);
        let need = class.render();
        let forced = match (self.opts.render, need) {
            (RenderMode::Never, _) => None,
            (RenderMode::Always, _) => Some(RenderReason::Always),
            (RenderMode::Auto, RenderNeed::Always) => Some(RenderReason::Extractor),
            (RenderMode::Auto, RenderNeed::Never) => None,
            (RenderMode::Auto, RenderNeed::Auto) => None,
        };
        if let Some(reason) = forced {
            return self.render_and_extract(cx, url, reason).await;
        }
        let auto =
            self.opts.render == RenderMode::Auto && need == RenderNeed::Auto && cx.has_pages();
        let kind = class.kind();
        let key = (ext.name(), kind);
        if auto && self.render_memory.render_first(key) {
            return self
                .render_and_extract(cx, url, RenderReason::Remembered)
                .await;
        }
        let mut req = FetchRequest::get(url.clone());
        if let Some(recrawl) = &self.recrawl {
            req.headers = recrawl.conditional(ext.name(), url);
        }
        let fetched = cx.fetcher().fetch(req).await;
        let doc = blocks::screen(ext, fetched.map_err(ExtractError::from))?;
        let status = doc.status;
        let validators = Validators::of(&doc);
        if status == 304 {
            // Not modified: the page's last records are carried forward by `process`.
            return Ok((Extraction::default(), None, status, validators));
        }
        // Kept to look for script evidence should the page give nothing over HTTP.
        let http_doc = auto.then(|| doc.clone());
        let ex = ext.extract(cx, doc).await?;
        let Some(http_doc) = http_doc else {
            return Ok((ex, None, status, validators));
        };
        if !ex.records.is_empty() {
            self.render_memory.note(key, false);
            return Ok((ex, None, status, validators));
        }
        let (product_like, found_links) = (render::product_like(url, kind), !ex.links.is_empty());
        let evidence = tokio::task::spawn_blocking(move || {
            render::script_evidence(&http_doc, product_like, found_links)
        })
        .await
        .unwrap_or(None);
        let Some(reason) = evidence else {
            return Ok((ex, None, status, validators));
        };
        // Slow work kept for the HTTP page (an LLM call on a script-built shell) is dropped:
        // the rendered page's extraction replaces it.
        drop(later.map(Later::take));
        debug!(%url, reason = reason.as_str(), "no records over HTTP and the page looks script-built: rendering");
        let rendered = self.render_and_extract(cx, url, reason).await?;
        if (!rendered.0.records.is_empty() || cx.later_pending())
            && self.render_memory.note(key, true)
        {
            info!(
                site = key.0,
                kind = key.1,
                "pages of this kind are script-built: rendering them directly from now on"
            );
        }
        Ok(rendered)
    }

    /// Renders `url` in a browser page and extracts; a main document with an error status
    /// fails like the same status over HTTP, and one the browser was redirected to must be
    /// admitted like a redirect hop over HTTP (within the site's scope, allowed by robots.txt),
    /// else nothing of it is extracted.
    async fn render_and_extract(
        &self,
        cx: &Context,
        url: &Url,
        reason: RenderReason,
    ) -> Result<Got, ExtractError> {
        let doc = render::check_status(blocks::screen(cx.extractor(), cx.render(url).await)?)?;
        if doc.url.as_str() != url.as_str() {
            drop(cx.fetcher().admit(&doc.url).await?);
        }
        let status = doc.status;
        let ex = cx.extractor().extract(cx, doc).await?;
        Ok((ex, Some(reason), status, Validators::default()))
    }
}

/// What getting and extracting a page gave: the extraction, why the page was rendered
/// (`None`: over HTTP only), the HTTP status and the answer's validators.
type Got = (Extraction, Option<RenderReason>, u16, Validators);

/// How long to wait before retry number `attempt` (1-based): the server's Retry-After when it
/// gave one, else exponential backoff from `base` with ±50% jitter so that retries of many
/// pages do not arrive together.
fn retry_delay(e: &ExtractError, base: Duration, attempt: u32) -> Duration {
    let backoff = base * 2u32.saturating_pow(attempt.saturating_sub(1));
    let jittered = backoff.mul_f64(0.5 + fastrand::f64());
    match e {
        ExtractError::Fetch(haul_core::FetchError::Status {
            retry_after: Some(s),
            ..
        }) => Duration::from_secs(*s).max(jittered),
        _ => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_honour_retry_after() {
        let transient = ExtractError::Fetch(haul_core::FetchError::Status {
            url: "u".into(),
            status: 503,
            retry_after: None,
            body: None,
        });
        let base = Duration::from_millis(100);
        for attempt in 1..=4 {
            let d = retry_delay(&transient, base, attempt);
            let nominal = base * 2u32.pow(attempt - 1);
            assert!(d >= nominal / 2 && d <= nominal * 3 / 2, "{attempt}: {d:?}");
        }
        let told = ExtractError::Fetch(haul_core::FetchError::Status {
            url: "u".into(),
            status: 429,
            retry_after: Some(3),
            body: None,
        });
        assert!(retry_delay(&told, base, 1) >= Duration::from_secs(3));
    }

    #[test]
    fn render_modes_by_label_as_in_settings() {
        let labels: Vec<String> = RenderMode::VALUES
            .iter()
            .map(|(m, ..)| m.to_string())
            .collect();
        assert_eq!(labels, ["never", "always", "auto"]);
        for label in labels {
            let mode: RenderMode = label.parse().unwrap();
            assert_eq!(serde_json::to_value(mode).unwrap(), label.as_str());
        }
        let e = "sometimes".parse::<RenderMode>().unwrap_err().to_string();
        assert_eq!(e, "\"sometimes\" is not one of never, always, auto");
    }
}
