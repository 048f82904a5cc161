//! Price parsing: turns scraped strings such as `"2 660 руб"`, `"16,50 € *"` or
//! `"Was: $124.95 Now: $99.00"` into exact decimal amounts and ISO-4217 currencies.
//!
//! The approach follows scrapinghub's `price-parser` (currency symbols and codes found by table
//! look-up, numbers read with separator detection) with a few additions: the number next to a
//! currency is preferred over stray numbers (`3 issues for 14,85 EUR`), percentages, dates and
//! measurements are not prices, and the ISO code of an ambiguous symbol (`$`, `kr`, `£`) is
//! resolved from the currency hint, the domain's TLD or a caller-supplied default.
//!
//! Amounts are [`Decimal`]s read from the digits as written; floating point is never involved.
//! A minus sign directly before the digits (`-3.00`, `−3,00 €`, not `10-15`) keeps the sign,
//! so a negative price is never read as a positive one.
//!
//! # Locales
//!
//! A page's [`Locale`] (language, region, the currency the page declares; built from tags such
//! as `es-CL`, `pt_BR`, `de`, or from a country-code domain with [`Locale::from_domain`]) is a
//! hint in [`Hints::locale`]. It decides only what the written text leaves open:
//!
//! * Separators. The digits decide when they can: mixed separators (`1.234,56`), a repeated
//!   one (`1.299.000`), a separator not followed by exactly three digits (`12,99`), grouping
//!   that is impossible (`0.750`), spaces and apostrophes. A lone `.` or `,` followed by exactly
//!   three digits is ambiguous: comma-decimal locales (de, fr, es-ES/CL/AR/CO/UY, pt, it, nl,
//!   pl, ru, cs, sk, da, nb, sv, fi, tr, id, vi, ro, hu, el, uk, bg, hr, sl, sr, the Baltic
//!   languages...) read `1,299` as 1.299 and `1.299` as 1299; dot-decimal locales (en-US/GB/
//!   AU/CA/IN, es-MX/US/419, zh, ja, ko, th, he, ms, de-CH and every Swiss locale) read
//!   `1.299` as 1.299 and `1,299` as 1299. Without a locale (or with one whose convention is
//!   mixed, such as a region `CA` alone or `en-ZA`) three digits read as grouping. An explicit
//!   [`Hints::decimal_separator`] overrides the locale.
//! * Currencies without minor units in practice (CLP, JPY, KRW, VND, ISK, HUF, COP, IDR, PYG,
//!   UGX, IQD..., see [`has_minor_units`]): a lone separator followed by three digits is
//!   grouping whatever the locale (`$12,990` on an English-templated .cl page is 12990 CLP).
//!   The currency is the one written (when it resolves), else the locale's, else the default.
//! * Ambiguous symbols (`$`, `kr`, `¥`, `£`): an ISO code written in the price or the currency
//!   hint wins (`$1.299 USD`), then the locale's currency ([`Locale::currency`]: the declared
//!   one, else the region's, else the language's when spoken in one currency area only: `sv`
//!   gives SEK), then the domain's country code, then [`Hints::default_currency`]. So `$` on an
//!   `es-CL` page is CLP even when USD is the default, and `$` on an `es` page of a `.com` with
//!   no default stays undecided: [`Price::undecided_currency`] says why.
//!
//! ```
//! use haul_price::{Hints, Locale, parse_price};
//! let cl = Hints { locale: Locale::from_domain("tienda.example.cl"), ..Hints::default() };
//! let p = parse_price("$1.299", &cl);
//! assert_eq!(p.amount.unwrap().to_string(), "1299");
//! assert_eq!(p.currency.unwrap().as_str(), "CLP");
//! let us = Hints { locale: Locale::parse("en-US"), ..Hints::default() };
//! assert_eq!(parse_price("$1.299", &us).amount.unwrap().to_string(), "1.299");
//! ```
//!
//! ```
//! use haul_price::{Hints, parse_price};
//! let p = parse_price("1.234,56 €", &Hints::default());
//! assert_eq!(p.amount.unwrap().to_string(), "1234.56");
//! assert_eq!(p.currency_text.as_deref(), Some("€"));
//! assert_eq!(p.currency.unwrap().as_str(), "EUR");
//! ```

mod currency;
pub mod eval;
mod locale;
mod number;

use std::fmt;

use haul_core::{Currency, Decimal};

