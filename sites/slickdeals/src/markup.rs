//! Tolerant reading of Slickdeals markup: selectors tried in order, text, prices, vote counts,
//! posting times and image addresses.

use chrono::{DateTime, Utc};
use haul_core::{Currency, Decimal, Url};
use haul_price::{Hints, parse_price};
use scraper::{ElementRef, Selector};

/// Parses a list of selectors, tried in order by [`first`]. The lists are constants of this
/// crate; a typo is a programming error that every test run hits.
pub(crate) fn selectors(list: &[&str]) -> Vec<Selector> {
    list.iter()
        .map(|s| Selector::parse(s).unwrap_or_else(|e| panic!("bad selector {s:?}: {e}")))
        .collect()
}

/// The first element matching the first selector (in list order) that matches at all and
/// passes `keep`.
pub(crate) fn first<'a>(
    scope: ElementRef<'a>,
    sels: &[Selector],
    keep: impl Fn(ElementRef<'a>) -> bool,
) -> Option<ElementRef<'a>> {
    sels.iter().flat_map(|s| scope.select(s)).find(|e| keep(*e))
}

/// An element's text, whitespace-normalised.
pub(crate) fn text(e: ElementRef<'_>) -> String {
    e.text()
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The non-empty text of the first element matching `sels`.
pub(crate) fn first_text(scope: ElementRef<'_>, sels: &[Selector]) -> Option<String> {
    first(scope, sels, |e| !text(e).is_empty()).map(text)
}

/// The non-empty attribute `attr` of the first element matching `sels` that has it.
pub(crate) fn first_attr(scope: ElementRef<'_>, sels: &[Selector], attr: &str) -> Option<String> {
    first(scope, sels, |e| {
        e.value().attr(attr).is_some_and(|v| !v.trim().is_empty())
    })
    .and_then(|e| e.value().attr(attr))
    .map(|v| v.trim().to_string())
}

/// An amount and currency from a price as Slickdeals shows it (`$169.99`, `Free`,
/// `List Price: $529.99`). A bare `$` is USD on this US site; percentages (`20% off`) are not
/// prices.
pub(crate) fn price(text: &str) -> (Option<Decimal>, Option<Currency>) {
    let hints = Hints {
        domain: Some("slickdeals.net"),
        default_currency: Currency::new("USD").ok(),
        ..Hints::default()
    };
    let p = parse_price(text, &hints);
    (p.amount, p.amount.and(p.currency))
}

/// A vote count or score as shown: `245`, `+87`, `-4`, `−4` (a minus sign), `1,024`.
/// Abbreviated counts (`1.2k`) are not exact and give `None`.
pub(crate) fn votes(text: &str) -> Option<i64> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| *c != ',')
        .map(|c| if c == '\u{2212}' { '-' } else { c })
        .collect();
    let start = chars.iter().position(char::is_ascii_digit)?;
    let len = chars[start..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if chars
        .get(start + len)
        .is_some_and(|c| *c == '.' || c.eq_ignore_ascii_case(&'k'))
    {
        return None;
    }
    let n: i64 = chars[start..start + len]
        .iter()
        .collect::<String>()
        .parse()
        .ok()?;
    Some(if start > 0 && chars[start - 1] == '-' {
        -n
    } else {
        n
    })
}

/// A posting time: RFC 3339 when it is machine-readable (an RFC 3339 `datetime` or a Unix
/// timestamp), else the text as stated without a leading "Posted". Slickdeals shows local
/// times without a zone, so those are not converted.
pub(crate) fn posted(raw: &str) -> Option<String> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_rfc3339());
    }
    if s.len() >= 9
        && s.bytes().all(|b| b.is_ascii_digit())
        && let Some(t) = s
            .parse::<i64>()
            .ok()
            .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0))
    {
        return Some(t.to_rfc3339());
    }
    let stated = s
        .strip_prefix("Posted")
        .or_else(|| s.strip_prefix("posted"))
        .unwrap_or(s);
    let stated = stated.split_whitespace().collect::<Vec<_>>().join(" ");
    (!stated.is_empty()).then_some(stated)
}

/// The address of an image element, made absolute: `src`, or the lazy-loading attribute when
/// `src` is a placeholder (`data:` URI or empty).
pub(crate) fn image_src(img: ElementRef<'_>, page: &Url) -> Option<String> {
    let v = img.value();
    let src = v
        .attr("src")
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with("data:"))
        .or_else(|| {
            ["data-src", "data-lazy-src", "data-original"]
                .iter()
                .find_map(|a| v.attr(a).map(str::trim).filter(|s| !s.is_empty()))
        })?;
    page.join(src).ok().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vote_counts_and_scores() {
        let cases = [
            ("245", Some(245)),
            ("+87", Some(87)),
            ("-4", Some(-4)),
            ("\u{2212}4", Some(-4)),
            ("1,024", Some(1024)),
            ("Score: +12", Some(12)),
            ("1.2k", None),
            ("", None),
            ("no votes", None),
        ];
        for (s, want) in cases {
            assert_eq!(votes(s), want, "{s:?}");
        }
    }

    #[test]
    fn prices_as_slickdeals_shows_them() {
        let cases = [
            ("$169.99", Some("169.99"), Some("USD")),
            ("List Price: $529.99", Some("529.99"), Some("USD")),
            ("$1,299.00 + Free Shipping", Some("1299.00"), Some("USD")),
            ("FREE", Some("0"), Some("USD")),
            ("20% off", None, None),
            ("", None, None),
        ];
        for (s, amount, currency) in cases {
            let (a, c) = price(s);
            assert_eq!(a.map(|d| d.to_string()).as_deref(), amount, "{s:?}");
            assert_eq!(c.map(|c| c.to_string()).as_deref(), currency, "{s:?}");
        }
    }

    #[test]
    fn posting_times() {
        let cases = [
            (
                "2024-12-03T15:14:00-05:00",
                Some("2024-12-03T15:14:00-05:00"),
            ),
            ("2024-12-03T11:00:00Z", Some("2024-12-03T11:00:00+00:00")),
            ("1733256840", Some("2024-12-03T20:14:00+00:00")),
            (
                "Posted 12-02-2024 at 08:31 AM",
                Some("12-02-2024 at 08:31 AM"),
            ),
            ("  ", None),
        ];
        for (s, want) in cases {
            assert_eq!(posted(s).as_deref(), want, "{s:?}");
        }
    }
}
