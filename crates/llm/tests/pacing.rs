//! Per-key pacing against a fake provider that limits each key like real ones do (a token
//! bucket answering 429 with the wait), with 500/503 answers and answers cut at the
//! output-token limit: a pool configured with the provider's limits draws no 429, loses no
//! task and keeps the keys busy; a 429 that does come cools only its key, for the capped
//! `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use haul_core::{LlmPool as _, LlmTask};
use haul_llm::fake::{FakeReply, FakeRequest, FakeServer};
use haul_llm::{ApiKey, LlmConfig, Pool, Provider};
use tokio::time::Instant;

fn keys(n: usize) -> Vec<ApiKey> {
    (1..=n)
        .map(|i| ApiKey::new(i, format!("key-{i}")))
        .collect()
}

fn task(i: usize) -> LlmTask {
    LlmTask {
        site: format!("site{}", i % 3),
        system: "Extract the deals as JSON.".into(),
        prompt: format!("page {i:04}: # Deals\n* Widget {i} for 9.99 EUR"),
        json: true,
    }
}

/// What [`limited_run`] saw.
struct Run {
    wall: Duration,
    requests: u64,
    rate_limited: u64,
    server_errors: u64,
    truncated: u64,
    retries: u64,
    continuations: u64,
}

/// `tasks` JSON tasks through a pool of `n_keys` keys paced at `per_second` with `burst`,
/// against a fake provider with the same token bucket per key, `errors` of its answers 500 or
/// 503 and `truncated` of them cut at the output-token limit. Every task must be answered
/// with its own JSON.
async fn limited_run(
    provider: Provider,
    tasks: usize,
    n_keys: usize,
    (per_second, burst): (u32, u32),
    (errors, truncated): (f64, f64),
    max_retries: u32,
) -> Run {
    let server = FakeServer::builder()
        .latency(Duration::from_millis(20))
        .token_bucket(f64::from(per_second), burst)
        .server_errors(errors)
        .truncated(truncated)
        .seed(14)
        .start()
        .await
        .unwrap();
    let mut c = LlmConfig::new(provider, keys(n_keys));
    c.base_url = server.base_url();
    c.model = "test-model".into();
    c.per_key_rpm = Some(per_second * 60);
    c.per_key_burst = burst;
    c.max_retries = max_retries;
    c.retry_base_delay = Duration::from_millis(50);
    c.retry_max_delay = Duration::from_millis(400);
    c.timeout = Duration::from_secs(10);
    let pool = Pool::start(c).unwrap();
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..tasks {
        let pool: Arc<Pool> = pool.clone();
        set.spawn(async move {
            let t = task(i);
            let prompt = t.prompt.clone();
            let answer = pool.submit(t).await.expect("every task is answered");
            let json = answer.json.expect("the answer parses");
            // The fake's echo: the prompt's first 40 characters and its length.
            let want: String = prompt.chars().take(40).collect();
            assert_eq!(json["echo"], want.as_str(), "task {i}");
            assert_eq!(json["prompt_chars"], prompt.chars().count(), "task {i}");
            answer.continuations
        });
    }
    let mut continuations = 0;
    while let Some(joined) = set.join_next().await {
        continuations += u64::from(joined.unwrap());
    }
    let wall = started.elapsed();
    let stats = pool.stats();
    pool.shutdown().await;
    assert_eq!(stats.succeeded, tasks as u64);
    assert_eq!(stats.failed + stats.cancelled + stats.abandoned, 0);
    Run {
        wall,
        requests: server.requests(),
        rate_limited: server.rate_limited(),
        server_errors: server.server_errors(),
        truncated: server.truncated(),
        retries: stats.keys.iter().map(|k| k.retries).sum(),
        continuations,
    }
}

