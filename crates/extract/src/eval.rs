//! Evaluation of the product extractor on a corpus of saved product pages laid out like
//! `product-pages-dev`: `pages/<split>/<site>/source.html` and a `ground-truth.json` keyed
//! `"<split>/<site>"` with `title_page`, `price` (decimal string), `price_is_range` and
//! `currency`.
//!
//! Halves: the pages are split by shop into a tuning half and a held-out half ([`half_of`]);
//! extra corpora (the pages written for this project) count as tuning pages. The extractor
//! may be tuned on the tuning half only; the held-out figures are the honest ones.
//!
//! Scoring rules, the way product-extraction benchmarks count:
//! * price: right when the extracted price equals the expected decimal; on a page showing a
//!   price range, any value inside the range is right (the range is read from the expected
//!   price text). On a page with a labelled price, abstaining is a miss (a false negative)
//!   and a wrong price is both a false positive and a false negative; on a page without one
//!   (`price` null or absent: a product no longer sold, a price on request, a listing), only
//!   abstaining is right and any price is a false positive. Precision = right / prices
//!   given, recall = right / pages with a labelled price, F1 their harmonic mean.
//! * currency: right when the record's ISO code equals the expected one (pages with a
//!   labelled price only).
//! * title: right when the extracted title, normalised (case, whitespace, punctuation), is
//!   contained in the page's `<title>`, or when at least 60% of its words appear in it; a
//!   page without a price that rightly gives no record is not scored on its title.
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
    #[serde(default)]
    pub title_page: String,
    /// The price as shown.
    #[serde(default)]
    pub price_text: Option<String>,
    /// The price as a decimal string; absent, `null` or empty when the page shows no price
    /// (a product no longer sold, a price on request): then only abstaining is right.
    #[serde(default)]
    pub price: Option<String>,
    /// Whether the page shows a price range.
    #[serde(default)]
    pub price_is_range: bool,
    /// ISO-4217 code, when the page has a price.
    #[serde(default)]
    pub currency: Option<String>,
    /// Path of the page relative to the corpus directory, when given.
    #[serde(default)]
    pub source_html: Option<String>,
}

/// Which half of a corpus a page belongs to: tuning (rules may be tuned on it) or held out
/// (never looked at while tuning; its figures are the honest ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Half {
    /// Pages the extractor may be tuned on, and every page written in this repository.
    Tuning,
    /// Pages kept out of tuning.
    HeldOut,
}

impl fmt::Display for Half {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Half::Tuning => "tuning",
            Half::HeldOut => "held-out",
        })
    }
}

/// The half of the page keyed `"<split>/<shop>"`: fixed by the shop's name alone (the parity
/// of its 64-bit FNV-1a hash), so a shop never moves between halves when pages are added,
/// and a corpus's own `training`/`test` folders play no part.
pub fn half_of(key: &str) -> Half {
    let shop = key.rsplit('/').next().unwrap_or(key);
    // FNV-1a by hand: six lines, and the split must never change with a crate's version.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in shop.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    if h.is_multiple_of(2) {
        Half::Tuning
    } else {
        Half::HeldOut
    }
}

/// What went wrong on one page.
#[derive(Debug, Clone)]
pub struct PageMiss {
    /// `"<split>/<site>"`.
    pub key: String,
    /// The page's half.
    pub half: Half,
    /// Whether the page has no `source.html` (then nothing else is filled).
    pub missing_source: bool,
    /// The price was wrong, absent, or given where the page has none: (got, expected;
    /// `"none"` when the page has no price).
    pub price: Option<(Option<Decimal>, String)>,
    /// The currency was wrong or absent.
    pub currency: Option<(Option<String>, String)>,
    /// The title did not match.
    pub title: Option<(Option<String>, String)>,
    /// The method of the record, if any.
    pub method: Option<String>,
    /// The record's confidence, if any.
    pub confidence: Option<f64>,
}

