//! `haul crawl`: turns arguments into site jobs and services, runs the crawl, prints the
//! summary.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use haul_core::{Extractor, Registry};
use haul_runner::{
    CancellationToken, CrawlOptions, Crawler, HttpFetcher, HttpOptions, Journal, Output,
    PoliteFetcher, Politeness, Recall, RenderMode, Services, SessionStore, SiteJob,
};
use tokio::signal::unix::{Signal, SignalKind};
use url::Url;

use crate::args::{CrawlArgs, LlmProviderArg, StartUrl};
use crate::settings::Settings;

/// Assigns start URLs to sites. A `SITE=URL` goes to that site; named sites get the other
/// start URLs they handle (all of them when only one site is named) or their own defaults;
/// without names, each URL picks its site.
pub(crate) fn plan_jobs(
    registry: &Registry,
    names: &[String],
    start: &[StartUrl],
) -> anyhow::Result<Vec<SiteJob>> {
    let mut jobs: BTreeMap<&'static str, (&'static dyn Extractor, Vec<Url>)> = BTreeMap::new();
    let mut order: Vec<&'static str> = Vec::new();
    for name in names {
        let e = registry.get(name)?;
        if jobs.insert(e.name(), (e, Vec::new())).is_none() {
            order.push(e.name());
        }
    }
    let mut start_urls = Vec::new();
    for s in start {
        match &s.site {
            Some(name) => {
                let e = registry.get(name)?;
                if !jobs.contains_key(e.name()) {
                    order.push(e.name());
                }
                jobs.entry(e.name())
                    .or_insert((e, Vec::new()))
                    .1
                    .push(s.url.clone());
            }
            None => start_urls.push(s.url.clone()),
        }
    }
    if jobs.len() == 1 {
        if let Some((_, urls)) = jobs.values_mut().next() {
            urls.extend(start_urls.iter().cloned());
        }
    } else {
        // Without site names, every URL picks its own site (not just the first one).
        let named = !jobs.is_empty();
        for url in &start_urls {
            let site = if !named {
                registry.for_url(url).with_context(|| {
                    format!("no site handles start URL {url}; name a site (see `haul sites`)")
                })?
            } else {
                jobs.values()
                    .map(|(e, _)| *e)
                    .find(|e| e.handles(url))
                    .with_context(|| {
                        format!(
                            "start URL {url} belongs to none of the named sites ({}); \
                             write it as SITE={url}",
                            order.join(", ")
                        )
                    })?
            };
            if !jobs.contains_key(site.name()) {
                order.push(site.name());
            }
            jobs.entry(site.name())
                .or_insert((site, Vec::new()))
                .1
                .push(url.clone());
        }
    }
    if jobs.is_empty() {
        bail!("nothing to crawl: name a site (see `haul sites`) or give --start-url URL");
    }
    let mut out = Vec::new();
    for name in order {
        let (e, mut urls) = jobs.remove(name).expect("planned site");
        if urls.is_empty() {
            urls = e.start_urls();
        }
        if urls.is_empty() {
            bail!("site {name:?} has no default start URL; give one with --start-url URL");
        }
        out.push(SiteJob::new(e, urls));
    }
    Ok(out)
}

