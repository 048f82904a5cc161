//! An in-process fake LLM server on 127.0.0.1 speaking both protocols' real JSON: Gemini
//! `POST /v1beta/models/{model}:generateContent` and OpenAI `POST /chat/completions`.
//!
//! A responder closure decides each answer (text, fragments cut at the output-token limit,
//! an HTTP error, a delay); the server adds optional latency, per-key rate limiting (a sliding
//! window, or a token bucket like real providers' answering 429 with the wait), a share of
//! 500/503 answers and a share of answers cut at the output-token limit, and records what it
//! saw (per-key counts, peak concurrency, arrival times). Used by this crate's tests and by
//! the benchmark (`cargo xtask bench llm`).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Provider;

/// Who spoke a turn, as the fake server read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeRole {
    /// The user (or the system, for OpenAI `system` messages: see [`FakeRequest::system`]).
    User,
    /// The model (`model` in Gemini, `assistant` in OpenAI).
    Model,
}

/// One request as the fake server read it.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    /// Which endpoint was called.
    pub provider: Provider,
    /// The key sent (`x-goog-api-key` or `Authorization: Bearer`).
    pub key: String,
    /// The model named in the path (Gemini) or the body (OpenAI).
    pub model: String,
    /// The system text.
    pub system: String,
    /// The conversation turns.
    pub turns: Vec<(FakeRole, String)>,
    /// Whether JSON output was asked for.
    pub json_mode: bool,
    /// Arrival number over all requests, from 0.
    pub seq: u64,
    /// Arrival number for this key, from 0.
    pub key_seq: u64,
}

impl FakeRequest {
    /// The first user turn (the task's prompt).
    pub fn prompt(&self) -> &str {
        self.turns
            .iter()
            .find(|(r, _)| *r == FakeRole::User)
            .map_or("", |(_, t)| t.as_str())
    }

    /// Continuation round: how many model turns the conversation already holds.
    pub fn round(&self) -> usize {
        self.turns
            .iter()
            .filter(|(r, _)| *r == FakeRole::Model)
            .count()
    }
}

/// What the fake server answers.
#[derive(Debug, Clone)]
pub enum FakeReply {
    /// A complete answer.
    Answer(String),
    /// An answer cut into fragments: round `i` (see [`FakeRequest::round`]) gets fragment `i`,
    /// marked as stopped at the output-token limit unless it is the last.
    Fragments(Vec<String>),
    /// An HTTP error in the provider's error format.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` header value.
        retry_after: Option<String>,
        /// The error message.
        message: String,
    },
    /// Gemini's 429 with the delay in a `google.rpc.RetryInfo` detail (`"0.3s"`).
    GeminiRetryInfo {
        /// The `retryDelay` value.
        retry_delay: String,
    },
    /// Waits, then answers.
    Delay(Duration, Box<FakeReply>),
}

impl FakeReply {
    /// An HTTP error without `Retry-After`.
    pub fn status(status: u16, message: &str) -> Self {
        Self::Status {
            status,
            retry_after: None,
            message: message.to_string(),
        }
    }
}

type Responder = Arc<dyn Fn(&FakeRequest) -> FakeReply + Send + Sync>;

