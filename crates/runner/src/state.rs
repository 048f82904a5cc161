//! Crawl state for `--state DIR` / `--resume`: an append-only journal of levels started and
//! pages finished, replayed after a crash to continue where the crawl stopped.
//!
//! Ordering is what makes resume exact: a page's `done` entry is journaled only after its
//! records were flushed to the output, so a page whose records may be missing is never marked
//! done; a page done but not yet journaled is crawled again and its records are de-duplicated
//! by the output's (site, url) keys.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use url::Url;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Entry {
    /// A level of `site` starts with these URLs.
    Level {
        site: String,
        level: u32,
        urls: Vec<Url>,
    },
    /// A page finished (successfully or not); `links` are the URLs it added to the next level.
    Done {
        site: String,
        level: u32,
        url: Url,
        links: Vec<Url>,
    },
}

/// Where a site's crawl stood when the journal ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteResume {
    /// The level in progress.
    pub level: u32,
    /// URLs of that level not finished yet.
    pub remaining: Vec<Url>,
    /// URLs already queued for the next level.
    pub next: Vec<Url>,
    /// Every URL ever queued (so none is fetched twice).
    pub visited: HashSet<Url>,
}

/// Why the state directory could not be used. Names the file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("crawl state {path}: {error}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// A line is not a journal entry (other than a torn last line).
    #[error("crawl state {path}:{line}: not a journal entry: {error}")]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        error: serde_json::Error,
    },
    /// `--resume` without a journal.
    #[error("nothing to resume: {path} does not exist (start the crawl with --state first)")]
    Missing {
        /// The journal file.
        path: PathBuf,
    },
}

/// Rebuilds each site's position from journal entries. A page of an earlier level that was
/// not done when a level started (it was waiting for slow extraction work once its links
/// were known) stays to do until its own `Done` entry comes: a resume processes it again.
pub(crate) fn replay(entries: &[Entry]) -> HashMap<String, SiteResume> {
    struct Acc {
        level: u32,
        frontier: Vec<Url>,
        done: HashSet<Url>,
        next: Vec<Url>,
        visited: HashSet<Url>,
        /// Pages of earlier levels not done yet.
        stragglers: Vec<Url>,
    }
    let mut sites: HashMap<String, Acc> = HashMap::new();
    for e in entries {
        match e {
            Entry::Level { site, level, urls } => {
                let acc = sites.entry(site.clone()).or_insert_with(|| Acc {
                    level: 0,
                    frontier: Vec::new(),
                    done: HashSet::new(),
                    next: Vec::new(),
                    visited: HashSet::new(),
                    stragglers: Vec::new(),
                });
                let left = std::mem::take(&mut acc.frontier);
                acc.stragglers
                    .extend(left.into_iter().filter(|u| !acc.done.contains(u)));
                acc.level = *level;
                acc.frontier = urls.clone();
                acc.done.clear();
                acc.next.clear();
                acc.visited.extend(urls.iter().cloned());
            }
            Entry::Done {
                site, url, links, ..
            } => {
                if let Some(acc) = sites.get_mut(site) {
                    acc.stragglers.retain(|u| u != url);
                    acc.done.insert(url.clone());
                    for l in links {
                        if acc.visited.insert(l.clone()) {
                            acc.next.push(l.clone());
                        }
                    }
                }
            }
        }
    }
    sites
        .into_iter()
        .map(|(site, acc)| {
            let remaining = acc
                .stragglers
                .into_iter()
                .chain(acc.frontier.into_iter().filter(|u| !acc.done.contains(u)))
                .collect();
            (
                site,
                SiteResume {
                    level: acc.level,
                    remaining,
                    next: acc.next,
                    visited: acc.visited,
                },
            )
        })
        .collect()
}

/// Reads a journal, ignoring a torn last line (a kill mid-write).
pub(crate) fn read_journal(path: &Path) -> Result<Vec<Entry>, StateError> {
    let io_err = |error| StateError::Io {
        path: path.into(),
        error,
    };
    let file = File::open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            StateError::Missing { path: path.into() }
        } else {
            io_err(e)
        }
    })?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    let mut entries = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(e) => entries.push(e),
            Err(_) if i + 1 == lines.len() => {} // torn last line
            Err(error) => {
                return Err(StateError::Corrupt {
                    path: path.into(),
                    line: i + 1,
                    error,
                });
            }
        }
    }
    Ok(entries)
}

/// The journal writer: appends entries on its own thread (never blocking the runtime),
/// flushing each line.
#[derive(Debug)]
pub struct Journal {
    tx: mpsc::UnboundedSender<Entry>,
    thread: std::thread::JoinHandle<Result<(), StateError>>,
}