/// Counts over a set of pages, and the scores product-extraction benchmarks report.
///
/// A page with a labelled price is a positive: the extractor's price is a true positive when
/// right, a false positive and a false negative when wrong, a false negative when it
/// abstains. A page without a labelled price is right only when the extractor abstains; a
/// price there is a false positive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scores {
    /// Pages with a `source.html`.
    pub pages: usize,
    /// Of them, pages with a labelled price.
    pub priced: usize,
    /// Pages that gave a record.
    pub with_record: usize,
    /// Pages where the extractor gave a price.
    pub predicted: usize,
    /// Pages whose price was right (true positives).
    pub price_right: usize,
    /// Priced pages whose currency was right.
    pub currency_right: usize,
    /// Pages without a labelled price where the extractor rightly gave none.
    pub abstained_right: usize,
    /// Priced pages where the extractor gave no price.
    pub abstained_wrong: usize,
    /// Pages whose title matched.
    pub title_right: usize,
}

impl Scores {
    /// Pages without a labelled price.
    pub fn unpriced(&self) -> usize {
        self.pages - self.priced
    }

    /// Price precision: right prices over prices given.
    pub fn precision(&self) -> f64 {
        ratio(self.price_right, self.predicted)
    }

    /// Price recall: right prices over pages with a labelled price.
    pub fn recall(&self) -> f64 {
        ratio(self.price_right, self.priced)
    }

    /// The harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Pages right on price: a right price, or no price where the page has none.
    pub fn price_accuracy(&self) -> f64 {
        ratio(self.price_right + self.abstained_right, self.pages)
    }

    /// Currency accuracy over pages with a labelled price.
    pub fn currency_accuracy(&self) -> f64 {
        ratio(self.currency_right, self.priced)
    }

    fn add(&mut self, o: &Scores) {
        self.pages += o.pages;
        self.priced += o.priced;
        self.with_record += o.with_record;
        self.predicted += o.predicted;
        self.price_right += o.price_right;
        self.currency_right += o.currency_right;
        self.abstained_right += o.abstained_right;
        self.abstained_wrong += o.abstained_wrong;
        self.title_right += o.title_right;
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The corpus directories (the first one split in halves, the others tuning only).
    pub dirs: Vec<PathBuf>,
    /// Pages in the ground truths.
    pub labelled: usize,
    /// Scores of the tuning half (with every page of the extra tuning corpora).
    pub tuning: Scores,
    /// Scores of the held-out half.
    pub held_out: Scores,
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
    /// Priced pages whose LLM prompt holds the labelled price (its digits as written with
    /// `.` or `,` decimals, with or without grouping): what the model cannot answer otherwise.
    pub llm_price_shown: usize,
}

fn pct(part: usize, whole: usize) -> f64 {
    ratio(part, whole) * 100.0
}

impl Report {
    /// Both halves together.
    pub fn all(&self) -> Scores {
        let mut s = self.tuning;
        s.add(&self.held_out);
        s
    }

    /// Price accuracy over all pages that have a `source.html`, in percent.
    pub fn price_accuracy(&self) -> f64 {
        self.all().price_accuracy() * 100.0
    }

    /// Title match rate over all pages that have a `source.html`, in percent.
    pub fn title_accuracy(&self) -> f64 {
        let a = self.all();
        pct(a.title_right, a.pages)
    }

    /// Currency accuracy over all priced pages that have a `source.html`, in percent.
    pub fn currency_accuracy(&self) -> f64 {
        self.all().currency_accuracy() * 100.0
    }

