//! The report page: escaping, one table row per product, the inline CSS and sorting script.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use haul_output::ProductHistory;
use rust_decimal::Decimal;

use crate::ReportError;

/// HTML-escapes `s` for text and double- or single-quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The change of a product's price in the last run that saw it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// First seen in that run.
    New,
    /// The same price as the run before.
    Same,
    /// From `before` to the current price: the difference and percent.
    Moved {
        delta: Decimal,
        percent: Option<Decimal>,
    },
}

impl Change {
    pub(crate) fn of(p: &ProductHistory) -> Self {
        if p.history.len() <= 1 && p.history.first().is_none_or(|h| h.crawl_id == p.crawl_id) {
            return Self::New;
        }
        let Some((before, now)) = p.last_change() else {
            return Self::Same;
        };
        let dec = |s: &Option<String>| s.as_deref().and_then(|s| s.parse::<Decimal>().ok());
        match (dec(&before.price), dec(&now.price)) {
            (Some(b), Some(n)) if b != n => Self::Moved {
                delta: n - b,
                percent: (!b.is_zero()).then(|| ((n - b) / b * Decimal::ONE_HUNDRED).round_dp(1)),
            },
            _ => Self::Same,
        }
    }

    /// The sort key: how much the price dropped, in percent (a rise is negative).
    fn drop_percent(&self) -> Decimal {
        match self {
            Self::Moved {
                percent: Some(p), ..
            } => -*p,
            _ => Decimal::ZERO,
        }
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.4em;\
text-align:left;vertical-align:middle}.path{color:#777;font-size:.85em;font-weight:normal}.down{color:#0a7a2f}\
.up{color:#b3261e}.price{white-space:nowrap;font-weight:bold}button{margin-right:.5em}";

/// Re-sorts the table rows by a `data-*` key. Inline, so that the page works offline.
const SCRIPT: &str = "document.querySelectorAll('button[data-sort]').forEach(function(b){\
b.addEventListener('click',function(){var k=b.getAttribute('data-sort');\
var body=document.querySelector('tbody');var rows=Array.prototype.slice.call(body.rows);\
rows.sort(function(x,y){var a=x.dataset[k],c=y.dataset[k];\
if(k==='title'){return a.localeCompare(c);}return parseFloat(c)-parseFloat(a);});\
rows.forEach(function(r){body.appendChild(r);});});});";

/// The path of a product URL (its page named without a link: the report loads nothing).
fn path_of(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    }
}

/// One table row.
fn row(p: &ProductHistory, now: DateTime<Utc>) -> Result<String, ReportError> {
    let change = Change::of(p);
    let currency = p.currency.as_deref().unwrap_or("");
    let price = match &p.price {
        Some(price) => format!("{} {}", escape(price), escape(currency)),
        None => "no price".into(),
    };
    let change_cell = match &change {
        Change::New => "<td class=\"change\">new</td>".to_string(),
        Change::Same => "<td class=\"change\">no change</td>".to_string(),
        Change::Moved { delta, percent } => {
            let class = if delta.is_sign_negative() {
                "down"
            } else {
                "up"
            };
            let pct = percent.map_or(String::new(), |p| format!(" ({p:+} %)"));
            format!(
                "<td class=\"change {class}\">{delta:+} {}{pct}</td>",
                escape(currency)
            )
        }
    };
    let price_key: f64 = p
        .price
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    let availability = p.availability.as_deref().map(escape).unwrap_or_default();
    Ok(format!(
        "<tr class=\"product\" data-drop=\"{}\" data-price=\"{price_key}\" data-title=\"{title}\">\
<td><div class=\"title\">{title}</div><div class=\"path\">{site} · {path}</div></td>\
<td class=\"price\">{price}<div class=\"path\">{availability}</div></td>{change_cell}<td>{chart}</td></tr>\n",
        change.drop_percent(),
        title = escape(&p.title),
        site = escape(&p.site),
        path = escape(path_of(&p.url)),
        chart = crate::chart::svg(p, now)?,
    ))
}

/// The whole page for `products`, as of `now`: sorted by biggest drop first (then by title).
pub fn render(products: &[ProductHistory], now: DateTime<Utc>) -> Result<String, ReportError> {
    let mut sorted: Vec<&ProductHistory> = products.iter().collect();
    sorted.sort_by(|a, b| {
        let (da, db) = (Change::of(a).drop_percent(), Change::of(b).drop_percent());
        db.cmp(&da).then_with(|| a.title.cmp(&b.title))
    });
    let mut html =
        String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    html.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>haul: prices</title>\n");
    let _ = writeln!(html, "<style>{STYLE}</style></head><body>\n<h1>Prices</h1>");
    let _ = writeln!(
        html,
        "<p>{} products, as of {}. Sort by: <button data-sort=\"drop\">biggest drop</button>\
<button data-sort=\"price\">price</button><button data-sort=\"title\">title</button></p>",
        products.len(),
        now.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    html.push_str("<table><thead><tr><th>Product</th><th>Price</th><th>Since the last run</th><th>History</th></tr></thead><tbody>\n");
    for p in sorted {
        html.push_str(&row(p, now)?);
    }
    let _ = writeln!(
        html,
        "</tbody></table>\n<script>{SCRIPT}</script>\n</body></html>"
    );
    Ok(html)
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
