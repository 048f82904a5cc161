//! The `generic` site: haul's fallback extractor for URLs no other site claims.
//!
//! It claims no domain (the registry hands it every URL no other site handles) and keeps the
//! default page class (kind `page`, rendered when HTTP gives nothing and looks script-built). `parse` runs
//! `haul-extract`'s product extraction (JSON-LD, microdata, OpenGraph, heuristics) and
//! collects same-site links, skipping account, cart, help and legal pages. `extract` adds the
//! LLM fallback: when parsing found no record, an LLM pool is configured and the page looks
//! like a product page, the page's main content is sent to the LLM as Markdown.

use haul_core::{Context, Document, ExtractError, ExtractMode, Extraction, Extractor, async_trait};
use haul_extract::{
    LlmOptions, Page, extract_page, extract_with_llm, looks_like_product_page, page_links,
    page_markdown,
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
        let mode = cx.extract_mode();
        let llm = match cx.llm().cloned() {
            Some(llm) if mode != ExtractMode::Structured => llm,
            _ => return cx.parse(doc).await,
        };
        if !is_html(&doc) {
            return Ok(Extraction::default());
        }
        let url = doc.url.clone();
        // Parsing and the Markdown conversion are CPU work: off the async runtime.
        let (mut ex, markdown) = cx
            .blocking(&url, move || {
                let page = Page::parse(&doc.body, &doc.url);
                let ex = parse_page(&page);
                // `--extract llm` asks the LLM for every product page, for evaluation; `auto`
                // only when the markup gave nothing.
                let wanted = match mode {
                    ExtractMode::Llm => looks_like_product_page(&page) || !ex.records.is_empty(),
                    _ => ex.records.is_empty() && looks_like_product_page(&page),
                };
                let markdown = wanted.then(|| page_markdown(&page));
                (ex, markdown)
            })
            .await?;
        let Some(md) = markdown else { return Ok(ex) };
        tracing::debug!(%url, "no record from the markup: asking the LLM");
        // The LLM's records replace the markup's (`--extract llm` keeps those only should the
        // LLM fail). The answer is slow: within a crawl the page's links go on without it.
        let markup_records = std::mem::take(&mut ex.records);
        let asked = async move {
            let mut more = Extraction::default();
            match extract_with_llm(llm.as_ref(), &md, &url, NAME, &LlmOptions::default()).await {
                Ok(found) => {
                    more.records = found.records;
                    more.warnings = found.warnings;
                }
                // The page's links are still worth following: the failure becomes a warning.
                Err(e) => {
                    tracing::warn!(%url, "LLM extraction failed: {e}");
                    more.records = markup_records;
                    more.warn(format!("{url}: LLM extraction failed: {e}"));
                }
            }
            more
        };
        Ok(cx.later(ex, asked).await)
    }
}

haul_core::register_site!(Generic);
