//! In-crate tests of the level loop ([`Crawler::run`]) over a scripted fetcher on tokio's
//! paused clock: levels in order with a visited set, `max_level`, the `max_pages` budget,
//! scope and allow/deny patterns, retries of transient failures, and the grace period.

use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use tokio_util::sync::CancellationToken;

use crate::fakes::{Reply, Scripted, Tiny, jsonl_output, page, url};
use crate::{CrawlOptions, CrawlReport, Crawler, Services, SiteJob};

/// Crawls `job` over `http` with `opts`; returns the report and the records written.
async fn crawl(
    http: &Arc<Scripted>,
    opts: CrawlOptions,
    job: SiteJob,
    cancel: CancellationToken,
) -> (CrawlReport, u64) {
    let (output, _dir) = jsonl_output();
    let services = Services {
        fetcher: http.clone(),
        pages: None,
        llm: None,
    };
    let report = Crawler::new(opts, services, output.sender(), cancel)
        .run(vec![job])
        .await;
    let written = output.finish().await.unwrap();
    (report, written)
}

fn level_of(path: &str) -> u32 {
    match path {
        "/" => 0,
        "/a" | "/b" => 1,
        "/c" | "/d" => 2,
        _ => 3,
    }
}

#[tokio::test(start_paused = true)]
async fn levels_run_in_order_once_per_url_within_scope_patterns_and_max_level() {
    let http = Arc::new(Scripted::new([
        (
            "/",
            vec![Reply::ok(page(
                &["root"],
                // A duplicate, a multi-letter path (not allowed), /z (denied) and an
                // out-of-scope host.
                &[
                    "/a",
                    "/b",
                    "/a#top",
                    "/out",
                    "/z",
                    "http://elsewhere.test/a",
                ],
            ))],
        ),
        // /a is slow: level 2 must still wait for it.
        (
            "/a",
            vec![Reply::ok(page(&["a"], &["/", "/c"])).after(Duration::from_secs(5))],
        ),
        ("/b", vec![Reply::ok(page(&["b"], &["/c", "/d"]))]),
        ("/c", vec![Reply::ok(page(&["c"], &["/e"]))]),
        ("/d", vec![Reply::ok(page(&[], &["/e"]))]),
    ]));
    let mut job = SiteJob::new(&Tiny, vec![url("/")]);
    job.allow = vec![Regex::new(r"shop\.test/[a-z]?$").unwrap()];
    job.deny = vec![Regex::new(r"/z$").unwrap()];
    let opts = CrawlOptions {
        max_level: 2,
        ..CrawlOptions::default()
    };
    let (report, written) = crawl(&http, opts, job, CancellationToken::new()).await;

    let paths = http.paths();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["/", "/a", "/b", "/c", "/d"],
        "each URL once: {paths:?}"
    );
    assert!(
        paths.windows(2).all(|w| level_of(&w[0]) <= level_of(&w[1])),
        "levels out of order: {paths:?}"
    );
    let site = &report.sites[0];
    assert_eq!(site.levels, [1, 2, 2]);
    assert_eq!((site.pages_ok, site.pages_failed), (5, 0));
    assert_eq!((site.records, written), (4, 4));
    assert_eq!(site.status.get(&200), Some(&5));
    assert!(!report.interrupted);
}