pub use crate::locale::{Locale, has_minor_units};

use crate::currency::{CurrencyMatch, Tier};
use crate::number::{Conventions, NumToken};

/// A parsed price string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Price {
    /// The amount as an exact decimal, `None` if the string holds no number that is a price.
    pub amount: Option<Decimal>,
    /// The substring the amount was read from, as written.
    pub amount_text: Option<String>,
    /// The currency as written: `"€"`, `"руб"`, `"US$"`, `"Kč"`, `"EUR"`.
    pub currency_text: Option<String>,
    /// The ISO-4217 currency when it can be resolved (`"€"` gives EUR, `"$"` needs a hint).
    pub currency: Option<Currency>,
}

/// Extra context that helps parsing. All fields are optional; `Hints::default()` means none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hints<'a> {
    /// Another string from the same page that may name the currency (a currency selector, a
    /// label such as `"Pris NOK"`). A currency written in the price itself wins over it.
    pub currency_hint: Option<&'a str>,
    /// The decimal separator used on the page when known (`'.'`, `','`, or a sign such as `'€'`
    /// in `"35€99"`). Without it the separator is guessed from the digits.
    pub decimal_separator: Option<char>,
    /// The page's domain or URL (`"shop.example.ca"`), used to pick between the meanings of an
    /// ambiguous symbol: `$` on `.ca` is CAD, on `.com.au` AUD.
    pub domain: Option<&'a str>,
    /// The currency to assume when no currency is written at all, or when an ambiguous symbol
    /// such as `$` has this currency among its meanings and nothing else decides.
    pub default_currency: Option<Currency>,
    /// The page's locale (language, region, declared currency). Its decimal convention decides
    /// a lone separator followed by three digits (`1.299` is 1299 in `de`, 1.299 in `en-US`),
    /// and its currency the meaning of an ambiguous symbol, before the domain and the default
    /// (`$` on an `es-CL` page is CLP). See the crate docs.
    pub locale: Option<Locale>,
}

/// Why the currency of a price with an amount could not be decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecided {
    /// A symbol with several meanings (`$`, `kr`, `¥`) and no evidence choosing one.
    Ambiguous {
        /// The currency as written.
        written: String,
        /// Its possible ISO codes.
        meanings: Vec<Currency>,
    },
    /// A written currency without an ISO-4217 code (`₿`, `تومان`).
    NoIsoCode {
        /// The currency as written.
        written: String,
    },
    /// No currency written with the amount, and none given by the hints.
    Unwritten,
}

impl fmt::Display for Undecided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undecided::Ambiguous { written, meanings } => {
                let shown: Vec<&str> = meanings.iter().take(4).map(Currency::as_str).collect();
                write!(f, "`{written}` could be {}", shown.join(", "))?;
                if meanings.len() > shown.len() {
                    write!(f, " or {} more", meanings.len() - shown.len())?;
                }
                Ok(())
            }
            Undecided::NoIsoCode { written } => write!(f, "`{written}` has no ISO-4217 code"),
            Undecided::Unwritten => f.write_str("no currency written"),
        }
    }
}

impl Price {
    /// Why the currency is unknown although there is an amount; `None` when the currency is
    /// known or there is no amount. Lets a caller say "currency undecided" instead of guessing.
    pub fn undecided_currency(&self) -> Option<Undecided> {
        if self.amount.is_none() || self.currency.is_some() {
            return None;
        }
        Some(match &self.currency_text {
            None => Undecided::Unwritten,
            Some(written) => {
                let meanings: Vec<Currency> = currency::meanings(written)
                    .iter()
                    .filter_map(|c| Currency::new(c).ok())
                    .collect();
                if meanings.is_empty() {
                    Undecided::NoIsoCode {
                        written: written.clone(),
                    }
                } else {
                    Undecided::Ambiguous {
                        written: written.clone(),
                        meanings,
                    }
                }
            }
        })
    }
}

/// Parses one price string: the first number that is a price (preferring one written next to a
/// currency) and the currency as written, resolved to ISO-4217 when possible.
pub fn parse_price(text: &str, hints: &Hints<'_>) -> Price {
    let a = Analysis::new(text, hints);
    let best = a.best();
    let (currency_text, currency) = a.global_currency(best, hints);
    match best {
        Some(c) => Price {
            amount: Some(c.value),
            amount_text: Some(a.amount_text(&c.tok)),
            currency_text,
            currency,
        },
        None => {
            let free = a.free_word();
            Price {
                amount: free.as_ref().map(|_| Decimal::ZERO),
                amount_text: free,
                currency_text,
                currency,
            }
        }
    }
}

