//! Politeness: robots.txt, per-domain concurrency and request spacing, Retry-After.
//!
//! [`PoliteFetcher`] wraps the plain [`HttpFetcher`] and is what extractors get as their
//! `Fetcher`, so their extra requests obey the same rules as the crawl's own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use haul_core::{Admission, Document, FetchError, FetchRequest, Fetcher, RawBody};
use texting_robots::Robot;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::{debug, warn};
use url::Url;

use crate::HttpFetcher;

/// Politeness settings.
#[derive(Debug, Clone)]
pub struct Politeness {
    /// Obey robots.txt (on by default).
    pub obey_robots: bool,
    /// The product token matched against robots.txt `User-agent:` lines.
    pub robots_agent: String,
    /// Requests in flight at once per domain (host and port).
    pub per_domain_concurrency: usize,
    /// Minimum time between the starts of two requests to one domain. A robots.txt
    /// `Crawl-delay` raises it for that domain.
    pub delay: Duration,
    /// The longest a server's `Retry-After` pauses a domain (and a page's retry): at most
    /// [`MAX_RETRY_AFTER_SECS`](crate::MAX_RETRY_AFTER_SECS) by default, `--max-retry-after`.
    pub max_retry_after: Duration,
}

impl Default for Politeness {
    fn default() -> Self {
        Self {
            obey_robots: true,
            robots_agent: haul_http::ROBOTS_TOKEN.into(),
            per_domain_concurrency: 8,
            delay: Duration::ZERO,
            max_retry_after: Duration::from_secs(crate::MAX_RETRY_AFTER_SECS),
        }
    }
}

/// Politeness shared with other processes (the workers of a distributed crawl): per-domain
/// concurrency and request spacing decided outside this process, so that N workers together
/// stay within `--per-domain-concurrency` and `--delay-ms`, not N times them.
///
/// With a gate, [`PoliteFetcher`] still keeps its local per-domain slots (never more than the
/// limit from one process) and asks the gate for the shared part.
#[async_trait]
pub trait DomainGate: Send + Sync + 'static {
    /// Waits until `domain` (`scheme://host:port`) may take one more request: fewer than
    /// `limit` in flight over all processes and, when `delay` is not zero, at least `delay`
    /// since any process's previous start. The permit is held for the request and given
    /// back when dropped; a permit of a process that died must expire on its own. An error
    /// (the shared store is unreachable) fails the request as transient, naming the store.
    async fn enter(
        &self,
        domain: &str,
        limit: usize,
        delay: Duration,
    ) -> Result<GatePermit, String>;

    /// Pushes every process's next request to `domain` back by at least `wait` (the
    /// server's Retry-After). Errors are logged by the implementation.
    async fn push_back(&self, domain: &str, wait: Duration);
}

/// A permit of a [`DomainGate`], given back when dropped.
pub struct GatePermit(#[allow(dead_code)] Box<dyn Send + Sync>);

impl GatePermit {
    /// Wraps whatever gives the permit back on drop.
    pub fn new(release_on_drop: impl Send + Sync + 'static) -> Self {
        Self(Box::new(release_on_drop))
    }
}

impl std::fmt::Debug for GatePermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GatePermit")
    }
}

/// What one domain allows, learned as the crawl goes.
struct Domain {
    slots: Arc<Semaphore>,
    robots: OnceCell<Option<Robot>>,
    /// Earliest start of the next request and the current spacing. A plain mutex, never held
    /// across an await.
    pace: Mutex<(Instant, Duration)>,
}

impl Domain {
    /// Reserves the next start time and returns it; callers sleep until then. Hand-written
    /// rather than `governor` because the spacing changes at run time (robots.txt
    /// Crawl-delay) and a Retry-After must push back every request to the domain.
    fn reserve(&self) -> Instant {
        let mut pace = self.pace.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let start = pace.0.max(now);
        pace.0 = start + pace.1;
        start
    }

