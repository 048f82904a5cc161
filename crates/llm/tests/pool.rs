//! The pool against the in-process fake server speaking Gemini's and OpenAI's real JSON:
//! key rotation and cooldowns, retries and timeouts, continuation and JSON repair,
//! in-flight cap, fairness, shutdown.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{all_ok, delaying, responding, spawn_each, submitting, task, until_requests};
use haul_core::{LlmError, LlmPool as _};
use haul_llm::fake::{FakeReply, FakeRequest, FakeRole, FakeServer};
use haul_llm::{ApiKey, CONTINUE_PROMPT, LlmConfig, Pool, Provider, REPAIR_SYSTEM};
use serde_json::{Value, json};

const PROVIDERS: [Provider; 2] = [Provider::Gemini, Provider::OpenAi];

fn config(server: &FakeServer, provider: Provider, keys: &[&str]) -> LlmConfig {
    let mut c = common::config(server.base_url(), provider, common::numbered(keys));
    c.timeout = Duration::from_millis(300);
    c.retry_base_delay = Duration::from_millis(40);
    c.retry_max_delay = Duration::from_secs(1);
    c.cooldown_base = Duration::from_secs(10);
    c
}

fn keys_of(server: &FakeServer) -> Vec<(String, u16)> {
    server
        .log()
        .into_iter()
        .map(|l| (l.key, l.status))
        .collect()
}

fn entry(key: &str, status: u16) -> (String, u16) {
    (key.to_string(), status)
}

#[tokio::test]
async fn a_429_moves_the_request_to_the_next_key_and_cools_the_first_down() {
    for provider in PROVIDERS {
        let server = responding(common::first_call_limited(
            |key| key == "key-A",
            "30",
            "slow down",
        ))
        .await;
        let pool = Pool::start(config(&server, provider, &["key-A", "key-B", "key-C"])).unwrap();
        let answer = pool.submit(task("s", "one", true)).await.unwrap();
        assert_eq!(answer.json.unwrap()["echo"], "one", "{provider}");
        // Then round robin goes on without the cooling key.
        for i in 0..4 {
            pool.submit(task("s", &format!("p{i}"), true))
                .await
                .unwrap();
        }
        assert_eq!(
            keys_of(&server),
            [
                entry("key-A", 429),
                entry("key-B", 200),
                entry("key-C", 200),
                entry("key-B", 200),
                entry("key-C", 200),
                entry("key-B", 200),
            ],
            "{provider}"
        );
        let stats = pool.stats();
        assert_eq!(stats.keys[0].state, "cooling");
        assert_eq!(stats.keys[0].rate_limited, 1);
        assert_eq!(stats.keys[0].requests, 1);
        assert_eq!(stats.keys[1].successes, 3);
        assert_eq!(stats.keys[2].successes, 2);
        assert_eq!(stats.succeeded, 5);
        pool.shutdown().await;
    }
}

#[tokio::test]
async fn retry_after_is_honoured_and_all_keys_cooling_means_waiting() {
    // (provider, reply for key A, reply for key B, minimum and maximum wait for key A)
    let cases = [
        (
            Provider::OpenAi,
            FakeReply::Status {
                status: 429,
                retry_after: Some("1".into()),
                message: "rate limit".into(),
            },
            FakeReply::Status {
                status: 429,
                retry_after: Some("3".into()),
                message: "rate limit".into(),
            },
            Duration::from_secs(1),
        ),
        (
            Provider::Gemini,
            FakeReply::GeminiRetryInfo {
                retry_delay: "0.4s".into(),
            },
            FakeReply::GeminiRetryInfo {
                retry_delay: "3s".into(),
            },
            Duration::from_millis(400),
        ),
    ];
    for (provider, reply_a, reply_b, wait) in cases {
        let server = responding(move |r: &FakeRequest| match (r.key.as_str(), r.key_seq) {
            ("key-A", 0) => reply_a.clone(),
            ("key-B", 0) => reply_b.clone(),
            _ => haul_llm::fake::echo(r),
        })
        .await;
        let pool = Pool::start(config(&server, provider, &["key-A", "key-B"])).unwrap();
        let answer = pool.submit(task("s", "x", true)).await;
        assert!(answer.is_ok(), "{provider}: {answer:?}");
        let log = server.log();
        assert_eq!(
            keys_of(&server),
            [
                entry("key-A", 429),
                entry("key-B", 429),
                entry("key-A", 200)
            ],
            "{provider}"
        );
        let waited = log[2].at - log[0].at;
        // Not before Retry-After; and well before key B's 3 s or the 10 s default cooldown.
        assert!(waited >= wait, "{provider}: waited {waited:?}");
        assert!(
            waited < Duration::from_millis(2500),
            "{provider}: waited {waited:?}"
        );
        pool.shutdown().await;
    }
}

