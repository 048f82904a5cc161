//! A site's session in the real Chromium: the jar's and the pinned cookies go with the
//! render's requests, the site's `Accept-Language` too, and the cookies the page's server and
//! script set come back into the jar (pinned names left out); a reused tab's next render
//! without a session sends the browser's own `Accept-Language` again.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use haul_browser::{BrowserConfig, BrowserPool};
use haul_core::{NavOptions, PagePool, Session, SiteSession, Url};

/// (`Cookie`, `Accept-Language`) of each request of `/`.
type Log = Arc<Mutex<Vec<(String, String)>>>;

async fn serve(log: Log) -> Url {
    let page = move |headers: HeaderMap| {
        let log = log.clone();
        async move {
            let h = |n: header::HeaderName| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            log.lock()
                .unwrap()
                .push((h(header::COOKIE), h(header::ACCEPT_LANGUAGE)));
            (
                [(header::SET_COOKIE, "srv=1; Path=/; HttpOnly")],
                Html(
                    "<html><body><h1>Hi</h1><script>document.cookie = 'js=1; path=/';\
                     </script></body></html>",
                ),
            )
                .into_response()
        }
    };
    let router = Router::new().route("/", get(page));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread")]
async fn a_render_sends_the_sites_cookies_and_language_and_brings_back_the_pages_cookies() {
    let _serial = common::SERIAL.lock().await;
    let log = Log::default();
    let url = serve(log.clone()).await;
    let session = Arc::new(Session::new(
        "acme",
        &SiteSession {
            locale: Some("de-CH".into()),
            cookies: vec![("pin".into(), "a".into())],
            ..SiteSession::default()
        },
    ));
    session.store_set_cookies(&url, ["old=1; Path=/"]);
    let pool = BrowserPool::new(BrowserConfig {
        browsers: 1,
        pages_per_browser: 1,
        ..BrowserConfig::local()
    })
    .unwrap();
    let mut page = pool.acquire().await.unwrap();
    let with = NavOptions {
        session: Some(session.clone()),
        settle: false,
        ..NavOptions::default()
    };
    page.render(&url, &with).await.unwrap();
    let (cookie, language) = log.lock().unwrap()[0].clone();
    assert!(
        cookie.contains("pin=a") && cookie.contains("old=1"),
        "{cookie}"
    );
    assert_eq!(language, "de-CH,de;q=0.9");
    let mut names: Vec<String> = session.cookies().into_iter().map(|c| c.name).collect();
    names.sort();
    assert_eq!(names, ["js", "old", "srv"], "the pin stays the settings'");

    // The same tab without a session: the browser's own language again.
    let without = NavOptions {
        settle: false,
        ..NavOptions::default()
    };
    page.render(&url, &without).await.unwrap();
    let (_, language) = log.lock().unwrap()[1].clone();
    assert!(!language.contains("de"), "{language}");
    drop(page);
    pool.close().await;
}

/// (path, query, `X-Region`, `User-Agent`, `Cookie`) of each request a server got.
type Seen = Arc<Mutex<Vec<(String, String, String, String, String)>>>;

/// A server that logs every request; `/go` redirects to `/p`, `/p` is a product page that
/// embeds `frame` (another server) and fetches `/api` from a script.
async fn logging_shop(seen: Seen, frame: Option<Url>) -> Url {
    let frame = frame.map(|f| f.join("/frame").unwrap().to_string());
    let log = move |uri: axum::http::Uri, headers: HeaderMap| {
        let (seen, frame) = (seen.clone(), frame.clone());
        async move {
            let h = |n: &str| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            let path = uri.path().to_string();
            seen.lock().unwrap().push((
                path.clone(),
                uri.query().unwrap_or("").to_string(),
                h("x-region"),
                h("user-agent"),
                h("cookie"),
            ));
            match path.as_str() {
                "/go" => axum::response::Redirect::temporary("/p").into_response(),
                "/p" => {
                    let iframe = frame
                        .map(|f| format!(r#"<iframe src="{f}"></iframe>"#))
                        .unwrap_or_default();
                    Html(format!(
                        "<html><body><h1>Kettle</h1>{iframe}<script>fetch('/api')\
                         .then(r => r.text()).then(t => {{ document.body.dataset.api = t; }});\
                         </script></body></html>"
                    ))
                    .into_response()
                }
                _ => Html("ok".to_string()).into_response(),
            }
        }
    };
    let router = Router::new().fallback(get(log));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread")]
async fn a_render_sends_the_sites_headers_and_query_pins_on_its_documents_only() {
    let _serial = common::SERIAL.lock().await;
    let (frame_seen, seen) = (Seen::default(), Seen::default());
    let other = logging_shop(frame_seen.clone(), None).await;
    let shop = logging_shop(seen.clone(), Some(other)).await;
    let session = Arc::new(
        Session::new(
            "acme",
            &SiteSession {
                headers: vec![
                    ("X-Region".into(), "eu-west".into()),
                    ("User-Agent".into(), "not-the-browser/1.0".into()),
                ],
                cookies: vec![("pin".into(), "a".into())],
                query: vec![("currency".into(), "USD".into())],
                ..SiteSession::default()
            },
        )
        .within(haul_core::Scope::from_start_urls(std::slice::from_ref(
            &shop,
        ))),
    );
    let pool = BrowserPool::new(BrowserConfig {
        browsers: 1,
        pages_per_browser: 1,
        ..BrowserConfig::local()
    })
    .unwrap();
    let mut page = pool.acquire().await.unwrap();
    let with = NavOptions {
        session: Some(session.clone()),
        ..NavOptions::default()
    };
    let doc = page
        .render(&shop.join("/go").unwrap(), &with)
        .await
        .unwrap();
    assert_eq!(doc.url.path(), "/p", "the redirect was followed");
    assert!(doc.body.contains("Kettle"), "{}", doc.body);
    // The page cannot see the pinned parameter: its address is the one it asked for.
    assert_eq!(doc.url.query(), None, "{}", doc.url);

    let log = seen.lock().unwrap().clone();
    let of = |p: &str| {
        log.iter()
            .find(|r| r.0 == p)
            .cloned()
            .unwrap_or_else(|| panic!("no {p}: {log:?}"))
    };
    for hop in ["/go", "/p"] {
        let (_, query, region, agent, cookie) = of(hop);
        assert_eq!(query, "currency=USD", "{hop}: {log:?}");
        assert_eq!(region, "eu-west", "{hop}: {log:?}");
        assert!(
            agent.contains("Chrome"),
            "the browser's own User-Agent: {agent}"
        );
        assert!(
            cookie.contains("pin=a"),
            "{hop}: cookies still go: {cookie}"
        );
    }
    // The page's script request is a sub-resource: none of the document's changes.
    let (_, query, region, ..) = of("/api");
    assert_eq!((query.as_str(), region.as_str()), ("", ""), "{log:?}");
    // The frame is on another host, outside the site's scope.
    let framed = frame_seen.lock().unwrap().clone();
    assert_eq!(framed.len(), 1, "{framed:?}");
    assert_eq!(
        (framed[0].1.as_str(), framed[0].2.as_str()),
        ("", ""),
        "{framed:?}"
    );

    // The same tab without a session: nothing of the site's any more.
    let before = seen.lock().unwrap().len();
    let without = NavOptions {
        settle: false,
        ..NavOptions::default()
    };
    page.render(&shop.join("/p").unwrap(), &without)
        .await
        .unwrap();
    let after = seen.lock().unwrap()[before].clone();
    assert_eq!(
        (after.0.as_str(), after.1.as_str(), after.2.as_str()),
        ("/p", "", "")
    );
    drop(page);
    pool.close().await;
}