    fn half(&mut self, h: Half) -> &mut Scores {
        match h {
            Half::Tuning => &mut self.tuning,
            Half::HeldOut => &mut self.held_out,
        }
    }
}

/// One block of figures: a half or the whole.
fn write_scores(f: &mut fmt::Formatter<'_>, name: &str, s: &Scores) -> fmt::Result {
    writeln!(
        f,
        "  {name}: {} pages ({} with a price, {} without)",
        s.pages,
        s.priced,
        s.unpriced()
    )?;
    writeln!(
        f,
        "    price     P {:.3}  R {:.3}  F1 {:.3}   right {}/{} priced, {} given, {} missed",
        s.precision(),
        s.recall(),
        s.f1(),
        s.price_right,
        s.priced,
        s.predicted,
        s.abstained_wrong
    )?;
    writeln!(
        f,
        "    abstain   {}/{} pages without a price",
        s.abstained_right,
        s.unpriced()
    )?;
    let line = |f: &mut fmt::Formatter<'_>, label: &str, n: usize, of: usize| {
        writeln!(f, "    {label:<9} {n:>3}/{of} = {:5.1}%", pct(n, of))
    };
    line(f, "currency", s.currency_right, s.priced)?;
    line(f, "title", s.title_right, s.pages)?;
    line(f, "coverage", s.with_record, s.pages)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        writeln!(f, "product pages: {}", dirs.join(" + "))?;
        let all = self.all();
        writeln!(
            f,
            "  pages: {} labelled, {} with source.html ({} without)",
            self.labelled,
            all.pages,
            self.labelled - all.pages
        )?;
        write_scores(f, "held-out", &self.held_out)?;
        write_scores(f, "tuning", &self.tuning)?;
        write_scores(f, "all", &all)?;
        writeln!(
            f,
            "  price right on {}/{} = {:5.1}% of all labelled pages",
            all.price_right + all.abstained_right,
            self.labelled,
            pct(all.price_right + all.abstained_right, self.labelled)
        )?;
        let methods: Vec<String> = self
            .methods
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(f, "  methods: {}", methods.join(", "))?;
        writeln!(
            f,
            "  llm prompt: {} tokens in {} tasks, {:.0} per page (chars/4; if every page went to the LLM); price shown on {}/{} priced pages",
            self.llm_prompt_tokens,
            self.llm_tasks,
            self.llm_prompt_tokens as f64 / all.pages.max(1) as f64,
            self.llm_price_shown,
            all.priced
        )?;
        write_misses(f, &self.misses)
    }
}

