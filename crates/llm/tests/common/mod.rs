//! What the LLM pool's tests share (this crate's, and `haul-cluster`'s `tests/llm.rs`, which
//! includes this file by its path): pool configurations for a test server, tasks, a 429 on a
//! key's first request, pools on threads of their own standing for worker processes, and the
//! most requests in one second.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use haul_core::{LlmAnswer, LlmError, LlmPool as _, LlmTask, Url};
use haul_llm::fake::{FakeReply, FakeRequest, FakeServer};
use haul_llm::{ApiKey, LlmConfig, Pool, Provider};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// `keys` numbered from 1 (`key#1`, `key#2`...).
pub fn numbered(keys: &[&str]) -> Vec<ApiKey> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| ApiKey::new(i + 1, *k))
        .collect()
}

/// `provider` with `keys` against `base`: model `test-model`, a 5 s timeout, retries from
/// 20 ms, a 2 s grace period at shutdown.
pub fn config(base: Url, provider: Provider, keys: Vec<ApiKey>) -> LlmConfig {
    let mut c = LlmConfig::new(provider, keys);
    c.base_url = base;
    c.model = "test-model".into();
    c.timeout = Duration::from_secs(5);
    c.retry_base_delay = Duration::from_millis(20);
    c.shutdown_grace = Duration::from_secs(2);
    c
}

/// A task of `site` with the system prompt `Extract deals.`.
pub fn task(site: &str, prompt: &str, json: bool) -> LlmTask {
    LlmTask {
        site: site.into(),
        system: "Extract deals.".into(),
        prompt: prompt.into(),
        json,
    }
}

/// A fake server's answers: a 429 (`Retry-After: retry_after`, `message`) to the first
/// request with each key that `limited` picks (by its secret), an echo to any other.
pub fn first_call_limited(
    limited: impl Fn(&str) -> bool + Send + Sync + 'static,
    retry_after: &'static str,
    message: &'static str,
) -> impl Fn(&FakeRequest) -> FakeReply + Send + Sync + 'static {
    move |r: &FakeRequest| {
        if r.key_seq == 0 && limited(&r.key) {
            FakeReply::Status {
                status: 429,
                retry_after: Some(retry_after.into()),
                message: message.into(),
            }
        } else {
            haul_llm::fake::echo(r)
        }
    }
}

/// A fake server answering as `respond` says.
pub async fn responding(
    respond: impl Fn(&FakeRequest) -> FakeReply + Send + Sync + 'static,
) -> FakeServer {
    FakeServer::builder()
        .respond(respond)
        .start()
        .await
        .unwrap()
}

/// A fake server answering every request after `latency`.
pub async fn delaying(latency: Duration) -> FakeServer {
    FakeServer::builder()
        .latency(latency)
        .start()
        .await
        .unwrap()
}

/// Waits until `server` has received `n` requests.
pub async fn until_requests(server: &FakeServer, n: u64) {
    while server.requests() < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `pool.submit(task)` as a future of its own, for `tokio::spawn` or a `JoinSet`.
pub fn submitting(
    pool: &Arc<Pool>,
    task: LlmTask,
) -> impl Future<Output = Result<LlmAnswer, LlmError>> + Send + 'static {
    let pool = pool.clone();
    async move { pool.submit(task).await }
}

/// Submits `task(i)` to `pool` for each `i` below `count`, each as a task of `set`.
pub fn spawn_each(
    set: &mut JoinSet<Result<LlmAnswer, LlmError>>,
    pool: &Arc<Pool>,
    count: usize,
    task: impl Fn(usize) -> LlmTask,
) {
    for i in 0..count {
        set.spawn(submitting(pool, task(i)));
    }
}

/// Waits for every submission of `set`; panics on any error.
pub async fn all_ok(mut set: JoinSet<Result<LlmAnswer, LlmError>>) {
    while let Some(joined) = set.join_next().await {
        joined.unwrap().unwrap();
    }
}

/// Submits `tasks` tasks to `pool` at once (task `i` is `task("{name}-{i}")`), then shuts the
/// pool down; returns the results in task order.
pub async fn submit_all(
    pool: Arc<Pool>,
    name: &str,
    tasks: usize,
    task: fn(&str) -> LlmTask,
) -> Vec<Result<LlmAnswer, LlmError>> {
    let mut set = JoinSet::new();
    for i in 0..tasks {
        let submit = submitting(&pool, task(&format!("{name}-{i}")));
        set.spawn(async move { (i, submit.await) });
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        out.push(joined.unwrap());
    }
    pool.shutdown().await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Runs `work` on a runtime of its own (one worker thread) on a thread of its own: a worker
/// process, as far as a shared gate and the fake server can tell.
pub fn on_own_thread<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    })
}

/// Waits for a thread's result without blocking the async runtime.
pub async fn join<T: Send + 'static>(h: std::thread::JoinHandle<T>) -> T {
    tokio::task::spawn_blocking(move || h.join().unwrap())
        .await
        .unwrap()
}

/// The most arrivals in any window `[t, t + 1 s)`.
pub fn max_per_second(times: &[Instant]) -> usize {
    let mut start = 0;
    let mut most = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}
