//! The plain-HTTP fetcher (reqwest) that implements core's `Fetcher` for the crawl.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use haul_core::{
    Document, FetchError, FetchRequest, Fetcher, ProxyOutcome, ProxyPick, ProxyPool, RawBody,
    Session, TransportKind,
};
use url::Url;

use crate::network;

/// HTTP settings of a crawl.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// User-Agent header.
    pub user_agent: String,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// The largest body read (after decompression), in bytes; a larger one fails as
    /// [`FetchError::TooLarge`] (kind `too_large`) once this much was read.
    pub max_body: u64,
    /// Whether hosts on loopback, private, link-local or metadata addresses may be fetched
    /// (see [`is_private`](crate::is_private)); refused as [`FetchError::PrivateNetwork`]
    /// otherwise, checked on the address connected to. Default: no.
    pub allow_private_network: bool,
    /// Upstream proxies (`--proxy`, `proxies = [...]`): every request goes through the one
    /// the pool picks for its domain (and the request's site); none: direct.
    pub proxies: Option<Arc<ProxyPool>>,
}

impl HttpOptions {
    /// The defaults, with private-network addresses allowed: for crawls of shops on this
    /// machine or a local network (tests, `haul serve`).
    pub fn local() -> Self {
        Self {
            allow_private_network: true,
            ..Self::default()
        }
    }
}

/// Redirect hops followed for one fetch before it fails (kind `redirect`).
pub const MAX_REDIRECTS: usize = 10;

/// What one request of a fetch gave.
#[derive(Debug)]
pub(crate) enum Hop<T = Document> {
    /// The page.
    Done(T),
    /// A redirect to this (absolute) URL, not followed yet.
    Redirect(Url),
}

/// What a fetch ends with: it learns the URL it was asked for.
pub(crate) trait Landed {
    /// Sets the URL the fetch was asked for (the page's own URL is where it landed).
    fn asked(&mut self, requested: Url);
}

impl Landed for Document {
    fn asked(&mut self, requested: Url) {
        self.requested = requested;
    }
}

impl Landed for RawBody {
    fn asked(&mut self, _requested: Url) {}
}

/// A hop's answer before its body is read.
enum Answer {
    /// The response to read, and the proxy that carried it.
    Page(reqwest::Response, Option<ProxyPick>),
    /// A redirect to this (absolute) URL.
    Redirect(Url),
}

/// Where an HTML page that is a redirect written in markup sends the fetch: a `<meta
/// http-equiv="refresh">` of a few seconds at most to another URL, outside `<noscript>`
/// ([`haul_core::head`]), on a 200 page that is no bot wall (a challenge that refreshes
/// itself stays a block). Followed as a redirect hop, within the same limits.
fn refresh_redirect(doc: &Document) -> Option<Url> {
    let html = doc
        .content_type
        .as_deref()
        .is_none_or(|ct| ct.to_ascii_lowercase().contains("html"));
    if doc.status != 200 || !html || doc.is_json() {
        return None;
    }
    let to = haul_core::head::refresh_target(&haul_core::head::scan(&doc.body), &doc.url)?;
    haul_core::block::detect(doc, &[]).is_none().then_some(to)
}

/// Whether a request's headers make it conditional (a 304 is then a valid answer).
pub(crate) fn is_conditional(headers: &[(String, String)]) -> bool {
    headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("if-none-match") || k.eq_ignore_ascii_case("if-modified-since")
    })
}

/// The default [`HttpOptions::max_body`]: 16 MiB. Real product pages are mostly under 1 MB;
/// the largest seen in the evaluation corpus are around 4-5 MB.
pub const DEFAULT_MAX_BODY: u64 = haul_core::DEFAULT_MAX_PAGE_BYTES;

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            user_agent: haul_http::DEFAULT_USER_AGENT.into(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_body: DEFAULT_MAX_BODY,
            allow_private_network: false,
            proxies: None,
        }
    }
}