/// The default responder: a small JSON object derived from the prompt.
pub fn echo(req: &FakeRequest) -> FakeReply {
    let prompt = req.prompt();
    let answer = json!({
        "echo": prompt.chars().take(40).collect::<String>(),
        "prompt_chars": prompt.chars().count(),
    });
    FakeReply::Answer(answer.to_string())
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
pub struct FakeLog {
    /// The key sent.
    pub key: String,
    /// When it arrived.
    pub at: Instant,
    /// The HTTP status answered (0 when the client left first).
    pub status: u16,
    /// Its continuation round.
    pub round: usize,
    /// Its first user turn (the task's prompt), up to 200 characters.
    pub prompt: String,
}

/// One key's token bucket at the server (kept apart from the pool's own pacing code, so that
/// tests compare the pool with an independent model of a provider).
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A provider's per-key request limit: `per_second` tokens a second, `burst` at most.
#[derive(Debug, Clone, Copy)]
struct BucketLimit {
    per_second: f64,
    burst: f64,
}

impl BucketLimit {
    /// Takes a token of `bucket` at `now`: `None`, or the wait until one is there.
    fn take(self, bucket: &mut Bucket, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

#[derive(Default)]
struct Recorder {
    log: Vec<FakeLog>,
    per_key: HashMap<String, u64>,
    windows: HashMap<String, VecDeque<Instant>>,
    buckets: HashMap<String, Bucket>,
}

struct Shared {
    responder: Responder,
    latency: Duration,
    rate_limit: Option<u32>,
    bucket: Option<BucketLimit>,
    server_errors: f64,
    truncated_share: f64,
    seed: u64,
    dead_keys: Vec<String>,
    seq: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    rate_limited: AtomicU64,
    errors: AtomicU64,
    truncated: AtomicU64,
    recorder: Mutex<Recorder>,
}

impl Shared {
    fn recorder(&self) -> std::sync::MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Configures a [`FakeServer`].
pub struct FakeServerBuilder {
    responder: Responder,
    latency: Duration,
    rate_limit: Option<u32>,
    bucket: Option<BucketLimit>,
    server_errors: f64,
    truncated_share: f64,
    seed: u64,
    dead_keys: Vec<String>,
}

impl std::fmt::Debug for FakeServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServerBuilder")
            .field("latency", &self.latency)
            .field("rate_limit", &self.rate_limit)
            .field("bucket", &self.bucket)
            .field("server_errors", &self.server_errors)
            .field("truncated", &self.truncated_share)
            .finish_non_exhaustive()
    }
}

impl FakeServerBuilder {
    /// Every answer waits this long (default none).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Each key may make `per_second` requests in any one-second window (plus one request of
    /// slack for timing jitter); more get HTTP 429 with `Retry-After: 1`.
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// Each key has a token bucket like a provider's: `per_second` requests a second on
    /// average, at most `burst` back to back (its size; it starts full). A request finding
    /// no token gets HTTP 429 and takes none, with the wait until the next token: OpenAI's
    /// `Retry-After` header (whole seconds, rounded up), Gemini's `retryDelay` (`"0.083s"`).
    pub fn token_bucket(mut self, per_second: f64, burst: u32) -> Self {
        self.bucket = Some(BucketLimit {
            per_second: per_second.max(1e-6),
            burst: f64::from(burst.max(1)),
        });
        self
    }

    /// This share (0 to 1) of the requests let through by the rate limits answer HTTP 500 or
    /// 503 (about half each), chosen by a hash of the arrival number and the seed.
    pub fn server_errors(mut self, share: f64) -> Self {
        self.server_errors = share.clamp(0.0, 1.0);
        self
    }

    /// This share (0 to 1) of the conversations get their answer cut at the output-token
    /// limit: the responder's [`FakeReply::Answer`] goes out in two fragments, the first
    /// marked as cut (chosen by a hash of the prompt and the seed, so that a conversation's
    /// continuation rounds agree).
    pub fn truncated(mut self, share: f64) -> Self {
        self.truncated_share = share.clamp(0.0, 1.0);
        self
    }

    /// Seeds the choices of [`server_errors`](Self::server_errors) and
    /// [`truncated`](Self::truncated) (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// These keys are refused: 401 (OpenAI) or Gemini's 400 `API_KEY_INVALID`.
    pub fn dead_keys(mut self, keys: &[&str]) -> Self {
        self.dead_keys = keys.iter().map(|k| k.to_string()).collect();
        self
    }

    /// Decides each answer (default: [`echo`]).
    pub fn respond(
        mut self,
        f: impl Fn(&FakeRequest) -> FakeReply + Send + Sync + 'static,
    ) -> Self {
        self.responder = Arc::new(f);
        self
    }

    /// Binds 127.0.0.1 on a free port and serves until the server is dropped.
    pub async fn start(self) -> std::io::Result<FakeServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            responder: self.responder,
            latency: self.latency,
            rate_limit: self.rate_limit,
            bucket: self.bucket,
            server_errors: self.server_errors,
            truncated_share: self.truncated_share,
            seed: self.seed,
            dead_keys: self.dead_keys,
            seq: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            rate_limited: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
            recorder: Mutex::new(Recorder::default()),
        });
        let app = Router::new()
            .route("/v1beta/models/{model_action}", post(gemini))
            .route("/chat/completions", post(openai))
            .with_state(shared.clone());
        let stop = CancellationToken::new();
        let signal = stop.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { signal.cancelled().await })
                .await;
        });
        Ok(FakeServer {
            addr,
            shared,
            stop,
            task,
        })
    }
}

