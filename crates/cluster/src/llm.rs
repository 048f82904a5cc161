//! LLM work shared by the processes of a crawl, on Redis: [`RedisKeyGate`] makes every
//! process's [`haul_llm::Pool`] respect each API key's limits together, and the LLM task
//! queue ([`RedisLlm`] on the asking side, [`serve_llm`] on the side with API keys) lets
//! workers without keys use the keys of others.
//!
//! # Shared key limits
//!
//! [`RedisKeyGate`] implements [`haul_llm::KeyGate`] on a [`SharedRateLimit`] in namespace
//! `llm:{provider}`, keyed on each key's *fingerprint* ([`haul_llm::GateKey::fingerprint`]: 16
//! hex digits of a domain-separated SHA-256 of the secret), not its label: two machines given
//! the same keys in a different order (`key#1` here is `key#2` there) still share one limit
//! per key, and nothing in Redis reveals a key. The namespace is not crawl-scoped, so
//! concurrent crawls on one Redis share the limits too (the provider counts per key, not per
//! crawl). The rate is the configuration's `per_key_rpm` with its `per_key_burst` and
//! [`LlmConfig::pacing_guard`], the same bucket the pool paces with locally (and, like the
//! pool's own check, taken right before the request goes out); HTTP 429 cooldowns are shared as pauses of the key. The
//! tokens-per-minute budget (`per_key_tpm`) stays per process.
//!
//! ```no_run
//! # async fn demo(redis: haul_redis::Redis, config: haul_llm::LlmConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let gate = haul_cluster::llm::RedisKeyGate::new(&redis, &config);
//! let pool = haul_llm::Pool::start_with_gate(config, Arc::new(gate))?;
//! # Ok(()) }
//! ```
//!
//! # The LLM task queue
//!
//! A [`RedisLlm`] (an [`LlmPool`]) pushes each task to the crawl's job queue
//! `haul:{crawl}:queue:llm` with a unique id and its own reply queue, then waits for the
//! answer on that reply queue (`haul:{crawl}:queue:llm-reply:{requester}`, read by one
//! background reader per [`RedisLlm`]) up to a timeout. [`serve_llm`] takes tasks from the
//! queue (at most `concurrency` at once), runs them on a local pool and pushes the answer or
//! error back; tasks of a server that died are reclaimed after `reclaim_idle` and run again
//! (at-least-once; a late duplicate answer is ignored), and tasks delivered too often are
//! dead-lettered and answered with an error. A task whose asker gave up (its deadline passed)
//! is dropped unrun, to save the keys' quota.
//!
//! Both sides make blocking reads: give each its own [`Redis`] handle (`Redis::connect`
//! again with the same URL), because blocking reads on one handle are served one after the
//! other and would wait behind, say, the frontier's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haul_core::{LlmAnswer, LlmError, LlmFailureKind, LlmPool, LlmTask};
use haul_llm::{GateError, GateKey, KeyGate, LlmConfig};
use haul_redis::{Job, JobQueue, Rate, Redis, RedisError, SharedRateLimit};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// The name of the crawl's LLM task queue (`haul:{crawl}:queue:llm`).
pub const LLM_QUEUE: &str = "llm";

/// [`JobQueue`] names of reply queues start with this, followed by the requester id.
const REPLY_QUEUE_PREFIX: &str = "llm-reply:";

/// How long one blocking read waits before checking for shutdown.
const READ_BLOCK: Duration = Duration::from_secs(1);

/// Shares each API key's request rate and HTTP 429 cooldowns among every process using the
/// same Redis (see the [module documentation](self)). Cheap to clone.
#[derive(Debug, Clone)]
pub struct RedisKeyGate {
    limits: SharedRateLimit,
    rate: Option<Rate>,
    namespace: String,
}

impl RedisKeyGate {
    /// A gate for `config`'s provider (namespace `llm:{provider}`) with `config.per_key_rpm`
    /// as each key's shared rate and `config.per_key_burst` as its burst. Without
    /// `per_key_rpm` only cooldowns are shared.
    pub fn new(redis: &Redis, config: &LlmConfig) -> Self {
        let namespace = format!("llm:{}", config.provider);
        Self {
            limits: SharedRateLimit::new(redis, &namespace),
            rate: config.per_key_rpm.map(|rpm| Rate {
                per_second: f64::from(rpm) / 60.0,
                burst: config.per_key_burst.max(1),
                guard: config.pacing_guard(),
            }),
            namespace,
        }
    }

