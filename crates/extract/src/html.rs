//! HTML parsing with a bounded nesting depth.
//!
//! html5ever's tree builder scans its stack of open elements for many start tags (every
//! `<div>` checks for an open `<p>` "in button scope"; every `<b>` checks the list of active
//! formatting elements), so parsing is quadratic in the nesting depth: a page of 100,000
//! nested `<div>`s took 40 s of CPU. Browsers cap the depth (Blink at 512); haul does the same
//! before the parser sees the page: [`parse_html`] first scans the page's tags with a linear
//! estimate of the depth each one opens at, and when the estimate goes past
//! [`MAX_HTML_DEPTH`], the start tags deeper than that (and their end tags) are left out of
//! what the parser gets. Their text stays, one level up. A page within the bound (every real
//! page) is parsed as it is, byte for byte.
//!
//! The estimate follows the parser's rules where it matters for depth (void elements, raw
//! text elements, `<p>`, `<li>`, `<dd>`/`<dt>`, table parts and `<option>` closed by a
//! sibling, end tags that close what they match) and otherwise errs high: a page it
//! overestimates loses only tags nested hundreds of levels deep.

use std::borrow::Cow;

use scraper::Html;

/// The deepest element nesting handed to the HTML parser (as [`parse_html`] estimates it).
pub const MAX_HTML_DEPTH: usize = 512;

/// How far down the stack of open elements the estimate looks for the element that a start
/// or end tag closes; the parser looks further, but only at pages far from real ones.
const SCAN: usize = 64;

/// Parses a whole HTML document, its nesting capped at [`MAX_HTML_DEPTH`] (see the module
/// documentation) and its size at [`MAX_HTML_NODES`](crate::MAX_HTML_NODES) nodes; stops early
/// when its blocking work is cancelled (see `budget`). Linear in the size of the page,
/// whatever its depth.
pub fn parse_html(html: &str) -> Html {
    crate::budget::parse_document(&cap_depth(html, MAX_HTML_DEPTH))
}

/// Parses an HTML fragment, its nesting capped like [`parse_html`]'s.
pub fn parse_html_fragment(html: &str) -> Html {
    Html::parse_fragment(&cap_depth(html, MAX_HTML_DEPTH))
}

#[rustfmt::skip]
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
    "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
];
/// Elements whose content is text up to their end tag (no elements inside).
#[rustfmt::skip]
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
];
/// Elements the parser creates once whatever the page says: never counted.
const ROOTS: &[&str] = &["html", "head", "body"];
/// Start tags that close an open `<p>` (when it is "in button scope").
#[rustfmt::skip]
const CLOSES_P: &[&str] = &[
    "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div",
    "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "main", "menu", "nav",
    "ol", "p", "search", "section", "summary", "ul", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
    "listing", "form", "table", "hr", "xmp", "li", "dd", "dt",
];
/// Elements that end the search for an open `<p>` ("button scope").
#[rustfmt::skip]
const P_SCOPE: &[&str] = &[
    "applet", "caption", "table", "td", "th", "marquee", "object", "template", "button", "svg",
    "math",
];
/// Elements that end the parser's search for an open `<li>`, `<dd>` or `<dt>` (the "special"
/// elements other than `address`, `div` and `p`).
#[rustfmt::skip]
const LIST_SCOPE: &[&str] = &[
    "applet", "article", "aside", "blockquote", "button", "caption", "center", "colgroup",
    "details", "dir", "dl", "fieldset", "figcaption", "figure", "footer", "form", "frameset",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "listing", "main", "marquee", "menu",
    "nav", "object", "ol", "plaintext", "pre", "search", "section", "select", "summary", "table",
    "tbody", "td", "template", "tfoot", "th", "thead", "tr", "ul", "svg", "math",
];
/// Elements that end the search for an open table part.
const TABLE_SCOPE: &[&str] = &["table", "template", "svg", "math"];

/// The elements a start tag can close (the ones [`Estimate::close`] looks for), counted while
/// open so that a search for one that is not open costs nothing.
const CLOSABLE: &[&str] = &[
    "p", "li", "dd", "dt", "td", "th", "tr", "thead", "tbody", "tfoot", "a",
];