/// Finds all prices in a string such as `"Was: $124.95 Now: $99.00"`, in order of appearance.
///
/// When some numbers are written next to a currency, only those (and the starts of ranges such
/// as `26 to 50 €`) are returned; otherwise every plain number that may be a price. Each price
/// carries the currency written next to it, or else the string's currency.
pub fn find_prices(text: &str, hints: &Hints<'_>) -> Vec<Price> {
    let a = Analysis::new(text, hints);
    let Some(best_score) = a.cands.iter().map(|c| c.score).min() else {
        return match a.free_word() {
            Some(word) => {
                let (currency_text, currency) = a.global_currency(None, hints);
                vec![Price {
                    amount: Some(Decimal::ZERO),
                    amount_text: Some(word),
                    currency_text,
                    currency,
                }]
            }
            None => Vec::new(),
        };
    };
    let best = a.best();
    let (global_text, global_iso) = a.global_currency(best, hints);
    a.cands
        .iter()
        .filter(|c| c.score == best_score)
        .map(|c| {
            let (currency_text, currency) = match c.currency {
                Some(m) => (Some(m.text(&a.orig)), a.resolve(&m, hints)),
                None => (global_text.clone(), global_iso),
            };
            Price {
                amount: Some(c.value),
                amount_text: Some(a.amount_text(&c.tok)),
                currency_text,
                currency,
            }
        })
        .collect()
}

/// Maps a currency as written (symbol, code, local word) to ISO-4217, e.g. `"zł"` gives PLN.
///
/// Ambiguous forms are resolved with the hints: `"$"` gives CAD with `domain: "shop.ca"`, AUD
/// with `domain: "x.com.au"`, USD with `currency_hint: "USD"` or `default_currency: USD`, and
/// `None` with no hints at all. A longer string (`"Price in EUR"`) is searched for a currency.
pub fn currency_to_iso(written: &str, hints: &Hints<'_>) -> Option<Currency> {
    currency::written_to_iso(written, hints)
}

/// Words meaning "free of charge": a string with no number but one of these reads as 0.
const FREE_WORDS: &[&str] = &[
    "free",
    "gratis",
    "gratuit",
    "gratuite",
    "gratuito",
    "grátis",
    "kostenlos",
    "zdarma",
    "бесплатно",
    "безкоштовно",
    "ücretsiz",
];

/// Measurement units: a number followed by one of these is a quantity, not a price.
const UNITS: &[&str] = &[
    "ft", "feet", "foot", "sqft", "sq", "inch", "inches", "cm", "mm", "km", "kg", "mg", "g", "lb",
    "lbs", "oz", "ml", "cl", "l", "litre", "litres", "liter", "liters", "gal", "pcs", "mah", "gb",
    "tb", "mb", "kwh", "m²", "m2", "sqm",
];

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];

/// A number that may be a price.
#[derive(Debug, Clone)]
struct Candidate {
    tok: NumToken,
    value: Decimal,
    /// 0: next to a currency; 1: a plain number; 2: glued to other letters (`MX924`, `12x`).
    score: u8,
    /// The currency written next to it, if any.
    currency: Option<CurrencyMatch>,
}

/// A price string taken apart: its characters, written currencies and candidate numbers.
struct Analysis {
    /// Characters as written, without invisible format characters.
    orig: Vec<char>,
    /// The same with digits and separators from other scripts mapped to ASCII.
    chars: Vec<char>,
    matches: Vec<CurrencyMatch>,
    hint_chars: Vec<char>,
    hint_matches: Vec<CurrencyMatch>,
    cands: Vec<Candidate>,
}

/// Invisible characters dropped before parsing (marks, zero-width spaces, soft hyphens).
fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{061C}' | '\u{202A}'..='\u{202E}'
    )
}

/// Maps digits and separators of other scripts to ASCII (Arabic-Indic, Persian, full-width).
fn fold_char(c: char) -> char {
    let digit = |base: u32| char::from_digit(c as u32 - base, 10).unwrap_or(c);
    match c {
        '\u{0660}'..='\u{0669}' => digit(0x0660),
        '\u{06F0}'..='\u{06F9}' => digit(0x06F0),
        '\u{0966}'..='\u{096F}' => digit(0x0966),
        '\u{FF10}'..='\u{FF19}' => digit(0xFF10),
        '\u{066B}' | '\u{FF0E}' => '.',
        '\u{066C}' | '\u{FF0C}' => ',',
        _ => c,
    }
}

