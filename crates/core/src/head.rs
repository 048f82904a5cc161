//! What a document's markup says about where it is and where it goes before any parsing: its
//! `<base href>` (links resolve against it) and its `<meta http-equiv="refresh">` (a redirect
//! written in HTML). Read with html5ever's tokenizer (the parser under scraper) over the first
//! [`SCANNED_BYTES`], the way a browser with scripting on reads it: the content of `<script>`,
//! `<style>`, `<noscript>`, `<template>`, `<title>`, `<textarea>` and comments is text, so a
//! refresh inside `<noscript>` (a "please turn on JavaScript" page) is not followed.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, StartTag, Tag, TagToken, Token, TokenSink, TokenSinkResult, Tokenizer,
    TokenizerOpts,
};
use url::Url;

/// How much of a body is read for its `<base>` and refresh (both belong in `<head>`).
pub const SCANNED_BYTES: usize = 64 * 1024;

/// The longest refresh delay taken as a redirect: a page that refreshes later is content
/// that reloads itself, not a way to somewhere else.
pub const MAX_REFRESH_DELAY_SECS: u32 = 5;

/// What the start of a document says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadFacts {
    /// The first `<base href>`'s value, as written.
    pub base_href: Option<String>,
    /// The first `<meta http-equiv="refresh">`: its delay in seconds and its URL as written
    /// (`None` for a plain reload).
    pub refresh: Option<(u32, Option<String>)>,
}

#[derive(Default)]
struct Sink {
    facts: RefCell<HeadFacts>,
}

