//! The block circuit breaker shared by every worker of a crawl: [`RedisBreaker`] implements
//! the runner's [`BlockBreaker`] over `haul_redis::SharedBreaker`, so blocks of a domain seen
//! by any worker count in one row, and a pause or a stop holds for all of them.

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use haul_redis::{Redis, SharedBreaker, SharedBreakerOptions, SharedGate};
use haul_runner::{BlockBreaker, BlockStop, BreakerOptions, Gate};
use tracing::warn;
use url::Url;

/// The per-domain block breaker of one crawl, in Redis.
#[derive(Debug, Clone)]
pub struct RedisBreaker {
    shared: SharedBreaker,
}

impl RedisBreaker {
    /// The breaker of crawl `crawl` on `redis`, with the crawl's settings.
    pub fn new(redis: &Redis, crawl: &str, opts: BreakerOptions) -> Self {
        let opts = SharedBreakerOptions {
            pause_after: opts.pause_after,
            stop_after: opts.stop_after,
            backoff: opts.backoff,
            max_backoff: opts.max_backoff,
        };
        Self {
            shared: SharedBreaker::new(redis, crawl, opts),
        }
    }
}

/// The runner's gate from the shared one.
fn gate(domain: &str, shared: SharedGate) -> Gate {
    match shared {
        SharedGate::Open => Gate::Open,
        SharedGate::Paused(d) => Gate::Paused(d),
        SharedGate::Stopped(s) => Gate::Stopped(BlockStop {
            domain: domain.to_string(),
            at: Utc
                .timestamp_millis_opt(s.at_ms)
                .single()
                .unwrap_or_else(Utc::now),
            url: s.url,
            vendor: s.vendor,
            blocks: s.blocks,
        }),
    }
}

#[async_trait]
impl BlockBreaker for RedisBreaker {
    // Redis errors: the breaker says "open" and the page goes on; the worker's own Redis
    // calls (tasks, records) fail loudly on the same outage right after.
    async fn gate(&self, domain: &str) -> Gate {
        match self.shared.gate(domain).await {
            Ok(g) => gate(domain, g),
            Err(e) => {
                warn!(domain, "block breaker unavailable: {e}");
                Gate::Open
            }
        }
    }

    async fn blocked(&self, domain: &str, url: &Url, vendor: &str) -> Gate {
        match self.shared.blocked(domain, url.as_str(), vendor).await {
            Ok(g) => gate(domain, g),
            Err(e) => {
                warn!(domain, "block breaker unavailable: {e}");
                Gate::Open
            }
        }
    }

    async fn passed(&self, domain: &str) {
        if let Err(e) = self.shared.passed(domain).await {
            warn!(domain, "block breaker unavailable: {e}");
        }
    }
}
