//! The scaffolding of the site crates' crawl tests (`sites/*/tests/crawl.rs`): a site's
//! recorded fixtures served on 127.0.0.1:0 under the server's own origin, crawled through the
//! real runner ([`crawl_site`](crate::crawl_site)) and checked against the site's contracts.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use haul_core::{Document, Extractor, PagePool};
use haul_runner::{CrawlOptions, CrawlReport, SiteJob};
use serde_json::Value;
use url::Url;

use crate::TestServer;

/// What a fixture server answers to one request (see [`Fixtures::router`]).
#[derive(Debug)]
pub enum Reply {
    /// A recorded page, its recorded origin rewritten to the server's own; served as JSON
    /// when its name ends in `.json`, else as HTML.
    Fixture(&'static str),
    /// A generated JSON body (`application/json`).
    Json(Value),
    /// A 404 with this text.
    NotFound(&'static str),
}

impl From<Option<&'static str>> for Reply {
    /// The fixture, or a 404 `not found` without one.
    fn from(file: Option<&'static str>) -> Self {
        file.map_or(Self::NotFound("not found"), Self::Fixture)
    }
}

/// The fixture `routes` (path and query -> fixture file) give for `url`'s path and query.
pub fn route(routes: &[(&str, &'static str)], url: &Url) -> Option<&'static str> {
    let key = &url[url::Position::BeforePath..];
    routes.iter().find(|(p, _)| *p == key).map(|(_, f)| *f)
}

/// The requests a server saw for paths starting with `prefix` (such as a listing route).
pub fn hits_under(server: &TestServer, prefix: &str) -> usize {
    server
        .stats()
        .all_hits()
        .iter()
        .filter(|(p, _)| p.starts_with(prefix))
        .map(|(_, n)| *n)
        .sum()
}

/// A site crate's recorded pages (`tests/fixtures/` of its crate) and the origin they were
/// recorded under, which the server replaces by its own and records get back.
#[derive(Debug, Clone, Copy)]
pub struct Fixtures {
    manifest_dir: &'static str,
    recorded: &'static str,
}

impl Fixtures {
    /// The fixtures of the crate at `manifest_dir` (its `env!("CARGO_MANIFEST_DIR")`),
    /// recorded under `recorded` (such as `https://shop.test`).
    pub const fn new(manifest_dir: &'static str, recorded: &'static str) -> Self {
        Self {
            manifest_dir,
            recorded,
        }
    }

    /// The file of fixture `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(self.manifest_dir)
            .join("tests/fixtures")
            .join(name)
    }

    /// Fixture `name` as recorded.
    pub fn read(&self, name: &str) -> String {
        let path = self.path(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Fixture `name` with the recorded origin replaced by `origin` (`http://127.0.0.1:PORT`).
    pub async fn read_at(&self, name: &str, origin: &str) -> String {
        tokio::fs::read_to_string(self.path(name))
            .await
            .expect("fixture exists")
            .replace(self.recorded, origin)
    }

    /// `path` under the recorded origin.
    pub fn recorded_url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.recorded)).expect("valid recorded URL")
    }

    /// A server of the fixtures: each request (its URL under the server's own origin, taken
    /// from the `Host` header) is answered as `reply` says.
    pub fn router<F>(self, reply: F) -> Router
    where
        F: Fn(&Url) -> Reply + Clone + Send + Sync + 'static,
    {
        Router::new().fallback(move |req: Request| async move {
            let host = req.headers().get(header::HOST).map(|h| h.to_str());
            let origin = format!(
                "http://{}",
                host.and_then(Result::ok).unwrap_or("127.0.0.1")
            );
            let Ok(url) = Url::parse(&format!("{origin}{}", req.uri())) else {
                return (StatusCode::BAD_REQUEST, "bad request").into_response();
            };
            self.respond(reply(&url), &origin).await
        })
    }

    async fn respond(&self, reply: Reply, origin: &str) -> Response {
        match reply {
            Reply::Fixture(file) => {
                let ct = if file.ends_with(".json") {
                    "application/json; charset=utf-8"
                } else {
                    "text/html; charset=utf-8"
                };
                let body = self.read_at(file, origin).await;
                ([(header::CONTENT_TYPE, ct)], body).into_response()
            }
            Reply::Json(value) => (
                [(header::CONTENT_TYPE, "application/json")],
                value.to_string(),
            )
                .into_response(),
            Reply::NotFound(text) => (StatusCode::NOT_FOUND, text).into_response(),
        }
    }

    /// Runs the real crawler (no retries, `pages` as its page pool if given) over `site` from
    /// `starts` (paths on `server`) down to `max_level`, and returns the written records
    /// (sorted, with the server's origin replaced by the recorded one and `seen_at` removed)
    /// and the report.
    pub async fn crawl(
        &self,
        server: &TestServer,
        site: &'static dyn Extractor,
        starts: &[&str],
        max_level: u32,
        pages: Option<Arc<dyn PagePool>>,
    ) -> (Vec<Value>, CrawlReport) {
        let opts = CrawlOptions {
            max_level,
            retries: 0,
            ..CrawlOptions::default()
        };
        let base = format!("http://{}", server.addr());
        let job = SiteJob::new(site, starts.iter().map(|s| server.url(s)).collect());
        crate::crawl_site(job, opts, pages, &base, self.recorded).await
    }

    /// Parses each of `pages` (path under the recorded origin, fixture file) with `site` and
    /// checks the contract of its page kind: kept by every page except those of `breaking`,
    /// which break it exactly once. Returns how many pages were checked.
    pub fn check_contracts(
        &self,
        site: &dyn Extractor,
        pages: &[(&str, &str)],
        breaking: &[&str],
    ) -> usize {
        for (path, file) in pages {
            let url = self.recorded_url(path);
            let ex = site
                .parse(&Document::new(url.clone(), self.read(file)))
                .unwrap();
            let breaches = site.classify(&url).check(site.name(), &ex);
            if breaking.contains(file) {
                assert_eq!(breaches.len(), 1, "{file} at {url}: {breaches:?}");
            } else {
                assert!(breaches.is_empty(), "{file} at {url}: {breaches:?}");
            }
        }
        pages.len()
    }

    /// Asserts that every page kind of `site` is that of some path of `pages` under the
    /// recorded origin.
    pub fn assert_every_kind_served(&self, site: &dyn Extractor, pages: &[(&str, &str)]) {
        for class in site.kinds() {
            assert!(
                pages
                    .iter()
                    .any(|(p, _)| site.classify(&self.recorded_url(p)) == class),
                "no fixture of kind {}",
                class.kind()
            );
        }
    }

    /// One case of a generated store catalogue: serves `router` (a catalogue of `products`
    /// products), crawls `site` from `start` down to `max_level`, and asserts the crawl's
    /// `levels`, that no page failed or warned and that `listing_pages` requests went to paths
    /// under `listing`. Returns the records and the case's description for further assertions.
    pub async fn crawl_catalogue(
        &self,
        site: &'static dyn Extractor,
        router: Router,
        (products, start, max_level, levels, listing_pages): (u64, &str, u32, &[u64], u64),
        listing: &str,
    ) -> (Vec<Value>, String) {
        let server = TestServer::start(router).await.unwrap();
        let (records, report) = self.crawl(&server, site, &[start], max_level, None).await;
        let site = &report.sites[0];
        let case = format!("{products} products from {start}: {site:?}");
        assert_eq!(site.levels, levels, "{case}");
        assert_eq!((site.pages_failed, site.warnings), (0, 0), "{case}");
        assert_eq!(hits_under(&server, listing) as u64, listing_pages, "{case}");
        (records, case)
    }
}
