//! CSV: a header row of [`COLUMNS`], then one row per record (absent fields are empty cells).
//! Resuming drops a partial last row, detected by writing the parsed row again and comparing
//! it with the bytes in the file (a row cut inside a quoted field still parses).

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use haul_core::Record;

use crate::append::{cut_at, open_existing};
use crate::columns::{self, COLUMNS, Cell};
use crate::{ExistingKeys, OutputError, Sink, WriteError, create_err, read_err, write_err};

/// What makes a spreadsheet read a cell as a formula (OWASP's list for CSV injection).
const FORMULA_STARTS: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// `text` as a CSV cell that no spreadsheet runs as a formula: text starting with one of
/// [`FORMULA_STARTS`] gets a leading `'` (shown by spreadsheets as text, dropped again by
/// [`formula_unescaped`]); numbers such as `-5` stay numbers.
pub(crate) fn formula_safe(text: &str) -> Cow<'_, str> {
    let risky = text.starts_with(FORMULA_STARTS) || text.starts_with('\'');
    if risky && (text.starts_with('\'') || text.parse::<f64>().is_err()) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The text [`formula_safe`] was given.
pub(crate) fn formula_unescaped(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

/// Writes CSV rows.
pub(crate) struct CsvSink {
    path: PathBuf,
    out: BufWriter<File>,
    /// Serialises one row into memory before it goes to the file (taken while in use).
    row: Option<csv::Writer<Vec<u8>>>,
}

/// A CSV writer into `buf`, with the settings used for the file.
fn row_writer(buf: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .buffer_capacity(4096)
        .from_writer(buf)
}

/// `fields` as one CSV row, exactly as the sink writes it.
fn row_bytes<I, T>(fields: I) -> Result<Vec<u8>, csv::Error>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut w = row_writer(Vec::new());
    w.write_record(fields)?;
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

impl CsvSink {
    /// Creates (truncates) `path` and writes the header.
    pub(crate) fn create(path: &Path) -> Result<Self, OutputError> {
        let file = File::create(path).map_err(create_err(path))?;
        let mut sink = Self::new(path, file);
        let header = row_bytes(COLUMNS).map_err(|e| write_err(path)(e.into()))?;
        sink.out.write_all(&header).map_err(write_err(path))?;
        sink.flush()?;
        Ok(sink)
    }

    fn new(path: &Path, file: File) -> Self {
        Self {
            path: path.into(),
            out: BufWriter::with_capacity(64 * 1024, file),
            row: Some(row_writer(Vec::with_capacity(1024))),
        }
    }

    /// Reopens `path` for appending after its last whole row.
    pub(crate) fn open_append(path: &Path) -> Result<(Self, ExistingKeys), OutputError> {
        if !path.exists() {
            return Ok((Self::create(path)?, ExistingKeys::new()));
        }
        let mut file = open_existing(path)?;
        let Some((keys, end)) = scan(path, &mut file)? else {
            // Empty, or killed while writing the header.
            drop(file);
            return Ok((Self::create(path)?, ExistingKeys::new()));
        };
        cut_at(path, &mut file, end)?;
        Ok((Self::new(path, file), keys))
    }
}

/// The keys of the whole rows and where the last one ends; `None` when the file holds no
/// complete header.
fn scan(path: &Path, file: &mut File) -> Result<Option<(ExistingKeys, u64)>, OutputError> {
    let corrupt = |line: u64, reason: String| OutputError::Corrupt {
        path: path.into(),
        line,
        reason,
    };
    let len = file.metadata().map_err(read_err(path))?.len();
    let header = row_bytes(COLUMNS).map_err(|e| read_err(path)(e.into()))?;
    let mut head = Vec::with_capacity(header.len());
    Read::by_ref(file)
        .take(header.len() as u64)
        .read_to_end(&mut head)
        .map_err(read_err(path))?;
    if head != header {
        if head.len() < header.len() && header.starts_with(&head) {
            return Ok(None);
        }
        return Err(corrupt(
            1,
            format!(
                "the header is not haul's (expected {})",
                String::from_utf8_lossy(header.trim_ascii_end())
            ),
        ));
    }
    let base = header.len() as u64;
    let (site, url) = (columns::index("site"), columns::index("url"));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::with_capacity(64 * 1024, &*file));
    let mut keys = ExistingKeys::new();
    // The row read last, with where it starts and its line number: it is whole only if
    // another row follows it, or if it checks out below.
    let mut pending: Option<(u64, u64, csv::ByteRecord)> = None;
    loop {
        let mut row = csv::ByteRecord::new();
        let more = reader
            .read_byte_record(&mut row)
            .map_err(|e| match e.into_kind() {
                csv::ErrorKind::Io(io) => read_err(path)(io),
                other => corrupt(0, format!("{other:?}")),
            })?;
        if !more {
            break;
        }
        let (byte, line) = row.position().map_or((0, 1), |p| (p.byte(), p.line()));
        let next = (base + byte, line + 1, row);
        if let Some((_, line, prev)) = pending.replace(next) {
            if prev.len() != COLUMNS.len() {
                return Err(corrupt(
                    line,
                    format!("{} fields instead of {}", prev.len(), COLUMNS.len()),
                ));
            }
            insert_key(&mut keys, &prev, site, url);
        }
    }
    drop(reader);
    let Some((start, _, last)) = pending else {
        return Ok(Some((keys, base)));
    };
    // The last row is whole when writing it again gives exactly the bytes in the file.
    let mut raw = Vec::new();
    file.seek(SeekFrom::Start(start)).map_err(read_err(path))?;
    file.read_to_end(&mut raw).map_err(read_err(path))?;
    let whole =
        last.len() == COLUMNS.len() && row_bytes(last.iter()).is_ok_and(|again| again == raw);
    if whole {
        insert_key(&mut keys, &last, site, url);
        Ok(Some((keys, len)))
    } else {
        Ok(Some((keys, start)))
    }
}

