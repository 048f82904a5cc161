//! Crawls recorded Slickdeals pages through the real runner (served on 127.0.0.1:0): the
//! static front page over HTTP, and the script-built front page through a stand-in page pool
//! (the runner's `Auto` render path); checks every fixture against the site contract.

use std::sync::{Arc, Mutex};

use axum::Router;
use haul_core::{Document, NavOptions, Page, PageError, PageHandle, PagePool, Url, async_trait};
use haul_runner::CrawlReport;
use haul_site_slickdeals::{CARD_SELECTOR, Slickdeals};
use haul_testkit::{Fixtures, Reply, TestServer};
use serde_json::Value;

/// The fixtures, recorded under `https://slickdeals.net`; the server rewrites that origin to
/// its own address and records get it back.
const FIXTURES: Fixtures = Fixtures::new(env!("CARGO_MANIFEST_DIR"), "https://slickdeals.net");

/// Deal pages served (path -> fixture). The fifth front-page deal has no page: a removed
/// thread answers 404.
const DEALS: &[(&str, &str)] = &[
    (
        "/f/17876543-apple-airpods-pro-2-usb-c-169-99-free-shipping",
        "deal-17876543.html",
    ),
    (
        "/f/17876601-65-samsung-du7200-crystal-uhd-4k-smart-tv-399-99",
        "deal-17876601.html",
    ),
    (
        "/f/17876655-free-pc-game-hogwarts-legacy-epic-games",
        "deal-17876655.html",
    ),
    (
        "/f/17876702-costco-members-extra-20-off-select-patio-furniture",
        "deal-17876702.html",
    ),
];

/// Serves `front` at `/` and the deal pages.
fn router(front: &'static str) -> Router {
    FIXTURES.router(move |url| {
        let file = if url.path() == "/" {
            Some(front)
        } else {
            DEALS
                .iter()
                .find(|(p, _)| *p == url.path())
                .map(|(_, f)| *f)
        };
        file.map_or(
            Reply::NotFound("This thread has been removed."),
            Reply::Fixture,
        )
    })
}

/// Navigations seen by the stand-in pages: (path, `wait_for` selector).
type NavLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A stand-in browser page: "rendering" the script-built front page gives the DOM its script
/// builds (the static front page's cards), as a browser would. Records every navigation.
struct ScriptRunningPage {
    dom: String,
    log: NavLog,
}

#[async_trait]
impl Page for ScriptRunningPage {
    async fn render(&mut self, url: &Url, opts: &NavOptions) -> Result<Document, PageError> {
        self.log
            .lock()
            .unwrap()
            .push((url.path().to_string(), opts.wait_for.clone()));
        let mut doc = Document::new(url.clone(), self.dom.clone());
        doc.rendered = true;
        Ok(doc)
    }
}

struct StandInPool {
    dom: String,
    log: NavLog,
}

#[async_trait]
impl PagePool for StandInPool {
    async fn acquire(&self) -> Result<PageHandle, PageError> {
        let page = ScriptRunningPage {
            dom: self.dom.clone(),
            log: self.log.clone(),
        };
        Ok(PageHandle::new(Box::new(page), |_, _| {}))
    }
}

/// Runs the real crawler from `/` (down to level 2) and returns the written records (sorted,
/// with the server's address replaced by the recorded origin and `seen_at` removed) and the
/// report.
async fn crawl(server: &TestServer, pages: Option<Arc<dyn PagePool>>) -> (Vec<Value>, CrawlReport) {
    crawl_to(server, pages, 2).await
}

/// [`crawl`] down to `max_level`.
async fn crawl_to(
    server: &TestServer,
    pages: Option<Arc<dyn PagePool>>,
    max_level: u32,
) -> (Vec<Value>, CrawlReport) {
    FIXTURES
        .crawl(server, &Slickdeals, &["/"], max_level, pages)
        .await
}

#[tokio::test]
async fn static_front_page_and_deal_pages_over_http() {
    let server = TestServer::start(router("frontpage.html")).await.unwrap();
    let (records, report) = crawl(&server, None).await;
    let site = &report.sites[0];
    assert_eq!(site.levels, vec![1, 5], "{site:?}");
    // The removed thread fails alone; the rest of its level goes on.
    assert_eq!(site.pages_failed, 1, "{site:?}");
    assert_eq!(
        site.errors.get(&haul_core::FailureKind::Http(404)),
        Some(&1),
        "{site:?}"
    );
    assert_eq!(site.rendered, 0);
    // The front page gives the links and only the record of the card without a deal page;
    // the four deal pages give their full records. The removed thread's deal is gone.
    let from_cards: Vec<&str> = records
        .iter()
        .filter(|r| r["source"].is_string())
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(from_cards, ["Samsung 990 EVO 2TB PCIe 4.0 NVMe SSD"]);
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|r| r["kind"] == "deal"));
    assert!(
        !records
            .iter()
            .any(|r| r["title"].as_str().unwrap().contains("Mainstays"))
    );
    // What only deal pages have survives: votes, posting time, store, "See Deal" link, and
    // the list price where the page shows one.
    // (deal id, votes, posted at, store, list price)
    let want = [
        (
            "17876543",
            245,
            "2024-12-03T15:14:00-05:00",
            "Amazon",
            Some("249.00"),
        ),
        ("17876601", 87, "", "Best Buy", Some("529.99")),
        (
            "17876655",
            -4,
            "2024-12-03T11:00:00+00:00",
            "Epic Games Store",
            None,
        ),
        ("17876702", 19, "2024-12-02T19:45:10-08:00", "Costco", None),
    ];
    let deal_pages: Vec<&Value> = records.iter().filter(|r| r["source"].is_null()).collect();
    assert_eq!(deal_pages.len(), want.len());
    for (r, (id, votes, posted, store, list)) in deal_pages.into_iter().zip(want) {
        assert!(
            r["url"].as_str().unwrap().contains(&format!("/f/{id}-")),
            "{r}"
        );
        assert_eq!(r["votes"], votes, "{r}");
        if !posted.is_empty() {
            assert_eq!(r["posted_at"], posted, "{r}");
        }
        assert_eq!(r["merchant"], store, "{r}");
        assert_eq!(r["list_price"].as_str(), list, "{r}");
        assert!(r["deal_url"].is_string(), "{r}");
    }
    insta::assert_json_snapshot!("static_crawl", records);
}

