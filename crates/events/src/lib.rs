//! Delivers haul's change events from a SQLite store's outbox ([`haul_output::Outbox`]) to
//! their targets: a JSON Lines file, standard output and webhooks (a JSON POST signed with
//! HMAC-SHA256, retried with exponential back-off and jitter, a dead-letter file after the
//! last attempt).
//!
//! A [`Dispatcher`] runs one task per target while a crawl (or a watch) writes events: each
//! polls the outbox for the events due, delivers them in order and marks each delivery only
//! after it happened, so what is not delivered when the process stops stays pending and goes
//! out at the next start. A receiver may see an event twice only when the process died
//! between the delivery and its mark; the event's `id` (also in `X-Haul-Event`) lets it drop
//! the duplicate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), haul_events::EventsError> {
//! use std::path::Path;
//! use std::time::Duration;
//! use haul_events::{DeliveryOptions, Dispatcher, Target, Webhook};
//! let store = Path::new("prices.db");
//! let hook = Webhook::new("https://hooks.example/haul".parse().unwrap(), "s3cret".into())?;
//! let targets = vec![Target::Webhook(hook), Target::Stdout];
//! let cancel = tokio_util::sync::CancellationToken::new();
//! let d = Dispatcher::spawn(store, targets, DeliveryOptions::for_store(store), cancel).await?;
//! // ... crawl into the store ...
//! let report = d.drain(Duration::from_secs(30)).await;
//! # Ok(()) }
//! ```

mod deliver;
mod dispatcher;
mod sign;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

pub use dispatcher::{Dispatcher, DrainReport, TargetReport};
pub use sign::{EVENT_HEADER, SIGNATURE_HEADER, sign, verify};

/// Why events could not be delivered at all (a single delivery's failure is retried, then
/// dead-lettered, never an error).
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The store's outbox failed.
    #[error(transparent)]
    Store(#[from] haul_output::OutputError),
    /// The HTTP client could not be built.
    #[error("cannot build the webhook client: {0}")]
    Client(String),
    /// A webhook without a secret.
    #[error("webhook {url}: the secret is empty")]
    NoSecret {
        /// The webhook (without credentials).
        url: String,
    },
    /// A webhook URL that is not http(s).
    #[error("webhook {url}: not an http(s) URL")]
    BadUrl {
        /// The URL as given (without credentials).
        url: String,
    },
    /// A blocking task of the dispatcher panicked.
    #[error("the event dispatcher's {0} task failed")]
    Task(&'static str),
}

/// A webhook: where to POST and the secret to sign with (never shown: `Debug` hides it).
#[derive(Clone)]
pub struct Webhook {
    url: Url,
    secret: Vec<u8>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &shown(&self.url))
            .field("secret", &"***")
            .finish()
    }
}

/// `url` without its password, as logs and the outbox show it.
fn shown(url: &Url) -> String {
    let mut u = url.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    u.to_string()
}

impl Webhook {
    /// A webhook to `url` signing with `secret` (not empty).
    pub fn new(url: Url, secret: String) -> Result<Self, EventsError> {
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(EventsError::BadUrl { url: shown(&url) });
        }
        if secret.is_empty() {
            return Err(EventsError::NoSecret { url: shown(&url) });
        }
        Ok(Self {
            url,
            secret: secret.into_bytes(),
        })
    }

    /// The URL events are posted to.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

/// Where events go.
#[derive(Debug, Clone)]
pub enum Target {
    /// One JSON object per line on standard output.
    Stdout,
    /// One JSON object per line appended to a file.
    File(PathBuf),
    /// A signed JSON POST per event.
    Webhook(Webhook),
}

impl Target {
    /// The target's name in the outbox (`stdout`, `file:PATH`, `webhook:URL`): a target
    /// configured again under the same name continues where it stopped.
    pub fn key(&self) -> String {
        match self {
            Self::Stdout => "stdout".into(),
            Self::File(p) => {
                let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                format!("file:{}", abs.display())
            }
            Self::Webhook(w) => format!("webhook:{}", shown(&w.url)),
        }
    }
}

/// How deliveries are made and retried.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Attempts per event and webhook, the first included; then the event is dead.
    pub attempts: u32,
    /// The delay after the first failed attempt; doubled after each further one.
    pub base_delay: Duration,
    /// The longest delay between two attempts (also caps a server's `Retry-After`).
    pub max_delay: Duration,
    /// The longest one webhook request may take.
    pub timeout: Duration,
    /// How often the outbox is polled for new events.
    pub poll: Duration,
    /// Where events that failed their last attempt are appended (JSON Lines).
    pub dead_letter: PathBuf,
}

impl DeliveryOptions {
    /// 6 attempts, 1 s doubled up to 5 min, 10 s per request, the dead-letter file beside the
    /// store (`STORE.dead-letter.jsonl`).
    pub fn for_store(store: &Path) -> Self {
        let mut dead = store.as_os_str().to_owned();
        dead.push(".dead-letter.jsonl");
        Self {
            attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            poll: Duration::from_millis(200),
            dead_letter: PathBuf::from(dead),
        }
    }

    /// The delay before attempt `failed + 1` after `failed` failed attempts: the base
    /// doubled per failure, capped, with jitter (between half and all of it), or the server's
    /// `Retry-After` when it gave one (capped too).
    pub fn backoff(&self, failed: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_delay);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << failed.saturating_sub(1).min(20))
            .min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_is_capped_and_follows_retry_after() {
        let mut o = DeliveryOptions::for_store(Path::new("s.db"));
        o.base_delay = Duration::from_millis(100);
        o.max_delay = Duration::from_secs(1);
        for _ in 0..50 {
            let d1 = o.backoff(1, None);
            assert!((50..=100).contains(&d1.as_millis()), "{d1:?}");
            let d3 = o.backoff(3, None);
            assert!((200..=400).contains(&d3.as_millis()), "{d3:?}");
            assert!(o.backoff(30, None) <= Duration::from_secs(1));
        }
        assert_eq!(
            o.backoff(1, Some(Duration::from_millis(700))),
            Duration::from_millis(700)
        );
        assert_eq!(
            o.backoff(1, Some(Duration::from_secs(600))),
            Duration::from_secs(1)
        );
        assert_eq!(o.dead_letter, Path::new("s.db.dead-letter.jsonl"));
    }

    #[test]
    fn secrets_and_passwords_are_never_shown() {
        let url: Url = "https://user:pw@hooks.example/x".parse().unwrap();
        let w = Webhook::new(url.clone(), "topsecret".into()).unwrap();
        let dbg = format!("{w:?} {}", Target::Webhook(w.clone()).key());
        assert!(!dbg.contains("topsecret") && !dbg.contains("pw@"), "{dbg}");
        assert!(matches!(
            Webhook::new(url, String::new()),
            Err(EventsError::NoSecret { .. })
        ));
        assert!(Webhook::new("ftp://h/".parse().unwrap(), "s".into()).is_err());
    }
}