#[tokio::test(start_paused = true)]
async fn max_pages_stops_scheduling_over_levels() {
    let links: Vec<String> = (0..10).map(|n| format!("/p/{n}")).collect();
    let links: Vec<&str> = links.iter().map(String::as_str).collect();
    let mut script = vec![("/", vec![Reply::ok(page(&[], &links))])];
    for l in &links {
        script.push((
            l,
            vec![Reply::ok(page(&["p"], &[])).after(Duration::from_millis(50))],
        ));
    }
    let http = Arc::new(Scripted::new(script));
    let opts = CrawlOptions {
        max_pages: Some(4),
        concurrency: 2,
        ..CrawlOptions::default()
    };
    let job = SiteJob::new(&Tiny, vec![url("/")]);
    let (report, written) = crawl(&http, opts, job, CancellationToken::new()).await;
    assert_eq!(http.paths().len(), 4, "{:?}", http.paths());
    assert!(http.peak() <= 2);
    let site = &report.sites[0];
    assert_eq!((site.pages_ok, site.levels.clone()), (4, vec![1, 3]));
    assert_eq!(written, 3);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_honouring_retry_after_and_a_404_is_not() {
    let http = Arc::new(Scripted::new([
        (
            "/flaky",
            vec![
                Reply::status(503),
                Reply::status(503),
                Reply::ok(page(&["f"], &[])),
            ],
        ),
        ("/gone", vec![Reply::status(404)]),
        (
            "/busy",
            vec![
                Reply {
                    retry_after: Some(7),
                    ..Reply::status(429)
                },
                Reply::ok(page(&["b"], &[])),
            ],
        ),
    ]));
    let opts = CrawlOptions {
        max_level: 0,
        retries: 3,
        retry_base: Duration::from_millis(10),
        ..CrawlOptions::default()
    };
    let job = SiteJob::new(&Tiny, vec![url("/flaky"), url("/gone"), url("/busy")]);
    let (report, written) = crawl(&http, opts, job, CancellationToken::new()).await;
    let site = &report.sites[0];
    assert_eq!((site.pages_ok, site.pages_failed, written), (2, 1, 2));
    assert_eq!(site.retries, 3);
    assert_eq!(
        site.retry_kinds.get(&haul_core::FailureKind::Http(503)),
        Some(&2)
    );
    assert_eq!(
        site.retry_kinds.get(&haul_core::FailureKind::Http(429)),
        Some(&1)
    );
    assert_eq!(site.retry_kinds.len(), 2, "{:?}", site.retry_kinds);
    assert_eq!(
        site.errors.get(&haul_core::FailureKind::Http(404)),
        Some(&1)
    );
    assert_eq!(http.times("/gone").len(), 1, "a 404 is not retried");
    let flaky = http.times("/flaky");
    assert_eq!(flaky.len(), 3);
    // Backoff from 10 ms, doubled, with ±50% jitter: never the server's 7 s.
    assert!(flaky[2] - flaky[0] < Duration::from_secs(1), "{flaky:?}");
    let busy = http.times("/busy");
    assert_eq!(busy.len(), 2);
    assert!(
        busy[1] - busy[0] >= Duration::from_secs(7),
        "Retry-After honoured"
    );
    assert_eq!(site.status.get(&404), Some(&1));
    assert_eq!(site.status.get(&200), Some(&2));
}

#[tokio::test(start_paused = true)]
async fn cancelling_lets_pages_in_flight_finish_within_grace_and_aborts_the_rest() {
    let slow = Duration::from_secs(3);
    let mut script = vec![
        (
            "/slow1",
            vec![Reply::ok(page(&["s1"], &["/next"])).after(slow)],
        ),
        ("/slow2", vec![Reply::ok(page(&["s2"], &[])).after(slow)]),
        // Outlives the grace period (but not the page timeout, which would fail it first).
        (
            "/stuck",
            vec![Reply::ok(page(&["x"], &[])).after(Duration::from_secs(50))],
        ),
    ];
    let queued: Vec<String> = (0..5).map(|n| format!("/q{n}")).collect();
    for q in &queued {
        script.push((q, vec![Reply::ok(page(&["q"], &[]))]));
    }
    let http = Arc::new(Scripted::new(script));
    let opts = CrawlOptions {
        max_level: 1,
        concurrency: 3,
        grace: Duration::from_secs(10),
        page_timeout: Duration::from_secs(120),
        ..CrawlOptions::default()
    };
    let mut starts = vec![url("/slow1"), url("/slow2"), url("/stuck")];
    starts.extend(queued.iter().map(|q| url(q)));
    let job = SiteJob::new(&Tiny, starts);
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.cancel();
    });
    let started = tokio::time::Instant::now();
    let (report, written) = crawl(&http, opts, job, cancel).await;
    let took = started.elapsed();

    assert!(report.interrupted);
    assert_eq!(
        http.paths(),
        ["/slow1", "/slow2", "/stuck"],
        "nothing new is scheduled after the cancel"
    );
    let site = &report.sites[0];
    assert_eq!((site.pages_ok, written), (2, 2), "pages in flight finished");
    assert_eq!(site.pages_failed, 1);
    assert_eq!(site.errors.get(&haul_core::FailureKind::Aborted), Some(&1));
    // Cancelled at 1 s, aborted when the grace period ran out at 11 s.
    assert!(
        took >= Duration::from_secs(11) && took < Duration::from_secs(12),
        "{took:?}"
    );
}

/// [`Tiny`] as a buggy, slow site would be: extracting `/boom` panics (outside the blocking
/// parse, which maps its own panics), and the records come from slow work handed to
/// [`haul_core::Context::later`] (as an LLM answer would): 30 s for pages under `/slow`, a
/// panic for `/later-boom`, at once otherwise.
struct Quirky;