/// Fetches pages over plain HTTP with one shared, pooled `reqwest::Client`.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    /// One client per proxy of `proxies`, by the pool's index (reqwest's proxy is per client).
    proxied: Vec<reqwest::Client>,
    proxies: Option<Arc<ProxyPool>>,
    max_body: u64,
    allow_private_network: bool,
}

/// A client set-up error, never naming a proxy's password.
fn client_error(e: &reqwest::Error) -> FetchError {
    FetchError::Transport {
        url: String::new(),
        kind: TransportKind::Request,
        message: format!("could not build the HTTP client: {e}"),
    }
}

impl HttpFetcher {
    /// A fetcher with `opts`.
    pub fn new(opts: &HttpOptions) -> Result<Self, FetchError> {
        let client = Self::builder(opts, true)
            .build()
            .map_err(|e| client_error(&e))?;
        let mut proxied = Vec::new();
        for url in opts.proxies.iter().flat_map(|p| p.urls()) {
            let proxy =
                reqwest::Proxy::all(url.secret_url()).map_err(|_| FetchError::Transport {
                    url: String::new(),
                    kind: TransportKind::Request,
                    message: format!("unusable proxy {url}"),
                })?;
            // The proxy connects to the shop; the resolver would only check the proxy's own
            // address, which the user configured: allowed wherever it is.
            let built = Self::builder(opts, false).proxy(proxy).build();
            proxied.push(built.map_err(|e| client_error(&e))?);
        }
        Ok(Self {
            client,
            proxied,
            proxies: opts.proxies.clone().filter(|p| !p.is_empty()),
            max_body: opts.max_body,
            allow_private_network: opts.allow_private_network,
        })
    }

    fn builder(opts: &HttpOptions, checked_resolver: bool) -> reqwest::ClientBuilder {
        let mut builder = haul_http::client_builder()
            .user_agent(&opts.user_agent)
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .pool_max_idle_per_host(64)
            // Redirects are followed by `follow`, one checked hop at a time.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(resolver) = network::resolver(opts.allow_private_network || !checked_resolver) {
            builder = builder.dns_resolver(resolver);
        }
        builder
    }
}

fn transport(url: &str, e: &reqwest::Error) -> FetchError {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(p) = s.downcast_ref::<network::PrivateAddress>() {
            return FetchError::PrivateNetwork {
                url: url.into(),
                addr: p.addr.to_string(),
            };
        }
        source = s.source();
    }
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else if e.is_body() || e.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Request
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

pub use haul_http::MAX_RETRY_AFTER_SECS;

