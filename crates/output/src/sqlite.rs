//! The SQLite store: `records` upserted by (site, url), `price_history` with a row per change,
//! `crawls` with one row per run, `pages` with the last visit of every page, and the change
//! events each write makes (`events_store.rs`). One transaction per drained batch, one savepoint per record.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use haul_core::Record;
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params, params_from_iter};
use rust_decimal::Decimal;

use crate::columns::{self, COLUMNS, Cell};
use crate::events::{CrawlEnd, StoreOptions};
use crate::events_store::{self, Snapshot};
use crate::{ExistingKeys, OutputError, Sink, Visit, WriteError, create_err, db_err};

/// A batch's transaction takes the write lock at once: a deferred one that read first could
/// not upgrade while another connection (the event dispatcher's outbox) wrote meanwhile
/// (`SQLITE_BUSY` at once, which the busy timeout does not wait out).
const BEGIN: &str = "BEGIN IMMEDIATE";

/// The schema version kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const LAST_PRICE: &str = "SELECT price, list_price, currency, availability FROM price_history \
     WHERE site = ?1 AND url = ?2 ORDER BY id DESC LIMIT 1";

const UPSERT_PAGE: &str = "INSERT INTO pages \
     (site, url, status, failure, etag, last_modified, records, visited_at, crawl_id) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
     ON CONFLICT (site, url) DO UPDATE SET status = excluded.status, \
     failure = excluded.failure, etag = excluded.etag, last_modified = excluded.last_modified, \
     records = excluded.records, visited_at = excluded.visited_at, crawl_id = excluded.crawl_id";

const INSERT_HISTORY: &str = "INSERT INTO price_history \
     (site, url, seen_at, price, list_price, currency, availability, crawl_id) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Column positions used for the price history.
struct Idx {
    site: usize,
    url: usize,
    title: usize,
    seen_at: usize,
    price: usize,
    list_price: usize,
    currency: usize,
    availability: usize,
}

/// Writes records into a SQLite store.
pub(crate) struct SqliteSink {
    path: PathBuf,
    conn: Connection,
    crawl_id: i64,
    in_tx: bool,
    upsert: String,
    idx: Idx,
    /// The event rules.
    options: StoreOptions,
}

fn sql_type(column: &str) -> &'static str {
    if columns::is_integer(column) {
        "INTEGER"
    } else {
        "TEXT"
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The `CREATE TABLE` statements.
fn schema() -> String {
    let cols: Vec<String> = COLUMNS
        .iter()
        .map(|c| {
            let not_null = if columns::is_required(c) {
                " NOT NULL"
            } else {
                ""
            };
            format!("\"{c}\" {}{not_null}", sql_type(c))
        })
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS crawls (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE TABLE IF NOT EXISTS records (
            {},
            first_seen_at TEXT NOT NULL,
            crawl_id INTEGER NOT NULL,
            PRIMARY KEY (site, url)
        );
        CREATE INDEX IF NOT EXISTS records_by_crawl ON records (crawl_id);
        CREATE TABLE IF NOT EXISTS price_history (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            url TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            price TEXT,
            list_price TEXT,
            currency TEXT,
            availability TEXT,
            crawl_id INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS price_history_by_key ON price_history (site, url, id);
        CREATE TABLE IF NOT EXISTS pages (
            site TEXT NOT NULL,
            url TEXT NOT NULL,
            status INTEGER,
            failure TEXT,
            etag TEXT,
            last_modified TEXT,
            records TEXT NOT NULL,
            visited_at TEXT NOT NULL,
            crawl_id INTEGER NOT NULL,
            PRIMARY KEY (site, url)
        );",
        cols.join(",\n            ")
    )
}

/// The upsert of one record: parameters 1..=N are [`COLUMNS`], N+1 the crawl id.
fn upsert_sql() -> String {
    let n = COLUMNS.len();
    let names: Vec<String> = COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
    let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    let updates: Vec<String> = COLUMNS
        .iter()
        .filter(|c| !matches!(**c, "site" | "url"))
        .map(|c| format!("\"{c}\" = excluded.\"{c}\""))
        .collect();
    format!(
        "INSERT INTO records ({}, first_seen_at, crawl_id) VALUES ({}, ?{}, ?{}) \
         ON CONFLICT (site, url) DO UPDATE SET {}, crawl_id = excluded.crawl_id",
        names.join(", "),
        marks.join(", "),
        columns::index("seen_at") + 1,
        n + 1,
        updates.join(", ")
    )
}

/// Whether two stored prices are the same amount ("19.9" and "19.90" are).
fn same_price(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a == b
                || matches!((a.parse::<Decimal>(), b.parse::<Decimal>()), (Ok(x), Ok(y)) if x == y)
        }
        _ => false,
    }
}

