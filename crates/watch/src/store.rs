//! Where the watch keeps each site's next run and lease: the SQLite store's `schedule` table
//! ([`StoreNextRuns`]), or memory ([`MemoryNextRuns`], for tests and dry runs).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use haul_output::schedule::{Claim, Lease, ScheduleStore, SiteSchedule};

use crate::WatchError;

/// Keeps the next run and the lease of every watched site. Every watch sharing one
/// `NextRuns` (in one process or, through one store file, in several) shares the leases: of
/// those claiming a site at once, exactly one runs it.
#[async_trait]
pub trait NextRuns: Send + Sync {
    /// What is kept of `site` (lease included), if it was ever scheduled.
    async fn load(&self, site: &str) -> Result<Option<SiteSchedule>, WatchError>;
    /// Plans `site`'s next run (before its first run, or after a schedule change), keeping
    /// its last run and its lease.
    async fn plan(&self, site: &str, spec: &str, next: DateTime<Utc>) -> Result<(), WatchError>;
    /// Claims `site`'s lease for `owner` until `until`, for a run at `now`, atomically
    /// against every other claim: [`Claim::NotDue`] when the kept next run is later than
    /// `now` (another watch ran it); else [`Claim::Held`] when another owner's lease lasts
    /// past `now`; else [`Claim::Claimed`], the lease now `owner`'s until `until`;
    /// [`Claim::Unplanned`] for a site never planned. Only `Claimed` changes anything.
    async fn claim(
        &self,
        site: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Claim, WatchError>;
    /// Extends `owner`'s lease of `site` to `until`: `true` when done; `false`, changing
    /// nothing, when the lease is not `owner`'s (another owner took it after it lapsed, or it
    /// was released).
    async fn renew(
        &self,
        site: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, WatchError>;
    /// Gives up `owner`'s lease of `site` (a run stopped by the cancellation); nothing when
    /// the lease is not `owner`'s. The next run stays as planned.
    async fn release(&self, site: &str, owner: &str) -> Result<(), WatchError>;
    /// Records a finished run and the next one and, in the same write, releases `owner`'s
    /// lease (another owner's stays).
    async fn finished(
        &self,
        site: &str,
        spec: &str,
        started: DateTime<Utc>,
        ended: DateTime<Utc>,
        next: DateTime<Utc>,
        owner: &str,
    ) -> Result<(), WatchError>;
}

/// The `schedule` table of a SQLite store, used off the runtime (`spawn_blocking`). Each
/// one is a connection of its own: two opened on one file behave as two processes do.
#[derive(Debug, Clone)]
pub struct StoreNextRuns {
    store: Arc<Mutex<ScheduleStore>>,
}

impl StoreNextRuns {
    /// Opens the store's schedule table (blocking: call it before the watch starts or from
    /// `spawn_blocking`).
    pub fn open(path: &Path) -> Result<Self, WatchError> {
        Ok(Self {
            store: Arc::new(Mutex::new(ScheduleStore::open(path)?)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut ScheduleStore) -> Result<T, haul_output::OutputError> + Send + 'static,
    ) -> Result<T, WatchError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| WatchError::Task(e.to_string()))?
        .map_err(WatchError::from)
    }
}

#[async_trait]
impl NextRuns for StoreNextRuns {
    async fn load(&self, site: &str) -> Result<Option<SiteSchedule>, WatchError> {
        let site = site.to_string();
        self.with(move |s| s.get(&site)).await
    }

    async fn plan(&self, site: &str, spec: &str, next: DateTime<Utc>) -> Result<(), WatchError> {
        let (site, spec) = (site.to_string(), spec.to_string());
        self.with(move |s| s.plan(&site, &spec, next)).await
    }

    async fn claim(
        &self,
        site: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Claim, WatchError> {
        let (site, owner) = (site.to_string(), owner.to_string());
        self.with(move |s| s.claim(&site, &owner, now, until)).await
    }

    async fn renew(
        &self,
        site: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, WatchError> {
        let (site, owner) = (site.to_string(), owner.to_string());
        self.with(move |s| s.renew(&site, &owner, until)).await
    }

    async fn release(&self, site: &str, owner: &str) -> Result<(), WatchError> {
        let (site, owner) = (site.to_string(), owner.to_string());
        self.with(move |s| s.release(&site, &owner)).await
    }

    async fn finished(
        &self,
        site: &str,
        spec: &str,
        started: DateTime<Utc>,
        ended: DateTime<Utc>,
        next: DateTime<Utc>,
        owner: &str,
    ) -> Result<(), WatchError> {
        let (site, spec, owner) = (site.to_string(), spec.to_string(), owner.to_string());
        self.with(move |s| s.finished(&site, &spec, started, ended, next, &owner))
            .await
    }
}

/// Next runs and leases in memory (lost on exit): shared by the watches of one process
/// that are given clones of it.
#[derive(Debug, Clone, Default)]
pub struct MemoryNextRuns {
    sites: Arc<Mutex<HashMap<String, SiteSchedule>>>,
}

impl MemoryNextRuns {
    fn sites(&self) -> std::sync::MutexGuard<'_, HashMap<String, SiteSchedule>> {
        self.sites.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases `owner`'s lease in `s`.
    fn let_go(s: &mut SiteSchedule, owner: &str) {
        if s.lease.as_ref().is_some_and(|l| l.owner == owner) {
            s.lease = None;
        }
    }
}

#[async_trait]
impl NextRuns for MemoryNextRuns {
    async fn load(&self, site: &str) -> Result<Option<SiteSchedule>, WatchError> {
        Ok(self.sites().get(site).cloned())
    }

    async fn plan(&self, site: &str, spec: &str, next: DateTime<Utc>) -> Result<(), WatchError> {
        let mut sites = self.sites();
        let e = sites.entry(site.into()).or_insert_with(|| SiteSchedule {
            site: site.into(),
            spec: spec.into(),
            next_run: next,
            last_started: None,
            last_finished: None,
            runs: 0,
            lease: None,
        });
        e.spec = spec.into();
        e.next_run = next;
        Ok(())
    }

    async fn claim(
        &self,
        site: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Claim, WatchError> {
        let mut sites = self.sites();
        let Some(s) = sites.get_mut(site) else {
            return Ok(Claim::Unplanned);
        };
        let claim = s.claim_for(owner, now);
        if claim == Claim::Claimed {
            s.lease = Some(Lease {
                owner: owner.into(),
                until,
            });
        }
        Ok(claim)
    }

    async fn renew(
        &self,
        site: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, WatchError> {
        let mut sites = self.sites();
        let lease = sites.get_mut(site).and_then(|s| s.lease.as_mut());
        Ok(match lease {
            Some(l) if l.owner == owner => {
                l.until = until;
                true
            }
            _ => false,
        })
    }

    async fn release(&self, site: &str, owner: &str) -> Result<(), WatchError> {
        if let Some(s) = self.sites().get_mut(site) {
            Self::let_go(s, owner);
        }
        Ok(())
    }

    async fn finished(
        &self,
        site: &str,
        spec: &str,
        started: DateTime<Utc>,
        ended: DateTime<Utc>,
        next: DateTime<Utc>,
        owner: &str,
    ) -> Result<(), WatchError> {
        self.plan(site, spec, next).await?;
        let mut sites = self.sites();
        if let Some(e) = sites.get_mut(site) {
            e.last_started = Some(started);
            e.last_finished = Some(ended);
            e.runs += 1;
            Self::let_go(e, owner);
        }
        Ok(())
    }
}
