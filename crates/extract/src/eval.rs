//! Evaluation of the product extractor on a corpus of saved product pages laid out like
//! `product-pages-dev`: `pages/<split>/<site>/source.html` and a `ground-truth.json` keyed
//! `"<split>/<site>"` with `title_page`, `price` (decimal string), `price_is_range` and
//! `currency`.
//!
//! Scoring rules:
//! * price: right when the extracted price equals the expected decimal; on a page showing a
//!   price range, any value inside the range is right (the range is read from the expected
//!   price text). No price (abstaining) is wrong.
//! * currency: right when the record's ISO code equals the expected one.
//! * title: right when the extracted title, normalised (case, whitespace, punctuation), is
//!   contained in the page's `<title>`, or when at least 60% of its words appear in it.
//! * Pages listed in the ground truth without a `source.html` are counted in a second
//!   denominator ("all labelled pages"), where they count as wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use haul_core::{Decimal, Record, Url};
use serde::Deserialize;

use crate::llm::{LlmOptions, llm_tasks};
use crate::markdown::page_markdown;
use crate::page::Page;
use crate::product::extract_page;
use crate::text::{title_tokens, token_overlap};

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `ground-truth.json` is not what was expected.
    #[error("{path}: not a ground-truth file: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// An expected price is not a decimal number.
    #[error("{path}: page {key}: price {value:?} is not a decimal number")]
    BadPrice {
        /// The file.
        path: PathBuf,
        /// The page key.
        key: String,
        /// The value.
        value: String,
    },
}

/// The labels of one page.
#[derive(Debug, Clone, Deserialize)]
pub struct Truth {
    /// The page's `<title>` text.
    pub title_page: String,
    /// The price as shown.
    #[serde(default)]
    pub price_text: String,
    /// The price as a decimal string.
    pub price: String,
    /// Whether the page shows a price range.
    #[serde(default)]
    pub price_is_range: bool,
    /// ISO-4217 code.
    pub currency: String,
    /// Path of the page relative to the corpus directory, when given.
    #[serde(default)]
    pub source_html: Option<String>,
}

/// What went wrong on one page.
#[derive(Debug, Clone)]
pub struct PageMiss {
    /// `"<split>/<site>"`.
    pub key: String,
    /// Whether the page has no `source.html` (then nothing else is filled).
    pub missing_source: bool,
    /// The price was wrong or absent.
    pub price: Option<(Option<Decimal>, String)>,
    /// The currency was wrong or absent.
    pub currency: Option<(Option<String>, String)>,
    /// The title did not match.
    pub title: Option<(Option<String>, String)>,
    /// The method of the record, if any.
    pub method: Option<String>,
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The corpus directory.
    pub dir: PathBuf,
    /// Pages in the ground truth.
    pub labelled: usize,
    /// Labelled pages with a `source.html`.
    pub with_source: usize,
    /// Pages that gave a record.
    pub with_record: usize,
    /// Pages whose price was right.
    pub price_right: usize,
    /// Pages whose currency was right.
    pub currency_right: usize,
    /// Pages whose title matched.
    pub title_right: usize,
    /// Records by method (`json_ld`, `heuristic`...).
    pub methods: BTreeMap<String, usize>,
    /// Every page with at least one miss, by key.
    pub misses: Vec<PageMiss>,
    /// Estimated prompt tokens (characters / 4, as the fake provider counts) of the LLM tasks
    /// the generic site would send for each page with a `source.html`, summed: system
    /// instructions and user turns of every chunk.
    pub llm_prompt_tokens: u64,
    /// LLM tasks (chunks) those pages would need.
    pub llm_tasks: usize,
    /// Pages whose LLM prompt holds the labelled price (its digits as written with `.` or
    /// `,` decimals, with or without grouping): what the model cannot answer otherwise.
    pub llm_price_shown: usize,
}

