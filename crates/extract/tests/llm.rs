//! The LLM path with a fake `LlmPool` (no network): prompts, validation of answers, invalid
//! answers, chunking of long pages and merging of the chunks' records.

use std::sync::Mutex;

use haul_core::{
    ExtractError, LlmAnswer, LlmError, LlmPool, LlmTask, Method, Record, Url, async_trait,
};
use haul_extract::llm::{LlmOptions, extract_with_llm, llm_tasks, parse_llm_answer};

/// Answers every task with the result of a function of the task, and records the tasks.
struct FakePool<F: Fn(&LlmTask) -> Result<String, LlmError> + Send + Sync> {
    answer: F,
    seen: Mutex<Vec<LlmTask>>,
}

impl<F: Fn(&LlmTask) -> Result<String, LlmError> + Send + Sync> FakePool<F> {
    fn new(answer: F) -> Self {
        Self {
            answer,
            seen: Mutex::new(Vec::new()),
        }
    }

    fn tasks(&self) -> Vec<LlmTask> {
        self.seen.lock().expect("lock").clone()
    }
}

#[async_trait]
impl<F: Fn(&LlmTask) -> Result<String, LlmError> + Send + Sync> LlmPool for FakePool<F> {
    async fn submit(&self, task: LlmTask) -> Result<LlmAnswer, LlmError> {
        let text = (self.answer)(&task)?;
        self.seen.lock().expect("lock").push(task);
        Ok(LlmAnswer {
            json: serde_json::from_str(&text).ok(),
            text,
            input_tokens: 100,
            output_tokens: 10,
            continuations: 0,
        })
    }
}

fn url() -> Url {
    Url::parse("https://moebel.example.de/p/lund").expect("valid URL")
}

fn answer(text: &str) -> LlmAnswer {
    LlmAnswer {
        text: text.to_string(),
        json: serde_json::from_str(text).ok(),
        input_tokens: 0,
        output_tokens: 0,
        continuations: 0,
    }
}

#[tokio::test]
async fn one_chunk_page_gives_validated_records() {
    let pool = FakePool::new(|_| {
        Ok(r#"{"products": [{"title": "Ecksofa Lund", "price": "1.299,00 €", "list_price": "1.599,00 €",
            "currency": "EUR", "availability": "in stock", "brand": "Lund", "rating": "4.5", "rating_count": 12}]}"#
            .to_string())
    });
    let md = "# Ecksofa Lund\n\nJetzt 1.299,00 € statt 1.599,00 €";
    let ex = extract_with_llm(&pool, md, &url(), "generic", &LlmOptions::default())
        .await
        .expect("an extraction");
    assert_eq!(ex.records.len(), 1);
    let r = &ex.records[0];
    assert_eq!(r.method, Method::Llm);
    assert_eq!(r.title, "Ecksofa Lund");
    assert_eq!(r.price.map(|d| d.to_string()).as_deref(), Some("1299.00"));
    assert_eq!(
        r.list_price.map(|d| d.to_string()).as_deref(),
        Some("1599.00")
    );
    assert_eq!(r.currency.map(|c| c.to_string()).as_deref(), Some("EUR"));
    assert_eq!(r.url, url().as_str());
    assert_eq!(r.rating_count, Some(12));

    let tasks = pool.tasks();
    assert_eq!(tasks.len(), 1);
    let t = &tasks[0];
    assert!(t.json);
    assert_eq!(t.site, "generic");
    assert!(
        t.system.contains("\"products\"") && t.system.contains("list_price"),
        "the system instructions have the schema"
    );
    assert!(
        !t.prompt.contains("list_price"),
        "the user turn has the page only"
    );
    assert!(
        t.prompt.contains("Jetzt 1.299,00 €"),
        "the prompt has the page"
    );
    assert!(t.prompt.contains(url().as_str()));
}

/// (answer, expected titles, expected prices, expected currencies)
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [Option<&'static str>],
    &'static [Option<&'static str>],
);

/// `strs` as owned strings, for comparing with what records hold.
fn owned(strs: &[Option<&str>]) -> Vec<Option<String>> {
    strs.iter().map(|s| s.map(str::to_string)).collect()
}