fn is_gap(c: char) -> bool {
    c.is_whitespace() || c == ':'
}

impl Analysis {
    fn new(text: &str, hints: &Hints<'_>) -> Self {
        let orig: Vec<char> = text.chars().filter(|c| !is_format_char(*c)).collect();
        let chars: Vec<char> = orig.iter().map(|c| fold_char(*c)).collect();
        let hint_chars: Vec<char> = hints
            .currency_hint
            .unwrap_or("")
            .chars()
            .filter(|c| !is_format_char(*c))
            .map(fold_char)
            .collect();
        let matches = currency::scan(&chars);
        let hint_matches = currency::scan(&hint_chars);
        let mut symbol_decimal = vec!['€'];
        if let Some(h) = hints.decimal_separator
            && !matches!(h, '.' | ',')
        {
            symbol_decimal.push(h);
        }
        let is_currency_start = |i: usize| matches.iter().any(|m| m.start == i);
        let conv = conventions(&matches, &hint_matches, hints);
        let tokens = number::scan(&chars, conv, &symbol_decimal, &is_currency_start);
        let mut a = Analysis {
            orig,
            chars,
            matches,
            hint_chars,
            hint_matches,
            cands: Vec::new(),
        };
        let dates = date_like(&a.chars, &tokens);
        a.cands = tokens
            .into_iter()
            .zip(dates)
            .filter_map(|(tok, date)| a.candidate(tok, date))
            .collect();
        a.apply_ranges();
        a
    }

    /// Scores a number, or drops it when it is not a price (a percentage, `$49+`, a quantity
    /// such as `16.00 ft`, a year after a month name, a date or time with no currency next to
    /// it).
    fn candidate(&self, tok: NumToken, date: bool) -> Option<Candidate> {
        let value = tok.value?;
        let chars = &self.chars;
        let mut k = tok.consumed_end;
        while chars.get(k).is_some_and(|c| c.is_whitespace()) {
            k += 1;
        }
        if matches!(chars.get(k), Some('%' | '‰')) {
            return None;
        }
        if chars.get(tok.end) == Some(&'+') {
            return None;
        }
        if self.unit_follows(&tok) || self.is_year_after_month(&tok, value) {
            return None;
        }
        let adjacent = self
            .matches
            .iter()
            .filter(|m| self.adjacent(m, &tok))
            .min_by_key(|m| {
                let gap = if m.end <= tok.start {
                    tok.start - m.end
                } else {
                    m.start.saturating_sub(tok.consumed_end)
                };
                // Trusted currencies first, then the nearest, a prefix before a suffix.
                (m.entry.tier == Tier::Weak, gap, m.start > tok.start)
            })
            .copied();
        if date && adjacent.is_none() {
            return None;
        }
        let glued_before = tok.start > 0
            && chars[tok.start - 1].is_alphabetic()
            && !self.matches.iter().any(|m| m.end == tok.start);
        let glued_after = chars
            .get(tok.consumed_end)
            .is_some_and(|c| c.is_alphabetic())
            && !self.matches.iter().any(|m| m.start == tok.consumed_end);
        let score = match adjacent {
            Some(m) if m.entry.tier > Tier::Weak => 0,
            _ if glued_before || glued_after => 2,
            _ => 1,
        };
        Some(Candidate {
            tok,
            value,
            score,
            currency: adjacent,
        })
    }

    /// Whether a currency is written right before or after the number (spaces or `:` between).
    fn adjacent(&self, m: &CurrencyMatch, tok: &NumToken) -> bool {
        if m.end <= tok.start {
            let gap = &self.chars[m.end..tok.start];
            if m.entry.is_single_letter() {
                return gap.is_empty();
            }
            gap.len() <= 3 && gap.iter().all(|c| is_gap(*c))
        } else if m.start >= tok.consumed_end {
            let gap = &self.chars[tok.consumed_end..m.start];
            gap.len() <= 3 && gap.iter().all(|c| c.is_whitespace())
        } else {
            // Inside the number: a sign used as the decimal point (`35€99`).
            m.start >= tok.start && m.end <= tok.end
        }
    }

