//! Concurrency limits shared by every process of a crawl: a counting semaphore whose permits
//! are leases in a Redis sorted set, so a permit of a process that died expires by itself.
//!
//! Hand-rolled (one Lua script) because no maintained crate offers a Redis semaphore on the
//! `redis` 1.x async API; the algorithm is the usual "sorted set of holders scored by lease
//! expiry" one.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::Script;

use crate::conn::{Redis, RedisError};

/// KEYS: holders set. ARGV: limit, lease (ms), holder token. Drops expired leases, then takes
/// a permit when the token holds one already or fewer than `limit` are held: returns 0, else
/// the ms until the earliest lease expires (an upper bound on the wait; holders usually
/// release sooner).
///
/// A token already held means this very call ran before: [`Redis`] sends a script again when
/// the reply did not come in time (such as while Redis was paused), and Redis then runs both.
/// Without the check the first run took the permit, its reply was lost, and the second found
/// the set full: the caller went on waiting while its own lease held the slot until it
/// expired (measured after a 6 s pause of Redis: 2 to 4 of the 8 per-domain slots held by
/// such leases for the whole 60 s lease; with all 8, every worker stalls and pages time out).
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(first[2]) - now)
",
    )
});

/// KEYS: holders set. Drops expired leases and counts the rest.
static HELD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
",
    )
});

/// Per-key concurrency limits (`limit` holders at once per key, such as requests in flight
/// to one domain) shared by all processes using the same Redis and namespace. Keys:
/// `haul:sem:{namespace}:{key}`.
#[derive(Debug, Clone)]
pub struct SharedSemaphore {
    redis: Redis,
    prefix: String,
    /// Unique per process (pid and a random number), so tokens of processes never collide.
    owner: String,
    lease: Duration,
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(0);

/// A permit held in Redis; give it back with [`SharedSemaphore::release`]. Its lease expires
/// on its own if the process dies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    key: String,
    token: String,
}

impl SharedSemaphore {
    /// Limits in `namespace`; a permit not released within `lease` (its holder died or hung)
    /// expires and frees its slot.
    pub fn new(redis: &Redis, namespace: &str, lease: Duration) -> Self {
        Self {
            redis: redis.clone(),
            prefix: crate::keys::sem_prefix(namespace),
            owner: format!("{}-{:016x}", std::process::id(), fastrand::u64(..)),
            lease,
        }
    }

    /// Takes a permit for `key` if fewer than `limit` are held (`Ok(Ok(lease))`), else says
    /// how long the earliest lease may still run (`Ok(Err(wait))`); poll again sooner.
    pub async fn try_acquire(
        &self,
        key: &str,
        limit: usize,
    ) -> Result<Result<Lease, Duration>, RedisError> {
        let token = format!(
            "{}-{}",
            self.owner,
            NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)
        );
        let full_key = format!("{}{key}", self.prefix);
        let wait_ms: u64 = self
            .redis
            .script(
                "semaphore acquire",
                &ACQUIRE,
                std::slice::from_ref(&full_key),
                &[
                    limit.max(1).to_string(),
                    (self.lease.as_millis().max(1) as u64).to_string(),
                    token.clone(),
                ],
            )
            .await?;
        Ok(if wait_ms == 0 {
            Ok(Lease {
                key: full_key,
                token,
            })
        } else {
            Err(Duration::from_millis(wait_ms))
        })
    }

    /// Waits for a permit for `key` (polling with a short, growing, jittered pause: a
    /// released permit is taken within a few tens of milliseconds).
    pub async fn acquire(&self, key: &str, limit: usize) -> Result<Lease, RedisError> {
        let mut pause = Duration::from_millis(2);
        loop {
            match self.try_acquire(key, limit).await? {
                Ok(lease) => return Ok(lease),
                Err(max_wait) => {
                    let jitter = Duration::from_micros(fastrand::u64(..2_000));
                    tokio::time::sleep(pause.min(max_wait) + jitter).await;
                    pause = (pause * 2).min(Duration::from_millis(40));
                }
            }
        }
    }

    /// Gives `lease` back.
    pub async fn release(&self, lease: &Lease) -> Result<(), RedisError> {
        self.redis
            .query::<u64>(
                "semaphore release",
                redis::cmd("ZREM").arg(&lease.key).arg(&lease.token).clone(),
                None,
            )
            .await
            .map(|_| ())
    }

    /// Permits of `key` held now (expired leases dropped first).
    pub async fn held(&self, key: &str) -> Result<u64, RedisError> {
        self.redis
            .script(
                "semaphore held",
                &HELD,
                &[format!("{}{key}", self.prefix)],
                &[],
            )
            .await
    }
}
