//! Blocked pages in a crawl: [`screen`], which every fetched or rendered document passes
//! before it is extracted (a bot wall becomes `FetchError::Blocked`, never records), and the
//! per-domain circuit breaker ([`BlockBreaker`], [`LocalBreaker`]) that pauses a domain with
//! growing back-off after `pause_after` blocks in a row and stops it after `stop_after`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use haul_core::block::{captcha_path, detect};
use haul_core::{Document, ExtractError, Extractor, FetchError, PageError};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use url::Url;

/// Settings of the block circuit breaker (`block_pause_after`, `block_stop_after`,
/// `block_backoff_ms` in `haul.toml`; `--block-pause-after`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerOptions {
    /// Blocks in a row after which a domain pauses.
    pub pause_after: u32,
    /// Blocks in a row after which a domain is stopped for the rest of the crawl.
    pub stop_after: u32,
    /// The first pause; doubled on every further pause in a row.
    pub backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        Self {
            pause_after: 3,
            stop_after: 10,
            backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(crate::MAX_RETRY_AFTER_SECS),
        }
    }
}

/// A breaker setting that cannot work, naming the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakerError {
    /// `block_pause_after` is 0.
    #[error("block_pause_after must be at least 1")]
    PauseAfterZero,
    /// `block_stop_after` is not above `block_pause_after`.
    #[error("block_stop_after ({stop}) must be greater than block_pause_after ({pause})")]
    StopNotAfterPause {
        /// `block_stop_after`.
        stop: u32,
        /// `block_pause_after`.
        pause: u32,
    },
    /// `block_backoff_ms` is 0.
    #[error("block_backoff_ms must be at least 1")]
    NoBackoff,
}

impl BreakerOptions {
    /// Checks the settings together.
    pub fn validate(&self) -> Result<(), BreakerError> {
        if self.pause_after == 0 {
            return Err(BreakerError::PauseAfterZero);
        }
        if self.stop_after <= self.pause_after {
            return Err(BreakerError::StopNotAfterPause {
                stop: self.stop_after,
                pause: self.pause_after,
            });
        }
        if self.backoff.is_zero() {
            return Err(BreakerError::NoBackoff);
        }
        Ok(())
    }
}

/// Where and when a domain was stopped for blocking: the report line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStop {
    /// The domain (`host` or `host:port`).
    pub domain: String,
    /// When it was stopped.
    pub at: DateTime<Utc>,
    /// The page whose block stopped it.
    pub url: String,
    /// Who blocked it last.
    pub vendor: String,
    /// Blocks in a row when it stopped.
    pub blocks: u32,
}

/// What the breaker says about a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Go on (after a block: retry with the usual delay).
    Open,
    /// Wait this long before the next request to the domain.
    Paused(Duration),
    /// The domain is stopped: no more requests.
    Stopped(BlockStop),
}

/// The per-domain block circuit breaker. [`LocalBreaker`] keeps it in this process; a shared
/// implementation (Redis, for a cluster) plugs in through
/// [`Crawler::with_breaker`](crate::Crawler::with_breaker).
#[async_trait]
pub trait BlockBreaker: Send + Sync + 'static {
    /// Whether `domain` may be asked now.
    async fn gate(&self, domain: &str) -> Gate;
    /// Notes a block of `url` by `vendor`; says what the domain does now.
    async fn blocked(&self, domain: &str, url: &Url, vendor: &str) -> Gate;
    /// Notes an answer that was not a block: the row starts again.
    async fn passed(&self, domain: &str);
}

#[derive(Debug, Default)]
struct DomainState {
    row: u32,
    pauses: u32,
    until: Option<Instant>,
    stopped: Option<BlockStop>,
}

/// The breaker of one process: a plain mutex over per-domain state, never held across an
/// await.
#[derive(Debug, Default)]
pub struct LocalBreaker {
    opts: BreakerOptions,
    domains: Mutex<HashMap<String, DomainState>>,
}

