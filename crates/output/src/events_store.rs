//! The store's side of change events: the `events`, `event_state` and `gone_candidates`
//! tables, and the hooks [`SqliteSink`](crate::sqlite) calls inside its transaction, so an
//! event is committed with the record (or visit) that caused it, or not at all.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;

use crate::Visit;
use crate::events::{
    self, EventKind, EventRules, PriceDecision, ProductState, StoreOptions, in_stock, percent,
    stamp, take_cap,
};

/// The event tables (the outbox's are in `outbox.rs`).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    site TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT,
    old_price TEXT,
    new_price TEXT,
    currency TEXT,
    change TEXT,
    change_percent TEXT,
    old_availability TEXT,
    new_availability TEXT,
    at TEXT NOT NULL,
    crawl_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (at);
CREATE TABLE IF NOT EXISTS event_state (
    site TEXT NOT NULL,
    url TEXT NOT NULL,
    ref_price TEXT,
    ref_currency TEXT,
    price_event_at TEXT,
    direction INTEGER NOT NULL DEFAULT 0,
    day TEXT,
    day_count INTEGER NOT NULL DEFAULT 0,
    gone INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, url)
);
CREATE TABLE IF NOT EXISTS gone_candidates (
    crawl_id INTEGER NOT NULL,
    site TEXT NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (crawl_id, site, url)
);";

/// What the store holds of a product (or is about to): the fields events compare.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) title: Option<String>,
    pub(crate) price: Option<String>,
    pub(crate) currency: Option<String>,
    pub(crate) availability: Option<String>,
}

impl Snapshot {
    fn price(&self) -> Option<Decimal> {
        self.price.as_deref().and_then(|p| p.parse().ok())
    }
}

/// The stored record of `(site, url)`, before this write changes it.
pub(crate) fn read_old(
    conn: &Connection,
    site: &str,
    url: &str,
) -> rusqlite::Result<Option<Snapshot>> {
    conn.prepare_cached(
        "SELECT title, price, currency, availability FROM records WHERE site = ?1 AND url = ?2",
    )?
    .query_row(params![site, url], |r| {
        Ok(Snapshot {
            title: r.get(0)?,
            price: r.get(1)?,
            currency: r.get(2)?,
            availability: r.get(3)?,
        })
    })
    .optional()
}

/// An event about to be inserted.
struct NewEvent<'a> {
    kind: EventKind,
    site: &'a str,
    url: &'a str,
    title: Option<&'a str>,
    old_price: Option<String>,
    new_price: Option<String>,
    currency: Option<&'a str>,
    change: Option<String>,
    change_percent: Option<String>,
    old_availability: Option<&'a str>,
    new_availability: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    /// An event carrying the old and new availability and the current price.
    fn plain(
        kind: EventKind,
        site: &'a str,
        url: &'a str,
        old: Option<&'a Snapshot>,
        new: &'a Snapshot,
    ) -> Self {
        Self {
            kind,
            site,
            url,
            title: new
                .title
                .as_deref()
                .or(old.and_then(|o| o.title.as_deref())),
            old_price: old.and_then(|o| o.price.clone()),
            new_price: new.price.clone(),
            currency: new.currency.as_deref(),
            change: None,
            change_percent: None,
            old_availability: old.and_then(|o| o.availability.as_deref()),
            new_availability: new.availability.as_deref(),
        }
    }

    fn insert(&self, conn: &Connection, crawl_id: i64, now: DateTime<Utc>) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT INTO events (kind, site, url, title, old_price, new_price, currency, change, \
             change_percent, old_availability, new_availability, at, crawl_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            self.kind.label(),
            self.site,
            self.url,
            self.title,
            self.old_price,
            self.new_price,
            self.currency,
            self.change,
            self.change_percent,
            self.old_availability,
            self.new_availability,
            stamp(now),
            crawl_id
        ])?;
        tracing::debug!(kind = %self.kind, url = self.url, "event");
        Ok(())
    }
}