    /// Allows `burst` requests of a key back to back as long as the average stays at the
    /// rate (overrides the configuration's `per_key_burst`).
    pub fn with_burst(mut self, burst: u32) -> Self {
        if let Some(rate) = &mut self.rate {
            rate.burst = burst.max(1);
        }
        self
    }

    /// Each key's shared rate (`None`: only cooldowns are shared).
    pub fn rate(&self) -> Option<Rate> {
        self.rate
    }

    /// The Redis key holding `key`'s limit (for inspection).
    pub fn redis_key(&self, key: &GateKey) -> String {
        haul_redis::keys::rate(&self.namespace, key.fingerprint())
    }
}

#[async_trait::async_trait]
impl KeyGate for RedisKeyGate {
    async fn try_acquire(&self, key: &GateKey) -> Result<Option<Duration>, GateError> {
        // Without a rate, a limit far above any provider's still honours pauses.
        let rate = self.rate.unwrap_or(Rate::per_second(1e6));
        self.limits
            .try_acquire(key.fingerprint(), rate)
            .await
            .map_err(|e| GateError::new(key, e))
    }

    async fn pause(&self, key: &GateKey, cooldown: Duration) -> Result<(), GateError> {
        self.limits
            .pause(key.fingerprint(), cooldown)
            .await
            .map_err(|e| GateError::new(key, e))
    }
}

/// One LLM task on the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireTask {
    /// Unique over all requesters: `{requester}-{n}`.
    id: String,
    /// The requester id: the reply goes to its reply queue.
    reply_to: String,
    /// When the requester stops waiting (Unix ms, the requester's clock).
    expires_unix_ms: u64,
    task: LlmTask,
}

/// The answer to one [`WireTask`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WireReply {
    id: String,
    /// The consumer name of the server that answered.
    served_by: String,
    result: Result<LlmAnswer, WireError>,
}

/// [`LlmError`] on the wire (it is not serialisable itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
enum WireError {
    NotConfigured,
    Rejected {
        status: u16,
        message: String,
    },
    NoUsableKey,
    Exhausted {
        attempts: u32,
        #[serde(default)]
        kind: LlmFailureKind,
        last: String,
    },
    InvalidAnswer {
        message: String,
        raw: String,
    },
    Other(String),
}

impl From<LlmError> for WireError {
    fn from(e: LlmError) -> Self {
        match e {
            LlmError::NotConfigured => Self::NotConfigured,
            LlmError::Rejected { status, message } => Self::Rejected { status, message },
            LlmError::NoUsableKey => Self::NoUsableKey,
            LlmError::Exhausted {
                attempts,
                kind,
                last,
            } => Self::Exhausted {
                attempts,
                kind,
                last,
            },
            LlmError::InvalidAnswer { message, raw } => Self::InvalidAnswer { message, raw },
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<WireError> for LlmError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::NotConfigured => Self::NotConfigured,
            WireError::Rejected { status, message } => Self::Rejected { status, message },
            WireError::NoUsableKey => Self::NoUsableKey,
            WireError::Exhausted {
                attempts,
                kind,
                last,
            } => Self::Exhausted {
                attempts,
                kind,
                last,
            },
            WireError::InvalidAnswer { message, raw } => Self::InvalidAnswer { message, raw },
            WireError::Other(last) => Self::Exhausted {
                attempts: 0,
                kind: LlmFailureKind::Other,
                last,
            },
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn reply_queue_name(requester: &str) -> String {
    format!("{REPLY_QUEUE_PREFIX}{requester}")
}

/// Options of a [`RedisLlm`].
#[derive(Debug, Clone)]
pub struct RedisLlmOptions {
    /// How long `submit` waits for an answer, queueing included (default 15 min: a task may
    /// wait behind others for rate-limited keys, and one task's calls may take minutes).
    pub timeout: Duration,
    /// The requester id naming the reply queue; unique per process (default: `pid-random`).
    pub requester: String,
}

impl Default for RedisLlmOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15 * 60),
            requester: format!("{}-{:08x}", std::process::id(), fastrand::u32(..)),
        }
    }
}

type Pending = Mutex<HashMap<String, oneshot::Sender<Result<LlmAnswer, LlmError>>>>;

#[derive(Debug, Default)]
struct RemoteCounters {
    submitted: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
}

