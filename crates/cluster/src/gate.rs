//! Per-domain politeness shared by all workers: [`RedisDomainGate`] implements the runner's
//! [`DomainGate`] with a Redis semaphore (requests in flight per domain) and a Redis GCRA
//! (spacing between request starts, and Retry-After pauses).

use std::time::Duration;

use async_trait::async_trait;
use haul_redis::{Lease, Rate, Redis, SharedRateLimit, SharedSemaphore};
use haul_runner::{DomainGate, GatePermit};
use tracing::warn;

/// Per-domain concurrency and spacing kept in Redis (namespace `domain`, shared by every
/// crawl on that Redis, as a server does not care which crawl hits it).
#[derive(Debug, Clone)]
pub struct RedisDomainGate {
    slots: SharedSemaphore,
    pace: SharedRateLimit,
}

impl RedisDomainGate {
    /// A gate on `redis`; a slot not given back within `lease` (its worker died mid-request)
    /// frees itself. Make `lease` longer than the longest request (the page timeout).
    pub fn new(redis: &Redis, lease: Duration) -> Self {
        Self {
            slots: SharedSemaphore::new(redis, "domain", lease),
            pace: SharedRateLimit::new(redis, "domain"),
        }
    }
}

/// Gives a slot back when dropped (in a task: drop cannot await).
struct Release {
    slots: SharedSemaphore,
    lease: Option<Lease>,
}

impl Drop for Release {
    fn drop(&mut self) {
        let (Some(lease), Ok(rt)) = (self.lease.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let slots = self.slots.clone();
        rt.spawn(async move {
            if let Err(e) = slots.release(&lease).await {
                // The lease expires on its own.
                warn!("{e}; the domain slot frees itself when its lease runs out");
            }
        });
    }
}

#[async_trait]
impl DomainGate for RedisDomainGate {
    async fn enter(
        &self,
        domain: &str,
        limit: usize,
        delay: Duration,
    ) -> Result<GatePermit, String> {
        let lease = self
            .slots
            .acquire(domain, limit)
            .await
            .map_err(|e| e.to_string())?;
        let release = Release {
            slots: self.slots.clone(),
            lease: Some(lease),
        };
        // With no delay the limit is effectively off but still honours pauses (Retry-After).
        let rate = if delay.is_zero() {
            Rate::per_second(1e6)
        } else {
            Rate::per_second(1.0 / delay.as_secs_f64())
        };
        self.pace
            .acquire(domain, rate)
            .await
            .map_err(|e| e.to_string())?;
        Ok(GatePermit::new(release))
    }

    async fn push_back(&self, domain: &str, wait: Duration) {
        if let Err(e) = self.pace.pause(domain, wait).await {
            warn!("{e}; Retry-After of {domain} applies to this worker only");
        }
    }
}
