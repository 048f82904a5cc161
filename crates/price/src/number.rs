//! Finding number-like runs in a price string and reading them as exact decimals: which
//! separator is the decimal point (`1.234,56` / `1,234.56` / `1 234`), digit grouping with
//! spaces or apostrophes (`2 660`, `1'234.50`), trailing dashes (`12,-`), a euro sign used as
//! the decimal point (`35€99`), a decimal-separator hint, the page locale's convention for a
//! lone separator followed by three digits (`1.299`), and a leading minus (`-3.00`).
//!
//! Hand-rolled scanner: each decision needs look-ahead over the following characters (is this
//! space followed by exactly three digits? is this `,` followed by a space and two digits?) that
//! is simpler to state as code than as a regex followed by the same checks.

use std::str::FromStr;

use haul_core::Decimal;

/// A separator between two digit groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sep {
    /// `.` or `,` directly between digits.
    Mark(char),
    /// A space (any Unicode whitespace) used for digit grouping.
    Space,
    /// An apostrophe used for digit grouping (`1'234`).
    Apostrophe,
    /// `.` or `,` followed by one space and two digits (`119. 95`): always the decimal point.
    Split(char),
    /// A currency sign used as the decimal point (`35€99`): always the decimal point.
    Symbol(char),
}

/// What decides which separator is the decimal point, strongest first.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Conventions {
    /// The decimal separator stated for this text (`'.'`, `','`, or a sign such as `'€'`):
    /// decides every separator.
    pub(crate) hint: Option<char>,
    /// The prices are in a currency without minor units in practice (CLP, JPY...): a lone `.`
    /// or `,` followed by three digits is grouping whatever the locale.
    pub(crate) whole_units: bool,
    /// The decimal separator of the page's locale: decides only a lone `.` or `,` followed by
    /// exactly three digits (`1.299` is 1299 in `de`, 1.299 in `en-US`).
    pub(crate) locale: Option<char>,
}

/// A number-like run found in a text.
#[derive(Debug, Clone)]
pub(crate) struct NumToken {
    /// Char index of the first character (minus sign, digit or leading separator).
    pub(crate) start: usize,
    /// Char index just past the amount (trailing separators and dashes excluded).
    pub(crate) end: usize,
    /// Char index just past everything consumed (including a trailing `,-`).
    pub(crate) consumed_end: usize,
    /// The value, or `None` when the run is not a well-formed amount (`15.08.2017`). Negative
    /// when a minus sign is written directly before the digits (`-3.00`).
    pub(crate) value: Option<Decimal>,
}

/// Whether a minus sign sits directly before position `i` as the sign of the number starting
/// there: at the start of the text or after a space, an opening bracket or a currency sign, not
/// after a digit or letter (`10-15`, `25-09`, `art-12` are not negative numbers).
fn minus_before(chars: &[char], i: usize) -> bool {
    if i == 0 || !matches!(chars[i - 1], '-' | '−') {
        return false;
    }
    match i.checked_sub(2).map(|k| chars[k]) {
        None => true,
        Some(c) => !(c.is_alphanumeric() || matches!(c, '.' | ',' | ':' | '-' | '−' | '/' | '_')),
    }
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '–' | '—' | '‒' | '−')
}

