//! The output error type: every variant names the file at fault.

use std::io;
use std::path::PathBuf;

/// Why an output could not be opened, resumed, read or written. Always names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The file could not be created or opened for writing.
    #[error("cannot create output file {path}: {error}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The OS (or SQLite) error.
        #[source]
        error: io::Error,
    },
    /// Writing failed (disk full, file removed...).
    #[error("cannot write output file {path}: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        error: io::Error,
    },
    /// An existing file could not be read (to resume it, or by [`crate::read_records`]).
    #[error("cannot read output file {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        error: io::Error,
    },
    /// The extension names no supported format.
    #[error(
        "output file {path}: unsupported format {ext:?}; supported extensions: {supported} \
         (or - for JSON Lines on standard output)",
        supported = crate::OutputFormat::SUPPORTED
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// The extension as given.
        ext: String,
    },
    /// An existing file is not what haul writes, at a place other than a partial last record
    /// (which resuming repairs).
    #[error("output file {path} is corrupt at line {line}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the offending line (for SQLite: 0).
        line: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A SQLite store failed.
    #[error("SQLite output {path}: {error}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        error: rusqlite::Error,
    },
    /// The writer thread stopped (after a write error, which [`crate::Output::finish`]
    /// returns in full).
    #[error("the output writer for {path} stopped: {reason}")]
    WriterGone {
        /// The file.
        path: PathBuf,
        /// Why it stopped, when known.
        reason: String,
    },
}