/// Whole seconds (rounded up) from a `Retry-After` header given as delta-seconds or as an
/// HTTP date, at most [`MAX_RETRY_AFTER_SECS`] (`haul_http::retry_after`, saturating);
/// `None` when unreadable.
pub(crate) fn retry_after_secs(value: &str) -> Option<u64> {
    haul_http::retry_after(value).map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

impl HttpFetcher {
    /// One request of a fetch up to its answer, redirects not followed: the response to read
    /// (2xx, or a 304 to a conditional request), or where it redirects to. Any other status
    /// is a [`FetchError::Status`].
    async fn answer(
        &self,
        url: &Url,
        headers: &[(String, String)],
        session: Option<&Session>,
    ) -> Result<Answer, FetchError> {
        let url_s = url.to_string();
        if !self.allow_private_network
            && let Some(addr) = network::private_literal(url)
        {
            return Err(FetchError::PrivateNetwork {
                url: url_s,
                addr: addr.to_string(),
            });
        }
        let (resp, pick) = self.send(url, headers, session).await?;
        if let Some(session) = session.filter(|s| s.applies_to(url)) {
            let set = resp.headers().get_all(reqwest::header::SET_COOKIE);
            session.store_set_cookies(url, set.iter().filter_map(|v| v.to_str().ok()));
        }
        let status = resp.status().as_u16();
        // A 304 is the answer a conditional request asked for, not a failure (and not a
        // redirect); without validators sent it is an odd status like any other.
        let not_modified = status == 304 && is_conditional(headers);
        if resp.status().is_redirection() && status != 304 {
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok());
            return match to {
                Some(to) => Ok(Answer::Redirect(to)),
                None => Err(FetchError::Redirect {
                    url: url_s,
                    message: format!("HTTP {status} without a usable Location"),
                }),
            };
        }
        if !resp.status().is_success() && !not_modified {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after_secs);
            // A bot wall answers 403, 429 or 503 with its challenge page: kept (up to what
            // the block detector reads) for it.
            let body = if matches!(status, 403 | 429 | 503) {
                read_body(resp, &url_s, haul_core::block::SCANNED_BYTES as u64)
                    .await
                    .ok()
            } else {
                None
            };
            if let Some(body) = &body {
                let mut seen = Document::new(url.clone(), body.clone());
                seen.status = status;
                self.note_block(&seen, pick.as_ref());
            }
            return Err(FetchError::Status {
                url: url_s,
                status,
                retry_after,
                body,
            });
        }
        Ok(Answer::Page(resp, pick))
    }

    /// One request of a fetch, redirects not followed: the page, or where it redirects to.
    pub(crate) async fn hop(
        &self,
        url: &Url,
        headers: &[(String, String)],
        session: Option<&Session>,
    ) -> Result<Hop, FetchError> {
        let (resp, pick) = match self.answer(url, headers, session).await? {
            Answer::Redirect(to) => return Ok(Hop::Redirect(to)),
            Answer::Page(resp, pick) => (resp, pick),
        };
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let headers = header_map(resp.headers());
        let body = read_body(resp, url.as_str(), self.max_body).await?;
        let mut doc = Document::new(url.clone(), body);
        doc.status = status;
        doc.content_type = content_type;
        doc.headers = headers;
        self.note_block(&doc, pick.as_ref());
        if let Some(to) = refresh_redirect(&doc) {
            return Ok(Hop::Redirect(to));
        }
        Ok(Hop::Done(doc))
    }

    /// One request of a raw fetch ([`Fetcher::fetch_raw`]), redirects not followed: at most
    /// `limit` bytes of the body, cut there.
    pub(crate) async fn raw_hop(
        &self,
        url: &Url,
        headers: &[(String, String)],
        session: Option<&Session>,
        limit: u64,
    ) -> Result<Hop<RawBody>, FetchError> {
        let mut resp = match self.answer(url, headers, session).await? {
            Answer::Redirect(to) => return Ok(Hop::Redirect(to)),
            Answer::Page(resp, _) => resp,
        };
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let cap = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut bytes = Vec::new();
        let mut cut = false;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| transport(url.as_str(), &e))?
        {
            let room = cap - bytes.len();
            if chunk.len() > room {
                bytes.extend_from_slice(&chunk[..room]);
                cut = true;
                break;
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Hop::Done(RawBody {
            url: url.clone(),
            content_type,
            bytes,
            cut,
        }))
    }

    /// Tells the proxy pool that the proxy which served `doc` met a bot wall, so the domain
    /// moves on from that proxy (not from whichever it uses by the time the crawl screens
    /// the page: pages in flight would otherwise move it back and forth).
    fn note_block(&self, doc: &Document, pick: Option<&ProxyPick>) {
        if let (Some(pool), Some(pick)) = (&self.proxies, pick)
            && haul_core::block::detect(doc, &[]).is_some()
        {
            pool.report(pick, ProxyOutcome::Blocked);
        }
    }
}

