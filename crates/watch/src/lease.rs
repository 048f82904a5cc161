//! The lease that keeps a site's runs to one watch at a time, across processes: its times,
//! the owner id of this process, and the task that renews it while a run goes on.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Clock, NextRuns};

/// How long a lease lasts unless renewed: what a crashed watch holds a site up by, at most.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(60);

/// The lease's times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimes {
    /// How long a claimed or renewed lease lasts.
    pub ttl: Duration,
    /// How often a running site's lease is renewed (well within `ttl`).
    pub renew_every: Duration,
    /// How often a watch waiting for another's run looks at the store again (at the latest:
    /// it also looks when the other's lease would lapse).
    pub poll: Duration,
}

impl Default for LeaseTimes {
    /// A 60 s lease renewed every 20 s; a waiting watch looks again every 5 s.
    fn default() -> Self {
        Self::with_ttl(DEFAULT_LEASE_TTL)
    }
}

impl LeaseTimes {
    /// A lease of `ttl`, renewed every third of it; a waiting watch looks again every 5 s
    /// (or every third of `ttl`, if shorter).
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            ttl,
            renew_every: ttl / 3,
            poll: (ttl / 3).min(Duration::from_secs(5)),
        }
    }
}

/// This process's owner id: `host:pid:random` (the random part tells apart two watches of
/// one process, and a pid reused after a crash).
pub fn owner_id() -> String {
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy();
    let host = if host.is_empty() { "localhost" } else { &host };
    format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
}

/// The task renewing a running site's lease every `renew_every`; stopped (and, when
/// dropped, aborted) when the run ends.
pub(crate) struct Renewal {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// What the renewing task needs.
pub(crate) struct Renewer {
    pub(crate) store: Arc<dyn NextRuns>,
    pub(crate) site: String,
    pub(crate) owner: Arc<str>,
    pub(crate) clock: Clock,
    pub(crate) times: LeaseTimes,
}

impl Renewal {
    /// Starts renewing.
    pub(crate) fn start(r: Renewer) -> Self {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut lost = false;
            loop {
                tokio::select! {
                    () = token.cancelled() => return,
                    () = tokio::time::sleep(r.times.renew_every) => {}
                }
                lost = r.renew(lost).await;
            }
        });
        Self {
            stop,
            task: Some(task),
        }
    }

    /// Stops renewing; returns once no renewal is under way.
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            // A panic in it was logged by tokio; the lease then lapses after its TTL.
            let _ = task.await;
        }
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Renewer {
    /// Renews once; whether the lease is lost (logged once, when it is first found lost).
    async fn renew(&self, lost: bool) -> bool {
        let (site, ttl) = (&self.site, self.times.ttl);
        let until = self.clock.now() + crate::watch::chrono_duration(ttl);
        match self.store.renew(site, &self.owner, until).await {
            Ok(true) => false,
            Ok(false) => {
                if !lost {
                    let holder = match self.store.load(site).await {
                        Ok(Some(s)) => s.lease.map_or("nobody".to_string(), |l| {
                            format!("owner {}, until {}", l.owner, crate::watch::secs(l.until))
                        }),
                        Ok(None) | Err(_) => "unknown".to_string(),
                    };
                    tracing::warn!(
                        target: "haul_watch",
                        "site {site}: lease lost while running (now held by {holder}): this watch \
                         (owner {}) was held up past the {ttl:?} lease; the run goes on",
                        self.owner
                    );
                }
                true
            }
            Err(e) => {
                tracing::warn!(target: "haul_watch", "site {site}: lease not renewed: {e}");
                lost
            }
        }
    }
}
