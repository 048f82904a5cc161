//! The LLM extraction path: a page's main-content Markdown, split into overlapping chunks,
//! sent to core's [`LlmPool`] with the record schema; the JSON answers are validated into
//! records with [`Method::Llm`], merged and de-duplicated.
//!
//! Validation: a record without a title is rejected; prices are read with `haul-price` (a
//! JSON number exactly as written, a string such as `"1.299,00 €"` with the page's hints);
//! a currency must resolve to a real ISO-4217 code, else it is dropped. An answer that is not
//! JSON of the asked shape is [`LlmError::InvalidAnswer`], keeping the raw text.

use std::str::FromStr;

use haul_core::{
    Availability, Currency, Decimal, ExtractError, Extraction, LlmAnswer, LlmError, LlmPool,
    LlmTask, Method, Record, Url,
};
use haul_price::{Hints, Locale, currency_to_iso, parse_price};
use serde_json::Value;

use crate::text::normalize_space;

/// The system instructions of every extraction task: the record schema and the rules. They
/// are the same for every page, so they form the constant prefix of every request that
/// providers with prompt caching (OpenAI's automatic prefix caching, Gemini's implicit
/// caching) can serve from their cache; the user turn holds only the page.
pub const SYSTEM_PROMPT: &str = r#"You extract the products sold on a web page given as Markdown. Answer with JSON only: {"products":[...]}, each product an object with these fields, leaving out any the page does not state (never invent values):
title: product name as shown (required)
price: current price as written, e.g. "$1,299.00" or "1.299,00 €"
list_price: former/regular price as written, only if shown
currency: ISO-4217 code, only if the page makes it clear
availability: in_stock|out_of_stock|pre_order|back_order|limited_availability|discontinued
brand, sku, gtin: as shown
image: URL of the main product image
rating: average rating, e.g. 4.5; rating_count: number of ratings
url: the product's own page, only on a page listing several products
Rules: copy prices as written, do not convert or compute; ignore prices of shipping, financing, accessories and other products; a single product's page gives exactly one product; a page without products gives {"products":[]}."#;

/// Chunking of long pages.
#[derive(Debug, Clone)]
pub struct LlmOptions {
    /// Largest chunk of Markdown sent in one task, in characters.
    pub chunk_chars: usize,
    /// Characters repeated at the start of the next chunk, so that a product cut in two is
    /// seen whole in one of them.
    pub overlap_chars: usize,
    /// At most this many chunks per page (the rest of a very long page is not sent).
    pub max_chunks: usize,
}

impl Default for LlmOptions {
    fn default() -> Self {
        Self {
            chunk_chars: 12_000,
            overlap_chars: 800,
            max_chunks: 6,
        }
    }
}

/// The user turn for one chunk: the page's URL and its Markdown (the schema and the rules are
/// in [`SYSTEM_PROMPT`]).
pub fn llm_prompt(markdown: &str, url: &Url, part: usize, parts: usize) -> String {
    let which = if parts > 1 {
        format!(" (part {part} of {parts}; products may be cut at the edges)")
    } else {
        String::new()
    };
    format!("Page URL: {url}{which}\nPage:\n{markdown}")
}

/// Splits Markdown into chunks of at most `chunk_chars` characters at line boundaries, each
/// chunk after the first starting `overlap_chars` back. Lines longer than a chunk are cut.
pub fn chunk_markdown(markdown: &str, chunk_chars: usize, overlap_chars: usize) -> Vec<String> {
    let chunk_chars = chunk_chars.max(100);
    let overlap = overlap_chars.min(chunk_chars / 2);
    // Lines, with over-long ones cut into pieces that fit.
    let mut lines: Vec<String> = Vec::new();
    for line in markdown.lines() {
        let chars: Vec<char> = line.chars().collect();
        if chars.len() <= chunk_chars {
            lines.push(line.to_string());
        } else {
            for piece in chars.chunks(chunk_chars) {
                lines.push(piece.iter().collect());
            }
        }
    }
    let len = |l: &String| l.chars().count() + 1;
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let mut end = start;
        let mut size = 0;
        while end < lines.len() && (size + len(&lines[end]) <= chunk_chars || end == start) {
            size += len(&lines[end]);
            end += 1;
        }
        chunks.push(lines[start..end].join("\n").trim().to_string());
        if end >= lines.len() {
            break;
        }
        // Step back over `overlap` characters of whole lines, always moving forward.
        let mut back = end;
        let mut kept = 0;
        while back > start + 1 && kept + len(&lines[back - 1]) <= overlap {
            back -= 1;
            kept += len(&lines[back]);
        }
        start = back;
    }
    chunks.retain(|c| !c.is_empty());
    chunks
}

