//! Crawls recorded WooCommerce Store API responses through the real runner (served on
//! 127.0.0.1:0) and snapshots the records; checks every fixture against the site contract.

use std::path::PathBuf;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use haul_core::{Document, Extractor, Url};
use haul_runner::{CrawlOptions, CrawlReport, SiteJob};
use haul_site_woocommerce::{PAGING, WooCommerce};
use haul_testkit::TestServer;
use serde_json::Value;

/// The origin the fixtures were recorded under; the server rewrites it to its own address and
/// snapshots rewrite the server's address back.
const RECORDED: &str = "http://shop.test";

/// Path and query served -> fixture file.
const ROUTES: &[(&str, &str)] = &[
    ("/", "storefront.html"),
    ("/product/hoodie/", "storefront.html"),
    // Pages of 5 products: page 1 is full, page 2 (two products) is the last.
    (
        "/wp-json/wc/store/v1/products?per_page=5&page=1",
        "products-page1.json",
    ),
    (
        "/wp-json/wc/store/v1/products?per_page=5&page=2",
        "products-page2.json",
    ),
    (
        "/wp-json/wc/store/v1/products?per_page=5&page=3",
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

/// Runs the real crawler from `starts` down to `max_level` and returns the written records
/// (sorted, with the server's address replaced by [`RECORDED`] and `seen_at` removed) and the
/// report.
async fn crawl(server: &TestServer, starts: &[&str], max_level: u32) -> (Vec<Value>, CrawlReport) {
    let opts = CrawlOptions {
        max_level,
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
async fn store_api_pages_are_read_within_one_crawl_level() {
    let server = TestServer::start(router()).await.unwrap();
    let (records, report) = crawl(
        &server,
        &["/wp-json/wc/store/v1/products?per_page=5&page=1"],
        0,
    )
    .await;
    let site = &report.sites[0];
    // One page for the crawl: page 2 is read inside page 1's extraction, and is short, so
    // the empty page 3 is never asked for.
    assert_eq!(site.levels, vec![1], "{site:?}");
    assert_eq!((site.pages_failed, site.warnings), (0, 0), "{site:?}");
    assert_eq!(
        [1, 2, 3].map(|n| server.stats().hits(&format!(
            "/wp-json/wc/store/v1/products?per_page=5&page={n}"
        ))),
        [1, 1, 0]
    );
    assert_eq!(records.len(), 7);
    insta::assert_json_snapshot!("products_pages", records);
}

/// A generated store of `products` simple products: the recorded storefront at `/` and the
/// Store API products route in pages (`per_page`, 10 by default, at most 100, and `page`).
/// Product `n` is `product-<n>`, titled `Product <n>`, priced `<n>.99` USD.
fn catalogue(products: u64) -> Router {
    Router::new().fallback(move |req: Request| async move {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_string();
        match req.uri().path() {
            "/" => serve("storefront.html", &host).await,
            "/wp-json/wc/store/v1/products" => {
                let url = Url::parse(&format!("http://{host}{}", req.uri())).unwrap();
                let (page, size) = (PAGING.page(&url), PAGING.page_size(&url));
                let first = (page - 1).saturating_mul(size);
                let items: Vec<Value> = (first..(first + size).min(products))
                    .map(|n| {
                        serde_json::json!({
                            "id": n + 1, "name": format!("Product {n}"), "type": "simple",
                            "permalink": format!("http://{host}/product/product-{n}/"),
                            "prices": {"price": format!("{n}99"), "regular_price": format!("{n}99"),
                                "currency_code": "USD", "currency_minor_unit": 2},
                            "is_in_stock": true,
                            "images": [{"src": format!("http://{host}/wp-content/uploads/p{n}.jpg")}],
                        })
                    })
                    .collect();
                let body = Value::Array(items).to_string();
                ([(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
            _ => (StatusCode::NOT_FOUND, "not found").into_response(),
        }
    })
}

#[tokio::test]
async fn a_catalogue_of_many_pages_is_read_whole_without_a_level_per_page() {
    // (products, start, max level, levels, Store API pages asked for): 450 products are 4
    // full pages of 100 and a short one; 200 need the empty page 3 to see the end.
    let cases: [(u64, &str, u32, &[u64], u64); 4] = [
        (450, "/", 1, &[1, 1], 5),
        (
            450,
            "/wp-json/wc/store/v1/products?per_page=100&page=1",
            0,
            &[1],
            5,
        ),
        (200, "/", 1, &[1, 1], 3),
        (25, "/wp-json/wc/store/v1/products", 0, &[1], 3),
    ];
    for (products, start, max_level, levels, pages) in cases {
        let server = TestServer::start(catalogue(products)).await.unwrap();
        let (records, report) = crawl(&server, &[start], max_level).await;
        let site = &report.sites[0];
        let case = format!("{products} products from {start}: {site:?}");
        assert_eq!(site.levels, levels, "{case}");
        assert_eq!((site.pages_failed, site.warnings), (0, 0), "{case}");
        let listing_hits: usize = server
            .stats()
            .all_hits()
            .iter()
            .filter(|(p, _)| p.starts_with("/wp-json/"))
            .map(|(_, n)| *n)
            .sum();
        assert_eq!(listing_hits as u64, pages, "{case}");
        let mut got: Vec<(String, String)> = records
            .iter()
            .map(|r| (r["title"].to_string(), r["price"].to_string()))
            .collect();
        got.sort();
        let mut want: Vec<(String, String)> = (0..products)
            .map(|n| (format!("\"Product {n}\""), format!("\"{n}.99\"")))
            .collect();
        want.sort();
        assert_eq!(got, want, "{case}");
    }
}

#[tokio::test]
async fn product_page_and_single_product_route_as_start_urls() {
    let server = TestServer::start(router()).await.unwrap();
    let (records, report) = crawl(
        &server,
        &["/product/hoodie/", "/wp-json/wc/store/v1/products/31"],
        6,
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
        let breaches = WooCommerce.classify(&url).check(WooCommerce.name(), &ex);
        match *file {
            // Past the last page: no records.
            "products-page3-empty.json" => assert_eq!(breaches.len(), 1, "{url}: {breaches:?}"),
            _ => assert!(breaches.is_empty(), "{url}: {breaches:?}"),
        }
    }
    for page in WooCommerce.kinds() {
        assert!(
            ROUTES.iter().any(|(p, _)| {
                WooCommerce.classify(&Url::parse(&format!("{RECORDED}{p}")).unwrap()) == page
            }),
            "no fixture of kind {}",
            page.kind()
        );
    }
}
