//! `haul watch` (the sites recrawled into a SQLite store on their schedules; the scheduling is
//! `haul-watch`'s) and `haul report` (the store's products as one HTML page, `haul-report`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use haul_core::async_trait;
use haul_runner::{CancellationToken, OutputFormat, Progress, Services, SiteJob};
use haul_watch::{Jitter, RunSummary, Schedule, SiteRun, StoreNextRuns, Watch, WatchedSite};

use crate::args::{ReportArgs, StartUrl, WatchArgs};
use crate::crawl::{
    build_services, check_site_sessions, compile, crawl_into, open_output_with, plan_jobs,
    private_network_allowed, serve_metrics, spawn_ctrl_c,
};
use crate::settings::Settings;

/// One run of a site: a normal crawl of that site into the store, as `haul crawl -o STORE`
/// does (so the store computes the same change events).
struct StoreRun {
    settings: Arc<Settings>,
    services: Services,
    jobs: HashMap<String, SiteJob>,
    store: PathBuf,
    /// The store's change-event rules (`[events]`, `[sites.NAME.events]`).
    rules: haul_output::StoreOptions,
    progress: Arc<dyn Progress>,
    metrics: Option<Arc<haul_metrics::Metrics>>,
}

#[async_trait]
impl SiteRun for StoreRun {
    async fn run(&self, site: &str, cancel: CancellationToken) -> RunSummary {
        let failed = |e: anyhow::Error| RunSummary {
            error: Some(format!("{e:#}")),
            ..RunSummary::default()
        };
        let Some(job) = self.jobs.get(site).cloned() else {
            return failed(anyhow::anyhow!("site {site} is not watched"));
        };
        let started = std::time::Instant::now();
        let since = chrono::Utc::now();
        let output = match open_output_with(&self.store, false, &self.rules).await {
            Ok(o) => o,
            Err(e) => return failed(e),
        };
        let services = self.services.clone();
        let run = crawl_into(
            &self.settings,
            services,
            output,
            vec![job],
            cancel,
            self.progress.clone(),
            None,
        );
        let (report, written) = match run.await {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        if let Some(m) = &self.metrics {
            if !report.interrupted {
                m.run_finished(site, started.elapsed());
            }
            self.count_events(m, site, since).await;
        }
        RunSummary {
            pages: report.pages(),
            records: written,
            failures: (report.sites.iter())
                .flat_map(|s| &s.errors)
                .map(|(kind, n)| (kind.label(), *n))
                .collect(),
            interrupted: report.interrupted,
            error: None,
        }
    }
}

impl StoreRun {
    /// Counts the change events the store recorded for `site` since `since` (this run's).
    async fn count_events(
        &self,
        metrics: &haul_metrics::Metrics,
        site: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) {
        let filter = haul_output::EventFilter {
            since: Some(since),
            site: Some(site.to_string()),
            kinds: Vec::new(),
        };
        let store = self.store.clone();
        let listed =
            tokio::task::spawn_blocking(move || haul_output::list_events(&store, &filter)).await;
        match listed {
            Ok(Ok(events)) => events.iter().for_each(|e| metrics.event(e.kind.label())),
            Ok(Err(e)) => tracing::warn!("the run's events are not counted: {e}"),
            Err(e) => tracing::warn!("the run's events are not counted: {e}"),
        }
    }
}

/// The store `haul watch` writes into: `-o` (or `output` in haul.toml), a SQLite store.
fn store_path(settings: &Settings) -> anyhow::Result<PathBuf> {
    let path = settings.output.clone();
    if path == Path::new("-") {
        bail!(
            "haul watch needs the SQLite store to crawl into: give -o store.db (or output = \"store.db\" in haul.toml)"
        );
    }
    let format = OutputFormat::for_path(&path)?;
    if format != OutputFormat::Sqlite {
        bail!(
            "haul watch writes into a SQLite store, not a {} file: give -o {} a .db extension",
            format.name(),
            path.display()
        );
    }
    Ok(path)
}

/// The watched sites with their jobs: the named sites and start URLs, else every
/// `[sites.NAME]` with a schedule; each with its schedule (`every`/`cron`, else `--every`).
fn plan(args: &WatchArgs, settings: &Settings) -> anyhow::Result<(Vec<WatchedSite>, Vec<SiteJob>)> {
    let registry = haul_sites::registry()?;
    check_site_sessions(&registry, settings)?;
    let mut names = args.sites.clone();
    if names.is_empty() && args.start_urls.is_empty() {
        names = (settings.sites.iter())
            .filter(|(_, s)| s.every.is_some() || s.cron.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        if names.is_empty() {
            bail!(
                "nothing to watch: name a site, give --start-url URL, or give a [sites.NAME] in haul.toml an `every` or `cron`"
            );
        }
    }
    let mut start: Vec<StartUrl> = args.start_urls.clone();
    for name in &names {
        if let Some(s) = settings.sites.get(name) {
            start.extend(s.start_urls.iter().map(|u| StartUrl {
                site: Some(name.clone()),
                url: u.clone(),
            }));
        }
    }
    let mut jobs = plan_jobs(&registry, &names, &start)?;
    let (allow, deny) = (compile(&settings.allow)?, compile(&settings.deny)?);
    let mut sites = Vec::new();
    for job in &mut jobs {
        job.allow = allow.clone();
        job.deny = deny.clone();
        let name = job.extractor.name();
        let own = settings.sites.get(name);
        let schedule = match (
            own.and_then(|s| s.every.as_deref()),
            own.and_then(|s| s.cron.as_deref()),
            &args.every,
        ) {
            (Some(every), _, _) => {
                Schedule::every(every).with_context(|| format!("sites.{name}.every"))?
            }
            (None, Some(cron), _) => {
                Schedule::cron(cron).with_context(|| format!("sites.{name}.cron"))?
            }
            (None, None, Some(every)) => Schedule::every(every).context("--every")?,
            (None, None, None) => bail!(
                "site {name} has no schedule: give --every INTERVAL, or `every` or `cron` in [sites.{name}]"
            ),
        };
        sites.push(WatchedSite {
            name: name.to_string(),
            schedule,
        });
    }
    Ok((sites, jobs))
}

/// `haul watch`.
pub(crate) async fn watch(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let settings = Arc::new(Settings::load(args.engine.config.as_deref(), &args)?);
    let store = store_path(&settings)?;
    let (sites, jobs) = plan(&args, &settings)?;
    let seed = args.jitter_seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let jitter = Jitter::new(args.jitter, seed)?;
    let next_runs = {
        let p = store.clone();
        tokio::task::spawn_blocking(move || StoreNextRuns::open(&p)).await??
    };
    let rules = crate::events::store_options(&settings)?;
    let private = private_network_allowed(&settings, jobs.iter().flat_map(|j| &j.start_urls));
    let (services, llm, pages) = build_services(&settings, None, private)?;
    // Events go out as each run commits them, and what is pending at a restart goes first.
    let dispatcher = crate::events::start(&settings, &args.delivery, &store).await?;
    let (metrics, _server) = match args.metrics {
        Some(addr) => {
            let (m, s) = serve_metrics(addr, &services).await?;
            (Some(m), Some(s))
        }
        None => (None, None),
    };
    let silent: Arc<dyn Progress> = Arc::new(haul_runner::Silent);
    let progress = metrics
        .as_ref()
        .map_or(silent.clone(), |m| m.progress(silent));
    let runner = StoreRun {
        settings: settings.clone(),
        services,
        jobs: jobs
            .into_iter()
            .map(|j| (j.extractor.name().to_string(), j))
            .collect(),
        store: store.clone(),
        rules,
        progress,
        metrics,
    };
    let cancel = CancellationToken::new();
    spawn_ctrl_c(cancel.clone());
    let count = sites.len();
    // Other watches on the store share the sites through leases in it, claimed as this owner.
    let watch = Watch::new(sites, jitter);
    tracing::info!(
        "watching {count} site(s) into {} as lease owner {}",
        store.display(),
        watch.owner()
    );
    let watched = watch
        .run(Arc::new(runner), Arc::new(next_runs), cancel)
        .await;
    if let Some(llm) = &llm {
        llm.shutdown().await;
    }
    if let Some(pages) = &pages {
        pages.close().await;
    }
    if let Some(d) = dispatcher {
        crate::events::finish(&settings, d).await?;
    }
    watched.context("haul watch stopped")?;
    Ok(ExitCode::SUCCESS)
}

/// `haul report -o prices.html`.
pub(crate) async fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if !args.store.exists() {
        bail!(
            "store {} does not exist (give --store STORE.db)",
            args.store.display()
        );
    }
    let ReportArgs {
        output,
        store,
        site,
    } = args;
    let out = output.clone();
    let products = tokio::task::spawn_blocking(move || {
        haul_report::write_report(&store, site.as_deref(), &out)
    })
    .await??;
    eprintln!("wrote {products} products to {}", output.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn watch_args(argv: &[&str]) -> WatchArgs {
        match crate::Cli::parse_from(argv).command {
            crate::Command::Watch(a) => *a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_readme_example_plans_every_site_with_its_schedule() {
        let readme = include_str!("../../../README.md");
        let (_, rest) = readme
            .split_once("A complete `haul.toml` for a watch:\n\n```toml\n")
            .expect("the README has the example");
        let (toml, _) = rest.split_once("```").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        std::fs::write(&cfg, toml).unwrap();
        let args = watch_args(&["haul", "watch", "--config", cfg.to_str().unwrap()]);
        let settings = Settings::load(args.engine.config.as_deref(), &args).unwrap();
        assert_eq!(store_path(&settings).unwrap(), Path::new("store.db"));
        let (sites, jobs) = plan(&args, &settings).unwrap();
        let got: Vec<(String, String)> = sites
            .iter()
            .map(|s| (s.name.clone(), s.schedule.spec()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("demo".to_string(), "every 1h".to_string()),
                ("shopify".to_string(), "cron 0 */6 * * *".to_string())
            ]
        );
        assert_eq!(jobs[1].start_urls[0].as_str(), "https://shop.example/");
    }

    #[test]
    fn bad_or_missing_schedules_and_stores_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        let c = cfg.to_str().unwrap();
        let plan_of = |argv: &[&str]| {
            let args = watch_args(argv);
            Settings::load(args.engine.config.as_deref(), &args)
                .and_then(|s| plan(&args, &s).map(drop))
        };
        std::fs::write(&cfg, "[sites.demo]\nevery = \"soon\"\n").unwrap();
        let e = format!(
            "{:#}",
            plan_of(&["haul", "watch", "--config", c]).unwrap_err()
        );
        assert!(e.contains("sites.demo.every") && e.contains("soon"), "{e}");
        std::fs::write(&cfg, "[sites.demo]\nevery = \"1h\"\ncron = \"* * * * *\"\n").unwrap();
        let e = format!(
            "{:#}",
            plan_of(&["haul", "watch", "--config", c]).unwrap_err()
        );
        assert!(e.contains("not both"), "{e}");
        std::fs::write(&cfg, "").unwrap();
        let e = format!(
            "{:#}",
            plan_of(&[
                "haul",
                "watch",
                "--config",
                c,
                "demo",
                "--start-url",
                "http://127.0.0.1:1/"
            ])
            .unwrap_err()
        );
        assert!(e.contains("site demo has no schedule"), "{e}");
        assert!(
            plan_of(&[
                "haul",
                "watch",
                "--config",
                c,
                "demo",
                "--start-url",
                "http://127.0.0.1:1/",
                "--every",
                "2h"
            ])
            .is_ok()
        );
        let args = watch_args(&["haul", "watch", "--config", c, "-o", "x.jsonl"]);
        let s = Settings::load(args.engine.config.as_deref(), &args).unwrap();
        assert!(format!("{:#}", store_path(&s).unwrap_err()).contains("SQLite store"));
    }
}
