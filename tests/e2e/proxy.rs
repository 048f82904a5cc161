//! End-to-end: upstream proxies. Two forward proxies written here (absolute-form `GET` and
//! `CONNECT`, each checking and logging the `Proxy-Authorization` it got; the first answers
//! 502 after a few requests) in front of a shop that logs the address each request came from:
//! every request of the crawl comes from a proxy's upstream connection, the failing proxy is
//! rotated away from and the crawl still writes every record, `--stats` counts per proxy under
//! the masked URL, and no password appears in the output, the logs or the stats. With the real
//! Chromium, a rendered page's document and script reach the shop through the proxy too (the
//! browser's network gate connects through it). An https proxy (TLS to the proxy, with a
//! certificate of a CA made by the test and trusted through `SSL_CERT_FILE`) carries plain
//! and rendered pages alike.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{ConnectInfo, Path as UrlPath, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use haul_e2e::{crawl_generic, read_records, stderr};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PRODUCTS: u32 = 6;

/// The shop: the path and the client port of every request.
#[derive(Default)]
struct Shop {
    seen: Mutex<Vec<(String, u16)>>,
}

impl Shop {
    fn visit(&self, path: String, peer: SocketAddr) {
        self.seen.lock().unwrap().push((path, peer.port()));
    }
}

fn product(n: u32) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><title>Lamp {n}</title>
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Product",
"name":"Lamp {n}","sku":"L{n}","offers":{{"@type":"Offer","price":"{n}2.50","priceCurrency":"USD",
"availability":"https://schema.org/InStock"}}}}</script><script src="/app.js"></script></head>
<body><main><h1>Lamp {n}</h1><p class="price">${n}2.50</p></main></body></html>"#
    )
}

