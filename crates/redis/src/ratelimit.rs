//! Rate limits shared by every process of a crawl: a GCRA (generic cell rate algorithm) in
//! one Lua script, on Redis' clock.
//!
//! Hand-rolled because the limit must live in Redis (a local limiter such as `governor` only
//! limits one process); GCRA keeps one integer per key (the theoretical arrival time) and is
//! decided atomically by the script, so N processes together stay under the limit.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use crate::conn::{Redis, RedisError};

/// KEYS: the key's TAT. ARGV: emission interval (µs), burst, guard (µs). Returns 0 when
/// allowed, else the wait in µs. Times come from Redis' TIME so every process shares one
/// clock. A request opening a new period (the TAT within `guard` of now) counts from
/// `now + guard`.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local guard = tonumber(ARGV[3] or '0')
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat + interval - tolerance
if allow_at > now then return allow_at - now end
if tat < now + guard then tat = now + guard end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1000)
return 0
",
    )
});

/// KEYS: the key's TAT. ARGV: pause (µs). Pushes the TAT to at least now + pause.
static PAUSE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < until_ then tat = until_ end
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
return 0
",
    )
});

/// A request rate: `per_second` on average, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests per second (> 0).
    pub per_second: f64,
    /// Requests allowed back to back (at least 1).
    pub burst: u32,
    /// A request opening a new period of the limit (after the key idled) counts as made this
    /// much later than it was: room for the downstream service's clock, which starts when
    /// the request *arrives* there (default zero).
    pub guard: Duration,
}

impl Rate {
    /// `per_second` with a burst of 1 (evenly spaced requests).
    pub fn per_second(per_second: f64) -> Self {
        Self {
            per_second,
            burst: 1,
            guard: Duration::ZERO,
        }
    }

    fn interval_us(&self) -> u64 {
        (1_000_000.0 / self.per_second.max(1e-6)).round().max(1.0) as u64
    }
}

/// Per-key request-rate limits (an LLM API key label, a domain...) shared by all processes
/// using the same Redis and namespace. Keys: `haul:rate:{namespace}:{key}`.
#[derive(Debug, Clone)]
pub struct SharedRateLimit {
    redis: Redis,
    prefix: String,
}

impl SharedRateLimit {
    /// Limits in `namespace` (such as `llm` or `domain`); independent of any crawl id, so
    /// concurrent crawls with the same API keys share their limits too.
    pub fn new(redis: &Redis, namespace: &str) -> Self {
        Self {
            redis: redis.clone(),
            prefix: crate::keys::rate_prefix(namespace),
        }
    }

    /// Takes a permit for `key` if `rate` allows one now (`None`), else says how long to wait
    /// before asking again (nothing is taken then).
    pub async fn try_acquire(&self, key: &str, rate: Rate) -> Result<Option<Duration>, RedisError> {
        let wait_us: u64 = self
            .redis
            .script(
                "rate limit (GCRA)",
                &GCRA,
                &[format!("{}{key}", self.prefix)],
                &[
                    rate.interval_us().to_string(),
                    rate.burst.max(1).to_string(),
                    u64::try_from(rate.guard.as_micros())
                        .unwrap_or(u64::MAX)
                        .to_string(),
                ],
            )
            .await?;
        Ok((wait_us > 0).then(|| Duration::from_micros(wait_us)))
    }

    /// Waits until `rate` allows a request for `key` and takes the permit.
    pub async fn acquire(&self, key: &str, rate: Rate) -> Result<(), RedisError> {
        while let Some(wait) = self.try_acquire(key, rate).await? {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Blocks `key` for every process for at least `pause` (a cooldown, such as after an HTTP
    /// 429 with `Retry-After`).
    pub async fn pause(&self, key: &str, pause: Duration) -> Result<(), RedisError> {
        self.redis
            .script::<()>(
                "rate limit pause",
                &PAUSE,
                &[format!("{}{key}", self.prefix)],
                &[(pause.as_micros() as u64).to_string()],
            )
            .await
    }
}