impl HttpFetcher {
    /// Sends one hop's GET, directly or through the proxy the pool picks for the URL's host
    /// (and the session's site). A proxy that fails (no connection, a failed tunnel, 407 or
    /// 502) is reported to the pool, which cools it down and moves the host on; the request
    /// is tried through the next one, up to three proxies.
    async fn send(
        &self,
        url: &Url,
        headers: &[(String, String)],
        session: Option<&Session>,
    ) -> Result<(reqwest::Response, Option<ProxyPick>), FetchError> {
        let url_s = url.to_string();
        let Some(pool) = &self.proxies else {
            let req = self.request(&self.client, url, headers, session);
            return Ok((req.send().await.map_err(|e| transport(&url_s, &e))?, None));
        };
        let site = session.map(Session::site);
        let host = url.host_str().unwrap_or_default();
        let mut last = None;
        for _ in 0..self.proxied.len().min(3) {
            let Some(pick) = pool.pick(site, host) else {
                break;
            };
            let client = &self.proxied[pick.index];
            match self.request(client, url, headers, session).send().await {
                Ok(resp) if matches!(resp.status().as_u16(), 407 | 502) => {
                    pool.report(&pick, ProxyOutcome::ProxyFailed);
                    last = Some(Ok((resp, pick)));
                }
                Ok(resp) => {
                    pool.report(&pick, ProxyOutcome::Ok);
                    return Ok((resp, Some(pick)));
                }
                Err(e) => {
                    let outcome = if e.is_connect() {
                        ProxyOutcome::ProxyFailed
                    } else {
                        ProxyOutcome::Ok
                    };
                    pool.report(&pick, outcome);
                    let mut err = transport(&url_s, &e);
                    if let FetchError::Transport { message, .. } = &mut err {
                        message.push_str(&format!(" (through the proxy {})", pick.url));
                    }
                    last = Some(Err(err));
                }
            }
        }
        match last {
            Some(Ok((resp, pick))) => Ok((resp, Some(pick))),
            Some(Err(e)) => Err(e),
            None => Err(FetchError::Transport {
                url: url_s,
                kind: TransportKind::Request,
                message: "no proxy to send the request through".into(),
            }),
        }
    }

    /// The GET of one hop: the site session's headers (the request's own win over them),
    /// pinned query parameters and cookies, then the request's headers.
    fn request(
        &self,
        client: &reqwest::Client,
        url: &Url,
        headers: &[(String, String)],
        session: Option<&Session>,
    ) -> reqwest::RequestBuilder {
        let Some(session) = session.filter(|s| s.applies_to(url)) else {
            let mut builder = client.get(url.clone());
            for (k, v) in headers {
                builder = builder.header(k, v);
            }
            return builder;
        };
        let mut map = reqwest::header::HeaderMap::new();
        let all = session.headers().iter().chain(headers);
        for (k, v) in all {
            if let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                map.insert(k, v);
            }
        }
        if let Some(cookie) = session.cookie_header(url)
            && let Ok(mut v) = reqwest::header::HeaderValue::from_str(&cookie)
        {
            v.set_sensitive(true);
            map.insert(reqwest::header::COOKIE, v);
        }
        client.get(session.with_query(url)).headers(map)
    }
}

impl HttpFetcher {
    /// Refuses `url` when it is on a private-network address and the crawl does not allow
    /// those, for a request another client makes (a browser): an IP literal (or `localhost`)
    /// as written, else every address the name resolves to now. Stricter than the fetcher's
    /// own resolver (which connects to a name's public addresses only): the browser picks
    /// its address itself, so any private address refuses the name. The browser resolves the
    /// name again, so unlike a fetch this check can be raced by DNS rebinding; a name that
    /// does not resolve is left to the browser (which fails to connect).
    pub(crate) async fn refuse_private(&self, url: &Url) -> Result<(), FetchError> {
        if self.allow_private_network {
            return Ok(());
        }
        let refuse = |addr: std::net::IpAddr| FetchError::PrivateNetwork {
            url: url.to_string(),
            addr: addr.to_string(),
        };
        if let Some(addr) = network::private_literal(url) {
            return Err(refuse(addr));
        }
        let Some(url::Host::Domain(host)) = url.host() else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(80);
        if let Ok(addrs) = tokio::net::lookup_host((host, port)).await {
            for addr in addrs {
                if network::is_private(addr.ip()) {
                    return Err(refuse(addr.ip()));
                }
            }
        }
        Ok(())
    }
}

