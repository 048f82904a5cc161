//! [`Dispatcher`]: one task per target polling the store's outbox and delivering the events
//! due, in order; [`Dispatcher::drain`] waits (bounded) for what is pending at the end.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use haul_output::{Due, Outbox};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::deliver::{Outcome, attempt, dead_letter};
use crate::{DeliveryOptions, EventsError, Target};

/// Events asked from the outbox at once.
const BATCH: usize = 64;

/// Delivers a store's events to its targets, in the background.
#[derive(Debug)]
pub struct Dispatcher {
    store: PathBuf,
    keys: Vec<String>,
    tasks: JoinSet<()>,
    /// Set by `drain`: a task whose target has nothing pending ends.
    finishing: CancellationToken,
    /// Stops every task at once (the caller's cancel, or `drain`'s deadline).
    stop: CancellationToken,
}

/// What one target got, as the outbox tells after [`Dispatcher::drain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetReport {
    /// The target's outbox name (`webhook:URL`, `file:PATH`, `stdout`).
    pub target: String,
    /// Events delivered (over every run).
    pub sent: u64,
    /// Events given up on (in the dead-letter file).
    pub dead: u64,
    /// Events still to deliver (the next start sends them).
    pub pending: u64,
}

/// [`Dispatcher::drain`]'s account, one entry per target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Per target.
    pub targets: Vec<TargetReport>,
}

impl DrainReport {
    /// Events still pending over all targets.
    pub fn pending(&self) -> u64 {
        self.targets.iter().map(|t| t.pending).sum()
    }
}

/// What a target's task shares.
struct Ctx {
    client: reqwest::Client,
    opts: DeliveryOptions,
    finishing: CancellationToken,
    stop: CancellationToken,
}

/// Runs blocking outbox work off the runtime (the lock is taken inside the blocking task,
/// never across an `.await`).
async fn blocking<T: Send + 'static>(
    outbox: &Arc<Mutex<Outbox>>,
    f: impl FnOnce(&Outbox) -> Result<T, haul_output::OutputError> + Send + 'static,
) -> Result<T, EventsError> {
    let outbox = outbox.clone();
    tokio::task::spawn_blocking(move || {
        let guard = outbox.lock().map_err(|_| EventsError::Task("outbox"))?;
        f(&guard).map_err(EventsError::from)
    })
    .await
    .map_err(|_| EventsError::Task("outbox"))?
}

async fn open(store: &Path) -> Result<Arc<Mutex<Outbox>>, EventsError> {
    let p = store.to_path_buf();
    let outbox = tokio::task::spawn_blocking(move || Outbox::open(&p))
        .await
        .map_err(|_| EventsError::Task("outbox"))??;
    Ok(Arc::new(Mutex::new(outbox)))
}

impl Dispatcher {
    /// Registers `targets` in the store's outbox (a new target gets the events committed
    /// from now on; a known one also what it still had pending) and starts delivering.
    /// Cancelling `cancel` stops the deliveries: an attempt under way finishes and is
    /// marked, no new one starts; what is not delivered stays pending.
    pub async fn spawn(
        store: &Path,
        targets: Vec<Target>,
        opts: DeliveryOptions,
        cancel: CancellationToken,
    ) -> Result<Self, EventsError> {
        let client = haul_http::client_builder()
            .timeout(opts.timeout)
            .build()
            .map_err(|e| EventsError::Client(e.without_url().to_string()))?;
        let stop = cancel.child_token();
        let finishing = CancellationToken::new();
        let ctx = Arc::new(Ctx {
            client,
            opts,
            finishing: finishing.clone(),
            stop: stop.clone(),
        });
        let mut tasks = JoinSet::new();
        let mut keys = Vec::new();
        for target in targets {
            let key = target.key();
            let outbox = open(store).await?;
            let k = key.clone();
            blocking(&outbox, move |o| o.register(&k)).await?;
            tasks.spawn(run_target(ctx.clone(), outbox, target, key.clone()));
            keys.push(key);
        }
        Ok(Self {
            store: store.into(),
            keys,
            tasks,
            finishing,
            stop,
        })
    }

