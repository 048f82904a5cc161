//! The HTTP pieces shared by haul's two HTTP clients (the crawl's fetcher in `haul-runner`,
//! the LLM pool in `haul-llm`): the client set-up (TLS provider, haul's HTTP User-Agent),
//! server-given delays parsed with saturating arithmetic and capped at
//! [`MAX_RETRY_AFTER_SECS`], and bodies read up to a size cap while they stream.
//!
//! reqwest 0.13 defaults to rustls with aws-lc; haul builds reqwest with `rustls-no-provider`
//! and installs rustls's ring provider here instead, which avoids aws-lc-sys's long C build.
//! Every crate that builds a `reqwest::Client` must start from [`client_builder`]. (The
//! browser's default User-Agent is `haul_browser::CHROME_USER_AGENT`.)

use std::sync::Once;
use std::time::Duration;

/// The User-Agent haul sends over plain HTTP unless configured otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "Mozilla/5.0 (compatible; haul/",
    env!("CARGO_PKG_VERSION"),
    "; +https://github.com/haul-crawler/haul)"
);

/// The robots.txt product token matched against `User-agent:` lines.
pub const ROBOTS_TOKEN: &str = "haul";

/// The longest a server may make haul wait through a delay it gives (`Retry-After`, Gemini's
/// `retryDelay`): 10 minutes. A server asking for more (`Retry-After: 864000` was seen
/// holding a page's slot for ten days) gets this.
pub const MAX_RETRY_AFTER_SECS: u64 = 600;

static PROVIDER: Once = Once::new();

/// Installs the ring TLS provider once per process (idempotent).
pub fn ensure_tls_provider() {
    PROVIDER.call_once(|| {
        // Another component may have installed one already; either way one is present.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The TLS client set-up of haul's own connections outside reqwest (the browser gate's to an
/// https proxy), verified as reqwest verifies: ring, the platform's roots (which honour
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`, e.g. for a proxy with a private CA).
pub fn tls_client_config() -> Result<std::sync::Arc<rustls::ClientConfig>, rustls::Error> {
    use rustls_platform_verifier::BuilderVerifierExt;
    ensure_tls_provider();
    let config = rustls::ClientConfig::builder()
        .with_platform_verifier()?
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

/// A `reqwest::ClientBuilder` with the TLS provider installed and haul's defaults
/// (User-Agent, gzip/brotli, redirects).
pub fn client_builder() -> reqwest::ClientBuilder {
    ensure_tls_provider();
    reqwest::Client::builder().user_agent(DEFAULT_USER_AGENT)
}

/// A server-given delay in seconds (`"30"`, `"1.5"`, `"99999999999999999999"`), at most
/// [`MAX_RETRY_AFTER_SECS`]; `None` when it is not a finite, non-negative number.
pub fn delay_secs(value: &str) -> Option<Duration> {
    let secs = value.trim().parse::<f64>().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    // `MAX_RETRY_AFTER_SECS` is exact as an f64; capping first keeps the conversion in range.
    Some(Duration::from_secs_f64(
        secs.min(MAX_RETRY_AFTER_SECS as f64),
    ))
}

/// A `Retry-After` header value, given as delta-seconds (see [`delay_secs`]) or as an HTTP
/// date, at most [`MAX_RETRY_AFTER_SECS`]; `None` when unreadable. Arithmetic saturates: no
/// value, however large or far in the future, overflows.
pub fn retry_after(value: &str) -> Option<Duration> {
    if let Some(delay) = delay_secs(value) {
        return Some(delay);
    }
    // An HTTP date (IMF-fixdate) is a valid RFC 2822 date.
    let when = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let secs = (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    Some(Duration::from_secs(
        secs.max(0).unsigned_abs().min(MAX_RETRY_AFTER_SECS),
    ))
}

/// Why [`read_capped`] returned no body.
#[derive(Debug)]
pub enum ReadError {
    /// The body (after decompression) is larger than `limit` bytes: `Content-Length` said so,
    /// or reading stopped once that much had arrived.
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// The connection or the decompression failed while reading.
    Transport(reqwest::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { limit } => {
                write!(f, "the body is larger than the cap of {limit} bytes")
            }
            Self::Transport(e) => write!(f, "reading the body failed: {e}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::TooLarge { .. } => None,
            Self::Transport(e) => Some(e),
        }
    }
}

/// Reads the body of `resp` (decompressed by reqwest as it streams) chunk by chunk, up to
/// `limit` bytes: never more than `limit` plus one chunk is held. Hand-written because
/// reqwest's `bytes()` and `text()` read any size into memory (one endless body took haul to
/// 16.5 GB).
pub async fn read_capped(mut resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, ReadError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Transport)? {
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(ReadError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(MAX_RETRY_AFTER_SECS);

    #[test]
    fn delays_are_read_as_seconds_or_dates_and_capped() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
        assert_eq!(retry_after("-3"), None);
        assert_eq!(retry_after("NaN"), None);
        assert_eq!(retry_after("inf"), None);
        // Hostile values: capped, never an overflow (here or later, in `Instant` arithmetic).
        assert_eq!(retry_after("864000"), Some(CAP));
        assert_eq!(retry_after("99999999999999999999"), Some(CAP));
        assert_eq!(retry_after("1e300"), Some(CAP));
        assert_eq!(retry_after("Fri, 31 Dec 9999 23:59:59 GMT"), Some(CAP));
        assert_eq!(delay_secs("99999999999999999999"), Some(CAP));
    }

    /// Serves `router` on 127.0.0.1 and returns its base URL.
    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        base
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_cap() {
        use axum::body::{Body, Bytes};
        use axum::routing::get;
        let endless = || async {
            // Chunked, no Content-Length, never ends.
            let chunk = Bytes::from(vec![b'a'; 64 * 1024]);
            Body::from_stream(futures::stream::repeat_with(move || {
                Ok::<_, std::io::Error>(chunk.clone())
            }))
        };
        let router = axum::Router::new()
            .route("/endless", get(endless))
            .route("/big", get(|| async { "b".repeat(300 * 1024) }))
            .route("/ok", get(|| async { "fine" }));
        let base = serve(router).await;
        let client = client_builder().build().unwrap();
        let get = |path: &str| {
            let req = client.get(format!("{base}{path}"));
            async move { read_capped(req.send().await.unwrap(), 256 * 1024).await }
        };
        assert_eq!(get("/ok").await.unwrap(), b"fine");
        for path in ["/big", "/endless"] {
            let err = get(path).await.unwrap_err();
            assert!(
                matches!(err, ReadError::TooLarge { limit: 262_144 }),
                "{path}: {err}"
            );
            assert!(err.to_string().contains("262144 bytes"), "{err}");
        }
    }
}