/// An [`LlmPool`] for a process without API keys: tasks go to the crawl's LLM queue in Redis
/// and are run by processes running [`serve_llm`] (see the [module documentation](self)).
/// Create with [`RedisLlm::start`]; [`RedisLlm::shutdown`] (or dropping it) stops the reply
/// reader and cancels the tasks still waiting.
pub struct RedisLlm {
    queue: JobQueue<WireTask>,
    requester: String,
    timeout: Duration,
    next_id: AtomicU64,
    pending: Arc<Pending>,
    counters: RemoteCounters,
    stop: CancellationToken,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLlm")
            .field("queue", &self.queue.key())
            .field("requester", &self.requester)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisLlm {
    /// Opens crawl `crawl`'s LLM queue and this requester's reply queue on `redis` (give it a
    /// handle of its own: see the [module documentation](self)) and starts the reply reader.
    /// Must be called inside a Tokio runtime.
    pub async fn start(
        redis: Redis,
        crawl: &str,
        options: RedisLlmOptions,
    ) -> Result<Arc<Self>, RedisError> {
        // Dead-lettering is the servers' business (they reclaim); this value is unused here.
        let queue = JobQueue::open(&redis, crawl, LLM_QUEUE, 3).await?;
        let replies: JobQueue<WireReply> =
            JobQueue::open(&redis, crawl, &reply_queue_name(&options.requester), 1).await?;
        let pending: Arc<Pending> = Arc::default();
        let stop = CancellationToken::new();
        let reader = tokio::spawn(read_replies(
            replies,
            options.requester.clone(),
            pending.clone(),
            stop.clone(),
        ));
        debug!(queue = queue.key(), requester = %options.requester, "Redis LLM queue opened");
        Ok(Arc::new(Self {
            queue,
            requester: options.requester,
            timeout: options.timeout,
            next_id: AtomicU64::new(0),
            pending,
            counters: RemoteCounters::default(),
            stop,
            reader: Mutex::new(Some(reader)),
        }))
    }

    /// This requester's id (its reply queue is `haul:{crawl}:queue:llm-reply:{id}`).
    pub fn requester(&self) -> &str {
        &self.requester
    }

    /// Stops the reply reader; tasks still waiting get [`LlmError::Cancelled`]. Idempotent.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(reader) = reader {
            let _ = reader.await;
        }
        // Dropping the senders answers every waiting task with `Cancelled`.
        lock(&self.pending).clear();
    }
}

impl Drop for RedisLlm {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Forgets a pending task when its `submit` ends in any way (also when the caller gives up).
struct Forget<'a> {
    pending: &'a Pending,
    id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(self.id);
    }
}

#[async_trait::async_trait]
impl LlmPool for RedisLlm {
    async fn submit(&self, task: LlmTask) -> Result<LlmAnswer, LlmError> {
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        if self.stop.is_cancelled() {
            return Err(LlmError::Cancelled);
        }
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", self.requester);
        let site = task.site.clone();
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id.clone(), tx);
        let _forget = Forget {
            pending: &self.pending,
            id: &id,
        };
        let wire = WireTask {
            id: id.clone(),
            reply_to: self.requester.clone(),
            expires_unix_ms: unix_ms()
                .saturating_add(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX)),
            task,
        };
        if let Err(e) = self.queue.push(&[wire]).await {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            return Err(LlmError::Exhausted {
                attempts: 0,
                kind: LlmFailureKind::Queue,
                last: format!("LLM task {id} of site {site}: cannot queue it: {e}"),
            });
        }
        let result = match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(result)) => result,
            // The reader stopped: shutdown.
            Ok(Err(_)) => Err(LlmError::Cancelled),
            Err(_) => {
                self.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                return Err(LlmError::Exhausted {
                    attempts: 0,
                    kind: LlmFailureKind::Unanswered,
                    last: format!(
                        "LLM task {id} of site {site} got no answer within {:?} on Redis queue {} \
                         (is a process with API keys running serve_llm for this crawl?)",
                        self.timeout,
                        self.queue.key()
                    ),
                });
            }
        };
        let counter = match &result {
            Ok(_) => &self.counters.answered,
            Err(LlmError::Cancelled) => return result,
            Err(_) => &self.counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    fn stats_json(&self) -> serde_json::Value {
        let c = &self.counters;
        serde_json::json!({
            "mode": "redis-queue",
            "queue": self.queue.key(),
            "requester": self.requester,
            "submitted": c.submitted.load(Ordering::Relaxed),
            "answered": c.answered.load(Ordering::Relaxed),
            "failed": c.failed.load(Ordering::Relaxed),
            "timed_out": c.timed_out.load(Ordering::Relaxed),
            "waiting": lock(&self.pending).len(),
        })
    }
}

