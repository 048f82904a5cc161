//! `haul crawl --redis`, `haul worker` and `haul collect`: the command-line side of a crawl
//! shared by worker processes through Redis (the logic is in haul-cluster).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use haul_cluster::{CollectOptions, CrawlSpec, WorkerOptions};
use haul_redis::Redis;
use haul_runner::{CancellationToken, CrawlReport, Output, RecordSender, SiteJob};

use crate::args::{CollectArgs, CrawlArgs, WorkerArgs};
use crate::crawl::{
    build_services, crawl_options, open_output, private_network_allowed, spawn_ctrl_c, write_stats,
};
use crate::settings::Settings;

async fn connect(url: &str) -> anyhow::Result<Redis> {
    Redis::connect(url)
        .await
        .context("cannot reach the crawl's Redis (--redis)")
}

/// Collects into `output` until the crawl is finished or Ctrl-C; returns the records
/// written and whether the crawl finished.
async fn collect_into(
    redis: &Redis,
    opts: &CollectOptions,
    output: Output,
) -> anyhow::Result<(u64, bool)> {
    let cancel = CancellationToken::new();
    spawn_ctrl_c(cancel.clone());
    let sender: RecordSender = output.sender();
    let res = haul_cluster::collect(redis, opts, &sender, &cancel).await;
    drop(sender);
    let path = output.path().to_path_buf();
    // Whatever happened, what was received is flushed.
    let written = output
        .finish()
        .await
        .with_context(|| format!("the output {} failed", path.display()))?;
    let collected = res.context("collecting the crawl's records failed")?;
    Ok((written, collected.finished))
}

