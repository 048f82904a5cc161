//! In-crate tests of sites' sessions over real HTTP: each site's headers and pinned cookies go
//! with its requests, and the cookies a shop sets stay in that site's jar (two sites on one
//! host name never see each other's), saved per site in the crawl state.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;
use haul_core::{Document, ExtractError, Extraction, Extractor, SiteSession};
use tokio_util::sync::CancellationToken;

use crate::fakes::{Tiny, jsonl_output, page};
use crate::{CrawlOptions, Crawler, HttpFetcher, HttpOptions, Services, SessionStore, SiteJob};

/// [`Tiny`] under another name: a second site.
struct Other;

impl Extractor for Other {
    fn name(&self) -> &'static str {
        "other"
    }
    fn parse(&self, doc: &Document) -> Result<Extraction, ExtractError> {
        Tiny.parse(doc)
    }
}

/// (server, path, `X-Site` header, `Cookie` header) of each request.
type Log = Arc<Mutex<Vec<(&'static str, String, String, String)>>>;

/// A two-page shop on 127.0.0.1 whose listing sets `{name}_sid`.
async fn shop(name: &'static str, log: Log) -> url::Url {
    let handler = move |path: &'static str| {
        let log = log.clone();
        move |headers: HeaderMap| async move {
            let h = |n| {
                headers
                    .get(n)
                    .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            log.lock()
                .unwrap()
                .push((name, path.into(), h("x-site"), h(header::COOKIE.as_str())));
            let body = if path == "/" {
                page(&[], &["/p"])
            } else {
                page(&["lamp"], &[])
            };
            (
                [(header::SET_COOKIE, format!("{name}_sid={name}1; Path=/"))],
                axum::response::Html(body),
            )
                .into_response()
        }
    };
    let router = Router::new()
        .route("/", get(handler("/")))
        .route("/p", get(handler("/p")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

fn settings(site: &str) -> SiteSession {
    SiteSession {
        headers: vec![("X-Site".into(), site.into())],
        cookies: vec![("pin".into(), site.into())],
        ..SiteSession::default()
    }
}

#[tokio::test]
async fn each_site_sends_its_headers_and_cookies_and_keeps_its_shops_cookies_to_itself() {
    let log = Log::default();
    let (a, b) = (shop("a", log.clone()).await, shop("b", log.clone()).await);
    let (output, _out) = jsonl_output();
    let state = tempfile::tempdir().unwrap();
    let services = Services {
        fetcher: Arc::new(HttpFetcher::new(&HttpOptions::local()).unwrap()),
        pages: None,
        llm: None,
    };
    let opts = CrawlOptions {
        max_level: 1,
        ..CrawlOptions::default()
    };
    let jobs = vec![
        SiteJob::new(&Tiny, vec![a]).with_session(&settings("a")),
        SiteJob::new(&Other, vec![b]).with_session(&settings("b")),
    ];
    let store = SessionStore::in_state(state.path());
    let report = Crawler::new(opts, services, output.sender(), CancellationToken::new())
        .with_sessions(store.clone())
        .run(jobs)
        .await;
    output.finish().await.unwrap();
    assert_eq!(report.pages(), 4, "{report}");
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 4, "{log:?}");
    for (server, path, site, cookie) in &log {
        let other = if *server == "a" { "b" } else { "a" };
        assert_eq!(site, server, "{log:?}");
        assert!(cookie.contains(&format!("pin={server}")), "{log:?}");
        assert!(
            !cookie.contains(&format!("{other}_sid")),
            "not leaked: {log:?}"
        );
        assert!(!cookie.contains(&format!("pin={other}")), "{log:?}");
        if path == "/p" {
            assert!(
                cookie.contains(&format!("{server}_sid={server}1")),
                "{log:?}"
            );
        }
    }
    for (site, sid) in [("tiny", "a_sid"), ("other", "b_sid")] {
        let saved = std::fs::read_to_string(store.path(site)).unwrap();
        assert!(
            saved.contains(sid) && !saved.contains("\"pin\""),
            "{site}: {saved}"
        );
    }
}

#[tokio::test]
async fn a_redirect_hops_cookie_and_the_pinned_query_go_with_the_next_hop() {
    use axum::http::Uri;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let router = Router::new()
        .route(
            "/start",
            get(|| async {
                (
                    axum::http::StatusCode::FOUND,
                    [
                        (header::LOCATION, "/end"),
                        (header::SET_COOKIE, "hop=1; Path=/"),
                    ],
                )
            }),
        )
        .route(
            "/end",
            get(move |uri: Uri, headers: HeaderMap| async move {
                let cookie = headers
                    .get(header::COOKIE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                log.lock().unwrap().push(format!("{uri} {cookie}"));
                "done"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let session = Arc::new(haul_core::Session::new(
        "woo",
        &SiteSession {
            currency: Some(haul_core::Currency::new("USD").unwrap()),
            currency_pin: haul_core::CurrencyPin::Query("currency"),
            ..SiteSession::default()
        },
    ));
    let fetcher = HttpFetcher::new(&HttpOptions::local()).unwrap();
    let mut req = haul_core::FetchRequest::get(base.join("/start").unwrap());
    req.session = Some(session.clone());
    let doc = haul_core::Fetcher::fetch(&fetcher, req).await.unwrap();
    assert_eq!(doc.body, "done");
    assert_eq!(
        doc.url.path(),
        "/end",
        "the recorded URL has no pinned parameter"
    );
    assert_eq!(*seen.lock().unwrap(), ["/end?currency=USD hop=1"]);
}

#[tokio::test]
async fn a_request_outside_the_sites_scope_carries_nothing_of_its_session() {
    let log = Log::default();
    let (shop, elsewhere) = (shop("a", log.clone()).await, shop("x", log.clone()).await);
    let job = SiteJob::new(&Tiny, vec![shop.clone()]).with_session(&settings("a"));
    let fetcher = HttpFetcher::new(&HttpOptions::local()).unwrap();
    for url in [&elsewhere, &shop, &elsewhere] {
        let mut req = haul_core::FetchRequest::get(url.clone());
        req.session = Some(job.session.clone());
        haul_core::Fetcher::fetch(&fetcher, req).await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    assert_eq!(log[0], ("x", "/".into(), String::new(), String::new()));
    assert_eq!(log[1], ("a", "/".into(), "a".into(), "pin=a".into()));
    assert_eq!(log[2], log[0], "nothing kept from or sent to another host");
    let names: Vec<String> = job.session.cookies().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["a_sid"]);
}

#[tokio::test]
async fn browser_headers_replace_haul_s_user_agent_over_http() {
    let router = Router::new().route(
        "/",
        get(|headers: HeaderMap| async move {
            let h = |n: &str| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            format!(
                "{}\n{}\n{}",
                h("user-agent"),
                h("sec-ch-ua-platform"),
                h("accept-language")
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let fetcher = HttpFetcher::new(&HttpOptions::local()).unwrap();
    let get = |session: Option<haul_core::Session>| {
        let mut req = haul_core::FetchRequest::get(base.clone());
        req.session = session.map(Arc::new);
        haul_core::Fetcher::fetch(&fetcher, req)
    };
    let plain = get(None).await.unwrap().body;
    assert!(
        plain.starts_with("Mozilla/5.0 (compatible; haul/"),
        "{plain}"
    );
    let browser = SiteSession {
        browser_headers: true,
        locale: Some("fr-CA".into()),
        ..SiteSession::default()
    };
    let body = get(Some(haul_core::Session::new("acme", &browser)))
        .await
        .unwrap()
        .body;
    assert_eq!(
        body,
        format!(
            "{}\n\"Linux\"\nfr-CA,fr;q=0.9",
            haul_core::BROWSER_USER_AGENT
        )
    );
}
