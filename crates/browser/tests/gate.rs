//! The pool's network gate inside the real Chromium: every connection of a page goes through
//! haul's SOCKS5 gate, which resolves the name itself and refuses private-network addresses
//! other than the shop's own. The shop is on 127.0.0.1 (allowed, as a crawl of a local shop
//! allows its own address); an "internal service" listens on 127.0.0.2. A page's `fetch`,
//! XHR, `<img>`, `<script>` and `<iframe>` towards it never reach it, and neither does a
//! DNS-rebinding page (a name that resolves to the shop first and to the internal service
//! afterwards, read same-origin by the page's script). The same pages with every private
//! address allowed do reach it: the tests are not vacuous.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use haul_browser::{BrowserConfig, BrowserPool, PrivateNetwork, Resolver};
use haul_core::{NavOptions, PagePool, Url};

const INTERNAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Serves `router` on `ip`:`port` (0 = a free port); returns the bound address.
async fn serve_on(router: Router, ip: Ipv4Addr, port: u16) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind((ip, port)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Ok(addr)
}

/// The internal service: counts every request; answers a secret.
fn internal(hits: Arc<AtomicUsize>) -> Router {
    Router::new().fallback(move || {
        let hits = hits.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            Html("internal secret")
        }
    })
}

/// A product page whose sub-resources go to `internal` (an image, a script, a frame, `fetch`
/// and XHR), to the cloud metadata address when `metadata`, and to the shop itself (`/own`);
/// `#done` holds what the script's requests gave.
fn reaching_page(internal: SocketAddr, metadata: bool) -> String {
    let i = format!("http://{internal}");
    let metadata = if metadata {
        "fetch('http://169.254.169.254/latest/meta-data/', { mode: 'no-cors' }).then(() => results.metadata = 'answered', () => results.metadata = 'failed'),"
    } else {
        ""
    };
    format!(
        r#"<html><head><title>Kettle</title></head><body>
<h1 class="product">Kettle</h1><span class="price">$24.90</span>
<img src="{i}/img.png"><script src="{i}/script.js"></script><iframe src="{i}/frame"></iframe>
<script>
const results = {{}};
const xhr = (url) => new Promise((done) => {{
  const x = new XMLHttpRequest();
  x.open('GET', url);
  x.onload = () => {{ results.xhr = 'answered'; done(); }};
  x.onerror = () => {{ results.xhr = 'failed'; done(); }};
  x.send();
}});
Promise.all([
  fetch('{i}/fetch', {{ mode: 'no-cors' }}).then(() => results.fetch = 'answered', () => results.fetch = 'failed'),
  {metadata}
  xhr('{i}/xhr'),
  fetch('/own').then((r) => r.text()).then((t) => results.own = t, () => results.own = 'failed'),
]).then(() => {{
  const d = document.createElement('pre');
  d.id = 'done';
  d.textContent = JSON.stringify(results);
  document.body.appendChild(d);
}});
</script></body></html>"#
    )
}

fn pool(private_network: PrivateNetwork, resolver: Resolver) -> Arc<BrowserPool> {
    BrowserPool::new(BrowserConfig {
        browsers: 1,
        pages_per_browser: 1,
        // Images load, so that the `<img>` is a real request.
        block_resources: false,
        private_network,
        resolver,
        ..BrowserConfig::default()
    })
    .unwrap()
}

fn waiting_for_done() -> NavOptions {
    NavOptions {
        wait_for: Some("#done".into()),
        ..NavOptions::default()
    }
}

