//! End-to-end: `haul crawl --extract llm` through the real LLM pool against a fake
//! OpenAI-compatible server, with an answer cut at the token limit and continued.

use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use haul_e2e::{haul_bin, read_records, stderr};
use haul_llm::fake::{FakeReply, FakeServer};
use haul_testkit::TestServer;

const PAGE: &str = r#"<!doctype html><html lang="en"><head><title>Trail Kettle | Shop</title></head>
<body><nav><a href="/">Home</a></nav><main>
<h1>Trail Kettle 1 L</h1><div class="buy"><b>Our price today:</b> sixty dollars flat</div>
<button class="add-to-cart">Add to cart</button></main></body></html>"#;

#[tokio::test(flavor = "multi_thread")]
async fn extract_llm_goes_through_the_pool_with_continuation_and_hides_keys() {
    let answer = r#"{"products": [{"title": "Trail Kettle 1 L", "price": "$60.00", "currency": "USD", "availability": "in_stock"}]}"#;
    let (a, b) = answer.split_at(answer.len() / 2);
    let (a, b) = (a.to_string(), b.to_string());
    let llm = FakeServer::builder()
        .respond(move |_| FakeReply::Fragments(vec![a.clone(), b.clone()]))
        .start()
        .await
        .unwrap();
    let shop =
        TestServer::start(Router::new().route("/product/kettle", get(|| async { Html(PAGE) })))
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let stats_path = dir.path().join("stats.json");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(haul_bin())
            .args([
                "crawl",
                "--render",
                "never",
                "--extract",
                "llm",
                "--max-level",
                "0",
            ])
            .args([
                "--llm-provider",
                "openai",
                "--llm-base-url",
                llm.base_url().as_str(),
            ])
            .args(["--start-url", shop.url("/product/kettle").as_str()])
            .arg("-o")
            .arg(&out_path)
            .arg("--stats")
            .arg(&stats_path)
            .env("HAUL_LLM_KEYS", "sk-secret-one,sk-secret-two")
            .env("RUST_LOG", "debug")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("crawl finishes")
    .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let records = read_records(&out_path);
    assert_eq!(records.len(), 1, "{err}");
    let r = &records[0];
    assert_eq!(r.site, "generic");
    assert_eq!(r.title, "Trail Kettle 1 L");
    assert_eq!(r.price.map(|p| p.to_string()).as_deref(), Some("60.00"));
    assert_eq!(r.currency.map(|c| c.to_string()).as_deref(), Some("USD"));
    assert_eq!(serde_json::to_value(r.method).unwrap(), "llm");
    assert_eq!(llm.requests(), 2, "one call plus one continuation round");

    let stats = std::fs::read_to_string(&stats_path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["llm"]["succeeded"], 1, "{stats}");
    assert!(err.contains("llm: 2 calls"), "{err}");
    for secret in ["sk-secret-one", "sk-secret-two"] {
        assert!(!err.contains(secret), "a key leaked into the logs");
        assert!(!stats.contains(secret), "a key leaked into the stats");
    }
}