impl LocalBreaker {
    /// A breaker with `opts`.
    pub fn new(opts: BreakerOptions) -> Self {
        Self {
            opts,
            domains: Mutex::default(),
        }
    }

    fn with<T>(&self, domain: &str, f: impl FnOnce(&mut DomainState) -> T) -> T {
        let mut map = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(domain.to_string()).or_default())
    }
}

#[async_trait]
impl BlockBreaker for LocalBreaker {
    async fn gate(&self, domain: &str) -> Gate {
        let now = Instant::now();
        self.with(domain, |s| match (&s.stopped, s.until) {
            (Some(stop), _) => Gate::Stopped(stop.clone()),
            (None, Some(until)) if until > now => Gate::Paused(until - now),
            _ => Gate::Open,
        })
    }

    async fn blocked(&self, domain: &str, url: &Url, vendor: &str) -> Gate {
        let now = Instant::now();
        let o = self.opts;
        self.with(domain, |s| {
            if let Some(stop) = &s.stopped {
                return Gate::Stopped(stop.clone());
            }
            s.row += 1;
            if s.row >= o.stop_after {
                let stop = BlockStop {
                    domain: domain.to_string(),
                    at: Utc::now(),
                    url: url.to_string(),
                    vendor: vendor.to_string(),
                    blocks: s.row,
                };
                s.stopped = Some(stop.clone());
                return Gate::Stopped(stop);
            }
            // Blocks of requests sent before the pause began do not lengthen it.
            if let Some(until) = s.until.filter(|u| *u > now) {
                return Gate::Paused(until - now);
            }
            if s.row < o.pause_after {
                return Gate::Open;
            }
            let pause = o
                .backoff
                .saturating_mul(2u32.saturating_pow(s.pauses))
                .min(o.max_backoff.max(o.backoff));
            s.pauses += 1;
            s.until = Some(now + pause);
            Gate::Paused(pause)
        })
    }

    async fn passed(&self, domain: &str) {
        self.with(domain, |s| {
            if s.stopped.is_none() {
                s.row = 0;
                s.pauses = 0;
            }
        });
    }
}