/// What the page's script recorded in `#done`.
fn results(body: &str) -> serde_json::Value {
    let start = body.find("<pre id=\"done\">").expect("#done") + "<pre id=\"done\">".len();
    let end = start + body[start..].find("</pre>").unwrap();
    serde_json::from_str(&body[start..end].replace("&quot;", "\"")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_cannot_reach_private_addresses_other_than_the_shops_own() {
    let _serial = common::SERIAL.lock().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let inside = serve_on(internal(hits.clone()), INTERNAL, 0).await.unwrap();
    let (page, control) = (reaching_page(inside, true), reaching_page(inside, false));
    let shop = Router::new()
        .route("/p", get(move || async move { Html(page) }))
        // Without the metadata address, which a machine in a cloud may well answer.
        .route("/control", get(move || async move { Html(control) }))
        .route("/own", get(|| async { "own answer" }));
    let shop = serve_on(shop, Ipv4Addr::LOCALHOST, 0).await.unwrap();
    let url = Url::parse(&format!("http://{shop}/p")).unwrap();

    // A crawl of a shop on 127.0.0.1: its own address is allowed, nothing else private.
    let own = PrivateNetwork::Only(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let pool = pool(own, Resolver::system());
    let mut tab = pool.acquire().await.unwrap();
    let doc = tab.render(&url, &waiting_for_done()).await.unwrap();
    let got = results(&doc.body);
    assert_eq!(got["own"], "own answer", "{got}");
    for what in ["fetch", "xhr", "metadata"] {
        assert_eq!(got[what], "failed", "{what}: {got}");
    }
    assert!(doc.body.contains("$24.90"));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the internal service was reached"
    );
    drop(tab);
    pool.close().await;

    // The same page with every private address allowed reaches it (image, script, frame,
    // fetch, XHR: the requests are made, whatever CORS then lets the page read).
    let pool = self::pool(PrivateNetwork::Allow, Resolver::system());
    let mut tab = pool.acquire().await.unwrap();
    let control = url.join("/control").unwrap();
    let doc = tab.render(&control, &waiting_for_done()).await.unwrap();
    assert_eq!(results(&doc.body)["fetch"], "answered", "{}", doc.body);
    assert!(
        hits.load(Ordering::SeqCst) >= 5,
        "img, script, frame, fetch, xhr: {}",
        hits.load(Ordering::SeqCst)
    );
    drop(tab);
    pool.close().await;
}

/// A name that gives the shop (127.0.0.1) until `served`, then the internal service
/// (127.0.0.2), both on `port`: a DNS-rebinding attacker's name with a zero TTL.
fn rebinding(served: Arc<AtomicBool>) -> Resolver {
    Resolver::custom(move |name, port| {
        let ip = if served.load(Ordering::SeqCst) {
            INTERNAL
        } else {
            Ipv4Addr::LOCALHOST
        };
        let found = (name == "rebind.test").then(|| vec![SocketAddr::from((ip, port))]);
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "unknown"))
        })
    })
}

/// The attacker's page: a script that reads `/secret` from its own origin once its name
/// points elsewhere. Served once on 127.0.0.1:`port`, by a server that then sets `served`
/// and closes every connection and its listener, so that the read needs a new connection
/// (and a new lookup).
async fn attacker(port: u16, served: Arc<AtomicBool>) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const PAGE: &str = r#"<html><body><h1>Deal</h1><script>
setTimeout(() => fetch('/secret').then((r) => r.text()).then((t) => t, () => 'failed').then((t) => {
  const d = document.createElement('pre'); d.id = 'done'; d.textContent = t; document.body.appendChild(d);
}), 50);
</script></body></html>"#;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    tokio::spawn(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let mut conns = tokio::task::JoinSet::new();
        // Every connection (Chromium may open a spare one) waits for a request; the first
        // request is answered, then everything closes.
        let served_one = async {
            loop {
                tokio::select! {
                    Ok((mut stream, _)) = listener.accept() => {
                        let tx = tx.clone();
                        conns.spawn(async move {
                            let mut buf = [0u8; 4096];
                            if matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {
                                let _ = tx.send(stream).await;
                            }
                        });
                    }
                    Some(mut stream) = rx.recv() => {
                        served.store(true, Ordering::SeqCst);
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PAGE}",
                            PAGE.len()
                        );
                        let _ = stream.write_all(reply.as_bytes()).await;
                        let _ = stream.shutdown().await;
                        return;
                    }
                }
            }
        };
        served_one.await;
        conns.abort_all();
        drop(listener);
    });
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebinding_name_is_checked_on_every_connection() {
    let _serial = common::SERIAL.lock().await;
    let hits = Arc::new(AtomicUsize::new(0));
    // The internal service and the shop on the same port of two addresses, as a rebinding
    // name needs (its origin, port included, stays the same).
    // The internal service and the attacker on the same port of two addresses, as a
    // rebinding name needs (its origin, port included, stays the same).
    let (port, served) = loop {
        let inside = serve_on(internal(hits.clone()), INTERNAL, 0).await.unwrap();
        let served = Arc::new(AtomicBool::new(false));
        if attacker(inside.port(), served.clone()).await.is_ok() {
            break (inside.port(), served);
        }
    };
    let url = Url::parse(&format!("http://rebind.test:{port}/")).unwrap();
    let own = PrivateNetwork::Only(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);

    let pool = pool(own, rebinding(served));
    let mut tab = pool.acquire().await.unwrap();
    let doc = tab.render(&url, &waiting_for_done()).await.unwrap();
    assert!(
        doc.body.contains("<pre id=\"done\">failed</pre>"),
        "{}",
        doc.body
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the rebinding reached the internal service"
    );
    drop(tab);
    pool.close().await;

    // Control: with private addresses allowed the rebinding works, and the page reads the
    // internal service's answer as its own.
    let served = Arc::new(AtomicBool::new(false));
    attacker(port, served.clone()).await.unwrap();
    let pool = self::pool(PrivateNetwork::Allow, rebinding(served));
    let mut tab = pool.acquire().await.unwrap();
    let doc = tab.render(&url, &waiting_for_done()).await.unwrap();
    assert!(doc.body.contains("internal secret"), "{}", doc.body);
    drop(tab);
    pool.close().await;
}
