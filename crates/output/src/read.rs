//! Reading records back from an output file, in any format.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use haul_core::Record;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::columns::{self, COLUMNS, Cell};
use crate::{OutputError, OutputFormat, db_err, read_err};

/// Reads every record of the output file `path`, in the format of its extension. For a SQLite
/// store these are the rows of `records` (the latest version of each product), in the order
/// they were first seen. Blocking.
pub fn read_records(path: &Path) -> Result<Vec<Record>, OutputError> {
    let corrupt = |line: u64, reason: String| OutputError::Corrupt {
        path: path.into(),
        line,
        reason,
    };
    match OutputFormat::for_path(path)? {
        OutputFormat::Jsonl => {
            let file = File::open(path).map_err(read_err(path))?;
            let mut out = Vec::new();
            for (i, line) in BufReader::new(file).lines().enumerate() {
                let line = line.map_err(read_err(path))?;
                if line.trim().is_empty() {
                    continue;
                }
                out.push(
                    serde_json::from_str(&line)
                        .map_err(|e| corrupt(i as u64 + 1, e.to_string()))?,
                );
            }
            Ok(out)
        }
        OutputFormat::Json => {
            let file = File::open(path).map_err(read_err(path))?;
            serde_json::from_reader(BufReader::new(file))
                .map_err(|e| corrupt(e.line() as u64, e.to_string()))
        }
        OutputFormat::Csv => {
            let mut reader = csv::Reader::from_path(path).map_err(|e| match e.into_kind() {
                csv::ErrorKind::Io(io) => read_err(path)(io),
                other => corrupt(1, format!("{other:?}")),
            })?;
            let header: Vec<String> = reader
                .headers()
                .map_err(|e| corrupt(1, e.to_string()))?
                .iter()
                .map(str::to_owned)
                .collect();
            let mut out = Vec::new();
            for row in reader.records() {
                let row = row.map_err(|e| {
                    let line = e.position().map_or(0, |p| p.line());
                    corrupt(line, e.to_string())
                })?;
                let line = row.position().map_or(0, |p| p.line());
                let cells = header.iter().zip(row.iter()).map(|(h, v)| {
                    let v = crate::csv_file::formula_unescaped(v);
                    (h.as_str(), Cell::Text(v.to_owned()))
                });
                out.push(columns::record_from_cells(cells).map_err(|e| corrupt(line, e))?);
            }
            Ok(out)
        }
        OutputFormat::Sqlite => {
            let db = db_err(path);
            let conn =
                Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(&db)?;
            let names: Vec<String> = COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
            let sql = format!("SELECT {} FROM records ORDER BY rowid", names.join(", "));
            let mut stmt = conn.prepare(&sql).map_err(&db)?;
            let mut rows = stmt.query([]).map_err(&db)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(&db)? {
                let line = out.len() as u64 + 1;
                out.push(
                    row_record(row)
                        .map_err(&db)?
                        .map_err(|e| corrupt(line, e))?,
                );
            }
            Ok(out)
        }
    }
}

/// The record of a row whose first columns are [`COLUMNS`] in order (a `SELECT` of them).
pub(crate) fn row_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Record, String>> {
    let mut cells = Vec::with_capacity(COLUMNS.len());
    for (i, name) in COLUMNS.iter().enumerate() {
        let cell = match row.get_ref(i)? {
            ValueRef::Null | ValueRef::Blob(_) => Cell::Null,
            ValueRef::Integer(n) => Cell::Integer(n),
            ValueRef::Real(f) => Cell::Text(f.to_string()),
            ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        };
        cells.push((*name, cell));
    }
    Ok(columns::record_from_cells(cells))
}
