//! JSON Lines: one record per line; resuming drops a partial last line.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use haul_core::Record;

use crate::columns::KeyOnly;
use crate::{ExistingKeys, OutputError, Sink, WriteError, create_err, read_err, write_err};

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
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(create_err(path))?;
        let (keys, end, add_newline) = scan(path, &file)?;
        file.set_len(end).map_err(write_err(path))?;
        file.seek(SeekFrom::Start(end)).map_err(write_err(path))?;
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
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut keys = ExistingKeys::new();
    let mut line = Vec::new();
    let (mut offset, mut line_no) = (0u64, 0u64);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(read_err(path))?;
        if n == 0 {
            return Ok((keys, offset, false));
        }
        line_no += 1;
        let complete = line.ends_with(b"\n");
        let text = line.trim_ascii();
        if text.is_empty() {
            offset += n as u64;
            continue;
        }
        match serde_json::from_slice::<KeyOnly>(text) {
            Ok(k) => {
                keys.insert(&k.site, &k.url);
                offset += n as u64;
                if !complete {
                    // A whole record whose newline was not written yet.
                    return Ok((keys, offset, true));
                }
            }
            // The last line of a killed writer: drop it.
            Err(_) if !complete => return Ok((keys, offset, false)),
            Err(e) => {
                return Err(OutputError::Corrupt {
                    path: path.into(),
                    line: line_no,
                    reason: format!("not a JSON record: {e}"),
                });
            }
        }
    }
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
