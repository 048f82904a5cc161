//! LLM work shared through a real redis-server: two workers' pools share one fake key's
//! 10 requests/s through `RedisKeyGate`, a 429 on one worker pauses the key for the other,
//! and the Redis LLM queue answers tasks, reports errors and timeouts, drops expired tasks,
//! takes over tasks of dead servers and dead-letters the hopeless ones.

#[path = "../../llm/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{join, max_per_second, on_own_thread, responding, submit_all};
use haul_cluster::llm::{
    LLM_QUEUE, RedisKeyGate, RedisLlm, RedisLlmOptions, ServeOptions, ServeStats, serve_llm,
};
use haul_core::{LlmAnswer, LlmError, LlmPool, LlmTask};
use haul_llm::fake::{FakeReply, FakeRequest, FakeServer};
use haul_llm::{ApiKey, GateKey, LlmConfig, Pool, Provider};
use haul_redis::testing::RedisServer;
use haul_redis::{JobQueue, Redis};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn config(server: &FakeServer, key: ApiKey) -> LlmConfig {
    common::config(server.base_url(), Provider::Gemini, vec![key])
}

fn task(prompt: &str) -> LlmTask {
    common::task("shop", prompt, true)
}

/// A worker process as far as Redis and the fake server can tell: its own thread, runtime,
/// Redis connection and pool behind a `RedisKeyGate`, submitting `tasks` tasks at once.
fn worker(
    redis_url: String,
    config: LlmConfig,
    name: &'static str,
    tasks: usize,
) -> std::thread::JoinHandle<Vec<Result<LlmAnswer, LlmError>>> {
    on_own_thread(async move {
        let redis = Redis::connect(&redis_url).await.unwrap();
        let gate = RedisKeyGate::new(&redis, &config);
        let pool = Pool::start_with_gate(config, Arc::new(gate)).unwrap();
        submit_all(pool, name, tasks, task).await
    })
}

