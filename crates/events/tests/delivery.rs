//! Delivery of a store's events: a webhook receiver on 127.0.0.1:0 that is down at first
//! (connection refused, 503, 429 with Retry-After) and then checks every signature; the
//! dead-letter file after the last attempt; a dispatcher stopped mid-way and started again
//! sends every event exactly once; file targets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use haul_core::{Currency, Method, Record, RecordKind};
use haul_events::{DeliveryOptions, Dispatcher, Target, Webhook, verify};
use haul_output::{CrawlEnd, Output, StoreOptions};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "hush-hush";

/// A store whose one crawl gave `n` `new_product` events.
async fn store_with_events(dir: &Path, n: usize) -> PathBuf {
    let store = dir.join("s.db");
    let p = store.clone();
    let out =
        tokio::task::spawn_blocking(move || Output::create_with(&p, &StoreOptions::default()))
            .await
            .unwrap()
            .unwrap();
    let tx = out.sender();
    for i in 0..n {
        let mut r = Record::new(
            RecordKind::Product,
            "shop",
            format!("http://s/{i}"),
            format!("Item {i}"),
            Method::JsonLd,
        );
        r.price = Some("9.99".parse().unwrap());
        r.currency = Some(Currency::new("EUR").unwrap());
        tx.send(r).await.unwrap();
    }
    tx.crawl_ended(CrawlEnd::Complete).await.unwrap();
    drop(tx);
    out.finish().await.unwrap();
    store
}

/// What the receiver does with a request number (from 0).
type Script = fn(usize) -> Response;

/// A webhook receiver: answers by `script`, and keeps the ids of the events it accepted
/// (answered 2xx with a valid signature) and the arrival time of every request.
#[derive(Clone)]
struct Receiver {
    script: Script,
    accepted: Arc<Mutex<Vec<i64>>>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    bad_signatures: Arc<Mutex<usize>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let n = {
        let mut a = r.arrivals.lock().unwrap();
        a.push(Instant::now());
        a.len() - 1
    };
    let reply = (r.script)(n);
    if !reply.status().is_success() {
        return reply;
    }
    let sig = headers
        .get("x-haul-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !verify(SECRET.as_bytes(), &body, sig) {
        *r.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = event["id"].as_i64().unwrap();
    let header = headers.get("x-haul-event").unwrap().to_str().unwrap();
    assert_eq!(header, id.to_string());
    r.accepted.lock().unwrap().push(id);
    reply
}

impl Receiver {
    fn new(script: Script) -> Self {
        Self {
            script,
            accepted: Arc::default(),
            arrivals: Arc::default(),
            bad_signatures: Arc::default(),
        }
    }

