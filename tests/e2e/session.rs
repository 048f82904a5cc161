//! End-to-end: a site's session. A shop that shows EUR unless the pinned `cart_currency`
//! cookie asks for USD (the configured crawl writes USD records; a pin the shop ignores is
//! flagged), its session cookie kept in `--state` for the next crawl; and, with the real
//! Chromium, a cookie a page's script sets when rendered, carried by the plain HTTP requests
//! that follow.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use haul_e2e::{crawl_generic, haul_command, read_records, read_stats, stderr};
use haul_testkit::TestServer;

/// One request as the shop saw it: path, `Cookie`, `User-Agent`, `Accept-Language`.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    cookie: String,
    agent: String,
    language: String,
}

#[derive(Default)]
struct Shop {
    seen: Mutex<Vec<Seen>>,
    sessions: AtomicUsize,
    /// Product pages answer 403 without the `challenge=passed` cookie.
    challenge: bool,
    /// While set, product pages do not answer (a crawl to interrupt in the middle).
    hold: std::sync::atomic::AtomicBool,
}

impl Shop {
    /// Logs the request; gives a new `sid` cookie when it carries none.
    fn visit(&self, path: &str, headers: &HeaderMap) -> Option<String> {
        let get = |h| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let cookie = get(header::COOKIE);
        let agent = get(header::USER_AGENT);
        let language = get(header::ACCEPT_LANGUAGE);
        let new_sid = (!cookie.contains("sid=")).then(|| {
            let n = self.sessions.fetch_add(1, Ordering::SeqCst) + 1;
            format!("sid=s{n}; Path=/; HttpOnly")
        });
        self.seen.lock().unwrap().push(Seen {
            path: path.into(),
            cookie,
            agent,
            language,
        });
        new_sid
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn with_sid(sid: Option<String>, body: Response) -> Response {
    let mut resp = body;
    if let Some(sid) = sid {
        resp.headers_mut()
            .insert(header::SET_COOKIE, sid.parse().unwrap());
    }
    resp
}

const LISTING: &str = r#"<!doctype html><html lang="en"><head><title>Lamps</title></head>
<body><h1>Lamps</h1><ul><li><a href="/p/1">Lamp 1</a></li><li><a href="/p/2">Lamp 2</a></li>
<li><a href="/p/3">Lamp 3</a></li></ul></body></html>"#;

/// A listing built by a script that also sets the challenge cookie (as a bot wall's
/// JavaScript challenge does).
const CHALLENGE: &str = r#"<!doctype html><html lang="en"><head><title>Lamps</title></head>
<body><div id="app"></div><script>
document.cookie = "challenge=passed; path=/";
document.getElementById("app").innerHTML =
  '<h1>Lamps</h1><a href="/p/1">Lamp 1</a> <a href="/p/2">Lamp 2</a>';
</script></body></html>"#;

fn product(n: u32, usd: bool) -> String {
    let (cur, shown) = if usd {
        ("USD", format!("${n}2.50"))
    } else {
        ("EUR", format!("{n}2,50 €"))
    };
    format!(
        r#"<!doctype html><html lang="en"><head><title>Lamp {n}</title>
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Product",
"name":"Lamp {n}","sku":"L{n}","offers":{{"@type":"Offer","price":"{n}2.50","priceCurrency":"{cur}",
"availability":"https://schema.org/InStock"}}}}</script></head>
<body><main><h1>Lamp {n}</h1><p class="price">{shown}</p></main></body></html>"#
    )
}

async fn listing(State(shop): State<Arc<Shop>>, headers: HeaderMap) -> Response {
    let sid = shop.visit("/", &headers);
    let page = if shop.challenge { CHALLENGE } else { LISTING };
    with_sid(sid, Html(page).into_response())
}