/// Follows a fetch's redirects one hop at a time, each hop (the first included) within the
/// request's scope, at most [`MAX_REDIRECTS`]; `hop` makes one request (and applies whatever
/// politeness the caller wants per hop).
pub(crate) async fn follow<T, F, Fut>(req: FetchRequest, mut hop: F) -> Result<T, FetchError>
where
    T: Landed,
    F: FnMut(Url) -> Fut,
    Fut: std::future::Future<Output = Result<Hop<T>, FetchError>>,
{
    let mut url = req.url.clone();
    let mut from = req.url.clone();
    for _ in 0..=MAX_REDIRECTS {
        if let Some(scope) = &req.scope
            && !scope.contains(&url)
        {
            return Err(FetchError::OffScope {
                url: url.to_string(),
                from: from.to_string(),
            });
        }
        match hop(url.clone()).await? {
            Hop::Done(mut doc) => {
                doc.asked(req.url);
                return Ok(doc);
            }
            Hop::Redirect(next) => {
                from = std::mem::replace(&mut url, next);
            }
        }
    }
    Err(FetchError::Redirect {
        url: req.url.to_string(),
        message: format!("more than {MAX_REDIRECTS} redirects"),
    })
}

#[async_trait]
impl Fetcher for HttpFetcher {
    async fn fetch(&self, req: FetchRequest) -> Result<Document, FetchError> {
        let headers = req.headers.clone();
        let session = req.session.clone();
        follow(req, |url| {
            let (headers, session) = (&headers, session.as_deref());
            async move { self.hop(&url, headers, session).await }
        })
        .await
    }

    async fn fetch_raw(&self, req: FetchRequest, limit: u64) -> Result<RawBody, FetchError> {
        let headers = req.headers.clone();
        let session = req.session.clone();
        follow(req, |url| {
            let (headers, session) = (&headers, session.as_deref());
            async move { self.raw_hop(&url, headers, session, limit).await }
        })
        .await
    }

    async fn check_hop(&self, url: &Url, from: &Url) -> Result<(), FetchError> {
        check_scheme(url, from)?;
        self.refuse_private(url).await
    }

    async fn check_address(&self, url: &Url) -> Result<(), FetchError> {
        self.refuse_private(url).await
    }
}

/// A browser navigation's document request goes over http or https only (as a fetch does):
/// anything else (`file:`, `ftp:`) is refused as off scope.
fn check_scheme(url: &Url, from: &Url) -> Result<(), FetchError> {
    if matches!(url.scheme(), "http" | "https") {
        Ok(())
    } else {
        Err(FetchError::OffScope {
            url: url.to_string(),
            from: from.to_string(),
        })
    }
}

