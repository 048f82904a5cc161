//! The watch schedule kept in the SQLite store (`schedule` table): when each watched site runs
//! next and when it last ran, so that a restarted `haul watch` neither reruns every site at
//! once nor forgets a run that was due; and the lease (`lease_owner`, `lease_until`) that
//! keeps a site's runs to one watch at a time, across every process on the store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{OutputError, create_err, db_err};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS schedule (
    site TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    next_run TEXT NOT NULL,
    last_started TEXT,
    last_finished TEXT,
    runs INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until TEXT
)";

/// The columns added after the table's first version: added on open when missing.
const ADDED_COLUMNS: [(&str, &str); 2] = [("lease_owner", "TEXT"), ("lease_until", "TEXT")];

/// A watch's hold on a site: while it lasts, no other watch runs the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it (`host:pid:random`, one per watch process).
    pub owner: String,
    /// When it lapses unless renewed.
    pub until: DateTime<Utc>,
}

/// What a claim of a site's lease came to ([`ScheduleStore::claim`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The lease is the claimant's: it runs the site.
    Claimed,
    /// Another owner's lease is live: the claimant does not run the site.
    Held(Lease),
    /// The site's next run is later than the claim's time (another watch ran it meanwhile
    /// and planned the next one): nobody runs it now.
    NotDue(DateTime<Utc>),
    /// The site was never planned: there is no row to hold a lease.
    Unplanned,
}

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
    /// The lease as kept (it may have lapsed): none when released or never taken.
    pub lease: Option<Lease>,
}

impl SiteSchedule {
    /// What a claim of this site's lease by `owner` at `now` comes to: [`Claim::NotDue`]
    /// when the next run is later than `now`; else [`Claim::Held`] when another owner's lease
    /// lasts past `now`; else [`Claim::Claimed`] (no lease, a lapsed one, or `owner`'s own).
    pub fn claim_for(&self, owner: &str, now: DateTime<Utc>) -> Claim {
        if self.next_run > now {
            return Claim::NotDue(self.next_run);
        }
        match &self.lease {
            Some(l) if l.owner != owner && l.until > now => Claim::Held(l.clone()),
            _ => Claim::Claimed,
        }
    }
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

/// The `schedule` row of `site`, if any.
fn read(conn: &Connection, site: &str) -> rusqlite::Result<Option<SiteSchedule>> {
    conn.query_row(
        "SELECT site, spec, next_run, last_started, last_finished, runs, lease_owner, \
         lease_until FROM schedule WHERE site = ?1",
        [site],
        |r| {
            let opt = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
                r.get::<_, Option<String>>(i)?
                    .as_deref()
                    .map(time)
                    .transpose()
            };
            let lease = match (r.get::<_, Option<String>>(6)?, opt(7)?) {
                (Some(owner), Some(until)) => Some(Lease { owner, until }),
                _ => None,
            };
            Ok(SiteSchedule {
                site: r.get(0)?,
                spec: r.get(1)?,
                next_run: time(&r.get::<_, String>(2)?)?,
                last_started: opt(3)?,
                last_finished: opt(4)?,
                runs: r.get::<_, i64>(5)?.max(0) as u64,
                lease,
            })
        },
    )
    .optional()
}

/// The names of the `schedule` table's columns.
fn columns(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA table_info(schedule)")?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    names.collect()
}

/// Adds the columns a table made by an older haul lacks (in one write transaction, checked
/// again inside it, so two watches opening an old store at once both succeed).
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let missing = |have: &[String]| -> Vec<(&str, &str)> {
        (ADDED_COLUMNS.iter().copied())
            .filter(|(c, _)| !have.iter().any(|h| h == c))
            .collect()
    };
    if missing(&columns(conn)?).is_empty() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (column, kind) in missing(&columns(&tx)?) {
        tx.execute_batch(&format!("ALTER TABLE schedule ADD COLUMN {column} {kind}"))?;
    }
    tx.commit()
}

impl ScheduleStore {
    /// Opens the store at `path` (creating it and the table when missing, adding the lease
    /// columns to a table made by an older haul). The crawl's writer may hold the database
    /// meanwhile: a write waits for it up to 10 s.
    pub fn open(path: &Path) -> Result<Self, OutputError> {
        let db = db_err(path);
        let mut conn =
            Connection::open(path).map_err(|e| create_err(path)(std::io::Error::other(e)))?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(&db)?;
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(&db)?;
        conn.execute_batch(SCHEMA).map_err(&db)?;
        migrate(&mut conn).map_err(&db)?;
        Ok(Self {
            path: path.into(),
            conn,
        })
    }

