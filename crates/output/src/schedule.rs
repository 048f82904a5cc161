//! The watch schedule kept in the SQLite store (`schedule` table): when each watched site runs
//! next and when it last ran, so that a restarted `haul watch` neither reruns every site at
//! once nor forgets a run that was due.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{OutputError, create_err, db_err};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS schedule (
    site TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    next_run TEXT NOT NULL,
    last_started TEXT,
    last_finished TEXT,
    runs INTEGER NOT NULL DEFAULT 0
)";

/// What the store remembers of one watched site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteSchedule {
    /// The registered site name.
    pub site: String,
    /// The schedule it was planned with (`every 1h`, `cron 0 */6 * * *`), so that a changed
    /// schedule can be told apart from the one the next run was planned with.
    pub spec: String,
    /// When the site runs next (jitter included).
    pub next_run: DateTime<Utc>,
    /// When its last finished run started, if any.
    pub last_started: Option<DateTime<Utc>>,
    /// When its last finished run ended, if any.
    pub last_finished: Option<DateTime<Utc>>,
    /// Finished runs so far.
    pub runs: u64,
}

/// The `schedule` table of a SQLite store. Blocking: call it from `spawn_blocking`.
#[derive(Debug)]
pub struct ScheduleStore {
    path: PathBuf,
    conn: Connection,
}

fn text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn time(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
        })
}

impl ScheduleStore {
    /// Opens the store at `path` (creating it and the table when missing). The crawl's writer
    /// may hold the database meanwhile: a write waits for it up to 10 s.
    pub fn open(path: &Path) -> Result<Self, OutputError> {
        let db = db_err(path);
        let conn =
            Connection::open(path).map_err(|e| create_err(path)(std::io::Error::other(e)))?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(&db)?;
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(&db)?;
        conn.execute_batch(SCHEMA).map_err(&db)?;
        Ok(Self {
            path: path.into(),
            conn,
        })
    }

    /// What is kept of `site`, if it was ever scheduled.
    pub fn get(&self, site: &str) -> Result<Option<SiteSchedule>, OutputError> {
        self.conn
            .query_row(
                "SELECT site, spec, next_run, last_started, last_finished, runs \
                 FROM schedule WHERE site = ?1",
                [site],
                |r| {
                    let opt = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
                        r.get::<_, Option<String>>(i)?
                            .as_deref()
                            .map(time)
                            .transpose()
                    };
                    Ok(SiteSchedule {
                        site: r.get(0)?,
                        spec: r.get(1)?,
                        next_run: time(&r.get::<_, String>(2)?)?,
                        last_started: opt(3)?,
                        last_finished: opt(4)?,
                        runs: r.get::<_, i64>(5)?.max(0) as u64,
                    })
                },
            )
            .optional()
            .map_err(db_err(&self.path))
    }

    /// Plans `site`'s next run at `next_run` with schedule `spec`, keeping what is known of
    /// its last run.
    pub fn plan(&self, site: &str, spec: &str, next_run: DateTime<Utc>) -> Result<(), OutputError> {
        self.conn
            .execute(
                "INSERT INTO schedule (site, spec, next_run) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (site) DO UPDATE SET spec = excluded.spec, next_run = excluded.next_run",
                params![site, spec, text(next_run)],
            )
            .map(drop)
            .map_err(db_err(&self.path))
    }

    /// Records a finished run of `site` (from `started` to `finished`) and plans the next one.
    pub fn finished(
        &self,
        site: &str,
        spec: &str,
        started: DateTime<Utc>,
        finished: DateTime<Utc>,
        next_run: DateTime<Utc>,
    ) -> Result<(), OutputError> {
        self.conn
            .execute(
                "INSERT INTO schedule (site, spec, next_run, last_started, last_finished, runs) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 1) \
                 ON CONFLICT (site) DO UPDATE SET spec = excluded.spec, \
                 next_run = excluded.next_run, last_started = excluded.last_started, \
                 last_finished = excluded.last_finished, runs = runs + 1",
                params![site, spec, text(next_run), text(started), text(finished)],
            )
            .map(drop)
            .map_err(db_err(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planned_and_finished_run_is_read_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        {
            let s = ScheduleStore::open(&path).unwrap();
            assert_eq!(s.get("demo").unwrap(), None);
            s.plan("demo", "every 1h", t("2026-01-01T00:00:00Z"))
                .unwrap();
            s.finished(
                "demo",
                "every 1h",
                t("2026-01-01T00:00:00.250Z"),
                t("2026-01-01T00:05:00Z"),
                t("2026-01-01T01:00:00Z"),
            )
            .unwrap();
        }
        let s = ScheduleStore::open(&path).unwrap();
        let got = s.get("demo").unwrap().unwrap();
        assert_eq!(got.next_run, t("2026-01-01T01:00:00Z"));
        assert_eq!(got.last_started, Some(t("2026-01-01T00:00:00.250Z")));
        assert_eq!(got.runs, 1);
        s.plan("demo", "every 2h", t("2026-01-01T02:00:00Z"))
            .unwrap();
        let got = s.get("demo").unwrap().unwrap();
        assert_eq!((got.spec.as_str(), got.runs), ("every 2h", 1));
    }
}
