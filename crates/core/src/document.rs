//! A fetched page, and the HTTP fetching contract that the runner implements.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use url::Url;

use crate::{FetchError, Scope};

/// A page as fetched over HTTP or rendered by a browser, handed to an extractor.
///
/// Contract: `url` is the final address after redirects (use it to resolve relative links);
/// `body` is the decoded text (HTML, or JSON for API-backed sites); `rendered` tells whether
/// scripts ran.
#[derive(Debug, Clone)]
pub struct Document {
    /// Final URL after redirects.
    pub url: Url,
    /// URL that was asked for.
    pub requested: Url,
    /// HTTP status (200 for rendered pages whose status the browser did not report).
    pub status: u16,
    /// `Content-Type` header, when known.
    pub content_type: Option<String>,
    /// Response headers of the main document (names lower-cased; repeated headers joined
    /// with `, `). Empty for saved files.
    pub headers: BTreeMap<String, String>,
    /// Decoded body text.
    pub body: String,
    /// Whether the body is the DOM after scripts ran (browser) rather than the raw response.
    pub rendered: bool,
    /// When it was fetched.
    pub fetched_at: DateTime<Utc>,
}

impl Document {
    /// A document with status 200 fetched now, for tests and for `haul parse` on saved files.
    pub fn new(url: Url, body: impl Into<String>) -> Self {
        Self {
            requested: url.clone(),
            url,
            status: 200,
            content_type: None,
            headers: BTreeMap::new(),
            body: body.into(),
            rendered: false,
            fetched_at: Utc::now(),
        }
    }

    /// A response header by name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Where the document's relative links resolve: its `<base href>` when it has one
    /// ([`crate::head`]), else its URL. Read from the body each call: keep it when resolving
    /// many links.
    pub fn base_url(&self) -> Url {
        if self.is_json() {
            return self.url.clone();
        }
        crate::head::base_url(&crate::head::scan(&self.body), &self.url)
    }

    /// An `href` of the document as an absolute http(s) URL, resolved against
    /// [`Document::base_url`]; `None` when it is not one.
    pub fn resolve(&self, href: &str) -> Option<Url> {
        let u = self.base_url().join(href.trim()).ok()?;
        matches!(u.scheme(), "http" | "https").then_some(u)
    }

    /// Whether the content type (or, without one, the body) looks like JSON.
    pub fn is_json(&self) -> bool {
        match &self.content_type {
            Some(ct) => ct.contains("json"),
            None => matches!(self.body.trim_start().as_bytes().first(), Some(b'{' | b'[')),
        }
    }
}

/// One HTTP GET as asked for by an extractor or the runner.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// Address to fetch.
    pub url: Url,
    /// Extra request headers (name, value), for example `Accept: application/json`.
    pub headers: Vec<(String, String)>,
    /// Where the request may go: `url` and every redirect hop must be within it, else the
    /// fetch fails as [`FetchError::OffScope`] without sending the hop. `None`: anywhere.
    pub scope: Option<Scope>,
    /// The site's session: its headers, pinned cookies and query parameters go with every
    /// hop, and the cookies each hop's response sets are kept in its jar. `None`: none.
    pub session: Option<std::sync::Arc<crate::Session>>,
}

impl FetchRequest {
    /// A plain GET of `url`.
    pub fn get(url: Url) -> Self {
        Self {
            url,
            headers: Vec::new(),
            scope: None,
            session: None,
        }
    }

    /// The same request, kept within `scope` (redirects included).
    pub fn within(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }
}