fn pct(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

impl Report {
    /// Price accuracy over the pages that have a `source.html`, in percent.
    pub fn price_accuracy(&self) -> f64 {
        pct(self.price_right, self.with_source)
    }

    /// Title match rate over the pages that have a `source.html`, in percent.
    pub fn title_accuracy(&self) -> f64 {
        pct(self.title_right, self.with_source)
    }

    /// Currency accuracy over the pages that have a `source.html`, in percent.
    pub fn currency_accuracy(&self) -> f64 {
        pct(self.currency_right, self.with_source)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "product pages: {}", self.dir.display())?;
        writeln!(
            f,
            "  pages: {} labelled, {} with source.html ({} without)",
            self.labelled,
            self.with_source,
            self.labelled - self.with_source
        )?;
        let line = |f: &mut fmt::Formatter<'_>, name: &str, n: usize| {
            writeln!(
                f,
                "  {name:<9} {n:>3}/{} = {:5.1}%   (of all labelled: {n}/{} = {:5.1}%)",
                self.with_source,
                pct(n, self.with_source),
                self.labelled,
                pct(n, self.labelled)
            )
        };
        line(f, "price", self.price_right)?;
        line(f, "currency", self.currency_right)?;
        line(f, "title", self.title_right)?;
        line(f, "coverage", self.with_record)?;
        let methods: Vec<String> = self
            .methods
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(f, "  methods: {}", methods.join(", "))?;
        writeln!(
            f,
            "  llm prompt: {} tokens in {} tasks, {:.0} per page (chars/4; if every page went to the LLM); price shown on {}/{} pages",
            self.llm_prompt_tokens,
            self.llm_tasks,
            self.llm_prompt_tokens as f64 / self.with_source.max(1) as f64,
            self.llm_price_shown,
            self.with_source
        )?;
        if !self.misses.is_empty() {
            writeln!(f, "  misses:")?;
        }
        for m in &self.misses {
            if m.missing_source {
                writeln!(f, "    {}: no source.html", m.key)?;
                continue;
            }
            let miss = format!(
                "    {} [{}]:",
                m.key,
                m.method.as_deref().unwrap_or("no record")
            );
            if let Some((got, want)) = &m.price {
                let got = got.map(|d| d.to_string()).unwrap_or_else(|| "none".into());
                writeln!(f, "{miss} price {got}, expected {want}")?;
            }
            if let Some((got, want)) = &m.currency {
                let got = got.as_deref().unwrap_or("none");
                writeln!(f, "{miss} currency {got}, expected {want}")?;
            }
            if let Some((got, want)) = &m.title {
                let got = got.as_deref().unwrap_or("none");
                writeln!(f, "{miss} title {got:?}, page title {want:?}")?;
            }
        }
        Ok(())
    }
}

/// Whether an extracted title matches the page's `<title>` (see the module docs).
pub fn title_matches(extracted: &str, title_page: &str) -> bool {
    let a = title_tokens(extracted).join(" ");
    let b = title_tokens(title_page).join(" ");
    if a.is_empty() {
        return false;
    }
    format!(" {b} ").contains(&format!(" {a} ")) || token_overlap(extracted, title_page) >= 0.6
}

/// The range of prices a page shows, read from its expected price text (`"$19.95 – $24.95"`).
fn range_of(truth: &Truth) -> Option<(Decimal, Decimal)> {
    let prices = haul_price::find_prices(&truth.price_text, &haul_price::Hints::default());
    let amounts: Vec<Decimal> = prices.iter().filter_map(|p| p.amount).collect();
    Some((*amounts.iter().min()?, *amounts.iter().max()?))
}

/// Whether `got` is the right price for the page.
fn price_is_right(got: Option<Decimal>, want: Decimal, truth: &Truth) -> bool {
    let Some(got) = got else {
        return false;
    };
    if got == want {
        return true;
    }
    truth.price_is_range && range_of(truth).is_some_and(|(lo, hi)| lo <= got && got <= hi)
}

