//! Crawls recorded Shopify responses through the real runner (served on 127.0.0.1:0) and
//! snapshots the records; checks every fixture against the site contract.

use std::sync::Arc;

use axum::Router;
use haul_core::{Context, Extractor};
use haul_runner::{CrawlReport, HttpFetcher, HttpOptions};
use haul_site_shopify::{PAGING, SHOPIFY, Shopify};
use haul_testkit::site::route;
use haul_testkit::{Fixtures, Reply, TestServer};
use serde_json::Value;

/// The fixtures, recorded under `http://shop.test`; the server rewrites that origin to its own
/// address and snapshots rewrite the server's address back.
const FIXTURES: Fixtures = Fixtures::new(env!("CARGO_MANIFEST_DIR"), "http://shop.test");

/// Path and query served -> fixture file.
const ROUTES: &[(&str, &str)] = &[
    ("/", "storefront.html"),
    // Pages of 3 products: page 1 is full, page 2 (one product) is the last.
    ("/products.json?limit=3&page=1", "products-page1.json"),
    ("/products.json?limit=3&page=2", "products-page2.json"),
    ("/products.json?limit=3&page=3", "products-page3-empty.json"),
    (
        "/collections/summer/products.json?limit=250&page=1",
        "collection-summer-page1.json",
    ),
    (
        "/products/classic-cotton-tee.json",
        "product-classic-cotton-tee.json",
    ),
    ("/meta.json", "meta.json"),
];

/// Serves the fixtures; `/meta.json` only when `with_meta`.
fn router(with_meta: bool) -> Router {
    FIXTURES.router(move |url| {
        route(ROUTES, url)
            .filter(|file| with_meta || *file != "meta.json")
            .into()
    })
}

/// A Shopify extractor with its own store-currency cache, so that a test never sees what
/// another test's server (possibly on the same port earlier) told the shared [`SHOPIFY`].
fn fresh() -> &'static Shopify {
    Box::leak(Box::new(Shopify::new()))
}

/// Runs the real crawler from `starts` down to `max_level` (see [`Fixtures::crawl`]).
async fn crawl(server: &TestServer, starts: &[&str], max_level: u32) -> (Vec<Value>, CrawlReport) {
    FIXTURES
        .crawl(server, fresh(), starts, max_level, None)
        .await
}

#[tokio::test]
async fn products_pages_are_read_within_one_crawl_level() {
    let server = TestServer::start(router(true)).await.unwrap();
    let (records, report) = crawl(&server, &["/products.json?limit=3&page=1"], 0).await;
    let site = &report.sites[0];
    // One page for the crawl: page 2 is read inside page 1's extraction, and is short, so
    // the empty page 3 is never asked for.
    assert_eq!(site.levels, vec![1], "{site:?}");
    assert_eq!((site.pages_failed, site.warnings), (0, 0), "{site:?}");
    let hits = |p: &str| server.stats().hits(p);
    assert_eq!(
        [1, 2, 3].map(|n| hits(&format!("/products.json?limit=3&page={n}"))),
        [1, 1, 0]
    );
    assert_eq!(records.len(), 8);
    assert!(records.iter().all(|r| r["currency"] == "USD"));
    // The store currency is read once, not per page.
    assert_eq!(hits("/meta.json"), 1);
    insta::assert_json_snapshot!("products_pages", records);
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
        6,
    )
    .await;
    let site = &report.sites[0];
    assert_eq!(site.pages_failed, 0, "{site:?}");
    // The collection's one product is fewer than a page: its last page.
    assert_eq!(site.levels, vec![2], "{site:?}");
    assert_eq!(
        server.stats().requests(),
        3,
        "{:?}",
        server.stats().all_hits()
    );
    assert_eq!(records.len(), 3);
    insta::assert_json_snapshot!("collection_and_product", records);
}

