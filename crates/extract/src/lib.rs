//! Generic product extraction for haul, shared by site crates: schema.org JSON-LD and
//! microdata, OpenGraph / product meta tags, heuristics for plain HTML, HTML to Markdown, and
//! the LLM extraction path.
//!
//! The entry point is [`extract_product`]; the layers are public too ([`json_ld`],
//! [`microdata`], [`open_graph`], [`heuristic`]) and all work on one parsed [`Page`].
//! [`evidence::evidence`] proposes further price candidates (inline script state, `data-*`
//! price attributes, loose itemprops, shop platforms' markup), each with a strength.
//!
//! ```
//! use haul_core::{Method, Url};
//! let html = r#"<html><head><script type="application/ld+json">
//!   {"@context": "https://schema.org", "@type": "Product", "name": "Alpine Tent",
//!    "offers": {"@type": "Offer", "price": "129.90", "priceCurrency": "EUR"}}
//! </script></head><body><h1>Alpine Tent</h1></body></html>"#;
//! let url = Url::parse("https://shop.example/p/alpine-tent").unwrap();
//! let ex = haul_extract::extract_product(html, &url, "generic");
//! let r = &ex.records[0];
//! assert_eq!(r.title, "Alpine Tent");
//! assert_eq!(r.price.unwrap().to_string(), "129.90");
//! assert_eq!(r.currency.unwrap().as_str(), "EUR");
//! assert_eq!(r.method, Method::JsonLd);
//! ```
//!
//! This crate depends on `haul-core` and `haul-price` only among haul's crates: never on the
//! runner, the browser or an LLM provider (the LLM is reached through core's `LlmPool`).

mod budget;
mod compact;
mod dom;
pub mod eval;
pub mod evidence;
mod heuristic;
mod html;
mod jsonld;
mod links;
pub mod llm;
mod markdown;
mod microdata;
mod opengraph;
mod page;
pub mod paging;
mod product;
mod schema;
pub mod store;
mod text;
pub mod verdict;

pub use budget::MAX_HTML_NODES;
pub use compact::PRODUCT_MARKDOWN_CHARS;
pub use heuristic::{
    PriceCandidate, best_candidate, heuristic, heuristic_title, heuristic_with, main_title,
    price_candidates,
};
pub use html::{MAX_HTML_DEPTH, parse_html, parse_html_fragment};
pub use jsonld::{json_ld, json_ld_values, parse_json_ld};
pub use links::{MAX_LINKS, is_non_product_link, page_links};
pub use llm::{LlmOptions, extract_with_llm, parse_llm_answer};
pub use markdown::{html_to_markdown, page_markdown};
pub use microdata::{microdata, microdata_items};
pub use opengraph::{og_type_is_product, open_graph};
pub use page::{Page, locale_currency};
pub use product::{
    Judged, Layers, extract_page, extract_page_at, extract_page_judged, extract_product,
    has_buy_button, layers, looks_like_product_page, merge, merge_at,
};
pub use text::{
    TitleWords, decode_entities, element_text, normalize_space, price_text, title_tokens,
    token_overlap,
};
pub use verdict::{Abstain, DEFAULT_MIN_CONFIDENCE, ShownPrices};