/// The reply reader of one [`RedisLlm`]: hands each reply to its waiting task.
async fn read_replies(
    replies: JobQueue<WireReply>,
    requester: String,
    pending: Arc<Pending>,
    stop: CancellationToken,
) {
    loop {
        let read = tokio::select! {
            () = stop.cancelled() => return,
            r = replies.next(&requester, READ_BLOCK) => r,
        };
        match read {
            Ok(Some(job)) => {
                let reply = &job.payload;
                let waiting = lock(&pending).remove(&reply.id);
                match waiting {
                    Some(tx) => {
                        debug!(task = %reply.id, served_by = %reply.served_by, "LLM answer received");
                        let _ = tx.send(reply.result.clone().map_err(LlmError::from));
                    }
                    // Timed out, or a duplicate after a reclaim.
                    None => debug!(task = %reply.id, "late or duplicate LLM answer dropped"),
                }
                if let Err(e) = replies.ack(&job).await {
                    warn!("cannot acknowledge LLM answer {}: {e}", reply.id);
                }
            }
            Ok(None) => {}
            Err(e) => {
                warn!("reading LLM answers from {} failed: {e}", replies.key());
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(READ_BLOCK) => {}
                }
            }
        }
    }
}

/// Options of [`serve_llm`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// This server's consumer name in the queue's group (unique per process; default
    /// `llm-{pid}-{random}`).
    pub consumer: String,
    /// Tasks run at once (default 20, the pool's default worker count); the server claims a
    /// task only when it can run it, so idle servers get the rest.
    pub concurrency: usize,
    /// A task claimed by a server and neither answered nor acknowledged for this long is
    /// taken over (its server presumably died). Longer than a task normally takes (default
    /// 5 min), shorter than [`RedisLlmOptions::timeout`].
    pub reclaim_idle: Duration,
    /// How often to look for such tasks (default 30 s).
    pub reclaim_every: Duration,
    /// A task delivered more often than this is dead-lettered and answered with an error
    /// (default 3).
    pub max_deliveries: u64,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            consumer: format!("llm-{}-{:08x}", std::process::id(), fastrand::u32(..)),
            concurrency: 20,
            reclaim_idle: Duration::from_secs(5 * 60),
            reclaim_every: Duration::from_secs(30),
            max_deliveries: 3,
        }
    }
}

/// What [`serve_llm`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServeStats {
    /// Tasks answered (successfully or with an error).
    pub answered: u64,
    /// Of those, answered with an error.
    pub failed: u64,
    /// Tasks dropped unrun because their asker had stopped waiting.
    pub expired: u64,
    /// Tasks of dead servers taken over.
    pub reclaimed: u64,
    /// Tasks dead-lettered (answered with an error).
    pub dead_lettered: u64,
    /// Tasks left for another server because the local pool shut down under them.
    pub handed_back: u64,
}

#[derive(Debug, Default)]
struct ServeCounters {
    answered: AtomicU64,
    failed: AtomicU64,
    expired: AtomicU64,
    reclaimed: AtomicU64,
    dead_lettered: AtomicU64,
    handed_back: AtomicU64,
}

impl ServeCounters {
    fn snapshot(&self) -> ServeStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServeStats {
            answered: get(&self.answered),
            failed: get(&self.failed),
            expired: get(&self.expired),
            reclaimed: get(&self.reclaimed),
            dead_lettered: get(&self.dead_lettered),
            handed_back: get(&self.handed_back),
        }
    }
}

/// What a served task needs.
struct Server {
    redis: Redis,
    crawl: String,
    queue: JobQueue<WireTask>,
    pool: Arc<dyn LlmPool>,
    consumer: String,
    counters: ServeCounters,
}

impl Server {
    async fn reply(&self, to: &str, reply: WireReply) -> Result<(), RedisError> {
        let replies: JobQueue<WireReply> =
            JobQueue::open(&self.redis, &self.crawl, &reply_queue_name(to), 1).await?;
        replies.push(&[reply]).await.map(drop)
    }