/// The breaker's name of `url`'s domain: its host, with the port when one is written.
pub(crate) fn domain_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Passes a fetched or rendered document (or a fetch's failure) through the block detector
/// ([`haul_core::block::detect`], with `ext`'s own markers): a bot wall or CAPTCHA page, a
/// 403/429/503 answer whose body is one, or a redirect to a captcha path (also one that
/// leaves the scope) becomes [`FetchError::Blocked`]; anything else is returned as it came.
pub(crate) fn screen(
    ext: &dyn Extractor,
    got: Result<Document, ExtractError>,
) -> Result<Document, ExtractError> {
    let blocked = |doc: &Document| {
        detect(doc, ext.block_markers()).map(|b| {
            ExtractError::Fetch(FetchError::Blocked {
                url: doc.requested.to_string(),
                status: doc.status,
                vendor: b.vendor.to_string(),
                evidence: b.evidence,
            })
        })
    };
    match got {
        Ok(doc) => match blocked(&doc) {
            Some(e) => Err(e),
            None => Ok(doc),
        },
        Err(ExtractError::Fetch(FetchError::Status {
            url,
            status,
            retry_after,
            body: Some(body),
        })) => {
            let page = Url::parse(&url).ok().map(|u| {
                let mut doc = Document::new(u, body);
                doc.status = status;
                doc
            });
            match page.as_ref().and_then(blocked) {
                Some(e) => Err(e),
                None => Err(ExtractError::Fetch(FetchError::Status {
                    url,
                    status,
                    retry_after,
                    body: None,
                })),
            }
        }
        Err(
            ExtractError::Fetch(e @ FetchError::OffScope { .. })
            | ExtractError::Page(PageError::Refused(e @ FetchError::OffScope { .. })),
        ) => Err(off_scope_captcha(&e).unwrap_or(e).into()),
        other => other,
    }
}

/// A redirect out of scope to a captcha path (a vendor's captcha host) is a block.
fn off_scope_captcha(e: &FetchError) -> Option<FetchError> {
    let FetchError::OffScope { url, from } = e else {
        return None;
    };
    let to = Url::parse(url).ok()?;
    let b = captcha_path(to.path())?;
    Some(FetchError::Blocked {
        url: from.clone(),
        status: 302,
        vendor: b.vendor.to_string(),
        evidence: url.clone(),
    })
}

/// The vendor of a blocked failure.
pub(crate) fn blocked_by(e: &ExtractError) -> Option<&str> {
    match e {
        ExtractError::Fetch(FetchError::Blocked { vendor, .. }) => Some(vendor),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn settings_are_validated_naming_the_setting() {
        assert_eq!(BreakerOptions::default().validate(), Ok(()));
        let bad = |pause_after, stop_after, ms| {
            BreakerOptions {
                pause_after,
                stop_after,
                backoff: Duration::from_millis(ms),
                ..BreakerOptions::default()
            }
            .validate()
            .unwrap_err()
            .to_string()
        };
        assert!(bad(0, 3, 1).contains("block_pause_after"));
        assert!(bad(3, 3, 1).contains("block_stop_after (3)"));
        assert!(bad(3, 10, 0).contains("block_backoff_ms"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_pauses_with_growing_backoff_then_stops() {
        let b = LocalBreaker::new(BreakerOptions {
            pause_after: 2,
            stop_after: 5,
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(15),
        });
        let (d, url) = ("shop.test", u("http://shop.test/p"));
        assert_eq!(b.blocked(d, &url, "cloudflare").await, Gate::Open);
        assert_eq!(b.gate(d).await, Gate::Open);
        assert_eq!(
            b.blocked(d, &url, "cloudflare").await,
            Gate::Paused(Duration::from_secs(10))
        );
        // A block from a request already in flight does not lengthen the pause.
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(
            b.blocked(d, &url, "cloudflare").await,
            Gate::Paused(Duration::from_secs(6))
        );
        assert_eq!(b.gate(d).await, Gate::Paused(Duration::from_secs(6)));
        assert_eq!(b.gate("other.test").await, Gate::Open);
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(b.gate(d).await, Gate::Open);
        // Doubled, capped.
        assert_eq!(
            b.blocked(d, &url, "cloudflare").await,
            Gate::Paused(Duration::from_secs(15))
        );
        tokio::time::advance(Duration::from_secs(15)).await;
        let Gate::Stopped(stop) = b.blocked(d, &url, "datadome").await else {
            panic!("not stopped after 5 blocks");
        };
        assert_eq!(
            (stop.domain.as_str(), stop.vendor.as_str(), stop.blocks),
            ("shop.test", "datadome", 5)
        );
        b.passed(d).await;
        assert!(matches!(b.gate(d).await, Gate::Stopped(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_passes_starts_the_row_again() {
        let b = LocalBreaker::new(BreakerOptions {
            pause_after: 2,
            ..BreakerOptions::default()
        });
        let url = u("http://shop.test/p");
        for _ in 0..20 {
            assert_eq!(b.blocked("shop.test", &url, "akamai").await, Gate::Open);
            b.passed("shop.test").await;
        }
    }

    #[test]
    fn captcha_redirects_out_of_scope_are_blocks() {
        let e = FetchError::OffScope {
            url: "https://geo.captcha-delivery.com/captcha/?initialCid=x".into(),
            from: "http://shop.test/p".into(),
        };
        let got = screen(&crate::fakes::Tiny, Err(e.into()));
        assert!(matches!(
            got,
            Err(ExtractError::Fetch(FetchError::Blocked { ref vendor, .. })) if vendor == "captcha_redirect"
        ));
        let plain = FetchError::OffScope {
            url: "https://elsewhere.test/p".into(),
            from: "http://shop.test/p".into(),
        };
        let got = screen(&crate::fakes::Tiny, Err(plain.into()));
        assert!(matches!(
            got,
            Err(ExtractError::Fetch(FetchError::OffScope { .. }))
        ));
    }
}
