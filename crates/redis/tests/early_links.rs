//! Levels that move on once every task's links are in (`Frontier::take_links`), against a
//! real `redis-server`: stragglers (tasks still finishing after their links were taken) do not
//! hold the next level, are trimmed only once acknowledged, are reclaimed from a dead worker
//! without queuing their links twice, and the crawl ends only once none is left.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use haul_core::{Method, Record};
use haul_redis::testing::RedisServer;
use haul_redis::{Frontier, FrontierOptions, RecordStream, Redis, Task, Work, keys};

const NO_WAIT: Duration = Duration::ZERO;

async fn client(server: &RedisServer) -> Redis {
    Redis::connect(&server.url()).await.expect("connect")
}

async fn count(r: &Redis, cmd: &str, key: &str) -> u64 {
    r.query::<u64>(cmd, redis::cmd(cmd).arg(key).clone(), None)
        .await
        .unwrap()
}

fn record(url: &str) -> Record {
    let mut r = Record::product("demo", url, "A thing", Method::JsonLd);
    r.price = Some("19.99".parse().unwrap());
    r
}

/// Takes every task `consumer` can get from `level` now.
async fn take_all(f: &Frontier, level: u32, consumer: &str) -> Vec<Task> {
    let mut tasks = Vec::new();
    while let Some(t) = f.next_at(level, consumer, NO_WAIT).await.unwrap() {
        tasks.push(t);
    }
    tasks
}

#[tokio::test]
async fn a_level_moves_on_past_stragglers_whose_links_are_in_but_not_past_one_without() {
    let server = RedisServer::start().await;
    let r = client(&server).await;
    let f = Frontier::new(&r, "early", FrontierOptions::default());
    f.enqueue(0, "demo", &["http://x/1", "http://x/2", "http://x/3"])
        .await
        .unwrap();
    let t = take_all(&f, 0, "w").await;
    assert_eq!(t.len(), 3);

    // 1: links in, acknowledged. 2: links in, still finishing. 3: still being processed.
    assert_eq!(
        f.take_links(&t[0], &["http://x/1/a"]).await.unwrap(),
        Some(1)
    );
    assert!(f.ack(&t[0]).await.unwrap());
    let links2 = ["http://x/2/a", "http://x/1/a"];
    assert_eq!(f.take_links(&t[1], &links2).await.unwrap(), Some(1));
    assert!(
        !f.level_done(0).await.unwrap(),
        "a pending task without its links holds the level"
    );
    assert_eq!(f.try_advance(0).await.unwrap(), 0);
    assert!(
        f.next("v", NO_WAIT).await.unwrap().is_none(),
        "level 1 waits"
    );

    // 3's links are in (none): the level is done while 2 and 3 still finish.
    assert_eq!(f.take_links::<&str>(&t[2], &[]).await.unwrap(), Some(0));
    assert!(f.level_done(0).await.unwrap());
    assert_eq!(f.try_advance(0).await.unwrap(), 1);
    assert_eq!(f.try_advance(0).await.unwrap(), 1, "advances once");
    assert_eq!(f.stragglers().await.unwrap(), [0]);
    // Only the acknowledged entry before the first straggler is trimmed: the stragglers stay
    // in the stream for a reclaim.
    assert_eq!(count(&r, "XLEN", &f.level_key(0)).await, 2);
    // Taken once: a second call (a reclaimed task processed again) queues nothing.
    assert_eq!(f.take_links(&t[1], &["http://x/2/b"]).await.unwrap(), None);

    // Level 1 is handed out while level 0's stragglers finish.
    let l1 = take_all(&f, 1, "w").await;
    let urls: HashSet<&str> = l1.iter().map(|t| t.url.as_str()).collect();
    assert_eq!(urls, HashSet::from(["http://x/1/a", "http://x/2/a"]));
    assert_eq!(f.current_level().await.unwrap(), 1);

    // The last level's links are in, yet the crawl is not over while anything is pending.
    for t in &l1 {
        assert_eq!(f.take_links::<&str>(t, &[]).await.unwrap(), Some(0));
        f.ack(t).await.unwrap();
    }
    let idle = Duration::from_secs(30);
    assert_eq!(f.work("w", NO_WAIT, idle).await.unwrap(), Work::Idle);
    f.ack(&t[1]).await.unwrap();
    assert_eq!(f.stragglers().await.unwrap(), [0], "3 is still pending");
    assert_eq!(f.work("w", NO_WAIT, idle).await.unwrap(), Work::Idle);
    assert!(!f.is_finished().await.unwrap());
    f.ack(&t[2]).await.unwrap();
    assert_eq!(f.work("w", NO_WAIT, idle).await.unwrap(), Work::Finished);
    // Settled: level 0 trimmed, its links-done set and the stragglers set gone.
    assert!(f.stragglers().await.unwrap().is_empty());
    assert_eq!(count(&r, "XLEN", &f.level_key(0)).await, 0);
    assert_eq!(count(&r, "XLEN", &f.level_key(1)).await, 0);
    for key in [keys::linked("early", 0), keys::linked("early", 1)] {
        assert_eq!(count(&r, "EXISTS", &key).await, 0, "{key}");
    }
    assert_eq!(count(&r, "EXISTS", &keys::stragglers("early")).await, 0);
}

