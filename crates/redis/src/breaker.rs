//! The block circuit breaker of a distributed crawl, shared by every worker through Redis:
//! per domain, the blocks in a row, the pauses so far, the end of the current pause and the
//! stop, decided by one Lua script per event on Redis' clock (so N workers count one row).

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use serde::{Deserialize, Serialize};

use crate::conn::{Redis, RedisError};

/// The clock and the domain's stop, shared by the scripts: `now` in ms from Redis' TIME;
/// returns `{2, stop}` when the domain is stopped.
const PRELUDE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local k = KEYS[1]
local stopped = redis.call('HGET', k, 'stopped')
if stopped then return {2, stopped} end
";

/// KEYS: the domain's hash. Returns `{0, ''}` open, `{1, ms}` paused, `{2, stop}` stopped.
static GATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{PRELUDE}
local until_ = tonumber(redis.call('HGET', k, 'until') or '0')
if until_ > now then return {{1, string.format('%d', until_ - now)}} end
return {{0, ''}}
"
    ))
});

/// KEYS: the domain's hash. ARGV: pause after, stop after, first pause (ms), longest pause
/// (ms), url, vendor, TTL (s). Counts a block and says what the domain does now.
static BLOCKED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{PRELUDE}
redis.call('EXPIRE', k, tonumber(ARGV[7]))
local row = redis.call('HINCRBY', k, 'row', 1)
if row >= tonumber(ARGV[2]) then
  local stop = cjson.encode({{at_ms = now, url = ARGV[5], vendor = ARGV[6], blocks = row}})
  redis.call('HSET', k, 'stopped', stop)
  return {{2, stop}}
end
local until_ = tonumber(redis.call('HGET', k, 'until') or '0')
if until_ > now then return {{1, string.format('%d', until_ - now)}} end
if row < tonumber(ARGV[1]) then return {{0, ''}} end
local pauses = tonumber(redis.call('HGET', k, 'pauses') or '0')
local first = tonumber(ARGV[3])
local longest = math.max(tonumber(ARGV[4]), first)
local pause = first
for _ = 1, pauses do
  pause = pause * 2
  if pause >= longest then break end
end
if pause > longest then pause = longest end
redis.call('HSET', k, 'pauses', pauses + 1, 'until', string.format('%d', now + pause))
return {{1, string.format('%d', pause)}}
"
    ))
});

/// KEYS: the domain's hash. A page that passed: the row starts again (unless stopped).
static PASSED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{PRELUDE}
if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, 'row', 0, 'pauses', 0) end
return {{0, ''}}
"
    ))
});

/// Where and when a domain was stopped, as the script stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedStop {
    /// Redis' clock when it was stopped, in ms since the Unix epoch.
    pub at_ms: i64,
    /// The page whose block stopped it.
    pub url: String,
    /// Who blocked it last.
    pub vendor: String,
    /// Blocks in a row when it stopped.
    pub blocks: u32,
}

/// What the shared breaker says about a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedGate {
    /// Go on.
    Open,
    /// Wait this long.
    Paused(Duration),
    /// No more requests.
    Stopped(SharedStop),
}

/// The breaker's settings, as the scripts take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedBreakerOptions {
    /// Blocks in a row after which a domain pauses.
    pub pause_after: u32,
    /// Blocks in a row after which it stops.
    pub stop_after: u32,
    /// The first pause (doubled on every further one).
    pub backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
}

/// How long a domain's breaker state outlives its last block: a crawl's keys go with the
/// crawl anyway (`--keep-finished`); this bounds what an abandoned crawl leaves.
const STATE_TTL_SECS: u64 = 7 * 24 * 3600;

/// The per-domain block breaker of crawl `crawl`, shared by all its workers.
#[derive(Debug, Clone)]
pub struct SharedBreaker {
    redis: Redis,
    crawl: String,
    opts: SharedBreakerOptions,
}

impl SharedBreaker {
    /// The breaker of `crawl` with `opts`.
    pub fn new(redis: &Redis, crawl: &str, opts: SharedBreakerOptions) -> Self {
        Self {
            redis: redis.clone(),
            crawl: crawl.to_string(),
            opts,
        }
    }

    fn key(&self, domain: &str) -> Vec<String> {
        vec![crate::keys::breaker(&self.crawl, domain)]
    }

    /// Whether `domain` may be asked now.
    pub async fn gate(&self, domain: &str) -> Result<SharedGate, RedisError> {
        let answer = self
            .redis
            .script("block breaker gate", &GATE, &self.key(domain), &[])
            .await?;
        Ok(gate_of(answer))
    }

    /// Counts a block of `url` by `vendor` on `domain`; says what the domain does now.
    pub async fn blocked(
        &self,
        domain: &str,
        url: &str,
        vendor: &str,
    ) -> Result<SharedGate, RedisError> {
        let o = self.opts;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).to_string();
        let args = [
            o.pause_after.to_string(),
            o.stop_after.to_string(),
            ms(o.backoff),
            ms(o.max_backoff),
            url.to_string(),
            vendor.to_string(),
            STATE_TTL_SECS.to_string(),
        ];
        let answer = self
            .redis
            .script("block breaker block", &BLOCKED, &self.key(domain), &args)
            .await?;
        Ok(gate_of(answer))
    }

    /// Notes a page of `domain` that was not blocked: the row starts again.
    pub async fn passed(&self, domain: &str) -> Result<(), RedisError> {
        let _: (i64, String) = self
            .redis
            .script("block breaker pass", &PASSED, &self.key(domain), &[])
            .await?;
        Ok(())
    }
}

fn gate_of((code, value): (i64, String)) -> SharedGate {
    match code {
        1 => SharedGate::Paused(Duration::from_millis(value.parse().unwrap_or(0))),
        2 => match serde_json::from_str(&value) {
            Ok(stop) => SharedGate::Stopped(stop),
            // A stop that cannot be read is still a stop.
            Err(_) => SharedGate::Stopped(SharedStop {
                at_ms: 0,
                url: String::new(),
                vendor: "unknown".into(),
                blocks: 0,
            }),
        },
        _ => SharedGate::Open,
    }
}
