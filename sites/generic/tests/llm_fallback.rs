//! The LLM fallback of `Generic::extract`, with a fake LLM pool: used only when the markup
//! gave no record and the page looks like a product page.

mod common;

use std::sync::Arc;

use common::{FakeLlm, WALNUT_ANSWER, read};
use haul_core::{Context, Document, Extraction, Extractor, LlmPool, Method, Url};
use haul_runner::{HttpFetcher, HttpOptions};
use haul_site_generic::Generic;

/// Where `llm-only.html` was recorded.
const WALNUT: &str = "https://grain.example.com/p/walnut-board";

fn context(llm: Option<Arc<FakeLlm>>) -> Context {
    let fetcher = Arc::new(HttpFetcher::new(&HttpOptions::local()).expect("a fetcher"));
    Context::new(&Generic, fetcher).with_llm(llm.map(|l| l as Arc<dyn LlmPool>))
}

/// `Generic::extract` of fixture `file` recorded at `url`.
async fn extract(cx: &Context, file: &str, url: &str) -> Extraction {
    let doc = Document::new(Url::parse(url).expect("valid URL"), read(file));
    Generic.extract(cx, doc).await.expect("an extraction")
}

#[tokio::test]
async fn a_product_page_without_markup_goes_to_the_llm() {
    let llm = Arc::new(FakeLlm::answering(WALNUT_ANSWER));
    let cx = context(Some(llm.clone()));
    let ex = extract(&cx, "llm-only.html", WALNUT).await;
    assert_eq!(ex.records.len(), 1, "{:?}", ex.warnings);
    let r = &ex.records[0];
    assert_eq!(r.method, Method::Llm);
    assert_eq!(r.title, "Walnut Serving Board");
    assert_eq!(r.price.map(|d| d.to_string()).as_deref(), Some("64.00"));
    assert_eq!(r.currency.map(|c| c.to_string()).as_deref(), Some("USD"));
    assert_eq!(r.url, "https://grain.example.com/p/walnut-board");
    assert_eq!(r.site, "generic");
    // The page's links are kept.
    assert!(ex.links.iter().any(|l| l.path() == "/p/cutting-board"));
    // The LLM saw the main content as Markdown, without the header and footer.
    let prompts = llm.prompts();
    assert_eq!(prompts.len(), 1);
    assert!(
        prompts[0].contains("# Walnut Serving Board"),
        "{}",
        prompts[0]
    );
    assert!(prompts[0].contains("Solid black walnut"));
    assert!(!prompts[0].contains("Contact"));
}

#[tokio::test]
async fn the_llm_is_not_asked_when_markup_suffices_or_the_page_is_no_product() {
    let llm = Arc::new(FakeLlm::answering(WALNUT_ANSWER));
    let cx = context(Some(llm.clone()));
    let ex = extract(
        &cx,
        "microdata.html",
        "https://lumen.example.co.uk/p/brass-desk-lamp",
    )
    .await;
    assert_eq!(ex.records[0].method, Method::Microdata);
    let ex = extract(&cx, "listing.html", "https://hearth.example.com/c/cookware").await;
    assert!(ex.records.is_empty());
    assert!(
        llm.prompts().is_empty(),
        "the LLM was asked: {:?}",
        llm.prompts()
    );
}

#[tokio::test]
async fn without_an_llm_or_when_it_fails_the_page_still_gives_its_links() {
    let ex = extract(&context(None), "llm-only.html", WALNUT).await;
    assert!(ex.records.is_empty());
    assert!(!ex.links.is_empty());

    let llm = Arc::new(FakeLlm::failing("provider down"));
    let ex = extract(&context(Some(llm)), "llm-only.html", WALNUT).await;
    assert!(ex.records.is_empty());
    assert!(!ex.links.is_empty());
    assert!(
        ex.warnings.iter().any(|w| w.0.contains("provider down")),
        "{:?}",
        ex.warnings
    );
}

#[tokio::test]
async fn with_auto_an_llm_price_the_page_does_not_show_is_not_taken() {
    let made_up = WALNUT_ANSWER.replace("$64.00", "$99.00");
    let llm = Arc::new(FakeLlm::answering(&made_up));
    let cx = context(Some(llm.clone()));
    let ex = extract(&cx, "llm-only.html", WALNUT).await;
    assert_eq!(llm.prompts().len(), 1);
    assert!(ex.records.is_empty(), "{:?}", ex.records);
    assert!(
        ex.warnings
            .iter()
            .any(|w| w.0.contains("price 99.00 is not shown on the page")),
        "{:?}",
        ex.warnings
    );
    // The price the page shows is taken, with the confidence of a checked answer.
    let llm = Arc::new(FakeLlm::answering(WALNUT_ANSWER));
    let ex = extract(&context(Some(llm)), "llm-only.html", WALNUT).await;
    assert_eq!(ex.records[0].confidence, Some(0.7));
}

#[tokio::test]
async fn a_price_under_min_confidence_goes_to_the_llm_and_is_checked_against_the_page() {
    const LAMP: &str = "https://lumen.example.co.uk/p/brass-desk-lamp";
    let answer =
        r#"{"products": [{"title": "Brass Desk Lamp", "price": "£64.50", "currency": "GBP"}]}"#;
    // A floor no markup price reaches: the markup's price is withheld and the LLM asked.
    let llm = Arc::new(FakeLlm::answering(answer));
    let cx = context(Some(llm.clone())).with_min_confidence(Some(1.0));
    let ex = extract(&cx, "microdata.html", LAMP).await;
    assert_eq!(llm.prompts().len(), 1);
    let r = &ex.records[0];
    assert_eq!(r.method, Method::Llm);
    assert_eq!(r.price.map(|d| d.to_string()).as_deref(), Some("64.50"));
    // Without an LLM the same floor gives the record without a price, and says why.
    let cx = context(None).with_min_confidence(Some(1.0));
    let ex = extract(&cx, "microdata.html", LAMP).await;
    assert_eq!(ex.records[0].price, None);
    assert!(
        ex.warnings
            .iter()
            .any(|w| w.0.contains("64.50 withheld: the evidence is weak")),
        "{:?}",
        ex.warnings
    );
    // The default floor keeps it, with its confidence.
    let ex = extract(&context(None), "microdata.html", LAMP).await;
    let c = ex.records[0].confidence.expect("a confidence");
    assert!(c >= 0.8, "{c}");
}
