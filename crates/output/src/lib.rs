//! haul's output sinks: records stream to JSON Lines, a JSON array, CSV or a SQLite store with
//! price history, written on a dedicated thread (never on the async runtime) and flushed
//! whenever the queue drains, so a crash or Ctrl-C loses nothing already extracted; an output
//! cut by a crash can be reopened with [`Output::open_append`] to resume.
//!
//! ```no_run
//! # async fn demo(records: Vec<haul_core::Record>) -> Result<(), haul_output::OutputError> {
//! use std::path::Path;
//! let out = haul_output::Output::create(Path::new("out.csv"))?; // blocking: before the runtime or in spawn_blocking
//! let tx = out.sender();
//! for r in records {
//!     tx.send(r).await?;
//! }
//! drop(tx);
//! let written = out.finish().await?;
//! # Ok(()) }
//! ```
//!
//! Formats, by extension ([`OutputFormat::for_path`]):
//! * `.jsonl` / `.ndjson` / none / `-` (standard output): one JSON object per line.
//! * `.json`: one JSON array, one element per line. The closing `]` is rewritten after every
//!   flush (and at the end), so the file is a valid array whenever the writer caught up.
//! * `.csv`: a header row of [`COLUMNS`], one row per record; absent fields are empty cells.
//! * `.db` / `.sqlite` / `.sqlite3`: a SQLite store kept across crawls (see the
//!   [SQLite layout](#sqlite-layout)).
//!
//! Within one run each `(site, url)` is written once (the first record wins); a resumed run
//! also skips the keys already in the file. Besides whenever the queue drains, the writer
//! flushes at least every 1024 records. A CSV cell cannot tell an empty optional text from an
//! absent one: both read back as absent.
//!
//! # SQLite layout
//! * `records`: one row per `(site, url)` (the primary key), upserted: the columns of
//!   [`COLUMNS`] (prices as exact decimal text, `rating_count` and `votes` as integers) plus
//!   `first_seen_at` and `crawl_id` (the last crawl that saw it).
//! * `price_history (id, site, url, seen_at, price, list_price, currency, availability,
//!   crawl_id)`: a row is added only when the price, list price, currency or availability
//!   differs from the last row for that `(site, url)` (prices compared as decimals), so
//!   repeated crawls show price changes.
//! * `pages (site, url, status, failure, etag, last_modified, records, visited_at, crawl_id)`:
//!   the last [`Visit`] of every page a crawl processed, keyed by `(site, url)` (the page's
//!   canonical URL); `records` is a JSON array of the URLs of the records it gave.
//! * `page_links (site, url, links)`: the links of each page's last visit without failure (a
//!   JSON array), so that a recrawl can follow a page it did not download again
//!   ([`Recall`]).
//! * `crawls (id, started_at, finished_at)`: one row per [`Output::create`]; resuming continues
//!   the latest crawl.
//! * `events`: the change events ([`events`]: `new_product`, `price_drop`...), written in the
//!   same transaction as the record or visit that caused them; `event_state` (per product:
//!   the reference price, the last price event, the day's count, `gone`) and
//!   `gone_candidates` (products a page listed last time and not this time) behind them.
//! * `delivery_targets` and `deliveries`: the outbox of event deliveries ([`Outbox`]).
//! * `schedule (site, spec, next_run, last_started, last_finished, runs, lease_owner,
//!   lease_until)`: `haul watch`'s next run per site and the lease that keeps a site's runs
//!   to one watch at a time ([`schedule::ScheduleStore`]).
//!
//! Each drained batch is one transaction (WAL journal), so a kill loses no committed record.

mod append;
mod columns;
mod csv_file;
mod error;
pub mod events;
mod events_store;
mod history;
mod json_array;
mod jsonl;
mod keys;
mod outbox;
mod read;
mod recall;
pub mod schedule;
mod sqlite;
mod visit;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use haul_core::Record;
use tokio::sync::{mpsc, oneshot};

/// What travels to the writer thread.
#[derive(Debug)]
enum Msg {
    /// A record to write.
    Record(Box<Record>),
    /// A page done, after its records.
    Visit(Box<Visit>),
    /// A barrier: flush everything before it, then answer.
    Flush(oneshot::Sender<()>),
    /// How the crawl ended (before the last sender is dropped).
    End(CrawlEnd),
}

pub use columns::COLUMNS;
pub use error::OutputError;
pub use events::{CrawlEnd, Event, EventKind, EventRules, StoreOptions};
pub use history::{PricePoint, ProductHistory, read_price_history};
pub use keys::ExistingKeys;
pub use outbox::{Due, EventFilter, Outbox, list_events};
pub use read::read_records;
pub use recall::{Carried, PageMemo, Recall};
pub use visit::Visit;

