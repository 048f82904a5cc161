//! The flat column layout of a [`Record`] shared by the CSV file and the SQLite `records`
//! table: one column per record field, in the record's field order.
//!
//! Cells are taken from the record's serde form (the same strings as in JSON: prices as exact
//! decimal strings, enums in snake_case), so every format agrees on the text of each value.

use std::borrow::Cow;

use haul_core::Record;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The column names of the CSV header and of the SQLite `records` table (besides the store's
/// own bookkeeping columns), one per [`Record`] field, in field order.
pub const COLUMNS: &[&str] = &[
    "kind",
    "site",
    "url",
    "title",
    "price",
    "list_price",
    "currency",
    "availability",
    "merchant",
    "brand",
    "image",
    "sku",
    "gtin",
    "rating",
    "rating_count",
    "votes",
    "posted_at",
    "deal_url",
    "seen_at",
    "method",
    "confidence",
    "source",
];

/// Columns holding integers (everything else is text; prices are text to stay exact).
const INTEGER_COLUMNS: &[&str] = &["rating_count", "votes"];

/// Columns holding fractional numbers, kept as their JSON text (`0.85`) and read back as
/// numbers.
const NUMBER_COLUMNS: &[&str] = &["confidence"];

/// Text columns a record always has; an empty CSV cell there is the empty string, not absent.
const REQUIRED_TEXT_COLUMNS: &[&str] = &["kind", "site", "url", "title", "seen_at", "method"];

/// Whether `name` holds integers.
pub(crate) fn is_integer(name: &str) -> bool {
    INTEGER_COLUMNS.contains(&name)
}

/// Whether a record always has a value in column `name`.
pub(crate) fn is_required(name: &str) -> bool {
    REQUIRED_TEXT_COLUMNS.contains(&name)
}

/// The position of column `name` in [`COLUMNS`].
pub(crate) fn index(name: &str) -> usize {
    COLUMNS
        .iter()
        .position(|c| *c == name)
        .unwrap_or_else(|| panic!("{name} is not an output column"))
}

/// One cell of a flattened record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    /// Absent (an empty CSV cell, SQL NULL).
    Null,
    /// Text as in the record's JSON form.
    Text(String),
    /// An integer.
    Integer(i64),
}

impl Cell {
    /// The cell as CSV text (empty when absent).
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Self::Null => Cow::Borrowed(""),
            Self::Text(s) => Cow::Borrowed(s),
            Self::Integer(i) => Cow::Owned(i.to_string()),
        }
    }

    /// The text, when there is some.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// The key fields, for reading keys from a JSON record without building a whole [`Record`].
#[derive(Debug, Deserialize)]
pub(crate) struct KeyOnly {
    /// The site.
    pub(crate) site: String,
    /// The URL.
    pub(crate) url: String,
}

/// Flattens `record` into one cell per [`COLUMNS`] entry. Nested values (none today) are left
/// empty.
pub(crate) fn record_cells(record: &Record) -> Result<Vec<Cell>, serde_json::Error> {
    let Value::Object(mut map) = serde_json::to_value(record)? else {
        return Err(serde::ser::Error::custom("a record is not a JSON object"));
    };
    Ok(COLUMNS
        .iter()
        .map(|name| match map.remove(*name) {
            None | Some(Value::Null | Value::Array(_) | Value::Object(_)) => Cell::Null,
            Some(Value::String(s)) => Cell::Text(s),
            Some(Value::Bool(b)) => Cell::Text(b.to_string()),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Cell::Integer(i),
                None => Cell::Text(n.to_string()),
            },
        })
        .collect())
}

/// Rebuilds a record from `(column, cell)` pairs. Unknown columns are ignored; integer columns
/// given as text (CSV) are parsed.
pub(crate) fn record_from_cells<'a>(
    cells: impl IntoIterator<Item = (&'a str, Cell)>,
) -> Result<Record, String> {
    let mut map = Map::new();
    for (name, cell) in cells {
        if !COLUMNS.contains(&name) {
            continue;
        }
        let value = match cell {
            Cell::Null if is_required(name) => Value::String(String::new()),
            Cell::Null => continue,
            Cell::Integer(i) => Value::from(i),
            Cell::Text(s) if s.is_empty() && !is_required(name) => continue,
            Cell::Text(s) if is_integer(name) => {
                if let Ok(i) = s.parse::<i64>() {
                    Value::from(i)
                } else if let Ok(u) = s.parse::<u64>() {
                    Value::from(u)
                } else {
                    return Err(format!("column {name}: {s:?} is not an integer"));
                }
            }
            Cell::Text(s) if NUMBER_COLUMNS.contains(&name) => match s.parse::<f64>() {
                Ok(f) => Value::from(f),
                Err(_) => return Err(format!("column {name}: {s:?} is not a number")),
            },
            Cell::Text(s) => Value::String(s),
        };
        map.insert(name.to_owned(), value);
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::{Availability, Currency, Method, RecordKind};

    /// A record with every field set, so that every field appears in its JSON form.
    pub(crate) fn full_record() -> Record {
        let mut r = Record::new(RecordKind::Deal, "s", "http://x/1", "T", Method::Llm);
        r.price = Some("1.50".parse().unwrap());
        r.list_price = Some("2".parse().unwrap());
        r.currency = Some(Currency::new("EUR").unwrap());
        r.availability = Some(Availability::PreOrder);
        r.merchant = Some("m".into());
        r.brand = Some("b".into());
        r.image = Some("http://x/i.png".into());
        r.sku = Some("sku".into());
        r.gtin = Some("123".into());
        r.rating = Some("4.5".parse().unwrap());
        r.rating_count = Some(7);
        r.votes = Some(-3);
        r.posted_at = Some("2024-01-01T00:00:00Z".into());
        r.deal_url = Some("http://shop/x".into());
        r.source = Some("http://x/list".into());
        r.confidence = Some(0.85);
        r
    }

    #[test]
    fn columns_cover_every_record_field_and_integers_are_right() {
        // Guards against a field added to haul_core::Record but not to the CSV/SQLite layout.
        let v = serde_json::to_value(full_record()).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut cols = COLUMNS.to_vec();
        cols.sort_unstable();
        assert_eq!(keys, cols, "Record fields and output COLUMNS differ");
        for (k, v) in obj {
            assert_eq!(is_integer(k), v.is_i64(), "column {k}: integer flag");
        }
    }

    #[test]
    fn cells_round_trip() {
        let r = full_record();
        let cells = record_cells(&r).unwrap();
        assert_eq!(cells[index("votes")], Cell::Integer(-3));
        assert_eq!(cells[index("price")], Cell::Text("1.50".into()));
        // As CSV text (integers as strings) and as typed cells.
        let as_text = COLUMNS
            .iter()
            .zip(&cells)
            .map(|(n, c)| (*n, Cell::Text(c.text().into_owned())));
        assert_eq!(record_from_cells(as_text).unwrap(), r);
        assert_eq!(
            record_from_cells(COLUMNS.iter().copied().zip(cells)).unwrap(),
            r
        );
    }
}