    /// Runs one task and answers it; acknowledges it once the answer is stored.
    async fn run(&self, job: Job<WireTask>) {
        let WireTask {
            id,
            reply_to,
            expires_unix_ms,
            task,
        } = job.payload.clone();
        if unix_ms() > expires_unix_ms {
            debug!(task = %id, "LLM task expired before it ran; dropped");
            self.counters.expired.fetch_add(1, Ordering::Relaxed);
            self.ack(&job, &id).await;
            return;
        }
        let result = self.pool.submit(task).await;
        if matches!(result, Err(LlmError::Cancelled)) {
            // The local pool is shutting down: leave the task pending for another server.
            self.counters.handed_back.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let failed = result.is_err();
        let reply = WireReply {
            id: id.clone(),
            served_by: self.consumer.clone(),
            result: result.map_err(WireError::from),
        };
        if let Err(e) = self.reply(&reply_to, reply).await {
            // Unacknowledged: it runs again after `reclaim_idle`.
            warn!("cannot store the answer of LLM task {id}: {e}");
            return;
        }
        self.counters.answered.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.ack(&job, &id).await;
    }

    async fn ack(&self, job: &Job<WireTask>, id: &str) {
        if let Err(e) = self.queue.ack(job).await {
            warn!("cannot acknowledge LLM task {id}: {e}");
        }
    }

    /// Answers dead-lettered tasks with an error so that their askers do not wait in vain.
    async fn bury(&self, dead: Vec<Job<WireTask>>) {
        for job in dead {
            let task = &job.payload;
            self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
            warn!(task = %task.id, deliveries = job.deliveries, "LLM task dead-lettered");
            let reply = WireReply {
                id: task.id.clone(),
                served_by: self.consumer.clone(),
                result: Err(WireError::Exhausted {
                    attempts: 0,
                    kind: LlmFailureKind::Unanswered,
                    last: format!(
                        "LLM task {} of site {} was dead-lettered in {} after {} deliveries \
                         (the processes serving it kept dying)",
                        task.id,
                        task.task.site,
                        self.queue.key(),
                        job.deliveries
                    ),
                }),
            };
            if let Err(e) = self.reply(&task.reply_to, reply).await {
                warn!("cannot answer dead-lettered LLM task {}: {e}", task.id);
            }
        }
    }
}

/// Serves crawl `crawl`'s LLM queue with `pool` (a local [`haul_llm::Pool`] with API keys,
/// ideally behind a [`RedisKeyGate`]) until `stop` is cancelled, then waits for the tasks
/// it is running and returns what it did. `redis` should be a handle of its own (see the
/// [module documentation](self)). Fails only when Redis stays unreachable (after the
/// handle's reconnect budget).
pub async fn serve_llm(
    redis: Redis,
    crawl: &str,
    pool: Arc<dyn LlmPool>,
    options: ServeOptions,
    stop: CancellationToken,
) -> Result<ServeStats, RedisError> {
    let queue = JobQueue::open(&redis, crawl, LLM_QUEUE, options.max_deliveries).await?;
    let server = Arc::new(Server {
        redis,
        crawl: crawl.to_string(),
        queue,
        pool,
        consumer: options.consumer.clone(),
        counters: ServeCounters::default(),
    });
    let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut running = JoinSet::new();
    let mut last_reclaim: Option<tokio::time::Instant> = None;
    debug!(queue = server.queue.key(), consumer = %options.consumer, "serving LLM tasks");
    let outcome = loop {
        while running.try_join_next().is_some() {}
        let Ok(permit) = (tokio::select! {
            () = stop.cancelled() => break Ok(()),
            p = slots.clone().acquire_owned() => p,
        }) else {
            break Ok(());
        };
        let mut permit_left = Some(permit);
        if last_reclaim.is_none_or(|t| t.elapsed() >= options.reclaim_every) {
            last_reclaim = Some(tokio::time::Instant::now());
            let max = slots.available_permits() + 1;
            let reclaimed = match server
                .queue
                .reclaim(&options.consumer, options.reclaim_idle, max)
                .await
            {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            server.bury(reclaimed.dead).await;
            let mut permit = permit_left.take();
            for job in reclaimed.jobs {
                warn!(task = %job.payload.id, deliveries = job.deliveries, "taking over an LLM task of a server that stopped");
                server.counters.reclaimed.fetch_add(1, Ordering::Relaxed);
                // At most one more job than free slots was claimed: the last waits for one.
                let p = match permit.take() {
                    Some(p) => p,
                    None => match slots.clone().acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                let server = server.clone();
                running.spawn(async move {
                    server.run(job).await;
                    drop(p);
                });
            }
            let Some(p) = permit else { continue };
            permit_left = Some(p);
        }
        let Some(permit) = permit_left.take() else {
            continue;
        };
        let next = tokio::select! {
            () = stop.cancelled() => break Ok(()),
            n = server.queue.next(&options.consumer, READ_BLOCK) => n,
        };
        match next {
            Ok(Some(job)) => {
                let server = server.clone();
                running.spawn(async move {
                    server.run(job).await;
                    drop(permit);
                });
            }
            Ok(None) => drop(permit),
            Err(e) => break Err(e),
        }
    };
    while running.join_next().await.is_some() {}
    let stats = server.counters.snapshot();
    debug!(?stats, "stopped serving LLM tasks");
    outcome.map(|()| stats)
}
