//! schema.org JSON-LD: `<script type="application/ld+json">` blocks, read tolerantly (trailing
//! commas, HTML entities, comments, several objects in one block) and turned into records.

use haul_core::{Method, Record};
use serde_json::Value;

use crate::page::Page;
use crate::schema::{self, Ids};
use crate::text::decode_entities;

/// Every JSON value in the page's JSON-LD blocks, in document order. Blocks that cannot be
/// read even after repairs are skipped.
pub fn json_ld_values(page: &Page) -> Vec<Value> {
    let mut out = Vec::new();
    for script in page.html().select(&crate::text::sel("script[type]")) {
        let ty = script
            .value()
            .attr("type")
            .unwrap_or("")
            .to_ascii_lowercase();
        if !ty.contains("ld+json") {
            continue;
        }
        if crate::budget::stop() {
            break;
        }
        let text: String = script.text().collect();
        out.extend(parse_json_ld(&text));
    }
    out
}

/// Product records from the page's JSON-LD, in document order (one per `Product` or
/// `ProductGroup`; a group's variants make its offers, not records of their own).
pub fn json_ld(page: &Page, site: &str) -> Vec<Record> {
    let values = json_ld_values(page);
    let mut products = Vec::new();
    let mut ids = Ids::new();
    for v in &values {
        schema::collect(v, &mut products, &mut ids);
    }
    schema::drop_grouped_variants(&mut products, &ids);
    products
        .into_iter()
        .filter_map(|p| schema::product_record(p, &ids, page, site, Method::JsonLd))
        .collect()
}

/// Reads the text of one JSON-LD block into its JSON values, tolerating what real pages
/// contain: HTML comments or CDATA around the JSON, HTML entities (`{&quot;@type&quot;...`),
/// trailing commas, raw line breaks inside strings, and several objects one after the other
/// (with or without commas between them). Never panics; unreadable input gives what could be
/// read before the damage (possibly nothing).
pub fn parse_json_ld(text: &str) -> Vec<Value> {
    let t = strip_wrappers(text);
    if t.is_empty() {
        return Vec::new();
    }
    if let Some(v) = read_all(t) {
        return v;
    }
    let mut repaired = repair(t);
    if let Some(v) = read_all(&repaired) {
        return v;
    }
    if t.contains("&quot;") || t.contains("&#") || t.contains("&amp;") {
        repaired = repair(&decode_entities(t));
        if let Some(v) = read_all(&repaired) {
            return v;
        }
    }
    // Objects separated by commas at the top level: read them as an array.
    if let Some(v) = read_all(&format!("[{repaired}]")) {
        return v;
    }
    read_prefix(&repaired)
}

fn strip_wrappers(text: &str) -> &str {
    let mut t = text.trim();
    for prefix in ["<!--", "//<![CDATA[", "<![CDATA["] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.trim_start();
        }
    }
    for suffix in ["-->", "//]]>", "]]>"] {
        if let Some(rest) = t.strip_suffix(suffix) {
            t = rest.trim_end();
        }
    }
    t.trim_end_matches(';').trim()
}

/// Every value of a stream of JSON values, or `None` if any part is malformed.
fn read_all(t: &str) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(t).into_iter::<Value>() {
        out.push(v.ok()?);
    }
    (!out.is_empty()).then_some(out)
}

/// The values that could be read before the first malformed one.
fn read_prefix(t: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(t)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .collect()
}

/// Fixes the common JSON mistakes of hand-written templates: trailing commas before `}` or
/// `]`, raw control characters inside strings, and commas between top-level values.
///
/// Hand-rolled on purpose: lenient JSON crates (json5...) accept a different language (single
/// quotes, comments) and still reject raw newlines in strings; this small scanner does exactly
/// the repairs needed and leaves everything else to serde_json.
fn repair(t: &str) -> String {
    let chars: Vec<char> = t.chars().collect();
    let mut out = String::with_capacity(t.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut depth: i32 = 0;
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
                out.push(c);
            } else if c == '\\' {
                escaped = true;
                out.push(c);
            } else if c == '"' {
                in_string = false;
                out.push(c);
            } else if c.is_control() {
                out.push(' ');
            } else {
                out.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                depth += 1;
                out.push(c);
            }
            '}' | ']' => {
                depth -= 1;
                out.push(c);
            }
            ',' => {
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                let trailing = matches!(next, Some('}' | ']') | None);
                // A comma between top-level values is dropped too: the stream reader reads
                // them one after the other.
                if !trailing && depth > 0 {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_reading() {
        let cases: &[(&str, usize)] = &[
            (r#"{"@type":"Product","name":"A"}"#, 1),
            (r#"[{"@type":"Product","name":"A"},{"@type":"Thing"}]"#, 1),
            ("<!-- {\"@type\":\"Product\",\"name\":\"A\",} -->", 1),
            (
                "{\"@type\":\"Product\",\"name\":\"A\nB\",\"offers\":[{\"price\":1,},],}",
                1,
            ),
            (
                r#"{&quot;@type&quot;:&quot;Product&quot;,&quot;name&quot;:&quot;A&quot;}"#,
                1,
            ),
            (r#"{"@type":"Product"}{"@type":"Offer"}"#, 2),
            (r#"{"@type":"Product"},{"@type":"Offer"}"#, 2),
            (r#"{"@type":"Product"} {"broken": "#, 1),
            ("", 0),
            ("not json at all", 0),
            ("}}}]]]", 0),
        ];
        for (text, n) in cases {
            let got = parse_json_ld(text);
            assert_eq!(got.len(), *n, "{text:?} gave {got:?}");
        }
        let v = parse_json_ld("{\"name\":\"A\nB\",}");
        assert_eq!(v[0]["name"], "A B");
    }

    #[test]
    fn cyclic_references_end_instead_of_overflowing_the_stack() {
        let url = haul_core::Url::parse("https://shop.example/p/1").unwrap();
        for data in [
            r##"{"@type":"Product","name":"x","offers":{"@id":"#o","offers":{"@id":"#o"}}}"##,
            r##"{"@type":"Product","name":"x","offers":{"@id":"#a","price":"5.00","priceCurrency":"EUR","offers":{"@id":"#b"}},"isRelatedTo":{"@id":"#b","offers":{"@id":"#a"}}}"##,
        ] {
            let html = format!(
                r#"<html><body><script type="application/ld+json">{data}</script></body></html>"#
            );
            let records = json_ld(&Page::parse(&html, &url), "shop");
            assert_eq!(records.len(), 1, "{data}");
            assert_eq!(records[0].title, "x");
        }
    }
}
