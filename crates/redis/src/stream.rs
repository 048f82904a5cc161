//! Consumer-group helpers shared by the frontier and the job queues: reading a new entry,
//! claiming idle entries with their delivery counts, and moving entries to a dead-letter
//! stream.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use redis::streams::{
    StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamRangeReply, StreamReadReply,
};

use crate::conn::{Redis, RedisError};

/// KEYS: stream, dead stream. ARGV: group, id, deliveries, consumer. Acknowledges the entry and
/// copies it to the dead-letter stream, atomically; returns 1 if it was pending.
static DEAD_LETTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
  local fields = {}
  if e[1] then fields = e[1][2] end
  redis.call('XADD', KEYS[2], '*', 'stream', KEYS[1], 'id', ARGV[2],
    'deliveries', ARGV[3], 'consumer', ARGV[4], unpack(fields))
  return 1
end
return 0
",
    )
});

/// What an XREADGROUP reads: up to `count` entries for `consumer` of `group`, either new ones
/// (waiting up to `block` for them) or those already delivered to it and not acknowledged.
pub(crate) struct GroupRead<'a> {
    group: &'a str,
    consumer: &'a str,
    count: usize,
    /// `>` (new entries) or `0` (its pending ones).
    from: &'a str,
    block: Option<Duration>,
}

impl<'a> GroupRead<'a> {
    /// Entries never delivered to the group, waiting up to `block` (zero = do not wait).
    pub(crate) fn new_entries(
        group: &'a str,
        consumer: &'a str,
        count: usize,
        block: Duration,
    ) -> Self {
        let block = (!block.is_zero()).then_some(block);
        Self {
            group,
            consumer,
            count,
            from: ">",
            block,
        }
    }

    /// Entries delivered to `consumer` and not acknowledged (never waits).
    pub(crate) fn pending(group: &'a str, consumer: &'a str, count: usize) -> Self {
        Self {
            group,
            consumer,
            count,
            from: "0",
            block: None,
        }
    }
}

/// Reads `read` from stream `key` (XREADGROUP); `what` names the command in errors (a stream
/// without the group is Redis' `NOGROUP` error).
pub(crate) async fn read_group(
    redis: &Redis,
    what: &str,
    key: &str,
    read: GroupRead<'_>,
) -> Result<Vec<StreamId>, RedisError> {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(read.group)
        .arg(read.consumer)
        .arg("COUNT")
        .arg(read.count.max(1));
    if let Some(b) = read.block {
        cmd.arg("BLOCK").arg(b.as_millis().max(1) as u64);
    }
    cmd.arg("STREAMS").arg(key).arg(read.from);
    let reply: Option<StreamReadReply> = redis.query(what, cmd, read.block).await?;
    Ok(reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|k| k.ids)
        .collect())
}

/// A dead letter: the entry as it was in its stream (its original id, when recorded) and how
/// many times it had been delivered when it was moved.
pub(crate) struct DeadLetter {
    pub(crate) entry: StreamId,
    pub(crate) deliveries: u64,
    pub(crate) original_id: Option<String>,
}

/// Every entry of the dead-letter stream `dead`, oldest first (see [`dead_letter`]); `what`
/// names the command in errors.
pub(crate) async fn dead_letters(
    redis: &Redis,
    what: &str,
    dead: &str,
) -> Result<Vec<DeadLetter>, RedisError> {
    let cmd = redis::cmd("XRANGE").arg(dead).arg("-").arg("+").clone();
    let reply: StreamRangeReply = redis.query(what, cmd, None).await?;
    Ok(reply
        .ids
        .into_iter()
        .map(|entry| DeadLetter {
            deliveries: entry
                .get::<String>("deliveries")
                .and_then(|d| d.parse().ok())
                .unwrap_or(0),
            original_id: entry.get::<String>("id"),
            entry,
        })
        .collect())
}

/// Claims up to `max` entries of `key` idle for at least `min_idle` for `consumer` (XAUTOCLAIM)
/// and returns them with their delivery counts, this claim included (XPENDING). `None` when the
/// stream or group does not exist.
pub(crate) async fn claim_idle(
    redis: &Redis,
    key: &str,
    group: &str,
    consumer: &str,
    min_idle: Duration,
    max: usize,
) -> Result<Option<Vec<(StreamId, u64)>>, RedisError> {
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut cursor = "0-0".to_string();
    loop {
        let left = max.saturating_sub(claimed.len());
        if left == 0 {
            break;
        }
        let cmd = redis::cmd("XAUTOCLAIM")
            .arg(key)
            .arg(group)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(&cursor)
            .arg("COUNT")
            .arg(left)
            .clone();
        let reply: StreamAutoClaimReply = match redis.query("XAUTOCLAIM (reclaim)", cmd, None).await
        {
            Ok(r) => r,
            Err(e) if e.code() == Some("NOGROUP") => return Ok(None),
            Err(e) => return Err(e),
        };
        // Entries deleted from the stream are dropped from the PEL by XAUTOCLAIM itself.
        claimed.extend(reply.claimed.into_iter().filter(|e| !e.map.is_empty()));
        cursor = reply.next_stream_id;
        if cursor == "0-0" {
            break;
        }
    }
    if claimed.is_empty() {
        return Ok(Some(Vec::new()));
    }
    // XAUTOCLAIM does not return delivery counts: ask XPENDING for each claimed id.
    let mut pipe = redis::pipe();
    for e in &claimed {
        pipe.cmd("XPENDING")
            .arg(key)
            .arg(group)
            .arg(&e.id)
            .arg(&e.id)
            .arg(1);
    }
    let counts: Vec<StreamPendingCountReply> = redis.pipe("XPENDING (deliveries)", pipe).await?;
    let counts: HashMap<String, u64> = counts
        .into_iter()
        .flat_map(|r| r.ids)
        .map(|p| (p.id, p.times_delivered as u64))
        .collect();
    Ok(Some(
        claimed
            .into_iter()
            .map(|e| {
                let n = counts.get(&e.id).copied().unwrap_or(1);
                (e, n)
            })
            .collect(),
    ))
}

/// Moves pending entry `id` of `key` to `dead` (acknowledging it on `key`), recording its
/// `deliveries` and the `consumer` that gave up on it; false if it was no longer pending.
pub(crate) async fn dead_letter(
    redis: &Redis,
    key: &str,
    dead: &str,
    group: &str,
    id: &str,
    deliveries: u64,
    consumer: &str,
) -> Result<bool, RedisError> {
    let keys = [key.to_string(), dead.to_string()];
    let args = [
        group.to_string(),
        id.to_string(),
        deliveries.to_string(),
        consumer.to_string(),
    ];
    let moved: u64 = redis
        .script("dead-letter (XACK + XADD)", &DEAD_LETTER, &keys, &args)
        .await?;
    Ok(moved == 1)
}