fn attr(tag: &Tag, name: &str) -> Option<String> {
    tag.attrs
        .iter()
        .find(|a| &*a.name.local == name)
        .map(|a| a.value.to_string())
}

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let TagToken(tag) = token else {
            return TokenSinkResult::Continue;
        };
        if tag.kind != StartTag {
            return TokenSinkResult::Continue;
        }
        match &*tag.name {
            "script" => return TokenSinkResult::RawData(RawKind::ScriptData),
            "style" | "noscript" | "template" | "xmp" | "iframe" | "noembed" | "noframes" => {
                return TokenSinkResult::RawData(RawKind::Rawtext);
            }
            "title" | "textarea" => return TokenSinkResult::RawData(RawKind::Rcdata),
            "plaintext" => return TokenSinkResult::Plaintext,
            "base" => {
                let mut f = self.facts.borrow_mut();
                if f.base_href.is_none() {
                    f.base_href = attr(&tag, "href").map(|h| h.trim().to_string());
                }
            }
            "meta" => {
                let refresh = attr(&tag, "http-equiv")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("refresh"));
                let mut f = self.facts.borrow_mut();
                if refresh && f.refresh.is_none() {
                    f.refresh = attr(&tag, "content").and_then(|c| parse_refresh(&c));
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// Reads the start of `body` (see the module's doc).
pub fn scan(body: &str) -> HeadFacts {
    let mut cut = body.len().min(SCANNED_BYTES);
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &body[..cut];
    // Most pages have neither: no tokenizing for them.
    if !contains_ignore_case(head, b"<base") && !contains_ignore_case(head, b"refresh") {
        return HeadFacts::default();
    }
    let tok = Tokenizer::new(Sink::default(), TokenizerOpts::default());
    let queue = BufferQueue::default();
    queue.push_back(StrTendril::from_slice(head));
    let _ = tok.feed(&queue);
    tok.end();
    tok.sink.facts.take()
}

/// Whether `s` holds `needle` (ASCII, lower-case) in any case.
fn contains_ignore_case(s: &str, needle: &[u8]) -> bool {
    s.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The content of a refresh meta: `5`, `0;url=/x`, `0; URL='/x'`, `0,url=/x`, `0 /x`.
fn parse_refresh(content: &str) -> Option<(u32, Option<String>)> {
    let c = content.trim();
    let digits = c.len() - c.trim_start_matches(|ch: char| ch.is_ascii_digit()).len();
    let delay: u32 = c[..digits].parse().unwrap_or(0);
    if digits == 0 && !c.starts_with('.') {
        return None;
    }
    let rest = c[digits..].trim_start_matches(|ch: char| ch.is_ascii_digit() || ch == '.');
    let rest = rest.trim_start_matches(|ch: char| ch.is_whitespace() || ch == ';' || ch == ',');
    let rest = match rest.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("url") => {
            let after = rest[3..].trim_start();
            after.strip_prefix('=').map_or(rest, str::trim_start)
        }
        _ => rest,
    };
    let url = rest
        .trim()
        .trim_matches(|ch| ch == '\'' || ch == '"')
        .trim()
        .to_string();
    Some((delay, (!url.is_empty()).then_some(url)))
}

/// Where links of a document at `url` resolve: its `<base href>` when that is an http(s)
/// URL (relative ones resolve against `url`), else `url`.
pub fn base_url(facts: &HeadFacts, url: &Url) -> Url {
    facts
        .base_href
        .as_deref()
        .filter(|h| !h.is_empty())
        .and_then(|h| url.join(h).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .unwrap_or_else(|| url.clone())
}

/// Where a document at `url` sends its reader at once: a refresh of at most
/// [`MAX_REFRESH_DELAY_SECS`] to another http(s) URL (resolved against the base).
pub fn refresh_target(facts: &HeadFacts, url: &Url) -> Option<Url> {
    let (delay, to) = facts.refresh.as_ref()?;
    if *delay > MAX_REFRESH_DELAY_SECS {
        return None;
    }
    let to = base_url(facts, url).join(to.as_deref()?).ok()?;
    let mut same = to.clone();
    same.set_fragment(None);
    let mut here = url.clone();
    here.set_fragment(None);
    (matches!(to.scheme(), "http" | "https") && same != here).then_some(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn refresh_contents_in_the_forms_shops_write() {
        for (content, want) in [
            ("0;url=/x", Some((0, Some("/x")))),
            ("0; URL='/x?a=1'", Some((0, Some("/x?a=1")))),
            (
                "3, url = \"https://s.example/y\"",
                Some((3, Some("https://s.example/y"))),
            ),
            ("0 /z", Some((0, Some("/z")))),
            ("1800", Some((1800, None))),
            ("0.5;url=/h", Some((0, Some("/h")))),
            ("url=/x", None),
            ("", None),
        ] {
            let got = parse_refresh(content);
            let want = want.map(|(d, u): (u32, Option<&str>)| (d, u.map(str::to_string)));
            assert_eq!(got, want, "{content:?}");
        }
    }

    #[test]
    fn a_refresh_is_followed_only_when_soon_elsewhere_and_not_inside_noscript() {
        let here = u("https://s.example/a/b");
        let at = |html: &str| refresh_target(&scan(html), &here).map(|x| x.to_string());
        let page = r#"<html><head><META HTTP-EQUIV="Refresh" CONTENT="0; URL=/en-us/"></head>"#;
        assert_eq!(at(page).as_deref(), Some("https://s.example/en-us/"));
        // A later refresh, a reload, the page itself: content, not a redirect.
        assert_eq!(
            at(r#"<meta http-equiv="refresh" content="60;url=/">"#),
            None
        );
        assert_eq!(at(r#"<meta http-equiv="refresh" content="0">"#), None);
        assert_eq!(
            at(r#"<meta http-equiv="refresh" content="0;url=/a/b#top">"#),
            None
        );
        // Only a browser without JavaScript, or text, would go there.
        let noscript = r#"<head><noscript><meta http-equiv="refresh" content="0;url=/nojs"></noscript></head><body>x"#;
        assert_eq!(at(noscript), None);
        let script =
            r#"<script>document.write('<meta http-equiv="refresh" content="0;url=/s">')</script>"#;
        assert_eq!(at(script), None);
        let comment = r#"<!-- <meta http-equiv="refresh" content="0;url=/c"> -->"#;
        assert_eq!(at(comment), None);
        assert_eq!(
            at(r#"<meta http-equiv="refresh" content="0;url=javascript:x()">"#),
            None
        );
        // Relative to the base.
        let based = r#"<base href="https://s.example/shop/"><meta http-equiv="refresh" content="0;url=p/1">"#;
        assert_eq!(at(based).as_deref(), Some("https://s.example/shop/p/1"));
    }

    #[test]
    fn the_first_base_href_decides_where_links_resolve() {
        let here = u("https://s.example/c/shoes/page-2");
        let base = |html: &str| base_url(&scan(html), &here).to_string();
        assert_eq!(
            base(r#"<head><base href="/"><base href="/x/">"#),
            "https://s.example/"
        );
        assert_eq!(base(r#"<base target="_blank"><p>"#), here.as_str());
        assert_eq!(base(r#"<base href="javascript:void(0)">"#), here.as_str());
        assert_eq!(base(r#"<base href="../">"#), "https://s.example/c/");
        assert_eq!(
            base(r#"<title><base href="/t/"></title>"#),
            here.as_str(),
            "text in a title is no element"
        );
        // Far past the scanned start: not read.
        let late = format!("{}<base href=\"/late/\">", " ".repeat(SCANNED_BYTES));
        assert_eq!(base(&late), here.as_str());
    }
}
