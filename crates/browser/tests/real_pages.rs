//! Rendering pages built the way shops build them, in the real Chromium: the document's
//! status, headers, content type and final URL come from the main frame's navigation response
//! (never from a script, stylesheet or image, even a failing one), and content that scripts
//! insert after `load` (timers, XHR) is waited for without a site selector.

mod common;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use haul_browser::{BrowserConfig, BrowserPool};
use haul_core::{Document, NavOptions, PagePool, Url};

/// The shop's one bundle, as real shops ship it: it reads what to build from the page.
const APP_JS: &str = r#"
(function () {
  var mode = document.body.getAttribute('data-mode');
  var app = document.getElementById('app');
  function fill(p) {
    app.innerHTML = '<h1 class="title">' + p.name + '</h1><span class="price">$' + p.price + '</span>';
  }
  window.addEventListener('load', function () {
    var banner = document.createElement('div');
    banner.id = 'cookie-banner';
    banner.innerHTML = 'We use cookies <button>Accept</button>';
    document.body.appendChild(banner);
    if (mode === 'xhr') {
      var x = new XMLHttpRequest();
      x.open('GET', '/api/item/' + app.getAttribute('data-id'));
      x.onload = function () { fill(JSON.parse(x.responseText)); };
      x.send();
    } else if (mode === 'timer') {
      setTimeout(function () { fill({ name: 'Timer kettle', price: '31.50' }); }, 700);
    } else if (mode === 'list') {
      fetch('/api/list').then(function (r) { return r.json(); }).then(function (items) {
        document.getElementById('grid').innerHTML = items.map(function (i) {
          return '<li><a href="/p/' + i + '">Kettle ' + i + '</a></li>';
        }).join('');
      });
    }
  });
})();
"#;

fn page(mode: &str, body: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Kettle shop</title>
<link rel="stylesheet" href="/static/site.css">
<script src="/static/app.js" defer></script>
<script src="/static/missing.js"></script>
</head><body data-mode="{mode}">
<header><nav><a href="/">Home</a> <a href="/c/kettles">Kettles</a> <a href="/help">Help</a></nav></header>
{body}
<img src="/img/logo.jpg" alt="logo">
<footer><p>Free delivery over $50. Returns within 30 days.</p></footer>
</body></html>"#
    )
}

fn shop() -> Router {
    let json = |s: String| ([(header::CONTENT_TYPE, "application/json")], s);
    Router::new()
        .route(
            "/static/app.js",
            get(|| async { ([(header::CONTENT_TYPE, "application/javascript")], APP_JS) }),
        )
        .route(
            "/static/site.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], "body{font:14px sans-serif}") }),
        )
        .route(
            "/img/{f}",
            get(|| async { ([(header::CONTENT_TYPE, "image/jpeg")], vec![0xffu8, 0xd8]) }),
        )
        .route(
            "/api/item/{n}",
            get(move |Path(n): Path<u32>| async move {
                tokio::time::sleep(Duration::from_millis(400)).await;
                json(format!(r#"{{"name":"XHR kettle {n}","price":"{n}.25"}}"#))
            }),
        )
        .route(
            "/api/list",
            get(move || async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                json(serde_json::to_string(&(1..=12).collect::<Vec<u32>>()).unwrap())
            }),
        )
        .route(
            "/p/static",
            get(|| async {
                (
                    [("x-shop", "kettles"), (header::CACHE_CONTROL.as_str(), "max-age=60")],
                    Html(page(
                        "static",
                        r#"<main><h1>Static kettle</h1><span class="price">$19.99</span>
<script type="application/ld+json">{"@type":"Product","name":"Static kettle","offers":{"price":"19.99","priceCurrency":"USD"}}</script></main>"#,
                    )),
                )
            }),
        )
        .route(
            "/p/xhr/{n}",
            get(|Path(n): Path<u32>| async move {
                Html(page(
                    "xhr",
                    &format!(
                        r#"<div id="app" data-id="{n}"><noscript>Please enable JavaScript to view this page.</noscript></div>"#
                    ),
                ))
            }),
        )
        .route(
            "/p/timer",
            get(|| async {
                Html(page(
                    "timer",
                    r#"<div id="app"><noscript>Please enable JavaScript.</noscript></div>"#,
                ))
            }),
        )
        .route(
            "/c/kettles",
            get(|| async { Html(page("list", r#"<main><ul id="grid"></ul></main>"#)) }),
        )
        .route(
            "/huge",
            // A small response whose script builds a 3 MB document after `load`.
            get(|| async {
                Html(page(
                    "static",
                    r#"<main id="huge"></main><script>window.addEventListener('load', function () {
  document.getElementById('huge').textContent = 'x'.repeat(3000000);
});</script>"#,
                ))
            }),
        )
        .route("/old", get(|| async { Redirect::permanent("/moved") }))
        .route("/moved", get(|| async { Redirect::temporary("/p/static") }))
        .route(
            "/busy",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "5")],
                    Html(page("static", "<main>Too busy</main>")),
                )
                    .into_response()
            }),
        )
}