/// A running fake server; stops when dropped.
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeServer {
    /// A builder with the [`echo`] responder, no latency, no rate limit.
    pub fn builder() -> FakeServerBuilder {
        FakeServerBuilder {
            responder: Arc::new(echo),
            latency: Duration::ZERO,
            rate_limit: None,
            bucket: None,
            server_errors: 0.0,
            truncated_share: 0.0,
            seed: 0,
            dead_keys: Vec::new(),
        }
    }

    /// The base URL for [`crate::LlmConfig::base_url`] (both protocols).
    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.addr)).expect("socket address URL parses")
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.shared.seq.load(Ordering::Relaxed)
    }

    /// Requests received per key.
    pub fn requests_per_key(&self) -> HashMap<String, u64> {
        self.shared.recorder().per_key.clone()
    }

    /// Everything received, in arrival order.
    pub fn log(&self) -> Vec<FakeLog> {
        let mut log = self.shared.recorder().log.clone();
        log.sort_by_key(|l| l.at);
        log
    }

    /// Most requests handled at once.
    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak_in_flight.load(Ordering::Relaxed)
    }

    /// Requests answered 429 by the server's own rate limit.
    pub fn rate_limited(&self) -> u64 {
        self.shared.rate_limited.load(Ordering::Relaxed)
    }

    /// Requests answered 500 or 503 by [`FakeServerBuilder::server_errors`].
    pub fn server_errors(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    /// Answers cut at the output-token limit by [`FakeServerBuilder::truncated`].
    pub fn truncated(&self) -> u64 {
        self.shared.truncated.load(Ordering::Relaxed)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.cancel();
        self.task.abort();
    }
}

/// Decrements the in-flight count also when the client leaves mid-request.
struct InFlight<'a> {
    shared: &'a Shared,
    log_index: usize,
    status: u16,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(entry) = self.shared.recorder().log.get_mut(self.log_index) {
            entry.status = self.status;
        }
    }
}

fn text_of(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_default()
}

fn parse_gemini(model_action: &str, headers: &HeaderMap, body: &Value) -> FakeRequest {
    let model = model_action
        .strip_suffix(":generateContent")
        .unwrap_or(model_action)
        .to_string();
    let key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let system = body
        .pointer("/systemInstruction/parts")
        .and_then(Value::as_array)
        .map(|parts| parts.iter().map(|p| text_of(&p["text"])).collect())
        .unwrap_or_default();
    let turns = body["contents"]
        .as_array()
        .map(|contents| {
            contents
                .iter()
                .map(|c| {
                    let role = if c["role"] == "model" {
                        FakeRole::Model
                    } else {
                        FakeRole::User
                    };
                    let text = c["parts"]
                        .as_array()
                        .map(|ps| ps.iter().map(|p| text_of(&p["text"])).collect())
                        .unwrap_or_default();
                    (role, text)
                })
                .collect()
        })
        .unwrap_or_default();
    FakeRequest {
        provider: Provider::Gemini,
        key,
        model,
        system,
        turns,
        json_mode: body.pointer("/generationConfig/responseMimeType")
            == Some(&json!("application/json")),
        seq: 0,
        key_seq: 0,
    }
}

fn parse_openai(headers: &HeaderMap, body: &Value) -> FakeRequest {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string();
    let mut system = String::new();
    let mut turns = Vec::new();
    for m in body["messages"].as_array().into_iter().flatten() {
        let text = text_of(&m["content"]);
        match m["role"].as_str() {
            Some("system") => system.push_str(&text),
            Some("assistant") => turns.push((FakeRole::Model, text)),
            _ => turns.push((FakeRole::User, text)),
        }
    }
    FakeRequest {
        provider: Provider::OpenAi,
        key,
        model: text_of(&body["model"]),
        system,
        turns,
        json_mode: body.pointer("/response_format/type") == Some(&json!("json_object")),
        seq: 0,
        key_seq: 0,
    }
}