    fn unit_follows(&self, tok: &NumToken) -> bool {
        let chars = &self.chars;
        let mut k = tok.consumed_end;
        if chars.get(k).is_some_and(|c| c.is_whitespace()) {
            k += 1;
        }
        if self.matches.iter().any(|m| m.start == k) {
            return false;
        }
        let word: String = chars[k.min(chars.len())..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '²')
            .collect();
        if word.is_empty() {
            return false;
        }
        let lower = word.to_lowercase();
        // Single letters only in lower case: `L` may be a currency, `l` is a litre.
        if word.chars().count() == 1 && word != lower {
            return false;
        }
        UNITS.contains(&lower.as_str())
    }

    fn is_year_after_month(&self, tok: &NumToken, value: Decimal) -> bool {
        let digits = tok.end - tok.start;
        if digits != 4 || value.scale() != 0 || value < Decimal::from(1900) {
            return false;
        }
        if value > Decimal::from(2100) {
            return false;
        }
        let mut k = tok.start;
        while k > 0 && (self.chars[k - 1].is_whitespace() || self.chars[k - 1] == ',') {
            k -= 1;
        }
        let word_start = self.chars[..k]
            .iter()
            .rposition(|c| !c.is_alphabetic())
            .map_or(0, |p| p + 1);
        let word: String = self.chars[word_start..k].iter().collect();
        MONTHS.contains(&word.to_lowercase().as_str())
    }

    /// `26 to 50 €`, `10 - 20 zł`: a range start takes the currency written after the range end.
    fn apply_ranges(&mut self) {
        for idx in 0..self.cands.len().saturating_sub(1) {
            if self.cands[idx].currency.is_some() {
                continue;
            }
            let next = &self.cands[idx + 1];
            let Some(m) = next.currency else { continue };
            if m.start < next.tok.consumed_end || m.entry.tier == Tier::Weak {
                continue; // only a currency written after the second number is shared
            }
            let between: String = self.chars[self.cands[idx].tok.consumed_end..next.tok.start]
                .iter()
                .collect();
            let connector = between.trim().to_lowercase();
            let is_range = matches!(
                connector.as_str(),
                "-" | "–" | "—" | "~" | "to" | "bis" | "à" | "a" | "до" | "tot" | "al" | "-до"
            );
            if is_range {
                self.cands[idx].currency = Some(m);
                self.cands[idx].score = 0;
            }
        }
    }

    /// The price: the first of the best-scored candidates.
    fn best(&self) -> Option<&Candidate> {
        let min = self.cands.iter().map(|c| c.score).min()?;
        self.cands.iter().find(|c| c.score == min)
    }

    fn amount_text(&self, tok: &NumToken) -> String {
        self.orig[tok.start..tok.end]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    }

    /// A "free" word, when the string has no digits at all (`Free!`, but not
    /// `Free shipping over $49+`).
    fn free_word(&self) -> Option<String> {
        if self.chars.iter().any(char::is_ascii_digit) {
            return None;
        }
        // Char-wise lower case keeps positions aligned with `orig`.
        let lower: Vec<char> = self
            .orig
            .iter()
            .map(|c| c.to_lowercase().next().unwrap_or(*c))
            .collect();
        for word in FREE_WORDS {
            let w: Vec<char> = word.chars().collect();
            if w.len() > lower.len() {
                continue;
            }
            for pos in 0..=lower.len() - w.len() {
                let end = pos + w.len();
                if lower[pos..end] == w[..]
                    && !(pos > 0 && lower[pos - 1].is_alphabetic())
                    && !lower.get(end).is_some_and(|c| c.is_alphabetic())
                {
                    return Some(self.orig[pos..end].iter().collect());
                }
            }
        }
        None
    }

    /// The string's currency: in the price text (the one next to the amount first, a specific
    /// dollar code over a bare `$`), else in the hint.
    fn global_currency(
        &self,
        best: Option<&Candidate>,
        hints: &Hints<'_>,
    ) -> (Option<String>, Option<Currency>) {
        let in_price: Vec<&CurrencyMatch> = self
            .matches
            .iter()
            .filter(|m| m.entry.tier > Tier::Weak || best.is_some_and(|b| self.adjacent(m, &b.tok)))
            .collect();
        let chosen = pick(&in_price, |m| {
            best.is_some_and(|b| self.adjacent(m, &b.tok))
        })
        .map(|m| (m, &self.orig));
        let chosen = chosen.or_else(|| {
            let in_hint: Vec<&CurrencyMatch> = self
                .hint_matches
                .iter()
                .filter(|m| m.entry.tier > Tier::Weak)
                .collect();
            pick(&in_hint, |_| false).map(|m| (m, &self.hint_chars))
        });
        match chosen {
            Some((m, chars)) => (Some(m.text(chars)), self.resolve(m, hints)),
            None => (None, hints.default_currency),
        }
    }