    /// Delivers what is pending for at most `within` (waiting out retry delays), then stops
    /// and reports; what is left stays pending for the next start.
    pub async fn drain(mut self, within: Duration) -> Result<DrainReport, EventsError> {
        self.finishing.cancel();
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(within, all).await.is_err() {
            self.stop.cancel();
            while self.tasks.join_next().await.is_some() {}
        }
        let outbox = open(&self.store).await?;
        let keys = self.keys.clone();
        blocking(&outbox, move |o| {
            let mut targets = Vec::new();
            for key in keys {
                targets.push(TargetReport {
                    sent: o.count(&key, "sent")?,
                    dead: o.count(&key, "dead")?,
                    pending: o.pending(&key)?,
                    target: key,
                });
            }
            Ok(DrainReport { targets })
        })
        .await
    }
}

/// One target's loop: take the due events, deliver them in order, mark each; sleep when
/// none is due; end when stopped, or when draining and nothing is pending.
async fn run_target(ctx: Arc<Ctx>, outbox: Arc<Mutex<Outbox>>, target: Target, key: String) {
    loop {
        if ctx.stop.is_cancelled() {
            return;
        }
        let k = key.clone();
        let due = match blocking(&outbox, move |o| o.due(&k, Utc::now(), BATCH)).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(target = key, "event outbox: {e}");
                Vec::new()
            }
        };
        if due.is_empty() {
            if ctx.finishing.is_cancelled() {
                let k = key.clone();
                if blocking(&outbox, move |o| o.pending(&k))
                    .await
                    .is_ok_and(|n| n == 0)
                {
                    return;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(ctx.opts.poll) => {}
                () = ctx.stop.cancelled() => return,
            }
            continue;
        }
        for d in due {
            // An attempt under way is finished and marked (bounded by the request timeout),
            // so a stop never leaves a delivered event unmarked to be sent again.
            if ctx.stop.is_cancelled() {
                return;
            }
            let outcome = attempt(&ctx.client, &target, &d.event, d.attempts + 1).await;
            match settle(&ctx, &outbox, &key, &d, outcome).await {
                Ok(None) => {}
                Ok(Some(pause)) => {
                    // The target is down or asked to slow down: it backs off as a whole
                    // (the rest of the batch waits too), honouring its Retry-After.
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = ctx.stop.cancelled() => return,
                    }
                    break;
                }
                Err(e) => tracing::warn!(target = key, event = d.event.id, "event outbox: {e}"),
            }
        }
    }
}

/// Marks one attempt's outcome: sent, pending with its next try, or dead (dead-lettered
/// first, so a dead mark always has its line). A retry returns its delay, for which the
/// whole target pauses.
async fn settle(
    ctx: &Ctx,
    outbox: &Arc<Mutex<Outbox>>,
    key: &str,
    d: &Due,
    outcome: Outcome,
) -> Result<Option<Duration>, EventsError> {
    let (id, attempts) = (d.event.id, d.attempts + 1);
    let k = key.to_string();
    let reason = match outcome {
        Outcome::Sent => {
            tracing::debug!(target = key, event = id, "event delivered");
            return blocking(outbox, move |o| o.sent(&k, id, attempts))
                .await
                .map(|()| None);
        }
        Outcome::Retry(why, after) if attempts < ctx.opts.attempts => {
            let delay = ctx.opts.backoff(attempts, after);
            tracing::info!(
                target = key,
                event = id,
                attempts,
                "event not delivered ({why}); retrying in {delay:?}"
            );
            let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            blocking(outbox, move |o| o.retry(&k, id, attempts, next, &why)).await?;
            return Ok(Some(delay));
        }
        Outcome::Retry(why, _) | Outcome::Fail(why) => why,
    };
    tracing::warn!(
        target = key,
        event = id,
        attempts,
        "event given up: {reason}"
    );
    if let Err(e) = dead_letter(&ctx.opts.dead_letter, key, &d.event, &reason, attempts).await {
        // Keep it pending rather than lose it: tried again later (or at the next start).
        tracing::warn!(target = key, event = id, "{e}");
        let next = Utc::now() + chrono::Duration::from_std(ctx.opts.max_delay).unwrap_or_default();
        blocking(outbox, move |o| o.retry(&k, id, attempts - 1, next, &e)).await?;
        return Ok(None);
    }
    blocking(outbox, move |o| o.dead(&k, id, attempts, &reason))
        .await
        .map(|()| None)
}
