//! End-to-end: the crawl engine's politeness, retries and level scheduling, observed from the
//! server's side.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use haul_e2e::{
    assert_spaced, demo_crawl, demo_server, exited, haul, haul_command, haul_fails, haul_ok, kill,
    read_records, stderr, wait_until,
};
use haul_testkit::TestServer;

fn listing(links: &[String]) -> String {
    let items: String = links
        .iter()
        .map(|l| format!(r#"<li><a href="{l}">{l}</a></li>"#))
        .collect();
    format!(r#"<html><body><ul class="product-grid">{items}</ul></body></html>"#)
}

fn product(title: &str, price: &str) -> String {
    format!(
        r#"<html><body><div class="product-main"><h1>{title}</h1><span class="price-now">${price}</span></div>
<footer>Prices in USD</footer></body></html>"#
    )
}

async fn crawl(
    server: &TestServer,
    extra: &[&str],
) -> (std::process::Output, Vec<haul_core::Record>) {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let start = server.url("/");
    let out = haul_ok(&demo_crawl(start.as_str(), &out_path, extra)).await;
    let records = read_records(&out_path);
    (out, records)
}

#[tokio::test(flavor = "multi_thread")]
async fn robots_txt_is_obeyed_and_a_page_linked_twice_is_fetched_once() {
    let app = Router::new()
        .route(
            "/robots.txt",
            get(|| async { "User-agent: *\nDisallow: /product/private\n" }),
        )
        .route(
            "/",
            get(|| async {
                Html(listing(&[
                    "/product/a".into(),
                    "/product/a#again".into(),
                    "/product/a?utm_source=x".into(),
                    "/product/private-b".into(),
                ]))
            }),
        )
        .route("/product/a", get(|| async { Html(product("A", "1.00")) }))
        .route(
            "/product/private-b",
            get(|| async { Html(product("B", "2.00")) }),
        );
    let server = TestServer::start(app).await.unwrap();
    let (out, records) = crawl(&server, &[]).await;
    assert_eq!(records.len(), 1);
    assert_eq!(server.stats().hits("/product/a"), 1);
    assert_eq!(
        server.stats().hits("/product/private-b"),
        0,
        "robots.txt disallows it"
    );
    assert_eq!(
        server.stats().hits("/robots.txt"),
        1,
        "robots.txt is fetched once"
    );
    assert!(stderr(&out).contains("robots=1"), "{}", stderr(&out));

    let (_, records) = crawl(&server, &["--ignore-robots"]).await;
    assert_eq!(records.len(), 2);
    assert_eq!(server.stats().hits("/product/private-b"), 1);
}

#[derive(Default)]
struct Flaky {
    hits: Mutex<std::collections::HashMap<String, Vec<Instant>>>,
}

async fn flaky(State(s): State<Arc<Flaky>>, Path(name): Path<String>) -> Response {
    let n = {
        let mut hits = s.hits.lock().unwrap();
        let v = hits.entry(name.clone()).or_default();
        v.push(Instant::now());
        v.len()
    };
    match (name.as_str(), n) {
        ("twice-503", 1 | 2) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        ("missing", _) => StatusCode::NOT_FOUND.into_response(),
        ("slow-down", 1) => {
            let mut h = HeaderMap::new();
            h.insert(header::RETRY_AFTER, "1".parse().unwrap());
            (StatusCode::TOO_MANY_REQUESTS, h).into_response()
        }
        _ => Html(product(&name, "5.00")).into_response(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_are_retried_404_is_not_and_retry_after_is_honoured() {
    let state = Arc::new(Flaky::default());
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                Html(listing(&[
                    "/product/twice-503".into(),
                    "/product/missing".into(),
                    "/product/slow-down".into(),
                ]))
            }),
        )
        .route("/product/{name}", get(flaky))
        .with_state(state.clone());
    let server = TestServer::start(app).await.unwrap();
    let (out, records) = crawl(&server, &["--retries", "3"]).await;
    let titles: Vec<&str> = records.iter().map(|r| r.title.as_str()).collect();
    assert!(
        titles.contains(&"twice-503") && titles.contains(&"slow-down"),
        "{titles:?}"
    );
    let hits = state.hits.lock().unwrap();
    assert_eq!(hits["twice-503"].len(), 3, "two 503s, then 200");
    assert_eq!(hits["missing"].len(), 1, "a 404 is not retried");
    let slow = &hits["slow-down"];
    assert_eq!(slow.len(), 2);
    assert!(
        slow[1] - slow[0] >= Duration::from_millis(950),
        "Retry-After: 1 honoured, waited {:?}",
        slow[1] - slow[0]
    );
    let err = stderr(&out);
    assert!(err.contains("http_404=1"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn per_domain_limit_holds_and_a_slow_page_does_not_hold_up_its_level() {
    // Level 1: one slow page and many fast ones; level 2: pages linked from the fast ones.
    #[derive(Default)]
    struct Log(Mutex<Vec<(String, Instant, Instant)>>);
    let log = Arc::new(Log::default());
    async fn page(State(log): State<Arc<Log>>, Path(name): Path<String>) -> Response {
        let start = Instant::now();
        let delay = if name == "slow" { 1500 } else { 30 };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        log.0
            .lock()
            .unwrap()
            .push((name.clone(), start, Instant::now()));
        let body = if let Some(n) = name.strip_prefix("fast") {
            listing(&[format!("/l/deep{n}")])
        } else {
            product(&name, "3.00")
        };
        Html(body).into_response()
    }
    let mut level1: Vec<String> = vec!["/l/slow".into()];
    level1.extend((0..12).map(|i| format!("/l/fast{i}")));
    let app = Router::new()
        .route(
            "/",
            get(move || {
                let l = level1.clone();
                async move { Html(listing(&l)) }
            }),
        )
        .route("/l/{name}", get(page))
        .with_state(log.clone());
    let server = TestServer::start(app).await.unwrap();
    crawl(
        &server,
        &["--concurrency", "6", "--per-domain-concurrency", "2"],
    )
    .await;
    assert!(
        server.stats().max_in_flight() <= 2,
        "per-domain limit: {}",
        server.stats().max_in_flight()
    );
    assert_eq!(server.stats().max_in_flight(), 2);

    let log = log.0.lock().unwrap();
    let slow_end = log.iter().find(|(n, ..)| n == "slow").unwrap().2;
    let fast_done = log.iter().filter(|(n, ..)| n.starts_with("fast")).count();
    let fast_during_slow = log
        .iter()
        .filter(|(n, _, end)| n.starts_with("fast") && *end < slow_end)
        .count();
    assert_eq!(fast_done, 12);
    assert_eq!(
        fast_during_slow, 12,
        "every fast page of the level finished while the slow one ran"
    );
    let level1_end = log
        .iter()
        .filter(|(n, ..)| !n.starts_with("deep"))
        .map(|(_, _, end)| *end)
        .max()
        .unwrap();
    for (n, start, _) in log.iter().filter(|(n, ..)| n.starts_with("deep")) {
        assert!(
            *start >= level1_end,
            "{n} (level 2) started before level 1 finished"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_waits_at_most_the_grace_period_for_a_hung_page() {
    let app = Router::new()
        .route(
            "/",
            get(|| async { Html(listing(&["/product/quick".into(), "/product/hung".into()])) }),
        )
        .route(
            "/product/quick",
            get(|| async { Html(product("Quick", "1.00")) }),
        )
        .route(
            "/product/hung",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Html(product("Hung", "2.00"))
            }),
        );
    let server = TestServer::start(app).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.json");
    let child = haul_command(&[
        "crawl",
        "demo",
        "--grace-secs",
        "1",
        "--start-url",
        server.url("/").as_str(),
    ])
    .arg("-o")
    .arg(&out_path)
    .spawn()
    .unwrap();
    wait_until(20, "crawl did not reach the hung page", || {
        server.stats().hits("/product/hung") > 0
            && haul_output::read_records(&out_path).map_or(0, |r| r.len()) > 0
    })
    .await;
    let interrupted = Instant::now();
    kill("-INT", child.id().unwrap());
    let out = exited(child, 10, "haul exits after the grace period").await;
    let took = interrupted.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "exit took {took:?} with --grace-secs 1"
    );
    let err = stderr(&out);
    assert!(
        err.contains("aborted=1") && err.contains("interrupted"),
        "{err}"
    );
    // The JSON array is complete and valid, with the record found before the interrupt.
    let records = haul_output::read_records(&out_path).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].title, "Quick");
    let text = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap()
            .is_array()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sites_crawl_at_once_each_with_its_own_start_url() {
    let shop = demo_server(Duration::from_millis(5)).await;
    let page = r#"<html><head><script type="application/ld+json">{"@context":"https://schema.org","@type":"Product","name":"Lone Lamp","offers":{"@type":"Offer","price":"42.50","priceCurrency":"EUR"}}</script></head><body><h1>Lone Lamp</h1><button>Add to cart</button></body></html>"#;
    let other =
        TestServer::start(Router::new().route("/p/lamp", get(move || async move { Html(page) })))
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("both.jsonl");
    let demo_start = format!("demo={}", shop.url("/"));
    let generic_start = format!("generic={}", other.url("/p/lamp"));
    let out = haul_ok(&[
        "crawl",
        "demo",
        "generic",
        "--start-url",
        &demo_start,
        "--start-url",
        &generic_start,
        "--render",
        "never",
        "-o",
        out_path.to_str().unwrap(),
    ])
    .await;
    let err = stderr(&out);
    let records = read_records(&out_path);
    let demo = records.iter().filter(|r| r.site == "demo").count();
    let generic: Vec<_> = records.iter().filter(|r| r.site == "generic").collect();
    assert_eq!(demo, haul_site_demo::CATALOG.len());
    assert_eq!(generic.len(), 1);
    assert_eq!(generic[0].title, "Lone Lamp");
    assert_eq!(
        generic[0].price.map(|p| p.to_string()).as_deref(),
        Some("42.50")
    );
    assert!(
        err.contains("\ndemo ") && err.contains("\ngeneric "),
        "a line per site: {err}"
    );

    // Without SITE=, a URL that neither named site claims is a clear error.
    let err = haul_fails(&[
        "crawl",
        "demo",
        "generic",
        "--start-url",
        shop.url("/").as_str(),
    ])
    .await;
    assert!(err.contains("write it as SITE="), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn delay_spaces_requests_to_one_domain() {
    #[derive(Default)]
    struct Arrivals(Mutex<Vec<Instant>>);
    let arrivals = Arc::new(Arrivals::default());
    async fn page(State(a): State<Arc<Arrivals>>, Path(name): Path<String>) -> Response {
        a.0.lock().unwrap().push(Instant::now());
        Html(product(&name, "1.00")).into_response()
    }
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                Html(listing(
                    &(0..5).map(|i| format!("/product/p{i}")).collect::<Vec<_>>(),
                ))
            }),
        )
        .route("/product/{name}", get(page))
        .with_state(arrivals.clone());
    let server = TestServer::start(app).await.unwrap();
    let (_, records) = crawl(&server, &["--delay-ms", "200", "--concurrency", "5"]).await;
    assert_eq!(records.len(), 5);
    let times = arrivals.0.lock().unwrap().clone();
    assert_spaced(
        times,
        Duration::from_millis(180),
        "with --delay-ms 200, requests",
    );
}

/// `haul parse URL` goes through the crawl's page pipeline: robots.txt is obeyed, a transient
/// failure is retried (the validation it shares with a crawl is `Checked`'s, tested in the
/// runner).
#[tokio::test(flavor = "multi_thread")]
async fn parse_of_a_url_obeys_robots_retries_and_validates_like_a_crawl() {
    let product = |name: &str, price: &str| {
        Html(format!(
            r#"<html><head><title>{name}</title><script type="application/ld+json">
            {{"@context":"https://schema.org","@type":"Product","name":"{name}",
              "offers":{{"@type":"Offer","price":"{price}","priceCurrency":"EUR"}}}}
            </script></head><body><h1>{name}</h1></body></html>"#
        ))
    };
    let flaky = Arc::new(Mutex::new(0u32));
    let app = Router::new()
        .route(
            "/robots.txt",
            get(|| async { "User-agent: *\nDisallow: /private/\n" }),
        )
        .route(
            "/private/p",
            get(move || async move { product("Secret", "5.00") }),
        )
        .route(
            "/flaky",
            get(move || {
                let flaky = flaky.clone();
                async move {
                    let mut n = flaky.lock().unwrap();
                    *n += 1;
                    if *n == 1 {
                        StatusCode::SERVICE_UNAVAILABLE.into_response()
                    } else {
                        product("Kettle", "19.90").into_response()
                    }
                }
            }),
        );
    let server = TestServer::start(app).await.unwrap();

    let private = server.url("/private/p");
    let out = haul(&["parse", "--site", "generic", private.as_str()]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("robots"), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "nothing extracted from a disallowed page"
    );

    let flaky = server.url("/flaky");
    let out = haul_ok(&["parse", "--site", "generic", flaky.as_str()]).await;
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["title"], "Kettle");
    assert_eq!(record["price"], "19.90");
    assert_eq!(record["source"], flaky.as_str());
}