#[tokio::test]
async fn a_straggler_whose_worker_died_is_reclaimed_and_its_links_are_not_queued_twice() {
    let server = RedisServer::start().await;
    let coordinator = Frontier::new(&client(&server).await, "crash", FrontierOptions::default());
    let start = ["http://x/0/a", "http://x/0/b"];
    coordinator.enqueue(0, "demo", &start).await.unwrap();
    let links = |url: &str| -> Vec<String> {
        match url.strip_prefix("http://x/0/") {
            Some(p) => vec![format!("http://x/1/{p}"), "http://x/1/shared".into()],
            None => Vec::new(),
        }
    };
    // A worker takes a task, queues its links, and dies before its records are written.
    let doomed = coordinator.next("doomed", NO_WAIT).await.unwrap().unwrap();
    let taken = coordinator
        .take_links(&doomed, &links(&doomed.url))
        .await
        .unwrap();
    assert_eq!(taken, Some(2));

    // Two workers crawl on: level 1 starts at once; the dead worker's task is reclaimed
    // after the visibility timeout and finished, its links not queued again.
    let idle = Duration::from_secs(2);
    let mut workers = Vec::new();
    for w in 0..2 {
        let redis = client(&server).await;
        workers.push(tokio::spawn(async move {
            let f = Frontier::new(&redis, "crash", FrontierOptions::default());
            let out = RecordStream::open(&redis, "crash").await.unwrap();
            let me = format!("w{w}");
            // (level, url, deliveries, links taken) in the order processed, and the level
            // current when each task was taken.
            let mut log = Vec::new();
            loop {
                let tasks = match f.work(&me, Duration::from_millis(50), idle).await.unwrap() {
                    Work::Tasks(t) => t,
                    Work::Idle => continue,
                    Work::Finished => return log,
                };
                for t in tasks {
                    let current = f.current_level().await.unwrap();
                    let taken = f.take_links(&t, &links(&t.url)).await.unwrap();
                    out.publish(&[record(&t.url)]).await.unwrap();
                    assert!(f.ack(&t).await.unwrap());
                    log.push((t.level, t.url.clone(), t.deliveries, taken, current));
                }
            }
        }));
    }
    let mut log = Vec::new();
    for w in workers {
        log.extend(w.await.unwrap());
    }
    assert!(coordinator.is_finished().await.unwrap());
    assert!(coordinator.dead_letters().await.unwrap().is_empty());

    let reclaimed: Vec<_> = log.iter().filter(|e| e.2 > 1).collect();
    assert_eq!(reclaimed.len(), 1, "{log:?}");
    let (level, url, _, taken, current) = reclaimed[0];
    assert_eq!((*level, url.as_str()), (0, doomed.url.as_str()));
    assert_eq!(*taken, None, "the links were taken by the dead worker");
    assert_eq!(*current, 1, "level 1 did not wait for the straggler");
    // Every URL processed once, except the reclaimed one, which its first worker never
    // finished: each level-1 link was queued once.
    let mut times: HashMap<&str, usize> = HashMap::new();
    for e in &log {
        *times.entry(e.1.as_str()).or_default() += 1;
    }
    let want: HashSet<String> = start
        .iter()
        .flat_map(|s| links(s).into_iter().chain([s.to_string()]))
        .collect();
    assert_eq!(times.len(), want.len(), "{log:?}");
    assert!(times.values().all(|n| *n == 1), "{log:?}");

    // The dead worker's page has its record.
    let collector = RecordStream::open(&client(&server).await, "crash")
        .await
        .unwrap();
    let got: HashSet<String> = collector
        .read("collector", 100, NO_WAIT)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.record.url)
        .collect();
    assert_eq!(got, want);
}
