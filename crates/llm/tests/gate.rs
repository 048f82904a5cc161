//! The key gate hook with an in-memory gate: two pools (each on its own runtime and thread)
//! share one key's rate, a 429 pauses the key for everyone, waiting on the gate holds no
//! in-flight permit, one worker per pool asks the gate about a key at a time, only labels and
//! fingerprints reach the gate, and a failing gate fails the call naming the key.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{all_ok, join, max_per_second, on_own_thread, responding, spawn_each, submit_all};
use haul_core::{LlmAnswer, LlmError, LlmPool as _, LlmTask};
use haul_llm::fake::FakeServer;
use haul_llm::{ApiKey, GateError, GateKey, KeyGate, LlmConfig, Pool, Provider};
use tokio::time::Instant;

/// What the gate saw.
#[derive(Debug, Default)]
struct Seen {
    /// Per fingerprint: when the next permit is free.
    next: HashMap<String, Instant>,
    /// (label, fingerprint) of every `try_acquire`.
    asked: Vec<(String, String)>,
    /// Granted permits.
    granted: usize,
    /// (label, cooldown) of every `pause`.
    paused: Vec<(String, Duration)>,
    /// Per fingerprint: `try_acquire` calls running now, and the most ever at once.
    running: HashMap<String, (usize, usize)>,
}

/// A GCRA with a burst of 1 per fingerprint, in memory: what a shared store does, for pools
/// in one process.
#[derive(Debug)]
struct MemoryGate {
    interval: Duration,
    seen: Mutex<Seen>,
    fail: AtomicBool,
}

impl MemoryGate {
    fn new(per_second: u32) -> Arc<Self> {
        Arc::new(Self {
            interval: Duration::from_secs(1) / per_second,
            seen: Mutex::new(Seen::default()),
            fail: AtomicBool::new(false),
        })
    }

    fn seen<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        f(&mut self.seen.lock().unwrap())
    }
}

#[haul_core::async_trait]
impl KeyGate for MemoryGate {
    async fn try_acquire(&self, key: &GateKey) -> Result<Option<Duration>, GateError> {
        let fp = key.fingerprint().to_string();
        self.seen(|s| {
            s.asked.push((key.label().to_string(), fp.clone()));
            let r = s.running.entry(fp.clone()).or_default();
            r.0 += 1;
            r.1 = r.1.max(r.0);
        });
        // A round trip, so that concurrent askers would overlap.
        tokio::time::sleep(Duration::from_millis(2)).await;
        let answer = self.seen(|s| {
            s.running.get_mut(&fp).unwrap().0 -= 1;
            let now = Instant::now();
            let next = s.next.entry(fp).or_insert(now);
            if *next <= now {
                *next = now + self.interval;
                s.granted += 1;
                None
            } else {
                Some(*next - now)
            }
        });
        if self.fail.load(Ordering::Relaxed) {
            return Err(GateError::new(key, "store unreachable"));
        }
        Ok(answer)
    }

    async fn pause(&self, key: &GateKey, cooldown: Duration) -> Result<(), GateError> {
        self.seen(|s| {
            s.paused.push((key.label().to_string(), cooldown));
            let until = Instant::now() + cooldown;
            let next = s.next.entry(key.fingerprint().to_string()).or_insert(until);
            *next = (*next).max(until);
        });
        Ok(())
    }
}

fn config(server: &FakeServer, keys: &[(usize, &str)]) -> LlmConfig {
    let keys = keys.iter().map(|(n, k)| ApiKey::new(*n, *k)).collect();
    common::config(server.base_url(), Provider::OpenAi, keys)
}

fn task(prompt: String) -> LlmTask {
    common::task("s", &prompt, true)
}

/// Runs `tasks` tasks at once on a new pool in its own runtime on its own thread (a worker
/// process, as far as the gate and the fake server can tell).
fn worker(
    config: LlmConfig,
    gate: Arc<MemoryGate>,
    name: &'static str,
    tasks: usize,
) -> std::thread::JoinHandle<Vec<Result<LlmAnswer, LlmError>>> {
    on_own_thread(async move {
        let pool = Pool::start_with_gate(config, gate).unwrap();
        submit_all(pool, name, tasks, |p| task(p.to_string())).await
    })
}

