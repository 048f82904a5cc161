//! Change events in the SQLite store: computed between crawls, thresholds applied, `gone` by
//! 404 and by absence (only after a complete crawl), one transaction with the record, no
//! duplicate after a resume, and the outbox's bookkeeping.

use std::path::Path;

use chrono::Utc;
use haul_core::{Availability, Currency, Method, Record, RecordKind};
use haul_output::{
    CrawlEnd, EventFilter, EventKind, Outbox, Output, StoreOptions, Visit, list_events,
};

fn product(url: &str, price: &str, stock: Availability) -> Record {
    let mut r = Record::new(
        RecordKind::Product,
        "shop",
        url,
        format!("Item {url}"),
        Method::JsonLd,
    );
    r.price = Some(price.parse().unwrap());
    r.currency = Some(Currency::new("USD").unwrap());
    r.availability = Some(stock);
    r
}

fn visit(url: &str, status: u16, records: &[&str]) -> Visit {
    let mut v = Visit::new("shop", url);
    v.status = Some(status);
    if status >= 400 {
        v.failure = Some(format!("http_{status}"));
    }
    v.records = records.iter().map(|s| s.to_string()).collect();
    v
}

/// One crawl: a listing page giving `listed` (each with its price and stock), the other
/// visits, then the end.
async fn crawl(
    store: &Path,
    items: &[(&str, &str, Availability)],
    visits: Vec<Visit>,
    end: Option<CrawlEnd>,
) {
    let p = store.to_path_buf();
    let out =
        tokio::task::spawn_blocking(move || Output::create_with(&p, &StoreOptions::default()))
            .await
            .unwrap()
            .unwrap();
    let tx = out.sender();
    for (url, price, stock) in items {
        tx.send(product(url, price, *stock)).await.unwrap();
    }
    let urls: Vec<&str> = items.iter().map(|i| i.0).collect();
    tx.visit(visit("http://s/list", 200, &urls)).await.unwrap();
    for v in visits {
        tx.visit(v).await.unwrap();
    }
    if let Some(end) = end {
        tx.crawl_ended(end).await.unwrap();
    }
    drop(tx);
    out.finish().await.unwrap();
}

fn kinds(store: &Path) -> Vec<(String, String)> {
    list_events(store, &EventFilter::default())
        .unwrap()
        .into_iter()
        .map(|e| (e.kind.label().to_string(), e.url))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

use Availability::{InStock, OutOfStock};

#[tokio::test]
async fn a_second_crawl_gives_the_changes_with_old_and_new_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let first = [
        ("http://s/a", "10.00", InStock),
        ("http://s/b", "20.00", InStock),
        ("http://s/c", "5.00", InStock),
        ("http://s/e", "7.00", OutOfStock),
    ];
    crawl(&store, &first, vec![], Some(CrawlEnd::Complete)).await;
    assert_eq!(
        kinds(&store),
        pairs(&[
            ("new_product", "http://s/a"),
            ("new_product", "http://s/b"),
            ("new_product", "http://s/c"),
            ("new_product", "http://s/e"),
        ])
    );
    // a drops 20 %, b flickers by a cent and sells out, c leaves the listing, d is new, e
    // comes back (a cent dearer: no price event).
    let second = [
        ("http://s/a", "8.00", InStock),
        ("http://s/b", "20.01", OutOfStock),
        ("http://s/d", "3.00", InStock),
        ("http://s/e", "7.01", InStock),
    ];
    crawl(&store, &second, vec![], Some(CrawlEnd::Complete)).await;
    let events = list_events(&store, &EventFilter::default()).unwrap();
    let got: Vec<(String, String)> = events[4..]
        .iter()
        .map(|e| (e.kind.label().to_string(), e.url.clone()))
        .collect();
    assert_eq!(
        got,
        pairs(&[
            ("price_drop", "http://s/a"),
            ("out_of_stock", "http://s/b"),
            ("new_product", "http://s/d"),
            ("back_in_stock", "http://s/e"),
            ("gone", "http://s/c"),
        ])
    );
    let drop = &events[4];
    assert_eq!(
        (
            drop.old_price.as_deref(),
            drop.new_price.as_deref(),
            drop.change.as_deref(),
            drop.change_percent.as_deref(),
            drop.currency.as_deref(),
        ),
        (
            Some("10.00"),
            Some("8.00"),
            Some("-2.00"),
            Some("-20.00"),
            Some("USD")
        )
    );
    assert_eq!(drop.title.as_deref(), Some("Item http://s/a"));
    assert_eq!(drop.crawl_id, 2);
    let out = &events[5];
    assert_eq!(
        (
            out.old_availability.as_deref(),
            out.new_availability.as_deref()
        ),
        (Some("in_stock"), Some("out_of_stock"))
    );
    let gone = &events[8];
    assert_eq!(
        (gone.old_price.as_deref(), gone.new_price.as_deref()),
        (Some("5.00"), None)
    );
    // The same again: nothing changed, nothing to say (c stays gone).
    crawl(&store, &second, vec![], Some(CrawlEnd::Complete)).await;
    assert_eq!(
        list_events(&store, &EventFilter::default()).unwrap().len(),
        9
    );
    let filter = EventFilter {
        kinds: vec![EventKind::Gone, EventKind::PriceDrop],
        since: Some(Utc::now() - chrono::Duration::hours(1)),
        ..EventFilter::default()
    };
    assert_eq!(list_events(&store, &filter).unwrap().len(), 2);
}