/// The shortest time the keys allow for `requests`: a full bucket at once, then the rate.
fn bound(requests: u64, n_keys: usize, (per_second, burst): (u32, u32)) -> f64 {
    let keys = n_keys as f64;
    (requests as f64 - keys * f64::from(burst)).max(0.0) / (keys * f64::from(per_second))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_paced_like_the_provider_draws_no_429_through_retries_and_continuations() {
    // Issue #14's set-up: 3 keys of 10 requests/s with a burst of 10, 5 % of answers 500/503,
    // 20 % cut at the output-token limit.
    let limit = (10, 10);
    let run = limited_run(Provider::Gemini, 300, 3, limit, (0.05, 0.2), 6).await;
    assert_eq!(run.rate_limited, 0, "HTTP 429 drawn");
    // Both kinds of extra requests happened, and each went through the pacing too.
    assert!(run.server_errors > 0 && run.retries >= run.server_errors);
    assert!(run.truncated > 0 && run.continuations == run.truncated);
    assert_eq!(run.requests, 300 + run.continuations + run.server_errors);
    let floor = bound(run.requests, 3, limit);
    eprintln!(
        "{} requests ({} retries after 5xx, {} continuations) in {:.2} s; the keys allow {:.2} s: {:.0} % of the bound",
        run.requests,
        run.retries,
        run.continuations,
        run.wall.as_secs_f64(),
        floor,
        100.0 * floor / run.wall.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_answers_503_still_draws_no_429_and_loses_no_task() {
    let limit = (20, 4);
    let run = limited_run(Provider::OpenAi, 100, 2, limit, (0.5, 0.2), 40).await;
    assert_eq!(run.rate_limited, 0, "HTTP 429 drawn");
    assert!(run.server_errors >= 50, "{}", run.server_errors);
    assert_eq!(run.requests, 100 + run.continuations + run.server_errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_cools_only_its_key_for_the_capped_retry_after() {
    for provider in [Provider::OpenAi, Provider::Gemini] {
        // key-1's first request draws a 429 asking for an hour (a header for OpenAI,
        // `retryDelay` for Gemini); the pool caps it at 1 s (`cooldown_max`, which the binary
        // sets from `--max-retry-after`).
        let server = FakeServer::builder()
            .respond(move |r: &FakeRequest| {
                if r.key == "key-1" && r.key_seq == 0 {
                    match provider {
                        Provider::OpenAi => FakeReply::Status {
                            status: 429,
                            retry_after: Some("3600".into()),
                            message: "Rate limit reached.".into(),
                        },
                        Provider::Gemini => FakeReply::GeminiRetryInfo {
                            retry_delay: "3600s".into(),
                        },
                    }
                } else {
                    haul_llm::fake::echo(r)
                }
            })
            .start()
            .await
            .unwrap();
        let mut c = LlmConfig::new(provider, keys(2));
        c.base_url = server.base_url();
        c.cooldown_max = Duration::from_secs(1);
        let pool = Pool::start(c).unwrap();
        pool.submit(task(0)).await.unwrap();
        let stats = pool.stats();
        assert_eq!(stats.keys[0].state, "cooling", "{provider}");
        assert_eq!(stats.keys[0].rate_limited, 1, "{provider}");
        assert_eq!(stats.keys[1].state, "healthy", "{provider}");
        // Tasks keep coming for 1.5 s: key-2 serves them at once; key-1 again after 1 s.
        for i in 1..=15 {
            pool.submit(task(i)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        pool.shutdown().await;
        let log = server.log();
        assert_eq!(
            (&log[0].key[..], log[0].status),
            ("key-1", 429),
            "{provider}"
        );
        // The task of the 429 moved to key-2 at once, before key-1 was used again.
        assert_eq!(
            (&log[1].key[..], log[1].status),
            ("key-2", 200),
            "{provider}"
        );
        let again = log
            .iter()
            .skip(1)
            .find(|l| l.key == "key-1")
            .expect("key-1 is used again once the capped cooldown is over");
        assert!(
            again.at - log[0].at >= Duration::from_secs(1),
            "{provider}: key-1 back after {:?}",
            again.at - log[0].at
        );
        let key2_meanwhile = log
            .iter()
            .filter(|l| l.key == "key-2" && l.at < again.at)
            .count();
        assert!(key2_meanwhile >= 5, "{provider}: {key2_meanwhile}");
        assert_eq!(server.rate_limited(), 0);
    }
}
