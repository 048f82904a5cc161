//! The pool benchmark behind `cargo xtask bench llm`: many tasks from several sites against
//! the fake server with fixed latency and rate-limited keys; wall time against the
//! theoretical minimum, failures, and the pool's own per-task overhead.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use haul_core::{LlmPool as _, LlmTask};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::config::{ApiKey, LlmConfig, Provider};
use crate::fake::FakeServer;
use crate::pool::Pool;

/// Sites the benchmark's tasks are spread over (round robin).
const SITES: usize = 5;

/// What one benchmark run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    /// Tasks submitted.
    pub tasks: usize,
    /// Tasks that did not end in an answer with parsed JSON.
    pub failed: usize,
    /// Keys used.
    pub keys: usize,
    /// Per-key requests-per-minute limit (pool and fake server), if any.
    pub per_key_rpm: Option<u32>,
    /// Fake server latency per request, in milliseconds.
    pub latency_ms: f64,
    /// Wall time from the first submit to the last answer, in seconds.
    pub wall_s: f64,
    /// The floor set by the limits: tasks / (keys x rpm / 60), or without a rate limit
    /// ceil(tasks / in-flight cap) x latency; in seconds.
    pub theoretical_min_s: f64,
    /// `wall_s / theoretical_min_s`.
    pub wall_over_min: f64,
    /// Requests the server received.
    pub server_requests: u64,
    /// Requests the server answered 429 (its own per-key rate limit).
    pub server_429: u64,
    /// Most requests the server handled at once.
    pub server_peak_in_flight: usize,
    /// Most tasks waiting in the pool's queue.
    pub peak_queue_depth: usize,
    /// Worker time per task not spent in HTTP calls, waiting for a key or in retry backoff
    /// (queue hand-off, spawning, JSON parsing, bookkeeping), in milliseconds.
    pub scheduling_overhead_ms_per_task: f64,
    /// Mean HTTP call time minus the server's latency (client + loopback cost), in ms.
    pub http_overhead_ms_per_call: f64,
    /// Mean time a call waited for a usable key (the rate limit at work), in ms.
    pub key_wait_ms_per_call: f64,
    /// Median and 95th percentile task time from submit to answer, in ms.
    pub task_p50_ms: f64,
    /// See `task_p50_ms`.
    pub task_p95_ms: f64,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "LLM pool: {} tasks, {} keys, rpm/key {}, latency {} ms",
            self.tasks,
            self.keys,
            self.per_key_rpm
                .map_or("none".to_string(), |r| r.to_string()),
            self.latency_ms
        )?;
        writeln!(
            f,
            "  wall {:.2} s vs theoretical minimum {:.2} s (x{:.3}); failed {}",
            self.wall_s, self.theoretical_min_s, self.wall_over_min, self.failed
        )?;
        writeln!(
            f,
            "  server: {} requests, {} answered 429, peak in flight {}; peak queue depth {}",
            self.server_requests,
            self.server_429,
            self.server_peak_in_flight,
            self.peak_queue_depth
        )?;
        write!(
            f,
            "  overhead per task {:.3} ms (scheduling), per call {:.3} ms (HTTP); key wait {:.1} ms/call; task p50 {:.0} ms, p95 {:.0} ms",
            self.scheduling_overhead_ms_per_task,
            self.http_overhead_ms_per_call,
            self.key_wait_ms_per_call,
            self.task_p50_ms,
            self.task_p95_ms
        )
    }
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The fake server could not bind 127.0.0.1.
    #[error("fake LLM server: {0}")]
    Server(#[from] std::io::Error),
    /// The pool rejected its configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Runs `tasks` JSON tasks from 5 sites through a default pool (20 workers, 20 in flight)
/// against the fake server answering after `latency`, with `keys` keys each limited to
/// `per_key_rpm` requests a minute (also enforced by the server). The standard run is
/// `run(2000, 100 ms, 3, Some(1200))`: 3 keys at 20 requests/s, minimum 33.3 s.
pub async fn run(
    tasks: usize,
    latency: Duration,
    keys: usize,
    per_key_rpm: Option<u32>,
) -> Result<BenchReport, BenchError> {
    let mut server = FakeServer::builder().latency(latency);
    if let Some(rpm) = per_key_rpm {
        server = server.rate_limit(rpm.div_ceil(60));
    }
    let server = server.start().await?;
    let mut config = LlmConfig::new(
        Provider::Gemini,
        (1..=keys.max(1))
            .map(|i| ApiKey::new(i, format!("bench-key-{i}")))
            .collect(),
    );
    config.base_url = server.base_url();
    config.per_key_rpm = per_key_rpm;
    config.timeout = Duration::from_secs(30);
    config.retry_base_delay = Duration::from_millis(100);
    let in_flight_cap = config.max_in_flight;
    let pool = Pool::start(config)?;

    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..tasks {
        let pool: Arc<Pool> = pool.clone();
        set.spawn(async move {
            let task = LlmTask {
                site: format!("site{}", i % SITES),
                system: "Extract the deals as JSON.".into(),
                prompt: format!("page {i}: # Deals\n* Widget {i} for 9.99 EUR"),
                json: true,
            };
            let t0 = Instant::now();
            let ok = pool.submit(task).await.is_ok_and(|a| a.json.is_some());
            (ok, t0.elapsed())
        });
    }
    let mut failed = 0;
    let mut task_ms = Vec::with_capacity(tasks);
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((ok, took)) => {
                failed += usize::from(!ok);
                task_ms.push(took.as_secs_f64() * 1000.0);
            }
            Err(_) => failed += 1,
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let stats = pool.stats();
    let timing = pool.timing();
    let ns = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed) as f64 / 1e6;
    let calls = (timing.calls.load(Ordering::Relaxed) as f64).max(1.0);
    let worker_tasks = (timing.tasks.load(Ordering::Relaxed) as f64).max(1.0);
    let overhead = ns(&timing.busy_ns)
        - ns(&timing.http_ns)
        - ns(&timing.key_wait_ns)
        - ns(&timing.backoff_ns);
    pool.shutdown().await;

    let latency_s = latency.as_secs_f64();
    let theoretical = match per_key_rpm {
        Some(rpm) => tasks as f64 / (keys.max(1) as f64 * f64::from(rpm) / 60.0),
        None => (tasks as f64 / in_flight_cap as f64).ceil() * latency_s,
    };
    task_ms.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        if task_ms.is_empty() {
            0.0
        } else {
            let rank = ((q * task_ms.len() as f64).ceil() as usize).clamp(1, task_ms.len());
            task_ms[rank - 1]
        }
    };
    Ok(BenchReport {
        tasks,
        failed,
        keys,
        per_key_rpm,
        latency_ms: latency_s * 1000.0,
        wall_s: wall,
        theoretical_min_s: theoretical,
        wall_over_min: if theoretical > 0.0 {
            wall / theoretical
        } else {
            0.0
        },
        server_requests: server.requests(),
        server_429: server.rate_limited(),
        server_peak_in_flight: server.peak_in_flight(),
        peak_queue_depth: stats.peak_queue_depth,
        scheduling_overhead_ms_per_task: overhead / worker_tasks,
        http_overhead_ms_per_call: ns(&timing.http_ns) / calls - latency_s * 1000.0,
        key_wait_ms_per_call: ns(&timing.key_wait_ns) / calls,
        task_p50_ms: pct(0.50),
        task_p95_ms: pct(0.95),
    })
}

/// [`run`] on a new multi-threaded Tokio runtime, for callers without one (xtask).
pub fn run_blocking(
    tasks: usize,
    latency: Duration,
    keys: usize,
    per_key_rpm: Option<u32>,
) -> Result<BenchReport, BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(tasks, latency, keys, per_key_rpm))
}