#[test]
fn max_per_second_counts_half_open_windows() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let cases: &[(&[u64], usize)] = &[
        (&[], 0),
        (&[0], 1),
        (&[0, 999], 2),
        (&[0, 1000], 1),
        (&[0, 100, 200, 1100, 1150], 3),
    ];
    for (ms, want) in cases {
        let times: Vec<Instant> = ms.iter().map(|m| at(*m)).collect();
        assert_eq!(max_per_second(&times), *want, "{ms:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_share_one_key_rate_through_the_gate() {
    const RATE: u32 = 20;
    let server = FakeServer::builder()
        .rate_limit(RATE)
        .start()
        .await
        .unwrap();
    let gate = MemoryGate::new(RATE);
    // The same secret numbered differently in each pool: the gate keys on the fingerprint.
    let mut a = config(&server, &[(1, "sk-shared")]);
    let mut b = config(&server, &[(3, "sk-shared")]);
    // Each pool alone would send at the full rate: only sharing keeps them under it.
    a.per_key_rpm = Some(RATE * 60);
    b.per_key_rpm = Some(RATE * 60);
    let wa = worker(a, gate.clone(), "a", 20);
    let wb = worker(b, gate.clone(), "b", 20);
    let (ra, rb) = (join(wa).await, join(wb).await);
    for (name, results) in [("a", ra), ("b", rb)] {
        for (i, r) in results.into_iter().enumerate() {
            let answer = r.unwrap_or_else(|e| panic!("{name}-{i}: {e}"));
            assert_eq!(answer.json.unwrap()["echo"], format!("{name}-{i}"));
        }
    }
    assert_eq!(server.rate_limited(), 0);
    let times: Vec<Instant> = server.log().iter().map(|l| l.at).collect();
    assert_eq!(times.len(), 40);
    // The fake's limit allows RATE + 1 in a window; the gate spaces requests evenly.
    let most = max_per_second(&times);
    assert!(most <= RATE as usize + 1, "{most} requests in one second");
    gate.seen(|s| {
        assert_eq!(s.granted, 40);
        let fp = ApiKey::new(1, "sk-shared").fingerprint();
        assert!(s.asked.iter().all(|(_, f)| *f == fp), "{:?}", s.asked);
        let labels: std::collections::BTreeSet<&str> =
            s.asked.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["key#1", "key#3"].into());
        // One worker per pool asks about the key at a time.
        assert!(s.running[&fp].1 <= 2, "{:?}", s.running);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_per_pool_asks_the_gate_about_a_key() {
    let server = FakeServer::builder().start().await.unwrap();
    let gate = MemoryGate::new(200);
    let results = join(worker(
        config(&server, &[(1, "sk-one")]),
        gate.clone(),
        "w",
        30,
    ))
    .await;
    assert!(results.iter().all(Result::is_ok));
    gate.seen(|s| {
        let fp = ApiKey::new(1, "sk-one").fingerprint();
        assert_eq!(s.running[&fp].1, 1, "{:?}", s.running);
        assert_eq!(s.granted, 30);
    });
}

#[tokio::test]
async fn a_429_pauses_the_key_at_the_gate_for_its_cooldown() {
    let server = responding(common::first_call_limited(|_| true, "1", "slow down")).await;
    let gate = MemoryGate::new(1000);
    let pool = Pool::start_with_gate(config(&server, &[(1, "sk-a")]), gate.clone()).unwrap();
    let start = Instant::now();
    pool.submit(task("p".into())).await.unwrap();
    gate.seen(|s| assert_eq!(s.paused, [("key#1".to_string(), Duration::from_secs(1))]));
    let log = server.log();
    assert_eq!(log.len(), 2);
    // The retry went out only after the cooldown.
    assert!(log[1].at - start >= Duration::from_secs(1));
    pool.shutdown().await;
}

#[tokio::test]
async fn waiting_on_the_gate_holds_no_in_flight_permit() {
    let server = FakeServer::builder().start().await.unwrap();
    let gate = MemoryGate::new(1000);
    let slow = ApiKey::new(1, "sk-slow");
    // The gate makes key#1 wait a minute; key#2 is free.
    gate.seen(|s| {
        s.next
            .insert(slow.fingerprint(), Instant::now() + Duration::from_secs(60));
    });
    let mut c = config(&server, &[(1, "sk-slow"), (2, "sk-fast")]);
    c.max_in_flight = 1;
    let pool = Pool::start_with_gate(c, gate.clone()).unwrap();
    let mut set = tokio::task::JoinSet::new();
    spawn_each(&mut set, &pool, 8, |i| task(format!("t{i}")));
    // A guard against a hang, not a speed check: holding the only permit while key#1 waits
    // would block everything for a minute.
    tokio::time::timeout(Duration::from_secs(20), all_ok(set))
        .await
        .expect("tasks waited behind the gated key");
    assert!(server.log().iter().all(|l| l.key == "sk-fast"));
    pool.shutdown().await;
}

#[tokio::test]
async fn a_failing_gate_fails_the_call_naming_the_key() {
    let server = FakeServer::builder().start().await.unwrap();
    let gate = MemoryGate::new(1000);
    gate.fail.store(true, Ordering::Relaxed);
    let pool = Pool::start_with_gate(config(&server, &[(4, "sk-x")]), gate.clone()).unwrap();
    let err = pool.submit(task("p".into())).await.unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, LlmError::Exhausted { .. }), "{shown}");
    assert!(
        shown.contains("key#4") && shown.contains("store unreachable"),
        "{shown}"
    );
    assert!(!shown.contains("sk-x"), "{shown}");
    assert_eq!(server.requests(), 0);
    pool.shutdown().await;
}

#[derive(Debug)]
struct PauseOnly(Arc<MemoryGate>);

#[haul_core::async_trait]
impl KeyGate for PauseOnly {
    async fn try_acquire(&self, _key: &GateKey) -> Result<Option<Duration>, GateError> {
        Ok(None)
    }
    async fn pause(&self, key: &GateKey, cooldown: Duration) -> Result<(), GateError> {
        self.0.pause(key, cooldown).await
    }
    fn enforces_rpm(&self) -> bool {
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_that_does_not_enforce_rpm_keeps_the_local_spacing() {
    let server = FakeServer::builder().start().await.unwrap();
    let mut c = config(&server, &[(1, "sk-a")]);
    c.per_key_rpm = Some(1200); // one request per 50 ms
    let pool = Pool::start_with_gate(c, Arc::new(PauseOnly(MemoryGate::new(1)))).unwrap();
    let mut set = tokio::task::JoinSet::new();
    spawn_each(&mut set, &pool, 6, |i| task(format!("t{i}")));
    all_ok(set).await;
    let times: Vec<Instant> = server.log().iter().map(|l| l.at).collect();
    assert_eq!(times.len(), 6);
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(40), "gap {gap:?}");
    }
    pool.shutdown().await;
}