/// `haul crawl --redis URL`: enqueue the planned jobs, then (unless --detach) write the
/// records as workers produce them and print the crawl's shared counters.
pub(crate) async fn coordinate(
    args: &CrawlArgs,
    settings: &Settings,
    redis_url: &str,
    jobs: &[SiteJob],
) -> anyhow::Result<ExitCode> {
    if settings.state.is_some() || args.resume {
        bail!(
            "--state/--resume are for local crawls; a crawl with --redis keeps its state in Redis \
             (run `haul collect` to pick its records up again)"
        );
    }
    let redis = connect(redis_url).await?;
    let mut spec = CrawlSpec::from_jobs(jobs, settings.max_level, settings.max_pages);
    spec.keep_finished_secs = args.keep_finished;
    let sites: Vec<String> = spec.sites.iter().map(|s| s.site.clone()).collect();
    let enqueued = haul_cluster::enqueue(&redis, &args.crawl_id, spec, args.fresh).await?;
    eprintln!(
        "enqueued crawl {:?} ({} start URLs) on {}; start workers with: haul worker --redis {} --crawl-id {}",
        args.crawl_id,
        enqueued.urls,
        redis.url(),
        redis.url(),
        args.crawl_id
    );
    if args.detach {
        return Ok(ExitCode::SUCCESS);
    }
    let started = std::time::Instant::now();
    let rules = crate::events::store_options(settings)?;
    let output = crate::crawl::open_output_with(&settings.output, false, &rules).await?;
    let mut opts = CollectOptions::new(&args.crawl_id);
    opts.name = "coordinator".into();
    let (written, finished) = collect_into(&redis, &opts, output).await?;
    let elapsed_secs = started.elapsed().as_secs_f64();
    let shares = haul_cluster::site_reports(&redis, &args.crawl_id, &sites).await?;
    let report = CrawlReport::from_shares(&sites, shares, elapsed_secs, !finished);
    eprintln!("{report}");
    if settings.output != Path::new("-") {
        eprintln!("wrote {written} records to {}", settings.output.display());
    }
    write_stats(settings, &report).await?;
    if !finished {
        eprintln!(
            "interrupted: the records so far are written; the crawl goes on in Redis \
             (`haul collect --redis {} --crawl-id {}` writes the rest)",
            redis.url(),
            args.crawl_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `haul worker --redis URL`.
pub(crate) async fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(args.engine.config.as_deref(), &args)?;
    let redis_url = args.redis.clone();
    let redis = connect(&redis_url).await?;
    let cancel = CancellationToken::new();
    spawn_ctrl_c(cancel.clone());
    let wait = args.wait_secs.map(Duration::from_secs);
    let Some(spec) = haul_cluster::wait_for_spec(&redis, &args.crawl_id, wait, &cancel).await?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let start_urls = spec.sites.iter().flat_map(|s| &s.start_urls);
    let private = private_network_allowed(&settings, start_urls);
    let (mut services, llm, pages) = build_services(&settings, Some(&redis), private)?;
    let name = match &args.worker_name {
        Some(n) => n.clone(),
        None => haul_cluster::default_name().await,
    };
    let stop_serving = CancellationToken::new();
    let mut serving = None;
    let mut remote = None;
    match &llm {
        // This worker's keys also answer the LLM tasks of workers without keys.
        Some(pool) => {
            let conn = connect(&redis_url).await?;
            let pool_keys = pool.stats().keys.len();
            let pool = pool.clone() as Arc<dyn haul_core::LlmPool>;
            let (crawl, stop) = (args.crawl_id.clone(), stop_serving.clone());
            let opts = haul_cluster::llm::ServeOptions {
                consumer: format!("{name}-llm"),
                concurrency: settings
                    .llm_max_in_flight
                    .unwrap_or_else(|| crate::crawl::llm_in_flight(pool_keys, settings.llm_rpm)),
                ..haul_cluster::llm::ServeOptions::default()
            };
            serving = Some(tokio::spawn(async move {
                haul_cluster::llm::serve_llm(conn, &crawl, pool, opts, stop).await
            }));
        }
        None if args.llm_via_redis => {
            let conn = connect(&redis_url).await?;
            let r = haul_cluster::llm::RedisLlm::start(
                conn,
                &args.crawl_id,
                haul_cluster::llm::RedisLlmOptions::default(),
            )
            .await?;
            services.llm = Some(r.clone() as Arc<dyn haul_core::LlmPool>);
            remote = Some(r);
        }
        None => {}
    }
    let mut opts = WorkerOptions::new(&args.crawl_id, name);
    opts.concurrency = settings.concurrency;
    if let Some(secs) = args.visibility_timeout {
        if secs == 0 {
            bail!("--visibility-timeout must be at least 1 second");
        }
        opts.visibility_timeout = Duration::from_secs(secs);
    }
    opts.wait_for_crawl = args.wait_secs.map(Duration::from_secs);
    let mut _metrics_server = None;
    if let Some(addr) = args.metrics {
        let (metrics, server) = crate::crawl::serve_metrics(addr, &services).await?;
        opts.progress = metrics.progress(Arc::new(haul_runner::Silent));
        _metrics_server = Some(server);
    }
    let registry = haul_sites::registry()?;
    crate::crawl::check_site_sessions(&registry, &settings)?;
    let res = haul_cluster::run_worker(
        &redis,
        &registry,
        opts,
        crawl_options(&settings),
        services,
        cancel,
    )
    .await;
    stop_serving.cancel();
    if let Some(serving) = serving {
        match serving.await {
            Ok(Ok(stats)) => tracing::debug!(?stats, "served LLM tasks of other workers"),
            Ok(Err(e)) => tracing::warn!("serving LLM tasks of other workers stopped: {e}"),
            Err(e) => tracing::warn!("serving LLM tasks of other workers failed: {e}"),
        }
    }
    if let Some(remote) = &remote {
        remote.shutdown().await;
    }
    if let Some(llm) = &llm {
        llm.shutdown().await;
    }
    if let Some(pages) = &pages {
        pages.close().await;
    }
    let report = res.context("the worker stopped")?;
    eprintln!("{report}");
    write_stats(&settings, &report).await?;
    Ok(ExitCode::SUCCESS)
}

/// `haul collect --redis URL -o FILE`.
pub(crate) async fn collect(args: CollectArgs) -> anyhow::Result<ExitCode> {
    let redis = connect(&args.redis).await?;
    let output = open_output(&args.output, true).await?;
    let mut opts = CollectOptions::new(&args.crawl_id);
    opts.name = args.name.clone();
    let (written, finished) = collect_into(&redis, &opts, output).await?;
    if args.output != Path::new("-") {
        eprintln!("wrote {written} records to {}", args.output.display());
    }
    if !finished {
        eprintln!("interrupted before the crawl finished; run haul collect again to go on");
    }
    Ok(ExitCode::SUCCESS)
}
