//! The delivery outbox of change events, kept in the SQLite store: `delivery_targets` (each
//! target and the last event that existed when it was first configured: it gets the events
//! after it) and `deliveries` (one row per (event id, target) once tried: `pending` with its
//! attempts and next try, `sent` or `dead`). A delivery is marked only after it happened, so
//! an event is never lost across a restart; the crate `haul-events` delivers. Also reads
//! events back ([`list_events`], for `haul events`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use crate::events::{Event, EventKind, stamp};
use crate::{OutputError, db_err, events_store};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS delivery_targets (
    target TEXT PRIMARY KEY,
    after_event INTEGER NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    event_id INTEGER NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at TEXT,
    last_error TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (event_id, target)
);";

const EVENT_COLUMNS: &str = "e.id, e.kind, e.site, e.url, e.title, e.old_price, e.new_price, \
     e.currency, e.change, e.change_percent, e.old_availability, e.new_availability, e.at, \
     e.crawl_id";

fn event_of(r: &Row<'_>) -> rusqlite::Result<Event> {
    let kind: String = r.get(1)?;
    Ok(Event {
        id: r.get(0)?,
        kind: kind.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?,
        site: r.get(2)?,
        url: r.get(3)?,
        title: r.get(4)?,
        old_price: r.get(5)?,
        new_price: r.get(6)?,
        currency: r.get(7)?,
        change: r.get(8)?,
        change_percent: r.get(9)?,
        old_availability: r.get(10)?,
        new_availability: r.get(11)?,
        at: r.get(12)?,
        crawl_id: r.get(13)?,
    })
}

/// An event due for delivery to one target, with the attempts already made.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The event.
    pub event: Event,
    /// Attempts made before (0 for a first try).
    pub attempts: u32,
}

/// A connection to a store's outbox. Blocking: use it from `spawn_blocking`.
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    conn: Connection,
}

impl Outbox {
    /// Opens the store at `path` (created when missing) with the event and outbox tables.
    pub fn open(path: &Path) -> Result<Self, OutputError> {
        let db = db_err(path);
        let conn = Connection::open(path).map_err(&db)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(&db)?;
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(&db)?;
        conn.execute_batch(events_store::SCHEMA).map_err(&db)?;
        conn.execute_batch(SCHEMA).map_err(&db)?;
        Ok(Self {
            path: path.into(),
            conn,
        })
    }

    /// Adds `target` when new: it gets the events committed from now on (not the store's
    /// past ones). A known target keeps its place.
    pub fn register(&self, target: &str) -> Result<(), OutputError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO delivery_targets (target, after_event, added_at) \
                 VALUES (?1, (SELECT coalesce(max(id), 0) FROM events), ?2)",
                params![target, stamp(Utc::now())],
            )
            .map(drop)
            .map_err(db_err(&self.path))
    }

    /// Up to `limit` events for `target` not delivered yet whose next try is due at `now`,
    /// oldest first.
    pub fn due(
        &self,
        target: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Due>, OutputError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS}, coalesce(d.attempts, 0) FROM events e \
             JOIN delivery_targets t ON t.target = ?1 \
             LEFT JOIN deliveries d ON d.event_id = e.id AND d.target = ?1 \
             WHERE e.id > t.after_event \
             AND (d.state IS NULL OR (d.state = 'pending' AND d.next_at <= ?2)) \
             ORDER BY e.id LIMIT ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(db_err(&self.path))?;
        let rows = stmt
            .query_map(params![target, stamp(now), limit as i64], |r| {
                Ok(Due {
                    event: event_of(r)?,
                    attempts: r.get(14)?,
                })
            })
            .map_err(db_err(&self.path))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(db_err(&self.path))
    }

    /// Events `target` has still to get (due now or later).
    pub fn pending(&self, target: &str) -> Result<u64, OutputError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM events e JOIN delivery_targets t ON t.target = ?1 \
                 LEFT JOIN deliveries d ON d.event_id = e.id AND d.target = ?1 \
                 WHERE e.id > t.after_event AND (d.state IS NULL OR d.state = 'pending')",
                [target],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(db_err(&self.path))
    }

    /// How many deliveries to `target` are in `state` (`sent`, `dead`, `pending`).
    pub fn count(&self, target: &str, state: &str) -> Result<u64, OutputError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM deliveries WHERE target = ?1 AND state = ?2",
                [target, state],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(db_err(&self.path))
    }

    fn set(
        &self,
        target: &str,
        id: i64,
        state: &str,
        attempts: u32,
        next_at: Option<DateTime<Utc>>,
        error: Option<&str>,
    ) -> Result<(), OutputError> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO deliveries \
                 (event_id, target, state, attempts, next_at, last_error, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    id,
                    target,
                    state,
                    attempts,
                    next_at.map(stamp),
                    error,
                    stamp(Utc::now())
                ])
            })
            .map(drop)
            .map_err(db_err(&self.path))
    }

    /// Event `id` reached `target`, after `attempts` tries in all.
    pub fn sent(&self, target: &str, id: i64, attempts: u32) -> Result<(), OutputError> {
        self.set(target, id, "sent", attempts, None, None)
    }

    /// Event `id` failed at `target` (`attempts` tries so far); next try at `next_at`.
    pub fn retry(
        &self,
        target: &str,
        id: i64,
        attempts: u32,
        next_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), OutputError> {
        self.set(target, id, "pending", attempts, Some(next_at), Some(error))
    }

    /// Event `id` will not reach `target` (written to the dead-letter file).
    pub fn dead(
        &self,
        target: &str,
        id: i64,
        attempts: u32,
        error: &str,
    ) -> Result<(), OutputError> {
        self.set(target, id, "dead", attempts, None, Some(error))
    }
}

/// Which events [`list_events`] returns.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only this site's.
    pub site: Option<String>,
    /// Only these kinds (all when empty).
    pub kinds: Vec<EventKind>,
}

/// The events of the store at `path` that pass `filter`, oldest first. A store without
/// events (made before them) has none; a missing file is an error naming it.
pub fn list_events(path: &Path, filter: &EventFilter) -> Result<Vec<Event>, OutputError> {
    let db = db_err(path);
    if !path.exists() {
        return Err(OutputError::Read {
            path: path.into(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such store"),
        });
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(&db)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(&db)?;
    let has: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'events'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(&db)?;
    if has.is_none() {
        return Ok(Vec::new());
    }
    let kinds: Vec<&str> = filter.kinds.iter().map(|k| k.label()).collect();
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e WHERE e.at >= ?1 AND (?2 IS NULL OR e.site = ?2) \
         ORDER BY e.id"
    );
    let since = filter.since.map(stamp).unwrap_or_default();
    let mut stmt = conn.prepare(&sql).map_err(&db)?;
    let rows = stmt
        .query_map(params![since, filter.site], event_of)
        .map_err(&db)?;
    let mut out = Vec::new();
    for e in rows {
        let e = e.map_err(&db)?;
        if kinds.is_empty() || kinds.contains(&e.kind.label()) {
            out.push(e);
        }
    }
    Ok(out)
}