pub(crate) async fn crawl(args: CrawlArgs, progress_allowed: bool) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load(args.engine.config.as_deref(), &args)?;
    settings.revalidate &= !args.no_revalidate;
    let registry = haul_sites::registry()?;
    let mut jobs = plan_jobs(&registry, &args.sites, &args.start_urls)?;
    let allow = compile(&settings.allow)?;
    let deny = compile(&settings.deny)?;
    for job in &mut jobs {
        job.allow = allow.clone();
        job.deny = deny.clone();
    }
    check_site_sessions(&registry, &settings)?;
    if let Some(redis) = &args.redis {
        if !crate::events::targets(&settings, &args.delivery)?.is_empty() {
            bail!(
                "event delivery (--events, --webhook, [[webhooks]], events.file) is not supported \
                 with --redis yet: crawl into the store without it"
            );
        }
        return crate::cluster::coordinate(&args, &settings, redis, &jobs).await;
    }
    let path = settings.output.clone();
    if args.resume && path == Path::new("-") {
        bail!("--resume needs the output file of the interrupted crawl (-o FILE)");
    }
    let store_options = crate::events::store_options(&settings)?;
    let output = open_output_with(&path, args.resume, &store_options).await?;
    let dispatcher = crate::events::start(&settings, &args.delivery, &path).await?;
    let state = match settings.state.clone() {
        Some(dir) => {
            let resume = args.resume;
            Some(tokio::task::spawn_blocking(move || Journal::open(&dir, resume)).await??)
        }
        None => None,
    };
    let private = private_network_allowed(&settings, jobs.iter().flat_map(|j| &j.start_urls));
    let (services, llm, pages) = build_services(&settings, None, private)?;
    let cancel = CancellationToken::new();
    spawn_ctrl_c(cancel.clone());
    let progress = crate::progress::for_stderr(progress_allowed && !args.no_progress);
    let (counted, _server) = match args.metrics {
        Some(addr) => {
            let (metrics, server) = serve_metrics(addr, &services).await?;
            (metrics.progress(progress.clone()), Some(server))
        }
        None => (progress.clone() as Arc<dyn haul_runner::Progress>, None),
    };
    let run = crawl_into(&settings, services, output, jobs, cancel, counted, state).await;
    progress.finish();
    if let Some(llm) = &llm {
        llm.shutdown().await;
    }
    if let Some(pages) = &pages {
        pages.close().await;
    }
    let (report, written) = run?;
    eprintln!("{report}");
    if path != Path::new("-") {
        eprintln!("wrote {written} records to {}", path.display());
    }
    write_stats(&settings, &report).await?;
    if let Some(d) = dispatcher {
        crate::events::finish(&settings, d).await?;
    }
    if report.pages() > 0 && report.failed() == report.pages() {
        eprintln!("error: every page failed");
        return Ok(ExitCode::FAILURE);
    }
    if report.sites.iter().any(|s| !s.block_stops.is_empty()) {
        // What was extracted is written; a scheduler still learns that a shop walled the
        // crawl off (the STOPPED line above says where and when).
        eprintln!("error: a domain was stopped after being blocked: the crawl is incomplete");
        return Ok(ExitCode::from(EXIT_DOMAIN_STOPPED));
    }
    Ok(ExitCode::SUCCESS)
}

/// The exit code of a crawl that ended with a domain stopped for blocking (its records are
/// written): not 1 (every page failed, or an error) nor 2 (a usage error).
pub(crate) const EXIT_DOMAIN_STOPPED: u8 = 3;

/// One local crawl of `jobs` into `output` (a `haul crawl`, a run of `haul watch`): the
/// engine built from `settings` on `services`, stopped by `cancel` (pages in flight finish,
/// the output is flushed), continuing `state`'s journal when given and keeping the sites'
/// sessions in `--state`. Returns the report and how many records were written.
pub(crate) async fn crawl_into(
    settings: &Settings,
    services: Services,
    output: Output,
    jobs: Vec<SiteJob>,
    cancel: CancellationToken,
    progress: Arc<dyn haul_runner::Progress>,
    state: Option<(
        Journal,
        std::collections::HashMap<String, haul_runner::SiteResume>,
    )>,
) -> anyhow::Result<(haul_runner::CrawlReport, u64)> {
    let mut crawler = Crawler::new(crawl_options(settings), services, output.sender(), cancel)
        .with_progress(progress);
    if let Some((journal, positions)) = state {
        crawler = crawler.with_state(journal, positions);
    }
    if let Some(dir) = &settings.state {
        crawler = crawler.with_sessions(SessionStore::in_state(dir));
    }
    if settings.revalidate {
        let path = output.path().to_path_buf();
        if let Some(recall) = tokio::task::spawn_blocking(move || Recall::open(&path)).await?? {
            tracing::info!(
                "{} pages remembered in {}: unchanged pages are carried forward",
                recall.len(),
                output.path().display()
            );
            crawler = crawler.with_recall(recall);
        }
    }
    let report = crawler.run(jobs).await;
    // How the crawl ended decides the store's `gone` events by absence; an output that
    // failed says so in `finish` below.
    let _ = (output.sender())
        .crawl_ended(crate::events::crawl_end(&report))
        .await;
    let path = output.path().to_path_buf();
    let written = output.finish().await.with_context(|| {
        format!(
            "records were extracted but the output {} failed",
            path.display()
        )
    })?;
    Ok((report, written))
}

/// Starts the `/metrics` endpoint on `addr`, with the gauges of `services`' pools.
pub(crate) async fn serve_metrics(
    addr: std::net::SocketAddr,
    services: &Services,
) -> anyhow::Result<(Arc<haul_metrics::Metrics>, haul_metrics::MetricsServer)> {
    let metrics = Arc::new(haul_metrics::Metrics::new());
    metrics.watch_pools(services.pages.clone(), services.llm.clone());
    let server = haul_metrics::MetricsServer::start(metrics.clone(), addr).await?;
    tracing::info!("metrics on http://{}/metrics", server.addr());
    Ok((metrics, server))
}