/// A generated store of `products` one-variant products: the recorded storefront at `/`,
/// `/products.json` in pages (`limit`, 30 by default, at most 250, and `page`), and
/// `/meta.json`. Product `n` is `product-<n>`, titled `Product <n>`, priced `<n>.99`.
fn catalogue(products: u64) -> Router {
    FIXTURES.router(move |url| match url.path() {
        "/" => Reply::Fixture("storefront.html"),
        "/meta.json" => Reply::Fixture("meta.json"),
        "/products.json" => {
            let (page, size) = (PAGING.page(url), PAGING.page_size(url));
            let first = (page - 1).saturating_mul(size);
            let items: Vec<Value> = (first..(first + size).min(products))
                .map(|n| {
                    serde_json::json!({
                        "id": n + 1, "title": format!("Product {n}"),
                        "handle": format!("product-{n}"), "vendor": "Gen",
                        "variants": [{"id": 1000 + n, "title": "Default Title",
                            "price": format!("{n}.99"), "available": true}],
                        "images": [{"src": format!("//cdn.shopify.com/files/p{n}.jpg")}],
                    })
                })
                .collect();
            Reply::Json(serde_json::json!({ "products": items }))
        }
        _ => Reply::NotFound("not found"),
    })
}

#[tokio::test]
async fn a_catalogue_of_many_pages_is_read_whole_without_a_level_per_page() {
    // (products, start, max level, levels, products.json pages asked for): 1210 products are
    // 4 full pages of 250 and a short one; 500 need the empty page 3 to see the end.
    let cases: [(u64, &str, u32, &[u64], u64); 4] = [
        (1210, "/", 1, &[1, 1], 5),
        (1210, "/products.json?limit=250&page=1", 0, &[1], 5),
        (500, "/", 1, &[1, 1], 3),
        (40, "/products.json", 0, &[1], 2),
    ];
    for case in cases {
        let products = case.0;
        let (records, case) = FIXTURES
            .crawl_catalogue(fresh(), catalogue(products), case, "/products.json")
            .await;
        let mut titles: Vec<String> = records
            .iter()
            .map(|r| r["title"].as_str().unwrap().to_string())
            .collect();
        titles.sort();
        let mut want: Vec<String> = (0..products).map(|n| format!("Product {n}")).collect();
        want.sort();
        assert_eq!(titles, want, "{case}");
        assert!(records.iter().all(|r| r["currency"] == "USD"), "{case}");
    }
}

#[tokio::test]
async fn without_meta_json_only_stated_currencies_are_set() {
    let server = TestServer::start(router(false)).await.unwrap();
    let fetcher = HttpFetcher::new(&HttpOptions::local()).unwrap();
    let shopify = fresh();
    let cx = Context::new(shopify, Arc::new(fetcher));
    let fetch = |path: &str| cx.fetch(server.url(path));
    let listing = fetch("/products.json?limit=3&page=1").await.unwrap();
    let ex = shopify.extract(&cx, listing).await.unwrap();
    // Pages 1 and 2.
    assert_eq!(ex.records.len(), 8);
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
    let again = fetch("/products.json?limit=3&page=2").await.unwrap();
    let ex = shopify.extract(&cx, again).await.unwrap();
    assert!(ex.warnings.is_empty(), "{:?}", ex.warnings);
    assert_eq!(server.stats().hits("/meta.json"), 1);
}

#[test]
fn every_fixture_keeps_the_contract_and_the_empty_page_does_not() {
    let pages: Vec<(&str, &str)> = ROUTES
        .iter()
        .copied()
        .filter(|(_, file)| *file != "meta.json")
        .collect();
    // Past the last page: no records. The contract says a good products page is not like
    // this, which is what lets it flag a broken endpoint.
    let checked = FIXTURES.check_contracts(&SHOPIFY, &pages, &["products-page3-empty.json"]);
    assert_eq!(checked, ROUTES.len() - 1);
    // Every page kind of the contract is exercised by some fixture.
    FIXTURES.assert_every_kind_served(&SHOPIFY, ROUTES);
}
