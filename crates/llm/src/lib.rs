//! haul's global LLM pool: one per process, shared by every site's crawl.
//!
//! [`Pool`] implements [`haul_core::LlmPool`]. Tasks go into one bounded queue with a
//! sub-queue per site, served round robin (back-pressure: `submit` waits while the queue is
//! full); `workers` worker tasks run them with at most `max_in_flight` HTTP calls at once.
//!
//! Each call picks a key round robin among healthy keys. HTTP 429 cools that key down, and
//! only that key (`Retry-After`, Gemini's `RetryInfo`, else exponential; capped at
//! `cooldown_max`) and the call moves to another key at once; when every key cools down,
//! calls wait for the first to recover. 401/403 kill a key
//! ([`haul_core::LlmError::NoUsableKey`] once all are dead). 5xx, timeouts and connection
//! errors are retried (default 3 times: the first two at once on the next paced slot, then
//! with exponential backoff and jitter); other 4xx return
//! [`haul_core::LlmError::Rejected`] with the provider's message. A call that gives up says
//! why with a [`haul_core::LlmFailureKind`].
//!
//! **Pacing.** Every HTTP request of a key (first try, retry, continuation round, JSON
//! repair) goes through the same per-key token bucket, shaped like the provider's limit:
//! `per_key_rpm` requests a minute with a burst of `per_key_burst` (default 1: evenly
//! spaced), plus an optional `per_key_tpm` tokens-per-minute budget. A worker books the
//! earliest slot over all keys and sleeps until it without an in-flight permit; once it holds
//! one, the bucket is checked again against the requests really sent, so requests delayed by
//! a busy pool never leave bunched. Configured to the provider's limits, the pool draws no
//! HTTP 429 at all (see `keys.rs` for the algorithm and why it is not `governor`).
//!
//! An answer cut at the output-token limit is continued (the partial answer goes back as a
//! model turn, followed by a "continue" user turn) and the fragments are merged. For JSON
//! tasks the merged text is parsed (code fences stripped); invalid JSON gets one repair
//! request, then [`haul_core::LlmError::InvalidAnswer`] with the raw text.
//!
//! Keys never appear in logs, errors, stats or `Debug` output: they show as `key#1`, `key#2`...
//!
//! Several processes using the same keys share each key's request rate and cooldowns
//! through a [`KeyGate`] installed with [`Pool::start_with_gate`] (haul-cluster has one on
//! Redis); it sees key labels and fingerprints ([`GateKey`]), never secrets.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use haul_core::LlmPool as _;
//! use haul_llm::{LlmConfig, Pool, Provider};
//!
//! let config = LlmConfig::from_env_and(Provider::Gemini, |c| {
//!     c.per_key_rpm = Some(15);
//!     c.per_key_burst = 15;
//! })?;
//! let pool = Pool::start(config)?;
//! let answer = pool
//!     .submit(haul_core::LlmTask {
//!         site: "shop".into(),
//!         system: "Extract deals as JSON.".into(),
//!         prompt: "# Deals ...".into(),
//!         json: true,
//!     })
//!     .await?;
//! println!("{:?} {}", answer.json, pool.stats_json());
//! pool.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! With the `fake` feature: [`fake`], an in-process fake server speaking both protocols (with a
//! provider-like token bucket per key, and shares of 5xx and cut answers), and
//! [`bench`](mod@bench), the pool benchmark used by `cargo xtask bench llm`.

mod config;
mod gate;
mod json;
mod keys;
mod pool;
mod provider;
mod queue;
mod stats;

#[cfg(feature = "fake")]
pub mod bench;
#[cfg(feature = "fake")]
pub mod fake;

pub use config::{
    ApiKey, ConfigError, DEFAULT_MAX_REPLY_BYTES, KEYS_ENV, LlmConfig, Provider, parse_keys,
};
pub use gate::{GateError, GateKey, KeyGate};
pub use pool::{CONTINUE_PROMPT, Pool, REPAIR_SYSTEM};
pub use stats::{KeyState, KeyStats, LlmStats};
