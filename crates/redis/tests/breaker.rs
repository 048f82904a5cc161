//! The block circuit breaker shared through Redis (`SharedBreaker`), against a real
//! `redis-server`: two workers' blocks of a domain count in one row, a pause and a stop hold
//! for both, a page that passes starts the row again, and crawls and domains do not mix.

use std::time::Duration;

use haul_redis::testing::RedisServer;
use haul_redis::{Redis, SharedBreaker, SharedBreakerOptions, SharedGate, keys};

const OPTS: SharedBreakerOptions = SharedBreakerOptions {
    pause_after: 2,
    stop_after: 5,
    // Long enough that a stalled test machine does not see a pause end early.
    backoff: Duration::from_millis(1500),
    max_backoff: Duration::from_millis(2500),
};

async fn client(server: &RedisServer) -> Redis {
    Redis::connect(&server.url()).await.expect("connect")
}

fn paused(g: &SharedGate) -> Option<Duration> {
    match g {
        SharedGate::Paused(d) => Some(*d),
        _ => None,
    }
}

#[tokio::test]
async fn two_workers_share_one_row_pause_and_stop_per_domain() {
    let server = RedisServer::start().await;
    let (ra, rb) = (client(&server).await, client(&server).await);
    let a = SharedBreaker::new(&ra, "shop-crawl", OPTS);
    let b = SharedBreaker::new(&rb, "shop-crawl", OPTS);
    let d = "shop.example:8080";

    // One block each: the second makes the row 2, so the domain pauses for both.
    assert_eq!(
        a.blocked(d, "http://shop/p/1", "cloudflare").await.unwrap(),
        SharedGate::Open
    );
    let first = paused(&b.blocked(d, "http://shop/p/2", "datadome").await.unwrap())
        .expect("paused after two blocks from two workers");
    assert!(
        first <= Duration::from_millis(1500) && first > Duration::ZERO,
        "{first:?}"
    );
    let seen = paused(&a.gate(d).await.unwrap()).expect("the other worker sees the pause");
    assert!(seen <= first, "{seen:?}");
    // Another domain and another crawl are untouched.
    assert_eq!(a.gate("other.example").await.unwrap(), SharedGate::Open);
    let other = SharedBreaker::new(&ra, "another-crawl", OPTS);
    assert_eq!(other.gate(d).await.unwrap(), SharedGate::Open);

    // A block during the pause does not lengthen it; after it, the next pause doubles
    // (capped at the longest).
    let during = paused(&a.blocked(d, "http://shop/p/3", "cloudflare").await.unwrap())
        .expect("still paused");
    assert!(during <= first);
    tokio::time::sleep(first + Duration::from_millis(100)).await;
    assert_eq!(b.gate(d).await.unwrap(), SharedGate::Open);
    let second = paused(&b.blocked(d, "http://shop/p/4", "cloudflare").await.unwrap())
        .expect("paused again");
    assert!(second > Duration::from_millis(1500), "doubled: {second:?}");
    assert!(second <= Duration::from_millis(2500), "capped: {second:?}");

    // The fifth block in a row stops the domain for every worker, saying where and who.
    match a.blocked(d, "http://shop/p/5", "akamai").await.unwrap() {
        SharedGate::Stopped(s) => {
            assert_eq!(
                (s.url.as_str(), s.vendor.as_str(), s.blocks),
                ("http://shop/p/5", "akamai", 5)
            );
            assert!(
                s.at_ms > 1_700_000_000_000,
                "Redis' clock in ms: {}",
                s.at_ms
            );
        }
        g => panic!("expected a stop, got {g:?}"),
    }
    assert!(matches!(b.gate(d).await.unwrap(), SharedGate::Stopped(_)));
    // A page that passes after the stop changes nothing.
    b.passed(d).await.unwrap();
    assert!(matches!(a.gate(d).await.unwrap(), SharedGate::Stopped(_)));

    // The state is one of the crawl's keys (purged with it) and expires on its own.
    let ttl: i64 = ra
        .query(
            "TTL",
            redis::cmd("TTL")
                .arg(keys::breaker("shop-crawl", d))
                .clone(),
            None,
        )
        .await
        .unwrap();
    assert!(ttl > 0, "{ttl}");
    assert!(keys::breaker("shop-crawl", d).starts_with("haul:shop-crawl:"));
}

#[tokio::test]
async fn a_page_that_passes_starts_the_row_again_for_every_worker() {
    let server = RedisServer::start().await;
    let (ra, rb) = (client(&server).await, client(&server).await);
    let a = SharedBreaker::new(&ra, "c", OPTS);
    let b = SharedBreaker::new(&rb, "c", OPTS);
    let d = "shop.example";
    assert_eq!(
        a.blocked(d, "http://shop/1", "x").await.unwrap(),
        SharedGate::Open
    );
    b.passed(d).await.unwrap();
    // The row started again: one more block does not pause.
    assert_eq!(
        a.blocked(d, "http://shop/2", "x").await.unwrap(),
        SharedGate::Open
    );
    assert!(paused(&b.blocked(d, "http://shop/3", "x").await.unwrap()).is_some());
}