    /// What is kept of `site`, if it was ever scheduled.
    pub fn get(&self, site: &str) -> Result<Option<SiteSchedule>, OutputError> {
        read(&self.conn, site).map_err(db_err(&self.path))
    }

    /// Plans `site`'s next run at `next_run` with schedule `spec`, keeping what is known of
    /// its last run (and its lease).
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

    /// Claims `site`'s lease for `owner` until `until`, for a run at `now`: read and taken in
    /// one write transaction, so of the watches (in any process) claiming it at once exactly
    /// one gets [`Claim::Claimed`]. What the claim comes to is
    /// [`SiteSchedule::claim_for`]'s; only [`Claim::Claimed`] changes the row.
    pub fn claim(
        &mut self,
        site: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Claim, OutputError> {
        let db = db_err(&self.path);
        let tx = (self.conn)
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let Some(kept) = read(&tx, site).map_err(&db)? else {
            return Ok(Claim::Unplanned);
        };
        let claim = kept.claim_for(owner, now);
        if claim == Claim::Claimed {
            tx.execute(
                "UPDATE schedule SET lease_owner = ?2, lease_until = ?3 WHERE site = ?1",
                params![site, owner, text(until)],
            )
            .map_err(&db)?;
            tx.commit().map_err(&db)?;
        }
        Ok(claim)
    }

    /// Extends `owner`'s lease of `site` to `until`; `false` (nothing changed) when the lease
    /// is not `owner`'s: another owner took it after it lapsed, or it was released.
    pub fn renew(
        &self,
        site: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, OutputError> {
        self.conn
            .execute(
                "UPDATE schedule SET lease_until = ?3 WHERE site = ?1 AND lease_owner = ?2",
                params![site, owner, text(until)],
            )
            .map(|n| n == 1)
            .map_err(db_err(&self.path))
    }

    /// Gives up `owner`'s lease of `site` (nothing when the lease is not `owner`'s).
    pub fn release(&self, site: &str, owner: &str) -> Result<(), OutputError> {
        self.conn
            .execute(
                "UPDATE schedule SET lease_owner = NULL, lease_until = NULL \
                 WHERE site = ?1 AND lease_owner = ?2",
                params![site, owner],
            )
            .map(drop)
            .map_err(db_err(&self.path))
    }

    /// Records a finished run of `site` (from `started` to `finished`), plans the next one
    /// and, in the same statement, releases `owner`'s lease (another owner's stays).
    pub fn finished(
        &self,
        site: &str,
        spec: &str,
        started: DateTime<Utc>,
        finished: DateTime<Utc>,
        next_run: DateTime<Utc>,
        owner: &str,
    ) -> Result<(), OutputError> {
        // Every SET expression reads the row as it was, so both see the old owner.
        self.conn
            .execute(
                "INSERT INTO schedule (site, spec, next_run, last_started, last_finished, runs) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 1) \
                 ON CONFLICT (site) DO UPDATE SET spec = excluded.spec, \
                 next_run = excluded.next_run, last_started = excluded.last_started, \
                 last_finished = excluded.last_finished, runs = runs + 1, \
                 lease_owner = CASE WHEN lease_owner = ?6 THEN NULL ELSE lease_owner END, \
                 lease_until = CASE WHEN lease_owner = ?6 THEN NULL ELSE lease_until END",
                params![
                    site,
                    spec,
                    text(next_run),
                    text(started),
                    text(finished),
                    owner
                ],
            )
            .map(drop)
            .map_err(db_err(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_planned_and_finished_run_is_read_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
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
                "a",
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

    /// Two stores on one file, as two watch processes have.
    fn two(path: &Path) -> (ScheduleStore, ScheduleStore) {
        (
            ScheduleStore::open(path).unwrap(),
            ScheduleStore::open(path).unwrap(),
        )
    }

    #[test]
    fn a_live_lease_keeps_other_owners_out_until_it_lapses() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, mut b) = two(&dir.path().join("store.db"));
        let at = |s: &str| t(&format!("2026-01-01T00:{s}Z"));
        assert_eq!(
            a.claim("demo", "a", at("00:00"), at("01:00")).unwrap(),
            Claim::Unplanned
        );
        a.plan("demo", "every 1h", at("00:00")).unwrap();
        assert_eq!(
            a.claim("demo", "a", at("00:00"), at("01:00")).unwrap(),
            Claim::Claimed
        );
        let a_lease = Lease {
            owner: "a".into(),
            until: at("01:00"),
        };
        assert_eq!(b.get("demo").unwrap().unwrap().lease, Some(a_lease.clone()));
        for now in ["00:00", "00:30", "00:59.999"] {
            assert_eq!(
                b.claim("demo", "b", at(now), at("02:00")).unwrap(),
                Claim::Held(a_lease.clone()),
                "at {now}"
            );
        }
        // Its owner claims it again; renewing moves it.
        assert_eq!(
            a.claim("demo", "a", at("00:40"), at("01:40")).unwrap(),
            Claim::Claimed
        );
        assert!(a.renew("demo", "a", at("02:00")).unwrap());
        assert!(!b.renew("demo", "b", at("09:00")).unwrap(), "not b's");
        b.release("demo", "b").unwrap();
        let kept = b.get("demo").unwrap().unwrap().lease.unwrap();
        assert_eq!((kept.owner.as_str(), kept.until), ("a", at("02:00")));
        // Lapsed (a crashed, or was held up): b takes it, and a's renewal fails.
        assert!(matches!(
            b.claim("demo", "b", at("01:59"), at("03:00")).unwrap(),
            Claim::Held(_)
        ));
        assert_eq!(
            b.claim("demo", "b", at("02:00"), at("03:00")).unwrap(),
            Claim::Claimed
        );
        assert!(!a.renew("demo", "a", at("04:00")).unwrap());
        let kept = a.get("demo").unwrap().unwrap().lease.unwrap();
        assert_eq!((kept.owner.as_str(), kept.until), ("b", at("03:00")));
        // Released: a claims it at once.
        b.release("demo", "b").unwrap();
        assert_eq!(a.get("demo").unwrap().unwrap().lease, None);
        assert_eq!(
            a.claim("demo", "a", at("02:01"), at("03:01")).unwrap(),
            Claim::Claimed
        );
    }

    #[test]
    fn finishing_releases_the_owners_lease_and_a_run_done_elsewhere_is_not_due() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, mut b) = two(&dir.path().join("store.db"));
        a.plan("demo", "every 1h", t("2026-01-01T00:00:00Z"))
            .unwrap();
        let now = t("2026-01-01T00:00:00Z");
        let until = t("2026-01-01T00:01:00Z");
        assert_eq!(a.claim("demo", "a", now, until).unwrap(), Claim::Claimed);
        // b's finish (it lost its lease to a) leaves a's lease alone.
        b.finished("demo", "every 1h", now, now, now, "b").unwrap();
        assert_eq!(b.get("demo").unwrap().unwrap().lease.unwrap().owner, "a");
        a.finished(
            "demo",
            "every 1h",
            now,
            t("2026-01-01T00:00:30Z"),
            t("2026-01-01T01:00:00Z"),
            "a",
        )
        .unwrap();
        let kept = b.get("demo").unwrap().unwrap();
        assert_eq!((kept.lease, kept.runs), (None, 2));
        // b was waiting for the 00:00 run: a did it, the next is at 01:00.
        assert_eq!(
            b.claim("demo", "b", t("2026-01-01T00:00:31Z"), until)
                .unwrap(),
            Claim::NotDue(t("2026-01-01T01:00:00Z"))
        );
        assert_eq!(b.get("demo").unwrap().unwrap().lease, None);
        assert_eq!(
            b.claim(
                "demo",
                "b",
                t("2026-01-01T01:00:00Z"),
                t("2026-01-01T01:01:00Z")
            )
            .unwrap(),
            Claim::Claimed
        );
    }

    #[test]
    fn a_store_made_before_leases_gets_the_lease_columns_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // The table as haul made it before leases.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS schedule (
                    site TEXT PRIMARY KEY,
                    spec TEXT NOT NULL,
                    next_run TEXT NOT NULL,
                    last_started TEXT,
                    last_finished TEXT,
                    runs INTEGER NOT NULL DEFAULT 0
                );
                INSERT INTO schedule (site, spec, next_run, runs)
                    VALUES ('demo', 'every 1h', '2026-01-01T00:00:00.000Z', 3);",
            )
            .unwrap();
            assert!(!columns(&conn).unwrap().contains(&"lease_owner".into()));
        }
        let (mut a, b) = two(&path);
        let cols = columns(&b.conn).unwrap();
        assert!(
            cols.ends_with(&["lease_owner".into(), "lease_until".into()]),
            "{cols:?}"
        );
        let kept = a.get("demo").unwrap().unwrap();
        assert_eq!((kept.runs, kept.lease), (3, None));
        let now = t("2026-01-01T00:00:00Z");
        let until = t("2026-01-01T00:01:00Z");
        assert_eq!(a.claim("demo", "a", now, until).unwrap(), Claim::Claimed);
        drop((a, b));
        // Opening it again changes nothing.
        let s = ScheduleStore::open(&path).unwrap();
        assert_eq!(columns(&s.conn).unwrap().len(), 8);
        assert_eq!(s.get("demo").unwrap().unwrap().lease.unwrap().until, until);
    }
}