#[tokio::test]
async fn refused_keys_are_dropped_and_all_refused_fails() {
    for provider in PROVIDERS {
        let server = FakeServer::builder()
            .dead_keys(&["key-A"])
            .start()
            .await
            .unwrap();
        let pool = Pool::start(config(&server, provider, &["key-A", "key-B"])).unwrap();
        for i in 0..3 {
            pool.submit(task("s", &format!("{i}"), false))
                .await
                .unwrap();
        }
        let refused = if provider == Provider::Gemini {
            400
        } else {
            401
        };
        assert_eq!(
            keys_of(&server),
            [
                entry("key-A", refused),
                entry("key-B", 200),
                entry("key-B", 200),
                entry("key-B", 200),
            ],
            "{provider}"
        );
        assert_eq!(pool.stats().keys[0].state, "dead");
        pool.shutdown().await;

        let server = FakeServer::builder()
            .dead_keys(&["key-A", "key-B"])
            .start()
            .await
            .unwrap();
        let pool = Pool::start(config(&server, provider, &["key-A", "key-B"])).unwrap();
        let err = pool.submit(task("s", "x", false)).await.unwrap_err();
        assert!(matches!(err, LlmError::NoUsableKey), "{provider}: {err:?}");
        assert_eq!(server.requests(), 2);
        // Later tasks fail at once, without calls.
        let err = pool.submit(task("s", "y", false)).await.unwrap_err();
        assert!(matches!(err, LlmError::NoUsableKey));
        assert_eq!(server.requests(), 2);
        pool.shutdown().await;
    }
}

/// What one retry scenario must produce.
struct RetryCase {
    name: &'static str,
    reply: fn(&FakeRequest) -> FakeReply,
    requests: u64,
    outcome: fn(&Result<haul_core::LlmAnswer, LlmError>) -> bool,
}

#[tokio::test]
async fn only_transient_errors_are_retried_at_most_three_times() {
    let cases = [
        RetryCase {
            name: "503 always",
            reply: |_| FakeReply::status(503, "overloaded"),
            requests: 4,
            outcome: |r| matches!(r, Err(LlmError::Exhausted { attempts: 4, last, .. }) if last.contains("503") && last.contains("key#")),
        },
        RetryCase {
            name: "500 twice then fine",
            reply: |r| {
                if r.seq < 2 {
                    FakeReply::status(500, "oops")
                } else {
                    haul_llm::fake::echo(r)
                }
            },
            requests: 3,
            outcome: |r| r.is_ok(),
        },
        RetryCase {
            name: "timeout",
            reply: |_| {
                FakeReply::Delay(
                    Duration::from_secs(5),
                    Box::new(FakeReply::Answer("{}".into())),
                )
            },
            requests: 4,
            outcome: |r| matches!(r, Err(LlmError::Exhausted { attempts: 4, last, .. }) if last.contains("timeout")),
        },
        RetryCase {
            name: "400",
            reply: |_| FakeReply::status(400, "Invalid value at 'contents'"),
            requests: 1,
            outcome: |r| matches!(r, Err(LlmError::Rejected { status: 400, message }) if message == "Invalid value at 'contents'"),
        },
        RetryCase {
            name: "404",
            reply: |_| FakeReply::status(404, "model not found"),
            requests: 1,
            outcome: |r| matches!(r, Err(LlmError::Rejected { status: 404, .. })),
        },
    ];
    for provider in PROVIDERS {
        for case in &cases {
            let server = responding(case.reply).await;
            let mut c = config(&server, provider, &["key-A", "key-B"]);
            c.timeout = Duration::from_millis(200);
            let pool = Pool::start(c).unwrap();
            let result = pool.submit(task("s", "x", true)).await;
            assert!(
                (case.outcome)(&result),
                "{provider} {}: {result:?}",
                case.name
            );
            assert_eq!(server.requests(), case.requests, "{provider} {}", case.name);
            if case.requests == 4 {
                // The first two retries go out at once (on the next paced slot), the third
                // after the base delay (40 ms, plus up to as much jitter).
                let log = server.log();
                let gaps: Vec<Duration> = log.windows(2).map(|w| w[1].at - w[0].at).collect();
                assert!(
                    gaps[2] >= Duration::from_millis(40) && gaps[2] > gaps[0].max(gaps[1]),
                    "{provider} {}: gaps {gaps:?}",
                    case.name
                );
                let retries: u64 = pool.stats().keys.iter().map(|k| k.retries).sum();
                assert_eq!(retries, 3, "{provider} {}", case.name);
            }
            pool.shutdown().await;
        }
    }
}

