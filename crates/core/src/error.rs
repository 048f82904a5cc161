//! Error types of the contracts. Each names the URL or the component at fault.

use thiserror::Error;

use crate::failure::{FailureKind, TransportKind};

/// Why an HTTP fetch failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The server answered with a non-success status.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The status code.
        status: u16,
        /// Seconds from a `Retry-After` header, if any.
        retry_after: Option<u64>,
        /// The start of the answer's body, kept for 403, 429 and 503 answers (where a bot
        /// wall speaks) so that [`crate::block::detect`] can read it; `None` otherwise.
        body: Option<String>,
    },
    /// Connecting, sending or reading failed.
    #[error("{url}: {kind}: {message}")]
    Transport {
        /// The URL fetched.
        url: String,
        /// What failed.
        kind: TransportKind,
        /// What the client said.
        message: String,
    },
    /// robots.txt forbids the URL.
    #[error("{url}: disallowed by robots.txt")]
    Robots {
        /// The URL not fetched.
        url: String,
    },
    /// The crawl is shutting down.
    #[error("{url}: not fetched, the crawl is shutting down")]
    Cancelled {
        /// The URL not fetched.
        url: String,
    },
    /// The URL, or a redirect hop, is outside the crawl's scope: not fetched.
    #[error("{url}: outside the crawl's scope (reached from {from}); not fetched")]
    OffScope {
        /// The URL not fetched.
        url: String,
        /// The URL that led to it (the request, or the redirect hop before).
        from: String,
    },
    /// The host resolves to a loopback, private, link-local or metadata address, and the crawl
    /// does not allow those.
    #[error(
        "{url}: {addr} is a private-network address; not fetched (--allow-private-network allows it)"
    )]
    PrivateNetwork {
        /// The URL not fetched.
        url: String,
        /// The address it resolved to.
        addr: String,
    },
    /// Redirects that cannot be followed: too many hops, or a hop without a usable `Location`.
    #[error("{url}: {message}")]
    Redirect {
        /// The URL that redirected.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The answer was a bot wall or CAPTCHA page ([`crate::block`]).
    #[error("{url}: blocked by {vendor} (HTTP {status}, {evidence})")]
    Blocked {
        /// The URL fetched.
        url: String,
        /// The answer's status.
        status: u16,
        /// Who blocked (`cloudflare`, `captcha_redirect`...).
        vendor: String,
        /// The sign that decided.
        evidence: String,
    },
    /// Not fetched: the domain was stopped after too many blocks in a row.
    #[error("{url}: not fetched, {domain} was stopped after being blocked")]
    DomainStopped {
        /// The URL not fetched.
        url: String,
        /// The stopped domain.
        domain: String,
    },
    /// The body (after decompression) is larger than the fetcher's limit; reading stopped at
    /// the limit, so an endless body or a compression bomb costs no more memory than that.
    #[error("{url}: body larger than {limit} bytes")]
    TooLarge {
        /// The URL fetched.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
}

impl FetchError {
    /// Whether trying again later may succeed (connect errors, timeouts, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Transport { kind, .. } => *kind != TransportKind::Request,
            // Retried, paced by the domain's block circuit breaker.
            Self::Blocked { .. } => true,
            Self::Robots { .. }
            | Self::DomainStopped { .. }
            | Self::Cancelled { .. }
            | Self::TooLarge { .. }
            | Self::OffScope { .. }
            | Self::PrivateNetwork { .. }
            | Self::Redirect { .. } => false,
        }
    }

    /// The kind of this failure, as counted in statistics (`http_404`, `connect`...).
    pub fn kind(&self) -> FailureKind {
        FailureKind::of_fetch(self)
    }
}

/// Why a browser page could not be had or used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PageError {
    /// No page pool is configured and the extractor needs a rendered page.
    #[error(
        "no browser is configured (needed for {url}); run with a browser pool or --render auto/always"
    )]
    NotConfigured {
        /// The URL that needed rendering.
        url: String,
    },
    /// Launching or talking to the browser failed.
    #[error("browser: {0}")]
    Browser(String),
    /// Navigation or a wait did not finish in time.
    #[error("{url}: page timed out after {secs} s")]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout in seconds.
        secs: u64,
    },
    /// The browser died while the page was in use; the URL may be retried on a new browser.
    #[error("{url}: browser crashed or was killed")]
    Crashed {
        /// The URL.
        url: String,
    },
    /// The rendered document is larger than the page size limit; it was not read.
    #[error("{url}: rendered page larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// Navigation failed (DNS, connection refused...).
    #[error("{url}: navigation failed: {message}")]
    Navigation {
        /// The URL.
        url: String,
        /// What the browser said.
        message: String,
    },
    /// A request of the navigation (its first request or a redirect hop) was refused by the
    /// [`NavGuard`](crate::NavGuard) before the browser sent it, for the same reason a fetch
    /// would refuse it (off scope, private network, robots.txt): counted as that reason.
    #[error(transparent)]
    Refused(FetchError),
}

/// Why an LLM task failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LlmError {
    /// No LLM is configured.
    #[error(
        "no LLM is configured: set HAUL_LLM_KEYS (and --llm-provider) to enable LLM extraction"
    )]
    NotConfigured,
    /// The provider rejected the request (HTTP 400...), with its message.
    #[error("LLM provider rejected the request ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// Every key is dead (401/403).
    #[error("every LLM key was refused by the provider (401/403)")]
    NoUsableKey,
    /// Retries were exhausted on transient errors (or the call could not be made).
    #[error("LLM call failed after {attempts} attempts: {last}")]
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The kind of the last error.
        kind: crate::LlmFailureKind,
        /// The last error, for humans.
        last: String,
    },
    /// The answer was not the JSON that was asked for, even after a repair attempt.
    #[error("LLM answer is not valid JSON ({message}); raw answer kept: {raw:.200}")]
    InvalidAnswer {
        /// The parse error.
        message: String,
        /// The raw answer.
        raw: String,
    },
    /// The pool shut down before the task ran.
    #[error("LLM task cancelled: the pool is shutting down")]
    Cancelled,
}

/// Why an extraction failed as a whole. A partial extraction is not an error: return the
/// records found with warnings instead.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// Fetching an extra resource failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The browser page failed.
    #[error(transparent)]
    Page(#[from] PageError),
    /// The LLM failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The page is not what this extractor understands (names the URL and what was wrong).
    #[error("{url}: {message}")]
    Unparseable {
        /// The page URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The extraction task panicked or was cancelled.
    #[error("extraction of {url} did not finish: {message}")]
    Aborted {
        /// The page URL.
        url: String,
        /// Why.
        message: String,
    },
}

impl ExtractError {
    /// Whether running the same URL again may succeed (transient fetch errors, crashed
    /// browsers, timeouts).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Fetch(e) => e.is_transient(),
            Self::Page(PageError::Crashed { .. } | PageError::Timeout { .. }) => true,
            _ => false,
        }
    }
}