/// The tasks for one page's Markdown (one per chunk, at most `opts.max_chunks`).
pub fn llm_tasks(markdown: &str, url: &Url, site: &str, opts: &LlmOptions) -> Vec<LlmTask> {
    let chunks = chunk_markdown(markdown, opts.chunk_chars, opts.overlap_chars);
    let n = chunks.len().min(opts.max_chunks.max(1));
    chunks
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, c)| LlmTask {
            site: site.to_string(),
            system: SYSTEM_PROMPT.to_string(),
            prompt: llm_prompt(c, url, i + 1, n),
            json: true,
        })
        .collect()
}

/// The JSON of an answer: the pool's parsed JSON, else the text (without Markdown code
/// fences) parsed here.
fn answer_json(answer: &LlmAnswer) -> Result<Value, LlmError> {
    if let Some(v) = &answer.json {
        return Ok(v.clone());
    }
    let t = answer.text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .map(|rest| rest.trim_end().trim_end_matches("```"))
        .unwrap_or(t)
        .trim();
    serde_json::from_str(t).map_err(|e| LlmError::InvalidAnswer {
        message: e.to_string(),
        raw: answer.text.clone(),
    })
}

fn field<'a>(o: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| o.get(*k)).filter(|v| !v.is_null())
}

fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let s = normalize_space(&s);
    (!s.is_empty()).then_some(s)
}

/// A price from the answer: a JSON number read exactly as printed, or a string read with the
/// price parser. Returns the amount and the currency written with it.
fn price(
    v: Option<&Value>,
    hints: &Hints<'_>,
) -> Result<Option<(Decimal, Option<Currency>)>, String> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map(|d| Some((d, None)))
            .map_err(|_| format!("price {n} is not a decimal")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            let p = parse_price(s, hints);
            match p.amount {
                Some(a) if !a.is_sign_negative() => Ok(Some((a, p.currency))),
                _ => Err(format!("price {s:?} is not a price")),
            }
        }
        Some(other) => Err(format!("price {other} is not a price")),
    }
}

/// Validates one answer into records (see the module docs). Records the answer gives
/// without a title are skipped with a warning; so are unreadable prices and currencies.
pub fn parse_llm_answer(answer: &LlmAnswer, url: &Url, site: &str) -> Result<Extraction, LlmError> {
    let v = answer_json(answer)?;
    let items: Vec<Value> = match v {
        Value::Array(a) => a,
        Value::Object(ref m) => match m.get("products").or_else(|| m.get("items")) {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Object(_)) => vec![m["products"].clone()],
            None if m.contains_key("title") || m.contains_key("name") => vec![v.clone()],
            _ => {
                return Err(LlmError::InvalidAnswer {
                    message: "expected {\"products\": [...]}".into(),
                    raw: answer.text.clone(),
                });
            }
        },
        _ => {
            return Err(LlmError::InvalidAnswer {
                message: "expected a JSON object with \"products\"".into(),
                raw: answer.text.clone(),
            });
        }
    };
    let host = url.host_str().unwrap_or("").to_string();
    // Without the page here, the country domain is the locale: `$ 12.990` on a .cl shop.
    let locale_from_domain = Locale::from_domain(&host);
    let mut out = Extraction::default();
    for (i, item) in items.iter().enumerate() {
        if !item.is_object() {
            out.warn(format!("{url}: LLM product {i} is not an object"));
            continue;
        }
        let Some(title) = text(field(item, &["title", "name"])) else {
            out.warn(format!("{url}: LLM product {i} has no title; rejected"));
            continue;
        };
        let written_currency = text(field(item, &["currency", "priceCurrency"]));
        let hints = Hints {
            currency_hint: written_currency.as_deref(),
            decimal_separator: None,
            domain: Some(&host),
            default_currency: None,
            locale: locale_from_domain,
        };
        let currency = written_currency.as_deref().and_then(|c| {
            let iso = currency_to_iso(c, &hints);
            if iso.is_none() {
                out.warn(format!(
                    "{url}: LLM currency {c:?} is not an ISO-4217 currency; dropped"
                ));
            }
            iso
        });
        let record_url = text(field(item, &["url", "link"]))
            .and_then(|u| url.join(&u).ok())
            .filter(|u| u.host_str() == url.host_str() && matches!(u.scheme(), "http" | "https"))
            .map(|u| u.to_string())
            .unwrap_or_else(|| url.to_string());
        let mut r = Record::product(site, record_url, title, Method::Llm);
        match price(field(item, &["price", "current_price"]), &hints) {
            Ok(Some((p, c))) => {
                r.price = Some(p);
                r.currency = c.or(currency);
            }
            Ok(None) => {}
            Err(e) => out.warn(format!("{url}: LLM {e}; dropped")),
        }
        match price(
            field(item, &["list_price", "was_price", "regular_price"]),
            &hints,
        ) {
            Ok(Some((l, _))) if Some(l) > r.price && r.price.is_some() => r.list_price = Some(l),
            Ok(_) => {}
            Err(e) => out.warn(format!("{url}: LLM list {e}; dropped")),
        }
        r.availability = text(field(item, &["availability"])).and_then(|a| Availability::parse(&a));
        r.brand = text(field(item, &["brand"]));
        r.sku = text(field(item, &["sku"]));
        r.gtin = text(field(item, &["gtin", "ean", "upc"]));
        r.image = text(field(item, &["image"]))
            .and_then(|i| url.join(&i).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(|u| u.to_string());
        r.rating = text(field(item, &["rating"])).and_then(|s| Decimal::from_str(&s).ok());
        r.rating_count = field(item, &["rating_count", "reviews"]).and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.replace([',', ' '], "").parse().ok(),
            _ => None,
        });
        out.records.push(r);
    }
    Ok(out)
}