/// How many records may wait for the writer before [`RecordSender::send`] waits.
const QUEUE: usize = 1024;

/// The writer flushes when the queue drains, and at the latest after this many records (a
/// queue that never drains must not keep everything in one unflushed batch).
const FLUSH_EVERY: u64 = 1024;

/// An output format, chosen from the file extension (case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputFormat {
    /// One JSON object per line (`.jsonl`, `.ndjson`, no extension, or `-`).
    Jsonl,
    /// One JSON array, one element per line (`.json`).
    Json,
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// A SQLite store with price history (`.db`, `.sqlite`, `.sqlite3`).
    Sqlite,
}

impl OutputFormat {
    /// The supported extensions, as shown in error messages.
    pub const SUPPORTED: &'static str = ".jsonl, .ndjson, .json, .csv, .db, .sqlite, .sqlite3";

    /// The format for `path`'s extension; `-` and a path without extension are JSON Lines.
    pub fn for_path(path: &Path) -> Result<Self, OutputError> {
        let Some(ext) = path.extension() else {
            return Ok(Self::Jsonl);
        };
        let lower = ext.to_string_lossy().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "jsonl" | "ndjson" => Self::Jsonl,
            "json" => Self::Json,
            "csv" => Self::Csv,
            "db" | "sqlite" | "sqlite3" => Self::Sqlite,
            _ => {
                return Err(OutputError::Format {
                    path: path.into(),
                    ext: ext.to_string_lossy().into_owned(),
                });
            }
        })
    }

    /// A short name: `jsonl`, `json`, `csv` or `sqlite`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Sqlite => "sqlite",
        }
    }
}

/// Why one record could not be written.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// This record is unusable (it could not be serialised); nothing of it was written and
    /// the output goes on.
    Skip(String),
    /// The output itself failed; the writer stops.
    Fatal(OutputError),
}

impl From<OutputError> for WriteError {
    fn from(e: OutputError) -> Self {
        Self::Fatal(e)
    }
}

/// A format writer. Runs on the writer thread, never on the async runtime.
pub(crate) trait Sink: Send {
    /// Writes one record completely or not at all (serialised to a buffer first).
    fn write(&mut self, record: &Record) -> Result<(), WriteError>;
    /// Keeps what the crawl learnt of one page (SQLite only). Default: nothing.
    fn visit(&mut self, _visit: &Visit) -> Result<(), WriteError> {
        Ok(())
    }
    /// How the crawl ended (SQLite: `gone` by absence after a complete crawl). Default:
    /// nothing.
    fn end(&mut self, _end: CrawlEnd) -> Result<(), OutputError> {
        Ok(())
    }
    /// Makes everything written so far reach the file (SQLite: commits the batch).
    fn flush(&mut self) -> Result<(), OutputError>;
    /// Flushes and closes the output (JSON: the closing `]`; SQLite: marks the crawl finished).
    fn finish(self: Box<Self>) -> Result<(), OutputError>;
}

/// The `Write` error for `path`.
pub(crate) fn write_err(path: &Path) -> impl Fn(io::Error) -> OutputError + '_ {
    move |error| OutputError::Write {
        path: path.into(),
        error,
    }
}

/// The `Create` error for `path`.
pub(crate) fn create_err(path: &Path) -> impl Fn(io::Error) -> OutputError + '_ {
    move |error| OutputError::Create {
        path: path.into(),
        error,
    }
}

/// The `Read` error for `path`.
pub(crate) fn read_err(path: &Path) -> impl Fn(io::Error) -> OutputError + '_ {
    move |error| OutputError::Read {
        path: path.into(),
        error,
    }
}

/// The `Database` error for `path`.
pub(crate) fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> OutputError + '_ {
    move |error| OutputError::Database {
        path: path.into(),
        error,
    }
}

/// An open output with its writer thread.
#[derive(Debug)]
pub struct Output {
    path: PathBuf,
    format: OutputFormat,
    tx: mpsc::Sender<Msg>,
    thread: std::thread::JoinHandle<Result<u64, OutputError>>,
    failure: Arc<OnceLock<String>>,
}

/// Sends records to an [`Output`]'s writer thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RecordSender {
    tx: mpsc::Sender<Msg>,
    path: PathBuf,
    failure: Arc<OnceLock<String>>,
}