/// Errors caused by one record rather than by the database.
fn is_record_error(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => matches!(
            f.code,
            ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch
        ),
        rusqlite::Error::ToSqlConversionFailure(_) => true,
        _ => false,
    }
}

fn sql_value(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(s) => Value::Text(s.clone()),
        Cell::Integer(i) => Value::Integer(*i),
    }
}

impl SqliteSink {
    /// Opens (or creates) the store at `path`. A new crawl starts; with `resume`, the latest
    /// crawl goes on instead and the keys it wrote are returned. Change events follow
    /// `options`.
    pub(crate) fn open(
        path: &Path,
        resume: bool,
        options: &StoreOptions,
    ) -> Result<(Self, ExistingKeys), OutputError> {
        let db = db_err(path);
        let conn = Connection::open(path).map_err(|e| create_err(path)(io::Error::other(e)))?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(&db)?;
        // WAL: a commit is a single append, and a killed writer loses no committed batch.
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(&db)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL")
            .map_err(&db)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(&db)?;
        if version > SCHEMA_VERSION {
            return Err(OutputError::Corrupt {
                path: path.into(),
                line: 0,
                reason: format!(
                    "the store has schema version {version}, newer than this haul's {SCHEMA_VERSION}"
                ),
            });
        }
        conn.execute_batch(&schema()).map_err(&db)?;
        conn.execute_batch(events_store::SCHEMA).map_err(&db)?;
        conn.execute_batch(crate::recall::LINKS_SCHEMA)
            .map_err(&db)?;
        migrate(&conn).map_err(&db)?;
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(&db)?;

        let mut keys = ExistingKeys::new();
        let last: Option<i64> = if resume {
            conn.query_row("SELECT id FROM crawls ORDER BY id DESC LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(&db)?
        } else {
            None
        };
        let crawl_id = match last {
            Some(id) => {
                conn.execute("UPDATE crawls SET finished_at = NULL WHERE id = ?1", [id])
                    .map_err(&db)?;
                let mut stmt = conn
                    .prepare("SELECT site, url FROM records WHERE crawl_id = ?1")
                    .map_err(&db)?;
                let rows = stmt
                    .query_map([id], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(&db)?;
                for row in rows {
                    let (site, url) = row.map_err(&db)?;
                    keys.insert(&site, &url);
                }
                id
            }
            None => {
                conn.execute("INSERT INTO crawls (started_at) VALUES (?1)", [now()])
                    .map_err(&db)?;
                conn.last_insert_rowid()
            }
        };
        let idx = Idx {
            site: columns::index("site"),
            url: columns::index("url"),
            title: columns::index("title"),
            seen_at: columns::index("seen_at"),
            price: columns::index("price"),
            list_price: columns::index("list_price"),
            currency: columns::index("currency"),
            availability: columns::index("availability"),
        };
        let sink = Self {
            path: path.into(),
            conn,
            crawl_id,
            in_tx: false,
            upsert: upsert_sql(),
            idx,
            options: options.clone(),
        };
        Ok((sink, keys))
    }

    /// Upserts one record, adds a price-history row when its price changed and the change
    /// events it makes (`events_store`), all in the caller's savepoint.
    fn write_cells(&self, cells: &[Cell]) -> rusqlite::Result<()> {
        let i = &self.idx;
        let old = events_store::read_old(
            &self.conn,
            cells[i.site].as_str().unwrap_or_default(),
            cells[i.url].as_str().unwrap_or_default(),
        )?;
        let params = cells
            .iter()
            .map(sql_value)
            .chain(std::iter::once(Value::Integer(self.crawl_id)));
        self.conn
            .prepare_cached(&self.upsert)?
            .execute(params_from_iter(params))?;

        let text = |k: usize| cells[k].as_str();
        let (site, url) = (text(i.site), text(i.url));
        let now = [
            text(i.price),
            text(i.list_price),
            text(i.currency),
            text(i.availability),
        ];
        let last: Option<[Option<String>; 4]> = self
            .conn
            .prepare_cached(LAST_PRICE)?
            .query_row(params![site, url], |r| {
                Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?])
            })
            .optional()?;
        let changed = last.is_none_or(|last| {
            !(same_price(last[0].as_deref(), now[0])
                && same_price(last[1].as_deref(), now[1])
                && last[2].as_deref() == now[2]
                && last[3].as_deref() == now[3])
        });
        if changed {
            self.conn.prepare_cached(INSERT_HISTORY)?.execute(params![
                site,
                url,
                text(i.seen_at),
                now[0],
                now[1],
                now[2],
                now[3],
                self.crawl_id
            ])?;
        }
        let new = Snapshot {
            title: text(i.title).map(str::to_string),
            price: now[0].map(str::to_string),
            currency: now[2].map(str::to_string),
            availability: now[3].map(str::to_string),
        };
        let (site, url) = (site.unwrap_or_default(), url.unwrap_or_default());
        events_store::on_record(
            &self.conn,
            self.options.rules_for(site),
            self.crawl_id,
            (site, url),
            old.as_ref(),
            &new,
            Utc::now(),
        )
    }

