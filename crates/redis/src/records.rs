//! The record stream: workers publish extracted records, a collector reads them with its own
//! consumer group and acknowledges them once written.

use std::time::Duration;

use haul_core::Record;
use redis::streams::{StreamAutoClaimReply, StreamId};
use tracing::warn;

use crate::conn::{Redis, RedisError};
use crate::stream::{self, GroupRead};

/// The consumer group of collectors on the record stream.
pub const COLLECTOR_GROUP: &str = "collector";

/// One record read from the stream, to be acknowledged with [`RecordStream::ack`] once written.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamedRecord {
    /// Stream entry id.
    pub id: String,
    /// The record.
    pub record: Record,
}

/// The stream `haul:{crawl}:records` of one crawl (field `record`: the record as JSON).
///
/// Delivery is at-least-once: a record may arrive twice (a worker re-processing a reclaimed
/// task, a publish retried after a dropped connection, a collector restarted before its ack);
/// the writer de-duplicates by (site, url), as haul-output does.
#[derive(Debug, Clone)]
pub struct RecordStream {
    redis: Redis,
    key: String,
}

impl RecordStream {
    /// The record stream of crawl `crawl`; creates it and the [`COLLECTOR_GROUP`] group (from
    /// the first entry, so nothing published before a collector starts is missed).
    /// Fails with [`RedisError::InvalidCrawlId`] for an id that cannot name a crawl.
    pub async fn open(redis: &Redis, crawl: &str) -> Result<Self, RedisError> {
        crate::keys::check_crawl_id(crawl)?;
        let this = Self {
            redis: redis.clone(),
            key: crate::keys::records(crawl),
        };
        let cmd = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&this.key)
            .arg(COLLECTOR_GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .clone();
        match this
            .redis
            .query::<()>("XGROUP CREATE records", cmd, None)
            .await
        {
            Err(e) if e.code() != Some("BUSYGROUP") => return Err(e),
            _ => {}
        }
        Ok(this)
    }

    /// The stream key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Adds the `XADD`s of `records` to `pipe` (with their replies, the entry ids, unless
    /// `ignore`).
    pub(crate) fn add_to(&self, pipe: &mut redis::Pipeline, records: &[Record], ignore: bool) {
        for r in records {
            // Serialising a Record cannot fail: every field is a plain value.
            let json = serde_json::to_string(r).unwrap_or_default();
            pipe.cmd("XADD")
                .arg(&self.key)
                .arg("*")
                .arg("record")
                .arg(json);
            if ignore {
                pipe.ignore();
            }
        }
    }

    /// Publishes `records` (one pipelined round trip); returns their entry ids.
    pub async fn publish(&self, records: &[Record]) -> Result<Vec<String>, RedisError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        self.add_to(&mut pipe, records, false);
        self.redis.pipe("XADD records", pipe).await
    }

    /// Reads up to `count` records for collector `consumer`: first those it read before but
    /// never acknowledged (after a restart under the same name), else new ones, waiting up to
    /// `block` (zero = do not wait). Entries that are not records are logged, acknowledged and
    /// skipped, so they cannot block the stream.
    pub async fn read(
        &self,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<StreamedRecord>, RedisError> {
        let own = GroupRead::pending(COLLECTOR_GROUP, consumer, count);
        let own = self.read_entries(own).await?;
        if !own.is_empty() {
            return Ok(own);
        }
        self.read_entries(GroupRead::new_entries(
            COLLECTOR_GROUP,
            consumer,
            count,
            block,
        ))
        .await
    }

    async fn read_entries(&self, read: GroupRead<'_>) -> Result<Vec<StreamedRecord>, RedisError> {
        let entries =
            stream::read_group(&self.redis, "XREADGROUP records", &self.key, read).await?;
        self.decode(entries).await
    }

    async fn decode(&self, entries: Vec<StreamId>) -> Result<Vec<StreamedRecord>, RedisError> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for e in entries {
            // An entry deleted from the stream but still pending comes back without fields.
            let parsed = e
                .get::<String>("record")
                .ok_or_else(|| "no field \"record\"".to_string())
                .and_then(|j| serde_json::from_str::<Record>(&j).map_err(|err| err.to_string()));
            match parsed {
                Ok(record) => out.push(StreamedRecord { id: e.id, record }),
                Err(message) => {
                    warn!("{}", self.redis.malformed(&self.key, &e.id, message));
                    bad.push(e.id);
                }
            }
        }
        if !bad.is_empty() {
            self.ack(&bad).await?;
        }
        Ok(out)
    }

    /// Acknowledges entries once their records are written, and deletes them from the stream
    /// (nobody needs them any more; this keeps Redis' memory flat over a long crawl). Returns
    /// how many were pending.
    pub async fn ack<S: AsRef<str>>(&self, ids: &[S]) -> Result<u64, RedisError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        let ack = pipe.cmd("XACK").arg(&self.key).arg(COLLECTOR_GROUP);
        for id in ids {
            ack.arg(id.as_ref());
        }
        let del = pipe.cmd("XDEL").arg(&self.key);
        for id in ids {
            del.arg(id.as_ref());
        }
        let (acked, _deleted): (u64, u64) = self.redis.pipe("XACK + XDEL records", pipe).await?;
        Ok(acked)
    }

    /// Takes over up to `count` records another collector read but did not acknowledge for at
    /// least `min_idle` (it died), for `consumer`.
    pub async fn reclaim(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<StreamedRecord>, RedisError> {
        let cmd = redis::cmd("XAUTOCLAIM")
            .arg(&self.key)
            .arg(COLLECTOR_GROUP)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(count.max(1))
            .clone();
        let reply: StreamAutoClaimReply = self.redis.query("XAUTOCLAIM records", cmd, None).await?;
        self.decode(reply.claimed).await
    }

    /// Records not yet written: undelivered plus delivered but unacknowledged. Zero once the
    /// crawl is finished means the collector is done.
    pub async fn backlog(&self) -> Result<u64, RedisError> {
        let groups: redis::streams::StreamInfoGroupsReply = self
            .redis
            .query(
                "XINFO GROUPS records",
                redis::cmd("XINFO").arg("GROUPS").arg(&self.key).clone(),
                None,
            )
            .await?;
        let Some(g) = groups
            .groups
            .into_iter()
            .find(|g| g.name == COLLECTOR_GROUP)
        else {
            return Ok(0);
        };
        let lag = match g.lag {
            Some(lag) => lag as u64,
            // Redis cannot tell the lag (entries were deleted): count what follows the
            // group's last delivered id.
            None => {
                let start = format!("({}", g.last_delivered_id);
                let rest: redis::streams::StreamRangeReply = self
                    .redis
                    .query(
                        "XRANGE records",
                        redis::cmd("XRANGE")
                            .arg(&self.key)
                            .arg(start)
                            .arg("+")
                            .clone(),
                        None,
                    )
                    .await?;
                rest.ids.len() as u64
            }
        };
        Ok(lag + g.pending as u64)
    }
}
