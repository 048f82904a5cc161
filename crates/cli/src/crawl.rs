//! `haul crawl`: turns arguments into site jobs and services, runs the crawl, prints the
//! summary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use haul_core::{Extractor, Registry};
use haul_runner::{
    CancellationToken, CrawlOptions, Crawler, HttpFetcher, HttpOptions, Output, RenderMode,
    Services, SiteJob,
};
use url::Url;

use crate::args::{CrawlArgs, RenderArg};

/// Assigns start URLs to sites. Named sites get the start URLs they handle (all of them when
/// only one site is named) or their own defaults; without names, each URL picks its site.
pub(crate) fn plan_jobs(
    registry: &Registry,
    names: &[String],
    start_urls: &[Url],
) -> anyhow::Result<Vec<SiteJob>> {
    let mut jobs: BTreeMap<&'static str, (&'static dyn Extractor, Vec<Url>)> = BTreeMap::new();
    let mut order: Vec<&'static str> = Vec::new();
    for name in names {
        let e = registry.get(name)?;
        if jobs.insert(e.name(), (e, Vec::new())).is_none() {
            order.push(e.name());
        }
    }
    if jobs.len() == 1 {
        if let Some((_, urls)) = jobs.values_mut().next() {
            urls.extend(start_urls.iter().cloned());
        }
    } else {
        for url in start_urls {
            let site = if jobs.is_empty() {
                registry.for_url(url).with_context(|| {
                    format!("no site handles start URL {url}; name a site (see `haul sites`)")
                })?
            } else {
                jobs.values()
                    .map(|(e, _)| *e)
                    .find(|e| e.handles(url))
                    .with_context(|| {
                        format!(
                            "start URL {url} belongs to none of the named sites ({})",
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
        out.push(SiteJob {
            extractor: e,
            start_urls: urls,
        });
    }
    Ok(out)
}

pub(crate) async fn crawl(args: CrawlArgs) -> anyhow::Result<ExitCode> {
    let registry = haul_sites::registry()?;
    let jobs = plan_jobs(&registry, &args.sites, &args.start_urls)?;
    let path = args.output.clone().unwrap_or_else(|| PathBuf::from("-"));
    let output = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || Output::create(&path)).await??
    };
    let http = HttpOptions {
        user_agent: args
            .user_agent
            .clone()
            .unwrap_or_else(|| haul_core::http::DEFAULT_USER_AGENT.into()),
        timeout: Duration::from_secs(args.page_timeout),
        ..HttpOptions::default()
    };
    let fetcher = HttpFetcher::new(&http)?;
    let services = Services {
        fetcher: Arc::new(fetcher),
        pages: None,
        llm: None,
    };
    let opts = CrawlOptions {
        max_level: args.max_level,
        concurrency: args.concurrency,
        max_pages: args.max_pages,
        render: match args.render {
            RenderArg::Never => RenderMode::Never,
            RenderArg::Always => RenderMode::Always,
            RenderArg::Auto => RenderMode::Auto,
        },
        page_timeout: Duration::from_secs(args.page_timeout),
        retries: args.retries,
        ..CrawlOptions::default()
    };
    let cancel = CancellationToken::new();
    spawn_ctrl_c(cancel.clone());
    let crawler = Crawler::new(opts, services, output.sender(), cancel);
    let report = crawler.run(jobs).await;
    let written = output.finish().await.with_context(|| {
        format!(
            "records were extracted but the output {} failed",
            path.display()
        )
    })?;
    eprintln!("{report}");
    if path != std::path::Path::new("-") {
        eprintln!("wrote {written} records to {}", path.display());
    }
    if let Some(stats) = &args.stats {
        let json = serde_json::to_vec_pretty(&report)?;
        let p = stats.clone();
        tokio::task::spawn_blocking(move || std::fs::write(&p, json))
            .await?
            .with_context(|| format!("cannot write stats file {}", stats.display()))?;
    }
    if report.pages() > 0 && report.failed() == report.pages() {
        eprintln!("error: every page failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// First Ctrl-C: stop scheduling, let pages in flight finish, flush. Second: exit at once.
fn spawn_ctrl_c(cancel: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!(
            "stopping: finishing pages in flight and flushing output (Ctrl-C again to quit now)"
        );
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}
