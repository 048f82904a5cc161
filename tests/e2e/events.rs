//! Change events end to end: the real `haul crawl` three times into one SQLite store over a
//! shop whose prices, stock and catalogue the test changes between runs, with a webhook
//! receiver on 127.0.0.1 that is down during the first run (its events stay pending and go
//! out with the next run), checks every HMAC-SHA256 signature and counts every event id;
//! thresholds, cool-down and the daily cap are applied; `haul events` lists them.

use std::path::Path;
use std::sync::atomic::Ordering;

use haul_e2e::webhook::{Receiver, expect, kinds, listed};
use haul_e2e::{haul_ok, stderr};
use haul_testkit::{ChangingShop, TestServer, shop_item};

const SECRET: &str = "e2e-webhook-secret";

/// The catalogue of the first run.
fn shop() -> ChangingShop {
    ChangingShop::new(vec![
        shop_item("trail-runner", "Trail Runner Shoes", "100.00", true),
        shop_item("grinder", "Espresso Grinder", "50.00", true),
        shop_item("rain-jacket", "Rain Jacket", "80.00", true),
        shop_item("lantern", "Camping Lantern", "20.00", false),
        shop_item("yoga-mat", "Yoga Mat", "30.00", true),
        shop_item("bottle", "Steel Bottle", "15.00", true),
        shop_item("socks", "Hiking Socks", "10.00", true),
    ])
}

/// Writes the run's haul.toml: the generic site's thresholds (0.50 and 2 %), a 1-hour
/// cool-down, 2 events per product a day, fast retries, `drain_secs` at the end.
fn config(path: &Path, drain_secs: u64) {
    std::fs::write(
        path,
        format!(
            "[events]\ncooldown = \"1h\"\ndaily_cap = 2\nattempts = 50\nretry_ms = 50\n\
             drain_secs = {drain_secs}\n\n[sites.generic.events]\nmin_change = 0.5\nmin_percent = 2\n"
        ),
    )
    .unwrap();
}

async fn run(server: &TestServer, hook: &str, dir: &Path) -> String {
    let store = dir.join("prices.db");
    let file = dir.join("events.jsonl");
    let cfg = dir.join("haul.toml");
    let start = server.url("/").to_string();
    let args = [
        "crawl",
        "generic",
        "--start-url",
        &start,
        "-o",
        store.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--max-level",
        "5",
        "--render",
        "never",
        "--no-progress",
        "--webhook",
        hook,
        "--events",
        file.to_str().unwrap(),
    ];
    // The secret reaches haul only through its environment.
    let out = haul_e2e::haul_command(&args)
        .env("HAUL_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "haul {args:?}: {err}");
    assert!(!err.contains(SECRET), "the secret shows: {err}");
    err
}

#[tokio::test]
async fn three_crawls_give_exactly_the_expected_signed_events_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let shop = shop();
    let server = TestServer::start(shop.router()).await.unwrap();
    let (receiver, _hook_server, hook) = Receiver::start(SECRET).await;
    receiver.down(true);
    let store = dir.path().join("prices.db");

    // Run 1, the receiver down throughout: 7 new products, all left pending.
    config(&dir.path().join("haul.toml"), 1);
    let err = run(&server, &hook, dir.path()).await;
    assert!(receiver.refused.load(Ordering::SeqCst) > 0);
    assert!(receiver.events.lock().unwrap().is_empty());
    let first = listed(&store, &[]).await;
    assert_eq!(
        kinds(&first),
        expect(&[
            ("new_product", "trail-runner"),
            ("new_product", "grinder"),
            ("new_product", "rain-jacket"),
            ("new_product", "lantern"),
            ("new_product", "yoga-mat"),
            ("new_product", "bottle"),
            ("new_product", "socks"),
        ])
    );
    assert!(err.contains("7 pending"), "{err}");

    // Run 2: a 10 % drop, a cent's flicker and a 4 % rise under the 0.50 minimum (silent),
    // back in stock, out of stock, taken out of the catalogue (410, still linked from the
    // home page), a new product. The receiver is up: run 1's events go out too.
    shop.update("rain-jacket", |i| i.price = "72.00".into());
    shop.update("grinder", |i| i.price = "50.01".into());
    shop.update("socks", |i| i.price = "10.40".into());
    shop.update("lantern", |i| i.in_stock = true);
    shop.update("yoga-mat", |i| i.in_stock = false);
    shop.update("bottle", |i| {
        i.exists = false;
        i.listed = false;
        i.recently_viewed = true;
    });
    shop.add(shop_item("stove", "Camping Stove", "60.00", true));
    receiver.down(false);
    config(&dir.path().join("haul.toml"), 30);
    run(&server, &hook, dir.path()).await;
    let second = listed(&store, &[]).await;
    assert_eq!(
        kinds(&second[first.len()..]),
        expect(&[
            ("price_drop", "rain-jacket"),
            ("back_in_stock", "lantern"),
            ("out_of_stock", "yoga-mat"),
            ("gone", "bottle"),
            ("new_product", "stove"),
        ])
    );
    let drop = second.iter().find(|e| e["kind"] == "price_drop").unwrap();
    assert_eq!(
        (
            &drop["old_price"],
            &drop["new_price"],
            &drop["change"],
            &drop["change_percent"],
            &drop["currency"],
            &drop["title"]
        ),
        (
            &"80.00".into(),
            &"72.00".into(),
            &"-8.00".into(),
            &"-10.00".into(),
            &"USD".into(),
            &"Rain Jacket".into()
        )
    );

    // Run 3: the jacket bounces back within the cool-down (silent), the shoes drop 10 %
    // (loud), the mat comes back but already had its 2 events today (capped).
    shop.update("rain-jacket", |i| i.price = "80.00".into());
    shop.update("trail-runner", |i| i.price = "90.00".into());
    shop.update("yoga-mat", |i| i.in_stock = true);
    run(&server, &hook, dir.path()).await;
    let all = listed(&store, &[]).await;
    assert_eq!(
        kinds(&all[second.len()..]),
        expect(&[("price_drop", "trail-runner")])
    );

    // The receiver got every event of the store exactly once, signed, none lost to the
    // first run's outage; the JSON Lines file has them too.
    assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);
    let got = receiver.taken();
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), ids);
    assert!(got.values().all(|(_, n)| *n == 1), "an event came twice");
    assert_eq!(kinds(got.values().map(|(e, _)| e)), kinds(&all));
    let lines = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), all.len());

    // `haul events` filters by kind and time, and reads as a table.
    let drops = listed(&store, &["--kind", "price_drop", "--since", "1h"]).await;
    assert_eq!(drops.len(), 2);
    let out = haul_ok(&[
        "events",
        "--store",
        store.to_str().unwrap(),
        "--site",
        "generic",
    ])
    .await;
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(table.lines().count(), all.len());
    assert!(
        table.contains("price_drop") && table.contains("80.00 -> 72.00 USD (-8.00, -10.00%)"),
        "{table}"
    );
    let err = haul_e2e::haul_fails(&[
        "events",
        "--store",
        store.to_str().unwrap(),
        "--since",
        "a while",
    ])
    .await;
    assert!(err.contains("--since"), "{err}");
}