/// Fails on a `[sites.NAME]` table naming no registered site, naming it. (The engine lays
/// each table over its site's default session: `CrawlOptions::site_sessions`.)
pub(crate) fn check_site_sessions(registry: &Registry, settings: &Settings) -> anyhow::Result<()> {
    for name in settings.sites.keys() {
        registry
            .get(name)
            .with_context(|| format!("bad configuration: [sites.{name}]"))?;
    }
    Ok(())
}

/// Opens the output of a crawl or a collector: a new file, or (`append`: `--resume`,
/// `haul collect`) the existing file continued, its records not written again.
pub(crate) async fn open_output(path: &Path, append: bool) -> anyhow::Result<Output> {
    open_output_with(path, append, &haul_output::StoreOptions::default()).await
}

/// [`open_output`] with the SQLite store's change-event rules.
pub(crate) async fn open_output_with(
    path: &Path,
    append: bool,
    options: &haul_output::StoreOptions,
) -> anyhow::Result<Output> {
    let p = path.to_path_buf();
    let options = options.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Output> {
        if append {
            let (out, keys) = Output::open_append_with(&p, &options)?;
            if !keys.is_empty() {
                tracing::info!("{} records already in {}", keys.len(), p.display());
            }
            Ok(out)
        } else {
            Ok(Output::create_with(&p, &options)?)
        }
    })
    .await?
}

/// Saves the report as JSON to `--stats FILE`, when given.
pub(crate) async fn write_stats(
    settings: &Settings,
    report: &haul_runner::CrawlReport,
) -> anyhow::Result<()> {
    if let Some(stats) = &settings.stats {
        let json = serde_json::to_vec_pretty(report)?;
        let p = stats.clone();
        tokio::task::spawn_blocking(move || std::fs::write(&p, json))
            .await?
            .with_context(|| format!("cannot write stats file {}", stats.display()))?;
    }
    Ok(())
}

/// The services of a crawl (or of a worker): the polite HTTP fetcher (sharing per-domain
/// limits through `gate` when given), the page pool and the LLM pool.
pub(crate) type Built = (
    Services,
    Option<Arc<haul_llm::Pool>>,
    Option<Arc<dyn haul_core::PagePool>>,
);

/// Which private-network addresses a crawl may reach.
#[derive(Debug, Clone)]
pub(crate) struct PrivateAccess {
    /// The fetcher: any, with `--allow-private-network` or when a start URL is on one (a shop
    /// on this machine or the local network).
    pub(crate) fetcher: bool,
    /// Browser pages: every address with `--allow-private-network`, else only the private
    /// addresses the start URLs are on, so that a local shop's pages (its scripts, images,
    /// frames) still cannot reach the rest of the private network, and a public shop's reach
    /// none of it.
    pub(crate) browser: haul_browser::PrivateNetwork,
}

/// What the crawl of `start_urls` may reach of the private network.
pub(crate) fn private_network_allowed<'a>(
    settings: &Settings,
    start_urls: impl IntoIterator<Item = &'a Url>,
) -> PrivateAccess {
    use std::net::{IpAddr, Ipv6Addr};
    if settings.allow_private_network {
        return PrivateAccess {
            fetcher: true,
            browser: haul_browser::PrivateNetwork::Allow,
        };
    }
    let mut own: Vec<IpAddr> = Vec::new();
    for ip in start_urls
        .into_iter()
        .filter_map(haul_runner::private_literal)
    {
        // `localhost` is 127.0.0.1 and ::1 alike.
        let also = ip.is_loopback().then_some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        for ip in std::iter::once(ip).chain(also) {
            if !own.contains(&ip) {
                own.push(ip);
            }
        }
    }
    PrivateAccess {
        fetcher: !own.is_empty(),
        browser: if own.is_empty() {
            haul_browser::PrivateNetwork::Refuse
        } else {
            haul_browser::PrivateNetwork::Only(own)
        },
    }
}

