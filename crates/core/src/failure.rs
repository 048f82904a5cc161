//! Kinds of failure, as counted in crawl statistics: one enum for why a page failed or was
//! retried, written as the short labels users see in `--stats` (`http_404`, `timeout`,
//! `too_large`, ...).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Choice, ExtractError, FetchError, PageError};

/// What went wrong at the transport level of a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportKind {
    /// The connection could not be made.
    Connect,
    /// The server took too long.
    Timeout,
    /// Reading or decoding the body failed.
    Body,
    /// The request itself is wrong (bad URL, client set-up): retrying does not help.
    Request,
    /// The shared limits (Redis: per-domain slots and spacing, LLM key limits) could not be
    /// reached.
    SharedLimits,
}

impl TransportKind {
    /// The label of this kind (`connect`, `timeout`...).
    pub fn as_str(self) -> &'static str {
        self.label()
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Choice for TransportKind {
    const VALUES: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Connect, "connect", "the connection could not be made"),
        (Self::Timeout, "timeout", "the server took too long"),
        (Self::Body, "body", "reading or decoding the body failed"),
        (Self::Request, "request", "the request itself is wrong"),
        (
            Self::SharedLimits,
            "shared_limits",
            "the shared per-domain limits were unreachable",
        ),
    ];
}

/// Why a page failed, or why one of its attempts was retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FailureKind {
    /// The server answered with this non-success status (`http_404`).
    Http(u16),
    /// A transport failure (`connect`, `timeout`, `body`, `request`, `shared_limits`).
    Transport(TransportKind),
    /// robots.txt forbids the URL.
    Robots,
    /// The body was larger than the page size limit.
    TooLarge,
    /// The URL or a redirect hop left the crawl's scope.
    OffScope,
    /// The host is on a private-network address.
    PrivateNetwork,
    /// Redirects that cannot be followed (too many, no usable `Location`).
    Redirect,
    /// The page needed a browser and none is configured.
    NoBrowser,
    /// The rendered page did not load in time.
    PageTimeout,
    /// The browser crashed while rendering.
    BrowserCrash,
    /// Another browser failure (navigation, protocol).
    Browser,
    /// The LLM extraction failed.
    Llm,
    /// The extractor could not make sense of the page.
    Unparseable,
    /// The page took longer than its budget.
    Aborted,
    /// The crawl shut down before the page was done.
    Cancelled,
    /// Processing the page panicked (a bug in an extractor).
    Panic,
    /// The output could not take the page's records.
    Output,
    /// A queued URL of a site that is not part of the crawl.
    UnknownSite,
    /// The answer was a bot wall or CAPTCHA page ([`crate::block`]), not the page asked for.
    Blocked,
    /// Not fetched: the page's domain was stopped by its block circuit breaker.
    DomainStopped,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// The label of this kind, as in statistics (`http_404`, `too_large`...).
    pub fn label(&self) -> String {
        match self {
            Self::Http(status) => format!("http_{status}"),
            Self::Transport(kind) => kind.as_str().to_string(),
            other => other.fixed_label().unwrap_or("other").to_string(),
        }
    }

    fn fixed_label(&self) -> Option<&'static str> {
        Some(match self {
            Self::Robots => "robots",
            Self::TooLarge => "too_large",
            Self::OffScope => "off_scope",
            Self::PrivateNetwork => "private_network",
            Self::Redirect => "redirect",
            Self::NoBrowser => "no_browser",
            Self::PageTimeout => "page_timeout",
            Self::BrowserCrash => "browser_crash",
            Self::Browser => "browser",
            Self::Llm => "llm",
            Self::Unparseable => "unparseable",
            Self::Aborted => "aborted",
            Self::Cancelled => "cancelled",
            Self::Panic => "panic",
            Self::Output => "output",
            Self::UnknownSite => "unknown_site",
            Self::Blocked => "blocked",
            Self::DomainStopped => "domain_stopped",
            Self::Other => "other",
            Self::Http(_) | Self::Transport(_) => return None,
        })
    }

    /// The kind of an extraction failure.
    pub fn of(e: &ExtractError) -> Self {
        match e {
            ExtractError::Fetch(f) => Self::of_fetch(f),
            ExtractError::Page(p) => match p {
                PageError::NotConfigured { .. } => Self::NoBrowser,
                PageError::Timeout { .. } => Self::PageTimeout,
                PageError::Crashed { .. } => Self::BrowserCrash,
                PageError::TooLarge { .. } => Self::TooLarge,
                PageError::Refused(f) => Self::of_fetch(f),
                _ => Self::Browser,
            },
            ExtractError::Llm(_) => Self::Llm,
            ExtractError::Unparseable { .. } => Self::Unparseable,
            ExtractError::Aborted { .. } => Self::Aborted,
        }
    }

    /// The kind of a fetch failure.
    pub fn of_fetch(e: &FetchError) -> Self {
        match e {
            FetchError::Status { status, .. } => Self::Http(*status),
            FetchError::Transport { kind, .. } => Self::Transport(*kind),
            FetchError::Robots { .. } => Self::Robots,
            FetchError::Cancelled { .. } => Self::Cancelled,
            FetchError::TooLarge { .. } => Self::TooLarge,
            FetchError::OffScope { .. } => Self::OffScope,
            FetchError::PrivateNetwork { .. } => Self::PrivateNetwork,
            FetchError::Redirect { .. } => Self::Redirect,
            FetchError::Blocked { .. } => Self::Blocked,
            FetchError::DomainStopped { .. } => Self::DomainStopped,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// A label that names no [`FailureKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a failure kind")]
pub struct UnknownKind(pub String);

impl FromStr for FailureKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        if let Some(status) = s.strip_prefix("http_").and_then(|n| n.parse().ok()) {
            return Ok(Self::Http(status));
        }
        if let Ok(t) = TransportKind::from_label(s) {
            return Ok(Self::Transport(t));
        }
        let fixed = [
            Self::Robots,
            Self::TooLarge,
            Self::OffScope,
            Self::PrivateNetwork,
            Self::Redirect,
            Self::NoBrowser,
            Self::PageTimeout,
            Self::BrowserCrash,
            Self::Browser,
            Self::Llm,
            Self::Unparseable,
            Self::Aborted,
            Self::Cancelled,
            Self::Panic,
            Self::Output,
            Self::UnknownSite,
            Self::Blocked,
            Self::DomainStopped,
            Self::Other,
        ];
        fixed
            .into_iter()
            .find(|k| k.fixed_label() == Some(s))
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

// Written as its label (also as a JSON map key), so statistics read as before.
impl Serialize for FailureKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

impl<'de> Deserialize<'de> for FailureKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why an LLM call failed for good ([`crate::LlmError::Exhausted`]), or why one of its
/// attempts was retried: the short labels of logs and errors (`http_status`, `timeout`,
/// `bad_response`...). The human message travels next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum LlmFailureKind {
    /// A transport failure of the HTTP call (`connect`, `timeout`, `body`, `request`), or the
    /// shared key limits could not be reached (`shared_limits`).
    Transport(TransportKind),
    /// The provider answered a 5xx status or 408 (`http_status`).
    HttpStatus,
    /// An HTTP 200 whose body is not a usable answer (`bad_response`).
    BadResponse,
    /// The task drew more HTTP 429 answers than it accepts (`rate_limited`).
    RateLimited,
    /// The task could not be handed to the processes holding the keys (`queue`).
    Queue,
    /// The process serving the task gave no answer in time, or the task was dead-lettered
    /// (`unanswered`).
    Unanswered,
    /// Running the task panicked (`panic`).
    Panic,
    /// Anything else (`other`).
    #[default]
    Other,
}

impl LlmFailureKind {
    const FIXED: [Self; 7] = [
        Self::HttpStatus,
        Self::BadResponse,
        Self::RateLimited,
        Self::Queue,
        Self::Unanswered,
        Self::Panic,
        Self::Other,
    ];

    /// The label of this kind (`http_status`, `timeout`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transport(kind) => kind.as_str(),
            Self::HttpStatus => "http_status",
            Self::BadResponse => "bad_response",
            Self::RateLimited => "rate_limited",
            Self::Queue => "queue",
            Self::Unanswered => "unanswered",
            Self::Panic => "panic",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for LlmFailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LlmFailureKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        let transports = [
            TransportKind::Connect,
            TransportKind::Timeout,
            TransportKind::Body,
            TransportKind::Request,
            TransportKind::SharedLimits,
        ];
        transports
            .into_iter()
            .map(Self::Transport)
            .chain(Self::FIXED)
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

// Written as its label, like `FailureKind`.
impl Serialize for LlmFailureKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LlmFailureKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_back_and_serialise_as_map_keys() {
        let kinds = [
            FailureKind::Http(404),
            FailureKind::Transport(TransportKind::SharedLimits),
            FailureKind::TooLarge,
            FailureKind::UnknownSite,
            FailureKind::Panic,
            FailureKind::Blocked,
            FailureKind::DomainStopped,
        ];
        for k in kinds {
            assert_eq!(k.label().parse::<FailureKind>(), Ok(k));
        }
        assert_eq!(FailureKind::Http(503).to_string(), "http_503");
        let map: std::collections::BTreeMap<FailureKind, u64> =
            [(FailureKind::Http(404), 2), (FailureKind::Robots, 1)].into();
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(json, r#"{"http_404":2,"robots":1}"#);
        let back: std::collections::BTreeMap<FailureKind, u64> =
            serde_json::from_str(&json).unwrap();
        assert_eq!(back, map);
        assert!("http_x".parse::<FailureKind>().is_err());
        assert!("nonsense".parse::<FailureKind>().is_err());
    }

    #[test]
    fn llm_kinds_read_back_from_their_labels() {
        let kinds = [
            LlmFailureKind::Transport(TransportKind::Timeout),
            LlmFailureKind::Transport(TransportKind::SharedLimits),
            LlmFailureKind::HttpStatus,
            LlmFailureKind::BadResponse,
            LlmFailureKind::RateLimited,
            LlmFailureKind::Unanswered,
        ];
        for k in kinds {
            assert_eq!(k.as_str().parse::<LlmFailureKind>(), Ok(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{k}\""));
            assert_eq!(serde_json::from_str::<LlmFailureKind>(&json).unwrap(), k);
        }
        assert_eq!(LlmFailureKind::HttpStatus.to_string(), "http_status");
        assert!("http_503".parse::<LlmFailureKind>().is_err());
    }
}