async fn raw(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_sharing_one_key_stay_under_its_limit_together() {
    const RATE: u32 = 10;
    let redis = RedisServer::start().await;
    let server = FakeServer::builder()
        .rate_limit(RATE)
        .start()
        .await
        .unwrap();
    // The same secret, numbered differently on each worker: the limit follows the secret.
    let mut a = config(&server, ApiKey::new(1, "AIza-shared-secret"));
    let mut b = config(&server, ApiKey::new(2, "AIza-shared-secret"));
    // Each worker alone would send at the full rate: only sharing keeps them under it.
    a.per_key_rpm = Some(RATE * 60);
    b.per_key_rpm = Some(RATE * 60);
    let gate_key = GateKey::from(&a.keys[0]);
    let wa = worker(redis.url(), a, "a", 20);
    let wb = worker(redis.url(), b, "b", 20);
    let (ra, rb) = (join(wa).await, join(wb).await);
    for (name, results) in [("a", ra), ("b", rb)] {
        assert_eq!(results.len(), 20);
        for (i, r) in results.into_iter().enumerate() {
            let answer = r.unwrap_or_else(|e| panic!("{name}-{i}: {e}"));
            assert_eq!(answer.json.unwrap()["echo"], format!("{name}-{i}"));
        }
    }
    assert_eq!(server.rate_limited(), 0, "the fake server answered 429");
    let log = server.log();
    assert_eq!(log.len(), 40);
    assert!(log.iter().all(|l| l.status == 200));
    // Both workers really sent requests.
    for name in ["a-", "b-"] {
        assert_eq!(
            log.iter().filter(|l| l.prompt.starts_with(name)).count(),
            20
        );
    }
    // The fake allows RATE in a one-second window plus one request of slack.
    let times: Vec<Instant> = log.iter().map(|l| l.at).collect();
    let most = max_per_second(&times);
    assert!(most <= RATE as usize + 1, "{most} requests in one second");
    // The shared state is keyed by the fingerprint, and no secret is in Redis.
    let mut conn = raw(&redis).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut c = config(&server, ApiKey::new(1, "AIza-shared-secret"));
    c.per_key_rpm = Some(RATE * 60);
    let gate = RedisKeyGate::new(&Redis::connect(&redis.url()).await.unwrap(), &c);
    assert_eq!(gate.rate().map(|r| r.per_second), Some(10.0));
    assert!(keys.contains(&gate.redis_key(&gate_key)), "{keys:?}");
    assert_eq!(
        gate.redis_key(&gate_key),
        format!("haul:rate:llm:gemini:{}", gate_key.fingerprint())
    );
    assert!(keys.iter().all(|k| !k.contains("secret")), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_one_worker_pauses_the_key_for_the_other() {
    let redis = RedisServer::start().await;
    let server = responding(common::first_call_limited(|_| true, "2", "quota")).await;
    let key = ApiKey::new(1, "AIza-paused");
    let a_redis = Redis::connect(&redis.url()).await.unwrap();
    let b_redis = Redis::connect(&redis.url()).await.unwrap();
    let a_config = config(&server, key.clone());
    let gate_a = RedisKeyGate::new(&a_redis, &a_config);
    let pause_key = gate_a.redis_key(&GateKey::from(&key));
    let a = Pool::start_with_gate(a_config, Arc::new(gate_a)).unwrap();
    let b_config = config(&server, key.clone());
    let gate_b = RedisKeyGate::new(&b_redis, &b_config);
    let b = Pool::start_with_gate(b_config, Arc::new(gate_b)).unwrap();

    let first = tokio::spawn({
        let a = a.clone();
        async move { a.submit(task("a")).await }
    });
    // Wait until worker a has paused the key in Redis (its TTL covers the 2 s pause).
    let mut conn = raw(&redis).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&pause_key)
            .query_async(&mut conn)
            .await
            .unwrap();
        if ttl > 1500 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the key was never paused in Redis"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let answer = b.submit(task("b")).await.unwrap();
    assert_eq!(answer.json.unwrap()["echo"], "b");
    first.await.unwrap().unwrap();
    let log = server.log();
    assert_eq!(log[0].status, 429);
    let b_sent = log.iter().find(|l| l.prompt == "b").unwrap().at;
    // Worker b never got the 429, yet waited out the pause of worker a's key.
    assert!(
        b_sent - log[0].at >= Duration::from_millis(1500),
        "b went {:?} after the 429",
        b_sent - log[0].at
    );
    assert_eq!(server.rate_limited(), 0);
    assert_eq!(log.iter().filter(|l| l.status == 429).count(), 1);
    a.shutdown().await;
    b.shutdown().await;
}

/// A serving process: a pool with a key behind the shared gate, serving the crawl's queue.
struct Serving {
    stop: CancellationToken,
    handle: JoinHandle<ServeStats>,
    pool: Arc<Pool>,
}

impl Serving {
    async fn start(
        redis: &RedisServer,
        fake: &FakeServer,
        crawl: &str,
        options: ServeOptions,
    ) -> Self {
        let conn = Redis::connect(&redis.url()).await.unwrap();
        let config = config(fake, ApiKey::new(1, "AIza-server"));
        let pool =
            Pool::start_with_gate(config.clone(), Arc::new(RedisKeyGate::new(&conn, &config)))
                .unwrap();
        let stop = CancellationToken::new();
        let handle = tokio::spawn({
            let (stop, pool, crawl) = (stop.clone(), pool.clone(), crawl.to_string());
            async move { serve_llm(conn, &crawl, pool, options, stop).await.unwrap() }
        });
        Self { stop, handle, pool }
    }

    async fn stop(self) -> ServeStats {
        self.stop.cancel();
        let stats = self.handle.await.unwrap();
        self.pool.shutdown().await;
        stats
    }
}

async fn requester(redis: &RedisServer, crawl: &str, timeout: Duration) -> Arc<RedisLlm> {
    let conn = Redis::connect(&redis.url()).await.unwrap();
    let options = RedisLlmOptions {
        timeout,
        ..RedisLlmOptions::default()
    };
    RedisLlm::start(conn, crawl, options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_without_keys_get_answers_and_errors_through_the_queue() {
    let redis = RedisServer::start().await;
    let fake = responding(|r: &FakeRequest| {
        if r.prompt() == "reject" {
            FakeReply::status(400, "prompt too long")
        } else {
            haul_llm::fake::echo(r)
        }
    })
    .await;
    let serving = Serving::start(&redis, &fake, "c1", ServeOptions::default()).await;
    let asker_a = requester(&redis, "c1", Duration::from_secs(30)).await;
    let asker_b = requester(&redis, "c1", Duration::from_secs(30)).await;
    assert_ne!(asker_a.requester(), asker_b.requester());
    let mut set = tokio::task::JoinSet::new();
    for (who, asker) in [("a", &asker_a), ("b", &asker_b)] {
        for i in 0..6 {
            let asker = asker.clone();
            let prompt = format!("{who}-{i}");
            set.spawn(async move { (prompt.clone(), asker.submit(task(&prompt)).await) });
        }
    }
    while let Some(joined) = set.join_next().await {
        let (prompt, answer) = joined.unwrap();
        let answer = answer.unwrap_or_else(|e| panic!("{prompt}: {e}"));
        assert_eq!(answer.json.unwrap()["echo"], prompt.as_str());
    }
    let err = asker_a.submit(task("reject")).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Rejected { status: 400, message } if message.contains("prompt too long")),
        "{err}"
    );
    let stats = asker_a.stats_json();
    assert_eq!(stats["answered"], 6, "{stats}");
    assert_eq!(stats["failed"], 1, "{stats}");
    assert_eq!(stats["waiting"], 0, "{stats}");
    asker_a.shutdown().await;
    asker_b.shutdown().await;
    let served = serving.stop().await;
    assert_eq!(served.answered, 13, "{served:?}");
    assert_eq!(served.failed, 1, "{served:?}");
    assert_eq!(fake.requests(), 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unserved_task_times_out_naming_it_and_is_then_dropped_unrun() {
    let redis = RedisServer::start().await;
    let fake = FakeServer::builder().start().await.unwrap();
    let asker = requester(&redis, "c2", Duration::from_millis(300)).await;
    let err = asker.submit(task("lonely")).await.unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, LlmError::Exhausted { .. }), "{shown}");
    for part in [
        asker.requester(),
        "site shop",
        "haul:c2:queue:llm",
        "serve_llm",
    ] {
        assert!(shown.contains(part), "{shown} should name {part}");
    }
    assert_eq!(asker.stats_json()["timed_out"], 1);
    // A server that comes later does not spend a request on it.
    let serving = Serving::start(&redis, &fake, "c2", ServeOptions::default()).await;
    let ok = requester(&redis, "c2", Duration::from_secs(30)).await;
    ok.submit(task("fresh")).await.unwrap();
    let served = serving.stop().await;
    assert_eq!(served.expired, 1, "{served:?}");
    assert_eq!(served.answered, 1, "{served:?}");
    assert_eq!(fake.requests(), 1);
    assert_eq!(fake.log()[0].prompt, "fresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_of_dead_servers_are_taken_over_or_dead_lettered() {
    let redis = RedisServer::start().await;
    let fake = FakeServer::builder().start().await.unwrap();
    let conn = Redis::connect(&redis.url()).await.unwrap();
    for (crawl, max_deliveries) in [("c3", 3), ("c4", 1)] {
        let asker = requester(&redis, crawl, Duration::from_secs(30)).await;
        let waiting = tokio::spawn({
            let asker = asker.clone();
            async move { asker.submit(task(&format!("orphan-{crawl}"))).await }
        });
        // A server takes the task and dies without answering.
        let queue: JobQueue<serde_json::Value> =
            JobQueue::open(&conn, crawl, LLM_QUEUE, 3).await.unwrap();
        let taken = queue
            .next("dead-server", Duration::from_secs(5))
            .await
            .unwrap()
            .expect("the task was queued");
        assert_eq!(taken.payload["task"]["prompt"], format!("orphan-{crawl}"));
        let options = ServeOptions {
            reclaim_idle: Duration::from_millis(200),
            reclaim_every: Duration::from_millis(100),
            max_deliveries,
            ..ServeOptions::default()
        };
        let serving = Serving::start(&redis, &fake, crawl, options).await;
        let result = waiting.await.unwrap();
        let served = serving.stop().await;
        if max_deliveries == 3 {
            assert_eq!(result.unwrap().json.unwrap()["echo"], "orphan-c3");
            assert_eq!(served.reclaimed, 1, "{served:?}");
            assert_eq!(served.answered, 1, "{served:?}");
        } else {
            let shown = result.unwrap_err().to_string();
            for part in [
                "dead-lettered",
                "site shop",
                "haul:c4:queue:llm",
                asker.requester(),
            ] {
                assert!(shown.contains(part), "{shown} should name {part}");
            }
            assert_eq!(served.dead_lettered, 1, "{served:?}");
            assert_eq!(queue.dead_letters().await.unwrap().len(), 1);
        }
        asker.shutdown().await;
    }
    // Only the taken-over task reached the provider.
    assert_eq!(fake.requests(), 1);
}