    /// Serves on `listener` until the test ends.
    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    fn accepted(&self) -> Vec<i64> {
        self.accepted.lock().unwrap().clone()
    }
}

fn options(store: &Path, attempts: u32) -> DeliveryOptions {
    let mut o = DeliveryOptions::for_store(store);
    o.attempts = attempts;
    o.base_delay = Duration::from_millis(30);
    o.max_delay = Duration::from_secs(2);
    o.poll = Duration::from_millis(20);
    o
}

fn hook(addr: SocketAddr) -> Target {
    let url = format!("http://{addr}/hook").parse().unwrap();
    Target::Webhook(Webhook::new(url, SECRET.into()).unwrap())
}

fn down_then_up(n: usize) -> Response {
    match n {
        0..=3 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        4 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response(),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

#[tokio::test]
async fn a_receiver_down_at_first_gets_every_event_once_signed_after_retries() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_events(dir.path(), 3).await;
    // Down: nothing listens on the port yet (connection refused).
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let opts = options(&store, 15);
    let cancel = CancellationToken::new();
    // The target joins after the first crawl's events: it gets only the later ones.
    let d = Dispatcher::spawn(&store, vec![hook(addr)], opts.clone(), cancel.clone())
        .await
        .unwrap();
    let more = store_more_events(&store, 3).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let receiver = Receiver::new(down_then_up);
    receiver.serve(tokio::net::TcpListener::bind(addr).await.unwrap());
    let report = d.drain(Duration::from_secs(20)).await.unwrap();
    let mut got = receiver.accepted();
    got.sort_unstable();
    assert_eq!(
        got, more,
        "each event once, none of those before the target joined"
    );
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
    assert_eq!(
        (
            report.targets[0].sent,
            report.targets[0].dead,
            report.pending()
        ),
        (3, 0, 0)
    );
    // The 429's Retry-After (1 s) was honoured before the next request.
    let arrivals = receiver.arrivals.lock().unwrap().clone();
    assert!(arrivals.len() >= 6, "{}", arrivals.len());
    let gap = arrivals[5].duration_since(arrivals[4]);
    assert!(gap >= Duration::from_millis(900), "{gap:?}");
}

/// Adds `n` more `new_product` events to `store` (a second crawl); their ids.
async fn store_more_events(store: &Path, n: usize) -> Vec<i64> {
    let p = store.to_path_buf();
    let out =
        tokio::task::spawn_blocking(move || Output::create_with(&p, &StoreOptions::default()))
            .await
            .unwrap()
            .unwrap();
    let tx = out.sender();
    for _ in 0..n {
        // Each call's products are new ones.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let i = NEXT.fetch_add(1, Ordering::SeqCst);
        let mut r = Record::new(
            RecordKind::Product,
            "shop",
            format!("http://s/more/{i}"),
            format!("More {i}"),
            Method::JsonLd,
        );
        r.price = Some("1".parse().unwrap());
        tx.send(r).await.unwrap();
    }
    drop(tx);
    out.finish().await.unwrap();
    let all = all_ids(store);
    all[all.len() - n..].to_vec()
}

/// Every event id of the store, in order.
fn all_ids(store: &Path) -> Vec<i64> {
    haul_output::list_events(store, &haul_output::EventFilter::default())
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

#[tokio::test]
async fn after_the_last_attempt_an_event_is_dead_lettered_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_events(dir.path(), 0).await;
    let receiver = Receiver::new(|_| StatusCode::BAD_GATEWAY.into_response());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    receiver.serve(listener);
    let opts = options(&store, 3);
    let d = Dispatcher::spawn(
        &store,
        vec![hook(addr)],
        opts.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let ids = store_more_events(&store, 2).await;
    let report = d.drain(Duration::from_secs(20)).await.unwrap();
    assert_eq!(
        (
            report.targets[0].sent,
            report.targets[0].dead,
            report.pending()
        ),
        (0, 2, 0)
    );
    assert_eq!(
        receiver.arrivals.lock().unwrap().len(),
        6,
        "3 attempts each"
    );
    let lines = std::fs::read_to_string(&opts.dead_letter).unwrap();
    let dead: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dead_ids: Vec<i64> = dead
        .iter()
        .map(|d| d["event"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(dead_ids, ids);
    assert_eq!(dead[0]["attempts"], 3);
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("HTTP 502"),
        "{}",
        dead[0]
    );
    assert!(!lines.contains(SECRET));
    // A 4xx other than 429 is not retried.
    let gone = Receiver::new(|_| StatusCode::GONE.into_response());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    gone.serve(listener);
    let d = Dispatcher::spawn(
        &store,
        vec![hook(addr)],
        opts.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    store_more_events(&store, 1).await;
    let report = d.drain(Duration::from_secs(20)).await.unwrap();
    assert_eq!(report.targets[0].dead, 1);
    assert_eq!(gone.arrivals.lock().unwrap().len(), 1);
}

fn slow_ok(_: usize) -> Response {
    StatusCode::OK.into_response()
}

#[tokio::test]
async fn a_dispatcher_stopped_mid_way_and_started_again_sends_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_events(dir.path(), 0).await;
    let receiver = Receiver::new(slow_ok);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    receiver.serve(listener);
    let file = dir.path().join("events.jsonl");
    let targets = || vec![hook(addr), Target::File(file.clone())];
    let opts = options(&store, 5);
    let cancel = CancellationToken::new();
    let d = Dispatcher::spawn(&store, targets(), opts.clone(), cancel.clone())
        .await
        .unwrap();
    let ids = store_more_events(&store, 40).await;
    // Stop as soon as some (not all) went out.
    let r = receiver.clone();
    tokio::time::timeout(Duration::from_secs(20), async move {
        while r.accepted().len() < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap();
    cancel.cancel();
    let first = d.drain(Duration::from_secs(20)).await.unwrap();
    let mid = receiver.accepted().len();
    assert!(first.pending() > 0, "stopped mid-way: {first:?}");
    // Nothing arrives while no dispatcher runs.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.accepted().len(), mid);
    let d = Dispatcher::spawn(&store, targets(), opts, CancellationToken::new())
        .await
        .unwrap();
    let report = d.drain(Duration::from_secs(30)).await.unwrap();
    assert_eq!(report.pending(), 0);
    let mut got = receiver.accepted();
    assert_eq!(got.len(), ids.len(), "none twice");
    got.sort_unstable();
    assert_eq!(got, ids, "none lost");
    let lines: Vec<i64> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(lines, ids, "the file gets them in order, once");
}
