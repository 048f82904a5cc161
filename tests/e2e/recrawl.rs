//! End-to-end: cheap recrawls into a SQLite store. Conditional requests (304s counted at the
//! server, the same records, no new history rows; a changed page fetched in full; a shop that
//! ignores validators), and sitemaps (a shop listed only in a gzipped, nested sitemap index,
//! crawled in full; `lastmod` skips; malformed and oversize sitemaps warned about).

use std::path::Path;

use haul_e2e::{haul_ok, stderr};
use haul_testkit::{RecrawlShop, ShopOptions, TestServer};

/// `(url, title, price)` of every record of the store, sorted.
fn records(db: &Path) -> Vec<(String, String, Option<String>)> {
    let mut out: Vec<_> = haul_output::read_records(db)
        .unwrap()
        .into_iter()
        .map(|r| (r.url, r.title, r.price.map(|p| p.to_string())))
        .collect();
    out.sort();
    out
}

fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn site_stats(path: &Path) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    report["sites"][0].clone()
}

/// `haul crawl demo --start-url URL -o DB --stats STATS EXTRA...`, succeeding; its stderr.
async fn crawl(server: &TestServer, db: &Path, stats: &Path, extra: &[&str]) -> String {
    let start = server.url("/").to_string();
    let mut args = vec![
        "crawl",
        "demo",
        "--start-url",
        &start,
        "-o",
        db.to_str().unwrap(),
        "--stats",
        stats.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    stderr(&haul_ok(&args).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_shop_is_revalidated_with_304s_and_a_changed_page_is_fetched_in_full() {
    let shop = RecrawlShop::new(ShopOptions::new(120));
    let server = TestServer::start(shop.router()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (db, stats) = (dir.path().join("s.db"), dir.path().join("stats.json"));
    // Home, 3 listings, 120 products.
    let pages = 124;

    crawl(&server, &db, &stats, &[]).await;
    let first = shop.counts();
    assert_eq!(first.not_modified, 0);
    assert_eq!(first.full, pages + 1, "every page and robots.txt");
    let records_1 = records(&db);
    assert_eq!(records_1.len(), 120);
    let history_1 = count(&db, "SELECT COUNT(*) FROM price_history");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM pages WHERE etag IS NOT NULL AND last_modified IS NOT NULL"
        ),
        pages as i64,
        "the store keeps every page's validators"
    );

    shop.reset_counts();
    crawl(&server, &db, &stats, &[]).await;
    let second = shop.counts();
    assert_eq!(second.not_modified, pages, "{second:?}");
    assert_eq!(second.full, 1, "only robots.txt in full: {second:?}");
    assert!(
        second.body_bytes * 100 < first.body_bytes,
        "{second:?} vs {first:?}"
    );
    assert_eq!(records(&db), records_1, "the same records");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM price_history"),
        history_1,
        "no new history row"
    );
    let latest = "(SELECT MAX(id) FROM crawls)";
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM records WHERE crawl_id = {latest}")
        ),
        120,
        "every record was seen by the second crawl"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM pages WHERE status = 304 AND etag IS NOT NULL"
        ),
        pages as i64,
        "a 304's visit keeps its validators"
    );
    let s = site_stats(&stats);
    assert_eq!(s["not_modified"], pages);
    assert_eq!(
        (s["pages_failed"].as_u64(), s["retries"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(s["blocks"].is_null(), "{s}");

    // One product changes: its ETag changes, so it comes in full; the rest stay 304s.
    shop.set_price(7, 4250);
    shop.reset_counts();
    crawl(&server, &db, &stats, &[]).await;
    let third = shop.counts();
    assert_eq!(
        (third.full, third.not_modified),
        (2, pages - 1),
        "{third:?}"
    );
    let p7 = server.url("/product/p7").to_string();
    let now: Vec<_> = records(&db).into_iter().filter(|r| r.0 == p7).collect();
    assert_eq!(now[0].2.as_deref(), Some("42.50"));
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM price_history"),
        history_1 + 1
    );

    // --no-revalidate downloads everything again.
    shop.reset_counts();
    crawl(&server, &db, &stats, &["--no-revalidate"]).await;
    assert_eq!(shop.counts().not_modified, 0);
    assert_eq!(shop.counts().full, pages + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shop_that_ignores_validators_is_crawled_in_full_each_time() {
    let shop = RecrawlShop::new(ShopOptions {
        honour_validators: false,
        ..ShopOptions::new(60)
    });
    let server = TestServer::start(shop.router()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (db, stats) = (dir.path().join("s.db"), dir.path().join("stats.json"));
    crawl(&server, &db, &stats, &[]).await;
    let first = records(&db);
    let history = count(&db, "SELECT COUNT(*) FROM price_history");
    shop.reset_counts();
    crawl(&server, &db, &stats, &[]).await;
    let c = shop.counts();
    assert_eq!((c.not_modified, c.full), (0, 1 + 2 + 60 + 1), "{c:?}");
    assert_eq!(records(&db), first);
    assert_eq!(first.len(), 60);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM price_history"), history);
    let s = site_stats(&stats);
    assert_eq!(
        (s["pages_failed"].as_u64(), s["not_modified"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shop_listed_only_in_a_gzipped_sitemap_index_is_crawled_and_lastmod_skips_unchanged_products()
 {
    let products = 40;
    let shop = RecrawlShop::new(ShopOptions {
        sitemap_only: true,
        ..ShopOptions::new(products)
    });
    let server = TestServer::start(shop.router()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (db, stats) = (dir.path().join("s.db"), dir.path().join("stats.json"));

    // Without --sitemap only the home page is found.
    crawl(&server, &db.with_extension("jsonl"), &stats, &[]).await;
    assert_eq!(site_stats(&stats)["pages_ok"], 1);

    crawl(&server, &db, &stats, &["--sitemap"]).await;
    let all = records(&db);
    assert_eq!(
        all.len(),
        products,
        "every product, from both sitemap children"
    );
    for (n, (url, title, price)) in {
        let mut by_n: Vec<_> = all.iter().collect();
        by_n.sort_by_key(|r| r.0.rsplit('p').next().unwrap().parse::<usize>().unwrap());
        by_n
    }
    .into_iter()
    .enumerate()
    {
        assert_eq!(url, &server.url(&format!("/product/p{n}")).to_string());
        assert_eq!(title, &format!("Product {n}"));
        assert_eq!(price.as_deref(), Some(shop.price(n).as_str()));
    }
    // robots.txt once per crawl (the first, without --sitemap, read it too).
    assert_eq!(server.stats().hits("/robots.txt"), 2);
    for file in [
        "/sitemap_index.xml",
        "/sitemaps/index-2.xml",
        "/sitemaps/products-1.xml.gz",
        "/sitemaps/products-2.xml",
    ] {
        assert_eq!(server.stats().hits(file), 1, "{file}");
    }
    let s = site_stats(&stats);
    assert_eq!(s["sitemap_urls"], products);
    assert_eq!(s["pages_failed"], 0);

    // Product 3 changes (its lastmod is now newer than its last visit); the rest do not.
    shop.set_price(3, 777);
    crawl(&server, &db, &stats, &["--sitemap"]).await;
    for n in 0..products {
        let hits = server.stats().hits(&format!("/product/p{n}"));
        assert_eq!(hits, if n == 3 { 2 } else { 1 }, "product {n}");
    }
    let s = site_stats(&stats);
    assert_eq!(s["unchanged_skipped"], products - 1);
    let now = records(&db);
    assert_eq!(now.len(), products);
    let p3 = server.url("/product/p3").to_string();
    assert_eq!(
        now.iter().find(|r| r.0 == p3).unwrap().2.as_deref(),
        Some("7.77")
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM records WHERE crawl_id = (SELECT MAX(id) FROM crawls)"
        ),
        products as i64,
        "skipped products are carried forward, not missing"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM price_history"),
        products as i64 + 1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_oversize_sitemaps_are_warned_about_and_the_rest_is_crawled() {
    let products = 20;
    let shop = RecrawlShop::new(ShopOptions {
        sitemap_only: true,
        bad_sitemaps: true,
        huge_bytes: 300_000,
        ..ShopOptions::new(products)
    });
    let server = TestServer::start(shop.router()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (out, stats) = (dir.path().join("out.jsonl"), dir.path().join("stats.json"));
    let err = crawl(
        &server,
        &out,
        &stats,
        &["--sitemap", "--max-page-bytes", "100000"],
    )
    .await;
    let broken = server.url("/sitemaps/broken.xml").to_string();
    let huge = server.url("/sitemaps/huge.xml").to_string();
    assert!(
        err.lines()
            .any(|l| l.contains("malformed sitemap") && l.contains(&broken)),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.contains(&huge)
                && l.contains("larger than the page size limit (100000 bytes)")),
        "{err}"
    );
    assert_eq!(records(&out).len(), products);
    assert_eq!(site_stats(&stats)["pages_failed"], 0);
}
