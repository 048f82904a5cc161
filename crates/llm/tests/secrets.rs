//! Keys never appear in captured logs: every tracing event of every crate (reqwest and hyper
//! included, at TRACE) is captured while the pool goes through 429s, refused keys, retries,
//! rejections, continuations and repairs. Its own test binary: it installs the global
//! subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use haul_core::{LlmPool as _, LlmTask};
use haul_llm::fake::{FakeReply, FakeRequest, FakeServer};
use haul_llm::{ApiKey, LlmConfig, Pool, Provider, REPAIR_SYSTEM};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const SECRETS: [&str; 4] = [
    "AIzaSyFAKE-secret-one",
    "AIzaSyFAKE-secret-two",
    "sk-proj-FAKE-secret-three",
    "sk-proj-FAKE-secret-four",
];

fn reply(r: &FakeRequest) -> FakeReply {
    let is_repair = r.system == REPAIR_SYSTEM;
    match (r.key.as_str(), r.key_seq, r.prompt()) {
        (_, _, "reject") => FakeReply::status(400, &format!("bad request from {}", r.key)),
        (k, 0, _) if k == SECRETS[0] || k == SECRETS[2] => FakeReply::Status {
            status: 429,
            retry_after: Some("0".into()),
            message: format!("quota for {k} exceeded"),
        },
        (_, 1, _) => FakeReply::status(503, &format!("overloaded, key {}", r.key)),
        (_, _, "broken") if !is_repair => FakeReply::Answer("{\"a\": ".into()),
        (_, _, "cut") => FakeReply::Fragments(vec!["{\"b\":".into(), " 2}".into()]),
        _ => FakeReply::Answer("{\"a\": 1}".into()),
    }
}

#[tokio::test]
async fn keys_appear_nowhere_in_captured_logs() {
    let capture = Capture::default();
    let sink = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    for (provider, keys) in [
        (Provider::Gemini, [SECRETS[0], SECRETS[1]]),
        (Provider::OpenAi, [SECRETS[2], SECRETS[3]]),
    ] {
        let server = FakeServer::builder()
            .respond(reply)
            .dead_keys(&[keys[1]])
            .start()
            .await
            .unwrap();
        let mut config = LlmConfig::new(
            provider,
            keys.iter()
                .enumerate()
                .map(|(i, k)| ApiKey::new(i + 1, *k))
                .collect(),
        );
        config.base_url = server.base_url();
        config.retry_base_delay = Duration::from_millis(5);
        config.cooldown_base = Duration::from_millis(5);
        tracing::info!(config = ?config, "starting");
        let pool = Pool::start(config).unwrap();
        for prompt in ["ok", "broken", "cut", "reject", "ok"] {
            let result = pool
                .submit(LlmTask {
                    site: "s".into(),
                    system: "sys".into(),
                    prompt: prompt.into(),
                    json: true,
                })
                .await;
            match &result {
                Ok(a) => tracing::info!(answer = ?a, "answered"),
                Err(e) => tracing::warn!(error = %e, debug = ?e, "failed"),
            }
        }
        tracing::info!(stats = %pool.stats_json(), pool = ?pool, "done");
        pool.shutdown().await;
        assert!(server.requests() >= 8, "{}", server.requests());
    }

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    for secret in SECRETS {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
    // The scenario really logged what it should, by label.
    for needle in [
        "rate-limited",
        "refused",
        "retrying",
        "key#1",
        "key#2",
        "repair",
        "bad request from key#1",
        "reqwest",
    ] {
        assert!(logs.contains(needle), "no {needle:?} in the logs:\n{logs}");
    }
}