impl RecordSender {
    /// Queues one record for writing (waits when the writer is behind). A record whose
    /// `(site, url)` was already written in this run, or was in the file when it was resumed,
    /// is dropped by the writer, so the output holds each key once.
    ///
    /// Fails only when the writer stopped after a write error ([`Output::finish`] returns that
    /// error in full).
    pub async fn send(&self, record: Record) -> Result<(), OutputError> {
        self.tx
            .send(Msg::Record(Box::new(record)))
            .await
            .map_err(|_| self.gone())
    }

    /// Queues what the crawl learnt of one page, after its records (see [`Visit`]). Only the
    /// SQLite store keeps it. Fails like [`send`](Self::send).
    pub async fn visit(&self, visit: Visit) -> Result<(), OutputError> {
        self.tx
            .send(Msg::Visit(Box::new(visit)))
            .await
            .map_err(|_| self.gone())
    }

    /// Tells the output how the crawl ended, after its last page: only after
    /// [`CrawlEnd::Complete`] does the SQLite store call a product `gone` because a listing
    /// that held it no longer does. Without this call the crawl counts as interrupted. Fails
    /// like [`send`](Self::send).
    pub async fn crawl_ended(&self, end: CrawlEnd) -> Result<(), OutputError> {
        self.tx.send(Msg::End(end)).await.map_err(|_| self.gone())
    }

    /// Waits until every record sent before this call is written and flushed to the file, so
    /// that whatever depends on them (the crawl journal) may be recorded after them.
    pub async fn flushed(&self) -> Result<(), OutputError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Flush(tx))
            .await
            .map_err(|_| self.gone())?;
        rx.await.map_err(|_| self.gone())
    }

    fn gone(&self) -> OutputError {
        OutputError::WriterGone {
            path: self.path.clone(),
            reason: self
                .failure
                .get()
                .cloned()
                .unwrap_or_else(|| "it exited".into()),
        }
    }
}

impl Output {
    /// Creates (truncates) `path` and starts its writer thread; `-` is JSON Lines on standard
    /// output. A SQLite store is not truncated: it is opened (or created) and a new crawl
    /// starts in it. Blocking: call it from `spawn_blocking` or before the runtime starts.
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        Self::create_with(path, &StoreOptions::default())
    }

    /// [`Output::create`] with the SQLite store's event rules (other formats ignore them).
    pub fn create_with(path: &Path, options: &StoreOptions) -> Result<Self, OutputError> {
        let format = format_of(path)?;
        let sink: Box<dyn Sink> = match format {
            OutputFormat::Jsonl => Box::new(jsonl::JsonlSink::create(path)?),
            OutputFormat::Json => Box::new(json_array::JsonSink::create(path)?),
            OutputFormat::Csv => Box::new(csv_file::CsvSink::create(path)?),
            OutputFormat::Sqlite => Box::new(sqlite::SqliteSink::open(path, false, options)?.0),
        };
        Self::start(path, format, sink, ExistingKeys::new())
    }

    /// Reopens `path` to append to it after a crash, and returns the keys `(site, url)` of the
    /// records already in it, which the writer will not write again. A missing (or empty) file
    /// is created as by [`Output::create`]; `-` is standard output with no keys.
    ///
    /// Repairs what a kill can leave: JSON Lines and CSV drop a partial last line (or row); a
    /// JSON array drops a partial last element and reopens the array (the `]` is written again
    /// at the next flush). SQLite continues the latest crawl; the keys are the records that
    /// crawl wrote. Anything else that is not what haul writes is [`OutputError::Corrupt`] with
    /// its line number, and the file is left untouched. Blocking, like [`Output::create`].
    pub fn open_append(path: &Path) -> Result<(Self, ExistingKeys), OutputError> {
        Self::open_append_with(path, &StoreOptions::default())
    }

    /// [`Output::open_append`] with the SQLite store's event rules.
    pub fn open_append_with(
        path: &Path,
        options: &StoreOptions,
    ) -> Result<(Self, ExistingKeys), OutputError> {
        let format = format_of(path)?;
        let (sink, keys): (Box<dyn Sink>, ExistingKeys) = match format {
            OutputFormat::Jsonl => {
                let (s, k) = jsonl::JsonlSink::open_append(path)?;
                (Box::new(s), k)
            }
            OutputFormat::Json => {
                let (s, k) = json_array::JsonSink::open_append(path)?;
                (Box::new(s), k)
            }
            OutputFormat::Csv => {
                let (s, k) = csv_file::CsvSink::open_append(path)?;
                (Box::new(s), k)
            }
            OutputFormat::Sqlite => {
                let (s, k) = sqlite::SqliteSink::open(path, true, options)?;
                (Box::new(s), k)
            }
        };
        let out = Self::start(path, format, sink, keys.clone())?;
        Ok((out, keys))
    }

    fn start(
        path: &Path,
        format: OutputFormat,
        sink: Box<dyn Sink>,
        seen: ExistingKeys,
    ) -> Result<Self, OutputError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let failure = Arc::new(OnceLock::new());
        let p = path.to_path_buf();
        let f = failure.clone();
        let thread = std::thread::Builder::new()
            .name("haul-output".into())
            .spawn(move || write_loop(sink, rx, seen, &p, &f))
            .map_err(create_err(path))?;
        Ok(Self {
            path: path.into(),
            format,
            tx,
            thread,
            failure,
        })
    }

    /// The file path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format being written.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// A handle to send records with.
    pub fn sender(&self) -> RecordSender {
        RecordSender {
            tx: self.tx.clone(),
            path: self.path.clone(),
            failure: self.failure.clone(),
        }
    }

    /// Waits for every [`RecordSender`] to be dropped, writes what is queued, closes the
    /// output (the JSON array's `]`) and returns how many records this run wrote (duplicates
    /// not counted). Returns the write error that stopped the writer, if any.
    pub async fn finish(self) -> Result<u64, OutputError> {
        let Self {
            path, tx, thread, ..
        } = self;
        drop(tx);
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(result)) => result,
            _ => Err(OutputError::WriterGone {
                path,
                reason: "the writer thread panicked".into(),
            }),
        }
    }
}