#[tokio::test]
async fn absence_is_gone_only_after_a_complete_crawl_and_404_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let all = [
        ("http://s/a", "1.00", InStock),
        ("http://s/b", "2.00", InStock),
        ("http://s/c", "3.00", InStock),
    ];
    crawl(&store, &all, vec![], Some(CrawlEnd::Complete)).await;
    let only_a = [("http://s/a", "1.00", InStock)];
    for end in [None, Some(CrawlEnd::Interrupted), Some(CrawlEnd::Failed)] {
        crawl(&store, &only_a, vec![], end).await;
        assert_eq!(kinds(&store).len(), 3, "{end:?}: no gone by absence");
    }
    // b's own page answers 404: gone at once, even though the crawl is interrupted.
    crawl(
        &store,
        &only_a,
        vec![
            visit("http://s/b", 404, &[]),
            visit("http://s/c", 200, &["http://s/c"]),
        ],
        Some(CrawlEnd::Interrupted),
    )
    .await;
    assert_eq!(kinds(&store)[3..], pairs(&[("gone", "http://s/b")]));
    // c left the listing during the unfinished crawls, but this complete one fetched it
    // again successfully: not gone.
    crawl(
        &store,
        &only_a,
        vec![visit("http://s/c", 200, &["http://s/c"])],
        Some(CrawlEnd::Complete),
    )
    .await;
    assert_eq!(kinds(&store).len(), 4, "c was fetched again: not gone");
    // Now c's page fails and gives nothing: missing from a page that held it.
    crawl(
        &store,
        &only_a,
        vec![visit("http://s/c", 500, &[])],
        Some(CrawlEnd::Complete),
    )
    .await;
    assert_eq!(kinds(&store)[4..], pairs(&[("gone", "http://s/c")]));
    // Back again: back in stock.
    crawl(&store, &all, vec![], Some(CrawlEnd::Complete)).await;
    assert_eq!(
        kinds(&store)[5..],
        pairs(&[
            ("back_in_stock", "http://s/b"),
            ("back_in_stock", "http://s/c")
        ])
    );
}

#[tokio::test]
async fn a_resumed_crawl_does_not_repeat_events_and_an_uncommitted_record_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    crawl(
        &store,
        &[("http://s/a", "10", InStock)],
        vec![],
        Some(CrawlEnd::Complete),
    )
    .await;
    // Crawl 2 writes the drop, then "dies"; --resume sends every record again.
    crawl(&store, &[("http://s/a", "5", InStock)], vec![], None).await;
    let p = store.clone();
    let (out, keys) =
        tokio::task::spawn_blocking(move || Output::open_append_with(&p, &StoreOptions::default()))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(keys.len(), 1);
    let tx = out.sender();
    tx.send(product("http://s/a", "5", InStock)).await.unwrap();
    tx.send(product("http://s/b", "1", InStock)).await.unwrap();
    tx.crawl_ended(CrawlEnd::Complete).await.unwrap();
    drop(tx);
    out.finish().await.unwrap();
    assert_eq!(
        kinds(&store),
        pairs(&[
            ("new_product", "http://s/a"),
            ("price_drop", "http://s/a"),
            ("new_product", "http://s/b"),
        ])
    );
    // Events are in the record's transaction: a reader sees both or neither.
    let conn = rusqlite::Connection::open(&store).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM records r WHERE NOT EXISTS \
             (SELECT 1 FROM events e WHERE e.url = r.url AND e.kind = 'new_product')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_outbox_hands_each_target_the_events_after_it_joined() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    crawl(
        &store,
        &[("http://s/old", "1", InStock)],
        vec![],
        Some(CrawlEnd::Complete),
    )
    .await;
    let outbox = Outbox::open(&store).unwrap();
    outbox.register("t").unwrap();
    crawl(
        &store,
        &[("http://s/a", "1", InStock), ("http://s/b", "1", InStock)],
        vec![],
        Some(CrawlEnd::Complete),
    )
    .await;
    outbox.register("t").unwrap();
    let now = Utc::now();
    let due = outbox.due("t", now, 10).unwrap();
    let urls: Vec<&str> = due.iter().map(|d| d.event.url.as_str()).collect();
    assert_eq!(
        urls,
        ["http://s/a", "http://s/b", "http://s/old"],
        "not the old new_product, but its gone"
    );
    assert_eq!(due[2].event.kind, EventKind::Gone);
    outbox.sent("t", due[2].event.id, 1).unwrap();
    let (a, b) = (due[0].event.id, due[1].event.id);
    outbox.sent("t", a, 1).unwrap();
    outbox
        .retry("t", b, 1, now + chrono::Duration::seconds(60), "503")
        .unwrap();
    assert!(outbox.due("t", now, 10).unwrap().is_empty());
    assert_eq!(outbox.pending("t").unwrap(), 1);
    let later = outbox
        .due("t", now + chrono::Duration::seconds(61), 10)
        .unwrap();
    assert_eq!((later[0].event.id, later[0].attempts), (b, 1));
    outbox.dead("t", b, 2, "503").unwrap();
    assert_eq!(outbox.pending("t").unwrap(), 0);
    assert_eq!(
        (
            outbox.count("t", "sent").unwrap(),
            outbox.count("t", "dead").unwrap()
        ),
        (2, 1)
    );
}
