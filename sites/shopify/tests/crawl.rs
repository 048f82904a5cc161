//! Crawls recorded Shopify responses through the real runner (served on 127.0.0.1:0) and
//! snapshots the records; checks every fixture against the site contract.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use haul_core::{Context, Document, Extractor, Url};
use haul_runner::{CrawlOptions, CrawlReport, HttpFetcher, HttpOptions, SiteJob};
use haul_site_shopify::{CONTRACT, SHOPIFY, Shopify, page_kind};
use haul_testkit::TestServer;
use serde_json::Value;

/// The origin the fixtures were recorded under; the server rewrites it to its own address and
/// snapshots rewrite the server's address back.
const RECORDED: &str = "http://shop.test";

/// Path and query served -> fixture file.
const ROUTES: &[(&str, &str)] = &[
    ("/", "storefront.html"),
    ("/products.json?limit=250&page=1", "products-page1.json"),
    ("/products.json?limit=250&page=2", "products-page2.json"),
    (
        "/products.json?limit=250&page=3",
        "products-page3-empty.json",
    ),
    (
        "/collections/summer/products.json?limit=250&page=1",
        "collection-summer-page1.json",
    ),
    (
        "/collections/summer/products.json?limit=250&page=2",
        "products-page3-empty.json",
    ),
    (
        "/products/classic-cotton-tee.json",
        "product-classic-cotton-tee.json",
    ),
    ("/meta.json", "meta.json"),
];

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Serves the fixtures; `/meta.json` only when `with_meta`.
fn router(with_meta: bool) -> Router {
    Router::new().fallback(move |req: Request| async move {
        let key = req
            .uri()
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_string();
        let Some((_, file)) = ROUTES
            .iter()
            .find(|(path, _)| *path == key && (with_meta || *path != "/meta.json"))
        else {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        };
        serve(file, &host).await
    })
}

async fn serve(file: &str, host: &str) -> Response {
    let body = tokio::fs::read_to_string(fixture_path(file))
        .await
        .expect("fixture exists")
        .replace(RECORDED, &format!("http://{host}"));
    let ct = if file.ends_with(".json") {
        "application/json; charset=utf-8"
    } else {
        "text/html; charset=utf-8"
    };
    ([(header::CONTENT_TYPE, ct)], body).into_response()
}

/// A Shopify extractor with its own store-currency cache, so that a test never sees what
/// another test's server (possibly on the same port earlier) told the shared [`SHOPIFY`].
fn fresh() -> &'static Shopify {
    Box::leak(Box::new(Shopify::new()))
}

/// Runs the real crawler from `starts` and returns the written records (sorted, with the
/// server's address replaced by [`RECORDED`] and `seen_at` removed) and the report.
async fn crawl(server: &TestServer, starts: &[&str]) -> (Vec<Value>, CrawlReport) {
    let opts = CrawlOptions {
        max_level: 6,
        retries: 0,
        ..CrawlOptions::default()
    };
    let base = format!("http://{}", server.addr());
    haul_testkit::crawl_site(
        SiteJob::new(fresh(), starts.iter().map(|s| server.url(s)).collect()),
        opts,
        None,
        &base,
        RECORDED,
    )
    .await
}

#[tokio::test]
async fn crawl_from_the_storefront_follows_products_json_pages() {
    let server = TestServer::start(router(true)).await.unwrap();
    let (records, report) = crawl(&server, &["/"]).await;
    let site = &report.sites[0];
    // storefront -> page 1 -> page 2 -> page 3 (empty, the end): one page per level.
    assert_eq!(site.levels, vec![1, 1, 1, 1], "{site:?}");
    assert_eq!(site.pages_failed, 0, "{site:?}");
    assert_eq!(records.len(), 8);
    assert!(records.iter().all(|r| r["currency"] == "USD"));
    // The store currency is read once, not per page.
    assert_eq!(server.stats().hits("/meta.json"), 1);
    insta::assert_json_snapshot!("storefront_crawl", records);
}

#[tokio::test]
async fn collection_and_product_endpoints_as_start_urls() {
    let server = TestServer::start(router(true)).await.unwrap();
    let (records, report) = crawl(
        &server,
        &[
            "/collections/summer/products.json?limit=250&page=1",
            "/products/classic-cotton-tee.json",
        ],
    )
    .await;
    let site = &report.sites[0];
    assert_eq!(site.pages_failed, 0, "{site:?}");
    assert_eq!(site.levels, vec![2, 1], "{site:?}");
    assert_eq!(server.stats().hits("/products.json?limit=250&page=1"), 0);
    assert_eq!(records.len(), 3);
    insta::assert_json_snapshot!("collection_and_product", records);
}

#[tokio::test]
async fn without_meta_json_only_stated_currencies_are_set() {
    let server = TestServer::start(router(false)).await.unwrap();
    let fetcher = HttpFetcher::new(&HttpOptions::default()).unwrap();
    let shopify = fresh();
    let cx = Context::new(shopify, Arc::new(fetcher));
    let fetch = |path: &str| cx.fetch(server.url(path));
    let listing = fetch("/products.json?limit=250&page=1").await.unwrap();
    let ex = shopify.extract(&cx, listing).await.unwrap();
    assert_eq!(ex.records.len(), 6);
    assert!(ex.records.iter().all(|r| r.currency.is_none()));
    assert_eq!(ex.warnings.len(), 1, "{:?}", ex.warnings);
    let w = ex.warnings[0].to_string();
    assert!(w.contains("/meta.json") && w.contains("404"), "{w}");
    // The product endpoint states its currency itself.
    let product = fetch("/products/classic-cotton-tee.json").await.unwrap();
    let ex = shopify.extract(&cx, product).await.unwrap();
    assert!(
        ex.records
            .iter()
            .all(|r| r.currency.map(|c| c.to_string()).as_deref() == Some("USD"))
    );
    // A 404 is remembered: meta.json is asked for once.
    let again = fetch("/products.json?limit=250&page=2").await.unwrap();
    let ex = shopify.extract(&cx, again).await.unwrap();
    assert!(ex.warnings.is_empty(), "{:?}", ex.warnings);
    assert_eq!(server.stats().hits("/meta.json"), 1);
}

#[test]
fn every_fixture_keeps_the_contract_and_the_empty_page_does_not() {
    let mut checked = 0;
    for (path, file) in ROUTES {
        if *file == "meta.json" {
            continue;
        }
        let url = Url::parse(&format!("{RECORDED}{path}")).unwrap();
        let body = std::fs::read_to_string(fixture_path(file)).unwrap();
        let ex = SHOPIFY.parse(&Document::new(url.clone(), body)).unwrap();
        let breaches = CONTRACT.check(page_kind(&url), &ex);
        if *file == "products-page3-empty.json" {
            // Past the last page: no records, no next link. The contract says a good products
            // page is not like this, which is what lets it flag a broken endpoint.
            assert_eq!(breaches.len(), 2, "{url}: {breaches:?}");
        } else {
            assert!(breaches.is_empty(), "{url}: {breaches:?}");
        }
        checked += 1;
    }
    assert_eq!(checked, ROUTES.len() - 1);
    // Every page kind of the contract is exercised by some fixture.
    for page in CONTRACT.pages {
        assert!(
            ROUTES.iter().any(|(p, _)| {
                page_kind(&Url::parse(&format!("{RECORDED}{p}")).unwrap()) == page.kind
            }),
            "no fixture of kind {}",
            page.kind
        );
    }
}