#[haul_core::async_trait]
impl haul_core::Extractor for Quirky {
    fn name(&self) -> &'static str {
        "tiny"
    }
    fn parse(
        &self,
        doc: &haul_core::Document,
    ) -> Result<haul_core::Extraction, haul_core::ExtractError> {
        Tiny.parse(doc)
    }
    async fn extract(
        &self,
        cx: &haul_core::Context,
        doc: haul_core::Document,
    ) -> Result<haul_core::Extraction, haul_core::ExtractError> {
        let path = doc.url.path().to_string();
        assert!(path != "/boom", "a buggy extractor");
        let mut ex = cx.parse(doc).await?;
        let records = std::mem::take(&mut ex.records);
        let work = async move {
            if path.starts_with("/slow") {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            assert!(path != "/later-boom", "a buggy LLM step");
            haul_core::Extraction {
                records,
                ..haul_core::Extraction::default()
            }
        };
        Ok(cx.later(ex, work).await)
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_page_is_a_failed_page_and_the_crawl_goes_on() {
    let http = Arc::new(Scripted::new([
        ("/", vec![Reply::ok(page(&["root"], &["/boom", "/a"]))]),
        ("/boom", vec![Reply::ok(page(&["never"], &["/b"]))]),
        ("/a", vec![Reply::ok(page(&["a"], &["/c"]))]),
        ("/c", vec![Reply::ok(page(&["c"], &[]))]),
    ]));
    let opts = CrawlOptions {
        // One slot: the page after the panic is taken by the same loop.
        concurrency: 1,
        ..CrawlOptions::default()
    };
    let job = SiteJob::new(&Quirky, vec![url("/")]);
    let (report, written) = crawl(&http, opts, job, CancellationToken::new()).await;
    let site = &report.sites[0];
    assert_eq!(written, 3, "/, /a and /c");
    assert_eq!((site.pages_ok, site.pages_failed), (3, 1));
    assert_eq!(site.errors.get(&haul_core::FailureKind::Panic), Some(&1));
    assert_eq!(site.levels, [1, 2, 1]);
    assert!(!http.paths().contains(&"/b".to_string()));
}

#[tokio::test(start_paused = true)]
async fn a_slow_extraction_does_not_hold_the_next_levels_fetches() {
    let http = Arc::new(Scripted::new([
        ("/", vec![Reply::ok(page(&["root"], &["/slow", "/a"]))]),
        ("/slow", vec![Reply::ok(page(&["slow"], &["/b"]))]),
        ("/a", vec![Reply::ok(page(&["a"], &["/c"]))]),
        ("/b", vec![Reply::ok(page(&["b"], &["/later-boom"]))]),
        ("/c", vec![Reply::ok(page(&["c"], &[]))]),
        ("/later-boom", vec![Reply::ok(page(&["boom"], &[]))]),
    ]));
    let opts = CrawlOptions {
        concurrency: 2,
        ..CrawlOptions::default()
    };
    let job = SiteJob::new(&Quirky, vec![url("/")]);
    let started = tokio::time::Instant::now();
    let (report, written) = crawl(&http, opts, job, CancellationToken::new()).await;
    let took = started.elapsed();

    // /slow (level 1) waits 30 s for its records; its link /b (level 2) and the rest of the
    // crawl are fetched at once.
    let slow = http.times("/slow")[0];
    for later_level in ["/b", "/c", "/later-boom"] {
        let at = http.times(later_level)[0];
        assert!(
            at - slow < Duration::from_secs(1),
            "{later_level} fetched {:?} after /slow",
            at - slow
        );
    }
    let site = &report.sites[0];
    assert_eq!(written, 5, "every record, the slow one included");
    assert_eq!((site.pages_ok, site.pages_failed), (5, 1));
    assert_eq!(site.errors.get(&haul_core::FailureKind::Panic), Some(&1));
    assert_eq!(site.levels, [1, 2, 2, 1]);
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(31),
        "the crawl waits for the slow records: {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn pages_still_finishing_get_the_grace_period_then_count_as_aborted() {
    let http = Arc::new(Scripted::new([
        ("/", vec![Reply::ok(page(&["root"], &["/slow", "/slower"]))]),
        ("/slow", vec![Reply::ok(page(&["slow"], &[]))]),
        ("/slower", vec![Reply::ok(page(&["slower"], &[]))]),
    ]));
    let opts = CrawlOptions {
        concurrency: 1,
        grace: Duration::from_secs(40),
        ..CrawlOptions::default()
    };
    let job = SiteJob::new(&Quirky, vec![url("/")]);
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.cancel();
    });
    let (report, written) = crawl(&http, opts, job, cancel).await;
    // Both level-1 pages were fetched at once by the one loop and finish within the grace
    // period (30 s of work < 40 s).
    assert!(report.interrupted);
    assert_eq!(written, 3);
    assert_eq!(report.sites[0].pages_ok, 3);

    let http = Arc::new(Scripted::new([
        ("/", vec![Reply::ok(page(&["root"], &["/slow"]))]),
        ("/slow", vec![Reply::ok(page(&["slow"], &[]))]),
    ]));
    let opts = CrawlOptions {
        grace: Duration::from_secs(5),
        ..CrawlOptions::default()
    };
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.cancel();
    });
    let job = SiteJob::new(&Quirky, vec![url("/")]);
    let (report, written) = crawl(&http, opts, job, cancel).await;
    let site = &report.sites[0];
    assert_eq!(written, 1, "only /");
    assert_eq!((site.pages_ok, site.pages_failed), (1, 1));
    assert_eq!(site.errors.get(&haul_core::FailureKind::Aborted), Some(&1));
}