/// The de-duplication key of a record: its URL and its title, normalised.
fn key(r: &Record) -> (String, String) {
    (r.url.clone(), crate::text::title_tokens(&r.title).join(" "))
}

/// Merges records found in several chunks: the same product (same URL and title) found twice
/// becomes one record whose empty fields are filled from the other.
pub fn merge_llm_records(records: Vec<Record>) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for r in records {
        match out.iter_mut().find(|o| key(o) == key(&r)) {
            Some(o) => {
                if o.price.is_none() {
                    o.price = r.price;
                    o.currency = r.currency;
                    o.list_price = r.list_price;
                }
                macro_rules! take {
                    ($($f:ident),*) => {$( if o.$f.is_none() { o.$f = r.$f.clone(); } )*};
                }
                take!(
                    currency,
                    list_price,
                    availability,
                    brand,
                    sku,
                    gtin,
                    image,
                    rating,
                    rating_count
                );
            }
            None => out.push(r),
        }
    }
    out
}

/// Extracts records from a page's Markdown with the LLM pool: one task per chunk, submitted
/// together; the answers are validated, merged and de-duplicated.
///
/// Errors: when every chunk fails, the first failure ([`LlmError::InvalidAnswer`] keeps the
/// raw text). When only some fail, their errors become warnings.
pub async fn extract_with_llm(
    pool: &dyn LlmPool,
    markdown: &str,
    url: &Url,
    site: &str,
    opts: &LlmOptions,
) -> Result<Extraction, ExtractError> {
    let tasks = llm_tasks(markdown, url, site, opts);
    if tasks.is_empty() {
        let mut ex = Extraction::default();
        ex.warn(format!("{url}: no text to send to the LLM"));
        return Ok(ex);
    }
    let answers = futures::future::join_all(tasks.into_iter().map(|t| pool.submit(t))).await;
    let mut out = Extraction::default();
    let mut records = Vec::new();
    let mut first_error = None;
    let mut ok = 0;
    for (i, a) in answers.into_iter().enumerate() {
        match a.and_then(|a| parse_llm_answer(&a, url, site)) {
            Ok(ex) => {
                ok += 1;
                records.extend(ex.records);
                out.warnings.extend(ex.warnings);
            }
            Err(e) => {
                out.warn(format!("{url}: LLM chunk {} failed: {e}", i + 1));
                first_error.get_or_insert(e);
            }
        }
    }
    if ok == 0
        && let Some(e) = first_error
    {
        return Err(ExtractError::Llm(e));
    }
    out.records = merge_llm_records(records);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_overlap_and_cover_everything() {
        let md: String = (0..200)
            .map(|i| format!("line {i:03} {}\n", "x".repeat(40)))
            .collect();
        let chunks = chunk_markdown(&md, 1000, 200);
        assert!(chunks.len() > 5);
        for c in &chunks {
            assert!(c.chars().count() <= 1000);
        }
        for i in 0..200 {
            let line = format!("line {i:03} ");
            assert!(chunks.iter().any(|c| c.contains(&line)), "{line} lost");
        }
        // Consecutive chunks share their edge lines.
        let last_line = chunks[0].lines().last().unwrap();
        assert!(chunks[1].contains(last_line));
        // A short text is one chunk; an over-long line is cut.
        assert_eq!(chunk_markdown("a\nb", 1000, 100), vec!["a\nb"]);
        assert_eq!(chunk_markdown(&"y".repeat(250), 100, 10).len(), 3);
        assert!(chunk_markdown("", 1000, 100).is_empty());
    }
}