async fn gemini(
    State(shared): State<Arc<Shared>>,
    Path(model_action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return error(
            Provider::Gemini,
            400,
            None,
            "Invalid JSON payload received.",
        );
    };
    let request = parse_gemini(&model_action, &headers, &value);
    handle(&shared, request).await
}

async fn openai(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return error(
            Provider::OpenAi,
            400,
            None,
            "We could not parse the JSON body of your request.",
        );
    };
    let request = parse_openai(&headers, &value);
    handle(&shared, request).await
}

async fn handle(shared: &Shared, mut request: FakeRequest) -> Response {
    let now = Instant::now();
    request.seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    let (log_index, over_limit, bucket_wait) = {
        let mut rec = shared.recorder();
        let count = rec.per_key.entry(request.key.clone()).or_insert(0);
        request.key_seq = *count;
        *count += 1;
        let bucket_wait = shared.bucket.and_then(|limit| {
            let bucket = rec.buckets.entry(request.key.clone()).or_insert(Bucket {
                tokens: limit.burst,
                at: now,
            });
            limit.take(bucket, now)
        });
        let over_limit = shared.rate_limit.is_some_and(|limit| {
            let window = rec.windows.entry(request.key.clone()).or_default();
            while window
                .front()
                .is_some_and(|t| now - *t >= Duration::from_secs(1))
            {
                window.pop_front();
            }
            // One request of slack: arrivals jitter by a few milliseconds.
            let over = window.len() > limit as usize;
            if !over {
                window.push_back(now);
            }
            over
        });
        rec.log.push(FakeLog {
            key: request.key.clone(),
            at: now,
            status: 0,
            round: request.round(),
            prompt: request.prompt().chars().take(200).collect(),
        });
        (rec.log.len() - 1, over_limit, bucket_wait)
    };
    let current = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    shared.peak_in_flight.fetch_max(current, Ordering::Relaxed);
    let mut guard = InFlight {
        shared,
        log_index,
        status: 0,
    };
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let provider = request.provider;
    let reply = if shared.dead_keys.contains(&request.key) {
        dead_key_reply(provider)
    } else if over_limit {
        shared.rate_limited.fetch_add(1, Ordering::Relaxed);
        FakeReply::Status {
            status: 429,
            retry_after: Some("1".into()),
            message: "Rate limit reached for requests per second.".into(),
        }
    } else if let Some(wait) = bucket_wait {
        shared.rate_limited.fetch_add(1, Ordering::Relaxed);
        match provider {
            Provider::Gemini => FakeReply::GeminiRetryInfo {
                retry_delay: format!("{:.3}s", wait.as_secs_f64()),
            },
            Provider::OpenAi => FakeReply::Status {
                status: 429,
                retry_after: Some(wait.as_secs_f64().ceil().max(1.0).to_string()),
                message: "Rate limit reached for requests.".into(),
            },
        }
    } else if chance(shared.seed, request.seq, shared.server_errors) {
        shared.errors.fetch_add(1, Ordering::Relaxed);
        let status = if mix(shared.seed ^ request.seq) & 1 == 0 {
            500
        } else {
            503
        };
        FakeReply::status(status, "The model is overloaded. Please try again later.")
    } else {
        let reply = (shared.responder)(&request);
        match reply {
            FakeReply::Answer(text)
                if chance(
                    shared.seed,
                    text_hash(&request.system, request.prompt()),
                    shared.truncated_share,
                ) =>
            {
                if request.round() == 0 {
                    shared.truncated.fetch_add(1, Ordering::Relaxed);
                }
                let middle = text
                    .char_indices()
                    .nth(text.chars().count() / 2)
                    .map_or(text.len(), |(i, _)| i);
                let (a, b) = text.split_at(middle);
                FakeReply::Fragments(vec![a.to_string(), b.to_string()])
            }
            other => other,
        }
    };
    let response = render(provider, &request, reply).await;
    guard.status = response.status().as_u16();
    response
}

