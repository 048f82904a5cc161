//! The key gate: a hook through which several processes share each API key's request rate
//! and cooldowns (haul-cluster implements it on Redis).
//!
//! Without a gate ([`crate::Pool::start`]) every limit is local to the process. With one
//! ([`crate::Pool::start_with_gate`]) the pool, for every HTTP call:
//!
//! 1. picks a key locally as usual (round robin, local cooldowns, tokens-per-minute budget),
//!    letting only one of its workers at a time ask the gate about a given key;
//! 2. takes an in-flight permit, then asks [`KeyGate::try_acquire`] once (one round trip, no
//!    waiting while holding the permit);
//! 3. when the gate says "wait", gives the permit back, marks the key busy for that long in
//!    this process (so other workers use other keys or wait without asking the gate) and
//!    picks again;
//! 4. after an HTTP 429 cools the key down locally and calls [`KeyGate::pause`] so that every
//!    other process stops using the key for the same time.
//!
//! Only a [`GateKey`] crosses to the gate: the key's label and a fingerprint (a truncated,
//! domain-separated SHA-256 of the secret), never the secret itself.

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::ApiKey;

/// Domain separation for key fingerprints (so the hash is haul's own, not a plain SHA-256 of
/// the key that could be matched against other tables).
const FINGERPRINT_DOMAIN: &[u8] = b"haul-llm key fingerprint v1\0";

/// Hex digits of SHA-256 kept in a fingerprint (64 bits: collisions between the few keys of
/// a deployment are negligible, and an API key cannot be recovered from it).
const FINGERPRINT_HEX: usize = 16;

/// The non-secret identity of one API key, as handed to a [`KeyGate`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GateKey {
    label: String,
    fingerprint: String,
}

impl GateKey {
    /// The key's label in this process (`key#1`...): for messages. Two processes may number
    /// the same key differently.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The key's fingerprint: 16 hex digits of a domain-separated SHA-256 of the secret. The
    /// same secret has the same fingerprint in every process, whatever its label there, so
    /// gates should key their shared state on it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl From<&ApiKey> for GateKey {
    fn from(key: &ApiKey) -> Self {
        Self {
            label: key.label().to_string(),
            fingerprint: key.fingerprint(),
        }
    }
}

impl fmt::Display for GateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.label, self.fingerprint)
    }
}

impl ApiKey {
    /// A non-secret fingerprint of the key, equal in every process that has the same secret
    /// (see [`GateKey::fingerprint`]).
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(FINGERPRINT_DOMAIN);
        hash.update(self.secret().as_bytes());
        let digest = hash.finalize();
        let mut hex = String::with_capacity(FINGERPRINT_HEX);
        for byte in digest.iter().take(FINGERPRINT_HEX / 2) {
            hex.push_str(&format!("{byte:02x}"));
        }
        hex
    }
}

/// A gate could not decide (its shared store is unreachable...). The pool fails the call with
/// [`haul_core::LlmError::Exhausted`] carrying this message rather than exceed a shared limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("LLM key gate failed for {key}: {message}")]
pub struct GateError {
    /// The key's label.
    pub key: String,
    /// What went wrong.
    pub message: String,
}

impl GateError {
    /// An error about `key`.
    pub fn new(key: &GateKey, message: impl fmt::Display) -> Self {
        Self {
            key: key.label().to_string(),
            message: message.to_string(),
        }
    }
}

/// Shares each API key's request rate and cooldowns with other pools (other processes or
/// machines using the same keys). Installed with [`crate::Pool::start_with_gate`]; see the
/// module documentation for when the pool calls it.
#[haul_core::async_trait]
pub trait KeyGate: Send + Sync + fmt::Debug {
    /// Takes the permit for one request with `key` if the shared limit allows one now
    /// (`Ok(None)`); otherwise takes nothing and says how long to wait before asking again.
    /// Should answer in one round trip: the caller holds an in-flight permit meanwhile.
    async fn try_acquire(&self, key: &GateKey) -> Result<Option<Duration>, GateError>;

    /// `key` was rate-limited (HTTP 429): nobody should use it for `cooldown`. Errors are
    /// logged by the pool, which goes on.
    async fn pause(&self, key: &GateKey, cooldown: Duration) -> Result<(), GateError>;

    /// Whether the gate enforces [`crate::LlmConfig::per_key_rpm`] itself (default `true`):
    /// then the pool drops its local spacing of requests, which would only waste the slots
    /// the gate refuses. Return `false` for a gate that shares cooldowns only.
    fn enforces_rpm(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_the_secret_only_and_hide_it() {
        let a1 = ApiKey::new(1, "sk-secret-A");
        let a7 = ApiKey::new(7, "sk-secret-A");
        let b1 = ApiKey::new(1, "sk-secret-B");
        assert_eq!(a1.fingerprint(), a7.fingerprint());
        assert_ne!(a1.fingerprint(), b1.fingerprint());
        let fp = a1.fingerprint();
        assert_eq!(fp.len(), FINGERPRINT_HEX);
        assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()), "{fp}");
        let gk = GateKey::from(&a7);
        assert_eq!(gk.label(), "key#7");
        let shown = format!("{gk} {gk:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let err = GateError::new(&gk, "redis gone");
        assert_eq!(err.to_string(), "LLM key gate failed for key#7: redis gone");
    }

    #[test]
    fn fingerprints_are_stable() {
        // Every process of every version must agree: pin one value (computed independently
        // with Python's hashlib).
        assert_eq!(ApiKey::new(1, "sk-test").fingerprint(), "d22c43acecd415e1");
    }
}