pub(crate) fn build_services(
    settings: &Settings,
    cluster: Option<&haul_redis::Redis>,
    private: PrivateAccess,
) -> anyhow::Result<Built> {
    let http = HttpOptions {
        user_agent: settings.user_agent.clone(),
        timeout: Duration::from_secs(settings.page_timeout),
        allow_private_network: private.fetcher,
        max_body: settings.max_page_bytes as u64,
        proxies: settings.proxy_pool(),
        ..HttpOptions::default()
    };
    let mut fetcher = PoliteFetcher::new(
        HttpFetcher::new(&http)?,
        Politeness {
            obey_robots: !settings.ignore_robots,
            per_domain_concurrency: settings.per_domain_concurrency,
            delay: Duration::from_millis(settings.delay_ms),
            max_retry_after: Duration::from_secs(settings.max_retry_after),
            ..Politeness::default()
        },
    );
    if let Some(redis) = cluster {
        // Domain slots must outlive the slowest request (the page timeout) but free
        // themselves soon after a worker dies.
        let lease = Duration::from_secs(settings.page_timeout + 30);
        fetcher = fetcher.with_gate(Arc::new(haul_cluster::RedisDomainGate::new(redis, lease)));
    }
    let llm = start_llm(settings, cluster)?;
    let pages = start_pages(settings, private.browser)?;
    let services = Services {
        fetcher: Arc::new(fetcher),
        pages: pages.clone(),
        llm: llm.clone().map(|p| p as Arc<dyn haul_core::LlmPool>),
    };
    Ok((services, llm, pages))
}

/// The engine options from the settings.
pub(crate) fn crawl_options(settings: &Settings) -> CrawlOptions {
    CrawlOptions {
        max_level: settings.max_level,
        concurrency: settings.concurrency,
        global_concurrency: settings.global_concurrency,
        max_pages: settings.max_pages,
        render: settings.render,
        page_timeout: Duration::from_secs(settings.page_timeout),
        retries: settings.retries,
        grace: Duration::from_secs(settings.grace_secs),
        max_retry_after: Duration::from_secs(settings.max_retry_after),
        max_page_bytes: settings.max_page_bytes as u64,
        extract: settings.extract,
        min_confidence: settings.min_confidence,
        blocks: settings.breaker(),
        site_sessions: (settings.sites.iter())
            .map(|(name, s)| (name.clone(), s.session()))
            .collect(),
        proxies: settings.proxy_pool(),
        sitemap: settings.sitemap,
        site_sitemaps: (settings.sites.iter())
            .filter_map(|(name, s)| Some((name.clone(), s.sitemap?)))
            .collect(),
        ..CrawlOptions::default()
    }
}

/// The browser pages: a shared pool (or, with --no-pool, a browser per page) unless
/// --render never. Browsers launch lazily, on the first page that needs one. Without a
/// Chromium, `auto` goes on over plain HTTP with a warning and `always` is an error.
fn start_pages(
    settings: &Settings,
    private_network: haul_browser::PrivateNetwork,
) -> anyhow::Result<Option<Arc<dyn haul_core::PagePool>>> {
    if settings.render == RenderMode::Never {
        return Ok(None);
    }
    let mut cfg = haul_browser::BrowserConfig::default();
    if let Some(n) = settings.browsers {
        cfg.browsers = n;
    }
    if let Some(m) = settings.pages_per_browser {
        cfg.pages_per_browser = m;
    }
    cfg.chrome = settings.chrome.clone();
    cfg.retire_after = settings.retire_after;
    cfg.block_resources = !settings.load_resources;
    cfg.page_timeout = Duration::from_secs(settings.page_timeout);
    cfg.private_network = private_network;
    cfg.proxies = haul_browser::Upstream(settings.proxy_pool());
    if let Some(ua) = &settings.browser_user_agent {
        cfg.user_agent = ua.clone();
    }
    match haul_browser::page_pool(cfg, !settings.no_pool) {
        Ok(pool) => Ok(Some(pool)),
        Err(e) if settings.render == RenderMode::Auto => {
            tracing::warn!("{e}; crawling over plain HTTP only (--render never silences this)");
            Ok(None)
        }
        Err(e) => Err(anyhow::Error::new(e).context("--render always needs a browser")),
    }
}

