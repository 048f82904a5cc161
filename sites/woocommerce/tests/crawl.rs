//! Crawls recorded WooCommerce Store API responses through the real runner (served on
//! 127.0.0.1:0) and snapshots the records; checks every fixture against the site contract.

use axum::Router;
use haul_runner::CrawlReport;
use haul_site_woocommerce::{PAGING, WooCommerce};
use haul_testkit::site::route;
use haul_testkit::{Fixtures, Reply, TestServer};
use serde_json::Value;

/// The fixtures, recorded under `http://shop.test`; the server rewrites that origin to its own
/// address and snapshots rewrite the server's address back.
const FIXTURES: Fixtures = Fixtures::new(env!("CARGO_MANIFEST_DIR"), "http://shop.test");

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

fn router() -> Router {
    FIXTURES.router(|url| route(ROUTES, url).into())
}

/// Runs the real crawler from `starts` down to `max_level` (see [`Fixtures::crawl`]).
async fn crawl(server: &TestServer, starts: &[&str], max_level: u32) -> (Vec<Value>, CrawlReport) {
    FIXTURES
        .crawl(server, &WooCommerce, starts, max_level, None)
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
    FIXTURES.router(move |url| match url.path() {
        "/" => Reply::Fixture("storefront.html"),
        "/wp-json/wc/store/v1/products" => {
            let origin = url.origin().ascii_serialization();
            let (page, size) = (PAGING.page(url), PAGING.page_size(url));
            let first = (page - 1).saturating_mul(size);
            let items: Vec<Value> = (first..(first + size).min(products))
                .map(|n| {
                    serde_json::json!({
                        "id": n + 1, "name": format!("Product {n}"), "type": "simple",
                        "permalink": format!("{origin}/product/product-{n}/"),
                        "prices": {"price": format!("{n}99"), "regular_price": format!("{n}99"),
                            "currency_code": "USD", "currency_minor_unit": 2},
                        "is_in_stock": true,
                        "images": [{"src": format!("{origin}/wp-content/uploads/p{n}.jpg")}],
                    })
                })
                .collect();
            Reply::Json(Value::Array(items))
        }
        _ => Reply::NotFound("not found"),
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
    for case in cases {
        let products = case.0;
        let (records, case) = FIXTURES
            .crawl_catalogue(&WooCommerce, catalogue(products), case, "/wp-json/")
            .await;
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
    // Past the last page: no records.
    FIXTURES.check_contracts(&WooCommerce, ROUTES, &["products-page3-empty.json"]);
    FIXTURES.assert_every_kind_served(&WooCommerce, ROUTES);
}
