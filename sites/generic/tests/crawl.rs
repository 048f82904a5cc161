//! The generic site through the real runner: the fixtures served on 127.0.0.1:0, crawled from
//! an index page with a fake LLM pool, records written to a JSON Lines file.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use common::{FIXTURES, FakeLlm, WALNUT_ANSWER, read};
use haul_core::{LlmPool, Method, Record};
use haul_runner::{
    CancellationToken, CrawlOptions, Crawler, HttpFetcher, HttpOptions, Output, RenderMode,
    Services, SiteJob,
};
use haul_site_generic::Generic;
use haul_testkit::TestServer;

fn router() -> Router {
    Router::new().fallback(|req: Request| async move {
        let path = req.uri().path().to_string();
        if path == "/" {
            let links: String = FIXTURES
                .iter()
                .map(|f| format!(r#"<li><a href="{}">{}</a></li>"#, f.path, f.file))
                .collect();
            let body = format!(
                "<html lang=\"en-US\"><head><title>Fixtures</title></head><body><h1>Fixtures</h1><ul>{links}</ul></body></html>"
            );
            return ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
        }
        match FIXTURES.iter().find(|f| f.path == path) {
            Some(f) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], read(f.file)).into_response(),
            None => (StatusCode::NOT_FOUND, "not found").into_response(),
        }
    })
}

#[tokio::test]
async fn crawls_the_fixtures_through_the_runner() {
    let server = TestServer::start(router()).await.expect("a test server");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("out.jsonl");
    let output = Output::create(&path).expect("an output file");
    let llm = Arc::new(FakeLlm::answering(WALNUT_ANSWER));
    let services = Services {
        fetcher: Arc::new(HttpFetcher::new(&HttpOptions::local()).expect("a fetcher")),
        pages: None,
        llm: Some(llm.clone() as Arc<dyn LlmPool>),
    };
    let opts = CrawlOptions {
        max_level: 1,
        concurrency: 2,
        render: RenderMode::Never,
        retries: 0,
        ..CrawlOptions::default()
    };
    let crawler = Crawler::new(opts, services, output.sender(), CancellationToken::new());
    let report = crawler
        .run(vec![SiteJob::new(&Generic, vec![server.url("/")])])
        .await;
    let written = output.finish().await.expect("output finished");

    let text = std::fs::read_to_string(&path).expect("read output");
    let records: Vec<Record> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record per line"))
        .collect();
    assert_eq!(written as usize, records.len());
    let by_path: BTreeMap<String, &Record> = records
        .iter()
        .map(|r| {
            let u = haul_core::Url::parse(&r.url).expect("record URL");
            (u.path().to_string(), r)
        })
        .collect();

    // Every fixture with an expected record gave it, at its path on the test server.
    for f in FIXTURES {
        let got = by_path.get(f.path);
        match f.expect {
            Some((title, price, _, currency, method)) => {
                let r = got.unwrap_or_else(|| panic!("no record for {}: {records:?}", f.path));
                assert_eq!(r.title, title);
                assert_eq!(r.price.map(|d| d.to_string()).as_deref(), Some(price));
                assert_eq!(r.currency.map(|c| c.to_string()).as_deref(), Some(currency));
                assert_eq!(r.method.to_string(), method);
                assert_eq!(r.site, "generic");
            }
            None if f.file == "llm-only.html" => {
                let r = got.expect("the LLM record");
                assert_eq!(r.method, Method::Llm);
                assert_eq!(r.title, "Walnut Serving Board");
            }
            None => assert!(got.is_none(), "{}: {got:?}", f.path),
        }
    }
    assert_eq!(records.len(), 7, "{records:#?}");
    // Only the page without usable markup went to the LLM.
    assert_eq!(llm.prompts().len(), 1);
    // Index + 8 fixtures fetched at levels 0 and 1; links found there are not followed.
    let site = &report.sites[0];
    assert_eq!(site.pages_ok, 9, "{site:?}");
    assert_eq!(server.stats().hits("/"), 1);
    for f in FIXTURES {
        assert_eq!(server.stats().hits(f.path), 1, "{}", f.path);
    }
}