async fn listing(
    State(shop): State<Arc<Shop>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    shop.visit("/".into(), peer);
    let links: String = (1..=PRODUCTS)
        .map(|n| format!(r#"<li><a href="/p/{n}">Lamp {n}</a></li>"#))
        .collect();
    Html(format!(
        r#"<!doctype html><html lang="en"><head><title>Lamps</title><script src="/app.js"></script></head>
<body><h1>Lamps</h1><ul>{links}</ul></body></html>"#
    ))
    .into_response()
}

async fn product_page(
    State(shop): State<Arc<Shop>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(n): UrlPath<u32>,
) -> Response {
    shop.visit(format!("/p/{n}"), peer);
    Html(product(n)).into_response()
}

async fn script(
    State(shop): State<Arc<Shop>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    shop.visit("/app.js".into(), peer);
    (
        [("content-type", "application/javascript")],
        "window.loaded = true;",
    )
        .into_response()
}

async fn other(
    State(shop): State<Arc<Shop>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: axum::http::Uri,
) -> Response {
    shop.visit(uri.path().to_string(), peer);
    (axum::http::StatusCode::NOT_FOUND, "no").into_response()
}

/// Starts the shop on 127.0.0.1:0; its base URL.
async fn shop() -> (String, Arc<Shop>) {
    let state = Arc::new(Shop::default());
    let router = Router::new()
        .route("/", get(listing))
        .route("/p/{n}", get(product_page))
        .route("/app.js", get(script))
        .fallback(other)
        .with_state(state.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (format!("http://{addr}"), state)
}

/// One request a proxy got: method, target, whether its credentials were right, the status
/// the proxy itself answered (0: passed on).
#[derive(Debug, Clone)]
struct Logged {
    method: String,
    target: String,
    authorized: bool,
    answered: u16,
}

/// A forward proxy on 127.0.0.1:0 that wants `user:password`; after `fail_after` requests it
/// answers 502 to everything.
struct Proxy {
    port: u16,
    log: Arc<Mutex<Vec<Logged>>>,
    /// The local ports of its connections to the shop.
    upstream_ports: Arc<Mutex<HashSet<u16>>>,
}

/// What a proxy answers once it fails.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// 502 Bad Gateway: the proxy is broken.
    Gateway,
    /// The shop's bot wall (a Cloudflare challenge, 403): the shop blocked this proxy's
    /// address.
    Wall,
}

impl Proxy {
    async fn start(user: &str, password: &str, fail_after: Option<usize>) -> Self {
        Self::failing_with(user, password, fail_after, Failure::Gateway).await
    }

    async fn failing_with(
        user: &str,
        password: &str,
        fail_after: Option<usize>,
        how: Failure,
    ) -> Self {
        Self::listen(user, password, fail_after, how, None).await
    }

    /// An https proxy: TLS with `tls`, then as [`Proxy::start`].
    async fn start_tls(user: &str, password: &str, tls: tokio_rustls::TlsAcceptor) -> Self {
        Self::listen(user, password, None, Failure::Gateway, Some(tls)).await
    }

    async fn listen(
        user: &str,
        password: &str,
        fail_after: Option<usize>,
        how: Failure,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let upstream_ports = Arc::new(Mutex::new(HashSet::new()));
        let auth = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        let count = Arc::new(AtomicUsize::new(0));
        let (l, u) = (log.clone(), upstream_ports.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let failing = fail_after.is_some_and(|f| n >= f).then_some(how);
                let (auth, l, u, tls) = (auth.clone(), l.clone(), u.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve(client, auth, failing, l, u).await,
                        Some(tls) => {
                            if let Ok(client) = tls.accept(client).await {
                                serve(client, auth, failing, l, u).await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            port,
            log,
            upstream_ports,
        }
    }

    fn log(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }
}

/// One client connection of a proxy: one request (a `GET` in absolute form or a `CONNECT`).
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    auth: String,
    failing: Option<Failure>,
    log: Arc<Mutex<Vec<Logged>>>,
    ports: Arc<Mutex<HashSet<u16>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default().to_string();
    let mut parts = first.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
    );
    let authorized = lines.clone().any(|l| {
        l.split_once(':')
            .is_some_and(|(k, v)| k.eq_ignore_ascii_case("proxy-authorization") && v.trim() == auth)
    });
    let answered = match (authorized, failing) {
        (false, _) => 407,
        (true, Some(Failure::Gateway)) => 502,
        (true, Some(Failure::Wall)) => 403,
        (true, None) => 0,
    };
    log.lock().unwrap().push(Logged {
        method: method.clone(),
        target: target.clone(),
        authorized,
        answered,
    });
    if answered == 403 {
        let body = r#"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body><h2 id="challenge-running">Checking if the site connection is secure</h2><script>window._cf_chl_opt={cvId: '3',cType: 'managed'};</script></body></html>"#;
        let _ = client
            .write_all(
                format!(
                    "HTTP/1.1 403 Forbidden\r\ncf-mitigated: challenge\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await;
        return;
    }
    if answered != 0 {
        let reason = if answered == 407 {
            "Proxy Authentication Required"
        } else {
            "Bad Gateway"
        };
        let _ = client
            .write_all(
                format!(
                    "HTTP/1.1 {answered} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await;
        return;
    }
    let (host_port, rest) = if method == "CONNECT" {
        (target.clone(), None)
    } else {
        let after = target.strip_prefix("http://").unwrap_or(&target);
        let (hp, path) = after.split_at(after.find('/').unwrap_or(after.len()));
        (
            hp.to_string(),
            Some(if path.is_empty() { "/" } else { path }.to_string()),
        )
    };
    let Ok(mut upstream) = TcpStream::connect(&host_port).await else {
        return;
    };
    ports
        .lock()
        .unwrap()
        .insert(upstream.local_addr().unwrap().port());
    match rest {
        None => {
            let _ = client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await;
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
        Some(path) => {
            // Origin form, without the proxy's own headers, one request per connection.
            let mut out = format!("{method} {path} HTTP/1.1\r\n");
            for line in text.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
                let name = line
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if !matches!(
                    name.as_str(),
                    "proxy-authorization" | "proxy-connection" | "connection"
                ) {
                    out.push_str(line);
                    out.push_str("\r\n");
                }
            }
            out.push_str("Connection: close\r\n\r\n");
            let _ = upstream.write_all(out.as_bytes()).await;
            let _ = tokio::io::copy(&mut upstream, &mut client).await;
            let _ = client.shutdown().await;
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

const SECRET_A: &str = "hunter2-alpha-secret";
const SECRET_B: &str = "swordfish-beta-secret";

/// Runs `haul crawl generic` from the shop's listing with `extra` arguments; returns stdout
/// plus stderr, the stats file's text, and the records.
async fn crawl(shop: &str, dir: &Path, extra: &[&str]) -> (String, String, Vec<haul_core::Record>) {
    let out = dir.join("out.jsonl");
    let stats = dir.join("stats.json");
    let output = crawl_generic(&[&format!("{shop}/")], &out, &stats, dir)
        .args([
            "--max-level",
            "1",
            "--extract",
            "structured",
            "--no-progress",
        ])
        .args(extra)
        .env("RUST_LOG", "debug")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .await
        .unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    assert!(output.status.success(), "{logs}");
    let stats_text = std::fs::read_to_string(&stats).unwrap();
    (logs, stats_text, read_records(&out))
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [SECRET_A, SECRET_B] {
        assert!(
            !text.contains(secret),
            "{what} shows a proxy password:\n{text}"
        );
    }
}

/// Every request the shop saw came from a connection one of `proxies` made.
fn assert_all_through(shop: &Shop, proxies: &[&Proxy]) -> Vec<String> {
    let ports: HashSet<u16> = proxies
        .iter()
        .flat_map(|p| p.upstream_ports.lock().unwrap().clone())
        .collect();
    let seen = shop.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for (path, port) in &seen {
        assert!(
            ports.contains(port),
            "{path} reached the shop from port {port}, not through a proxy"
        );
    }
    seen.into_iter().map(|(path, _)| path).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_goes_through_a_proxy_and_the_failing_one_is_rotated_away_from() {
    let (shop_url, shop) = shop().await;
    let failing = Proxy::start("alice", SECRET_A, Some(3)).await;
    let healthy = Proxy::start("bob", SECRET_B, None).await;
    let dir = tempfile::tempdir().unwrap();
    let a = format!("http://alice:{SECRET_A}@127.0.0.1:{}", failing.port);
    let b = format!("http://bob:{SECRET_B}@127.0.0.1:{}", healthy.port);
    let (logs, stats_text, records) = crawl(
        &shop_url,
        dir.path(),
        &["--render", "never", "--proxy", &a, "--proxy", &b],
    )
    .await;
    assert_eq!(records.len(), PRODUCTS as usize, "every product: {logs}");
    let paths = assert_all_through(&shop, &[&failing, &healthy]);
    assert!(paths.iter().any(|p| p == "/"), "{paths:?}");

    let (fl, hl) = (failing.log(), healthy.log());
    assert!(
        fl.iter().chain(&hl).all(|l| l.authorized),
        "credentials sent: {fl:?} {hl:?}"
    );
    assert!(
        fl.iter()
            .chain(&hl)
            .all(|l| l.method == "GET" && l.target.starts_with("http://"))
    );
    let passed = |log: &[Logged]| log.iter().filter(|l| l.answered == 0).count();
    assert_eq!(
        passed(&fl),
        3,
        "the first proxy carried the domain until it failed: {fl:?}"
    );
    assert!(fl.iter().any(|l| l.answered == 502), "{fl:?}");
    assert!(
        passed(&hl) >= PRODUCTS as usize + 1 - 3,
        "the rest went through the second: {hl:?}"
    );
    assert_eq!(
        passed(&fl) + passed(&hl),
        paths.len(),
        "each shop request is one proxied request"
    );

    let stats: serde_json::Value = serde_json::from_str(&stats_text).unwrap();
    let proxies = stats["proxies"].as_array().expect("per-proxy counters");
    let masked_a = format!("http://alice:***@127.0.0.1:{}", failing.port);
    let masked_b = format!("http://bob:***@127.0.0.1:{}", healthy.port);
    let of = |m: &str| {
        proxies
            .iter()
            .find(|p| p["proxy"] == m)
            .unwrap_or_else(|| panic!("{m} in {stats_text}"))
            .clone()
    };
    let (sa, sb) = (of(&masked_a), of(&masked_b));
    assert_eq!(
        sa["requests"].as_u64().unwrap(),
        fl.len() as u64,
        "{stats_text}"
    );
    assert!(
        sa["failures"].as_u64().unwrap() >= 1 && sa["cooldowns"].as_u64().unwrap() >= 1,
        "{stats_text}"
    );
    assert_eq!(
        sb["requests"].as_u64().unwrap(),
        hl.len() as u64,
        "{stats_text}"
    );
    assert_eq!(sb["failures"], 0, "{stats_text}");
    assert_no_secret("the crawl's output and logs", &logs);
    assert_no_secret("the stats", &stats_text);
    assert_no_secret(
        "the records",
        &std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rendered_pages_reach_the_shop_through_the_proxy_via_the_gate() {
    let (shop_url, shop) = shop().await;
    let proxy = Proxy::start("bob", SECRET_B, None).await;
    let dir = tempfile::tempdir().unwrap();
    let b = format!("http://bob:{SECRET_B}@127.0.0.1:{}", proxy.port);
    let (logs, stats_text, records) = crawl(
        &shop_url,
        dir.path(),
        &[
            "--render",
            "always",
            "--browsers",
            "1",
            "--load-resources",
            "--proxy",
            &b,
        ],
    )
    .await;
    assert_eq!(records.len(), PRODUCTS as usize, "every product: {logs}");
    let paths = assert_all_through(&shop, &[&proxy]);
    assert!(
        paths.iter().any(|p| p == "/app.js"),
        "the page's script came too: {paths:?}"
    );
    assert!(
        paths.iter().filter(|p| p.starts_with("/p/")).count() >= PRODUCTS as usize,
        "{paths:?}"
    );
    let log = proxy.log();
    assert!(log.iter().all(|l| l.authorized), "{log:?}");
    assert!(
        log.iter().any(|l| l.method == "CONNECT"),
        "the gate tunnels through the proxy: {log:?}"
    );
    let stats: serde_json::Value = serde_json::from_str(&stats_text).unwrap();
    assert!(
        stats["sites"][0]["rendered"].as_u64().unwrap() > PRODUCTS.into(),
        "the pages were rendered: {stats_text}"
    );
    assert!(
        stats["proxies"][0]["requests"].as_u64().unwrap() >= log.len() as u64,
        "{stats_text}"
    );
    assert_no_secret("the crawl's output and logs", &logs);
    assert_no_secret("the stats", &stats_text);
    haul_e2e::assert_no_chromium_left(&[dir.path()]).await;
}

/// A site's own proxy list (`[sites.generic] proxies`) carries its rendered pages too: the
/// gate knows the crawl's scope of each site with a list, so every connection Chromium makes
/// to the shop goes through the site's proxy, none through the global one.
#[tokio::test(flavor = "multi_thread")]
async fn a_sites_own_proxies_carry_its_rendered_pages() {
    let (shop_url, shop) = shop().await;
    let global = Proxy::start("alice", SECRET_A, None).await;
    let own = Proxy::start("bob", SECRET_B, None).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("haul.toml");
    std::fs::write(
        &config,
        format!(
            "[sites.generic]\nproxies = [\"http://bob:{SECRET_B}@127.0.0.1:{}\"]\n",
            own.port
        ),
    )
    .unwrap();
    let a = format!("http://alice:{SECRET_A}@127.0.0.1:{}", global.port);
    let (logs, stats_text, records) = crawl(
        &shop_url,
        dir.path(),
        &[
            "--render",
            "always",
            "--browsers",
            "1",
            "--load-resources",
            "--proxy",
            &a,
            "--config",
            config.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(records.len(), PRODUCTS as usize, "every product: {logs}");
    let paths = assert_all_through(&shop, &[&own]);
    assert!(paths.iter().any(|p| p == "/app.js"), "{paths:?}");
    assert!(
        global.log().is_empty(),
        "nothing of the site through the global proxy: {:?}",
        global.log()
    );
    assert!(
        own.log().iter().any(|l| l.method == "CONNECT"),
        "{:?}",
        own.log()
    );
    assert_no_secret("the crawl's output and logs", &logs);
    assert_no_secret("the stats", &stats_text);
    haul_e2e::assert_no_chromium_left(&[dir.path()]).await;
}

/// A certificate for 127.0.0.1 (self-signed: it is its own CA), written as PEM to
/// `ca_file` for the crawl's `SSL_CERT_FILE`, and the proxy's TLS set-up with it.
fn proxy_tls(ca_file: &Path) -> tokio_rustls::TlsAcceptor {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(ca_file, key.cert.pem()).unwrap();
    let der = rustls::pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![key.cert.der().clone()], der)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// An https proxy with credentials carries plain and rendered pages: haul speaks TLS to the
/// proxy (its certificate checked against the CA in `SSL_CERT_FILE`), then `CONNECT` or an
/// absolute-form request inside; the password shows nowhere.
#[tokio::test(flavor = "multi_thread")]
async fn an_https_proxy_carries_plain_and_rendered_pages() {
    for render in ["never", "always"] {
        let (shop_url, shop) = shop().await;
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let proxy = Proxy::start_tls("carol", SECRET_A, proxy_tls(&ca)).await;
        let out = dir.path().join("out.jsonl");
        let stats = dir.path().join("stats.json");
        let p = format!("https://carol:{SECRET_A}@127.0.0.1:{}", proxy.port);
        let output = crawl_generic(&[&format!("{shop_url}/")], &out, &stats, dir.path())
            .args([
                "--max-level",
                "1",
                "--extract",
                "structured",
                "--no-progress",
            ])
            .args(["--render", render, "--browsers", "1", "--proxy", &p])
            .env("SSL_CERT_FILE", &ca)
            .env("RUST_LOG", "debug")
            .output()
            .await
            .unwrap();
        let logs = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        );
        assert!(output.status.success(), "{render}: {logs}");
        assert_eq!(
            read_records(&out).len(),
            PRODUCTS as usize,
            "{render}: {logs}"
        );
        let paths = assert_all_through(&shop, &[&proxy]);
        assert!(paths.len() > PRODUCTS as usize, "{render}: {paths:?}");
        let log = proxy.log();
        assert!(
            !log.is_empty() && log.iter().all(|l| l.authorized),
            "{render}: {log:?}"
        );
        if render == "always" {
            assert!(log.iter().any(|l| l.method == "CONNECT"), "{log:?}");
        }
        assert_no_secret("the crawl's output and logs", &logs);
        assert_no_secret("the stats", &std::fs::read_to_string(&stats).unwrap());
        haul_e2e::assert_no_chromium_left(&[dir.path()]).await;
    }
}

/// The shop walls off the first proxy's address after two requests (its answers through that
/// proxy become a Cloudflare challenge): the block moves the domain to the other proxy, and
/// the crawl completes with every record, none from a challenge page.
#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_page_moves_the_domain_to_the_next_proxy() {
    let (shop_url, shop) = shop().await;
    let walled = Proxy::failing_with("alice", SECRET_A, Some(2), Failure::Wall).await;
    let open = Proxy::start("bob", SECRET_B, None).await;
    let dir = tempfile::tempdir().unwrap();
    let a = format!("http://alice:{SECRET_A}@127.0.0.1:{}", walled.port);
    let b = format!("http://bob:{SECRET_B}@127.0.0.1:{}", open.port);
    let (logs, stats_text, records) = crawl(
        &shop_url,
        dir.path(),
        &[
            "--render",
            "never",
            "--proxy",
            &a,
            "--proxy",
            &b,
            "--block-backoff-ms",
            "100",
        ],
    )
    .await;
    assert_eq!(records.len(), PRODUCTS as usize, "every product: {logs}");
    assert_all_through(&shop, &[&walled, &open]);
    let challenged = walled.log().iter().filter(|l| l.answered == 403).count();
    assert!(challenged >= 1, "the wall went up: {:?}", walled.log());
    let stats: serde_json::Value = serde_json::from_str(&stats_text).unwrap();
    let masked_a = format!("http://alice:***@127.0.0.1:{}", walled.port);
    let sa = stats["proxies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["proxy"] == masked_a.as_str()))
        .unwrap_or_else(|| panic!("{masked_a} in {stats_text}"))
        .clone();
    assert!(sa["blocks"].as_u64().unwrap() >= 1, "{stats_text}");
    // After its block no page went through the walled proxy again: each page was asked of
    // it at most once (the first requests were all in flight together), and the retries
    // went through the open one.
    let mut per_page = std::collections::HashMap::new();
    for l in walled.log().iter().filter(|l| l.answered == 403) {
        *per_page.entry(l.target.clone()).or_insert(0) += 1;
    }
    assert!(
        per_page.values().all(|n| *n == 1),
        "a page was sent through the walled proxy again: {:?}",
        walled.log()
    );
    let retried = open.log().iter().filter(|l| l.answered == 0).count();
    assert!(retried >= challenged, "{:?}", open.log());
    assert_no_secret("stats", &stats_text);
    assert_no_secret("logs", &logs);
}

/// A SOCKS5 proxy on 127.0.0.1:0 that wants username/password authentication (RFC 1928,
/// RFC 1929) and CONNECTs to IPv4 addresses or names; counts the connections it carried and
/// keeps the local ports of its connections to their targets.
struct Socks {
    port: u16,
    carried: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    upstream_ports: Arc<Mutex<HashSet<u16>>>,
}

impl Socks {
    async fn start(user: &'static str, password: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (carried, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let upstream_ports = Arc::new(Mutex::new(HashSet::new()));
        let (c, r, u) = (carried.clone(), refused.clone(), upstream_ports.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (c, r, u) = (c.clone(), r.clone(), u.clone());
                tokio::spawn(async move {
                    if socks_session(client, user, password, &u).await.is_some() {
                        c.fetch_add(1, Ordering::SeqCst);
                    } else {
                        r.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Self {
            port,
            carried,
            refused,
            upstream_ports,
        }
    }
}

/// One SOCKS5 client: greeting, username/password, CONNECT, then bytes both ways. `None`
/// when the client was refused or spoke something else.
async fn socks_session(
    mut client: TcpStream,
    user: &str,
    password: &str,
    ports: &Mutex<HashSet<u16>>,
) -> Option<()> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await.ok()?;
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).await.ok()?;
    if head[0] != 5 || !methods.contains(&2) {
        let _ = client.write_all(&[5, 0xff]).await;
        return None;
    }
    client.write_all(&[5, 2]).await.ok()?;
    let mut v = [0u8; 2];
    client.read_exact(&mut v).await.ok()?;
    let mut name = vec![0u8; usize::from(v[1])];
    client.read_exact(&mut name).await.ok()?;
    let mut plen = [0u8; 1];
    client.read_exact(&mut plen).await.ok()?;
    let mut pass = vec![0u8; usize::from(plen[0])];
    client.read_exact(&mut pass).await.ok()?;
    if name != user.as_bytes() || pass != password.as_bytes() {
        let _ = client.write_all(&[1, 1]).await;
        return None;
    }
    client.write_all(&[1, 0]).await.ok()?;
    let mut req = [0u8; 4];
    client.read_exact(&mut req).await.ok()?;
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            client.read_exact(&mut a).await.ok()?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await.ok()?;
            let mut n = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut n).await.ok()?;
            String::from_utf8(n).ok()?
        }
        _ => return None,
    };
    let mut p = [0u8; 2];
    client.read_exact(&mut p).await.ok()?;
    let port = u16::from_be_bytes(p);
    if req[1] != 1 {
        return None;
    }
    let mut upstream = TcpStream::connect((host.as_str(), port)).await.ok()?;
    ports
        .lock()
        .unwrap()
        .insert(upstream.local_addr().ok()?.port());
    client
        .write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
        .await
        .ok()?;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    Some(())
}

const SECRET_C: &str = "correct-horse-socks-secret";

#[tokio::test(flavor = "multi_thread")]
async fn a_socks5_proxy_with_credentials_carries_plain_and_rendered_pages() {
    for render in ["never", "always"] {
        let (shop_url, shop) = shop().await;
        let socks = Socks::start("carol", SECRET_C).await;
        let dir = tempfile::tempdir().unwrap();
        let c = format!("socks5://carol:{SECRET_C}@127.0.0.1:{}", socks.port);
        let (logs, stats_text, records) = crawl(
            &shop_url,
            dir.path(),
            &["--render", render, "--browsers", "1", "--proxy", &c],
        )
        .await;
        assert_eq!(
            records.len(),
            PRODUCTS as usize,
            "{render}: every product: {logs}"
        );
        let ports = socks.upstream_ports.lock().unwrap().clone();
        let seen = shop.seen.lock().unwrap().clone();
        assert!(seen.len() > PRODUCTS as usize, "{render}: {seen:?}");
        for (path, port) in &seen {
            assert!(
                ports.contains(port),
                "{render}: {path} reached the shop from port {port}, not through the SOCKS proxy"
            );
        }
        assert!(socks.carried.load(Ordering::SeqCst) >= 1, "{render}");
        assert_eq!(
            socks.refused.load(Ordering::SeqCst),
            0,
            "{render}: bad credentials sent"
        );
        assert!(
            stats_text.contains(&format!("socks5://carol:***@127.0.0.1:{}", socks.port)),
            "{render}: {stats_text}"
        );
        assert_no_secret("stats", &stats_text);
        assert_no_secret("logs", &logs);
        assert!(!logs.contains(SECRET_C) && !stats_text.contains(SECRET_C));
    }
}