/// One element the estimate holds open.
struct Open {
    name: String,
    /// Its start tag was left out (too deep), so its end tag is too.
    dropped: bool,
}

/// The estimated stack of open elements and what is left out of the page.
struct Estimate {
    stack: Vec<Open>,
    /// Open `svg` / `math` elements, where `<x/>` closes itself.
    foreign: usize,
    /// Open elements of each [`CLOSABLE`] name.
    closable: [usize; CLOSABLE.len()],
}

impl Estimate {
    /// Pops through the topmost `names` element found before a `scope` element, within
    /// [`SCAN`] entries; whether one was found.
    fn close(&mut self, names: &[&str], scope: &[&str]) -> bool {
        if !names.iter().any(|n| self.open_count(n) > 0) {
            return false;
        }
        let found = self
            .stack
            .iter()
            .rev()
            .take(SCAN)
            .take_while(|o| !scope.contains(&o.name.as_str()) || names.contains(&o.name.as_str()))
            .position(|o| names.contains(&o.name.as_str()));
        match found {
            Some(i) => {
                self.pop_to(self.stack.len() - 1 - i);
                true
            }
            None => false,
        }
    }

    /// Pops the entries from `index` up; the entry at `index`.
    fn pop_to(&mut self, index: usize) -> Option<Open> {
        let mut last = None;
        while self.stack.len() > index {
            let o = self.stack.pop()?;
            if matches!(o.name.as_str(), "svg" | "math") {
                self.foreign = self.foreign.saturating_sub(1);
            }
            if let Some(k) = CLOSABLE.iter().position(|c| *c == o.name) {
                self.closable[k] = self.closable[k].saturating_sub(1);
            }
            last = Some(o);
        }
        last
    }

    fn open_count(&self, name: &str) -> usize {
        CLOSABLE
            .iter()
            .position(|c| *c == name)
            .map_or(0, |k| self.closable[k])
    }

    /// The closes a start tag causes before it opens (a `<li>` closes the previous `<li>`).
    fn implied_closes(&mut self, name: &str) {
        if CLOSES_P.contains(&name) {
            self.close(&["p"], P_SCOPE);
        }
        match name {
            "li" => {
                self.close(&["li"], LIST_SCOPE);
            }
            "dd" | "dt" => {
                self.close(&["dd", "dt"], LIST_SCOPE);
            }
            "td" | "th" => {
                self.close(&["td", "th"], TABLE_SCOPE);
            }
            "tr" => {
                self.close(&["tr"], TABLE_SCOPE);
            }
            "thead" | "tbody" | "tfoot" => {
                self.close(&["thead", "tbody", "tfoot"], TABLE_SCOPE);
            }
            "option" | "optgroup" => {
                if self.stack.last().is_some_and(|o| o.name == "option") {
                    self.pop_to(self.stack.len() - 1);
                }
                if name == "optgroup" && self.stack.last().is_some_and(|o| o.name == "optgroup") {
                    self.pop_to(self.stack.len() - 1);
                }
            }
            "a" => {
                self.close(&["a"], P_SCOPE);
            }
            _ => {}
        }
    }

    /// A start tag: whether to keep it.
    fn start(&mut self, name: &str, self_closing: bool, max_depth: usize) -> bool {
        if ROOTS.contains(&name) || VOID.contains(&name) || RAW_TEXT.contains(&name) {
            return true;
        }
        if self_closing && self.foreign > 0 {
            return true;
        }
        self.implied_closes(name);
        let dropped = self.stack.len() >= max_depth;
        if matches!(name, "svg" | "math") {
            self.foreign += 1;
        }
        if let Some(k) = CLOSABLE.iter().position(|c| *c == name) {
            self.closable[k] += 1;
        }
        self.stack.push(Open {
            name: name.to_string(),
            dropped,
        });
        !dropped
    }

    /// An end tag: whether to keep it.
    fn end(&mut self, name: &str) -> bool {
        if ROOTS.contains(&name) {
            return true;
        }
        let found = self
            .stack
            .iter()
            .rev()
            .take(SCAN)
            .position(|o| o.name == name);
        match found {
            Some(i) => self
                .pop_to(self.stack.len() - 1 - i)
                .is_none_or(|o| !o.dropped),
            None => true,
        }
    }
}