fn load_state(conn: &Connection, site: &str, url: &str) -> rusqlite::Result<Option<ProductState>> {
    conn.prepare_cached(
        "SELECT ref_price, ref_currency, price_event_at, direction, day, day_count, gone \
         FROM event_state WHERE site = ?1 AND url = ?2",
    )?
    .query_row(params![site, url], |r| {
        let at: Option<String> = r.get(2)?;
        Ok(ProductState {
            ref_price: r.get::<_, Option<String>>(0)?.and_then(|p| p.parse().ok()),
            ref_currency: r.get(1)?,
            price_event_at: at
                .and_then(|a| DateTime::parse_from_rfc3339(&a).ok())
                .map(|a| a.with_timezone(&Utc)),
            direction: r.get(3)?,
            day: r.get(4)?,
            day_count: r.get(5)?,
            gone: r.get(6)?,
        })
    })
    .optional()
}

fn save_state(conn: &Connection, site: &str, url: &str, s: &ProductState) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO event_state \
         (site, url, ref_price, ref_currency, price_event_at, direction, day, day_count, gone) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        site,
        url,
        s.ref_price.map(|p| p.to_string()),
        s.ref_currency,
        s.price_event_at.map(stamp),
        s.direction,
        s.day,
        s.day_count,
        s.gone
    ])
    .map(drop)
}

/// The events of a record written over `old` (none: a new product), under `rules`.
pub(crate) fn on_record(
    conn: &Connection,
    rules: &EventRules,
    crawl_id: i64,
    (site, url): (&str, &str),
    old: Option<&Snapshot>,
    new: &Snapshot,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let mut state = load_state(conn, site, url)?.unwrap_or_else(|| ProductState {
        // A store from before events: the stored record is the reference.
        ref_price: old.and_then(Snapshot::price),
        ref_currency: old.and_then(|o| o.currency.clone()),
        ..ProductState::default()
    });
    let mut out: Vec<NewEvent<'_>> = Vec::new();
    match old {
        None => out.push(NewEvent::plain(EventKind::NewProduct, site, url, None, new)),
        Some(o) => {
            let is = new.availability.as_deref().and_then(in_stock);
            let kind = if state.gone {
                // Seen again after `gone`: back, unless its page says it is out of stock.
                (is != Some(false)).then_some(EventKind::BackInStock)
            } else {
                match (o.availability.as_deref().and_then(in_stock), is) {
                    (Some(false), Some(true)) => Some(EventKind::BackInStock),
                    (Some(true), Some(false)) => Some(EventKind::OutOfStock),
                    _ => None,
                }
            };
            out.extend(kind.map(|k| NewEvent::plain(k, site, url, Some(o), new)));
        }
    }
    state.gone = false;
    if let (Some(price), Some(currency)) = (new.price(), new.currency.as_deref()) {
        match events::price_decision(rules, &state, price, currency, now) {
            PriceDecision::Reset => {
                state.ref_price = Some(price);
                state.ref_currency = Some(currency.to_string());
            }
            PriceDecision::Emit(kind, reference) if old.is_some() => {
                let mut e = NewEvent::plain(kind, site, url, old, new);
                e.old_price = Some(reference.to_string());
                e.change = Some((price - reference).to_string());
                e.change_percent = percent(reference, price).map(|p| p.to_string());
                out.push(e);
                state.ref_price = Some(price);
                state.price_event_at = Some(now);
                state.direction = if kind == EventKind::PriceDrop { -1 } else { 1 };
            }
            PriceDecision::Emit(..) => {}
            PriceDecision::Suppress(why) => {
                tracing::debug!(url, %price, "no price event: {why}");
            }
        }
    }
    for e in out {
        if take_cap(rules, &mut state, now) {
            e.insert(conn, crawl_id, now)?;
        } else {
            tracing::debug!(url, kind = %e.kind, "no event: the daily cap of {} is reached", rules.daily_cap);
        }
    }
    save_state(conn, site, url, &state)
}