async fn render(pool: &BrowserPool, url: &Url) -> (Document, Duration) {
    let started = Instant::now();
    let mut page = pool.acquire().await.unwrap();
    let doc = page
        .render(url, &NavOptions::default())
        .await
        .unwrap_or_else(|e| panic!("rendering {url}: {e}"));
    (doc, started.elapsed())
}

/// The shop on 127.0.0.1 and a one-browser pool of `tabs` tabs.
async fn start(tabs: usize) -> (Url, std::sync::Arc<BrowserPool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, shop()).await.unwrap() });
    let pool = BrowserPool::new(BrowserConfig {
        browsers: 1,
        pages_per_browser: tabs,
        ..BrowserConfig::local()
    })
    .unwrap();
    (base, pool)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_document_and_late_content_are_what_a_shop_serves() {
    let _serial = common::SERIAL.lock().await;
    let (base, pool) = start(2).await;
    let url = |p: &str| base.join(p).unwrap();

    // External script, stylesheet, image and a 404 script: the page's own response counts.
    let (doc, took) = render(&pool, &url("p/static")).await;
    assert_eq!(doc.status, 200);
    assert_eq!(
        doc.content_type.as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(doc.header("X-Shop"), Some("kettles"));
    assert_eq!(doc.header("cache-control"), Some("max-age=60"));
    assert!(doc.body.contains("Static kettle") && doc.body.contains("cookie-banner"));
    // A page whose price is there at `load` does not wait for the network to go quiet.
    assert!(took < Duration::from_secs(3), "static page took {took:?}");

    // Two redirects: the final URL and status are the target's.
    let (doc, _) = render(&pool, &url("old")).await;
    assert_eq!((doc.status, doc.url.path()), (200, "/p/static"));
    assert_eq!(doc.requested.path(), "/old");

    // An app shell filled from an XHR answered 400 ms after `load`.
    let (doc, _) = render(&pool, &url("p/xhr/7")).await;
    assert!(
        doc.body.contains("XHR kettle 7") && doc.body.contains("$7.25"),
        "{}",
        doc.body
    );
    assert_eq!(
        doc.content_type.as_deref(),
        Some("text/html; charset=utf-8")
    );

    // An app shell filled by a timer 700 ms after `load`, with no network activity.
    let (doc, _) = render(&pool, &url("p/timer")).await;
    assert!(
        doc.body.contains("Timer kettle") && doc.body.contains("$31.50"),
        "{}",
        doc.body
    );

    // A listing whose product links arrive by fetch() after `load` (the page is no shell).
    let (doc, _) = render(&pool, &url("c/kettles")).await;
    assert_eq!(doc.body.matches("href=\"/p/").count(), 12, "{}", doc.body);

    // An error status of the main document is kept, with its headers.
    let (doc, _) = render(&pool, &url("busy")).await;
    assert_eq!(doc.status, 503);
    assert_eq!(doc.header("retry-after"), Some("5"));

    // Reused tabs: the next page's response is its own, not the previous page's.
    let (doc, _) = render(&pool, &url("p/static")).await;
    assert_eq!(doc.status, 200);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rendered_page_over_the_size_limit_fails_as_too_large() {
    let _serial = common::SERIAL.lock().await;
    let (base, pool) = start(1).await;
    let url = base.join("huge").unwrap();
    let small = NavOptions {
        max_bytes: 1024 * 1024,
        ..NavOptions::default()
    };
    let mut page = pool.acquire().await.unwrap();
    match page.render(&url, &small).await {
        Err(haul_core::PageError::TooLarge { limit, .. }) => assert_eq!(limit, 1024 * 1024),
        other => panic!("expected too large, got {:?}", other.map(|d| d.body.len())),
    }
    // The same tab renders it within the default limit (16 MiB).
    let doc = page.render(&url, &NavOptions::default()).await.unwrap();
    assert!(doc.body.len() > 3_000_000, "{}", doc.body.len());
    drop(page);
    pool.close().await;
}