/// `html` with the start and end tags of elements nested deeper than `max_depth` (as
/// estimated, see the module documentation) left out; borrowed when nothing is.
pub(crate) fn cap_depth(html: &str, max_depth: usize) -> Cow<'_, str> {
    let bytes = html.as_bytes();
    let mut est = Estimate {
        stack: Vec::new(),
        foreign: 0,
        closable: [0; CLOSABLE.len()],
    };
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = html.get(i..).and_then(|rest| rest.find('<')) {
        if crate::budget::stop() {
            break; // Given up (see `budget`): the parse that follows stops at once too.
        }
        let lt = i + off;
        let tag = lex(bytes, lt);
        i = tag.end.max(lt + 1);
        let keep = match &tag.kind {
            Kind::Start { name, self_closing } => {
                let keep = est.start(name, *self_closing, max_depth);
                if RAW_TEXT.contains(&name.as_str()) {
                    i = raw_text_end(bytes, i, name);
                }
                keep
            }
            Kind::End { name } => est.end(name),
            Kind::Other => true,
        };
        if !keep {
            let buf = out.get_or_insert_with(|| String::with_capacity(html.len()));
            buf.push_str(html.get(copied..lt).unwrap_or(""));
            copied = i;
        }
    }
    match out {
        None => Cow::Borrowed(html),
        Some(mut buf) => {
            buf.push_str(html.get(copied..).unwrap_or(""));
            Cow::Owned(buf)
        }
    }
}

enum Kind {
    Start { name: String, self_closing: bool },
    End { name: String },
    Other,
}

/// What starts at a `<`, and where it ends (the byte after it).
struct Tag {
    kind: Kind,
    end: usize,
}

/// Reads the markup that starts at `bytes[lt] == b'<'`, the way the HTML tokenizer delimits
/// it: a start or end tag (attributes skipped, quoted values included), a comment, or a
/// bogus comment; a `<` that starts none of them is text.
fn lex(bytes: &[u8], lt: usize) -> Tag {
    let at = |k: usize| bytes.get(k).copied();
    let other = |end: usize| Tag {
        kind: Kind::Other,
        end,
    };
    match at(lt + 1) {
        Some(c) if c.is_ascii_alphabetic() => {
            let (name, after) = tag_name(bytes, lt + 1);
            let (end, self_closing) = skip_attributes(bytes, after);
            Tag {
                kind: Kind::Start { name, self_closing },
                end,
            }
        }
        Some(b'/') => match at(lt + 2) {
            Some(c) if c.is_ascii_alphabetic() => {
                let (name, after) = tag_name(bytes, lt + 2);
                let (end, _) = skip_attributes(bytes, after);
                Tag {
                    kind: Kind::End { name },
                    end,
                }
            }
            Some(b'>') => other(lt + 3),
            Some(_) => other(find(bytes, lt + 2, b">").map_or(bytes.len(), |k| k + 1)),
            None => other(bytes.len()),
        },
        Some(b'!') if bytes.get(lt + 2..lt + 4) == Some(b"--") => {
            let body = lt + 4;
            let end = match (at(body), at(body + 1)) {
                (Some(b'>'), _) => body + 1,
                (Some(b'-'), Some(b'>')) => body + 2,
                _ => find(bytes, body, b"-->").map_or(bytes.len(), |k| k + 3),
            };
            other(end)
        }
        Some(b'!' | b'?') => other(find(bytes, lt + 2, b">").map_or(bytes.len(), |k| k + 1)),
        _ => other(lt + 1),
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// The lower-cased tag name starting at `start`, and the index after it.
fn tag_name(bytes: &[u8], start: usize) -> (String, usize) {
    let len = bytes
        .get(start..)
        .unwrap_or(&[])
        .iter()
        .position(|&b| is_space(b) || b == b'/' || b == b'>')
        .unwrap_or(bytes.len().saturating_sub(start));
    let name = String::from_utf8_lossy(bytes.get(start..start + len).unwrap_or(&[]));
    (name.to_ascii_lowercase(), start + len)
}

/// Skips a tag's attributes from `i`; the index after its `>` (or the end of the input) and
/// whether the tag ended with `/>`.
fn skip_attributes(bytes: &[u8], mut i: usize) -> (usize, bool) {
    let mut slash = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'>' => return (i + 1, slash),
            b'/' => {
                slash = true;
                i += 1;
                continue;
            }
            _ if is_space(b) => {
                i += 1;
                continue;
            }
            _ => {}
        }
        slash = false;
        // An attribute name (a leading `=` belongs to it), then an optional value.
        i += 1;
        while bytes
            .get(i)
            .is_some_and(|&c| !is_space(c) && !matches!(c, b'/' | b'>' | b'='))
        {
            i += 1;
        }
        while bytes.get(i).is_some_and(|&c| is_space(c)) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while bytes.get(i).is_some_and(|&c| is_space(c)) {
            i += 1;
        }
        match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                i = find(bytes, i + 1, &[q]).map_or(bytes.len(), |k| k + 1);
            }
            _ => {
                while bytes.get(i).is_some_and(|&c| !is_space(c) && c != b'>') {
                    i += 1;
                }
            }
        }
    }
    (bytes.len(), slash)
}