/// A bot wall's challenge page with a decoy product the extractor would take.
fn wall(vendor_markup: &str) -> String {
    format!("<html><head>{vendor_markup}</head><body><b class=\"price\">decoy</b></body></html>")
}

#[tokio::test(start_paused = true)]
async fn blocks_pause_the_domain_with_growing_backoff_then_stop_it() {
    let cloudflare = wall("<title>Just a moment...</title><script>window._cf_chl_opt={}</script>");
    let perimeterx =
        wall("<title>Access to this page has been denied</title><div id=\"px-captcha\"></div>");
    let http = Arc::new(Scripted::new([
        (
            "/",
            vec![Reply::ok(page(&["root"], &["/a", "/b", "/c", "/d", "/e"]))],
        ),
        (
            "/a",
            vec![Reply {
                body: cloudflare.clone(),
                ..Reply::status(403)
            }],
        ),
        ("/b", vec![Reply::ok(perimeterx)]),
        (
            "/c",
            vec![Reply {
                body: cloudflare,
                ..Reply::status(403)
            }],
        ),
    ]));
    let opts = CrawlOptions {
        concurrency: 1,
        max_level: 1,
        retries: 1,
        retry_base: Duration::from_millis(100),
        blocks: crate::BreakerOptions {
            pause_after: 2,
            stop_after: 5,
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(100),
        },
        ..CrawlOptions::default()
    };
    let job = SiteJob::new(&Tiny, vec![url("/")]);
    let (report, written) = crawl(&http, opts, job, CancellationToken::new()).await;

    // No record from any challenge page.
    assert_eq!(written, 1);
    let site = &report.sites[0];
    assert_eq!(site.records, 1);
    // /a twice (2nd block: pause 10 s), /b twice (pauses 20 s, 40 s), /c once (5th: stop).
    assert_eq!(http.paths(), ["/", "/a", "/a", "/b", "/b", "/c"]);
    let gap = |a: tokio::time::Instant, b: tokio::time::Instant| b - a;
    let (a, b, c) = (http.times("/a"), http.times("/b"), http.times("/c"));
    assert!(
        gap(a[0], a[1]) < Duration::from_secs(1),
        "first retry as usual"
    );
    assert!(
        gap(a[1], b[0]) >= Duration::from_secs(10),
        "{:?}",
        gap(a[1], b[0])
    );
    assert!(gap(b[0], b[1]) >= Duration::from_secs(20));
    assert!(gap(b[1], c[0]) >= Duration::from_secs(40));
    assert!(gap(b[1], c[0]) < Duration::from_secs(41));

    let kinds = |k: &str| site.errors.get(&k.parse().unwrap()).copied();
    assert_eq!(kinds("blocked"), Some(3));
    assert_eq!(kinds("domain_stopped"), Some(2));
    assert_eq!(site.blocks.get("cloudflare"), Some(&3));
    assert_eq!(site.blocks.get("perimeterx"), Some(&2));
    assert_eq!(site.block_pauses, 3);
    let stop = &site.block_stops["shop.test"];
    assert_eq!((stop.blocks, stop.url.as_str()), (5, "http://shop.test/c"));
    let printed = report.to_string();
    assert!(
        printed.contains("STOPPED: shop.test blocked 5 times in a row (last by cloudflare on http://shop.test/c) at 20"),
        "{printed}"
    );
    assert!(
        printed.contains("blocked: cloudflare=3 perimeterx=2"),
        "{printed}"
    );
    let json = serde_json::to_value(site).unwrap();
    assert_eq!(json["errors"]["blocked"], 3);
    assert_eq!(json["block_stops"]["shop.test"]["blocks"], 5);
}