/// Reads the body of `resp` (decompressed by reqwest as it streams) up to `limit` bytes and
/// decodes it like `reqwest::Response::text` does: the `Content-Type` charset, else UTF-8,
/// a byte-order mark winning, invalid sequences replaced (reqwest's `text()` reads any size
/// into memory: one endless body took haul to 16.5 GB).
async fn read_body(resp: reqwest::Response, url: &str, limit: u64) -> Result<String, FetchError> {
    let charset = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| {
            ct.split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
        });
    let bytes = haul_http::read_capped(resp, limit)
        .await
        .map_err(|e| match e {
            haul_http::ReadError::TooLarge { limit } => FetchError::TooLarge {
                url: url.into(),
                limit,
            },
            haul_http::ReadError::Transport(e) => transport(url, &e),
        })?;
    let encoding = charset
        .and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    let (text, _, _) = encoding.decode(&bytes);
    Ok(text.into_owned())
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
    use haul_core::Scope;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(retry_after_secs("7"), Some(7));
        assert_eq!(retry_after_secs("Sun, 06 Nov 1994 08:49:37 GMT"), Some(0));
        assert_eq!(retry_after_secs("soon"), None);
        // Hostile values: capped, or unreadable; never an overflow later.
        assert_eq!(retry_after_secs("864000"), Some(MAX_RETRY_AFTER_SECS));
        assert_eq!(
            retry_after_secs("99999999999999999999"),
            Some(MAX_RETRY_AFTER_SECS)
        );
        assert_eq!(retry_after_secs("1.5"), Some(2));
        assert_eq!(
            retry_after_secs("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(MAX_RETRY_AFTER_SECS)
        );
    }

    #[tokio::test]
    async fn a_browser_hop_is_held_to_the_rules_of_a_fetch_hop() {
        use std::sync::Arc;
        let u = |s: &str| Url::parse(s).unwrap();
        let strict = HttpFetcher::new(&HttpOptions::default()).unwrap();
        let from = u("https://shop.example/p");
        for private in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:8080/admin",
            "http://localhost:8080/",
            "http://[::1]/",
        ] {
            match strict.check_hop(&u(private), &from).await {
                Err(e @ FetchError::PrivateNetwork { .. }) => {
                    assert_eq!(e.kind(), haul_core::FailureKind::PrivateNetwork);
                }
                other => panic!("{private}: expected private_network, got {other:?}"),
            }
            assert!(
                strict.check_address(&u(private)).await.is_err(),
                "{private}"
            );
        }
        assert!(
            strict
                .check_hop(&u("http://93.184.216.34/"), &from)
                .await
                .is_ok()
        );
        assert!(matches!(
            strict.check_hop(&u("file:///etc/passwd"), &from).await,
            Err(FetchError::OffScope { .. })
        ));
        let local = HttpFetcher::new(&HttpOptions::local()).unwrap();
        assert!(
            local
                .check_hop(&u("http://127.0.0.1:8080/"), &from)
                .await
                .is_ok()
        );

        // Within a site's scope: another host name of the same address is another site.
        let start = u("http://127.0.0.1:4321/");
        let scoped = crate::scope::Scoped {
            inner: Arc::new(local),
            scope: Scope::from_start_urls(std::slice::from_ref(&start)),
            session: None,
        };
        assert!(
            scoped
                .check_hop(&u("http://127.0.0.1:4321/p"), &start)
                .await
                .is_ok()
        );
        for off in ["http://localhost:4321/p", "http://127.0.0.1:4322/p"] {
            match scoped.check_hop(&u(off), &start).await {
                Err(FetchError::OffScope { url, from }) => {
                    assert_eq!((url.as_str(), from.as_str()), (off, start.as_str()));
                }
                other => panic!("{off}: expected off_scope, got {other:?}"),
            }
        }
    }

    /// Serves `router` on 127.0.0.1 and returns its base URL.
    async fn serve(router: axum::Router) -> url::Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        base
    }

    #[tokio::test]
    async fn a_304_is_a_document_only_for_a_conditional_request_and_raw_bodies_are_cut() {
        use axum::routing::get;
        let router = axum::Router::new()
            .route(
                "/p",
                get(|| async { (axum::http::StatusCode::NOT_MODIFIED, [("etag", "\"v1\"")]) }),
            )
            .route("/big", get(|| async { "x".repeat(10_000) }));
        let base = serve(router).await;
        let fetcher = HttpFetcher::new(&HttpOptions::local()).unwrap();
        let url = base.join("p").unwrap();
        match fetcher.fetch(FetchRequest::get(url.clone())).await {
            Err(FetchError::Status { status: 304, .. }) => {}
            other => panic!("an unasked-for 304 is an odd status: {other:?}"),
        }
        let mut req = FetchRequest::get(url);
        req.headers = vec![("If-None-Match".into(), "\"v1\"".into())];
        let doc = fetcher.fetch(req).await.unwrap();
        assert_eq!((doc.status, doc.body.as_str()), (304, ""));
        assert_eq!(doc.header("etag"), Some("\"v1\""));

        let raw = fetcher
            .fetch_raw(FetchRequest::get(base.join("big").unwrap()), 4096)
            .await
            .unwrap();
        assert!(raw.cut);
        assert_eq!(raw.bytes.len(), 4096);
        let whole = fetcher
            .fetch_raw(FetchRequest::get(base.join("big").unwrap()), 20_000)
            .await
            .unwrap();
        assert!(!whole.cut && whole.bytes.len() == 10_000);
    }

    #[tokio::test]
    async fn a_meta_refresh_is_a_redirect_unless_it_is_for_browsers_without_javascript() {
        use axum::response::Html;
        use axum::routing::get;
        let page = |head: &'static str| {
            move || async move {
                Html(format!(
                    "<html><head>{head}</head><body><h1>here</h1></body></html>"
                ))
            }
        };
        let router = axum::Router::new()
            .route(
                "/",
                get(page(
                    r#"<META HTTP-EQUIV="Refresh" CONTENT="0; URL='/en-us/'">"#,
                )),
            )
            .route("/en-us/", get(page("<title>Shop</title>")))
            .route(
                "/app",
                get(page(
                    r#"<noscript><meta http-equiv="refresh" content="0;url=/nojs"></noscript>"#,
                )),
            )
            .route(
                "/later",
                get(page(r#"<meta http-equiv="refresh" content="300;url=/">"#)),
            )
            .route(
                "/loop",
                get(page(
                    r#"<meta http-equiv="refresh" content="0;url=/loop2">"#,
                )),
            )
            .route(
                "/loop2",
                get(page(r#"<meta http-equiv="refresh" content="0;url=/loop">"#)),
            );
        let base = serve(router).await;
        let fetcher = HttpFetcher::new(&HttpOptions::local()).unwrap();
        let get = |path: &str| fetcher.fetch(FetchRequest::get(base.join(path).unwrap()));
        let doc = get("/").await.unwrap();
        assert_eq!((doc.url.path(), doc.requested.path()), ("/en-us/", "/"));
        assert!(doc.body.contains("<title>Shop</title>"));
        for stays in ["/app", "/later"] {
            assert_eq!(get(stays).await.unwrap().url.path(), stays);
        }
        let looped = get("/loop").await.unwrap_err();
        assert_eq!(looped.kind(), haul_core::FailureKind::Redirect, "{looped}");
    }

    #[tokio::test]
    async fn bodies_are_capped_and_decoded_by_their_charset() {
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
            .route("/big", get(|| async { "b".repeat(2 * 1024 * 1024) }))
            .route(
                "/latin1",
                get(|| async {
                    (
                        [("content-type", "text/html; charset=ISO-8859-1")],
                        Bytes::from_static(b"<p>Caf\xe9 cr\xe8me 3,50 \xa4</p>"),
                    )
                }),
            )
            .route("/ok", get(|| async { "<p>fine</p>" }));
        let base = serve(router).await;
        let fetcher = HttpFetcher::new(&HttpOptions {
            allow_private_network: true,
            max_body: 1024 * 1024,
            ..HttpOptions::default()
        })
        .unwrap();
        let get = |path: &str| fetcher.fetch(FetchRequest::get(base.join(path).unwrap()));
        for path in ["endless", "big"] {
            match get(path).await {
                Err(
                    e @ FetchError::TooLarge {
                        limit: 1_048_576, ..
                    },
                ) => {
                    assert_eq!(e.kind(), haul_core::FailureKind::TooLarge);
                    assert!(!e.is_transient(), "not retried");
                    assert!(e.to_string().contains(path), "{e}");
                }
                other => panic!("{path}: expected too_large, got {other:?}"),
            }
        }
        assert_eq!(
            get("latin1").await.unwrap().body,
            "<p>Café crème 3,50 ¤</p>"
        );
        assert_eq!(get("ok").await.unwrap().body, "<p>fine</p>");
    }
}
