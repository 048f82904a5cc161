//! The plain-HTTP fetcher (reqwest) that implements core's `Fetcher` for the crawl.

use std::time::Duration;

use async_trait::async_trait;
use haul_core::{Document, FetchError, FetchRequest, Fetcher};

/// HTTP settings of a crawl.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// User-Agent header.
    pub user_agent: String,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            user_agent: haul_core::http::DEFAULT_USER_AGENT.into(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Fetches pages over plain HTTP with one shared, pooled `reqwest::Client`.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
}

impl HttpFetcher {
    /// A fetcher with `opts`.
    pub fn new(opts: &HttpOptions) -> Result<Self, FetchError> {
        let client = haul_core::http::client_builder()
            .user_agent(&opts.user_agent)
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| FetchError::Transport {
                url: String::new(),
                kind: "request",
                message: format!("could not build the HTTP client: {e}"),
            })?;
        Ok(Self { client })
    }
}

fn transport(url: &str, e: &reqwest::Error) -> FetchError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    // reqwest's Display omits the cause chain ("error sending request"); include it.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    FetchError::Transport {
        url: url.into(),
        kind,
        message,
    }
}

/// The longest a server may make haul wait through `Retry-After`: 10 minutes. A server asking
/// for more (`Retry-After: 864000` was seen holding a page's slot for ten days) gets this.
pub const MAX_RETRY_AFTER_SECS: u64 = 600;

/// Seconds from a `Retry-After` header given as delta-seconds or as an HTTP date, at most
/// [`MAX_RETRY_AFTER_SECS`]; `None` when unreadable (a number too large for `u64` included).
pub(crate) fn retry_after_secs(value: &str) -> Option<u64> {
    let value = value.trim();
    let secs = if let Ok(secs) = value.parse::<u64>() {
        secs
    } else {
        // An HTTP date (IMF-fixdate) is a valid RFC 2822 date.
        let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        let secs = (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
        secs.max(0).unsigned_abs()
    };
    Some(secs.min(MAX_RETRY_AFTER_SECS))
}

#[async_trait]
impl Fetcher for HttpFetcher {
    async fn fetch(&self, req: FetchRequest) -> Result<Document, FetchError> {
        let url_s = req.url.to_string();
        let mut builder = self.client.get(req.url.clone());
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let resp = builder.send().await.map_err(|e| transport(&url_s, &e))?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after_secs);
            return Err(FetchError::Status {
                url: url_s,
                status,
                retry_after,
            });
        }
        let final_url = resp.url().clone();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let headers = header_map(resp.headers());
        let body = resp.text().await.map_err(|e| transport(&url_s, &e))?;
        let mut doc = Document::new(final_url, body);
        doc.requested = req.url;
        doc.status = status;
        doc.content_type = content_type;
        doc.headers = headers;
        Ok(doc)
    }
}

/// The response headers as [`Document::headers`] holds them: lower-case names, repeated
/// headers joined with `, `, values that are not text left out.
fn header_map(headers: &reqwest::header::HeaderMap) -> std::collections::BTreeMap<String, String> {
    let mut map = std::collections::BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        map.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(retry_after_secs("7"), Some(7));
        assert_eq!(retry_after_secs("Sun, 06 Nov 1994 08:49:37 GMT"), Some(0));
        assert_eq!(retry_after_secs("soon"), None);
        // Hostile values: capped, or unreadable; never an overflow later.
        assert_eq!(retry_after_secs("864000"), Some(MAX_RETRY_AFTER_SECS));
        assert_eq!(retry_after_secs("99999999999999999999"), None);
        assert_eq!(
            retry_after_secs("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(MAX_RETRY_AFTER_SECS)
        );
    }
}
