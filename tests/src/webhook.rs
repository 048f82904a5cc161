//! A webhook receiver for the change-event tests: on 127.0.0.1, refuses (503) while told to,
//! checks every HMAC-SHA256 signature and keeps each event by id with how often it came.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use haul_testkit::TestServer;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The receiver's state, shared with its server.
#[derive(Clone, Default)]
pub struct Receiver {
    /// How many more deliveries it refuses with 503 (`usize::MAX`: all).
    pub refuse: Arc<AtomicUsize>,
    /// Deliveries refused so far.
    pub refused: Arc<AtomicUsize>,
    /// Deliveries whose signature was wrong (answered 401).
    pub bad_signatures: Arc<AtomicUsize>,
    /// The events taken, by id, with how many times each came.
    pub events: Arc<Mutex<BTreeMap<i64, (serde_json::Value, usize)>>>,
    secret: Arc<String>,
}

impl Receiver {
    /// Serves a receiver checking signatures with `secret`; returns it, its server and the
    /// hook's URL.
    pub async fn start(secret: &str) -> (Self, TestServer, String) {
        let r = Self {
            secret: Arc::new(secret.to_string()),
            ..Self::default()
        };
        let app = Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        let server = TestServer::start(app).await.expect("the receiver starts");
        let url = server.url("/hook").to_string();
        (r, server, url)
    }

    /// Refuses every delivery from now on (`false`: takes them all).
    pub fn down(&self, down: bool) {
        self.refuse
            .store(if down { usize::MAX } else { 0 }, Ordering::SeqCst);
    }

    /// Refuses the next `n` deliveries, then takes them.
    pub fn refuse_next(&self, n: usize) {
        self.refuse.store(n, Ordering::SeqCst);
    }

    /// The events taken so far, by id.
    pub fn taken(&self) -> BTreeMap<i64, (serde_json::Value, usize)> {
        self.events.lock().unwrap().clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let refusing = r
        .refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
            0 => None,
            usize::MAX => Some(usize::MAX),
            n => Some(n - 1),
        })
        .is_ok();
    if refusing {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let sig = headers
        .get("x-haul-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut mac = Hmac::<Sha256>::new_from_slice(r.secret.as_bytes()).unwrap();
    mac.update(&body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if sig != format!("sha256={want}") {
        r.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = event["id"].as_i64().unwrap();
    assert_eq!(headers["x-haul-event"].to_str().unwrap(), id.to_string());
    let mut events = r.events.lock().unwrap();
    events.entry(id).or_insert((event, 0)).1 += 1;
    StatusCode::OK
}

/// `(kind, path after /p/)` of events, sorted (the order within a run follows the crawl's).
pub fn kinds<'a>(events: impl IntoIterator<Item = &'a serde_json::Value>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = events
        .into_iter()
        .map(|e| {
            let url = e["url"].as_str().unwrap();
            let path = url.split_once("/p/").map_or(url, |(_, p)| p);
            (e["kind"].as_str().unwrap().to_string(), path.to_string())
        })
        .collect();
    v.sort();
    v
}

/// `pairs` as [`kinds`] gives them.
pub fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, p)| (k.to_string(), p.to_string()))
        .collect();
    v.sort();
    v
}

/// The store's events through `haul events --json ARGS`.
pub async fn listed(store: &std::path::Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["events", "--store", store.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = crate::haul_ok(&args).await;
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