    fn push_back(&self, wait: Duration) {
        let mut pace = self.pace.lock().unwrap_or_else(|p| p.into_inner());
        pace.0 = pace.0.max(Instant::now() + wait);
    }

    fn delay(&self) -> Duration {
        self.pace.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    fn raise_delay(&self, delay: Duration) {
        let mut pace = self.pace.lock().unwrap_or_else(|p| p.into_inner());
        pace.1 = pace.1.max(delay);
    }
}

/// A [`Fetcher`] that obeys robots.txt, per-domain limits and Retry-After.
pub struct PoliteFetcher {
    inner: HttpFetcher,
    rules: Politeness,
    gate: Option<Arc<dyn DomainGate>>,
    domains: Mutex<HashMap<String, Arc<Domain>>>,
}

impl std::fmt::Debug for PoliteFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoliteFetcher")
            .field("rules", &self.rules)
            .finish()
    }
}

fn domain_key(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

impl PoliteFetcher {
    /// Wraps `inner` with `rules`.
    pub fn new(inner: HttpFetcher, rules: Politeness) -> Self {
        Self {
            inner,
            rules,
            gate: None,
            domains: Mutex::new(HashMap::new()),
        }
    }

    /// Shares per-domain concurrency and spacing with other processes through `gate`.
    pub fn with_gate(mut self, gate: Arc<dyn DomainGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    fn domain(&self, url: &Url) -> Arc<Domain> {
        let mut map = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(domain_key(url))
            .or_insert_with(|| {
                Arc::new(Domain {
                    slots: Arc::new(Semaphore::new(self.rules.per_domain_concurrency.max(1))),
                    robots: OnceCell::new(),
                    pace: Mutex::new((Instant::now(), self.rules.delay)),
                })
            })
            .clone()
    }

    /// Fetches and parses the domain's robots.txt. `None` means everything is allowed.
    async fn load_robots(&self, url: &Url, domain: &Domain) -> Option<Robot> {
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        let deny_all =
            || Robot::new(&self.rules.robots_agent, b"User-agent: *\nDisallow: /\n").ok();
        let robot = match self
            .inner
            .fetch(FetchRequest::get(robots_url.clone()))
            .await
        {
            Ok(doc) => match Robot::new(&self.rules.robots_agent, doc.body.as_bytes()) {
                Ok(r) => Some(r),
                Err(e) => {
                    warn!("{robots_url}: unreadable robots.txt ({e}); treating it as empty");
                    None
                }
            },
            // RFC 9309: a missing robots.txt (4xx) allows everything...
            Err(FetchError::Status { status, .. }) if (400..500).contains(&status) => None,
            // ...an unreachable one (5xx, network) means the site is off limits for now.
            Err(e) => {
                warn!(
                    "{e}: robots.txt unreachable, treating {robots_url} as disallowing everything (RFC 9309); --ignore-robots overrides"
                );
                deny_all()
            }
        };
        if let Some(secs) = robot.as_ref().and_then(|r| r.delay) {
            debug!("{robots_url}: Crawl-delay {secs} s");
            domain.raise_delay(Duration::from_secs_f32(secs.clamp(0.0, 60.0)));
        }
        robot
    }
}

impl PoliteFetcher {
    /// Whether robots.txt (read once per domain) allows `url`, when robots.txt is obeyed.
    async fn robots_allow(&self, url: &Url, domain: &Domain) -> Result<(), FetchError> {
        if self.rules.obey_robots {
            let robot = domain
                .robots
                .get_or_init(|| self.load_robots(url, domain))
                .await;
            if robot.as_ref().is_some_and(|r| !r.allowed(url.as_str())) {
                return Err(FetchError::Robots {
                    url: url.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Checks robots.txt for `url`, then waits for a slot of its domain and its turn (local
    /// pacing, or the shared gate). The slot and the gate's permit are held until the
    /// returned guards drop.
    async fn enter(
        &self,
        url: &Url,
        domain: &Domain,
    ) -> Result<(OwnedSemaphorePermit, Option<GatePermit>), FetchError> {
        self.robots_allow(url, domain).await?;
        let slot =
            domain
                .slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| FetchError::Cancelled {
                    url: url.to_string(),
                })?;
        let shared = match &self.gate {
            // The gate spaces requests over all processes; local pacing would only add to it.
            Some(gate) => Some(
                gate.enter(
                    &domain_key(url),
                    self.rules.per_domain_concurrency,
                    domain.delay(),
                )
                .await
                .map_err(|message| FetchError::Transport {
                    url: url.to_string(),
                    kind: haul_core::TransportKind::SharedLimits,
                    message,
                })?,
            ),
            None => {
                tokio::time::sleep_until(domain.reserve()).await;
                None
            }
        };
        Ok((slot, shared))
    }
}

impl PoliteFetcher {
    /// One request of a fetch (`send`: the plain fetcher's hop) within robots.txt and the
    /// domain's limits; a 429 or 503 with `Retry-After` pushes the domain's next request
    /// back.
    async fn polite_hop<T, Fut>(
        &self,
        url: &Url,
        send: impl FnOnce() -> Fut,
    ) -> Result<crate::fetch::Hop<T>, FetchError>
    where
        Fut: std::future::Future<Output = Result<crate::fetch::Hop<T>, FetchError>>,
    {
        let domain = self.domain(url);
        let _entered = self.enter(url, &domain).await?;
        let result = send().await;
        if let Err(FetchError::Status {
            status: 429 | 503,
            retry_after: Some(secs),
            ..
        }) = &result
        {
            let wait = Duration::from_secs(*secs).min(self.rules.max_retry_after);
            domain.push_back(wait);
            if let Some(gate) = &self.gate {
                gate.push_back(&domain_key(url), wait).await;
            }
        }
        result
    }
}

#[async_trait]
impl Fetcher for PoliteFetcher {
    async fn fetch(&self, req: FetchRequest) -> Result<Document, FetchError> {
        let headers = req.headers.clone();
        let session = req.session.clone();
        // Every hop is a request of its own: robots.txt and the per-domain limits apply to
        // each, on the domain it goes to.
        crate::fetch::follow(req, |url| {
            let (headers, session) = (&headers, session.as_deref());
            async move {
                self.polite_hop(&url, || self.inner.hop(&url, headers, session))
                    .await
            }
        })
        .await
    }

    async fn fetch_raw(&self, req: FetchRequest, limit: u64) -> Result<RawBody, FetchError> {
        let headers = req.headers.clone();
        let session = req.session.clone();
        crate::fetch::follow(req, |url| {
            let (headers, session) = (&headers, session.as_deref());
            async move {
                self.polite_hop(&url, || self.inner.raw_hop(&url, headers, session, limit))
                    .await
            }
        })
        .await
    }

    /// Read from the domain's robots.txt, loaded once (as for the rules), whether or not
    /// robots.txt is obeyed.
    async fn sitemaps(&self, url: &Url) -> Vec<Url> {
        let domain = self.domain(url);
        let robot = domain
            .robots
            .get_or_init(|| self.load_robots(url, &domain))
            .await;
        robot
            .iter()
            .flat_map(|r| &r.sitemaps)
            .filter_map(|s| url.join(s.trim()).ok())
            .collect()
    }

    async fn admit(&self, url: &Url) -> Result<Admission, FetchError> {
        let domain = self.domain(url);
        Ok(Admission::holding(self.enter(url, &domain).await?))
    }

    /// The hop's address, then robots.txt of its domain; no slot is taken (the navigation
    /// holds its first domain's slot, which a hop to the same domain would wait for forever).
    async fn check_hop(&self, url: &Url, from: &Url) -> Result<(), FetchError> {
        self.inner.check_hop(url, from).await?;
        self.robots_allow(url, &self.domain(url)).await
    }

    async fn check_address(&self, url: &Url) -> Result<(), FetchError> {
        self.inner.check_address(url).await
    }
}
