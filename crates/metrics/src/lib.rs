//! haul's Prometheus metrics (`--metrics ADDR` on `haul watch`, `haul worker` and
//! `haul crawl`): counters fed by the crawl's [`Progress`] reports and by the watch loop,
//! browser and LLM pool gauges read at each scrape, served as Prometheus text (OpenMetrics)
//! on `GET /metrics`.
//!
//! | metric | type | labels | what |
//! | --- | --- | --- | --- |
//! | `haul_pages_total` | counter | `site`, `outcome` (`ok`, `failed`) | pages processed |
//! | `haul_failures_total` | counter | `site`, `kind` | failed pages by failure kind |
//! | `haul_records_total` | counter | `site` | records written |
//! | `haul_runs_total` | counter | `site` | finished watch runs |
//! | `haul_run_duration_seconds` | histogram | `site` | watch run durations |
//! | `haul_events_total` | counter | `kind` | change events (see [`Metrics::event`]) |
//! | `haul_browser_pages_in_use` | gauge | | browser pages borrowed now |
//! | `haul_browser_pages_idle` | gauge | | kept tabs waiting for reuse |
//! | `haul_browsers` | gauge | | running browsers |
//! | `haul_llm_in_flight` | gauge | | LLM calls in flight now |
//! | `haul_llm_keys_cooling` | gauge | | LLM keys cooling down after a 429 |

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use haul_core::{FailureKind, LlmPool, PagePool};
use haul_runner::Progress;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of the text served on `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The address could not be bound (in use, not local, no permission).
    #[error("cannot serve metrics on {addr}: {error}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        error: std::io::Error,
    },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Site {
    site: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteOutcome {
    site: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteKind {
    site: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

type Pools = (Option<Arc<dyn PagePool>>, Option<Arc<dyn LlmPool>>);

/// Every metric of a haul process. Cheap to share (`Arc`); counting never blocks.
pub struct Metrics {
    registry: Registry,
    pages: Family<SiteOutcome, Counter>,
    failures: Family<SiteKind, Counter>,
    records: Family<Site, Counter>,
    runs: Family<Site, Counter>,
    run_seconds: Family<Site, Histogram>,
    events: Family<Kind, Counter>,
    pages_in_use: Gauge,
    pages_idle: Gauge,
    browsers: Gauge,
    llm_in_flight: Gauge,
    llm_cooling: Gauge,
    pools: Mutex<Pools>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn run_histogram() -> Histogram {
    // 1 s to ~9 h.
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("haul");
        let pages = Family::<SiteOutcome, Counter>::default();
        let failures = Family::<SiteKind, Counter>::default();
        let records = Family::<Site, Counter>::default();
        let runs = Family::<Site, Counter>::default();
        let run_seconds =
            Family::<Site, Histogram>::new_with_constructor(run_histogram as fn() -> Histogram);
        let events = Family::<Kind, Counter>::default();
        let (pages_in_use, pages_idle, browsers) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        let (llm_in_flight, llm_cooling) = (Gauge::default(), Gauge::default());
        registry.register(
            "pages",
            "Pages processed, by site and outcome",
            pages.clone(),
        );
        registry.register(
            "failures",
            "Failed pages, by site and failure kind",
            failures.clone(),
        );
        registry.register("records", "Records written, by site", records.clone());
        registry.register("runs", "Finished watch runs, by site", runs.clone());
        registry.register(
            "run_duration_seconds",
            "Watch run durations, by site",
            run_seconds.clone(),
        );
        registry.register("events", "Change events, by kind", events.clone());
        registry.register(
            "browser_pages_in_use",
            "Browser pages borrowed now",
            pages_in_use.clone(),
        );
        registry.register(
            "browser_pages_idle",
            "Kept browser tabs waiting for reuse",
            pages_idle.clone(),
        );
        registry.register("browsers", "Running browsers", browsers.clone());
        registry.register(
            "llm_in_flight",
            "LLM calls in flight now",
            llm_in_flight.clone(),
        );
        registry.register(
            "llm_keys_cooling",
            "LLM keys cooling down after a rate limit",
            llm_cooling.clone(),
        );
        Self {
            registry,
            pages,
            failures,
            records,
            runs,
            run_seconds,
            events,
            pages_in_use,
            pages_idle,
            browsers,
            llm_in_flight,
            llm_cooling,
            pools: Mutex::new((None, None)),
        }
    }

    /// The pools whose gauges are read at each scrape.
    pub fn watch_pools(&self, pages: Option<Arc<dyn PagePool>>, llm: Option<Arc<dyn LlmPool>>) {
        *self.pools.lock().unwrap_or_else(PoisonError::into_inner) = (pages, llm);
    }

    /// Counts one change event of `kind` (`price_drop`, `back_in_stock`...): the events code
    /// calls it once per event it records.
    pub fn event(&self, kind: &str) {
        self.events.get_or_create(&Kind { kind: kind.into() }).inc();
    }

    /// Counts a finished watch run of `site` that took `took`.
    pub fn run_finished(&self, site: &str, took: Duration) {
        let s = Site { site: site.into() };
        self.runs.get_or_create(&s).inc();
        self.run_seconds
            .get_or_create(&s)
            .observe(took.as_secs_f64());
    }

    /// The metrics as Prometheus text (OpenMetrics), the pool gauges read now.
    pub fn render(&self) -> String {
        self.read_pools();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn read_pools(&self) {
        let (pages, llm) = self
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(p) = pages {
            let s = p.stats();
            self.pages_in_use.set(s.in_use as i64);
            self.pages_idle.set(s.idle as i64);
            self.browsers.set(s.browsers as i64);
        }
        if let Some(l) = llm {
            let s = l.stats_json();
            let n = |v: &serde_json::Value| v.as_i64().unwrap_or(0);
            self.llm_in_flight.set(n(&s["in_flight"]));
            let keys = s["keys"].as_array().map_or(0, |ks| {
                ks.iter().filter(|k| k["state"] == "cooling").count()
            });
            self.llm_cooling.set(keys as i64);
        }
    }

    /// A [`Progress`] that counts pages, failures and records and passes every report on to
    /// `inner` (the progress bars).
    pub fn progress(self: &Arc<Self>, inner: Arc<dyn Progress>) -> Arc<dyn Progress> {
        Arc::new(Counting {
            metrics: self.clone(),
            inner,
        })
    }
}

struct Counting {
    metrics: Arc<Metrics>,
    inner: Arc<dyn Progress>,
}

impl Progress for Counting {
    fn level_started(&self, site: &str, level: u32, queued: u64) {
        self.inner.level_started(site, level, queued);
    }

    fn page_done(&self, site: &str, level: u32, ok: bool, records: u64) {
        let m = &self.metrics;
        let outcome = if ok { "ok" } else { "failed" };
        m.pages
            .get_or_create(&SiteOutcome {
                site: site.into(),
                outcome,
            })
            .inc();
        m.records
            .get_or_create(&Site { site: site.into() })
            .inc_by(records);
        self.inner.page_done(site, level, ok, records);
    }

    fn page_failed(&self, site: &str, kind: FailureKind) {
        let key = SiteKind {
            site: site.into(),
            kind: kind.label(),
        };
        self.metrics.failures.get_or_create(&key).inc();
        self.inner.page_failed(site, kind);
    }

    fn site_done(&self, site: &str) {
        self.inner.site_done(site);
    }
}

/// The running `/metrics` endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Serves `metrics` on `GET http://ADDR/metrics` until dropped.
    pub async fn start(metrics: Arc<Metrics>, addr: SocketAddr) -> Result<Self, MetricsError> {
        use axum::http::header::CONTENT_TYPE as CT;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|error| MetricsError::Bind { addr, error })?;
        let local = listener
            .local_addr()
            .map_err(|error| MetricsError::Bind { addr, error })?;
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let m = metrics.clone();
                async move { ([(CT, CONTENT_TYPE)], m.render()) }
            }),
        );
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("the metrics endpoint stopped: {e}");
            }
        });
        Ok(Self { addr: local, task })
    }

    /// The address it listens on (the port chosen when `:0` was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `GET /metrics` over a plain socket (the answer with its headers).
    async fn get(addr: SocketAddr) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn the_endpoint_serves_every_documented_metric() {
        let m = Arc::new(Metrics::new());
        let p = m.progress(Arc::new(haul_runner::Silent));
        p.page_done("demo", 0, true, 3);
        p.page_done("demo", 1, false, 0);
        p.page_failed("demo", FailureKind::Http(404));
        m.run_finished("demo", Duration::from_millis(1500));
        m.event("price_drop");
        let server = MetricsServer::start(m, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let body = get(server.addr()).await;
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains(CONTENT_TYPE), "{body}");
        for line in [
            "haul_pages_total{site=\"demo\",outcome=\"ok\"} 1",
            "haul_pages_total{site=\"demo\",outcome=\"failed\"} 1",
            "haul_failures_total{site=\"demo\",kind=\"http_404\"} 1",
            "haul_records_total{site=\"demo\"} 3",
            "haul_runs_total{site=\"demo\"} 1",
            "haul_run_duration_seconds_count{site=\"demo\"} 1",
            "haul_events_total{kind=\"price_drop\"} 1",
            "# TYPE haul_browser_pages_in_use gauge",
            "# TYPE haul_browser_pages_idle gauge",
            "# TYPE haul_browsers gauge",
            "# TYPE haul_llm_in_flight gauge",
            "# TYPE haul_llm_keys_cooling gauge",
        ] {
            assert!(body.contains(line), "{line} missing from:\n{body}");
        }
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = MetricsServer::start(Arc::new(Metrics::new()), addr)
            .await
            .unwrap_err();
        assert!(e.to_string().contains(&addr.to_string()), "{e}");
    }
}
