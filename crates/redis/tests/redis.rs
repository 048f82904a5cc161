//! Tests of the Redis building blocks against a real `redis-server` on 127.0.0.1.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use haul_core::{Method, Record};
use haul_redis::testing::{RedisServer, free_port};
use haul_redis::{
    ConnectOptions, Frontier, FrontierOptions, Rate, RecordStream, Redis, RedisError,
    SharedRateLimit, Work,
};

const NO_WAIT: Duration = Duration::ZERO;

async fn client(server: &RedisServer) -> Redis {
    Redis::connect(&server.url()).await.expect("connect")
}

/// A connection to `url` with `options` changed by `change`.
async fn connect_with(url: &str, change: impl FnOnce(&mut ConnectOptions)) -> Redis {
    let mut options = ConnectOptions::default();
    change(&mut options);
    Redis::connect_with(url, options).await.unwrap()
}

/// Crawl `crawl`'s frontier with the default options, on a new connection to `server`.
async fn frontier(server: &RedisServer, crawl: &str) -> Frontier {
    Frontier::new(&client(server).await, crawl, FrontierOptions::default())
}

#[tokio::test]
async fn enqueue_next_ack_round_trip_and_a_url_is_queued_once() {
    let server = RedisServer::start().await;
    let (a, b) = (client(&server).await, client(&server).await);
    let fa = Frontier::new(&a, "c1", FrontierOptions::default());
    let fb = Frontier::new(&b, "c1", FrontierOptions::default());

    assert_eq!(
        fa.enqueue(0, "demo", &["http://x/1", "http://x/2"])
            .await
            .unwrap(),
        2
    );
    // The same URL from another client (and twice in one call) is not queued again...
    assert_eq!(
        fb.enqueue(0, "demo", &["http://x/1", "http://x/3", "http://x/3"])
            .await
            .unwrap(),
        1
    );
    // ...but the same URL of another site is.
    assert_eq!(fb.enqueue(0, "other", &["http://x/1"]).await.unwrap(), 1);

    let mut seen = Vec::new();
    while let Some(t) = fa.next("a", Duration::from_millis(50)).await.unwrap() {
        assert_eq!((t.level, t.deliveries), (0, 1));
        seen.push((t.site.clone(), t.url.clone()));
        assert!(fa.ack(&t).await.unwrap());
        assert!(
            !fa.ack(&t).await.unwrap(),
            "a second ack finds nothing pending"
        );
    }
    seen.sort();
    let want: Vec<(String, String)> = [
        ("demo", "http://x/1"),
        ("demo", "http://x/2"),
        ("demo", "http://x/3"),
        ("other", "http://x/1"),
    ]
    .iter()
    .map(|(s, u)| (s.to_string(), u.to_string()))
    .collect();
    assert_eq!(seen, want);
    assert!(fb.next("b", NO_WAIT).await.unwrap().is_none());
    // Another crawl id is another frontier.
    let other = Frontier::new(&a, "c2", FrontierOptions::default());
    assert!(other.next("a", NO_WAIT).await.unwrap().is_none());
}

