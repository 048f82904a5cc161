//! What the generic site's tests share: the recorded fixture pages with the URL each was
//! recorded at and the record expected from it, and a fake LLM pool.

#![allow(dead_code, unreachable_pub)]

use std::sync::Mutex;

use haul_core::{LlmAnswer, LlmError, LlmPool, LlmTask, async_trait};

/// One recorded page.
pub struct Fixture {
    /// File under `tests/fixtures/`.
    pub file: &'static str,
    /// The URL it was recorded at.
    pub url: &'static str,
    /// Path it is served at by the crawl test.
    pub path: &'static str,
    /// Expected record: title, price, list price, currency, method (`None`: no record).
    pub expect: Option<(
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        &'static str,
    )>,
}

/// Every fixture with its expectation.
pub const FIXTURES: &[Fixture] = &[
    Fixture {
        file: "jsonld-graph.html",
        url: "https://peakpine.example.com/product/trail-runner-2/",
        path: "/product/trail-runner-2/",
        expect: Some((
            "Trail Runner 2 Running Shoe",
            "89.95",
            Some("119.95"),
            "USD",
            "json_ld",
        )),
    },
    Fixture {
        file: "aggregate-offer.html",
        url: "https://northernknits.example.ca/p/merino-crew",
        path: "/p/merino-crew",
        expect: Some(("Merino Crew Sweater", "79", None, "CAD", "json_ld")),
    },
    Fixture {
        file: "microdata.html",
        url: "https://lumen.example.co.uk/p/brass-desk-lamp",
        path: "/p/brass-desk-lamp",
        expect: Some((
            "Brass Desk Lamp",
            "64.50",
            Some("75.00"),
            "GBP",
            "microdata",
        )),
    },
    Fixture {
        file: "opengraph-only.html",
        url: "https://claystudio.example.com/products/ceramic-mug",
        path: "/products/ceramic-mug",
        expect: Some(("Handmade Ceramic Mug", "32.00", None, "USD", "open_graph")),
    },
    Fixture {
        file: "plain-was-now.html",
        url: "https://hearth.example.com/p/skillet-12",
        path: "/p/skillet-12",
        expect: Some((
            "Cast Iron Skillet 12\"",
            "44.99",
            Some("59.99"),
            "USD",
            "heuristic",
        )),
    },
    Fixture {
        file: "german-eur.html",
        url: "https://wohnhaus.example.de/p/ecksofa-lund",
        path: "/p/ecksofa-lund",
        expect: Some((
            "Ecksofa Lund, Cord, Salbeigrün",
            "1299.00",
            Some("1599.00"),
            "EUR",
            "heuristic",
        )),
    },
    Fixture {
        file: "listing.html",
        url: "https://hearth.example.com/c/cookware",
        path: "/c/cookware",
        expect: None,
    },
    Fixture {
        file: "llm-only.html",
        url: "https://grain.example.com/p/walnut-board",
        path: "/p/walnut-board",
        expect: None,
    },
];

/// The text of a fixture.
pub fn read(file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// An LLM pool that answers every task with a fixed text and records the prompts.
pub struct FakeLlm {
    pub answer: Result<String, String>,
    pub prompts: Mutex<Vec<String>>,
}

impl FakeLlm {
    /// A pool answering `text`.
    pub fn answering(text: &str) -> Self {
        Self {
            answer: Ok(text.to_string()),
            prompts: Mutex::new(Vec::new()),
        }
    }

    /// A pool whose every call fails.
    pub fn failing(message: &str) -> Self {
        Self {
            answer: Err(message.to_string()),
            prompts: Mutex::new(Vec::new()),
        }
    }

    /// Prompts received so far.
    pub fn prompts(&self) -> Vec<String> {
        self.prompts.lock().expect("lock").clone()
    }
}

#[async_trait]
impl LlmPool for FakeLlm {
    async fn submit(&self, task: LlmTask) -> Result<LlmAnswer, LlmError> {
        self.prompts.lock().expect("lock").push(task.prompt);
        match &self.answer {
            Ok(text) => Ok(LlmAnswer {
                json: serde_json::from_str(text).ok(),
                text: text.clone(),
                input_tokens: 1,
                output_tokens: 1,
                continuations: 0,
            }),
            Err(m) => Err(LlmError::Exhausted {
                attempts: 3,
                kind: haul_core::LlmFailureKind::Other,
                last: m.clone(),
            }),
        }
    }
}

/// The answer the fake LLM gives for the walnut board page.
pub const WALNUT_ANSWER: &str = r#"{"products": [{"title": "Walnut Serving Board", "price": "$64.00", "currency": "USD", "availability": "in stock"}]}"#;