/// The runner's HTTP client as seen by extractors.
///
/// Contract: implementations apply the crawl's politeness (robots.txt, per-domain limits,
/// User-Agent) and retry policy, follow redirects themselves with every hop within the
/// request's [`scope`](FetchRequest::scope) and admitted by the same politeness as the first,
/// decode the body to text, and return an error for non-2xx statuses ([`FetchError::Status`])
/// rather than a document, except a `304 Not Modified` answer to a conditional request (one
/// whose headers carry `If-None-Match` or `If-Modified-Since`): that is a document of status
/// 304 with an empty body (the caller asked for it and knows the page). Going through a
/// `Fetcher` instead of a raw client is what keeps an extractor's extra requests polite.
#[async_trait]
pub trait Fetcher: Send + Sync {
    /// Fetches one URL.
    async fn fetch(&self, req: FetchRequest) -> Result<Document, FetchError>;

    /// Admits a request to `url` that is made some other way (a browser navigation) under
    /// the same politeness as [`fetch`](Fetcher::fetch): robots.txt ([`FetchError::Robots`]
    /// when disallowed), the per-domain concurrency and spacing. The returned [`Admission`]
    /// holds the domain's slot until dropped. Default: admitted at once.
    async fn admit(&self, _url: &Url) -> Result<Admission, FetchError> {
        Ok(Admission::free())
    }

    /// Checks a document request that another client (a browser) is about to send for a
    /// navigation admitted with [`admit`](Fetcher::admit): its first request or a redirect
    /// hop reached from `from`. The same rules as a fetch's hop: within the scope
    /// ([`FetchError::OffScope`]), not on a refused private-network address
    /// ([`FetchError::PrivateNetwork`]), allowed by robots.txt. Makes no request of its own
    /// (beyond robots.txt) and takes no per-domain slot. Default: allowed.
    async fn check_hop(&self, _url: &Url, _from: &Url) -> Result<(), FetchError> {
        Ok(())
    }

    /// Checks a request to `url` that another client (a browser) is about to send for
    /// something other than the navigation itself (a frame of the page): only the
    /// private-network rule ([`FetchError::PrivateNetwork`]). Default: allowed.
    async fn check_address(&self, _url: &Url) -> Result<(), FetchError> {
        Ok(())
    }

    /// Fetches `req` as bytes (no charset decoding; a `Content-Encoding` undone), reading at
    /// most `limit` bytes: a longer body is cut there ([`RawBody::cut`]), not failed, and
    /// never held whole. For files read as a stream (sitemaps). Default: [`fetch`](Fetcher::fetch)'s
    /// body as UTF-8, cut.
    async fn fetch_raw(&self, req: FetchRequest, limit: u64) -> Result<RawBody, FetchError> {
        let doc = self.fetch(req).await?;
        let mut bytes = doc.body.into_bytes();
        let cut = bytes.len() as u64 > limit;
        bytes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(RawBody {
            url: doc.url,
            content_type: doc.content_type,
            bytes,
            cut,
        })
    }

    /// The sitemaps that `url`'s domain lists in its robots.txt (`Sitemap:` lines), read
    /// through the same robots.txt cache as the politeness rules. Default: none.
    async fn sitemaps(&self, _url: &Url) -> Vec<Url> {
        Vec::new()
    }
}

/// A body fetched as bytes by [`Fetcher::fetch_raw`].
#[derive(Debug, Clone)]
pub struct RawBody {
    /// Final URL after redirects.
    pub url: Url,
    /// `Content-Type` header, when known.
    pub content_type: Option<String>,
    /// The bytes read (at most the limit).
    pub bytes: Vec<u8>,
    /// Whether the body went on past the limit (and was cut there).
    pub cut: bool,
}

/// What [`Fetcher::admit`] grants: the request's place within the per-domain limits, given
/// back when dropped.
pub struct Admission(#[allow(dead_code)] Option<Box<dyn Send + Sync>>);

impl Admission {
    /// An admission that holds nothing (no limits apply).
    pub fn free() -> Self {
        Self(None)
    }

    /// An admission that holds `guard` (permits, leases) until dropped.
    pub fn holding(guard: impl Send + Sync + 'static) -> Self {
        Self(Some(Box::new(guard)))
    }
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("holds", &self.0.is_some())
            .finish()
    }
}
