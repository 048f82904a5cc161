//! The watch loop: one task per site, sleeping until the site's next run, claiming the
//! site's lease (so no other watch on the store runs it meanwhile), running it, and planning
//! (and storing) the one after.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use haul_output::schedule::{Claim, Lease};

use crate::lease::{Renewal, Renewer};
use crate::{Clock, Jitter, LeaseTimes, NextRuns, Schedule, WatchError, owner_id};

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

/// The watch: its sites, the jitter, the clock, and its owner id and lease times.
#[derive(Debug)]
pub struct Watch {
    sites: Vec<WatchedSite>,
    jitter: Jitter,
    clock: Clock,
    owner: String,
    lease: LeaseTimes,
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
            Some(t) => write!(f, " next_run={}", secs(t))?,
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
    owner: Arc<str>,
    lease: LeaseTimes,
}

/// The planned slot and the due time of a site's next run.
type Next = (DateTime<Utc>, DateTime<Utc>);

impl Watch {
    /// Watches `sites` with `jitter`, on the system clock, as owner [`owner_id`] with the
    /// default lease ([`LeaseTimes::default`]).
    pub fn new(sites: Vec<WatchedSite>, jitter: Jitter) -> Self {
        Self {
            sites,
            jitter,
            clock: Clock::default(),
            owner: owner_id(),
            lease: LeaseTimes::default(),
        }
    }

    /// Uses `clock` (tests start it at a chosen wall time).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Claims leases as `owner` (unique per watch: two watches with one owner id would both
    /// run a site).
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// Uses the lease times `lease`.
    pub fn with_lease(mut self, lease: LeaseTimes) -> Self {
        self.lease = lease;
        self
    }

    /// The owner id this watch claims leases as.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs every site on its schedule until `cancel` fires: a run in progress then gets the
    /// cancellation, flushes and ends, and its site's next run stays as it was (so a restarted
    /// watch runs it again). Before each run the site's lease is claimed in `store`; a site
    /// another watch is running (its lease live) is not run here: the loop waits and then
    /// follows the next run that watch kept. Fails (stopping every site) only when the
    /// store's schedule cannot be read or written.
    pub async fn run(
        self,
        runner: Arc<dyn SiteRun>,
        store: Arc<dyn NextRuns>,
        cancel: CancellationToken,
    ) -> Result<(), WatchError> {
        let owner: Arc<str> = self.owner.into();
        let mut loops = JoinSet::new();
        for site in self.sites {
            let l = SiteLoop {
                spec: site.schedule.spec(),
                jitter: self.jitter.for_site(&site.name),
                site,
                clock: self.clock,
                runner: runner.clone(),
                store: store.clone(),
                owner: owner.clone(),
                lease: self.lease,
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
            secs(due),
            self.spec
        );
        // Whether this wait for another watch's run was logged (once per wait).
        let mut told = false;
        loop {
            // Biased: once stopped, a due run (or a lease let go at the stop) starts nothing.
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok(()),
                () = self.clock.sleep_until(due) => {}
            }
            let now = self.clock.now();
            let until = now + chrono_duration(self.lease.ttl);
            match self.store.claim(&name, &self.owner, now, until).await? {
                Claim::Claimed => told = false,
                Claim::NotDue(next) => {
                    tracing::debug!(
                        target: "haul_watch",
                        "site {name}: run done by another watch, next at {}",
                        secs(next)
                    );
                    (planned, due, told) = (next, next, false);
                    continue;
                }
                Claim::Held(lease) => {
                    if !told {
                        tracing::info!(
                            target: "haul_watch",
                            "site {name}: running in another watch (owner {}, until {}), waiting",
                            lease.owner,
                            secs(lease.until)
                        );
                        told = true;
                    }
                    let Some(next) = self.wait_for(&lease, &cancel).await? else {
                        return Ok(());
                    };
                    (planned, due) = (next, next);
                    continue;
                }
                Claim::Unplanned => {
                    (planned, due) = self.first().await?;
                    continue;
                }
            }
            match self.run_once(planned, &cancel).await? {
                Some(next) => (planned, due) = next,
                None => return Ok(()),
            }
        }
    }

    /// Waits while another watch runs the site (until its lease could have lapsed, or for
    /// the poll interval), then reads the site's next run as kept in the store (that watch
    /// moves it on when its run ends); `None` when `cancel` fired meanwhile.
    async fn wait_for(
        &self,
        lease: &Lease,
        cancel: &CancellationToken,
    ) -> Result<Option<DateTime<Utc>>, WatchError> {
        let wake = lease
            .until
            .min(self.clock.now() + chrono_duration(self.lease.poll));
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(None),
            () = self.clock.sleep_until(wake) => {}
        }
        let kept = self.store.load(&self.site.name).await?;
        // Unplanned meanwhile: the next claim says so, and the site is planned again.
        Ok(Some(kept.map_or_else(|| self.clock.now(), |k| k.next_run)))
    }

    /// One run of the site, its lease claimed: renews the lease meanwhile, then records the
    /// run and plans the next (releasing the lease); `None` when the cancellation stopped
    /// the run (the lease released, the next run left as it was).
    async fn run_once(
        &mut self,
        planned: DateTime<Utc>,
        cancel: &CancellationToken,
    ) -> Result<Option<Next>, WatchError> {
        let name = self.site.name.clone();
        let started = self.clock.now();
        let t0 = tokio::time::Instant::now();
        let renewal = Renewal::start(Renewer {
            store: self.store.clone(),
            site: name.clone(),
            owner: self.owner.clone(),
            clock: self.clock,
            times: self.lease,
        });
        let summary = self.runner.run(&name, cancel.child_token()).await;
        renewal.stop().await;
        let took = t0.elapsed();
        let ended = self.clock.now();
        if summary.interrupted && cancel.is_cancelled() {
            if let Err(e) = self.store.release(&name, &self.owner).await {
                tracing::warn!(
                    target: "haul_watch",
                    "site {name}: lease not released ({e}): it lapses in {:?}",
                    self.lease.ttl
                );
            }
            let line = Line {
                site: &name,
                summary: &summary,
                took,
                next: None,
            };
            tracing::info!(target: "haul_watch", "{line}");
            return Ok(None);
        }
        let sched = &self.site.schedule;
        // Missed slots are skipped; a run that overran its slot is followed at once.
        let slot = sched.next_slot(planned, started)?.max(ended);
        let next = slot + chrono_duration(self.jitter.delay(sched.period_at(slot)));
        self.store
            .finished(&name, &self.spec, started, ended, next, &self.owner)
            .await?;
        let line = Line {
            site: &name,
            summary: &summary,
            took,
            next: Some(next),
        };
        tracing::info!(target: "haul_watch", "{line}");
        Ok(Some((slot, next)))
    }

    /// The planned slot and due time of the site's first run in this watch: as kept in the
    /// store when it was planned with the same schedule (at once when it is past); after a
    /// schedule change, the new schedule's first slot after the last run; a site never run
    /// runs at once.
    async fn first(&mut self) -> Result<Next, WatchError> {
        let now = self.clock.now();
        let kept = self.store.load(&self.site.name).await?;
        let (planned, due) = match kept {
            // Kept as is: writing it again could undo the next run another watch has just
            // planned after running the site.
            Some(k) if k.spec == self.spec => return Ok((k.next_run, k.next_run)),
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

/// `t` to the second, as the log lines show times.
pub(crate) fn secs(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
