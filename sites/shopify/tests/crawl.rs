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
use haul_site_shopify::{PAGING, SHOPIFY, Shopify};
use haul_testkit::TestServer;
use serde_json::Value;

/// The origin the fixtures were recorded under; the server rewrites it to its own address and
/// snapshots rewrite the server's address back.
const RECORDED: &str = "http://shop.test";

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
        SiteJob::new(fresh(), starts.iter().map(|s| server.url(s)).collect()),
        opts,
        None,
        &base,
        RECORDED,
    )
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
    Router::new().fallback(move |req: Request| async move {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_string();
        match req.uri().path() {
            "/" => serve("storefront.html", &host).await,
            "/meta.json" => serve("meta.json", &host).await,
            "/products.json" => {
                let url = Url::parse(&format!("http://{host}{}", req.uri())).unwrap();
                let (page, size) = (PAGING.page(&url), PAGING.page_size(&url));
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
                let body = serde_json::json!({ "products": items }).to_string();
                ([(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
            _ => (StatusCode::NOT_FOUND, "not found").into_response(),
        }
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
            .filter(|(p, _)| p.starts_with("/products.json"))
            .map(|(_, n)| *n)
            .sum();
        assert_eq!(listing_hits as u64, pages, "{case}");
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
    let mut checked = 0;
    for (path, file) in ROUTES {
        if *file == "meta.json" {
            continue;
        }
        let url = Url::parse(&format!("{RECORDED}{path}")).unwrap();
        let body = std::fs::read_to_string(fixture_path(file)).unwrap();
        let ex = SHOPIFY.parse(&Document::new(url.clone(), body)).unwrap();
        let breaches = SHOPIFY.classify(&url).check(SHOPIFY.name(), &ex);
        if *file == "products-page3-empty.json" {
            // Past the last page: no records. The contract says a good products page is not
            // like this, which is what lets it flag a broken endpoint.
            assert_eq!(breaches.len(), 1, "{url}: {breaches:?}");
        } else {
            assert!(breaches.is_empty(), "{url}: {breaches:?}");
        }
        checked += 1;
    }
    assert_eq!(checked, ROUTES.len() - 1);
    // Every page kind of the contract is exercised by some fixture.
    for page in SHOPIFY.kinds() {
        assert!(
            ROUTES.iter().any(|(p, _)| {
                SHOPIFY.classify(&Url::parse(&format!("{RECORDED}{p}")).unwrap()) == page
            }),
            "no fixture of kind {}",
            page.kind()
        );
    }
}
