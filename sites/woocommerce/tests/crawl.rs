//! Crawls recorded WooCommerce Store API responses through the real runner (served on
//! 127.0.0.1:0) and snapshots the records; checks every fixture against the site contract.

use std::path::PathBuf;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use haul_core::{Document, Extractor, Url};
use haul_runner::{CrawlOptions, CrawlReport, SiteJob};
use haul_site_woocommerce::{CONTRACT, WooCommerce, page_kind};
use haul_testkit::TestServer;
use serde_json::Value;

/// The origin the fixtures were recorded under; the server rewrites it to its own address and
/// snapshots rewrite the server's address back.
const RECORDED: &str = "http://shop.test";

/// Path and query served -> fixture file.
const ROUTES: &[(&str, &str)] = &[
    ("/", "storefront.html"),
    ("/product/hoodie/", "storefront.html"),
    (
        "/wp-json/wc/store/v1/products?per_page=100&page=1",
        "products-page1.json",
    ),
    (
        "/wp-json/wc/store/v1/products?per_page=100&page=2",
        "products-page2.json",
    ),
    (
        "/wp-json/wc/store/v1/products?per_page=100&page=3",
        "products-page3-empty.json",
    ),
    (
        "/wp-json/wc/store/v1/products?slug=hoodie",
        "products-slug-hoodie.json",
    ),
    ("/wp-json/wc/store/v1/products/31", "product-31.json"),
];

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn router() -> Router {
    Router::new().fallback(|req: Request| async move {
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
        match ROUTES.iter().find(|(path, _)| *path == key) {
            Some((_, file)) => serve(file, &host).await,
            None => (StatusCode::NOT_FOUND, "not found").into_response(),
        }
    })
}

async fn serve(file: &str, host: &str) -> Response {
    let body = tokio::fs::read_to_string(fixture_path(file))
        .await
        .expect("fixture exists")
        .replace(RECORDED, &format!("http://{host}"));
    let ct = if file.ends_with(".json") {
        "application/json; charset=UTF-8"
    } else {
        "text/html; charset=UTF-8"
    };
    ([(header::CONTENT_TYPE, ct)], body).into_response()
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
        SiteJob::new(&WooCommerce, starts.iter().map(|s| server.url(s)).collect()),
        opts,
        None,
        &base,
        RECORDED,
    )
    .await
}

#[tokio::test]
async fn crawl_from_the_storefront_follows_store_api_pages() {
    let server = TestServer::start(router()).await.unwrap();
    let (records, report) = crawl(&server, &["/"]).await;
    let site = &report.sites[0];
    // storefront -> page 1 -> page 2 -> page 3 (empty, the end): one page per level.
    assert_eq!(site.levels, vec![1, 1, 1, 1], "{site:?}");
    assert_eq!(site.pages_failed, 0, "{site:?}");
    assert_eq!(records.len(), 7);
    insta::assert_json_snapshot!("storefront_crawl", records);
}

#[tokio::test]
async fn product_page_and_single_product_route_as_start_urls() {
    let server = TestServer::start(router()).await.unwrap();
    let (records, report) = crawl(
        &server,
        &["/product/hoodie/", "/wp-json/wc/store/v1/products/31"],
    )
    .await;
    let site = &report.sites[0];
    assert_eq!(site.pages_failed, 0, "{site:?}");
    // The HTML product page maps to the slug filter, which has no next page.
    assert_eq!(site.levels, vec![2, 1], "{site:?}");
    assert_eq!(
        server
            .stats()
            .hits("/wp-json/wc/store/v1/products?slug=hoodie"),
        1
    );
    assert_eq!(records.len(), 2);
    insta::assert_json_snapshot!("product_and_slug", records);
}

#[test]
fn every_fixture_keeps_the_contract_and_the_empty_page_does_not() {
    for (path, file) in ROUTES {
        let url = Url::parse(&format!("{RECORDED}{path}")).unwrap();
        let body = std::fs::read_to_string(fixture_path(file)).unwrap();
        let ex = WooCommerce
            .parse(&Document::new(url.clone(), body))
            .unwrap();
        let kind = page_kind(&url);
        let breaches = CONTRACT.check(kind, &ex);
        match *file {
            // Past the last page: no records, no next link.
            "products-page3-empty.json" => assert_eq!(breaches.len(), 2, "{url}: {breaches:?}"),
            _ => assert!(breaches.is_empty(), "{url}: {breaches:?}"),
        }
    }
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