fn insert_key(keys: &mut ExistingKeys, row: &csv::ByteRecord, site: usize, url: usize) {
    let text = |i| String::from_utf8_lossy(row.get(i).unwrap_or_default()).into_owned();
    keys.insert(&text(site), &text(url));
}

impl Sink for CsvSink {
    fn write(&mut self, record: &Record) -> Result<(), WriteError> {
        let cells = columns::record_cells(record).map_err(|e| WriteError::Skip(e.to_string()))?;
        let texts: Vec<Cow<'_, str>> = cells
            .iter()
            .map(|c| match c {
                Cell::Text(t) => formula_safe(t),
                other => other.text(),
            })
            .collect();
        // On failure the half-written row is dropped with its writer; nothing reaches the file.
        let mut w = self
            .row
            .take()
            .unwrap_or_else(|| row_writer(Vec::with_capacity(1024)));
        w.write_record(texts.iter().map(|t| t.as_bytes()))
            .map_err(|e| WriteError::Skip(e.to_string()))?;
        let mut bytes = w
            .into_inner()
            .map_err(|e| WriteError::Skip(e.error().to_string()))?;
        let r = self.out.write_all(&bytes);
        bytes.clear();
        self.row = Some(row_writer(bytes));
        r.map_err(|e| WriteError::Fatal(write_err(&self.path)(e)))
    }

    fn flush(&mut self) -> Result<(), OutputError> {
        self.out.flush().map_err(write_err(&self.path))
    }

    fn finish(mut self: Box<Self>) -> Result<(), OutputError> {
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_escaped_numbers_and_text_are_not_and_it_round_trips() {
        for (text, written) in [
            (
                r#"=HYPERLINK("http://evil.example","x")"#,
                r#"'=HYPERLINK("http://evil.example","x")"#,
            ),
            ("+1 555 0100", "'+1 555 0100"),
            ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tTab", "'\tTab"),
            ("\rCR", "'\rCR"),
            ("'quoted", "''quoted"),
            ("-5", "-5"),
            ("-12.50", "-12.50"),
            ("Kettle 1.7 l", "Kettle 1.7 l"),
            ("", ""),
        ] {
            assert_eq!(formula_safe(text), written, "{text:?}");
            assert_eq!(formula_unescaped(written), text, "{written:?}");
        }
    }

    #[test]
    fn the_sink_writes_formulas_as_text_and_reads_them_back() {
        use haul_core::Method;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let title = r#"=HYPERLINK("http://evil.example","x")"#;
        let mut sink = CsvSink::create(&path).unwrap();
        let record = Record::product("s", "http://x/1", title, Method::Css);
        Sink::write(&mut sink, &record).unwrap();
        Sink::flush(&mut sink).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(
            written.contains(r#""'=HYPERLINK(""http://evil.example"",""x"")""#),
            "{written}"
        );
        let back = crate::read::read_records(&path).unwrap();
        assert_eq!(back[0].title, title);
    }
}
