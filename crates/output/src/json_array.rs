//! A JSON array, one element per line:
//!
//! ```text
//! [
//! {"kind":"product",...},
//! {"kind":"product",...}
//! ]
//! ```
//!
//! Each element is written as `\n{...}` (the first) or `,\n{...}`; the closing `\n]\n` is
//! written after every flush and the position moved back before it, so the next element
//! overwrites it. The file is therefore a valid array whenever the writer caught up (and
//! always after [`Sink::finish`]). When the file cannot seek (a pipe), `]` is written at the
//! end only.
//!
//! Resuming keeps the longest prefix of whole elements: a kill can leave a partial element,
//! or the start of an element over the old `]`.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use haul_core::Record;

use crate::append::{Lines, cut_at, open_existing};
use crate::columns::KeyOnly;
use crate::{ExistingKeys, OutputError, Sink, WriteError, create_err, read_err, write_err};

const CLOSE: &[u8] = b"\n]\n";

/// Writes a JSON array of records.
pub(crate) struct JsonSink {
    path: PathBuf,
    out: BufWriter<File>,
    buf: Vec<u8>,
    /// Where the last element (or the `[`) ends.
    content_end: u64,
    /// No element written yet.
    empty: bool,
    /// A regular file: the `]` is rewritten after each flush.
    seekable: bool,
}

impl JsonSink {
    /// Creates (truncates) `path` with an empty array.
    pub(crate) fn create(path: &Path) -> Result<Self, OutputError> {
        let file = File::create(path).map_err(create_err(path))?;
        Self::start(path, file, 0, ExistingKeys::new()).map(|(s, _)| s)
    }

    /// Starts writing `file` at `content_end` (0: a new file, the `[` is written).
    fn start(
        path: &Path,
        file: File,
        content_end: u64,
        keys: ExistingKeys,
    ) -> Result<(Self, ExistingKeys), OutputError> {
        let seekable = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        let mut sink = Self {
            path: path.into(),
            out: BufWriter::with_capacity(64 * 1024, file),
            buf: Vec::with_capacity(1024),
            content_end,
            empty: true,
            seekable,
        };
        if content_end == 0 {
            sink.out.write_all(b"[").map_err(write_err(path))?;
            sink.content_end = 1;
        } else {
            sink.empty = keys.is_empty();
        }
        sink.flush()?;
        Ok((sink, keys))
    }

    /// Reopens `path` for appending after the last whole element.
    pub(crate) fn open_append(path: &Path) -> Result<(Self, ExistingKeys), OutputError> {
        if !path.exists() {
            return Ok((Self::create(path)?, ExistingKeys::new()));
        }
        let mut file = open_existing(path)?;
        let (keys, content_end) = scan(path, &file)?;
        cut_at(path, &mut file, content_end)?;
        Self::start(path, file, content_end, keys)
    }
}

/// Finds the keys of the whole elements and where the last one ends (0 when the file holds
/// nothing, not even the `[`).
fn scan(path: &Path, file: &File) -> Result<(ExistingKeys, u64), OutputError> {
    let len = file.metadata().map_err(read_err(path))?.len();
    let mut lines = Lines::new(path, file);
    let mut keys = ExistingKeys::new();
    let mut content_end = 0u64;
    let (mut opened, mut closed) = (false, false);
    while lines.advance()? {
        let (line, start) = (lines.line(), lines.start());
        let is_last = lines.end() == len;
        let text = line.trim_ascii();
        let lead = (line.len() - line.trim_ascii_start().len()) as u64;
        if text.is_empty() {
            continue;
        }
        if closed {
            return Err(lines.corrupt("text after the closing ]"));
        }
        if !opened {
            if text != b"[" {
                return Err(
                    lines.corrupt("not a JSON array written by haul (expected a line with [)")
                );
            }
            opened = true;
            content_end = start + lead + 1;
            continue;
        }
        if text == b"]" {
            closed = true;
            continue;
        }
        let mut stream = serde_json::Deserializer::from_slice(text).into_iter::<KeyOnly>();
        match stream.next() {
            Some(Ok(k)) => {
                let used = stream.byte_offset();
                let rest = text[used..].trim_ascii();
                if !(rest.is_empty() || rest == b"," || is_last) {
                    return Err(lines.corrupt("text after the record"));
                }
                keys.insert(&k.site, &k.url);
                content_end = start + lead + used as u64;
                if is_last {
                    // Whatever follows the element (the start of the next element over the
                    // old `]`) is dropped.
                    return Ok((keys, content_end));
                }
            }
            // The last element of a killed writer: drop it.
            _ if is_last => return Ok((keys, content_end)),
            Some(Err(e)) => return Err(lines.corrupt(format!("not a JSON record: {e}"))),
            None => return Err(lines.corrupt("not a JSON record")),
        }
    }
    Ok((keys, content_end))
}

impl Sink for JsonSink {
    fn write(&mut self, record: &Record) -> Result<(), WriteError> {
        self.buf.clear();
        self.buf
            .extend_from_slice(if self.empty { b"\n" } else { b",\n" });
        serde_json::to_writer(&mut self.buf, record)
            .map_err(|e| WriteError::Skip(e.to_string()))?;
        self.out
            .write_all(&self.buf)
            .map_err(|e| WriteError::Fatal(write_err(&self.path)(e)))?;
        self.content_end += self.buf.len() as u64;
        self.empty = false;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OutputError> {
        let err = write_err(&self.path);
        if self.seekable {
            // Close the array, then step back so the next element overwrites the `]`.
            let r = self
                .out
                .write_all(CLOSE)
                .and_then(|()| self.out.flush())
                .and_then(|()| self.out.seek(SeekFrom::Start(self.content_end)).map(drop));
            r.map_err(err)
        } else {
            self.out.flush().map_err(err)
        }
    }

    fn finish(mut self: Box<Self>) -> Result<(), OutputError> {
        let path = self.path.clone();
        let err = || write_err(&path);
        self.out.write_all(CLOSE).map_err(err())?;
        self.out.flush().map_err(err())?;
        if self.seekable {
            // Nothing can follow the `]`, but make sure of it.
            self.out
                .get_ref()
                .set_len(self.content_end + CLOSE.len() as u64)
                .map_err(err())?;
        }
        Ok(())
    }
}
