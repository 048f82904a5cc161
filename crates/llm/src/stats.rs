//! The pool's counters as a serialisable snapshot, and the latency sample ring behind them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Provider;

/// How many recent call latencies each key keeps for its percentiles.
pub(crate) const LATENCY_SAMPLES: usize = 4096;

/// A snapshot of the pool's counters. Keys appear by label only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmStats {
    /// The provider (written `gemini` or `openai`).
    pub provider: Provider,
    /// The model called.
    pub model: String,
    /// Tasks submitted.
    pub submitted: u64,
    /// Tasks answered.
    pub succeeded: u64,
    /// Tasks that ended in an error other than cancellation.
    pub failed: u64,
    /// Tasks cancelled by shutdown.
    pub cancelled: u64,
    /// Tasks whose caller stopped waiting before a worker took them (skipped).
    pub abandoned: u64,
    /// Tasks waiting in the queue now.
    pub queue_depth: usize,
    /// Most tasks ever waiting in the queue.
    pub peak_queue_depth: usize,
    /// HTTP calls in flight now.
    pub in_flight: usize,
    /// Most HTTP calls ever in flight at once.
    pub peak_in_flight: usize,
    /// JSON answers that needed a repair request.
    pub repairs: u64,
    /// Per key, in configuration order.
    pub keys: Vec<KeyStats>,
}

/// Counters of one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyStats {
    /// `key#1`, `key#2`...
    pub label: String,
    /// `healthy`, `cooling` or `dead`.
    pub state: KeyState,
    /// HTTP calls made with the key.
    pub requests: u64,
    /// Calls answered with HTTP 200 and a usable body.
    pub successes: u64,
    /// HTTP 429 answers.
    pub rate_limited: u64,
    /// Other failed calls (transient errors, rejections, refusals).
    pub errors: u64,
    /// Retries that followed a transient failure on this key.
    pub retries: u64,
    /// Continuation requests served by this key.
    pub continuations: u64,
    /// Median call latency over recent calls, in milliseconds.
    pub latency_p50_ms: f64,
    /// 95th percentile call latency over recent calls, in milliseconds.
    pub latency_p95_ms: f64,
    /// Prompt tokens reported by the provider.
    pub input_tokens: u64,
    /// Output tokens reported by the provider.
    pub output_tokens: u64,
}

/// The health of one key, written `healthy`, `cooling` or `dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Usable (possibly waiting for its rate limit).
    Healthy,
    /// Cooling down after an HTTP 429 (its `Retry-After`, capped).
    Cooling,
    /// Refused by the provider (401/403): not used again.
    Dead,
}

impl KeyState {
    /// `healthy`, `cooling` or `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Cooling => "cooling",
            Self::Dead => "dead",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with a label (`state == "dead"`).
impl PartialEq<&str> for KeyState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The last [`LATENCY_SAMPLES`] latencies, in microseconds.
#[derive(Debug, Default)]
pub(crate) struct LatencyRing {
    samples: Vec<u64>,
    next: usize,
}

impl LatencyRing {
    pub(crate) fn push(&mut self, micros: u64) {
        if self.samples.len() < LATENCY_SAMPLES {
            self.samples.push(micros);
        } else {
            self.samples[self.next] = micros;
        }
        self.next = (self.next + 1) % LATENCY_SAMPLES;
    }

    /// (p50, p95) in milliseconds; zeros when empty.
    pub(crate) fn percentiles_ms(&self) -> (f64, f64) {
        if self.samples.is_empty() {
            return (0.0, 0.0);
        }
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let at = |q: f64| {
            // Nearest-rank percentile.
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1] as f64 / 1000.0
        };
        (at(0.50), at(0.95))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank_and_keep_recent_samples() {
        let mut ring = LatencyRing::default();
        assert_eq!(ring.percentiles_ms(), (0.0, 0.0));
        for ms in 1..=100u64 {
            ring.push(ms * 1000);
        }
        assert_eq!(ring.percentiles_ms(), (50.0, 95.0));
        for _ in 0..LATENCY_SAMPLES {
            ring.push(7000);
        }
        assert_eq!(ring.percentiles_ms(), (7.0, 7.0));
    }

    #[test]
    fn states_and_providers_keep_their_labels() {
        for (state, label) in [
            (KeyState::Healthy, "healthy"),
            (KeyState::Cooling, "cooling"),
            (KeyState::Dead, "dead"),
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), label);
            assert_eq!(state, label);
        }
        assert_eq!(serde_json::to_value(Provider::OpenAi).unwrap(), "openai");
        assert_eq!(serde_json::to_value(Provider::Gemini).unwrap(), "gemini");
    }
}