fn digits_at(chars: &[char], i: usize) -> usize {
    chars[i.min(chars.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count()
}

/// Reads the run as a decimal. `groups` are digit strings; `seps[i]` sits between `groups[i]`
/// and `groups[i + 1]`; `leading` is a separator written before the first digit (`.75`).
fn interpret(
    leading: Option<char>,
    groups: &[String],
    seps: &[Sep],
    conv: Conventions,
) -> Option<(Decimal, bool)> {
    let hint = conv.hint;
    let mark_char = |s: &Sep| match s {
        Sep::Mark(c) => Some(*c),
        _ => None,
    };
    // Index in `seps` of the decimal point; `Some(usize::MAX)` for the leading separator.
    const LEADING: usize = usize::MAX;
    let mut decimal: Option<usize> = None;
    if let Some(pos) = seps
        .iter()
        .position(|s| matches!(s, Sep::Split(_) | Sep::Symbol(_)))
    {
        decimal = Some(pos);
    } else if let Some(h) = hint.filter(|h| matches!(h, '.' | ',')) {
        let with_hint: Vec<usize> = (0..seps.len())
            .filter(|&i| mark_char(&seps[i]) == Some(h))
            .collect();
        match with_hint.as_slice() {
            [] => {
                if leading == Some(h) {
                    decimal = Some(LEADING);
                }
            }
            [one] => decimal = Some(*one),
            _ => return None,
        }
    } else {
        let marks: Vec<usize> = (0..seps.len())
            .filter(|&i| mark_char(&seps[i]).is_some())
            .collect();
        match marks.last() {
            None => {
                if leading.is_some() && seps.is_empty() {
                    decimal = Some(LEADING);
                }
            }
            Some(&last) => {
                let c = mark_char(&seps[last]);
                let same = marks.iter().filter(|&&i| mark_char(&seps[i]) == c).count();
                let mixed = marks.iter().any(|&i| mark_char(&seps[i]) != c);
                if mixed {
                    if same == 1 {
                        decimal = Some(last);
                    } else {
                        return None;
                    }
                } else if same == 1 {
                    // A lone `.` or `,`: three digits after it read as grouping (`1.299`,
                    // `$699,000`) unless grouping is impossible (`0.750`, `1250.600`).
                    let after = groups[last + 1].len();
                    let before_all_zero = last == 0 && groups[0].chars().all(|d| d == '0');
                    let grouping_possible = groups[0].len() <= 3 && !before_all_zero;
                    let locale_decimal = !conv.whole_units && conv.locale == c;
                    if after != 3 || !grouping_possible || locale_decimal {
                        decimal = Some(last);
                    }
                }
            }
        }
    }

    // Split into integer and fraction groups, and check the grouping of the integer part.
    let (int_groups, int_seps, frac_groups): (&[String], &[Sep], &[String]) = match decimal {
        Some(LEADING) => (&[], &[], groups),
        Some(d) => (&groups[..=d], &seps[..d], &groups[d + 1..]),
        None => (groups, seps, &[]),
    };
    if !int_seps.is_empty() && !grouping_ok(int_groups, int_seps) {
        return None;
    }
    let int: String = int_groups.concat();
    let frac: String = frac_groups.concat();
    let text = match (int.is_empty(), frac.is_empty()) {
        (true, true) => return None,
        (_, true) => int,
        (true, false) => format!("0.{frac}"),
        (false, false) => format!("{int}.{frac}"),
    };
    Decimal::from_str(&text)
        .ok()
        .map(|d| (d, decimal.is_some()))
}

/// Whether digit groups separated by grouping separators look like a real amount: the first group
/// has one to three digits and the others three (or Indian lakh style `1,23,456`).
fn grouping_ok(groups: &[String], seps: &[Sep]) -> bool {
    if groups[0].is_empty() || groups[0].len() > 3 {
        return false;
    }
    let rest = &groups[1..];
    if rest.iter().all(|g| g.len() == 3) {
        return true;
    }
    // Indian grouping: 2-digit groups then a final 3-digit group, separated by commas.
    seps.iter().all(|s| *s == Sep::Mark(','))
        && rest.last().is_some_and(|g| g.len() == 3)
        && rest[..rest.len() - 1].iter().all(|g| g.len() == 2)
        && groups[0].len() <= 2
}

/// Scans all number-like runs. `is_currency_char(i)` tells whether char `i` belongs to a written
/// currency; `symbol_decimal` is the currency sign that may act as a decimal point (`€`, or the
/// hint when it is not `.`/`,`).
pub(crate) fn scan(
    chars: &[char],
    conv: Conventions,
    symbol_decimal: &[char],
    is_currency_start: &dyn Fn(usize) -> bool,
) -> Vec<NumToken> {
    let mut out = Vec::new();
    let mut i = 0;
    // Where the previous number's consumed characters end (a minus there is not a sign).
    let mut prev_end = 0;
    while i < chars.len() {
        let Some((leading, j)) = number_start(chars, i) else {
            i += 1;
            continue;
        };
        let mut run = Run::first_group(chars, j);
        run.extend(chars, leading, conv, symbol_decimal, is_currency_start);
        let mut value = interpret(leading, &run.groups, &run.seps, conv).map(|(d, _)| d);
        let mut start = i;
        if leading.is_none() && start > prev_end && minus_before(chars, start) {
            start -= 1;
            value = value.map(|d| -d);
        }
        out.push(NumToken {
            start,
            end: run.end,
            consumed_end: run.consumed_end,
            value,
        });
        prev_end = run.consumed_end;
        i = run.consumed_end.max(start + 1);
    }
    out
}

/// Whether a number starts at `i`: at a digit, or at a run of `.` / `,` (not after a letter
/// or digit) followed by digits (`.99`). Gives the leading mark, if any, and where the
/// digits start.
fn number_start(chars: &[char], i: usize) -> Option<(Option<char>, usize)> {
    let c = chars[i];
    if matches!(c, '.' | ',') {
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let prev_ok = i == 0 || !chars[i - 1].is_alphanumeric();
        return (prev_ok && digits_at(chars, i + run) > 0).then_some((Some(c), i + run));
    }
    c.is_ascii_digit().then_some((None, i))
}

/// One number being read: its digit groups, the separators between them, where its digits
/// end and where the characters it consumed end (a trailing `,-` or `:-`).
struct Run {
    groups: Vec<String>,
    seps: Vec<Sep>,
    /// The next character to look at.
    j: usize,
    end: usize,
    consumed_end: usize,
}

impl Run {
    /// The run of digits at `j`.
    fn first_group(chars: &[char], j: usize) -> Self {
        let len = digits_at(chars, j);
        Self {
            groups: vec![chars[j..j + len].iter().collect()],
            seps: Vec::new(),
            j: j + len,
            end: j + len,
            consumed_end: j + len,
        }
    }

    /// Takes `sep` and the `len` digits at `from` as the next group.
    fn push(&mut self, chars: &[char], sep: Sep, from: usize, len: usize) {
        self.seps.push(sep);
        self.groups.push(chars[from..from + len].iter().collect());
        self.j = from + len;
        self.end = self.j;
        self.consumed_end = self.j;
    }

    /// Reads the groups that follow: marks, `119. 95`, apostrophes, spaces between thousands,
    /// a currency sign as the decimal point, and a dash or `:-` standing for zero cents.
    fn extend(
        &mut self,
        chars: &[char],
        leading: Option<char>,
        conv: Conventions,
        symbol_decimal: &[char],
        is_currency_start: &dyn Fn(usize) -> bool,
    ) {
        while let Some(&c) = chars.get(self.j) {
            let j = self.j;
            let next = chars.get(j + 1).copied();
            if matches!(c, '.' | ',') {
                let d = digits_at(chars, j + 1);
                if d > 0 {
                    self.push(chars, Sep::Mark(c), j + 1, d);
                    continue;
                }
                // `119. 95`: the separator, one space, then exactly two digits.
                if next.is_some_and(is_space) && digits_at(chars, j + 2) == 2 {
                    self.push(chars, Sep::Split(c), j + 2, 2);
                    return;
                }
                self.consumed_end = zero_cents_end(chars, j);
                return;
            }
            // Swedish `199:-`.
            if c == ':' && next.is_some_and(is_dash) {
                self.consumed_end = j + 2;
                return;
            }
            if matches!(c, '\'' | '’' | 'ʼ') && digits_at(chars, j + 1) == 3 {
                self.push(chars, Sep::Apostrophe, j + 1, 3);
                continue;
            }
            if is_space(c)
                && digits_at(chars, j + 1) == 3
                && self.seps.iter().all(|s| *s == Sep::Space)
                && self.groups[0].len() <= 3
                && leading.is_none()
            {
                self.push(chars, Sep::Space, j + 1, 3);
                continue;
            }
            // A currency sign as the decimal point: `35€99`, `35€ 99`, `1250€600` (with hint).
            if let Some((sym, frac_start, frac_len)) =
                symbol_fraction(chars, j, symbol_decimal, conv.hint, is_currency_start)
                && interpret(leading, &self.groups, &self.seps, conv).is_some_and(|(_, dec)| !dec)
            {
                self.push(chars, Sep::Symbol(sym), frac_start, frac_len);
            }
            return;
        }
    }
}

/// Where the characters consumed after a mark at `j` with no digits after it end:
/// `12,-` / `1.899,–` / `105. –` (a dash standing for zero cents) take the dashes, else the
/// mark alone.
fn zero_cents_end(chars: &[char], j: usize) -> usize {
    let mut k = j + 1;
    if chars.get(k).copied().is_some_and(is_space) {
        k += 1;
    }
    if !chars.get(k).copied().is_some_and(is_dash) {
        return j + 1;
    }
    while chars.get(k).copied().is_some_and(is_dash) {
        k += 1;
    }
    k
}

/// At `j` (just after digits): optional space, a decimal currency sign, optional space, digits.
/// Returns the sign and the position and length of the fraction digits.
fn symbol_fraction(
    chars: &[char],
    j: usize,
    symbol_decimal: &[char],
    hint: Option<char>,
    is_currency_start: &dyn Fn(usize) -> bool,
) -> Option<(char, usize, usize)> {
    let mut k = j;
    if chars.get(k).copied().is_some_and(is_space) {
        k += 1;
    }
    let sym = *chars.get(k)?;
    if !symbol_decimal.contains(&sym) {
        return None;
    }
    k += 1;
    let spaced = chars.get(k).copied().is_some_and(is_space);
    if spaced {
        k += 1;
    }
    let d = digits_at(chars, k);
    let hinted = hint == Some(sym);
    let ok = match (spaced, hinted) {
        (true, false) => d == 2,
        (true, true) => (1..=2).contains(&d),
        (false, false) => (1..=2).contains(&d),
        (false, true) => d >= 1,
    };
    if !ok {
        return None;
    }
    // Not `99 € 79 €`: the fraction must not be followed by another currency.
    let mut m = k + d;
    while chars.get(m).copied().is_some_and(is_space) {
        m += 1;
    }
    if m < chars.len() && is_currency_start(m) {
        return None;
    }
    // Nor by another separator and digits (`12€ 50,00`).
    if matches!(chars.get(k + d), Some('.' | ',')) && digits_at(chars, k + d + 1) > 0 {
        return None;
    }
    Some((sym, k, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, hint: Option<char>) -> Option<String> {
        let chars: Vec<char> = text.chars().collect();
        let conv = Conventions {
            hint,
            ..Conventions::default()
        };
        let toks = scan(&chars, conv, &['€'], &|i| {
            chars[i] == '€' || chars[i] == '$'
        });
        toks.first()
            .and_then(|t| t.value)
            .map(|d| d.normalize().to_string())
    }

    #[test]
    fn separators() {
        let cases: &[(&str, Option<char>, Option<&str>)] = &[
            ("1,234", None, Some("1234")),
            ("12,34", None, Some("12.34")),
            ("1.234,56", None, Some("1234.56")),
            ("1,234.56", None, Some("1234.56")),
            ("1 234,56", None, Some("1234.56")),
            ("1'234.50", None, Some("1234.5")),
            ("0.750", None, Some("0.75")),
            ("3,0000", None, Some("3")),
            (".75", None, Some("0.75")),
            ("..75", None, Some("0.75")),
            (".75,333", None, Some("75333")),
            ("..75,333", Some('.'), Some("0.75333")),
            ("..75,333", Some(','), Some("75.333")),
            (".750.30", Some('.'), Some("750.3")),
            ("140.000", Some('.'), Some("140")),
            ("140.000", Some(','), Some("140000")),
            ("12,-", None, Some("12")),
            ("119. 95", None, Some("119.95")),
            ("1.837, 32", None, Some("1837.32")),
            ("35€99", None, Some("35.99")),
            ("35€ 99", None, Some("35.99")),
            ("35€ 999", None, Some("35")),
            ("1,235€ 99", None, Some("1235.99")),
            ("1250€600", Some('€'), Some("1250.6")),
            ("15.08.2017", None, None),
            ("1,23,456.00", None, Some("123456")),
        ];
        for (text, hint, want) in cases {
            assert_eq!(
                read(text, *hint).as_deref(),
                *want,
                "{text:?} hint {hint:?}"
            );
        }
    }
}
