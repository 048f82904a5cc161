//! Reopening a file output to append to it (`open_append`, for `--resume`): opening it, reading
//! it line by line to find its keys and where its last whole record ends, and cutting off what
//! a kill left torn after that.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use crate::{OutputError, create_err, read_err, write_err};

/// Opens the existing output `path` for reading (its scan) and writing (appending).
pub(crate) fn open_existing(path: &Path) -> Result<File, OutputError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(create_err(path))
}

/// Cuts `file` at `end` (dropping what a kill left torn after the last whole record) and
/// moves there, to append.
pub(crate) fn cut_at(path: &Path, file: &mut File, end: u64) -> Result<(), OutputError> {
    file.set_len(end).map_err(write_err(path))?;
    file.seek(SeekFrom::Start(end)).map_err(write_err(path))?;
    Ok(())
}

/// The lines of an output file, read one at a time with where each starts and ends.
pub(crate) struct Lines<'a> {
    path: &'a Path,
    reader: BufReader<&'a File>,
    line: Vec<u8>,
    start: u64,
    end: u64,
    number: u64,
}

impl<'a> Lines<'a> {
    /// Reads `file` (the output `path`) from where its cursor is, the start.
    pub(crate) fn new(path: &'a Path, file: &'a File) -> Self {
        Self {
            path,
            reader: BufReader::with_capacity(64 * 1024, file),
            line: Vec::new(),
            start: 0,
            end: 0,
            number: 0,
        }
    }

    /// Moves to the next line; false at the end of the file.
    pub(crate) fn advance(&mut self) -> Result<bool, OutputError> {
        self.line.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.line)
            .map_err(read_err(self.path))?;
        self.start = self.end;
        self.end += n as u64;
        self.number += 1;
        Ok(n > 0)
    }

    /// The current line, with its newline when it has one.
    pub(crate) fn line(&self) -> &[u8] {
        &self.line
    }

    /// Where the current line starts (at the end of the file: the file's length).
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// Where the current line ends (at the end of the file: the file's length).
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// The error for a current line that haul did not write.
    pub(crate) fn corrupt(&self, reason: impl Into<String>) -> OutputError {
        OutputError::Corrupt {
            path: self.path.into(),
            line: self.number,
            reason: reason.into(),
        }
    }
}
