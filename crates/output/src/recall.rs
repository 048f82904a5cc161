//! [`Recall`]: what a SQLite store remembers of the pages of earlier crawls, read once at the
//! start of a recrawl (validators and visit times in memory, records and links on demand), and
//! the store's `page_links` table that keeps each page's links for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use haul_core::Record;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::columns::COLUMNS;
use crate::{OutputError, OutputFormat, Visit, db_err};

/// The table of each page's links (the `pages` row's companion), so that a page carried
/// forward without a body (a `304`, a sitemap `lastmod` skip) still leads to its links.
pub(crate) const LINKS_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS page_links (
    site TEXT NOT NULL,
    url TEXT NOT NULL,
    links TEXT NOT NULL,
    PRIMARY KEY (site, url)
);";

const UPSERT_LINKS: &str = "INSERT INTO page_links (site, url, links) VALUES (?1, ?2, ?3) \
     ON CONFLICT (site, url) DO UPDATE SET links = excluded.links";

/// Keeps the links of a page that was processed without failure (a failed visit keeps the
/// page's last good links).
pub(crate) fn save_links(conn: &Connection, visit: &Visit) -> rusqlite::Result<()> {
    if visit.failure.is_some() {
        return Ok(());
    }
    let links = serde_json::to_string(&visit.links)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.prepare_cached(UPSERT_LINKS)?
        .execute(params![visit.site, visit.url, links])
        .map(drop)
}

/// What the store remembers of one page's last visit without failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMemo {
    /// The HTTP status of that visit, when one came.
    pub status: Option<u16>,
    /// The page's `ETag`, when it had one.
    pub etag: Option<String>,
    /// The page's `Last-Modified`, when it had one.
    pub last_modified: Option<String>,
    /// When it was visited.
    pub visited_at: DateTime<Utc>,
}

impl PageMemo {
    /// Whether the page gave a validator to send back (`If-None-Match`, `If-Modified-Since`).
    pub fn has_validators(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }
}

/// A page's last records and links, as the store has them.
#[derive(Debug, Clone, Default)]
pub struct Carried {
    /// The records the page gave on its last visit (those still in `records`), in its order.
    pub records: Vec<Record>,
    /// The page's links on its last visit (absolute URLs as the extractor gave them).
    pub links: Vec<String>,
}

/// A read-only view of a SQLite store's pages, opened at the start of a crawl into it.
///
/// Holds one [`PageMemo`] per page in memory (a few short strings each); a page's records
/// and links are read from the store only when it is carried forward
/// ([`carried`](Self::carried)). Every method is blocking: call it off the async runtime.
#[derive(Debug)]
pub struct Recall {
    path: PathBuf,
    conn: Mutex<Connection>,
    pages: HashMap<String, HashMap<String, PageMemo>>,
}

impl Recall {
    /// Reads what the store at `path` remembers; `None` when `path` is not a SQLite store
    /// (by its extension), does not exist yet or has no `pages` table. Blocking.
    pub fn open(path: &Path) -> Result<Option<Self>, OutputError> {
        if !matches!(OutputFormat::for_path(path), Ok(OutputFormat::Sqlite)) || !path.exists() {
            return Ok(None);
        }
        let db = db_err(path);
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(&db)?;
        let has_pages: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'pages'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(&db)?;
        if has_pages.is_none() {
            return Ok(None);
        }
        let mut pages: HashMap<String, HashMap<String, PageMemo>> = HashMap::new();
        {
            let mut stmt = conn
                .prepare(
                    "SELECT site, url, status, etag, last_modified, visited_at FROM pages \
                     WHERE failure IS NULL",
                )
                .map_err(&db)?;
            let mut rows = stmt.query([]).map_err(&db)?;
            while let Some(row) = rows.next().map_err(&db)? {
                let at: String = row.get(5).map_err(&db)?;
                let Ok(visited_at) = DateTime::parse_from_rfc3339(&at) else {
                    continue;
                };
                let memo = PageMemo {
                    status: row.get(2).map_err(&db)?,
                    etag: row.get(3).map_err(&db)?,
                    last_modified: row.get(4).map_err(&db)?,
                    visited_at: visited_at.with_timezone(&Utc),
                };
                let (site, url): (String, String) =
                    (row.get(0).map_err(&db)?, row.get(1).map_err(&db)?);
                pages.entry(site).or_default().insert(url, memo);
            }
        }
        Ok(Some(Self {
            path: path.into(),
            conn: Mutex::new(conn),
            pages,
        }))
    }

