//! Bounds on the work one page costs after its HTML is in memory: a node budget for the
//! parsed DOM, and cooperative cancellation.
//!
//! * The parser gets the page in chunks of [`CHUNK`] bytes; once the DOM holds more than
//!   [`MAX_HTML_NODES`] nodes, the rest of the page is left out (every later walk over the DOM
//!   is then bounded too, and so is the longest step between two looks at the flag: a CSS
//!   selector run over the whole DOM, ~0.5 s at the budget in a debug build). Real shop pages
//!   hold a few thousand to a few tens of thousands of nodes; a page of a million links held a
//!   million.
//! * A parse run by `Context::blocking` whose page was given up (timeout, shutdown) sees
//!   [`stop`] turn true (`haul_core::cancel`): the parser is fed no further chunk, and the
//!   long walks (price candidates, titles, DOM facts, links, JSON-LD) return what they have.
//!   What a cancelled parse returns is partial and read by nobody.

use html5ever::driver::{ParseOpts, parse_document as parser};
use html5ever::tendril::{StrTendril, TendrilSink};
use scraper::{Html, HtmlTreeSink};

/// The most DOM nodes (elements, text, comments) a page is parsed into; the part of a page
/// beyond them is not parsed. A page of a million links cost ~20 s of CPU in a debug build
/// (~2 s in a release one) whole.
pub const MAX_HTML_NODES: usize = 200_000;

/// Bytes handed to the parser at a time (between two looks at the budget and the flag).
const CHUNK: usize = 64 * 1024;

/// Whether the blocking work this runs in was given up: stop and return what there is.
pub(crate) fn stop() -> bool {
    haul_core::cancel::cancelled()
}

/// Parses a whole document like `Html::parse_document` (the same tree for a page within the
/// budget), fed in chunks, stopping at [`MAX_HTML_NODES`] nodes or when cancelled.
pub(crate) fn parse_document(html: &str) -> Html {
    let mut parser = parser(
        HtmlTreeSink::new(Html::new_document()),
        ParseOpts::default(),
    );
    let mut rest = html;
    while !rest.is_empty() && !stop() {
        let mut at = rest.len().min(CHUNK);
        while !rest.is_char_boundary(at) {
            at += 1;
        }
        let (chunk, tail) = rest.split_at(at);
        parser.process(StrTendril::from_slice(chunk));
        rest = tail;
        let nodes = parser.tokenizer.sink.sink.0.borrow().tree.nodes().len();
        if nodes > MAX_HTML_NODES {
            break;
        }
    }
    parser.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_within_the_budget_parses_as_a_whole() {
        // Chunk boundaries inside tags, entities, multi-byte characters and CR LF pairs.
        let mut page = String::from("<!doctype html><html><head><title>T</title></head><body>");
        for i in 0..20_000 {
            page.push_str(&format!(
                "<div class=\"c{i}\">Käse &amp; Brot\r\n<b>{i} €</b><!-- n --></div>\r\n"
            ));
        }
        let whole = Html::parse_document(&page);
        let chunked = parse_document(&page);
        assert!(page.len() > 10 * CHUNK);
        assert_eq!(chunked.html(), whole.html());
    }

    #[test]
    fn a_page_past_the_budget_is_cut() {
        let page = "<a href=?x>".repeat(MAX_HTML_NODES * 2);
        let nodes = parse_document(&page).tree.nodes().len();
        assert!(
            (MAX_HTML_NODES..MAX_HTML_NODES + CHUNK).contains(&nodes),
            "{nodes}"
        );
    }

    #[test]
    fn a_cancelled_parse_stops() {
        let flag = haul_core::cancel::CancelFlag::new();
        flag.cancel();
        let page = "<p>x</p>".repeat(100_000);
        let nodes = flag.run(|| parse_document(&page).tree.nodes().len());
        assert!(nodes < 10_000, "{nodes}");
    }
}
