//! The `generic` site: haul's fallback extractor for URLs no other site claims.
//!
//! It claims no domain (the registry hands it every URL no other site handles) and keeps the
//! default page class (kind `page`, rendered when HTTP gives nothing and looks script-built). `parse` runs
//! `haul-extract`'s product extraction (JSON-LD, microdata, OpenGraph, heuristics) and
//! collects same-site links, skipping account, cart, help and legal pages. `extract` adds the
//! LLM fallback: when an LLM pool is configured and parsing found no record on a page that
//! looks like a product page, or withheld a price it was not sure enough of
//! (`--min-confidence`), the page's main content is sent to the LLM as Markdown; with
//! `--extract auto` the answer's price must be one the page shows, else the markup's record
//! stays.

use haul_core::{Context, Document, ExtractError, ExtractMode, Extraction, Extractor, async_trait};
use haul_extract::{
    Abstain, DEFAULT_MIN_CONFIDENCE, LlmOptions, Page, ShownPrices, extract_page,
    extract_page_judged, extract_with_llm, looks_like_product_page, page_links, page_markdown,
    price_candidates,
};

/// The generic extractor (registered as `generic`).
#[derive(Debug, Clone, Copy)]
pub struct Generic;

/// The registered name.
pub const NAME: &str = "generic";

/// Whether a document is worth parsing as HTML.
fn is_html(doc: &Document) -> bool {
    match &doc.content_type {
        Some(ct) => {
            let ct = ct.to_ascii_lowercase();
            ct.contains("html") || ct.contains("xml") || ct.starts_with("text/plain")
        }
        None => !doc.is_json(),
    }
}

/// Product records and links of a parsed page.
fn parse_page(page: &Page) -> Extraction {
    let mut ex = extract_page(page, NAME);
    ex.links = page_links(page);
    ex
}

#[async_trait]
impl Extractor for Generic {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "any shop: schema.org JSON-LD / microdata, OpenGraph, heuristics, LLM fallback"
    }

    fn parse(&self, doc: &Document) -> Result<Extraction, ExtractError> {
        if !is_html(doc) {
            return Ok(Extraction::default());
        }
        Ok(parse_page(&Page::parse(&doc.body, &doc.url)))
    }

    async fn extract(&self, cx: &Context, doc: Document) -> Result<Extraction, ExtractError> {
        if !is_html(&doc) {
            return Ok(Extraction::default());
        }
        let mode = cx.extract_mode();
        let floor = cx.min_confidence().unwrap_or(DEFAULT_MIN_CONFIDENCE);
        let llm = cx
            .llm()
            .cloned()
            .filter(|_| mode != ExtractMode::Structured);
        let has_llm = llm.is_some();
        let url = doc.url.clone();
        // Parsing and the Markdown conversion are CPU work: off the async runtime.
        let (mut ex, ask) = cx
            .blocking(&url, move || {
                let page = Page::parse(&doc.body, &doc.url);
                let judged = extract_page_judged(&page, NAME, floor);
                let mut ex = judged.extraction;
                ex.links = page_links(&page);
                let ask = has_llm
                    .then(|| llm_question(&page, &ex, judged.withheld.as_ref(), mode))
                    .flatten();
                (ex, ask)
            })
            .await?;
        let (Some(llm), Some(ask)) = (llm, ask) else {
            return Ok(ex);
        };
        tracing::debug!(%url, "asking the LLM");
        // The LLM's records replace the markup's, which stay should the LLM fail or give a
        // price the page does not show. The answer is slow: within a crawl the page's links
        // go on without it.
        let markup = std::mem::take(&mut ex.records);
        let asked = async move {
            let answer = extract_with_llm(
                llm.as_ref(),
                &ask.markdown,
                &url,
                NAME,
                &LlmOptions::default(),
            )
            .await;
            llm_verdict(&url, answer, markup, ask.shown.as_ref())
        };
        Ok(cx.later(ex, asked).await)
    }
}

/// What to send the LLM about a page, and the prices the page shows to check its answer.
struct Question {
    markdown: String,
    /// `None` with `--extract llm` (evaluation: the answer is taken as it is).
    shown: Option<ShownPrices>,
}

/// Whether the page goes to the LLM: with `--extract llm` every product page; with `auto`
/// a product-like page the markup gave nothing for, or whose price the markup was not sure
/// enough of (under `--min-confidence`).
fn llm_question(
    page: &Page,
    ex: &Extraction,
    withheld: Option<&Abstain>,
    mode: ExtractMode,
) -> Option<Question> {
    let wanted = match mode {
        ExtractMode::Llm => looks_like_product_page(page) || !ex.records.is_empty(),
        _ => {
            (ex.records.is_empty() && looks_like_product_page(page))
                || matches!(withheld, Some(Abstain::Weak { .. }))
        }
    };
    wanted.then(|| Question {
        markdown: page_markdown(page),
        shown: (mode != ExtractMode::Llm).then(|| ShownPrices::of(page, &price_candidates(page))),
    })
}

/// The page's records from the LLM's answer: its records when their prices are shown on the
/// page (with `auto`), else the markup's records with a warning.
fn llm_verdict(
    url: &haul_core::Url,
    answer: Result<Extraction, ExtractError>,
    markup: Vec<haul_core::Record>,
    shown: Option<&ShownPrices>,
) -> Extraction {
    let mut more = Extraction::default();
    match answer {
        Ok(found) => {
            more.warnings = found.warnings;
            let unseen = shown.and_then(|s| {
                found
                    .records
                    .iter()
                    .filter_map(|r| r.price)
                    .find(|p| !s.shows(*p))
            });
            match unseen {
                Some(p) => {
                    more.records = markup;
                    more.warn(format!(
                        "{url}: LLM answer not taken: its price {p} is not shown on the page"
                    ));
                }
                None => {
                    more.records = found.records;
                    if shown.is_some() {
                        for r in more.records.iter_mut().filter(|r| r.price.is_some()) {
                            // An LLM price the page visibly shows.
                            r.confidence = Some(LLM_CHECKED_CONFIDENCE);
                        }
                    }
                }
            }
        }
        // The page's links are still worth following: the failure becomes a warning.
        Err(e) => {
            tracing::warn!(%url, "LLM extraction failed: {e}");
            more.records = markup;
            more.warn(format!("{url}: LLM extraction failed: {e}"));
        }
    }
    more
}

/// The confidence of an LLM price checked against the prices the page shows.
const LLM_CHECKED_CONFIDENCE: f64 = 0.7;

haul_core::register_site!(Generic);
