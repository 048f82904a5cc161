//! Redirects inside the real Chromium: every main-frame document request of a render (a
//! server's redirect hop, a script's navigation) is checked against the render's `NavGuard`
//! before Chromium sends it. A hop to an "internal" server (another port on 127.0.0.1) is
//! refused with the kind a fetch would give (`off_scope`, `private_network`) and the internal
//! server receives no request at all; a frame of a private address stays empty (a frame on
//! another host is no hop of the page); an in-scope redirect still renders; a pooled tab's
//! next render carries no guard of the previous one.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use haul_browser::{BrowserConfig, BrowserPool};
use haul_core::{
    Document, FailureKind, FetchError, FetchRequest, Fetcher, NavGuard, NavOptions, PageError,
    PagePool, Scope, Url, async_trait,
};

/// The rules of a crawl of the shop, as the runner's fetcher applies them, with the loopback
/// ports in `private` standing for private-network addresses (every server of a test is on
/// 127.0.0.1, so the real rule would refuse the shop too).
struct Rules {
    scope: Scope,
    private: Vec<u16>,
    checked: AtomicUsize,
}

impl Rules {
    fn refuse_private(&self, url: &Url) -> Result<(), FetchError> {
        match url.port() {
            Some(p) if self.private.contains(&p) => Err(FetchError::PrivateNetwork {
                url: url.to_string(),
                addr: "127.0.0.1".into(),
            }),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Fetcher for Rules {
    async fn fetch(&self, req: FetchRequest) -> Result<Document, FetchError> {
        unreachable!("the browser fetches nothing itself: {}", req.url)
    }

    async fn check_hop(&self, url: &Url, from: &Url) -> Result<(), FetchError> {
        self.checked.fetch_add(1, Ordering::SeqCst);
        if !self.scope.contains(url) {
            return Err(FetchError::OffScope {
                url: url.to_string(),
                from: from.to_string(),
            });
        }
        self.refuse_private(url)
    }

    async fn check_address(&self, url: &Url) -> Result<(), FetchError> {
        self.refuse_private(url)
    }
}

/// Serves `router` on 127.0.0.1 (a free port); returns its base URL.
async fn serve(router: Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

const PRODUCT: &str = r#"<html><head><title>Kettle</title></head><body><h1 class="product">Kettle</h1><span class="price">$24.90</span></body></html>"#;

/// The shop: `/p` a product; `/moved` redirects to it; `/away` redirects to the internal
/// server, `/hop` to `/away`; `/script-away` navigates there from a script after `load`;
/// `/framed` embeds the internal server in a frame.
fn shop(internal: &Url) -> Router {
    let to = |path: &str| internal.join(path).unwrap().to_string();
    let (secret, admin) = (to("/secret"), to("/admin"));
    let script = format!(
        r#"<html><body><p>Taking you to the kettle...</p><script>
window.addEventListener('load', function () {{ setTimeout(function () {{ location.href = {admin:?}; }}, 0); }});
</script></body></html>"#
    );
    let framed = format!(
        r#"<html><body><h1 class="product">Kettle</h1><span class="price">$24.90</span><iframe src={secret:?}></iframe></body></html>"#
    );
    Router::new()
        .route("/p", get(|| async { Html(PRODUCT) }))
        .route("/moved", get(|| async { Redirect::to("/p") }))
        .route(
            "/away",
            get(move || async move { Redirect::to(&secret).into_response() }),
        )
        .route("/hop", get(|| async { Redirect::to("/away") }))
        .route("/script-away", get(move || async move { Html(script) }))
        .route("/framed", get(move || async move { Html(framed) }))
}

/// A stand-in for an internal service; counts every request it gets.
fn internal(hits: Arc<AtomicUsize>) -> Router {
    Router::new().fallback(move || {
        let hits = hits.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            Html("internal service: secret")
        }
    })
}

fn guarded(rules: &Arc<Rules>) -> NavOptions {
    NavOptions {
        guard: Some(NavGuard::new(rules.clone())),
        ..NavOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_in_the_browser_are_checked_hop_by_hop_before_chromium_sends_them() {
    let _serial = common::SERIAL.lock().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let inside = serve(internal(hits.clone())).await;
    let base = serve(shop(&inside)).await;
    let url = |p: &str| base.join(p).unwrap();
    let off_scope = Arc::new(Rules {
        scope: Scope::from_start_urls(std::slice::from_ref(&base)),
        private: Vec::new(),
        checked: AtomicUsize::new(0),
    });
    // The internal server in scope but on a "private" address: refused for that.
    let private = Arc::new(Rules {
        scope: Scope::from_start_urls(&[base.clone(), inside.clone()]),
        private: vec![inside.port().unwrap()],
        checked: AtomicUsize::new(0),
    });
    // One tab: every render below reuses it, refused ones included.
    let pool = BrowserPool::new(BrowserConfig {
        browsers: 1,
        pages_per_browser: 1,
        ..BrowserConfig::local()
    })
    .unwrap();
    let mut page = pool.acquire().await.unwrap();

    // An in-scope redirect renders the target, each hop checked.
    let doc = page
        .render(&url("moved"), &guarded(&off_scope))
        .await
        .unwrap();
    assert_eq!((doc.status, doc.url.path()), (200, "/p"));
    assert!(doc.body.contains("Kettle"));
    assert_eq!(off_scope.checked.load(Ordering::SeqCst), 2, "/moved and /p");

    let refused = |result: Result<Document, PageError>| match result {
        Err(PageError::Refused(e)) => e,
        Err(e) => panic!("expected a refused hop, got {e}"),
        Ok(doc) => panic!("expected a refused hop, rendered {}", doc.url),
    };
    // A redirect to the internal server, directly and after a hop on the shop.
    for path in ["away", "hop"] {
        match refused(page.render(&url(path), &guarded(&off_scope)).await) {
            FetchError::OffScope { url, from } => {
                assert_eq!(url, inside.join("/secret").unwrap().as_str());
                assert_eq!(from, base.join("/away").unwrap().as_str(), "{path}");
            }
            other => panic!("{path}: expected off_scope, got {other}"),
        }
    }
    // The same hop on a private address: refused as such, counted like a fetch's.
    let e = refused(page.render(&url("away"), &guarded(&private)).await);
    assert_eq!(
        FailureKind::of(&PageError::Refused(e).into()),
        FailureKind::PrivateNetwork
    );
    // A script's navigation after `load` is a hop too.
    let e = refused(page.render(&url("script-away"), &guarded(&off_scope)).await);
    assert!(matches!(e, FetchError::OffScope { .. }), "{e}");
    // A frame of a private address stays empty; the page renders.
    let doc = page
        .render(&url("framed"), &guarded(&private))
        .await
        .unwrap();
    assert!(doc.body.contains("$24.90"), "{}", doc.body);

    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the internal server was reached"
    );

    // A frame on another host is not the page's navigation: only the private-network rule
    // holds for it, and the page renders.
    let doc = page
        .render(&url("framed"), &guarded(&off_scope))
        .await
        .unwrap();
    assert!(doc.body.contains("$24.90"), "{}", doc.body);

    // The tab is still usable, and carries no guard of an earlier render: an unguarded
    // render checks nothing.
    assert!(page.reusable());
    let before = off_scope.checked.load(Ordering::SeqCst);
    let doc = page
        .render(&url("moved"), &NavOptions::default())
        .await
        .unwrap();
    assert_eq!(doc.url.path(), "/p");
    assert_eq!(off_scope.checked.load(Ordering::SeqCst), before);
    drop(page);
    pool.close().await;
}

/// A crawl's per-domain slots as the fetcher's `admit` hands them out, logged in order with
/// what the servers saw.
struct Slots {
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Logs the release of a domain's slot.
struct Held {
    port: u16,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.log
            .lock()
            .unwrap()
            .push(format!("release {}", self.port));
    }
}

#[async_trait]
impl Fetcher for Slots {
    async fn fetch(&self, req: FetchRequest) -> Result<Document, FetchError> {
        unreachable!("the browser fetches nothing itself: {}", req.url)
    }

    async fn admit(&self, url: &Url) -> Result<haul_core::Admission, FetchError> {
        let port = url.port().unwrap_or(80);
        self.log.lock().unwrap().push(format!("admit {port}"));
        Ok(haul_core::Admission::holding(Held {
            port,
            log: self.log.clone(),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hop_to_another_domain_takes_that_domains_slot_before_its_request_and_keeps_it() {
    let _serial = common::SERIAL.lock().await;
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    // The other domain (another port is another site) logs the requests it serves.
    let served = log.clone();
    let other = serve(Router::new().route(
        "/landing",
        get(move || {
            let served = served.clone();
            async move {
                served.lock().unwrap().push("served /landing".to_string());
                Html(PRODUCT)
            }
        }),
    ))
    .await;
    let to = other.join("/landing").unwrap().to_string();
    let page_html =
        format!(r#"<html><body><script>location.href = {to:?};</script></body></html>"#);
    let base = serve(Router::new().route("/", get(move || async move { Html(page_html) }))).await;
    let slots = Arc::new(Slots { log: log.clone() });
    let pool = BrowserPool::new(BrowserConfig {
        browsers: 1,
        pages_per_browser: 1,
        ..BrowserConfig::local()
    })
    .unwrap();
    let mut page = pool.acquire().await.unwrap();
    let opts = NavOptions {
        guard: Some(NavGuard::new(slots)),
        ..NavOptions::default()
    };
    let doc = page.render(&base, &opts).await.unwrap();
    assert_eq!(doc.url.path(), "/landing");
    let port = other.port().unwrap();
    let log = log.lock().unwrap().clone();
    let at = |entry: &str| log.iter().position(|l| l == entry);
    let admit = at(&format!("admit {port}")).unwrap_or_else(|| panic!("no slot taken: {log:?}"));
    let served = at("served /landing").unwrap_or_else(|| panic!("not served: {log:?}"));
    assert!(
        admit < served,
        "the request went out before the slot: {log:?}"
    );
    // Held while the page rendered there, given back once the render is over.
    let release =
        at(&format!("release {port}")).unwrap_or_else(|| panic!("slot kept after: {log:?}"));
    assert!(
        release > served,
        "released before the page was served: {log:?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.starts_with("admit")).count(),
        1,
        "only the hop's domain takes a slot here (the first one is the caller's): {log:?}"
    );
}