    /// Keeps a page's visit (and the events it makes) in the caller's savepoint.
    fn write_visit(&self, visit: &Visit, records: &str) -> rusqlite::Result<()> {
        events_store::on_visit(&self.conn, &self.options, self.crawl_id, visit, Utc::now())?;
        self.conn.prepare_cached(UPSERT_PAGE)?.execute(params![
            visit.site,
            visit.url,
            visit.status,
            visit.failure,
            visit.etag,
            visit.last_modified,
            records,
            visit.at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            self.crawl_id
        ])?;
        crate::recall::save_links(&self.conn, visit)
    }

    fn exec(&self, sql: &str) -> Result<(), OutputError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(drop)
            .map_err(db_err(&self.path))
    }
}

/// Adds the columns of [`COLUMNS`] that a store made by an older haul lacks.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('records')")?;
    let have: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for c in COLUMNS {
        if !have.iter().any(|h| h == c) {
            conn.execute_batch(&format!(
                "ALTER TABLE records ADD COLUMN \"{c}\" {}",
                sql_type(c)
            ))?;
        }
    }
    Ok(())
}

impl Sink for SqliteSink {
    fn write(&mut self, record: &Record) -> Result<(), WriteError> {
        let cells = columns::record_cells(record).map_err(|e| WriteError::Skip(e.to_string()))?;
        if !self.in_tx {
            self.exec(BEGIN)?;
            self.in_tx = true;
        }
        self.exec("SAVEPOINT record")?;
        match self.write_cells(&cells) {
            Ok(()) => Ok(self.exec("RELEASE record")?),
            Err(e) => {
                // Nothing of this record stays.
                self.exec("ROLLBACK TO record")?;
                self.exec("RELEASE record")?;
                if is_record_error(&e) {
                    Err(WriteError::Skip(e.to_string()))
                } else {
                    Err(WriteError::Fatal(db_err(&self.path)(e)))
                }
            }
        }
    }

    fn visit(&mut self, visit: &Visit) -> Result<(), WriteError> {
        if !self.in_tx {
            self.exec(BEGIN)?;
            self.in_tx = true;
        }
        let records =
            serde_json::to_string(&visit.records).map_err(|e| WriteError::Skip(e.to_string()))?;
        self.exec("SAVEPOINT visit")?;
        match self.write_visit(visit, &records) {
            Ok(()) => Ok(self.exec("RELEASE visit")?),
            Err(e) => {
                self.exec("ROLLBACK TO visit")?;
                self.exec("RELEASE visit")?;
                if is_record_error(&e) {
                    Err(WriteError::Skip(e.to_string()))
                } else {
                    Err(WriteError::Fatal(db_err(&self.path)(e)))
                }
            }
        }
    }

    fn end(&mut self, end: CrawlEnd) -> Result<(), OutputError> {
        if !self.in_tx {
            self.exec(BEGIN)?;
            self.in_tx = true;
        }
        let complete = end == CrawlEnd::Complete;
        events_store::on_end(
            &self.conn,
            &self.options,
            self.crawl_id,
            complete,
            Utc::now(),
        )
        .map_err(db_err(&self.path))?;
        self.flush()
    }

    fn flush(&mut self) -> Result<(), OutputError> {
        if self.in_tx {
            self.in_tx = false;
            self.exec("COMMIT")?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), OutputError> {
        self.flush()?;
        let path = self.path.clone();
        let db = db_err(&path);
        self.conn
            .execute(
                "UPDATE crawls SET finished_at = ?1 WHERE id = ?2",
                params![now(), self.crawl_id],
            )
            .map_err(&db)?;
        let Self { conn, .. } = *self;
        conn.close().map_err(|(_, e)| db(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_compare_as_decimals() {
        assert!(same_price(Some("19.9"), Some("19.90")));
        assert!(same_price(None, None));
        assert!(!same_price(Some("19.9"), Some("19.91")));
        assert!(!same_price(None, Some("1")));
    }

    #[test]
    fn upsert_numbers_its_parameters() {
        let sql = upsert_sql();
        assert!(sql.contains(&format!("?{}", COLUMNS.len() + 1)), "{sql}");
        assert!(!sql.contains("\"site\" = excluded"), "{sql}");
    }
}
