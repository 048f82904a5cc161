//! JSON Lines: one record per line; resuming drops a partial last line.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use haul_core::Record;

use crate::append::{Lines, cut_at, open_existing};
use crate::columns::KeyOnly;
use crate::{ExistingKeys, OutputError, Sink, WriteError, create_err, write_err};

/// Writes one JSON object per line.
pub(crate) struct JsonlSink {
    path: PathBuf,
    out: BufWriter<Box<dyn Write + Send>>,
    line: Vec<u8>,
}

impl JsonlSink {
    /// Creates (truncates) `path`; `-` is standard output.
    pub(crate) fn create(path: &Path) -> Result<Self, OutputError> {
        let out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(io::stdout())
        } else {
            Box::new(File::create(path).map_err(create_err(path))?)
        };
        Ok(Self::new(path, out))
    }

    fn new(path: &Path, out: Box<dyn Write + Send>) -> Self {
        Self {
            path: path.into(),
            out: BufWriter::with_capacity(64 * 1024, out),
            line: Vec::with_capacity(1024),
        }
    }

    /// Reopens `path` for appending: loads the keys of its complete lines, drops a partial
    /// last line (one without its newline that is not a whole record).
    pub(crate) fn open_append(path: &Path) -> Result<(Self, ExistingKeys), OutputError> {
        if path == Path::new("-") || !path.exists() {
            return Ok((Self::create(path)?, ExistingKeys::new()));
        }
        let mut file = open_existing(path)?;
        let (keys, end, add_newline) = scan(path, &file)?;
        cut_at(path, &mut file, end)?;
        let mut sink = Self::new(path, Box::new(file));
        if add_newline {
            sink.out.write_all(b"\n").map_err(write_err(path))?;
            sink.out.flush().map_err(write_err(path))?;
        }
        Ok((sink, keys))
    }
}

/// Reads the keys of every record line. Returns the keys, where the kept content ends, and
/// whether the last kept line needs its newline.
fn scan(path: &Path, file: &File) -> Result<(ExistingKeys, u64, bool), OutputError> {
    let mut lines = Lines::new(path, file);
    let mut keys = ExistingKeys::new();
    while lines.advance()? {
        let line = lines.line();
        let complete = line.ends_with(b"\n");
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_slice::<KeyOnly>(text) {
            Ok(k) => {
                keys.insert(&k.site, &k.url);
                if !complete {
                    // A whole record whose newline was not written yet.
                    return Ok((keys, lines.end(), true));
                }
            }
            // The last line of a killed writer: drop it.
            Err(_) if !complete => return Ok((keys, lines.start(), false)),
            Err(e) => return Err(lines.corrupt(format!("not a JSON record: {e}"))),
        }
    }
    Ok((keys, lines.end(), false))
}

impl Sink for JsonlSink {
    fn write(&mut self, record: &Record) -> Result<(), WriteError> {
        // Serialise into a scratch buffer first so a record that fails to serialise never
        // leaves half a line in the file.
        self.line.clear();
        serde_json::to_writer(&mut self.line, record)
            .map_err(|e| WriteError::Skip(e.to_string()))?;
        self.line.push(b'\n');
        self.out
            .write_all(&self.line)
            .map_err(|e| WriteError::Fatal(write_err(&self.path)(e)))
    }

    fn flush(&mut self) -> Result<(), OutputError> {
        self.out.flush().map_err(write_err(&self.path))
    }

    fn finish(mut self: Box<Self>) -> Result<(), OutputError> {
        self.flush()
    }
}
