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
