//! The LLM client against hostile endpoints on 127.0.0.1: a redirect (its target must receive
//! nothing, the key included), a reply larger than the cap (read while streaming, a failure
//! naming the cap), and server-given delays far too long for `Instant` arithmetic.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use common::responding;
use haul_core::{LlmError, LlmPool as _, LlmTask};
use haul_llm::fake::{FakeReply, FakeRequest, FakeServer};
use haul_llm::{GateError, GateKey, KeyGate, LlmConfig, Pool, Provider};

const PROVIDERS: [Provider; 2] = [Provider::Gemini, Provider::OpenAi];

fn config(base: url::Url, provider: Provider, keys: &[&str]) -> LlmConfig {
    let mut c = common::config(base, provider, common::numbered(keys));
    c.timeout = Duration::from_secs(10);
    c
}

fn task(prompt: &str) -> LlmTask {
    common::task("s", prompt, false)
}

/// Serves `router` (every path, any method) on 127.0.0.1:0; returns its base URL.
async fn serve(router: axum::Router) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test]
async fn redirects_are_not_followed_and_their_target_sees_nothing() {
    // The target speaks the protocols: were the redirect followed, the call would succeed.
    let target = FakeServer::builder().start().await.unwrap();
    for status in [StatusCode::TEMPORARY_REDIRECT, StatusCode::FOUND] {
        let to = target.base_url();
        let redirect = move |uri: axum::http::Uri| {
            let to = to.join(uri.path().trim_start_matches('/')).unwrap();
            async move { (status, [(header::LOCATION, to.to_string())]).into_response() }
        };
        let base = serve(axum::Router::new().fallback(redirect)).await;
        for provider in PROVIDERS {
            let pool = Pool::start(config(base.clone(), provider, &["sk-secret"])).unwrap();
            let err = pool.submit(task("hello")).await.unwrap_err();
            let LlmError::Rejected {
                status: got,
                message,
            } = &err
            else {
                panic!("{provider} {status}: want Rejected, got {err:?}");
            };
            assert_eq!(*got, status.as_u16(), "{provider}");
            assert!(message.contains("not followed"), "{message}");
            assert!(message.contains(target.base_url().as_str()), "{message}");
            assert!(!message.contains("sk-secret"), "{message}");
            // Rejected: not retried, not counted against the key's health.
            assert_eq!(pool.stats().keys[0].requests, 1);
            pool.shutdown().await;
        }
    }
    assert_eq!(target.requests(), 0, "the redirect's target was called");
}

#[tokio::test]
async fn an_oversized_reply_fails_naming_the_cap() {
    let big = || async { "x".repeat(512 * 1024) };
    let endless = || async {
        // 200, chunked, no Content-Length, never ends.
        let chunk = Bytes::from(vec![b' '; 64 * 1024]);
        Body::from_stream(futures::stream::repeat_with(move || {
            Ok::<_, std::io::Error>(chunk.clone())
        }))
    };
    for (path, router) in [
        ("big", axum::Router::new().fallback(big)),
        ("endless", axum::Router::new().fallback(endless)),
    ] {
        let base = serve(router).await;
        for provider in PROVIDERS {
            let mut c = config(base.clone(), provider, &["sk-1"]);
            c.max_reply_bytes = 256 * 1024;
            let pool = Pool::start(c).unwrap();
            let err = tokio::time::timeout(Duration::from_secs(20), pool.submit(task("hi")))
                .await
                .expect("the capped read returns")
                .unwrap_err();
            let LlmError::Rejected { message, .. } = &err else {
                panic!("{provider} {path}: want Rejected, got {err:?}");
            };
            assert!(
                message.contains("larger than the cap of 262144 bytes"),
                "{path}: {message}"
            );
            pool.shutdown().await;
        }
    }
}

/// Records the cooldowns the pool shares, so a test can read the delay it took.
#[derive(Debug, Default)]
struct Recorder {
    pauses: Mutex<Vec<(String, Duration)>>,
}

#[haul_core::async_trait]
impl KeyGate for Recorder {
    async fn try_acquire(&self, _: &GateKey) -> Result<Option<Duration>, GateError> {
        Ok(None)
    }

    async fn pause(&self, key: &GateKey, cooldown: Duration) -> Result<(), GateError> {
        let mut pauses = self.pauses.lock().unwrap();
        pauses.push((key.label().to_string(), cooldown));
        Ok(())
    }

    fn enforces_rpm(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn huge_server_given_delays_are_capped_not_overflowed() {
    let cap = Duration::from_secs(haul_http::MAX_RETRY_AFTER_SECS);
    let header = || FakeReply::Status {
        status: 429,
        retry_after: Some("99999999999999999999".into()),
        message: "slow down".into(),
    };
    let body = || FakeReply::GeminiRetryInfo {
        retry_delay: "99999999999999999999s".into(),
    };
    let cases = [
        (Provider::OpenAi, header()),
        (Provider::Gemini, header()),
        (Provider::Gemini, body()),
    ];
    for (provider, hostile) in cases {
        let server = responding(move |r: &FakeRequest| match r.key.as_str() {
            "key-A" => hostile.clone(),
            _ => haul_llm::fake::echo(r),
        })
        .await;
        let mut c = config(server.base_url(), provider, &["key-A", "key-B"]);
        // Far above the shared cap: the cap applied must be the one the delay is read with.
        c.cooldown_max = Duration::from_secs(100 * 3600);
        let gate = Arc::new(Recorder::default());
        let pool = Pool::start_with_gate(c, gate.clone()).unwrap();
        // The first call goes to key-A, is rate-limited, and moves on to key-B.
        let answer = pool.submit(task("one")).await.unwrap();
        assert!(answer.text.contains("one"), "{provider}: {}", answer.text);
        assert_eq!(
            *gate.pauses.lock().unwrap(),
            [("key#1".to_string(), cap)],
            "{provider}"
        );
        let stats = pool.stats();
        assert_eq!(stats.keys[0].state, "cooling", "{provider}");
        assert_eq!((stats.succeeded, stats.failed), (1, 0), "{provider}");
        pool.shutdown().await;
    }
}