/// The URL a saved page was fetched from: its canonical link or `og:url` when absolute, else
/// a placeholder that names the page.
fn page_url(html: &str, key: &str) -> Url {
    let doc = crate::html::parse_html(html);
    let absolute = |s: &str| {
        Url::parse(s.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
    };
    let from_link = doc
        .select(&crate::text::sel("link[rel=canonical]"))
        .filter_map(|l| l.value().attr("href"))
        .find_map(absolute);
    let from_og = doc
        .select(&crate::text::sel("meta[property='og:url']"))
        .filter_map(|m| m.value().attr("content"))
        .find_map(absolute);
    // The corpus does not record where a page came from; without a canonical link the page
    // gets `https://www.<site>.com/` (every site of the corpus is a US `.com` shop).
    from_link.or(from_og).unwrap_or_else(|| {
        let site = key.rsplit('/').next().unwrap_or(key);
        let slug: String = site
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        Url::parse(&format!("https://www.{slug}.com/")).unwrap_or_else(|_| {
            Url::parse("https://page.invalid/").expect("a valid placeholder URL")
        })
    })
}

/// Extracts the product of one saved page (the record the evaluation scores).
pub fn extract_saved_page(html: &str, key: &str) -> Option<Record> {
    let url = page_url(html, key);
    let page = Page::parse(html, &url);
    extract_page(&page, "generic").records.into_iter().next()
}

/// What the LLM path would send for one saved page.
#[derive(Debug, Clone, Copy, Default)]
pub struct PromptCost {
    /// Estimated prompt tokens (characters / 4).
    pub tokens: u64,
    /// Tasks (chunks).
    pub tasks: usize,
    /// Whether a prompt holds the expected price.
    pub price_shown: bool,
}

/// What the LLM path would send for one saved page whose labelled price is `want`.
pub fn llm_prompt_cost(html: &str, key: &str, want: Decimal) -> PromptCost {
    let url = page_url(html, key);
    let page = Page::parse(html, &url);
    let tasks = llm_tasks(
        &page_markdown(&page),
        &url,
        "generic",
        &LlmOptions::default(),
    );
    let chars: usize = tasks
        .iter()
        .map(|t| t.system.chars().count() + t.prompt.chars().count())
        .sum();
    let dotted = format!("{:.2}", want);
    let forms = [
        dotted.clone(),
        dotted.replace('.', ","),
        dotted.trim_end_matches(".00").to_string(),
    ];
    let digits = |s: &str| s.replace([',', '.', ' ', '\u{a0}'], "");
    let price_shown = tasks.iter().any(|t| {
        forms.iter().any(|f| t.prompt.contains(f.as_str()))
            || t.prompt
                .split(|c: char| !(c.is_ascii_digit() || matches!(c, ',' | '.')))
                .any(|w| !w.is_empty() && digits(w) == digits(&dotted))
    });
    PromptCost {
        tokens: (chars as u64).div_ceil(4),
        tasks: tasks.len(),
        price_shown,
    }
}

fn score_page(
    key: &str,
    truth: &Truth,
    html: Option<&str>,
    want: Decimal,
) -> (Option<Record>, PageMiss) {
    let mut miss = PageMiss {
        key: key.to_string(),
        missing_source: html.is_none(),
        price: None,
        currency: None,
        title: None,
        method: None,
    };
    let Some(html) = html else {
        return (None, miss);
    };
    let record = extract_saved_page(html, key);
    let r = record.as_ref();
    miss.method = r.map(|r| r.method.to_string());
    let price = r.and_then(|r| r.price);
    if !price_is_right(price, want, truth) {
        miss.price = Some((price, truth.price.clone()));
    }
    let currency = r.and_then(|r| r.currency).map(|c| c.to_string());
    if currency.as_deref() != Some(truth.currency.as_str()) {
        miss.currency = Some((currency, truth.currency.clone()));
    }
    let title = r.map(|r| r.title.clone());
    if !title
        .as_deref()
        .is_some_and(|t| title_matches(t, &truth.title_page))
    {
        miss.title = Some((title, truth.title_page.clone()));
    }
    (record, miss)
}

/// One page's place in the corpus, its record, misses and LLM prompt cost.
type Scored = (usize, Option<Record>, PageMiss, PromptCost);

/// Evaluates the extractor on the corpus in `dir` (see the module docs), parsing pages on two
/// threads.
pub fn evaluate_pages(dir: impl AsRef<Path>) -> Result<Report, EvalError> {
    let dir = dir.as_ref();
    let gt_path = dir.join("ground-truth.json");
    let text = std::fs::read_to_string(&gt_path).map_err(|source| EvalError::Read {
        path: gt_path.clone(),
        source,
    })?;
    let truth: BTreeMap<String, Truth> =
        serde_json::from_str(&text).map_err(|source| EvalError::Json {
            path: gt_path.clone(),
            source,
        })?;
    let mut jobs = Vec::new();
    for (key, t) in &truth {
        let want = Decimal::from_str(t.price.trim()).map_err(|_| EvalError::BadPrice {
            path: gt_path.clone(),
            key: key.clone(),
            value: t.price.clone(),
        })?;
        let rel = t
            .source_html
            .clone()
            .unwrap_or_else(|| format!("pages/{key}/source.html"));
        jobs.push((key.clone(), t.clone(), dir.join(rel), want));
    }

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Scored>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<EvalError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((key, t, path, want)) = jobs.get(i) else {
                        break;
                    };
                    let html = match std::fs::read(path) {
                        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                        Err(source) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(EvalError::Read {
                                    path: path.clone(),
                                    source,
                                });
                            }
                            break;
                        }
                    };
                    let (record, miss) = score_page(key, t, html.as_deref(), *want);
                    let cost = html
                        .as_deref()
                        .map_or(PromptCost::default(), |h| llm_prompt_cost(h, key, *want));
                    if let Ok(mut r) = results.lock() {
                        r.push((i, record, miss, cost));
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, ..)| *i);

    let mut report = Report {
        dir: dir.to_path_buf(),
        labelled: truth.len(),
        ..Default::default()
    };
    for (_, record, miss, cost) in results {
        report.llm_prompt_tokens += cost.tokens;
        report.llm_tasks += cost.tasks;
        report.llm_price_shown += usize::from(cost.price_shown);
        if miss.missing_source {
            report.misses.push(miss);
            continue;
        }
        report.with_source += 1;
        if let Some(r) = &record {
            report.with_record += 1;
            *report.methods.entry(r.method.to_string()).or_default() += 1;
        }
        report.price_right += usize::from(miss.price.is_none());
        report.currency_right += usize::from(miss.currency.is_none());
        report.title_right += usize::from(miss.title.is_none());
        if miss.price.is_some() || miss.currency.is_some() || miss.title.is_some() {
            report.misses.push(miss);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_title_rules() {
        assert!(title_matches("Blue Tent", "Blue Tent - Walmart.com"));
        assert!(title_matches("blue  TENT!", "Blue Tent | Shop"));
        assert!(title_matches(
            "Canon EOS 5D Mark IV DSLR Body",
            "Canon 5D Mark IV EOS DSLR Camera (5D Mark IV Camera Body) B&H Photo"
        ));
        assert!(!title_matches("Red Chair", "Blue Tent - Shop"));
        assert!(!title_matches("", "Blue Tent"));
        // Containment is by whole words.
        assert!(!title_matches("ten", "Blue Tent"));
    }
}
