//! The pool itself: workers taking tasks from the fair queue, key rotation and retries per
//! call, continuation of cut answers, JSON parsing and repair, shutdown.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use haul_core::{LlmAnswer, LlmError, LlmFailureKind, LlmTask, TransportKind};
use serde_json::Value;
use tokio::sync::{Semaphore, SemaphorePermit, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::config::{ConfigError, LlmConfig};
use crate::gate::{GateKey, KeyGate};
use crate::json;
use crate::keys::{AcquireError, Commit, KeyRing, Lease};
use crate::provider::{CallError, ChatRequest, Endpoint, Reply, Role};
use crate::queue::{FairQueue, Job};
use crate::stats::LlmStats;

/// The user turn that asks the model to go on after an answer was cut.
pub const CONTINUE_PROMPT: &str = "Your answer was cut off. Continue exactly where you stopped: do not repeat anything, do not start over, output only the rest.";

/// The system text of the one repair request made for a JSON answer that does not parse.
pub const REPAIR_SYSTEM: &str = "You fix broken JSON. Reply with the corrected JSON value only, with no explanation and no code fences. Keep all data; only fix the syntax.";

/// Answers longer than this are parsed on the blocking pool, not on the runtime.
const INLINE_PARSE_LIMIT: usize = 64 * 1024;

/// Time spent by workers, for the benchmark's overhead figures.
#[derive(Debug, Default)]
pub(crate) struct Timing {
    /// Worker time per task, from pick-up to outcome.
    pub(crate) busy_ns: AtomicU64,
    /// Time spent in HTTP calls.
    pub(crate) http_ns: AtomicU64,
    /// Time spent waiting for a usable key (rate limits, cooldowns).
    pub(crate) key_wait_ns: AtomicU64,
    /// Time spent sleeping between retries.
    pub(crate) backoff_ns: AtomicU64,
    /// HTTP calls made.
    pub(crate) calls: AtomicU64,
    /// Tasks run by workers.
    pub(crate) tasks: AtomicU64,
}

fn add(counter: &AtomicU64, d: Duration) {
    counter.fetch_add(
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    abandoned: AtomicU64,
    repairs: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    config: LlmConfig,
    endpoint: Endpoint,
    client: reqwest::Client,
    keys: KeyRing,
    /// The gate sharing key limits with other processes, and each key's identity for it.
    gate: Option<(Arc<dyn KeyGate>, Vec<GateKey>)>,
    queue: FairQueue,
    in_flight: Semaphore,
    in_flight_now: AtomicUsize,
    peak_in_flight: AtomicUsize,
    /// Shutdown began: no new tasks.
    closing: CancellationToken,
    /// Running calls must stop now.
    abort: CancellationToken,
    counters: Counters,
    timing: Timing,
}

/// The process-wide LLM pool. Create it once with [`Pool::start`], share the `Arc`, and call
/// [`Pool::shutdown`] at the end. Implements [`haul_core::LlmPool`].
pub struct Pool {
    inner: Arc<Inner>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// One completed conversation (all continuation rounds).
#[derive(Debug)]
struct Completion {
    fragments: Vec<String>,
    text: String,
    input_tokens: u64,
    output_tokens: u64,
    continuations: u32,
}

impl Pool {
    /// Validates `config`, builds the HTTP client and starts the workers. Must be called
    /// inside a Tokio runtime. Every limit is local to this pool.
    pub fn start(config: LlmConfig) -> Result<Arc<Pool>, ConfigError> {
        Self::launch(config, None)
    }

    /// [`Pool::start`] with a [`KeyGate`] that shares each key's request rate and cooldowns
    /// with other pools (other processes, other machines): before every HTTP call the pool
    /// takes the gate's permit for the key (never waiting on the gate while holding an
    /// in-flight permit), and after an HTTP 429 it pauses the key at the gate for everyone.
    /// Only key labels and fingerprints reach the gate. When [`KeyGate::enforces_rpm`], the
    /// gate replaces the local `per_key_rpm` spacing; cooldowns and the tokens-per-minute
    /// budget stay local as well.
    pub fn start_with_gate(
        config: LlmConfig,
        gate: Arc<dyn KeyGate>,
    ) -> Result<Arc<Pool>, ConfigError> {
        Self::launch(config, Some(gate))
    }

    fn launch(config: LlmConfig, gate: Option<Arc<dyn KeyGate>>) -> Result<Arc<Pool>, ConfigError> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::Invalid {
            field: "runtime",
            message: "Pool::start must be called inside a Tokio runtime".into(),
        })?;
        // No redirects: a redirect would carry the key to wherever it points.
        let client = haul_http::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(config.max_in_flight)
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        let inner = Arc::new(Inner {
            endpoint: Endpoint::new(&config),
            client,
            keys: match &gate {
                None => KeyRing::new(&config),
                Some(g) => KeyRing::with_gate(&config, true, !g.enforces_rpm()),
            },
            gate: gate.map(|g| (g, config.keys.iter().map(GateKey::from).collect())),
            queue: FairQueue::new(config.queue_capacity),
            in_flight: Semaphore::new(config.max_in_flight),
            in_flight_now: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            closing: CancellationToken::new(),
            abort: CancellationToken::new(),
            counters: Counters::default(),
            timing: Timing::default(),
            config,
        });
        let workers = (0..inner.config.workers)
            .map(|_| runtime.spawn(worker(inner.clone())))
            .collect();
        debug!(
            provider = %inner.config.provider,
            model = %inner.config.model,
            keys = inner.config.keys.len(),
            workers = inner.config.workers,
            max_in_flight = inner.config.max_in_flight,
            gate = inner.gate.is_some(),
            "LLM pool started"
        );
        Ok(Arc::new(Pool {
            inner,
            workers: Mutex::new(workers),
        }))
    }

    /// Stops the pool: new and queued tasks get [`LlmError::Cancelled`]; running tasks may
    /// finish within `shutdown_grace`, then they are cancelled too. Idempotent.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.closing.cancel();
        cancel_jobs(inner, inner.queue.close());
        let mut handles =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        let wait_all = async {
            for h in &mut handles {
                let _ = h.await;
            }
        };
        if tokio::time::timeout(inner.config.shutdown_grace, wait_all)
            .await
            .is_err()
        {
            inner.abort.cancel();
            for h in handles.into_iter().filter(|h| !h.is_finished()) {
                let _ = h.await;
            }
        }
        inner.abort.cancel();
        debug!("LLM pool stopped");
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LlmStats {
        let inner = &self.inner;
        let (queue_depth, peak_queue_depth) = inner.queue.depth();
        let c = &inner.counters;
        LlmStats {
            provider: inner.config.provider,
            model: inner.config.model.clone(),
            submitted: c.submitted.load(Ordering::Relaxed),
            succeeded: c.succeeded.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            cancelled: c.cancelled.load(Ordering::Relaxed),
            abandoned: c.abandoned.load(Ordering::Relaxed),
            queue_depth,
            peak_queue_depth,
            in_flight: inner.in_flight_now.load(Ordering::Relaxed),
            peak_in_flight: inner.peak_in_flight.load(Ordering::Relaxed),
            repairs: c.repairs.load(Ordering::Relaxed),
            keys: inner.keys.stats(),
        }
    }

    /// The configuration the pool runs with.
    pub fn config(&self) -> &LlmConfig {
        &self.inner.config
    }

    #[cfg(feature = "fake")]
    pub(crate) fn timing(&self) -> &Timing {
        &self.inner.timing
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not derived: the queue holds whole prompts.
        let (queue_depth, _) = self.inner.queue.depth();
        f.debug_struct("Pool")
            .field("config", &self.inner.config)
            .field("queue_depth", &queue_depth)
            .field(
                "in_flight",
                &self.inner.in_flight_now.load(Ordering::Relaxed),
            )
            .field("closing", &self.inner.closing.is_cancelled())
            .finish()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Dropped without shutdown: cancel everything so no task is left waiting.
        self.inner.closing.cancel();
        cancel_jobs(&self.inner, self.inner.queue.close());
        self.inner.abort.cancel();
    }
}

#[haul_core::async_trait]
impl haul_core::LlmPool for Pool {
    async fn submit(&self, task: LlmTask) -> Result<LlmAnswer, LlmError> {
        let inner = &self.inner;
        inner.counters.submitted.fetch_add(1, Ordering::Relaxed);
        if inner.closing.is_cancelled() {
            inner.counters.cancelled.fetch_add(1, Ordering::Relaxed);
            return Err(LlmError::Cancelled);
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            task,
            reply,
            enqueued: Instant::now(),
        };
        if inner.queue.push(job).await.is_err() {
            inner.counters.cancelled.fetch_add(1, Ordering::Relaxed);
            return Err(LlmError::Cancelled);
        }
        // The sender is dropped unanswered only if the runtime itself is going away.
        answer.await.unwrap_or(Err(LlmError::Cancelled))
    }

    fn stats_json(&self) -> Value {
        serde_json::to_value(self.stats()).unwrap_or(Value::Null)
    }
}

fn cancel_jobs(inner: &Inner, jobs: Vec<Job>) {
    for job in jobs {
        inner.counters.cancelled.fetch_add(1, Ordering::Relaxed);
        let _ = job.reply.send(Err(LlmError::Cancelled));
    }
}

async fn worker(inner: Arc<Inner>) {
    while let Some(job) = inner.queue.pop().await {
        if job.reply.is_closed() {
            inner.counters.abandoned.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let picked = Instant::now();
        debug!(
            site = %job.task.site,
            queued_ms = (picked - job.enqueued).as_millis() as u64,
            "LLM task picked up"
        );
        // Each task runs in its own Tokio task so that a panic fails that task only.
        let mut run = tokio::spawn(inner.clone().run(job.task));
        let result = tokio::select! {
            joined = &mut run => joined.unwrap_or_else(|e| {
                if e.is_cancelled() {
                    Err(LlmError::Cancelled)
                } else {
                    Err(LlmError::Exhausted {
                        attempts: 0,
                        kind: LlmFailureKind::Panic,
                        last: "the LLM task panicked".into(),
                    })
                }
            }),
            () = inner.abort.cancelled() => {
                run.abort();
                Err(LlmError::Cancelled)
            }
        };
        add(&inner.timing.busy_ns, picked.elapsed());
        inner.timing.tasks.fetch_add(1, Ordering::Relaxed);
        let counter = match &result {
            Ok(_) => &inner.counters.succeeded,
            Err(LlmError::Cancelled) => &inner.counters.cancelled,
            Err(_) => &inner.counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let _ = job.reply.send(result);
    }
}

impl Inner {
    async fn run(self: Arc<Self>, task: LlmTask) -> Result<LlmAnswer, LlmError> {
        let first = self.complete(&task.system, &task.prompt, task.json).await?;
        if !task.json {
            return Ok(LlmAnswer {
                text: first.text,
                json: None,
                input_tokens: first.input_tokens,
                output_tokens: first.output_tokens,
                continuations: first.continuations,
            });
        }
        let parsed = parse_answer(first.text.clone(), first.fragments.clone()).await;
        let message = match parsed {
            Ok(value) => {
                return Ok(LlmAnswer {
                    text: first.text,
                    json: Some(value),
                    input_tokens: first.input_tokens,
                    output_tokens: first.output_tokens,
                    continuations: first.continuations,
                });
            }
            Err(message) => message,
        };
        // One repair attempt: ask the model to fix its own JSON.
        self.counters.repairs.fetch_add(1, Ordering::Relaxed);
        warn!(site = %task.site, error = %message, "LLM answer is not valid JSON; asking for a repair");
        let prompt = format!(
            "This text should be one valid JSON value but does not parse ({message}). Return the corrected JSON.\n\n{}",
            first.text
        );
        let repair = match self.complete(REPAIR_SYSTEM, &prompt, true).await {
            Ok(r) => r,
            Err(LlmError::Cancelled) => return Err(LlmError::Cancelled),
            Err(e) => {
                return Err(LlmError::InvalidAnswer {
                    message: format!("{message}; the repair request failed: {e}"),
                    raw: first.text,
                });
            }
        };
        match parse_answer(repair.text.clone(), repair.fragments).await {
            Ok(value) => Ok(LlmAnswer {
                text: repair.text,
                json: Some(value),
                input_tokens: first.input_tokens + repair.input_tokens,
                output_tokens: first.output_tokens + repair.output_tokens,
                continuations: first.continuations + repair.continuations,
            }),
            Err(again) => Err(LlmError::InvalidAnswer {
                message: format!("{message}; after a repair attempt: {again}"),
                raw: first.text,
            }),
        }
    }

    /// One conversation: the first call, then continuation rounds while the answer is cut at
    /// the output-token limit.
    async fn complete(
        &self,
        system: &str,
        prompt: &str,
        json: bool,
    ) -> Result<Completion, LlmError> {
        let mut request = ChatRequest {
            system: system.to_string(),
            turns: vec![(Role::User, prompt.to_string())],
            json: json && self.config.native_json_mode,
        };
        let mut done = Completion {
            fragments: Vec::new(),
            text: String::new(),
            input_tokens: 0,
            output_tokens: 0,
            continuations: 0,
        };
        loop {
            let continuation = !done.fragments.is_empty();
            let reply = self.call(&request, continuation).await?;
            done.input_tokens += reply.input_tokens;
            done.output_tokens += reply.output_tokens;
            let truncated = reply.truncated;
            done.fragments.push(reply.text);
            if !truncated {
                break;
            }
            if done.continuations >= self.config.max_continuations {
                warn!(
                    rounds = done.continuations,
                    "LLM answer still cut at the output-token limit after the last continuation round"
                );
                break;
            }
            done.continuations += 1;
            let last = done.fragments.last().cloned().unwrap_or_default();
            request.turns.push((Role::Assistant, last));
            request
                .turns
                .push((Role::User, CONTINUE_PROMPT.to_string()));
            // The rest of a cut JSON value is not itself JSON: no JSON mode from here on.
            request.json = false;
        }
        done.text = json::merge(&done.fragments);
        Ok(done)
    }

    /// One HTTP exchange: picks a key, retries transient failures with backoff, moves on to
    /// another key after a 429 or a refused key. Each round has three stages:
    /// [`ready_key`](Self::ready_key), [`send_once`](Self::send_once) and
    /// [`settle`](Self::settle).
    async fn call(&self, request: &ChatRequest, continuation: bool) -> Result<Reply, LlmError> {
        let config = &self.config;
        let mut round = Round {
            backoff: ExponentialBuilder::default()
                .with_min_delay(config.retry_base_delay)
                .with_max_delay(config.retry_max_delay)
                .with_factor(2.0)
                .with_jitter()
                .with_max_times(config.max_retries as usize)
                .build(),
            failures: 0,
            rate_limited: 0,
            continuation,
        };
        let estimate = request.estimated_tokens();
        loop {
            let Some((lease, permit)) = self.ready_key(estimate, &round).await? else {
                continue;
            };
            let (outcome, latency) = self.send_once(&lease, permit, request).await;
            if let Some(reply) = self.settle(&lease, latency, outcome, &mut round).await? {
                return Ok(reply);
            }
        }
    }

    /// Stage 1 of a call: a key that may be used now (local limits, then the gate's) and an
    /// in-flight permit, taken only once the key's booked slot came so that rate-limit waits
    /// never hold one. With the permit, the key's bucket is checked once more against the
    /// requests really sent ([`KeyRing::commit`]): a request that waited for its permit does
    /// not go out bunched with others. `None`: the key cannot be used after all (refused or
    /// rate-limited meanwhile, or the gate said to wait); ask again.
    async fn ready_key(
        &self,
        estimate: u64,
        round: &Round,
    ) -> Result<Option<(Lease, SemaphorePermit<'_>)>, LlmError> {
        let waiting = Instant::now();
        let lease = match self.keys.acquire(estimate, &self.abort).await {
            Ok(lease) => lease,
            Err(AcquireError::NoUsableKey) => return Err(LlmError::NoUsableKey),
            Err(AcquireError::Cancelled) => return Err(LlmError::Cancelled),
        };
        // With a gate, the leased key is being probed until `probe` is dropped.
        let probe = self.gate.as_ref().map(|_| self.keys.probe(&lease));
        add(&self.timing.key_wait_ns, waiting.elapsed());
        let permit = loop {
            let permit = tokio::select! {
                p = self.in_flight.acquire() => p.map_err(|_| LlmError::Cancelled)?,
                () = self.abort.cancelled() => return Err(LlmError::Cancelled),
            };
            match self.keys.commit(&lease) {
                Commit::Go => break permit,
                Commit::Lost => return Ok(None),
                Commit::Wait(until) => {
                    drop(permit);
                    let waiting = Instant::now();
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        () = self.abort.cancelled() => return Err(LlmError::Cancelled),
                    }
                    add(&self.timing.key_wait_ns, waiting.elapsed());
                }
            }
        };
        let (Some((gate, ids)), Some(probe)) = (&self.gate, probe) else {
            return Ok(Some((lease, permit)));
        };
        // One round trip with the permit held (so that a granted request goes out at once),
        // never a wait: a refusal gives the permit back and the key waits.
        let id = &ids[lease.index];
        let asked = tokio::select! {
            r = gate.try_acquire(id) => r,
            () = self.abort.cancelled() => return Err(LlmError::Cancelled),
        };
        match asked {
            Ok(None) => {
                drop(probe);
                Ok(Some((lease, permit)))
            }
            Ok(Some(wait)) => {
                probe.refused(wait);
                drop(permit);
                Ok(None)
            }
            Err(e) => {
                drop(probe);
                let last = self.keys.redact(&e.to_string());
                warn!(key = id.label(), error = %last, "LLM key gate failed; giving up on this call");
                Err(LlmError::Exhausted {
                    attempts: round.failures + round.rate_limited,
                    kind: LlmFailureKind::Transport(TransportKind::SharedLimits),
                    last,
                })
            }
        }
    }

    /// Stage 2 of a call: the HTTP request with the leased key, counted in flight while it
    /// runs; returns its outcome and latency.
    async fn send_once(
        &self,
        lease: &Lease,
        permit: SemaphorePermit<'_>,
        request: &ChatRequest,
    ) -> (Result<Reply, CallError>, Duration) {
        let now = self.in_flight_now.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = self
            .endpoint
            .send(
                &self.client,
                self.keys.key(lease),
                request,
                self.config.timeout,
                self.config.max_reply_bytes,
            )
            .await;
        let latency = started.elapsed();
        self.in_flight_now.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
        add(&self.timing.http_ns, latency);
        self.timing.calls.fetch_add(1, Ordering::Relaxed);
        (outcome, latency)
    }

    /// Stage 3 of a call: books the outcome on the key and decides. `Some`: the answer;
    /// `None`: another round (another key after a 429 or a refused key, the same call after
    /// a backoff for a transient failure); an error ends the call.
    async fn settle(
        &self,
        lease: &Lease,
        latency: Duration,
        outcome: Result<Reply, CallError>,
        round: &mut Round,
    ) -> Result<Option<Reply>, LlmError> {
        let label = self.keys.label(lease);
        match outcome {
            Ok(reply) => {
                self.keys.succeeded(
                    lease,
                    latency,
                    reply.input_tokens,
                    reply.output_tokens,
                    round.continuation,
                );
                debug!(
                    key = label,
                    latency_ms = latency.as_millis() as u64,
                    truncated = reply.truncated,
                    "LLM call answered"
                );
                Ok(Some(reply))
            }
            Err(CallError::RateLimited { retry_after }) => {
                self.cool_down(lease, latency, retry_after, round).await?;
                Ok(None)
            }
            Err(CallError::KeyRefused { status, message }) => {
                self.keys.refused(lease, latency);
                warn!(
                    key = label,
                    status,
                    message = %self.keys.redact(&message),
                    "LLM key refused by the provider; it will not be used again"
                );
                Ok(None)
            }
            Err(CallError::Rejected { status, message }) => {
                self.keys.failed(lease, latency, false);
                let message = self.keys.redact(&message);
                debug!(key = label, status, message = %message, "LLM request rejected");
                Err(LlmError::Rejected { status, message })
            }
            Err(CallError::Transient { kind, message }) => {
                self.retry_later(lease, latency, kind, &message, round)
                    .await?;
                Ok(None)
            }
        }
    }

    /// After an HTTP 429: the key cools down (here and, with a gate, for every process);
    /// fails once the call has seen more 429s than `max_rate_limited`.
    async fn cool_down(
        &self,
        lease: &Lease,
        latency: Duration,
        retry_after: Option<Duration>,
        round: &mut Round,
    ) -> Result<(), LlmError> {
        let label = self.keys.label(lease);
        let cooldown = self.keys.rate_limited(lease, latency, retry_after);
        round.rate_limited += 1;
        if let Some((gate, ids)) = &self.gate {
            let id = &ids[lease.index];
            let paused = tokio::select! {
                r = gate.pause(id, cooldown.duration) => r,
                () = self.abort.cancelled() => return Err(LlmError::Cancelled),
            };
            if let Err(e) = paused {
                warn!(key = label, error = %self.keys.redact(&e.to_string()), "could not pause the LLM key for other processes");
            }
        }
        warn!(
            key = label,
            cooldown_ms = cooldown.duration.as_millis() as u64,
            "LLM key rate-limited (HTTP 429); moving to another key"
        );
        if round.rate_limited > self.config.max_rate_limited {
            let rate_limited = round.rate_limited;
            return Err(LlmError::Exhausted {
                attempts: round.failures + rate_limited,
                kind: LlmFailureKind::RateLimited,
                last: format!(
                    "{label}: HTTP 429 ({rate_limited} rate-limit answers for this call)"
                ),
            });
        }
        Ok(())
    }

    /// After a transient failure: retries at once the first two times (on the next paced
    /// slot of any key: a 5xx among many answers says little about the provider, every
    /// retry is paced like any request, and sleeping on it leaves the keys idle and the
    /// crawl's last tasks late), then sleeps the backoff delay (from `retry_base_delay`,
    /// doubling); fails when no retries are left.
    async fn retry_later(
        &self,
        lease: &Lease,
        latency: Duration,
        kind: LlmFailureKind,
        message: &str,
        round: &mut Round,
    ) -> Result<(), LlmError> {
        let label = self.keys.label(lease);
        round.failures += 1;
        let last = self.keys.redact(&format!("{label}: {kind}: {message}"));
        let delay = match round.failures {
            n if n > self.config.max_retries => None,
            1 | 2 => Some(Duration::ZERO),
            _ => round.backoff.next(),
        };
        let Some(delay) = delay else {
            self.keys.failed(lease, latency, false);
            warn!(key = label, attempts = round.failures, error = %last, "LLM call failed; no retries left");
            return Err(LlmError::Exhausted {
                attempts: round.failures,
                kind,
                last,
            });
        };
        self.keys.failed(lease, latency, true);
        warn!(
            key = label,
            attempt = round.failures,
            retry_in_ms = delay.as_millis() as u64,
            error = %last,
            "LLM call failed; retrying"
        );
        let sleeping = Instant::now();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = self.abort.cancelled() => return Err(LlmError::Cancelled),
        }
        add(&self.timing.backoff_ns, sleeping.elapsed());
        Ok(())
    }
}

/// The state of one call across its rounds (keys tried, retries).
struct Round {
    backoff: ExponentialBackoff,
    /// Transient failures so far.
    failures: u32,
    /// HTTP 429 answers so far.
    rate_limited: u32,
    /// The call continues a cut answer (counted apart in the key statistics).
    continuation: bool,
}

/// Parses merged answer text as JSON, falling back to a merge without repeated overlaps.
/// Long answers are parsed off the runtime.
async fn parse_answer(text: String, fragments: Vec<String>) -> Result<Value, String> {
    let len = text.len();
    let work = move || {
        json::parse(&text).or_else(|first| {
            if fragments.len() > 1 {
                json::parse(&json::merge_dedup(&fragments)).map_err(|_| first)
            } else {
                Err(first)
            }
        })
    };
    if len > INLINE_PARSE_LIMIT {
        tokio::task::spawn_blocking(work)
            .await
            .unwrap_or_else(|e| Err(format!("JSON parsing panicked: {e}")))
    } else {
        work()
    }
}