/// Where the raw text of a `name` element that starts at `from` ends: at its end tag
/// (`</name` followed by a space, `/` or `>`, any case), or at the end of the input.
fn raw_text_end(bytes: &[u8], from: usize, name: &str) -> usize {
    let mut i = from;
    while let Some(k) = find(bytes, i, b"</") {
        let n = k + 2;
        let matches_name = bytes
            .get(n..n + name.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(name.as_bytes()));
        let boundary = bytes
            .get(n + name.len())
            .is_none_or(|&c| is_space(c) || c == b'/' || c == b'>');
        if matches_name && boundary {
            return k;
        }
        i = k + 2;
    }
    bytes.len()
}

/// The first index at or after `from` where `needle` starts.
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let hay = bytes.get(from..)?;
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]).map(|k| k + from);
    }
    hay.windows(needle.len())
        .position(|w| w == needle)
        .map(|k| k + from)
}

/// The nesting depth of a DOM, counted without recursion.
pub(crate) fn dom_depth(html: &Html) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for edge in html.tree.root().traverse() {
        match edge {
            ego_tree::iter::Edge::Open(_) => {
                depth += 1;
                max = max.max(depth);
            }
            ego_tree::iter::Edge::Close(_) => depth = depth.saturating_sub(1),
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(doc: &Html) -> usize {
        dom_depth(doc)
    }

    #[test]
    fn pages_within_the_bound_are_parsed_as_they_are() {
        for html in [
            "<html><body><div class='a>b' data-x=\"<div>\"><p>one<p>two<ul><li>a<li>b</ul></div>",
            "<table><tr><td>1<td>2<tr><td>3</table><select><option>a<option>b</select>",
            "<script>if (a < b) { x = '<div><div><div>'; }</script><!-- <div> --><svg><path/></svg>",
            "<div/><br/><img src=x>text < 5 and <3 </ > <? pi ?> <!doctype html>",
        ] {
            assert!(matches!(cap_depth(html, 3), Cow::Borrowed(_)), "{html}");
        }
    }

    #[test]
    fn deep_nesting_is_cut_at_the_bound_and_the_text_kept() {
        for tag in ["div", "span", "b", "section", "a", "li", "td", "svg"] {
            let n = 5_000;
            let html = format!(
                "<html><body>{}<i class=price>$5.00</i>{}<p>after</p></body></html>",
                format!("<{tag}>x").repeat(n),
                format!("</{tag}>").repeat(n)
            );
            let doc = parse_html(&html);
            assert!(depth(&doc) <= 2 * MAX_HTML_DEPTH, "{tag}: {}", depth(&doc));
            let text: String = doc.root_element().text().collect();
            assert!(text.contains("$5.00") && text.ends_with("after"), "{tag}");
            assert_eq!(text.matches('x').count(), n, "{tag}");
        }
    }

    #[test]
    fn nesting_that_the_parser_undoes_is_not_counted() {
        let html = format!(
            "<ul>{}</ul><table>{}</table><p>{}",
            "<li>item".repeat(2_000),
            "<tr><td>1<td>2".repeat(2_000),
            "<p>para".repeat(2_000)
        );
        assert!(matches!(cap_depth(&html, 64), Cow::Borrowed(_)));
    }
}