#[tokio::test]
async fn at_max_level_0_the_front_page_cards_are_the_records() {
    let server = TestServer::start(router("frontpage.html")).await.unwrap();
    let (records, report) = crawl_to(&server, None, 0).await;
    let site = &report.sites[0];
    assert_eq!(site.levels, vec![1], "{site:?}");
    assert_eq!(server.stats().requests(), 1);
    // Every card with a price, deal page or not (the Costco card has none).
    assert_eq!(records.len(), 5);
    assert!(
        records
            .iter()
            .all(|r| r["source"] == "https://slickdeals.net/")
    );
    let titles: Vec<&str> = records
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"2-Pack Mainstays Microfiber Bed Pillows (Standard/Queen)"));
    insta::assert_json_snapshot!("front_page_only", records);
}

#[tokio::test]
async fn script_built_front_page_is_rendered_and_gives_the_same_records() {
    let static_server = TestServer::start(router("frontpage.html")).await.unwrap();
    let (want, _) = crawl(&static_server, None).await;

    let server = TestServer::start(router("frontpage-script.html"))
        .await
        .unwrap();
    let base = format!("http://{}", server.addr());
    let log = Arc::new(Mutex::new(Vec::new()));
    let pool = StandInPool {
        dom: FIXTURES.read_at("frontpage.html", &base).await,
        log: log.clone(),
    };
    let (records, report) = crawl(&server, Some(Arc::new(pool))).await;
    let site = &report.sites[0];
    // Only the front page needed the browser (HTTP gave nothing and it looks script-built);
    // deal pages are plain HTTP.
    assert_eq!(site.rendered, 1, "{site:?}");
    assert_eq!(
        *log.lock().unwrap(),
        vec![("/".to_string(), Some(CARD_SELECTOR.to_string()))]
    );
    assert_eq!(server.stats().hits("/"), 1);
    assert_eq!(site.levels, vec![1, 5], "{site:?}");
    assert_eq!(records, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn script_built_front_page_in_real_chromium_gives_the_cards_its_script_builds() {
    let server = TestServer::start(router("frontpage-script.html"))
        .await
        .unwrap();
    let cfg = haul_browser::BrowserConfig {
        browsers: 1,
        pages_per_browser: 2,
        ..haul_browser::BrowserConfig::local()
    };
    let pool = haul_browser::BrowserPool::new(cfg).expect("Chromium is installed (CI installs it)");
    let pages: Arc<dyn PagePool> = pool.clone();
    let (records, report) = crawl(&server, Some(pages)).await;
    pool.close().await;
    let site = &report.sites[0];
    assert_eq!(
        site.rendered, 1,
        "only the script-built front page is rendered: {site:?}"
    );
    // The fixture's script builds two cards (from its inline JSON); each links to a deal page
    // fetched over plain HTTP at level 1, which gives the deal's record (its title names the
    // price; the posting time only the deal page has).
    assert_eq!(site.levels, vec![1, 2], "{site:?}");
    let got: Vec<(&str, &str, &str, bool)> = records
        .iter()
        .map(|r| {
            (
                r["title"].as_str().unwrap_or(""),
                r["price"].as_str().unwrap_or(""),
                r["merchant"].as_str().unwrap_or(""),
                r["source"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "Apple AirPods Pro 2 Wireless Earbuds (USB-C) $169.99 + Free Shipping",
                "169.99",
                "Amazon",
                true
            ),
            (
                "65\" Samsung DU7200 Crystal UHD 4K Smart TV $399.99",
                "399.99",
                "Best Buy",
                true
            ),
        ]
    );
    assert_eq!(records[0]["posted_at"], "2024-12-03T15:14:00-05:00");
    assert!(pool.pids().is_empty(), "the browser is closed");
}

#[tokio::test]
async fn script_built_front_page_without_a_browser_yields_nothing() {
    let server = TestServer::start(router("frontpage-script.html"))
        .await
        .unwrap();
    let (records, report) = crawl(&server, None).await;
    let site = &report.sites[0];
    assert!(records.is_empty(), "{records:?}");
    assert_eq!(site.levels, vec![1], "{site:?}");
    assert_eq!((site.pages_ok, site.rendered), (1, 0), "{site:?}");
}

#[test]
fn every_fixture_keeps_the_contract_except_the_script_built_page() {
    let mut pages: Vec<(&str, &str)> = vec![
        ("/", "frontpage.html"),
        ("/", "frontpage-blueprint.html"),
        ("/", "frontpage-script.html"),
    ];
    pages.extend_from_slice(DEALS);
    // Over HTTP a script-built listing has no links.
    FIXTURES.check_contracts(&Slickdeals, &pages, &["frontpage-script.html"]);
}