impl Journal {
    /// The journal file inside a state directory.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join("journal.jsonl")
    }

    /// Opens the journal in `dir` (created when missing). With `resume`, returns each site's
    /// position from the existing journal; without it, starts a new journal.
    pub fn open(
        dir: &Path,
        resume: bool,
    ) -> Result<(Self, HashMap<String, SiteResume>), StateError> {
        let path = Self::path_in(dir);
        let io_err = |error| StateError::Io {
            path: path.clone(),
            error,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let positions = if resume {
            replay(&read_journal(&path)?)
        } else {
            HashMap::new()
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(resume)
            .write(true)
            .truncate(!resume)
            .open(&path)
            .map_err(io_err)?;
        if resume {
            // Cut a torn last line (a kill mid-write) so the next entry starts a fresh line.
            let bytes = std::fs::read(&path).map_err(io_err)?;
            let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            if keep < bytes.len() {
                file.set_len(keep as u64).map_err(io_err)?;
            }
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Entry>();
        let p = path.clone();
        let thread = std::thread::Builder::new()
            .name("haul-journal".into())
            .spawn(move || {
                let err = |error| StateError::Io {
                    path: p.clone(),
                    error,
                };
                while let Some(entry) = rx.blocking_recv() {
                    let mut line = serde_json::to_vec(&entry)
                        .map_err(io::Error::other)
                        .map_err(err)?;
                    line.push(b'\n');
                    file.write_all(&line).map_err(err)?;
                }
                file.sync_data().map_err(err)
            })
            .map_err(io_err)?;
        Ok((Self { tx, thread }, positions))
    }

    pub(crate) fn append(&self, entry: Entry) {
        // The writer only stops on an I/O error, which `close` reports.
        let _ = self.tx.send(entry);
    }

    /// Writes what is queued and closes the journal.
    pub async fn close(self) -> Result<(), StateError> {
        let Self { tx, thread } = self;
        drop(tx);
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(p: &str) -> Url {
        Url::parse(&format!("http://s.test{p}")).unwrap()
    }

    #[test]
    fn replay_finds_the_unfinished_pages_and_the_next_level_so_far() {
        let entries = vec![
            Entry::Level {
                site: "a".into(),
                level: 0,
                urls: vec![u("/")],
            },
            Entry::Done {
                site: "a".into(),
                level: 0,
                url: u("/"),
                links: vec![u("/1"), u("/2"), u("/3")],
            },
            Entry::Level {
                site: "a".into(),
                level: 1,
                urls: vec![u("/1"), u("/2"), u("/3")],
            },
            Entry::Done {
                site: "a".into(),
                level: 1,
                url: u("/2"),
                links: vec![u("/p/2")],
            },
        ];
        let r = &replay(&entries)["a"];
        assert_eq!(r.level, 1);
        assert_eq!(r.remaining, vec![u("/1"), u("/3")]);
        assert_eq!(r.next, vec![u("/p/2")]);
        assert!(r.visited.contains(&u("/")) && r.visited.contains(&u("/p/2")));
    }

    #[test]
    fn replay_keeps_a_page_of_an_earlier_level_that_was_still_finishing() {
        let level = |level, urls: &[&str]| Entry::Level {
            site: "a".into(),
            level,
            urls: urls.iter().map(|p| u(p)).collect(),
        };
        let done = |level, p: &str| Entry::Done {
            site: "a".into(),
            level,
            url: u(p),
            links: vec![],
        };
        // /slow's links were known (level 1 started) but its LLM answer was not.
        let mut entries = vec![
            level(0, &["/", "/slow"]),
            done(0, "/"),
            level(1, &["/1", "/2"]),
            done(1, "/1"),
        ];
        let r = &replay(&entries)["a"];
        assert_eq!(
            (r.level, r.remaining.clone()),
            (1, vec![u("/slow"), u("/2")])
        );
        entries.push(done(0, "/slow"));
        entries.push(level(2, &["/3"]));
        let r = &replay(&entries)["a"];
        assert_eq!(r.remaining, vec![u("/2"), u("/3")], "/2 was never done");
    }

    #[tokio::test]
    async fn journal_round_trips_and_tolerates_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let (j, pos) = Journal::open(dir.path(), false).unwrap();
        assert!(pos.is_empty());
        j.append(Entry::Level {
            site: "a".into(),
            level: 0,
            urls: vec![u("/")],
        });
        j.close().await.unwrap();
        let path = Journal::path_in(dir.path());
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"kind":"done","site":"a","le"#).unwrap();
        let (j, pos) = Journal::open(dir.path(), true).unwrap();
        assert_eq!(pos["a"].remaining, vec![u("/")]);
        j.append(Entry::Done {
            site: "a".into(),
            level: 0,
            url: u("/"),
            links: vec![],
        });
        j.close().await.unwrap();
        let (_j, pos) = Journal::open(dir.path(), true).unwrap();
        assert!(pos["a"].remaining.is_empty());
    }

    #[test]
    fn resume_without_a_journal_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = Journal::open(&dir.path().join("none"), true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("journal.jsonl") && e.contains("nothing to resume"),
            "{e}"
        );
    }
}
