//! End-to-end: `haul report` on a store filled by two real crawls of a shop whose prices
//! change between them, opened in a real Chromium: no console error, no request other than
//! the file itself, the expected products, prices and changes, exactly one chart per product,
//! and the inline script re-sorts the table.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use chromiumoxide::cdp::browser_protocol::log::EventEntryAdded;
use chromiumoxide::cdp::browser_protocol::network::EventRequestWillBeSent;
use chromiumoxide::cdp::js_protocol::runtime::{EventConsoleApiCalled, EventExceptionThrown};
use chromiumoxide::{Browser, BrowserConfig};
use futures::StreamExt;
use haul_e2e::{demo_crawl, haul_ok};
use haul_testkit::TestServer;

/// A three-product shop; the kettle's price (in cents) is the test's to change. The mug's
/// title is hostile markup.
fn shop(kettle: Arc<AtomicU32>) -> Router {
    let page = |title: &str, price: &str| {
        format!(
            r#"<div class="product-main"><h1>{title}</h1><span class="price-now">${price}</span></div><footer>Prices in USD</footer>"#
        )
    };
    let (mug, lamp) = (
        page("Mug &lt;script&gt;alert(1)&lt;/script&gt;", "5.00"),
        page("Lamp", "42.00"),
    );
    Router::new()
        .route(
            "/",
            get(|| async { Html(r#"<ul class="product-grid"><li><a href="/product/kettle">Kettle</a></li><li><a href="/product/mug">Mug</a></li><li><a href="/product/lamp">Lamp</a></li></ul>"#) }),
        )
        .route(
            "/product/kettle",
            get(move |State(p): State<Arc<AtomicU32>>| async move {
                let c = p.load(Ordering::SeqCst);
                Html(page("Kettle", &format!("{}.{:02}", c / 100, c % 100)))
            }),
        )
        .route("/product/mug", get(move || async move { Html(mug) }))
        .route("/product/lamp", get(move || async move { Html(lamp) }))
        .with_state(kettle)
}

/// Chromium as the platform notes say to launch it (the real binary, not Debian's wrapper).
fn chrome() -> std::path::PathBuf {
    std::env::var_os("CHROME")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/lib/chromium/chromium".into())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_opens_in_chromium_self_contained_with_a_chart_per_product() {
    let kettle = Arc::new(AtomicU32::new(1999));
    let server = TestServer::start(shop(kettle.clone())).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let start = server.url("/");
    let args = demo_crawl(start.as_str(), &db, &["--render", "never"]);
    haul_ok(&args).await;
    kettle.store(1499, Ordering::SeqCst);
    haul_ok(&args).await;
    let html = dir.path().join("prices.html");
    haul_ok(&[
        "report",
        "-o",
        html.to_str().unwrap(),
        "--store",
        db.to_str().unwrap(),
    ])
    .await;

    let profile = tempfile::tempdir().unwrap();
    let config = BrowserConfig::builder()
        .chrome_executable(chrome())
        .no_sandbox()
        .user_data_dir(profile.path())
        .args([
            "disable-gpu",
            "no-first-run",
            "disable-background-networking",
            "disable-component-update",
            "disable-sync",
        ])
        .build()
        .unwrap();
    let (mut browser, mut handler) = Browser::launch(config).await.expect("Chromium starts");
    let driving = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let page = browser.new_page("about:blank").await.unwrap();
    let problems = Arc::new(Mutex::new(Vec::<String>::new()));
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut console = page
        .event_listener::<EventConsoleApiCalled>()
        .await
        .unwrap();
    let mut thrown = page.event_listener::<EventExceptionThrown>().await.unwrap();
    let mut logged = page.event_listener::<EventEntryAdded>().await.unwrap();
    let mut sent = page
        .event_listener::<EventRequestWillBeSent>()
        .await
        .unwrap();
    let (p, r) = (problems.clone(), requests.clone());
    let listening = tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(e) = console.next() => p.lock().unwrap().push(format!("console.{:?}: {:?}", e.r#type, e.args)),
                Some(e) = thrown.next() => p.lock().unwrap().push(format!("exception: {:?}", e.exception_details)),
                Some(e) = logged.next() => p.lock().unwrap().push(format!("log {:?}: {}", e.entry.level, e.entry.text)),
                Some(e) = sent.next() => r.lock().unwrap().push(e.request.url.clone()),
                else => break,
            }
        }
    });
    assert!(html.exists(), "{} written", html.display());
    let file_url = format!("file://{}", html.display());
    page.goto(&file_url).await.unwrap();
    let eval = |js: &'static str| {
        let page = page.clone();
        async move {
            page.evaluate(js)
                .await
                .unwrap()
                .into_value::<serde_json::Value>()
                .unwrap()
        }
    };
    let rows = eval("Array.from(document.querySelectorAll('tr.product')).map(r => [r.querySelector('.title').textContent, r.querySelector('.price').firstChild.textContent.trim(), r.querySelector('.change').textContent, r.querySelectorAll('svg').length])").await;
    let expected = serde_json::json!([
        ["Kettle", "14.99 USD", "-5.00 USD (-25.0 %)", 1],
        ["Lamp", "42.00 USD", "no change", 1],
        ["Mug <script>alert(1)</script>", "5.00 USD", "no change", 1],
    ]);
    assert_eq!(
        rows, expected,
        "products, prices, changes and one chart each, biggest drop first"
    );
    let charts = eval("document.querySelectorAll('svg').length").await;
    assert_eq!(
        charts,
        serde_json::json!(3),
        "exactly one chart per product"
    );
    let sorted = eval("document.querySelector('button[data-sort=price]').click(); Array.from(document.querySelectorAll('tr.product .title')).map(e => e.textContent)").await;
    assert_eq!(
        sorted,
        serde_json::json!(["Lamp", "Kettle", "Mug <script>alert(1)</script>"])
    );
    // Let late events arrive before looking.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        *problems.lock().unwrap(),
        Vec::<String>::new(),
        "no console message or error"
    );
    assert_eq!(
        *requests.lock().unwrap(),
        vec![file_url],
        "no request but the file itself"
    );
    browser.close().await.unwrap();
    let _ = browser.wait().await;
    listening.abort();
    driving.abort();
}
