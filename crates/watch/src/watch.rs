//! The watch loop: one task per site, sleeping until the site's next run, running it, and
//! planning (and storing) the one after.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{Clock, Jitter, NextRuns, Schedule, WatchError};

/// A site to watch and its schedule.
#[derive(Debug, Clone)]
pub struct WatchedSite {
    /// The registered site name.
    pub name: String,
    /// When it runs.
    pub schedule: Schedule,
}

/// What one run of a site did (for its summary line).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Pages processed.
    pub pages: u64,
    /// Records written to the store.
    pub records: u64,
    /// Failed pages by failure kind (`http_404`, `timeout`...).
    pub failures: BTreeMap<String, u64>,
    /// Whether the run was stopped before it finished (Ctrl-C, SIGTERM).
    pub interrupted: bool,
    /// Why the run could not be done at all (the store could not be opened...).
    pub error: Option<String>,
}

/// Runs one crawl of a site into the store.
#[async_trait]
pub trait SiteRun: Send + Sync {
    /// Crawls `site` once; when `cancel` fires, stops scheduling pages, lets those in flight
    /// finish and flushes what was found (as `haul crawl` does on Ctrl-C).
    async fn run(&self, site: &str, cancel: CancellationToken) -> RunSummary;
}

/// The watch: its sites, the jitter and the clock.
#[derive(Debug)]
pub struct Watch {
    sites: Vec<WatchedSite>,
    jitter: Jitter,
    clock: Clock,
}

/// One summary line: `run done: site=demo pages=12 records=10 failures=none duration=1.2s
/// next_run=2026-01-01T01:00:00Z`.
struct Line<'a> {
    site: &'a str,
    summary: &'a RunSummary,
    took: Duration,
    next: Option<DateTime<Utc>>,
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.summary;
        let state = if s.interrupted { "interrupted" } else { "done" };
        write!(
            f,
            "run {state}: site={} pages={} records={} failures=",
            self.site, s.pages, s.records
        )?;
        if s.failures.values().all(|n| *n == 0) {
            f.write_str("none")?;
        } else {
            let kinds: Vec<String> = (s.failures.iter())
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k}:{n}"))
                .collect();
            f.write_str(&kinds.join(","))?;
        }
        write!(f, " duration={:.1}s", self.took.as_secs_f64())?;
        match self.next {
            Some(t) => write!(
                f,
                " next_run={}",
                t.to_rfc3339_opts(SecondsFormat::Secs, true)
            )?,
            None => f.write_str(" next_run=at-restart")?,
        }
        if let Some(e) = &s.error {
            write!(f, " error={e:?}")?;
        }
        Ok(())
    }
}

/// A site's loop: its schedule, its own jitter and where it stands.
struct SiteLoop {
    site: WatchedSite,
    spec: String,
    jitter: Jitter,
    clock: Clock,
    runner: Arc<dyn SiteRun>,
    store: Arc<dyn NextRuns>,
}

impl Watch {
    /// Watches `sites` with `jitter`, on the system clock.
    pub fn new(sites: Vec<WatchedSite>, jitter: Jitter) -> Self {
        Self {
            sites,
            jitter,
            clock: Clock::default(),
        }
    }

    /// Uses `clock` (tests start it at a chosen wall time).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Runs every site on its schedule until `cancel` fires: a run in progress then gets the
    /// cancellation, flushes and ends, and its site's next run stays as it was (so a restarted
    /// watch runs it again). Fails (stopping every site) only when the store's schedule
    /// cannot be read or written.
    pub async fn run(
        self,
        runner: Arc<dyn SiteRun>,
        store: Arc<dyn NextRuns>,
        cancel: CancellationToken,
    ) -> Result<(), WatchError> {
        let mut loops = JoinSet::new();
        for site in self.sites {
            let l = SiteLoop {
                spec: site.schedule.spec(),
                jitter: self.jitter.for_site(&site.name),
                site,
                clock: self.clock,
                runner: runner.clone(),
                store: store.clone(),
            };
            let cancel = cancel.clone();
            loops.spawn(async move { l.run(cancel).await });
        }
        let mut first_error = None;
        while let Some(done) = loops.join_next().await {
            let res = done
                .map_err(|e| WatchError::Task(e.to_string()))
                .and_then(|r| r);
            if let Err(e) = res {
                // Without a schedule store nothing is remembered: stop everything.
                cancel.cancel();
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl SiteLoop {
    async fn run(mut self, cancel: CancellationToken) -> Result<(), WatchError> {
        let name = self.site.name.clone();
        let (mut planned, mut due) = self.first().await?;
        tracing::info!(
            target: "haul_watch",
            "site {name}: first run at {} ({})",
            due.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.spec
        );
        loop {
            tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                () = self.clock.sleep_until(due) => {}
            }
            let started = self.clock.now();
            let t0 = tokio::time::Instant::now();
            let summary = self.runner.run(&name, cancel.child_token()).await;
            let took = t0.elapsed();
            let ended = self.clock.now();
            if summary.interrupted && cancel.is_cancelled() {
                let line = Line {
                    site: &name,
                    summary: &summary,
                    took,
                    next: None,
                };
                tracing::info!(target: "haul_watch", "{line}");
                return Ok(());
            }
            let sched = &self.site.schedule;
            // Missed slots are skipped; a run that overran its slot is followed at once.
            let slot = sched.next_slot(planned, started)?.max(ended);
            let next = slot + chrono_duration(self.jitter.delay(sched.period_at(slot)));
            self.store
                .finished(&name, &self.spec, started, ended, next)
                .await?;
            let line = Line {
                site: &name,
                summary: &summary,
                took,
                next: Some(next),
            };
            tracing::info!(target: "haul_watch", "{line}");
            (planned, due) = (slot, next);
        }
    }

    /// The planned slot and due time of the site's first run in this watch: as kept in the
    /// store when it was planned with the same schedule (at once when it is past); after a
    /// schedule change, the new schedule's first slot after the last run; a site never run
    /// runs at once.
    async fn first(&mut self) -> Result<(DateTime<Utc>, DateTime<Utc>), WatchError> {
        let now = self.clock.now();
        let kept = self.store.load(&self.site.name).await?;
        let (planned, due) = match kept {
            Some(k) if k.spec == self.spec => (k.next_run, k.next_run),
            Some(k) => {
                let from = k.last_started.unwrap_or(now);
                let slot = self.site.schedule.next_after(from)?;
                let due =
                    slot + chrono_duration(self.jitter.delay(self.site.schedule.period_at(slot)));
                (slot, due)
            }
            None => (now, now),
        };
        self.store.plan(&self.site.name, &self.spec, due).await?;
        Ok((planned, due))
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