#[tokio::test]
async fn connection_errors_are_retried_then_exhausted() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut c = LlmConfig::new(Provider::OpenAi, vec![ApiKey::new(1, "key-A")]);
    c.base_url = url::Url::parse(&format!("http://{addr}/v1")).unwrap();
    c.retry_base_delay = Duration::from_millis(10);
    let pool = Pool::start(c).unwrap();
    let err = pool.submit(task("s", "x", false)).await.unwrap_err();
    match err {
        LlmError::Exhausted { attempts, last, .. } => {
            assert_eq!(attempts, 4);
            assert!(last.contains("connect"), "{last}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.stats().keys[0].retries, 3);
    pool.shutdown().await;
}

/// Cuts `text` into `n` pieces at char boundaries.
fn cut(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[tokio::test]
async fn truncated_answers_are_continued_and_merged_into_the_same_json() {
    let full = "```json\n{\"deals\": [{\"title\": \"Käse 500 g\", \"price\": \"3.49\"}, {\"title\": \"Brot\", \"price\": \"1.99\"}, {\"title\": \"Milch 1 l\", \"price\": \"0.99\"}]}\n```";
    let want: Value = json!({"deals": [
        {"title": "Käse 500 g", "price": "3.49"},
        {"title": "Brot", "price": "1.99"},
        {"title": "Milch 1 l", "price": "0.99"},
    ]});
    for provider in PROVIDERS {
        for pieces in [1usize, 2, 3] {
            let fragments = cut(full, pieces);
            assert_eq!(fragments.len(), pieces);
            let served = fragments.clone();
            let server = responding(move |_| FakeReply::Fragments(served.clone())).await;
            let pool = Pool::start(config(&server, provider, &["key-A", "key-B"])).unwrap();
            let answer = pool.submit(task("s", "page", true)).await.unwrap();
            assert_eq!(answer.json.as_ref(), Some(&want), "{provider} {pieces}");
            assert_eq!(answer.text, full, "{provider} {pieces}");
            assert_eq!(answer.continuations, pieces as u32 - 1);
            assert_eq!(server.requests(), pieces as u64);
            let rounds: Vec<usize> = server.log().iter().map(|l| l.round).collect();
            assert_eq!(rounds, (0..pieces).collect::<Vec<_>>());
            let stats = pool.stats();
            let continuations: u64 = stats.keys.iter().map(|k| k.continuations).sum();
            assert_eq!(continuations, pieces as u64 - 1);
            let output: u64 = stats.keys.iter().map(|k| k.output_tokens).sum();
            assert_eq!(answer.output_tokens, output);
            pool.shutdown().await;
        }
    }
}

#[tokio::test]
async fn continuation_requests_carry_the_partial_answer_and_a_continue_turn() {
    for provider in PROVIDERS {
        let seen = Arc::new(std::sync::Mutex::new(Vec::<FakeRequest>::new()));
        let record = seen.clone();
        let server = responding(move |r: &FakeRequest| {
            record.lock().unwrap().push(r.clone());
            FakeReply::Fragments(vec!["[1,".into(), "2,".into(), "3]".into()])
        })
        .await;
        let pool = Pool::start(config(&server, provider, &["key-A"])).unwrap();
        let answer = pool.submit(task("s", "list", true)).await.unwrap();
        assert_eq!(answer.json, Some(json!([1, 2, 3])));
        let seen = seen.lock().unwrap().clone();
        let user = |t: &str| (FakeRole::User, t.to_string());
        let model = |t: &str| (FakeRole::Model, t.to_string());
        assert_eq!(seen[0].turns, [user("list")]);
        assert_eq!(
            seen[2].turns,
            [
                user("list"),
                model("[1,"),
                user(CONTINUE_PROMPT),
                model("2,"),
                user(CONTINUE_PROMPT)
            ]
        );
        assert_eq!(seen[2].system, "Extract deals.");
        // JSON mode on the first request only: a continuation is not a JSON value by itself.
        let modes: Vec<bool> = seen.iter().map(|r| r.json_mode).collect();
        assert_eq!(modes, [true, false, false], "{provider}");
        assert_eq!(seen[0].model, "test-model");
        pool.shutdown().await;
    }
}

#[tokio::test]
async fn continuation_rounds_are_bounded_and_invalid_json_is_repaired_once() {
    // Repair succeeds: a broken answer, then a fixed one from the repair request.
    for provider in PROVIDERS {
        let server = responding(|r: &FakeRequest| {
            if r.system == REPAIR_SYSTEM {
                assert!(r.prompt().contains("{'a': 1,}"), "{}", r.prompt());
                FakeReply::Answer("{\"a\": 1}".into())
            } else {
                FakeReply::Answer("{'a': 1,}".into())
            }
        })
        .await;
        let pool = Pool::start(config(&server, provider, &["key-A"])).unwrap();
        let answer = pool.submit(task("s", "x", true)).await.unwrap();
        assert_eq!(answer.json, Some(json!({"a": 1})));
        assert_eq!(server.requests(), 2);
        assert_eq!(pool.stats().repairs, 1);
        pool.shutdown().await;
    }
    // Repair fails too: InvalidAnswer keeps the raw answer.
    let server = responding(|_| FakeReply::Answer("not json at all".into())).await;
    let pool = Pool::start(config(&server, Provider::Gemini, &["key-A"])).unwrap();
    match pool.submit(task("s", "x", true)).await {
        Err(LlmError::InvalidAnswer { raw, .. }) => assert_eq!(raw, "not json at all"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests(), 2);
    assert_eq!(pool.stats().failed, 1);
    pool.shutdown().await;
    // Text tasks are never parsed or repaired.
    let server = responding(|_| FakeReply::Answer("plain words".into())).await;
    let pool = Pool::start(config(&server, Provider::OpenAi, &["key-A"])).unwrap();
    let answer = pool.submit(task("s", "x", false)).await.unwrap();
    assert_eq!((answer.text.as_str(), answer.json), ("plain words", None));
    pool.shutdown().await;
    // An answer still cut after max_continuations rounds: 1 + 2 calls, then the repair.
    let server = responding(|r: &FakeRequest| {
        if r.system == REPAIR_SYSTEM {
            FakeReply::Answer("[1, 2, 3]".into())
        } else {
            FakeReply::Fragments(vec![
                "[1,".into(),
                "2,".into(),
                "3,".into(),
                "4,".into(),
                "5]".into(),
            ])
        }
    })
    .await;
    let mut c = config(&server, Provider::OpenAi, &["key-A"]);
    c.max_continuations = 2;
    let pool = Pool::start(c).unwrap();
    let answer = pool.submit(task("s", "x", true)).await.unwrap();
    assert_eq!(answer.json, Some(json!([1, 2, 3])));
    assert_eq!(answer.continuations, 2);
    assert_eq!(server.requests(), 4);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_calls_never_exceed_the_cap_and_1000_tasks_resolve() {
    let server = delaying(Duration::from_millis(10)).await;
    let mut c = config(&server, Provider::Gemini, &["key-A", "key-B", "key-C"]);
    c.workers = 12;
    c.max_in_flight = 8;
    c.queue_capacity = 50;
    let pool = Pool::start(c).unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let pool = pool.clone();
        set.spawn(async move {
            let answer = pool
                .submit(task(&format!("site{}", i % 4), &format!("p{i}"), true))
                .await
                .unwrap();
            assert_eq!(answer.json.unwrap()["echo"], format!("p{i}"));
        });
    }
    let mut resolved = 0;
    while let Some(joined) = set.join_next().await {
        joined.unwrap();
        resolved += 1;
    }
    assert_eq!(resolved, 1000);
    assert_eq!(server.requests(), 1000);
    let stats = pool.stats();
    assert!(
        server.peak_in_flight() <= 8,
        "server saw {}",
        server.peak_in_flight()
    );
    assert!(server.peak_in_flight() >= 2, "no concurrency at all?");
    assert!(stats.peak_in_flight <= 8);
    assert!(stats.peak_queue_depth <= 50, "{}", stats.peak_queue_depth);
    assert_eq!(
        (stats.submitted, stats.succeeded, stats.failed),
        (1000, 1000, 0)
    );
    let per_key = server.requests_per_key();
    for key in ["key-A", "key-B", "key-C"] {
        assert!(per_key[key] >= 300, "round robin: {per_key:?}");
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn a_big_site_does_not_starve_a_small_one() {
    let server = delaying(Duration::from_millis(2)).await;
    let mut c = config(&server, Provider::OpenAi, &["key-A"]);
    c.workers = 1;
    c.max_in_flight = 1;
    let pool = Pool::start(c).unwrap();
    let mut set = tokio::task::JoinSet::new();
    spawn_each(&mut set, &pool, 100, |i| {
        task("big", &format!("big{i}"), false)
    });
    while pool.stats().submitted < 100 {
        tokio::task::yield_now().await;
    }
    spawn_each(&mut set, &pool, 5, |i| {
        task("small", &format!("small{i}"), false)
    });
    all_ok(set).await;
    let order: Vec<String> = server.log().into_iter().map(|l| l.prompt).collect();
    assert_eq!(order.len(), 105);
    // The small site's tasks were queued behind ~95 big ones, yet each went out within the
    // next few calls: sites take turns.
    let positions: Vec<usize> = (0..5)
        .map(|i| {
            order
                .iter()
                .position(|p| *p == format!("small{i}"))
                .unwrap()
        })
        .collect();
    assert!(
        positions.iter().all(|&p| p < 20),
        "small tasks at {positions:?}"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn shutdown_resolves_every_task() {
    // Running tasks finish within the grace period; queued ones are cancelled.
    let server = delaying(Duration::from_millis(300)).await;
    let mut c = config(&server, Provider::Gemini, &["key-A"]);
    c.workers = 2;
    c.max_in_flight = 2;
    c.timeout = Duration::from_secs(5);
    let pool = Pool::start(c).unwrap();
    let mut set = tokio::task::JoinSet::new();
    spawn_each(&mut set, &pool, 20, |i| task("s", &format!("{i}"), true));
    until_requests(&server, 2).await;
    pool.shutdown().await;
    let (mut ok, mut cancelled) = (0, 0);
    while let Some(joined) = set.join_next().await {
        match joined.unwrap() {
            Ok(_) => ok += 1,
            Err(LlmError::Cancelled) => cancelled += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((ok, cancelled), (2, 18));
    let stats = pool.stats();
    assert_eq!((stats.succeeded, stats.cancelled), (2, 18));
    assert!(matches!(
        pool.submit(task("s", "late", true)).await,
        Err(LlmError::Cancelled)
    ));
    pool.shutdown().await; // idempotent

    // Calls still running when the grace period ends are cancelled too.
    let server = responding(|_| {
        FakeReply::Delay(
            Duration::from_secs(30),
            Box::new(FakeReply::Answer("{}".into())),
        )
    })
    .await;
    let mut c = config(&server, Provider::OpenAi, &["key-A"]);
    c.timeout = Duration::from_secs(60);
    c.shutdown_grace = Duration::from_millis(100);
    let pool = Pool::start(c).unwrap();
    let waiting = tokio::spawn(submitting(&pool, task("s", "x", true)));
    until_requests(&server, 1).await;
    let started = std::time::Instant::now();
    pool.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(waiting.await.unwrap(), Err(LlmError::Cancelled)));

    // Tasks waiting for a cooling key are cancelled as well.
    let server = responding(|_| FakeReply::Status {
        status: 429,
        retry_after: Some("60".into()),
        message: "no".into(),
    })
    .await;
    let mut c = config(&server, Provider::Gemini, &["key-A"]);
    c.shutdown_grace = Duration::from_millis(100);
    let pool = Pool::start(c).unwrap();
    let waiting = tokio::spawn(submitting(&pool, task("s", "x", true)));
    until_requests(&server, 1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(pool.stats().keys[0].state, "cooling");
    pool.shutdown().await;
    assert!(matches!(waiting.await.unwrap(), Err(LlmError::Cancelled)));
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn keys_never_show_in_errors_stats_or_debug() {
    let secrets = ["sk-live-SECRET-AAAA", "sk-live-SECRET-BBBB"];
    for provider in PROVIDERS {
        let server = responding(|r: &FakeRequest| {
            // A provider echoing the key in its message.
            FakeReply::status(400, &format!("key {} may not call this model", r.key))
        })
        .await;
        let pool = Pool::start(config(&server, provider, &secrets)).unwrap();
        let err = pool.submit(task("s", "x", true)).await.unwrap_err();
        let shown = format!(
            "{err} {err:?} {} {:?} {pool:?} {:?}",
            pool.stats_json(),
            pool.stats(),
            pool.config()
        );
        for secret in secrets {
            assert!(!shown.contains(secret), "{provider}: {shown}");
        }
        assert!(shown.contains("key#1 may not call"), "{shown}");
        pool.shutdown().await;
    }
}

#[tokio::test]
async fn stats_count_tokens_latency_and_keys() {
    let server = delaying(Duration::from_millis(5)).await;
    let pool = Pool::start(config(&server, Provider::OpenAi, &["key-A", "key-B"])).unwrap();
    let mut input = 0;
    for i in 0..4 {
        input += pool
            .submit(task("s", &format!("prompt {i}"), true))
            .await
            .unwrap()
            .input_tokens;
    }
    let stats = pool.stats_json();
    assert_eq!(stats["provider"], "openai");
    assert_eq!(stats["submitted"], 4);
    assert_eq!(stats["peak_in_flight"], 1);
    let keys = stats["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let mut total_input = 0;
    for k in keys {
        assert_eq!(k["requests"], 2);
        assert_eq!(k["successes"], 2);
        assert!(k["latency_p50_ms"].as_f64().unwrap() >= 5.0, "{k}");
        assert!(k["latency_p95_ms"].as_f64().unwrap() >= k["latency_p50_ms"].as_f64().unwrap());
        assert!(k["output_tokens"].as_u64().unwrap() > 0);
        total_input += k["input_tokens"].as_u64().unwrap();
    }
    assert_eq!(total_input, input);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_rpm_spaces_requests_at_the_server() {
    let server = FakeServer::builder()
        .latency(Duration::from_millis(5))
        .rate_limit(20)
        .start()
        .await
        .unwrap();
    let mut c = config(&server, Provider::Gemini, &["key-A", "key-B"]);
    c.per_key_rpm = Some(1200); // one request per 50 ms per key
    let pool = Pool::start(c).unwrap();
    let mut set = tokio::task::JoinSet::new();
    spawn_each(&mut set, &pool, 16, |i| task("s", &format!("{i}"), true));
    all_ok(set).await;
    assert_eq!(server.rate_limited(), 0);
    let log = server.log();
    for key in ["key-A", "key-B"] {
        let times: Vec<_> = log.iter().filter(|l| l.key == key).map(|l| l.at).collect();
        assert_eq!(times.len(), 8, "{key}");
        // Sent at least 50 ms apart. The server stamps a request when its handler runs, so
        // on a loaded machine one late stamp shortens the next gap: what cannot shrink is
        // the time 8 requests take (7 gaps of 50 ms, less one late first stamp), nor can two
        // gaps in a row both be short.
        let span = times[7] - times[0];
        assert!(
            span >= Duration::from_millis(290),
            "{key}: 8 requests in {span:?}"
        );
        for three in times.windows(3) {
            let pair = three[2] - three[0];
            assert!(
                pair >= Duration::from_millis(55),
                "{key}: 3 requests in {pair:?}"
            );
        }
    }
    pool.shutdown().await;
}