    /// What the store remembers of `site`'s page `url` (its canonical URL), if its last
    /// visit did not fail.
    pub fn page(&self, site: &str, url: &str) -> Option<&PageMemo> {
        self.pages.get(site)?.get(url)
    }

    /// How many pages the store remembers.
    pub fn len(&self) -> usize {
        self.pages.values().map(HashMap::len).sum()
    }

    /// Whether the store remembers no page.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last records and links of `site`'s page `url`, read from the store. Blocking.
    pub fn carried(&self, site: &str, url: &str) -> Result<Carried, OutputError> {
        let db = db_err(&self.path);
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let urls: Option<String> = conn
            .prepare_cached("SELECT records FROM pages WHERE site = ?1 AND url = ?2")
            .and_then(|mut s| s.query_row(params![site, url], |r| r.get(0)).optional())
            .map_err(&db)?;
        let urls: Vec<String> = urls
            .and_then(|u| serde_json::from_str(&u).ok())
            .unwrap_or_default();
        let names: Vec<String> = COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
        let sql = format!(
            "SELECT {} FROM records WHERE site = ?1 AND url = ?2",
            names.join(", ")
        );
        let mut out = Carried::default();
        let mut stmt = conn.prepare_cached(&sql).map_err(&db)?;
        for record_url in &urls {
            let mut rows = stmt.query(params![site, record_url]).map_err(&db)?;
            if let Some(row) = rows.next().map_err(&db)? {
                let record = crate::read::row_record(row).map_err(&db)?;
                let record = record.map_err(|reason| OutputError::Corrupt {
                    path: self.path.clone(),
                    line: 0,
                    reason: format!("record {record_url}: {reason}"),
                })?;
                out.records.push(record);
            }
        }
        drop(stmt);
        // A store made before page_links existed has none: the page then gives no links.
        let links: Option<String> = conn
            .prepare_cached("SELECT links FROM page_links WHERE site = ?1 AND url = ?2")
            .and_then(|mut s| s.query_row(params![site, url], |r| r.get(0)).optional())
            .unwrap_or(None);
        out.links = links
            .and_then(|l| serde_json::from_str(&l).ok())
            .unwrap_or_default();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Output;
    use haul_core::{Method, RecordKind};

    #[tokio::test(flavor = "multi_thread")]
    async fn a_store_recalls_validators_records_and_links_of_good_visits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        assert!(Recall::open(&path).unwrap().is_none(), "no store yet");
        let out = Output::create(&path).unwrap();
        let tx = out.sender();
        let mut r = Record::new(
            RecordKind::Product,
            "demo",
            "http://x/p/1",
            "One",
            Method::JsonLd,
        );
        r.price = Some("9.90".parse().unwrap());
        tx.send(r.clone()).await.unwrap();
        let mut good = Visit::new("demo", "http://x/p/1");
        good.status = Some(200);
        good.etag = Some("\"v1\"".into());
        good.records = vec![r.url.clone()];
        good.links = vec!["http://x/p/2".into()];
        tx.visit(good).await.unwrap();
        let mut bad = Visit::new("demo", "http://x/p/3");
        bad.failure = Some("http_500".into());
        tx.visit(bad).await.unwrap();
        drop(tx);
        out.finish().await.unwrap();

        let recall = Recall::open(&path).unwrap().unwrap();
        assert_eq!(recall.len(), 1, "failed visits are not recalled");
        let memo = recall.page("demo", "http://x/p/1").unwrap();
        assert_eq!(memo.etag.as_deref(), Some("\"v1\""));
        assert!(memo.has_validators());
        let carried = recall.carried("demo", "http://x/p/1").unwrap();
        assert_eq!(carried.records.len(), 1);
        assert_eq!(carried.records[0].price, r.price);
        assert_eq!(carried.links, ["http://x/p/2"]);
        assert!(recall.page("demo", "http://x/p/3").is_none());
    }
}