/// A page visit: products its previous visit listed and this one does not become candidates
/// for `gone` at the end of a complete crawl; a 404/410 makes the product at its URL `gone`
/// now. Call before the `pages` row is replaced.
pub(crate) fn on_visit(
    conn: &Connection,
    opts: &StoreOptions,
    crawl_id: i64,
    visit: &Visit,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let before: Option<String> = conn
        .prepare_cached("SELECT records FROM pages WHERE site = ?1 AND url = ?2")?
        .query_row(params![visit.site, visit.url], |r| r.get(0))
        .optional()?;
    if let Some(before) = before {
        let before: Vec<String> = serde_json::from_str(&before).unwrap_or_default();
        let now_listed: HashSet<&str> = visit.records.iter().map(String::as_str).collect();
        let mut add = conn.prepare_cached(
            "INSERT OR IGNORE INTO gone_candidates (crawl_id, site, url) VALUES (?1, ?2, ?3)",
        )?;
        for url in before.iter().filter(|u| !now_listed.contains(u.as_str())) {
            add.execute(params![crawl_id, visit.site, url])?;
        }
    }
    link_candidates(conn, crawl_id, visit)?;
    if matches!(visit.status, Some(404 | 410)) {
        gone(
            conn,
            opts.rules_for(&visit.site),
            crawl_id,
            &visit.site,
            &visit.url,
            now,
        )?;
    }
    Ok(())
}

/// Products a page linked to last time and not this time: candidates for `gone`, as the
/// records a page gave last time are (a listing of the generic site gives links, not
/// records). Only a page fetched well this time with links at all counts (a page at the
/// crawl's last level keeps no links), and only links to products the store holds.
fn link_candidates(conn: &Connection, crawl_id: i64, visit: &Visit) -> rusqlite::Result<()> {
    if visit.failure.is_some() || visit.links.is_empty() {
        return Ok(());
    }
    let before: Option<String> = conn
        .prepare_cached("SELECT links FROM page_links WHERE site = ?1 AND url = ?2")?
        .query_row(params![visit.site, visit.url], |r| r.get(0))
        .optional()?;
    let Some(before) = before else {
        return Ok(());
    };
    let before: Vec<String> = serde_json::from_str(&before).unwrap_or_default();
    let now_linked: HashSet<&str> = visit.links.iter().map(String::as_str).collect();
    let mut add = conn.prepare_cached(
        "INSERT OR IGNORE INTO gone_candidates (crawl_id, site, url) \
         SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM records WHERE site = ?2 AND url = ?3)",
    )?;
    for url in before.iter().filter(|u| !now_linked.contains(u.as_str())) {
        add.execute(params![crawl_id, visit.site, url])?;
    }
    Ok(())
}

/// The end of a crawl: when complete, every candidate (of this crawl or of earlier ones that
/// did not complete) that no page of this crawl gave and that was not fetched again
/// successfully is `gone`. Candidates of an unfinished crawl stay for the next complete one
/// (its `--resume` or the next run).
pub(crate) fn on_end(
    conn: &Connection,
    opts: &StoreOptions,
    crawl_id: i64,
    complete: bool,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    if !complete {
        return Ok(());
    }
    let missing: Vec<(String, String)> = conn
        .prepare(
            "SELECT DISTINCT c.site, c.url FROM gone_candidates c WHERE c.crawl_id <= ?1 \
             AND NOT EXISTS (SELECT 1 FROM records r WHERE r.site = c.site AND r.url = c.url \
                 AND r.crawl_id = ?1) \
             AND NOT EXISTS (SELECT 1 FROM pages p WHERE p.site = c.site AND p.url = c.url \
                 AND p.crawl_id = ?1 AND p.failure IS NULL AND coalesce(p.status, 200) < 400) \
             ORDER BY c.site, c.url",
        )?
        .query_map([crawl_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (site, url) in &missing {
        gone(conn, opts.rules_for(site), crawl_id, site, url, now)?;
    }
    conn.execute(
        "DELETE FROM gone_candidates WHERE crawl_id <= ?1",
        [crawl_id],
    )?;
    Ok(())
}

/// Marks the stored product at `(site, url)` gone, with an event, unless it is unknown or
/// already gone.
fn gone(
    conn: &Connection,
    rules: &EventRules,
    crawl_id: i64,
    site: &str,
    url: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let Some(old) = read_old(conn, site, url)? else {
        return Ok(());
    };
    let mut state = load_state(conn, site, url)?.unwrap_or_default();
    if state.gone {
        return Ok(());
    }
    state.gone = true;
    if take_cap(rules, &mut state, now) {
        let none = Snapshot::default();
        let mut e = NewEvent::plain(EventKind::Gone, site, url, Some(&old), &none);
        e.title = old.title.as_deref();
        e.currency = old.currency.as_deref();
        e.insert(conn, crawl_id, now)?;
    }
    save_state(conn, site, url, &state)
}