    fn resolve(&self, m: &CurrencyMatch, hints: &Hints<'_>) -> Option<Currency> {
        let context: Vec<&currency::Entry> = self
            .matches
            .iter()
            .chain(self.hint_matches.iter())
            .filter(|o| o.entry.tier > Tier::Weak)
            .map(|o| o.entry)
            .collect();
        currency::resolve(m.entry, &context, hints)
    }
}

/// The separator conventions for a string: the hint, the locale's decimal separator, and
/// whether the string's currency (the first trustworthy one written, else the locale's, else
/// the default) is written without minor units.
fn conventions(
    matches: &[CurrencyMatch],
    hint_matches: &[CurrencyMatch],
    hints: &Hints<'_>,
) -> Conventions {
    let strong = |m: &&CurrencyMatch| m.entry.tier > Tier::Weak;
    let context: Vec<&currency::Entry> = matches
        .iter()
        .chain(hint_matches)
        .filter(strong)
        .map(|m| m.entry)
        .collect();
    let written = matches
        .iter()
        .chain(hint_matches)
        .find(strong)
        .and_then(|m| currency::resolve(m.entry, &context, hints));
    let currency = written
        .or_else(|| hints.locale.and_then(|l| l.currency()))
        .or(hints.default_currency);
    Conventions {
        hint: hints.decimal_separator,
        whole_units: currency.is_some_and(|c| !has_minor_units(c)),
        locale: hints.locale.and_then(|l| l.decimal_separator()),
    }
}

/// Marks the numbers that form a date or a time: three parts joined by the same `-` or `/`
/// (`2024-05-01`, `01/05/2024`), or `12:30`.
fn date_like(chars: &[char], tokens: &[NumToken]) -> Vec<bool> {
    let mut out = vec![false; tokens.len()];
    let joiner = |a: &NumToken, b: &NumToken| -> Option<char> {
        (b.start == a.consumed_end + 1 && a.end == a.consumed_end)
            .then(|| chars[a.consumed_end])
            .filter(|c| matches!(c, '-' | '/' | ':'))
    };
    let plain = |t: &NumToken| {
        t.value.is_some_and(|v| v.scale() == 0) && (1..=4).contains(&(t.end - t.start))
    };
    for i in 0..tokens.len() {
        let (a, rest) = (&tokens[i], &tokens[i + 1..]);
        let Some(b) = rest.first() else { break };
        let Some(j) = joiner(a, b) else { continue };
        if !plain(a) || !plain(b) {
            continue;
        }
        if j == ':' {
            // hh:mm
            if a.end - a.start <= 2 && b.end - b.start == 2 {
                out[i] = true;
                out[i + 1] = true;
            }
            continue;
        }
        if let Some(c) = rest.get(1)
            && joiner(b, c) == Some(j)
            && plain(c)
            && b.end - b.start <= 2
        {
            out[i..i + 3].fill(true);
        }
    }
    out
}

/// Chooses among written currencies: a dollar code beats a bare `$` (`SGD$4.90`,
/// `$1,190.00 AUD`); then currencies next to the amount; then the more trustworthy; then the
/// leftmost.
fn pick<'m>(
    found: &[&'m CurrencyMatch],
    near_amount: impl Fn(&CurrencyMatch) -> bool,
) -> Option<&'m CurrencyMatch> {
    if found.iter().any(|m| m.entry.is_bare_dollar())
        && let Some(code) = found
            .iter()
            .find(|m| m.entry.is_code && m.entry.iso.iter().all(|c| currency::is_dollar(c)))
    {
        return Some(code);
    }
    found.iter().copied().max_by(|a, b| {
        near_amount(a)
            .cmp(&near_amount(b))
            .then(a.entry.tier.cmp(&b.entry.tier))
            .then(b.start.cmp(&a.start))
    })
}

#[cfg(test)]
mod tests;