#[tokio::test]
async fn blocking_next_wakes_up_when_a_task_arrives() {
    let server = RedisServer::start().await;
    let f = frontier(&server, "c").await;
    let g = frontier(&server, "c").await;
    // Create the level stream first, so the blocking read has a group to wait on.
    f.enqueue(0, "demo", &["http://x/0"]).await.unwrap();
    let t0 = f.next("w", NO_WAIT).await.unwrap().unwrap();
    f.ack(&t0).await.unwrap();
    let waiter = tokio::spawn(async move { f.next("w", Duration::from_secs(5)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    g.enqueue(0, "demo", &["http://x/1"]).await.unwrap();
    let t = waiter
        .await
        .unwrap()
        .unwrap()
        .expect("woken with the new task");
    assert_eq!(t.url, "http://x/1");
}

#[tokio::test]
async fn a_dead_workers_task_is_reclaimed_then_dead_lettered() {
    let server = RedisServer::start().await;
    let opts = FrontierOptions {
        max_deliveries: 2,
        ..FrontierOptions::default()
    };
    let fa = Frontier::new(&client(&server).await, "c", opts.clone());
    let fb = Frontier::new(&client(&server).await, "c", opts.clone());
    fa.enqueue(0, "demo", &["http://x/p"]).await.unwrap();

    // Worker A takes the task and "dies" (never acks).
    let taken = fa.next("a", NO_WAIT).await.unwrap().unwrap();
    assert_eq!(taken.deliveries, 1);
    assert!(
        fb.next("b", NO_WAIT).await.unwrap().is_none(),
        "delivered once only"
    );

    let idle = Duration::from_millis(200);
    // Not idle long enough yet.
    assert_eq!(fb.reclaim("b", idle).await.unwrap().tasks.len(), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = fb.reclaim("b", idle).await.unwrap();
    assert!(r.dead.is_empty());
    assert_eq!(r.tasks.len(), 1);
    let t = &r.tasks[0];
    assert_eq!(
        (t.id.as_str(), t.url.as_str(), t.deliveries),
        (taken.id.as_str(), "http://x/p", 2)
    );
    assert!(!fb.level_done(0).await.unwrap());

    // B dies too; the third delivery exceeds max_deliveries = 2: dead-lettered, not handed out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = fa.reclaim("c", idle).await.unwrap();
    assert!(r.tasks.is_empty());
    assert_eq!(r.dead.len(), 1);
    assert_eq!(r.dead[0].deliveries, 3);
    let dead = fa.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].id.as_str(),
            dead[0].url.as_str(),
            dead[0].site.as_str(),
            dead[0].deliveries
        ),
        (taken.id.as_str(), "http://x/p", "demo", 3)
    );
    // Dead-lettered counts as finished for the level; A's late ack finds nothing.
    assert!(fa.level_done(0).await.unwrap());
    assert!(!fa.ack(&taken).await.unwrap());
}

#[tokio::test]
async fn levels_are_done_only_when_nothing_is_undelivered_or_pending() {
    let server = RedisServer::start().await;
    let f = frontier(&server, "c").await;
    assert!(f.level_done(0).await.unwrap(), "an empty level is done");
    assert_eq!(f.current_level().await.unwrap(), 0);
    f.enqueue(0, "demo", &["http://x/1", "http://x/2", "http://x/3"])
        .await
        .unwrap();
    assert!(!f.level_done(0).await.unwrap(), "undelivered tasks");
    assert_eq!(
        f.try_advance(0).await.unwrap(),
        0,
        "no advance while level 0 runs"
    );

    let mut tasks = Vec::new();
    while let Some(t) = f.next("w", NO_WAIT).await.unwrap() {
        tasks.push(t);
    }
    assert_eq!(tasks.len(), 3);
    assert!(!f.level_done(0).await.unwrap(), "all delivered, none acked");
    // Links go to the next level before the ack; workers do not see them yet.
    f.enqueue(1, "demo", &["http://x/4", "http://x/1"])
        .await
        .unwrap();
    for t in &tasks[..2] {
        f.ack(t).await.unwrap();
    }
    assert!(!f.level_done(0).await.unwrap(), "one still pending");
    assert!(
        f.next("w", NO_WAIT).await.unwrap().is_none(),
        "level 1 waits for level 0"
    );
    f.ack(&tasks[2]).await.unwrap();
    assert!(f.level_done(0).await.unwrap());
    assert!(!f.level_done(1).await.unwrap());

    assert_eq!(f.try_advance(0).await.unwrap(), 1);
    assert_eq!(f.try_advance(0).await.unwrap(), 1, "advances once");
    let t = f.next("w", NO_WAIT).await.unwrap().unwrap();
    assert_eq!((t.level, t.url.as_str()), (1, "http://x/4"));
    f.ack(&t).await.unwrap();
    assert!(f.level_done(1).await.unwrap());
    assert!(!f.is_finished().await.unwrap());
    f.finish().await.unwrap();
    assert!(f.is_finished().await.unwrap());

    // Another crawl whose id starts alike survives the purge of this one (ids that look
    // like globs, such as `c*`, are refused: see `keys::check_crawl_id`).
    let other = frontier(&server, "c.2").await;
    other.enqueue(0, "demo", &["http://x/1"]).await.unwrap();
    assert!(f.purge().await.unwrap() >= 5);
    assert!(!f.is_finished().await.unwrap());
    assert_eq!(f.current_level().await.unwrap(), 0);
    assert_eq!(
        f.enqueue(0, "demo", &["http://x/1"]).await.unwrap(),
        1,
        "visited set gone"
    );
    assert!(other.purge().await.unwrap() >= 2);
    assert_eq!(
        f.enqueue(0, "demo", &["http://x/1"]).await.unwrap(),
        0,
        "c survived c.2's purge"
    );
}

fn record(url: &str) -> Record {
    let mut r = Record::product("demo", url, "A thing", Method::JsonLd);
    r.price = Some("19.99".parse().unwrap());
    r
}

#[tokio::test]
async fn records_stream_to_a_collector_that_acks_after_writing() {
    let server = RedisServer::start().await;
    let worker = RecordStream::open(&client(&server).await, "c")
        .await
        .unwrap();
    let collector = RecordStream::open(&client(&server).await, "c")
        .await
        .unwrap();
    let sent = vec![
        record("http://x/1"),
        record("http://x/2"),
        record("http://x/1"),
    ];
    assert_eq!(worker.publish(&sent).await.unwrap().len(), 3);
    assert_eq!(collector.backlog().await.unwrap(), 3);

    let got = collector.read("col", 10, NO_WAIT).await.unwrap();
    assert_eq!(
        got.iter().map(|r| r.record.clone()).collect::<Vec<_>>(),
        sent
    );
    assert_eq!(collector.backlog().await.unwrap(), 3, "read but not acked");
    // The collector "restarts" before writing: it gets its unacknowledged records again.
    let again = collector.read("col", 10, NO_WAIT).await.unwrap();
    assert_eq!(again, got);
    // A second collector takes them over once the first is idle for long enough.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let taken = collector
        .reclaim("col2", Duration::from_millis(200), 10)
        .await
        .unwrap();
    assert_eq!(taken, got);
    // Written (de-duplicated by (site, url), as the output does), then acknowledged.
    let unique: HashSet<(String, String)> = taken
        .iter()
        .map(|r| (r.record.site.clone(), r.record.url.clone()))
        .collect();
    assert_eq!(unique.len(), 2);
    let ids: Vec<&str> = taken.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(collector.ack(&ids).await.unwrap(), 3);
    assert_eq!(collector.backlog().await.unwrap(), 0);
    assert!(collector.read("col", 10, NO_WAIT).await.unwrap().is_empty());
    assert!(
        collector
            .read("col2", 10, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn two_processes_share_one_rate_limit() {
    let server = RedisServer::start().await;
    let rate = Rate::per_second(10.0);
    let window = Duration::from_secs(2);
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..2 {
        let limit = SharedRateLimit::new(&client(&server).await, "llm");
        handles.push(tokio::spawn(async move {
            let mut n = 0u32;
            loop {
                limit.acquire("key-1", rate).await.unwrap();
                if started.elapsed() >= window {
                    return n;
                }
                n += 1;
            }
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    eprintln!("{total} permits in 2 s at 10/s over two clients");
    // 10/s over 2 s with a burst of 1: at most 20 + the one at t = 0.
    assert!(total <= 21, "{total} permits in 2 s at 10/s");
    assert!(total >= 10, "only {total} permits in 2 s at 10/s");

    // Another key is independent; a pause blocks a key for everyone.
    let limit = SharedRateLimit::new(&client(&server).await, "llm");
    assert_eq!(limit.try_acquire("key-2", rate).await.unwrap(), None);
    limit.pause("key-3", Duration::from_secs(30)).await.unwrap();
    let wait = limit
        .try_acquire("key-3", rate)
        .await
        .unwrap()
        .expect("paused");
    assert!(wait > Duration::from_secs(25), "{wait:?}");
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_naming_the_url() {
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let err = Redis::connect(&url).await.unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, RedisError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");

    let err = Redis::connect("http://127.0.0.1:1/").await.unwrap_err();
    assert!(err.to_string().contains("http://127.0.0.1:1/"), "{err}");
}

#[tokio::test]
async fn operations_wait_for_redis_to_come_back() {
    let mut server = RedisServer::start().await;
    let port = server.port();
    let redis = connect_with(&server.url(), |o| o.reconnect_for = Duration::from_secs(20)).await;
    let f = Frontier::new(&redis, "c", FrontierOptions::default());
    f.enqueue(0, "demo", &["http://x/1"]).await.unwrap();
    server.stop().await;
    let op = tokio::spawn(async move { f.enqueue(0, "demo", &["http://x/2"]).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _server = RedisServer::start_on(port).await;
    // The new server is empty (no persistence): the enqueue went through after reconnecting.
    assert_eq!(op.await.unwrap().unwrap(), 1);

    // With a short budget, a server that stays away gives an error naming it.
    let mut gone = RedisServer::start().await;
    let redis = connect_with(&gone.url(), |o| {
        o.reconnect_for = Duration::from_millis(300)
    })
    .await;
    gone.stop().await;
    let err = Frontier::new(&redis, "c", FrontierOptions::default())
        .enqueue(0, "demo", &["http://x/1"])
        .await
        .unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, RedisError::Gone { .. }), "{err:?}");
    assert!(err.to_string().contains(&gone.url()), "{err}");
}

/// The links of a page of the synthetic three-level site: overlapping, so de-duplication
/// matters.
fn links(url: &str) -> Vec<String> {
    let parts: Vec<&str> = url.trim_start_matches("http://x/").split('/').collect();
    let (level, i): (u32, usize) = (parts[0].parse().unwrap(), parts[1].parse().unwrap());
    if level >= 2 {
        return Vec::new();
    }
    (i..i + 3)
        .map(|k| format!("http://x/{}/{}", level + 1, k % 5))
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Start(u32),
    Done(u32),
}

#[tokio::test]
async fn workers_crawl_levels_in_order_and_survive_a_killed_worker() {
    use std::sync::{Arc, Mutex};
    let server = RedisServer::start().await;
    let coordinator = frontier(&server, "c").await;
    let start: Vec<String> = (0..4).map(|i| format!("http://x/0/{i}")).collect();
    coordinator.enqueue(0, "demo", &start).await.unwrap();

    // A worker takes a task and is killed before acknowledging it.
    let lost = coordinator.next("doomed", NO_WAIT).await.unwrap().unwrap();

    let log: Arc<Mutex<Vec<Event>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..3 {
        let redis = client(&server).await;
        let log = log.clone();
        workers.push(tokio::spawn(async move {
            let f = Frontier::new(&redis, "c", FrontierOptions::default());
            let out = RecordStream::open(&redis, "c").await.unwrap();
            let me = format!("w{w}");
            let mut reclaimed = 0;
            loop {
                let tasks = match f
                    .work(&me, Duration::from_millis(100), Duration::from_millis(200))
                    .await
                    .unwrap()
                {
                    Work::Tasks(t) => t,
                    Work::Idle => continue,
                    Work::Finished => return reclaimed,
                };
                for t in tasks {
                    reclaimed += u32::from(t.deliveries > 1);
                    log.lock().unwrap().push(Event::Start(t.level));
                    let next = links(&t.url);
                    f.enqueue(t.level + 1, &t.site, &next).await.unwrap();
                    out.publish(&[record(&t.url)]).await.unwrap();
                    log.lock().unwrap().push(Event::Done(t.level));
                    // False only if a slow task was reclaimed and acked by another worker.
                    f.ack(&t).await.unwrap();
                }
            }
        }));
    }
    let mut reclaimed = 0;
    for w in workers {
        reclaimed += w.await.unwrap();
    }
    assert!(reclaimed >= 1, "the killed worker's task was taken over");
    assert!(coordinator.is_finished().await.unwrap());
    assert!(coordinator.dead_letters().await.unwrap().is_empty());
    assert!(
        !coordinator.ack(&lost).await.unwrap(),
        "acknowledged by its new owner"
    );

    // Levels in order: nothing of level n + 1 started before every page of level n was done.
    let log = log.lock().unwrap().clone();
    for level in 0..2 {
        let last_done = log.iter().rposition(|e| *e == Event::Done(level)).unwrap();
        let first_next = log
            .iter()
            .position(|e| *e == Event::Start(level + 1))
            .unwrap();
        assert!(
            last_done < first_next,
            "level {} started early: {log:?}",
            level + 1
        );
    }

    // The collector gets every page's record; de-duplicated by (site, url) exactly once each.
    let mut want: HashSet<String> = start.iter().cloned().collect();
    for l1 in start.iter().flat_map(|u| links(u)) {
        want.extend(links(&l1));
        want.insert(l1);
    }
    assert_eq!(want.len(), 14);
    let collector = RecordStream::open(&client(&server).await, "c")
        .await
        .unwrap();
    let mut got: HashSet<(String, String)> = HashSet::new();
    loop {
        let batch = collector.read("collector", 100, NO_WAIT).await.unwrap();
        if batch.is_empty() {
            break;
        }
        got.extend(
            batch
                .iter()
                .map(|r| (r.record.site.clone(), r.record.url.clone())),
        );
        let ids: Vec<&str> = batch.iter().map(|r| r.id.as_str()).collect();
        collector.ack(&ids).await.unwrap();
    }
    assert_eq!(collector.backlog().await.unwrap(), 0);
    let got_urls: HashSet<String> = got
        .iter()
        .map(|(s, u)| {
            assert_eq!(s, "demo");
            u.clone()
        })
        .collect();
    assert_eq!(got_urls, want);
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Prompt {
    url: String,
    key: String,
}

#[tokio::test]
async fn job_queue_round_trip_reclaim_and_dead_letters() {
    use haul_redis::JobQueue;
    let server = RedisServer::start().await;
    let q: JobQueue<Prompt> = JobQueue::open(&client(&server).await, "c", "llm", 1)
        .await
        .unwrap();
    let q2: JobQueue<Prompt> = JobQueue::open(&client(&server).await, "c", "llm", 1)
        .await
        .unwrap();
    let jobs = vec![
        Prompt {
            url: "http://x/1".into(),
            key: "k1".into(),
        },
        Prompt {
            url: "http://x/2".into(),
            key: "k2".into(),
        },
    ];
    q.push(&jobs).await.unwrap();
    // A payload that is not a Prompt goes to the dead letters, not to a worker.
    redis_raw_xadd(&server, "haul:c:queue:llm", "not json").await;

    let a = q.next("a", NO_WAIT).await.unwrap().unwrap();
    assert_eq!((a.payload.clone(), a.deliveries), (jobs[0].clone(), 1));
    let b = q2
        .next("b", Duration::from_millis(50))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.payload, jobs[1]);
    let r = client(&server).await;
    let len = || async {
        r.query::<u64>("XLEN", redis::cmd("XLEN").arg(q.key()).clone(), None)
            .await
            .unwrap()
    };
    assert_eq!(len().await, 3);
    assert!(q2.ack(&b).await.unwrap());
    assert_eq!(
        len().await,
        2,
        "an acknowledged job is deleted from the stream"
    );
    assert!(
        q.next("a", NO_WAIT).await.unwrap().is_none(),
        "the broken entry is skipped"
    );
    assert!(
        q.dead_letters().await.unwrap().is_empty(),
        "undecodable dead letters are not listed"
    );

    // a dies holding its job: with max_deliveries = 1 the reclaim dead-letters it.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let r = q2
        .reclaim("b", Duration::from_millis(200), 10)
        .await
        .unwrap();
    assert!(r.jobs.is_empty());
    assert_eq!(r.dead.len(), 1);
    assert_eq!(
        (r.dead[0].payload.clone(), r.dead[0].deliveries),
        (jobs[0].clone(), 2)
    );
    let dead = q.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].id.clone(), dead[0].payload.clone()),
        (a.id.clone(), jobs[0].clone())
    );
}

/// XADDs an entry with field `job` = `payload` behind haul's back.
async fn redis_raw_xadd(server: &RedisServer, key: &str, payload: &str) {
    let client = redis::Client::open(server.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("XADD")
        .arg(key)
        .arg("*")
        .arg("job")
        .arg(payload)
        .query_async(&mut c)
        .await
        .unwrap();
}

/// Run only as the child process of `a_sigkilled_worker_process_loses_nothing`: claims one task
/// of crawl `kill` on `$HAUL_REDIS_CHILD_URL`, says so, and hangs until killed.
#[tokio::test]
#[ignore = "child process of a_sigkilled_worker_process_loses_nothing"]
async fn child_worker_that_hangs_holding_a_task() {
    let Ok(url) = std::env::var("HAUL_REDIS_CHILD_URL") else {
        eprintln!("only meaningful as the child of a_sigkilled_worker_process_loses_nothing");
        return;
    };
    let f = Frontier::new(
        &Redis::connect(&url).await.unwrap(),
        "kill",
        FrontierOptions::default(),
    );
    let t = f
        .next("child", Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    println!("CLAIMED {}", t.id);
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[tokio::test]
async fn a_sigkilled_worker_process_loses_nothing() {
    use tokio::io::AsyncBufReadExt;
    let server = RedisServer::start().await;
    let f = frontier(&server, "kill").await;
    f.enqueue(0, "demo", &["http://x/1"]).await.unwrap();

    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_worker_that_hangs_holding_a_task",
            "--nocapture",
        ])
        .env("HAUL_REDIS_CHILD_URL", server.url())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let claimed = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("child claims within 30 s")
            .unwrap()
            .expect("child exited before claiming");
        if let Some(id) = line.strip_prefix("CLAIMED ") {
            break id.to_string();
        }
    };
    child.kill().await.unwrap(); // SIGKILL
    assert!(
        f.next("survivor", NO_WAIT).await.unwrap().is_none(),
        "the task is the child's"
    );
    assert!(!f.level_done(0).await.unwrap());

    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = f
        .reclaim("survivor", Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(r.tasks.len(), 1);
    assert_eq!(
        (r.tasks[0].id.as_str(), r.tasks[0].deliveries),
        (claimed.as_str(), 2)
    );
    assert!(f.ack(&r.tasks[0]).await.unwrap());
    assert!(f.level_done(0).await.unwrap());
}

#[tokio::test]
async fn shared_semaphore_caps_holders_across_clients_and_leases_expire() {
    use haul_redis::SharedSemaphore;
    let server = RedisServer::start().await;
    let (a, b) = (client(&server).await, client(&server).await);
    let sa = SharedSemaphore::new(&a, "domain", Duration::from_millis(400));
    let sb = SharedSemaphore::new(&b, "domain", Duration::from_secs(30));
    let l1 = sa.try_acquire("x", 2).await.unwrap().expect("first permit");
    let l2 = sb
        .try_acquire("x", 2)
        .await
        .unwrap()
        .expect("second permit");
    let wait = sb.try_acquire("x", 2).await.unwrap().expect_err("limit 2");
    assert!(wait <= Duration::from_millis(400), "{wait:?}");
    // Another key is independent.
    sb.try_acquire("y", 1).await.unwrap().expect("other key");
    assert_eq!(sa.held("x").await.unwrap(), 2);
    sb.release(&l2).await.unwrap();
    let l3 = sb.acquire("x", 2).await.unwrap();
    // l1's holder "dies": its lease runs out and frees the slot without a release.
    let _ = l1;
    let l4 = tokio::time::timeout(Duration::from_secs(3), sb.acquire("x", 2))
        .await
        .expect("the expired lease frees its slot")
        .unwrap();
    assert_eq!(sb.held("x").await.unwrap(), 2);
    sb.release(&l3).await.unwrap();
    sb.release(&l4).await.unwrap();
    assert_eq!(sb.held("x").await.unwrap(), 0);
}

#[tokio::test]
async fn a_semaphore_acquire_sent_again_after_a_lost_reply_keeps_its_permit() {
    use haul_redis::SharedSemaphore;
    let server = RedisServer::start().await;
    // A reply later than 200 ms counts as lost: the script is sent again.
    let redis = connect_with(&server.url(), |o| {
        o.response_timeout = Duration::from_millis(200)
    })
    .await;
    let sem = SharedSemaphore::new(&redis, "domain", Duration::from_secs(30));
    // Redis knows the script already (as mid-crawl), so every copy sent runs.
    let warm = sem
        .try_acquire("w", 1)
        .await
        .unwrap()
        .expect("a free permit");
    sem.release(&warm).await.unwrap();
    let pid = server.pid().expect("redis runs").to_string();
    let signal = |sig: &str| {
        let sent = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill {sig} {pid}");
    };
    // Redis pauses with the acquire in flight, which is sent again meanwhile; once Redis goes
    // on it runs every copy, the first taking the only permit (its reply is lost).
    signal("-STOP");
    let acquiring = tokio::spawn({
        let sem = sem.clone();
        async move { sem.try_acquire("x", 1).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    signal("-CONT");
    let lease = acquiring
        .await
        .unwrap()
        .unwrap()
        .expect("the permit its first copy took");
    assert_eq!(sem.held("x").await.unwrap(), 1);
    sem.release(&lease).await.unwrap();
    assert_eq!(sem.held("x").await.unwrap(), 0, "no permit left behind");
}

#[tokio::test]
async fn touch_keeps_a_slow_task_from_being_reclaimed_but_never_steals_one() {
    let server = RedisServer::start().await;
    let r = client(&server).await;
    let f = Frontier::new(&r, "touch", FrontierOptions::default());
    f.enqueue(0, "demo", &["http://x/1"]).await.unwrap();
    let t = f.next("slow", NO_WAIT).await.unwrap().expect("task");
    let idle = Duration::from_millis(300);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(f.touch("slow", &t).await.unwrap());
    }
    assert!(
        f.reclaim("other", idle).await.unwrap().tasks.is_empty(),
        "a touched task is not idle"
    );
    tokio::time::sleep(idle + Duration::from_millis(50)).await;
    let taken = f.reclaim("other", idle).await.unwrap();
    assert_eq!(taken.tasks.len(), 1, "an untouched task is reclaimed");
    assert!(
        !f.touch("slow", &t).await.unwrap(),
        "the old owner cannot take it back"
    );
    assert!(f.ack(&taken.tasks[0]).await.unwrap());
}

#[tokio::test]
async fn complete_publishes_queues_counts_then_acks_in_one_pipeline_and_is_safe_to_repeat() {
    let server = RedisServer::start().await;
    let r = client(&server).await;
    let f = Frontier::new(&r, "done", FrontierOptions::default());
    let records = RecordStream::open(&r, "done").await.unwrap();
    f.enqueue(0, "demo", &["http://x/"]).await.unwrap();
    let t = f.next("w", NO_WAIT).await.unwrap().expect("task");
    let mut counters = redis::pipe();
    counters.cmd("INCR").arg("haul:done:test-counter").ignore();
    let links = ["http://x/a", "http://x/b", "http://x/a"];
    let rec = [record("http://x/")];
    assert!(
        f.complete(&t, &records, &rec, &links, Some(counters.clone()))
            .await
            .unwrap()
    );
    // Sent again (as after a dropped connection): nothing is queued twice, the ack is a no-op.
    assert!(
        !f.complete(&t, &records, &rec, &links, Some(counters))
            .await
            .unwrap()
    );
    assert!(f.level_done(0).await.unwrap());
    let mut next = Vec::new();
    while let Some(t) = f.next_at(1, "w", NO_WAIT).await.unwrap() {
        assert_eq!((t.level, t.site.as_str()), (1, "demo"));
        next.push(t.url);
    }
    next.sort();
    assert_eq!(next, ["http://x/a", "http://x/b"]);
    let got = records.read("c", 10, NO_WAIT).await.unwrap();
    assert_eq!(
        got.len(),
        2,
        "published each time (the collector de-duplicates)"
    );
    assert_eq!(got[0].record, rec[0]);
}

#[tokio::test]
async fn crawl_ids_that_collide_with_shared_keys_are_rejected_and_purge_keeps_shared_keys() {
    let server = RedisServer::start().await;
    let r = client(&server).await;
    // A shared limit and semaphore exist, as during any distributed crawl.
    let limit = SharedRateLimit::new(&r, "domain");
    limit
        .acquire("shop.test", Rate::per_second(10.0))
        .await
        .unwrap();
    let slots = haul_redis::SharedSemaphore::new(&r, "domain", Duration::from_secs(60));
    let _lease = slots.acquire("shop.test", 2).await.unwrap();
    let shared = || async {
        let keys: Vec<String> = r
            .query("KEYS", redis::cmd("KEYS").arg("haul:*").clone(), None)
            .await
            .unwrap();
        let mut keys: Vec<String> = keys
            .into_iter()
            .filter(|k| !k.starts_with("haul:ok:"))
            .collect();
        keys.sort();
        keys
    };
    let before = shared().await;
    assert_eq!(
        before,
        ["haul:rate:domain:shop.test", "haul:sem:domain:shop.test"]
    );
    for id in ["rate", "sem", "a:b"] {
        let named = |e: RedisError| {
            let msg = e.to_string();
            assert!(matches!(e, RedisError::InvalidCrawlId { .. }), "{msg}");
            assert!(msg.contains(&format!("invalid crawl id {id:?}")), "{msg}");
        };
        let f = Frontier::new(&r, id, FrontierOptions::default());
        named(f.purge().await.unwrap_err());
        named(f.enqueue(0, "demo", &["http://x/"]).await.unwrap_err());
        named(
            f.work("w", NO_WAIT, Duration::from_secs(5))
                .await
                .unwrap_err(),
        );
        named(f.finish().await.unwrap_err());
        named(RecordStream::open(&r, id).await.unwrap_err());
        named(
            haul_redis::JobQueue::<String>::open(&r, id, "llm", 3)
                .await
                .unwrap_err(),
        );
        named(haul_redis::CrawlMeta::new(&r, id).unwrap_err());
    }
    assert_eq!(shared().await, before, "nothing shared was touched");
    // A valid crawl's purge deletes its own keys only.
    let f = Frontier::new(&r, "ok", FrontierOptions::default());
    f.enqueue(0, "demo", &["http://x/"]).await.unwrap();
    assert!(f.purge().await.unwrap() >= 2);
    assert_eq!(shared().await, before);
}

#[tokio::test]
async fn done_levels_are_trimmed_as_the_crawl_advances_and_finishes() {
    let server = RedisServer::start().await;
    let r = client(&server).await;
    let f = Frontier::new(&r, "trim", FrontierOptions::default());
    f.enqueue(0, "demo", &["http://x/1", "http://x/2"])
        .await
        .unwrap();
    let xlen = |level: u32| {
        let (r, key) = (r.clone(), f.level_key(level));
        async move {
            r.query::<u64>("XLEN", redis::cmd("XLEN").arg(key).clone(), None)
                .await
                .unwrap()
        }
    };
    let idle = Duration::from_secs(30);
    let mut done = 0;
    loop {
        match f.work("w", NO_WAIT, idle).await.unwrap() {
            Work::Finished => break,
            Work::Idle => {}
            Work::Tasks(tasks) => {
                for t in tasks {
                    if t.level == 0 {
                        f.enqueue(1, "demo", &[format!("{}/next", t.url)])
                            .await
                            .unwrap();
                        // Acknowledged but the level not yet done: entries stay.
                        assert_eq!(xlen(0).await, 2);
                    }
                    assert!(f.ack(&t).await.unwrap());
                    done += 1;
                }
            }
        }
    }
    assert_eq!(done, 4);
    assert!(f.is_finished().await.unwrap());
    // Both levels were trimmed once done; their streams (and groups) remain, still done.
    assert_eq!((xlen(0).await, xlen(1).await), (0, 0));
    assert!(f.level_done(0).await.unwrap() && f.level_done(1).await.unwrap());
}