#[test]
fn answers_are_validated_field_by_field() {
    // (answer, expected titles, expected prices, expected currencies)
    let cases: &[Case] = &[
        // No title: rejected; a number price is exact.
        (
            r#"{"products": [{"price": "5.00"}, {"title": "Mug", "price": 12.5, "currency": "usd"}]}"#,
            &["Mug"],
            &[Some("12.5")],
            &[Some("USD")],
        ),
        // A currency that is not ISO is dropped; an unreadable price is dropped.
        (
            r#"{"products": [{"title": "Pen", "price": "call us", "currency": "DOLLARZ"}]}"#,
            &["Pen"],
            &[None],
            &[None],
        ),
        // A bare array, a written symbol resolved with the domain (.de: € anyway).
        (
            r#"[{"title": "Lamp", "price": "24,95 €"}]"#,
            &["Lamp"],
            &[Some("24.95")],
            &[Some("EUR")],
        ),
        // A single object; an answer in a Markdown code fence.
        (
            "```json\n{\"title\": \"Rug\", \"price\": \"99 EUR\"}\n```",
            &["Rug"],
            &[Some("99")],
            &[Some("EUR")],
        ),
        // Nothing on the page.
        (r#"{"products": []}"#, &[], &[], &[]),
    ];
    for (text, titles, prices, currencies) in cases {
        let ex = parse_llm_answer(&answer(text), &url(), "generic").expect("a valid answer");
        let got_titles: Vec<&str> = ex.records.iter().map(|r| r.title.as_str()).collect();
        assert_eq!(&got_titles, titles, "{text}");
        let got = |field: fn(&Record) -> Option<String>| -> Vec<Option<String>> {
            ex.records.iter().map(field).collect()
        };
        let price = got(|r| r.price.map(|d| d.to_string()));
        assert_eq!(price, owned(prices), "{text}");
        let currency = got(|r| r.currency.map(|c| c.to_string()));
        assert_eq!(currency, owned(currencies), "{text}");
    }
}

#[tokio::test]
async fn an_invalid_answer_is_an_error_keeping_the_raw_text() {
    let pool = FakePool::new(|_| Ok("Sorry, I cannot help with that.".to_string()));
    let err = extract_with_llm(&pool, "# Page", &url(), "generic", &LlmOptions::default())
        .await
        .expect_err("an invalid answer");
    match err {
        ExtractError::Llm(LlmError::InvalidAnswer { raw, .. }) => {
            assert_eq!(raw, "Sorry, I cannot help with that.");
        }
        other => panic!("unexpected error {other:?}"),
    }
    // Valid JSON of the wrong shape is invalid too.
    let err =
        parse_llm_answer(&answer(r#"{"answer": 42}"#), &url(), "generic").expect_err("wrong shape");
    assert!(matches!(err, LlmError::InvalidAnswer { .. }));
}

#[tokio::test]
async fn long_pages_are_chunked_and_records_merged() {
    // A listing of 60 products, each line with its own link.
    let md: String = (0..60)
        .map(|i| format!("## Product {i:02}\n[link](/p/{i:02}) Price: {i}.00 €\n\n"))
        .collect();
    let opts = LlmOptions {
        chunk_chars: 600,
        overlap_chars: 120,
        max_chunks: 100,
    };
    let tasks = llm_tasks(&md, &url(), "generic", &opts);
    assert!(tasks.len() >= 4, "{} chunks", tasks.len());
    assert!(
        tasks[0]
            .prompt
            .contains(&format!("part 1 of {}", tasks.len()))
    );

    // The fake model returns every product it sees in its chunk, the ones in the overlap
    // twice over the whole run; one chunk also gives the brand of a product seen twice.
    let pool = FakePool::new(|task: &LlmTask| {
        let page = task.prompt.split("Page:\n").nth(1).unwrap_or("");
        let products: Vec<serde_json::Value> = page
            .lines()
            .filter_map(|l| l.strip_prefix("## Product "))
            .map(|n| {
                let mut p = serde_json::json!({
                    "title": format!("Product {n}"),
                    "url": format!("/p/{n}"),
                    "price": format!("{}.00 €", n.trim_start_matches('0').parse::<u32>().unwrap_or(0)),
                });
                if page.starts_with("## Product 0") {
                    p["brand"] = "First chunk".into();
                }
                p
            })
            .collect();
        Ok(serde_json::json!({ "products": products }).to_string())
    });
    let ex = extract_with_llm(&pool, &md, &url(), "generic", &opts)
        .await
        .expect("records");
    assert_eq!(ex.records.len(), 60, "each product once");
    let mut urls: Vec<&str> = ex.records.iter().map(|r| r.url.as_str()).collect();
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 60);
    assert_eq!(ex.records[5].url, "https://moebel.example.de/p/05");
    assert_eq!(
        ex.records[5].price.map(|d| d.to_string()).as_deref(),
        Some("5.00")
    );
}

#[tokio::test]
async fn a_failing_chunk_among_good_ones_is_a_warning() {
    let md: String = (0..40)
        .map(|i| format!("line {i} {}\n", "x".repeat(50)))
        .collect();
    let opts = LlmOptions {
        chunk_chars: 500,
        overlap_chars: 0,
        max_chunks: 100,
    };
    let pool = FakePool::new(|task: &LlmTask| {
        if task.prompt.contains("part 2 of") {
            Err(LlmError::Exhausted {
                attempts: 3,
                kind: haul_core::LlmFailureKind::Transport(haul_core::TransportKind::Timeout),
                last: "timeout".into(),
            })
        } else {
            Ok(r#"{"products": [{"title": "Thing", "price": "1.00 €"}]}"#.to_string())
        }
    });
    let ex = extract_with_llm(&pool, &md, &url(), "generic", &opts)
        .await
        .expect("partial");
    assert_eq!(
        ex.records.len(),
        1,
        "the same product from several chunks is merged"
    );
    assert!(
        ex.warnings.iter().any(|w| w.0.contains("chunk 2")),
        "{:?}",
        ex.warnings
    );
}
