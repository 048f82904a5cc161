//! Evaluation of the parser against a JSON Lines corpus of labelled price strings (the format of
//! `price_strings.jsonl`: `price_text`, `currency_hint`, `decimal_separator_hint`,
//! `expected_currency` as written, `expected_amount` as a decimal string, `group`, `xfail`).
//!
//! A string counts as correct when the amount equals the expected decimal (both absent counts as
//! equal) and the currency as written equals the expected one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use haul_core::Decimal;
use serde::Deserialize;

use crate::{Hints, parse_price};

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The corpus file could not be read.
    #[error("cannot read price corpus {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a valid corpus record.
    #[error("{path}:{line}: not a price corpus record: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// An `expected_amount` is not a decimal number.
    #[error("{path}:{line}: expected_amount {value:?} is not a decimal number")]
    BadAmount {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The offending value.
        value: String,
    },
}

/// One labelled example of the corpus.
#[derive(Debug, Clone, Deserialize)]
pub struct Example {
    /// The string as scraped (may be absent).
    pub price_text: Option<String>,
    /// Another string from the page that may name the currency.
    #[serde(default)]
    pub currency_hint: Option<String>,
    /// The page's decimal separator, when known.
    #[serde(default)]
    pub decimal_separator_hint: Option<String>,
    /// The currency as written, `None` if the string names none.
    #[serde(default)]
    pub expected_currency: Option<String>,
    /// The amount as a decimal string, `None` if the string holds no price.
    #[serde(default)]
    pub expected_amount: Option<String>,
    /// The group of the corpus the example comes from.
    #[serde(default)]
    pub group: Option<String>,
    /// Whether the example is known to be hard (the reference parser fails it).
    #[serde(default)]
    pub xfail: bool,
}

/// An example the parser got wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// 1-based line number in the corpus.
    pub line: usize,
    /// The price text (`None` for an absent one).
    pub text: Option<String>,
    /// The currency hint given.
    pub hint: Option<String>,
    /// Expected (currency as written, amount).
    pub expected: (Option<String>, Option<Decimal>),
    /// What the parser gave (currency as written, amount).
    pub got: (Option<String>, Option<Decimal>),
    /// Whether the example is marked xfail.
    pub xfail: bool,
}

/// The outcome of an evaluation run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The corpus file.
    pub path: PathBuf,
    /// Number of examples.
    pub total: usize,
    /// Number of examples not marked xfail.
    pub non_xfail: usize,
    /// Non-xfail examples parsed correctly.
    pub correct_non_xfail: usize,
    /// Number of xfail examples.
    pub xfail: usize,
    /// Xfail examples parsed correctly anyway.
    pub correct_xfail: usize,
    /// Every example parsed wrongly, in corpus order.
    pub misses: Vec<Miss>,
}

impl Report {
    /// Share of non-xfail examples parsed correctly, in percent (two decimals, exact).
    pub fn non_xfail_percent(&self) -> Decimal {
        percent(self.correct_non_xfail, self.non_xfail)
    }

    /// Share of xfail examples parsed correctly, in percent.
    pub fn xfail_percent(&self) -> Decimal {
        percent(self.correct_xfail, self.xfail)
    }
}

fn percent(part: usize, whole: usize) -> Decimal {
    if whole == 0 {
        return Decimal::ZERO;
    }
    (Decimal::from(part) * Decimal::from(100) / Decimal::from(whole)).round_dp(2)
}

fn show<T: fmt::Display>(v: &Option<T>) -> String {
    match v {
        Some(v) => format!("{v}"),
        None => "-".to_string(),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "price corpus {}: {} examples",
            self.path.display(),
            self.total
        )?;
        writeln!(
            f,
            "  non-xfail: {}/{} correct ({}%)",
            self.correct_non_xfail,
            self.non_xfail,
            self.non_xfail_percent()
        )?;
        writeln!(
            f,
            "  xfail:     {}/{} correct ({}%)",
            self.correct_xfail,
            self.xfail,
            self.xfail_percent()
        )?;
        let misses: Vec<&Miss> = self.misses.iter().filter(|m| !m.xfail).collect();
        if !misses.is_empty() {
            writeln!(f, "  non-xfail misses:")?;
        }
        for m in misses {
            writeln!(
                f,
                "    line {}: {:?} (hint {:?}): expected {} {}, got {} {}",
                m.line,
                m.text.as_deref().unwrap_or(""),
                m.hint.as_deref().unwrap_or(""),
                show(&m.expected.0),
                show(&m.expected.1),
                show(&m.got.0),
                show(&m.got.1),
            )?;
        }
        Ok(())
    }
}

/// Parses one example and compares; `None` when correct, else the miss.
pub fn check(example: &Example, line: usize) -> Result<Option<Miss>, String> {
    let expected_amount = match &example.expected_amount {
        Some(s) => Some(Decimal::from_str(s.trim()).map_err(|_| s.clone())?),
        None => None,
    };
    let hints = Hints {
        currency_hint: example.currency_hint.as_deref(),
        decimal_separator: example
            .decimal_separator_hint
            .as_deref()
            .and_then(|s| s.chars().next()),
        ..Hints::default()
    };
    let got = parse_price(example.price_text.as_deref().unwrap_or(""), &hints);
    let expected_currency = example.expected_currency.as_deref().map(str::trim);
    let ok = got.amount == expected_amount && got.currency_text.as_deref() == expected_currency;
    Ok((!ok).then(|| Miss {
        line,
        text: example.price_text.clone(),
        hint: example.currency_hint.clone(),
        expected: (expected_currency.map(str::to_string), expected_amount),
        got: (got.currency_text, got.amount),
        xfail: example.xfail,
    }))
}

/// Evaluates the parser on a JSON Lines corpus file.
pub fn evaluate_file(path: impl AsRef<Path>) -> Result<Report, EvalError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut report = Report {
        path: path.to_path_buf(),
        ..Report::default()
    };
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let example: Example = serde_json::from_str(raw).map_err(|source| EvalError::Json {
            path: path.to_path_buf(),
            line,
            source,
        })?;
        let miss = check(&example, line).map_err(|value| EvalError::BadAmount {
            path: path.to_path_buf(),
            line,
            value,
        })?;
        report.total += 1;
        if example.xfail {
            report.xfail += 1;
            report.correct_xfail += usize::from(miss.is_none());
        } else {
            report.non_xfail += 1;
            report.correct_non_xfail += usize::from(miss.is_none());
        }
        report.misses.extend(miss);
    }
    Ok(report)
}
