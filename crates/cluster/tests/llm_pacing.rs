//! The shared LLM key limit is the bucket the pool paces with locally: `per_key_rpm` with
//! `per_key_burst` and the pacing guard, on a real redis-server.

use std::time::Duration;

use haul_cluster::llm::RedisKeyGate;
use haul_llm::{ApiKey, GateKey, KeyGate as _, LlmConfig, Provider};
use haul_redis::testing::RedisServer;
use haul_redis::{Rate, Redis};

#[tokio::test]
async fn the_shared_limit_takes_the_configured_rate_and_burst() {
    let redis = RedisServer::start().await;
    let conn = Redis::connect(&redis.url()).await.unwrap();
    let key = ApiKey::new(1, "sk-burst-test");
    let mut c = LlmConfig::new(Provider::OpenAi, vec![key.clone()]);
    c.per_key_rpm = Some(60);
    c.per_key_burst = 5;
    let gate = RedisKeyGate::new(&conn, &c);
    assert_eq!(
        gate.rate(),
        Some(Rate {
            per_second: 1.0,
            burst: 5,
            guard: Duration::from_millis(250),
        })
    );
    // A fresh key: the burst at once but for the guard's share (the first request opens the
    // period 250 ms late, as in the pool's own bucket), then one a second.
    let id = GateKey::from(&key);
    for i in 0..4 {
        assert_eq!(gate.try_acquire(&id).await.unwrap(), None, "request {i}");
    }
    let wait = gate
        .try_acquire(&id)
        .await
        .unwrap()
        .expect("the bucket is empty");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(250),
        "{wait:?}"
    );
    tokio::time::sleep(wait).await;
    assert_eq!(gate.try_acquire(&id).await.unwrap(), None);
    let wait = gate
        .try_acquire(&id)
        .await
        .unwrap()
        .expect("the bucket is empty");
    assert!(
        wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
        "{wait:?}"
    );
    // Without a burst, requests are evenly spaced, as before.
    c.per_key_burst = 1;
    assert_eq!(
        RedisKeyGate::new(&conn, &c).rate(),
        Some(Rate::per_second(1.0))
    );
}