/// SplitMix64's finaliser: a well-mixed hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Whether `x` (with `seed`) falls in `share` (0 to 1).
fn chance(seed: u64, x: u64, share: f64) -> bool {
    share > 0.0
        && (mix(seed.wrapping_mul(31).wrapping_add(mix(x))) as f64 / u64::MAX as f64) < share
}

/// A hash of a conversation's system text and first prompt (FNV-1a).
fn text_hash(system: &str, prompt: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in system.bytes().chain([0]).chain(prompt.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn dead_key_reply(provider: Provider) -> FakeReply {
    match provider {
        Provider::Gemini => FakeReply::Status {
            status: 400,
            retry_after: None,
            message: "API key not valid. Please pass a valid API key.".into(),
        },
        Provider::OpenAi => FakeReply::status(401, "Incorrect API key provided."),
    }
}

async fn render(provider: Provider, request: &FakeRequest, mut reply: FakeReply) -> Response {
    loop {
        match reply {
            FakeReply::Delay(d, next) => {
                tokio::time::sleep(d).await;
                reply = *next;
            }
            FakeReply::Answer(text) => return answer(provider, request, &text, false),
            FakeReply::Fragments(fragments) => {
                let round = request.round().min(fragments.len().saturating_sub(1));
                let text = fragments.get(round).cloned().unwrap_or_default();
                let cut = round + 1 < fragments.len();
                return answer(provider, request, &text, cut);
            }
            FakeReply::Status {
                status,
                retry_after,
                message,
            } => return error(provider, status, retry_after.as_deref(), &message),
            FakeReply::GeminiRetryInfo { retry_delay } => {
                let body = json!({"error": {
                    "code": 429,
                    "message": "Resource has been exhausted (e.g. check quota).",
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [{
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": retry_delay,
                    }],
                }});
                return json_response(429, &body, None);
            }
        }
    }
}

fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

fn answer(provider: Provider, request: &FakeRequest, text: &str, cut: bool) -> Response {
    let input = tokens(&request.system) + request.turns.iter().map(|(_, t)| tokens(t)).sum::<u64>();
    let output = tokens(text);
    let body = match provider {
        Provider::Gemini => json!({
            "candidates": [{
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": if cut { "MAX_TOKENS" } else { "STOP" },
                "index": 0,
            }],
            "usageMetadata": {
                "promptTokenCount": input,
                "candidatesTokenCount": output,
                "totalTokenCount": input + output,
            },
            "modelVersion": request.model,
        }),
        Provider::OpenAi => json!({
            "id": format!("chatcmpl-fake{}", request.seq),
            "object": "chat.completion",
            "created": 1_700_000_000u64,
            "model": request.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": if cut { "length" } else { "stop" },
            }],
            "usage": {
                "prompt_tokens": input,
                "completion_tokens": output,
                "total_tokens": input + output,
            },
        }),
    };
    json_response(200, &body, None)
}

fn error(provider: Provider, status: u16, retry_after: Option<&str>, message: &str) -> Response {
    let body = match provider {
        Provider::Gemini => {
            let (state, details) = match status {
                400 if message.contains("API key not valid") => (
                    "INVALID_ARGUMENT",
                    json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]),
                ),
                400 => ("INVALID_ARGUMENT", json!([])),
                403 => ("PERMISSION_DENIED", json!([])),
                429 => ("RESOURCE_EXHAUSTED", json!([])),
                503 => ("UNAVAILABLE", json!([])),
                _ => ("INTERNAL", json!([])),
            };
            json!({"error": {"code": status, "message": message, "status": state, "details": details}})
        }
        Provider::OpenAi => {
            let kind = match status {
                401 => "invalid_api_key",
                429 => "rate_limit_exceeded",
                400..=499 => "invalid_request_error",
                _ => "server_error",
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
    };
    json_response(status, &body, retry_after)
}

fn json_response(status: u16, body: &Value, retry_after: Option<&str>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}
