//! The level-by-level crawl of one or more sites.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haul_core::{
    Context, Document, ExtractError, Extraction, Extractor, FetchRequest, Fetcher, LlmPool,
    PagePool, RenderNeed,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use url::Url;

use crate::output::RecordSender;
use crate::report::{CrawlReport, SiteReport};
use crate::scope::{Scope, canonicalize};

/// When pages are rendered in a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    /// First retry delay; doubled on every further retry.
    pub retry_base: Duration,
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
    opts: CrawlOptions,
    services: Services,
    output: RecordSender,
    cancel: CancellationToken,
}

/// What processing one URL gave.
struct PageResult {
    url: Url,
    links: Vec<Url>,
    records: u64,
    warnings: u64,
    retries: u64,
    rendered: bool,
    elapsed: Duration,
    error: Option<String>,
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
            opts,
            services,
            output,
            cancel,
        }
    }

    /// Crawls every job concurrently (each site with its own concurrency limit) and returns
    /// the report once all are done or the crawl was cancelled.
    pub async fn run(self, jobs: Vec<SiteJob>) -> CrawlReport {
        let started = Instant::now();
        let this = Arc::new(self);
        let mut set = JoinSet::new();
        for (i, job) in jobs.into_iter().enumerate() {
            let this = this.clone();
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
        CrawlReport {
            sites: sites.into_iter().map(|(_, s)| s).collect(),
            elapsed_secs: started.elapsed().as_secs_f64(),
            interrupted: this.cancel.is_cancelled(),
            browser: this.services.pages.as_ref().map(|p| p.stats()),
            llm: this.services.llm.as_ref().map(|l| l.stats_json()),
        }
    }

    async fn crawl_site(self: Arc<Self>, job: SiteJob) -> SiteReport {
        let started = Instant::now();
        let ext = job.extractor;
        let mut report = SiteReport::new(ext.name());
        let scope = Scope::from_start_urls(&job.start_urls);
        let cx = Context::new(ext, self.services.fetcher.clone())
            .with_pages(self.services.pages.clone())
            .with_llm(self.services.llm.clone())
            .with_page_timeout(self.opts.page_timeout);
        let mut visited: HashSet<Url> = HashSet::new();
        let mut frontier: Vec<Url> = Vec::new();
        for u in &job.start_urls {
            let c = canonicalize(u);
            if visited.insert(c.clone()) {
                frontier.push(c);
            }
        }
        let mut scheduled: u64 = 0;
        for level in 0..=self.opts.max_level {
            if frontier.is_empty() || self.cancel.is_cancelled() {
                break;
            }
            info!(
                site = ext.name(),
                level,
                urls = frontier.len(),
                "level starts"
            );
            let mut next: Vec<Url> = Vec::new();
            let mut pending = std::mem::take(&mut frontier).into_iter();
            let mut running = JoinSet::new();
            loop {
                // Keep `concurrency` pages in flight: a new URL starts as soon as one finishes.
                while running.len() < self.opts.concurrency.max(1) && !self.cancel.is_cancelled() {
                    if self.opts.max_pages.is_some_and(|m| scheduled >= m) {
                        break;
                    }
                    let Some(url) = pending.next() else { break };
                    scheduled += 1;
                    let this = self.clone();
                    let cx = cx.clone().with_level(level);
                    running.spawn(async move { this.process(&cx, url).await });
                }
                let Some(done) = running.join_next().await else {
                    break;
                };
                let page = match done {
                    Ok(page) => page,
                    Err(e) => {
                        report.pages_failed += 1;
                        report.count_error(if e.is_panic() { "panic" } else { "cancelled" });
                        continue;
                    }
                };
                report.count_level(level);
                report.page_ms.push(page.elapsed.as_millis() as u64);
                report.records += page.records;
                report.warnings += page.warnings;
                report.retries += page.retries;
                report.rendered += u64::from(page.rendered);
                match page.error {
                    Some(kind) => {
                        report.pages_failed += 1;
                        report.count_error(kind);
                    }
                    None => report.pages_ok += 1,
                }
                if level < self.opts.max_level {
                    for link in page.links {
                        let link = canonicalize(&link);
                        if (scope.contains(&link) || ext.handles(&link))
                            && visited.insert(link.clone())
                        {
                            next.push(link);
                        }
                    }
                }
                debug!(site = ext.name(), url = %page.url, "page done");
            }
            frontier = next;
        }
        report.finish(started.elapsed().as_secs_f64());
        report
    }

    /// Fetches (or renders) and extracts one URL, retrying transient failures.
    async fn process(&self, cx: &Context, url: Url) -> PageResult {
        let started = Instant::now();
        let mut result = PageResult {
            url: url.clone(),
            links: Vec::new(),
            records: 0,
            warnings: 0,
            retries: 0,
            rendered: false,
            elapsed: Duration::ZERO,
            error: None,
        };
        let mut attempt = 0;
        let outcome = loop {
            let limit = self.opts.page_timeout + Duration::from_secs(5);
            let res = match tokio::time::timeout(limit, self.fetch_and_extract(cx, &url)).await {
                Ok(res) => res,
                Err(_) => Err(ExtractError::Aborted {
                    url: url.to_string(),
                    message: format!("page took longer than {} s", limit.as_secs()),
                }),
            };
            match res {
                Err(e) if e.is_transient() && attempt < self.opts.retries => {
                    attempt += 1;
                    result.retries += 1;
                    let delay = match &e {
                        ExtractError::Fetch(haul_core::FetchError::Status {
                            retry_after: Some(s),
                            ..
                        }) => Duration::from_secs(*s),
                        _ => self.opts.retry_base * 2u32.saturating_pow(attempt - 1),
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
            Ok((ex, rendered)) => {
                result.rendered = rendered;
                result.warnings = ex.warnings.len() as u64;
                for w in &ex.warnings {
                    debug!(site = cx.site(), "{w}");
                }
                result.links = ex.links;
                for record in ex.records {
                    let problems = record.problems();
                    if !problems.is_empty() {
                        result.warnings += 1;
                        warn!(site = cx.site(), "record dropped: {}", problems.join("; "));
                        continue;
                    }
                    if let Err(e) = self.output.send(record).await {
                        warn!("{e}; stopping the crawl");
                        self.cancel.cancel();
                        result.error = Some("output".into());
                        break;
                    }
                    result.records += 1;
                }
            }
            Err(e) => {
                warn!(site = cx.site(), "{e}");
                result.error = Some(error_kind(&e));
            }
        }
        result.elapsed = started.elapsed();
        result
    }

    /// Gets the document the way the render mode and the extractor ask for, then extracts.
    /// Returns the extraction and whether the page was rendered.
    async fn fetch_and_extract(
        &self,
        cx: &Context,
        url: &Url,
    ) -> Result<(Extraction, bool), ExtractError> {
        let ext = cx.extractor();
        let need = match self.opts.render {
            RenderMode::Never => RenderNeed::Never,
            RenderMode::Always => RenderNeed::Always,
            RenderMode::Auto => ext.render(url),
        };
        if need == RenderNeed::Always {
            let doc = cx.render(url).await?;
            return Ok((ext.extract(cx, doc).await?, true));
        }
        let doc = cx.fetcher().fetch(FetchRequest::get(url.clone())).await?;
        let script_built =
            need == RenderNeed::Auto && cx.has_pages() && looks_script_rendered(&doc);
        let ex = ext.extract(cx, doc).await?;
        if ex.records.is_empty() && script_built {
            debug!(%url, "no records over HTTP and the page looks script-built: rendering");
            let doc = cx.render(url).await?;
            return Ok((ext.extract(cx, doc).await?, true));
        }
        Ok((ex, false))
    }
}

/// A cheap test for pages whose content is written by scripts: little visible text, and
/// scripts or an empty application root.
fn looks_script_rendered(doc: &Document) -> bool {
    if doc.is_json() {
        return false;
    }
    let body = doc.body.as_str();
    let lower = body.to_ascii_lowercase();
    let scripts = lower.matches("<script").count();
    let empty_root = [
        "id=\"root\"></div>",
        "id=\"app\"></div>",
        "id=\"__next\"></div>",
    ]
    .iter()
    .any(|m| lower.contains(m));
    // Visible text estimate: strip tags roughly.
    let mut text_len = 0usize;
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag && !c.is_whitespace() => text_len += 1,
            _ => {}
        }
    }
    empty_root
        || (scripts > 0 && text_len < 2_000 && lower.contains("<noscript"))
        || (scripts > 0 && text_len < 200)
}

fn error_kind(e: &ExtractError) -> String {
    match e {
        ExtractError::Fetch(f) => f.kind(),
        ExtractError::Page(p) => match p {
            haul_core::PageError::NotConfigured { .. } => "no_browser".into(),
            haul_core::PageError::Timeout { .. } => "page_timeout".into(),
            haul_core::PageError::Crashed { .. } => "browser_crash".into(),
            _ => "browser".into(),
        },
        ExtractError::Llm(_) => "llm".into(),
        ExtractError::Unparseable { .. } => "unparseable".into(),
        ExtractError::Aborted { .. } => "aborted".into(),
        _ => "other".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_rendered_detection() {
        let u = Url::parse("http://x/").unwrap();
        let spa = Document::new(
            u.clone(),
            r#"<html><body><div id="root"></div><script src="/app.js"></script></body></html>"#,
        );
        assert!(looks_script_rendered(&spa));
        let plain = Document::new(
            u,
            format!(
                "<html><body><h1>Shop</h1><p>{}</p></body></html>",
                "text ".repeat(100)
            ),
        );
        assert!(!looks_script_rendered(&plain));
    }
}