fn write_misses(f: &mut fmt::Formatter<'_>, misses: &[PageMiss]) -> fmt::Result {
    if !misses.is_empty() {
        writeln!(f, "  misses:")?;
    }
    for m in misses {
        if m.missing_source {
            writeln!(f, "    {} ({}): no source.html", m.key, m.half)?;
            continue;
        }
        let confidence = m.confidence.map(|c| format!(" {c:.2}")).unwrap_or_default();
        let miss = format!(
            "    {} ({}) [{}{confidence}]:",
            m.key,
            m.half,
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
    let text = truth.price_text.as_deref()?;
    let prices = haul_price::find_prices(text, &haul_price::Hints::default());
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
    extract_saved_extraction(html, key)
        .records
        .into_iter()
        .next()
}

/// The whole extraction of one saved page, warnings included.
pub fn extract_saved_extraction(html: &str, key: &str) -> haul_core::Extraction {
    let url = page_url(html, key);
    let page = Page::parse(html, &url);
    extract_page(&page, "generic")
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

/// Scores one page: its record and what was wrong with it.
fn score_page(
    key: &str,
    truth: &Truth,
    html: Option<&str>,
    want: Option<Decimal>,
) -> (Option<Record>, PageMiss) {
    let mut miss = PageMiss {
        key: key.to_string(),
        half: half_of(key),
        missing_source: html.is_none(),
        price: None,
        currency: None,
        title: None,
        method: None,
        confidence: None,
    };
    let Some(html) = html else {
        return (None, miss);
    };
    let record = extract_saved_page(html, key);
    let r = record.as_ref();
    miss.method = r.map(|r| r.method.to_string());
    miss.confidence = r.and_then(|r| r.confidence);
    let price = r.and_then(|r| r.price);
    match want {
        Some(want) => {
            if !price_is_right(price, want, truth) {
                miss.price = Some((price, want.to_string()));
            }
            let currency = r.and_then(|r| r.currency).map(|c| c.to_string());
            let expected = truth.currency.clone().unwrap_or_default();
            if currency.as_deref() != Some(expected.as_str()) {
                miss.currency = Some((currency, expected));
            }
        }
        None if price.is_some() => miss.price = Some((price, "none".into())),
        None => {}
    }
    let title = r.map(|r| r.title.clone());
    // A page without a price rightly gives no record at all (a listing, a price on request).
    let scored = want.is_some() || r.is_some();
    if scored
        && !truth.title_page.trim().is_empty()
        && !title
            .as_deref()
            .is_some_and(|t| title_matches(t, &truth.title_page))
    {
        miss.title = Some((title, truth.title_page.clone()));
    }
    (record, miss)
}

/// One page to evaluate: its key, labels, file and expected price.
type Job = (String, Truth, PathBuf, Option<Decimal>, Half);

/// One page's place in the corpus, its record, misses and LLM prompt cost.
type Scored = (usize, Option<Record>, PageMiss, PromptCost, Option<Decimal>);

/// Reads a corpus's ground truth into jobs; pages of an extra tuning corpus are all tuning.
fn corpus_jobs(dir: &Path, all_tuning: bool) -> Result<Vec<Job>, EvalError> {
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
    for (key, t) in truth {
        let want = match t.price.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(Decimal::from_str(p).map_err(|_| EvalError::BadPrice {
                path: gt_path.clone(),
                key: key.clone(),
                value: p.to_string(),
            })?),
        };
        let rel = t
            .source_html
            .clone()
            .unwrap_or_else(|| format!("pages/{key}/source.html"));
        let half = if all_tuning {
            Half::Tuning
        } else {
            half_of(&key)
        };
        jobs.push((key, t, dir.join(rel), want, half));
    }
    Ok(jobs)
}

/// Extracts and scores every job on two threads, in job order.
fn run_jobs(jobs: &[Job]) -> Result<Vec<Scored>, EvalError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Scored>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<EvalError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((key, t, path, want, half)) = jobs.get(i) else {
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
                    let (record, mut miss) = score_page(key, t, html.as_deref(), *want);
                    miss.half = *half;
                    let cost = match (html.as_deref(), want) {
                        (Some(h), Some(w)) => llm_prompt_cost(h, key, *w),
                        _ => PromptCost::default(),
                    };
                    if let Ok(mut r) = results.lock() {
                        r.push((i, record, miss, cost, *want));
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
    Ok(results)
}

/// Evaluates the extractor on the corpus in `dir` (see the module docs), split in halves by
/// [`half_of`], parsing pages on two threads.
pub fn evaluate_pages(dir: impl AsRef<Path>) -> Result<Report, EvalError> {
    evaluate_corpora(dir, &[] as &[PathBuf])
}

/// Evaluates the extractor on the corpus in `dir`, split in halves by [`half_of`], plus the
/// corpora in `tuning`, whose pages all count as tuning pages (pages written for this
/// project go there, never into the held-out half).
pub fn evaluate_corpora(
    dir: impl AsRef<Path>,
    tuning: &[impl AsRef<Path>],
) -> Result<Report, EvalError> {
    let dir = dir.as_ref();
    let mut jobs = corpus_jobs(dir, false)?;
    let mut report = Report {
        dirs: vec![dir.to_path_buf()],
        ..Default::default()
    };
    for extra in tuning {
        jobs.extend(corpus_jobs(extra.as_ref(), true)?);
        report.dirs.push(extra.as_ref().to_path_buf());
    }
    report.labelled = jobs.len();
    for (_, record, miss, cost, want) in run_jobs(&jobs)? {
        report.llm_prompt_tokens += cost.tokens;
        report.llm_tasks += cost.tasks;
        report.llm_price_shown += usize::from(cost.price_shown);
        if miss.missing_source {
            report.misses.push(miss);
            continue;
        }
        let s = report.half(miss.half);
        s.pages += 1;
        s.priced += usize::from(want.is_some());
        let given = record.as_ref().is_some_and(|r| r.price.is_some());
        s.with_record += usize::from(record.is_some());
        s.predicted += usize::from(given);
        match want {
            Some(_) => {
                s.price_right += usize::from(miss.price.is_none());
                s.currency_right += usize::from(miss.currency.is_none());
                s.abstained_wrong += usize::from(!given);
            }
            None => s.abstained_right += usize::from(!given),
        }
        s.title_right += usize::from(miss.title.is_none());
        if let Some(r) = &record {
            *report.methods.entry(r.method.to_string()).or_default() += 1;
        }
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