async fn product_page(
    State(shop): State<Arc<Shop>>,
    UrlPath(n): UrlPath<u32>,
    headers: HeaderMap,
) -> Response {
    let sid = shop.visit(&format!("/p/{n}"), &headers);
    for _ in 0..600 {
        if !shop.hold.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if shop.challenge && !cookie.contains("challenge=passed") {
        return with_sid(
            sid,
            (StatusCode::FORBIDDEN, "solve the challenge").into_response(),
        );
    }
    let usd = cookie.split("; ").any(|c| c == "cart_currency=USD");
    with_sid(sid, Html(product(n, usd)).into_response())
}

async fn shop(challenge: bool) -> (TestServer, Arc<Shop>) {
    let state = Arc::new(Shop {
        challenge,
        ..Shop::default()
    });
    let router = Router::new()
        .route("/", get(listing))
        .route("/p/{n}", get(product_page))
        .with_state(state.clone());
    (TestServer::start(router).await.unwrap(), state)
}

/// Runs `haul crawl generic` from the shop's listing with `extra` arguments; returns the
/// standard error, the records and the site's stats.
async fn crawl(
    server: &TestServer,
    dir: &Path,
    run: &str,
    extra: &[&str],
) -> (String, Vec<haul_core::Record>, serde_json::Value) {
    let out = dir.join(format!("{run}.jsonl"));
    let stats = dir.join(format!("{run}.stats.json"));
    let output = crawl_generic(&[server.url("/").as_str()], &out, &stats, dir)
        .args([
            "--max-level",
            "1",
            "--extract",
            "structured",
            "--no-progress",
        ])
        .args(extra)
        .output()
        .await
        .unwrap();
    let err = stderr(&output);
    assert!(output.status.success(), "{run}: {err}");
    let site = read_stats(&stats)["sites"][0].clone();
    (err, read_records(&out), site)
}

fn currencies(records: &[haul_core::Record]) -> Vec<String> {
    let mut c: Vec<String> = records
        .iter()
        .map(|r| r.currency.map(|c| c.to_string()).unwrap_or_default())
        .collect();
    c.sort();
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pinned_currency_cookie_gives_usd_records_and_the_session_outlives_the_run() {
    let (server, shop) = shop(false).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let state = d.join("state");
    let state = state.to_str().unwrap();
    let pinned = d.join("pinned.toml");
    std::fs::write(
        &pinned,
        "[sites.generic]\n\
         cookies = { cart_currency = \"USD\" }\n\
         currency = \"USD\"\n\
         headers = { \"Accept-Language\" = \"en-US,en;q=0.9\" }\n",
    )
    .unwrap();
    let pinned = pinned.to_str().unwrap();

    // Without a pin the shop shows EUR.
    let (_, records, _) = crawl(&server, d, "plain", &["--render", "never"]).await;
    assert_eq!(currencies(&records), ["EUR"; 3], "{records:?}");
    shop.seen.lock().unwrap().clear();
    let before = shop.sessions.load(Ordering::SeqCst);

    // With the pinned cookie: USD, and the session the shop gives is kept in --state.
    let args = ["--render", "never", "--config", pinned, "--state", state];
    let (_, records, site) = crawl(&server, d, "first", &args).await;
    assert_eq!(currencies(&records), ["USD"; 3], "{records:?}");
    assert_eq!(site["currency_mismatch"], 0, "{site}");
    let seen = shop.seen();
    assert!(
        seen.iter()
            .all(|s| s.cookie.contains("cart_currency=USD") && !s.agent.is_empty()),
        "every request carries the pin: {seen:?}"
    );
    assert_eq!(shop.sessions.load(Ordering::SeqCst), before + 1, "{seen:?}");
    let sid = format!("sid=s{}", before + 1);
    assert!(
        seen.iter().skip(1).all(|s| s.cookie.contains(&sid)),
        "the shop's session cookie goes with the following requests: {seen:?}"
    );

    // A repeated crawl with the same --state goes on with that session from its first
    // request: the shop gives no new one.
    shop.seen.lock().unwrap().clear();
    let (_, records, _) = crawl(&server, d, "again", &args).await;
    assert_eq!(currencies(&records), ["USD"; 3]);
    let seen = shop.seen();
    assert_eq!(seen[0].path, "/");
    assert!(seen.iter().all(|s| s.cookie.contains(&sid)), "{seen:?}");
    assert_eq!(shop.sessions.load(Ordering::SeqCst), before + 1);

    // A currency pin the shop ignores (no cookie sent) is flagged, not rewritten.
    let only_check = d.join("check.toml");
    std::fs::write(&only_check, "[sites.generic]\ncurrency = \"USD\"\n").unwrap();
    let check = [
        "--render",
        "never",
        "--config",
        only_check.to_str().unwrap(),
    ];
    let (err, records, site) = crawl(&server, d, "ignored", &check).await;
    assert_eq!(currencies(&records), ["EUR"; 3]);
    assert_eq!(site["currency_mismatch"], 3, "{site}");
    assert!(err.contains("not in the pinned USD"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cookie_set_by_a_rendered_page_is_sent_by_the_plain_http_requests_after_it() {
    let (server, shop) = shop(true).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("haul.toml");
    std::fs::write(&config, "[sites.generic]\nlocale = \"de-CH\"\n").unwrap();
    let args = ["--render", "auto", "--config", config.to_str().unwrap()];
    let (err, records, site) = crawl(&server, dir.path(), "auto", &args).await;
    assert_eq!(records.len(), 2, "{err}\n{:?}", shop.seen());
    assert_eq!(
        site["rendered"], 1,
        "only the challenge page is rendered: {site}"
    );
    let seen = shop.seen();
    let over_http: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.starts_with("/p/") && s.agent.contains("haul"))
        .collect();
    assert_eq!(over_http.len(), 2, "{seen:?}");
    assert!(
        over_http
            .iter()
            .all(|s| s.cookie.contains("challenge=passed")),
        "{seen:?}"
    );
    // The site's locale goes with every request, the browser's included.
    let rendered: Vec<&Seen> = seen.iter().filter(|s| !s.agent.contains("haul")).collect();
    assert_eq!(rendered.len(), 1, "{seen:?}");
    assert!(
        seen.iter().all(|s| s.language == "de-CH,de;q=0.9"),
        "{seen:?}"
    );
    // The browser got the session the shop gave haul's first HTTP request, and HTTP kept it.
    let sids: std::collections::BTreeSet<String> = seen
        .iter()
        .skip(1)
        .flat_map(|s| {
            s.cookie
                .split("; ")
                .filter(|c| c.starts_with("sid="))
                .map(String::from)
        })
        .collect();
    assert_eq!(sids.len(), 1, "one session throughout: {seen:?}");
}

/// `haul crawl --state` interrupted with Ctrl-C in the middle, then `--resume`d: the resumed
/// run goes on with the session the shop gave the first run (its cookie from the first
/// request of the resumed run, no new session).
#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_crawl_keeps_the_session_of_the_interrupted_one() {
    let (server, shop) = shop(false).await;
    shop.hold.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let state = d.join("state");
    let out = d.join("out.jsonl");
    let run = |resume: bool| {
        let mut cmd = haul_command(&["crawl", "generic", "--start-url", server.url("/").as_str()]);
        cmd.args([
            "--max-level",
            "1",
            "--extract",
            "structured",
            "--no-progress",
        ])
        .args([
            "--render",
            "never",
            "--concurrency",
            "1",
            "--grace-secs",
            "1",
        ])
        .arg("--state")
        .arg(&state)
        .arg("-o")
        .arg(&out)
        .env("RUST_LOG", "warn")
        .env("TMPDIR", d);
        if resume {
            cmd.arg("--resume");
        }
        cmd
    };
    let first = run(false).spawn().unwrap();
    // Wait until a product page hangs, then interrupt the crawl.
    let started = std::time::Instant::now();
    while !shop.seen().iter().any(|s| s.path.starts_with("/p/")) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no product asked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    haul_e2e::kill("-INT", first.id().unwrap());
    let first = haul_e2e::exited(first, 30, "the interrupted crawl exits").await;
    let first_err = stderr(&first);
    assert_eq!(shop.sessions.load(Ordering::SeqCst), 1, "{first_err}");
    let before = shop.seen().len();

    shop.hold.store(false, Ordering::SeqCst);
    let second = run(true).output().await.unwrap();
    let err = stderr(&second);
    assert!(second.status.success(), "{err}");
    let resumed = shop.seen()[before..].to_vec();
    assert!(
        !resumed.is_empty(),
        "the resumed run asked for nothing: {err}"
    );
    assert!(
        resumed.iter().all(|s| s.cookie.contains("sid=s1")),
        "the resumed run did not send the first run's session: {resumed:?}"
    );
    assert_eq!(
        shop.sessions.load(Ordering::SeqCst),
        1,
        "a new session was started"
    );
    assert_eq!(read_records(&out).len(), 3, "{err}");
}
