//! Where the watch keeps each site's next run: the SQLite store's `schedule` table
//! ([`StoreNextRuns`]), or memory ([`MemoryNextRuns`], for tests and dry runs).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use haul_output::schedule::{ScheduleStore, SiteSchedule};

use crate::WatchError;

/// Keeps the next run of every watched site.
#[async_trait]
pub trait NextRuns: Send + Sync {
    /// What is kept of `site`, if it was ever scheduled.
    async fn load(&self, site: &str) -> Result<Option<SiteSchedule>, WatchError>;
    /// Plans `site`'s next run (before its first run, or after a schedule change).
    async fn plan(&self, site: &str, spec: &str, next: DateTime<Utc>) -> Result<(), WatchError>;
    /// Records a finished run and the next one.
    async fn finished(
        &self,
        site: &str,
        spec: &str,
        started: DateTime<Utc>,
        ended: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> Result<(), WatchError>;
}

/// The `schedule` table of a SQLite store, used off the runtime (`spawn_blocking`).
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
        f: impl FnOnce(&ScheduleStore) -> Result<T, haul_output::OutputError> + Send + 'static,
    ) -> Result<T, WatchError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let guard = store.lock().unwrap_or_else(PoisonError::into_inner);
            f(&guard)
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

    async fn finished(
        &self,
        site: &str,
        spec: &str,
        started: DateTime<Utc>,
        ended: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> Result<(), WatchError> {
        let (site, spec) = (site.to_string(), spec.to_string());
        self.with(move |s| s.finished(&site, &spec, started, ended, next))
            .await
    }
}

/// Next runs in memory (lost on exit).
#[derive(Debug, Clone, Default)]
pub struct MemoryNextRuns {
    sites: Arc<Mutex<HashMap<String, SiteSchedule>>>,
}

impl MemoryNextRuns {
    fn sites(&self) -> std::sync::MutexGuard<'_, HashMap<String, SiteSchedule>> {
        self.sites.lock().unwrap_or_else(PoisonError::into_inner)
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
        });
        e.spec = spec.into();
        e.next_run = next;
        Ok(())
    }

    async fn finished(
        &self,
        site: &str,
        spec: &str,
        started: DateTime<Utc>,
        ended: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> Result<(), WatchError> {
        self.plan(site, spec, next).await?;
        let mut sites = self.sites();
        if let Some(e) = sites.get_mut(site) {
            e.last_started = Some(started);
            e.last_finished = Some(ended);
            e.runs += 1;
        }
        Ok(())
    }
}
