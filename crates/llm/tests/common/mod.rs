//! What the LLM pool's tests share (this crate's, and `haul-cluster`'s `tests/llm.rs`, which
//! includes this file by its path): pool configurations for a test server, tasks, a 429 on a
//! key's first request, pools on threads of their own standing for worker processes, and the
//! most requests in one second.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use haul_core::{LlmAnswer, LlmError, LlmPool as _, LlmTask, Url};
use haul_llm::fake::{FakeReply, FakeRequest};
use haul_llm::{ApiKey, LlmConfig, Pool, Provider};
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

/// Submits `tasks` tasks to `pool` at once (task `i` is `task("{name}-{i}")`), then shuts the
/// pool down; returns the results in task order.
pub async fn submit_all(
    pool: Arc<Pool>,
    name: &str,
    tasks: usize,
    task: fn(&str) -> LlmTask,
) -> Vec<Result<LlmAnswer, LlmError>> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..tasks {
        let (pool, task) = (pool.clone(), task(&format!("{name}-{i}")));
        set.spawn(async move { (i, pool.submit(task).await) });
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