/// The format for `path`; `-` is always JSON Lines.
fn format_of(path: &Path) -> Result<OutputFormat, OutputError> {
    if path == Path::new("-") {
        Ok(OutputFormat::Jsonl)
    } else {
        OutputFormat::for_path(path)
    }
}

fn write_loop(
    sink: Box<dyn Sink>,
    mut rx: mpsc::Receiver<Msg>,
    seen: ExistingKeys,
    path: &Path,
    failure: &OnceLock<String>,
) -> Result<u64, OutputError> {
    let result = drain(sink, &mut rx, seen, path);
    if let Err(e) = &result {
        // Set before `rx` is dropped, so a failing `send` can tell why.
        let _ = failure.set(e.to_string());
    }
    drop(rx);
    result
}

fn drain(
    mut sink: Box<dyn Sink>,
    rx: &mut mpsc::Receiver<Msg>,
    mut seen: ExistingKeys,
    path: &Path,
) -> Result<u64, OutputError> {
    let (mut written, mut duplicates, mut skipped) = (0u64, 0u64, 0u64);
    let mut unflushed = 0u64;
    while let Some(msg) = rx.blocking_recv() {
        let record = match msg {
            Msg::Record(record) => record,
            Msg::Visit(visit) => {
                match sink.visit(&visit) {
                    Ok(()) => unflushed += 1,
                    Err(WriteError::Skip(reason)) => {
                        tracing::warn!(url = %visit.url, file = %path.display(), "page visit not kept: {reason}");
                    }
                    Err(WriteError::Fatal(e)) => {
                        let _ = sink.flush();
                        return Err(e);
                    }
                }
                if rx.is_empty() || unflushed >= FLUSH_EVERY {
                    sink.flush()?;
                    unflushed = 0;
                }
                continue;
            }
            Msg::End(end) => {
                sink.end(end)?;
                unflushed = 0;
                continue;
            }
            Msg::Flush(ack) => {
                if unflushed > 0 {
                    sink.flush()?;
                    unflushed = 0;
                }
                let _ = ack.send(());
                continue;
            }
        };
        if seen.contains(&record.site, &record.url) {
            duplicates += 1;
        } else {
            match sink.write(&record) {
                Ok(()) => {
                    seen.insert(&record.site, &record.url);
                    written += 1;
                    unflushed += 1;
                }
                Err(WriteError::Skip(reason)) => {
                    skipped += 1;
                    tracing::warn!(url = %record.url, file = %path.display(), "record not written: {reason}");
                }
                Err(WriteError::Fatal(e)) => {
                    // Keep what the batch wrote before the failing record, if the file lets us.
                    let _ = sink.flush();
                    return Err(e);
                }
            }
        }
        if unflushed > 0 && (rx.is_empty() || unflushed >= FLUSH_EVERY) {
            sink.flush()?;
            unflushed = 0;
        }
    }
    sink.finish()?;
    tracing::debug!(file = %path.display(), written, duplicates, skipped, "output finished");
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_cross_threads_and_errors_convert_to_anyhow_style_boxes() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<OutputError>();
        send_sync::<RecordSender>();
        fn send<T: Send + 'static>() {}
        send::<Output>();
    }
}