/// Starts the process-wide LLM pool when keys are configured (`HAUL_LLM_KEYS`); none
/// otherwise, unless `--extract llm` asks for it, which is then an error.
/// With `cluster`, the keys' rate limits and cooldowns are shared through Redis.
fn start_llm(
    settings: &Settings,
    cluster: Option<&haul_redis::Redis>,
) -> anyhow::Result<Option<Arc<haul_llm::Pool>>> {
    let keys = std::env::var(haul_llm::KEYS_ENV).unwrap_or_default();
    if keys.trim().is_empty() {
        if settings.extract == haul_core::ExtractMode::Llm {
            bail!(
                "--extract llm needs LLM keys: set {} (comma-separated)",
                haul_llm::KEYS_ENV
            );
        }
        return Ok(None);
    }
    let provider = match settings.llm_provider {
        LlmProviderArg::Gemini => haul_llm::Provider::Gemini,
        LlmProviderArg::Openai => haul_llm::Provider::OpenAi,
    };
    let mut config = haul_llm::LlmConfig::from_keys_str(provider, &keys)
        .with_context(|| format!("bad {}", haul_llm::KEYS_ENV))?;
    if let Some(base) = &settings.llm_base_url {
        config.base_url = base.clone();
    }
    if let Some(model) = &settings.llm_model {
        config.model = model.clone();
    }
    let auto = llm_in_flight(config.keys.len(), settings.llm_rpm);
    config.workers = settings.llm_workers.unwrap_or(auto);
    config.max_in_flight = settings.llm_max_in_flight.unwrap_or(auto);
    config.per_key_rpm = settings.llm_rpm;
    config.per_key_burst = settings.llm_burst.unwrap_or(1);
    config.per_key_tpm = settings.llm_tpm;
    // A provider's Retry-After is capped like a shop's.
    config.cooldown_max = Duration::from_secs(settings.max_retry_after);
    config.validate().context("bad LLM configuration")?;
    let pool = match cluster {
        Some(redis) => {
            let gate = Arc::new(haul_cluster::llm::RedisKeyGate::new(redis, &config));
            haul_llm::Pool::start_with_gate(config, gate)
        }
        None => haul_llm::Pool::start(config),
    };
    Ok(Some(pool.context("cannot start the LLM pool")?))
}

pub(crate) fn compile(patterns: &[String]) -> anyhow::Result<Vec<regex::Regex>> {
    patterns
        .iter()
        .map(|p| {
            regex::Regex::new(p).with_context(|| format!("{p:?} is not a valid regular expression"))
        })
        .collect()
}

/// First Ctrl-C or SIGTERM (what `kill`, systemd and container runtimes send): stop
/// scheduling, let pages in flight finish, close the browsers, flush. A second one: exit at
/// once.
pub(crate) fn spawn_ctrl_c(cancel: CancellationToken) {
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(SignalKind::terminate()) {
            Ok(term) => Some(term),
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                None
            }
        };
        if stop_signal(&mut term).await.is_none() {
            return;
        }
        eprintln!(
            "stopping: finishing pages in flight and flushing output (Ctrl-C again to quit now)"
        );
        cancel.cancel();
        if let Some(code) = stop_signal(&mut term).await {
            std::process::exit(code);
        }
    });
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM; the exit code that signal calls for (130 or 143), or
/// `None` when no signal can be received.
async fn stop_signal(term: &mut Option<Signal>) -> Option<i32> {
    let sigterm = async {
        match term {
            Some(t) => t.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.ok().map(|()| 130),
        r = sigterm => r.map(|()| 143),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(s: &str) -> StartUrl {
        StartUrl {
            site: None,
            url: Url::parse(s).unwrap(),
        }
    }

    #[test]
    fn without_site_names_every_start_url_picks_its_own_site() {
        let registry = haul_sites::registry().unwrap();
        let jobs = plan_jobs(
            &registry,
            &[],
            &[
                start("http://127.0.0.1:1/a"),
                start("http://127.0.0.1:2/b"),
                start("https://slickdeals.net/"),
            ],
        )
        .unwrap();
        let got: Vec<(&str, usize)> = jobs
            .iter()
            .map(|j| (j.extractor.name(), j.start_urls.len()))
            .collect();
        assert_eq!(got, vec![("generic", 2), ("slickdeals", 1)]);
    }
}

/// LLM calls in flight (and worker tasks) when not configured: enough to keep every key busy
/// at its rate for answers of up to 2 s (`keys x rpm / 60 x 2`), else 4 per key; at least 20
/// (the pool's own default), at most 256.
pub(crate) fn llm_in_flight(keys: usize, rpm: Option<u32>) -> usize {
    let wanted = match rpm {
        Some(rpm) => (keys as f64 * f64::from(rpm) / 60.0 * 2.0).ceil() as usize,
        None => keys * 4,
    };
    wanted.clamp(20, 256)
}

#[cfg(test)]
mod in_flight_tests {
    use super::llm_in_flight;

    #[test]
    fn in_flight_calls_follow_the_keys_and_their_rate() {
        assert_eq!(llm_in_flight(1, None), 20);
        assert_eq!(llm_in_flight(3, Some(600)), 60);
        assert_eq!(llm_in_flight(10, Some(600)), 200);
        assert_eq!(llm_in_flight(10, None), 40);
        assert_eq!(llm_in_flight(100, Some(6000)), 256);
    }
}
