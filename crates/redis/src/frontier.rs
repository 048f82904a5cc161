//! The shared crawl frontier: one Redis stream per level, a visited set, reclaim of tasks of
//! dead workers and a dead-letter stream.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use redis::Script;
use redis::streams::StreamId;
use tracing::warn;

use crate::conn::{Redis, RedisError};
use crate::stream::GroupRead;
use crate::{keys, stream};

/// The consumer group of crawl workers on every level stream.
pub const WORKERS_GROUP: &str = "workers";

/// Lua that tells whether level stream `stream` is done for `group`,
/// `linked` being the set of its entry ids whose links are queued ([`Frontier::take_links`]):
/// it does not exist or is empty, or every entry was delivered (the group's last delivered id
/// is the stream's last id) and each entry still pending has its links queued. Returns
/// whether it is done and how many entries are pending (stragglers still finishing, when
/// done).
const LEVEL_DONE_LUA: &str = r"
local function level_state(stream, group, linked)
  if redis.call('EXISTS', stream) == 0 then return true, 0 end
  local info = redis.call('XINFO', 'STREAM', stream)
  local s = {}
  for i = 1, #info, 2 do s[info[i]] = info[i + 1] end
  local groups = redis.call('XINFO', 'GROUPS', stream)
  for _, g in ipairs(groups) do
    local t = {}
    for i = 1, #g, 2 do t[g[i]] = g[i + 1] end
    if t['name'] == group then
      local pending = t['pending']
      if t['last-delivered-id'] ~= s['last-generated-id'] then return false, pending end
      if pending == 0 then return true, 0 end
      if pending > redis.call('SCARD', linked) then return false, pending end
      local p = redis.call('XPENDING', stream, group, '-', '+', pending)
      for _, e in ipairs(p) do
        if redis.call('SISMEMBER', linked, e[1]) == 0 then return false, pending end
      end
      return true, pending
    end
  end
  return s['length'] == 0, 0
end
";

/// Lua that queues the URLs `ARGV[first..]` of site `ARGV[2]` on level `ARGV[3]`'s stream
/// `stream` (creating it and group `ARGV[1]`) through the visited set `visited`; returns how
/// many were new.
const ENQUEUE_FN_LUA: &str = r"
local function enqueue(visited, stream, first)
  redis.pcall('XGROUP', 'CREATE', stream, ARGV[1], '0', 'MKSTREAM')
  local added = 0
  for i = first, #ARGV do
    if redis.call('SADD', visited, ARGV[2] .. ' ' .. ARGV[i]) == 1 then
      redis.call('XADD', stream, '*', 'site', ARGV[2], 'url', ARGV[i], 'level', ARGV[3])
      added = added + 1
    end
  end
  return added
end
";

/// KEYS: visited set, level stream. ARGV: group, site, level, urls... Returns how many were new.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{ENQUEUE_FN_LUA}\nreturn enqueue(KEYS[1], KEYS[2], 4)"
    ))
});

/// KEYS: visited set, next level's stream, the task's level's links-done set, the task's
/// level stream. ARGV: group, site, next level, task id, urls... When the task is still
/// pending and its links were not taken before, marks them taken and queues the URLs on the
/// next level (through the visited set, as ENQUEUE), in one step; returns how many were new,
/// or -1 when nothing was done (taken before, or the task is no longer pending, also when its
/// stream vanished).
static TAKE_LINKS_LUA: LazyLock<String> = LazyLock::new(|| {
    format!(
        r"{ENQUEUE_FN_LUA}
local ok, p = pcall(redis.call, 'XPENDING', KEYS[4], ARGV[1], ARGV[4], ARGV[4], 1)
if not ok or #p == 0 then return -1 end
if redis.call('SADD', KEYS[3], ARGV[4]) == 0 then return -1 end
if #ARGV < 5 then return 0 end
return enqueue(KEYS[1], KEYS[2], 5)
"
    )
});

static TAKE_LINKS: LazyLock<Script> = LazyLock::new(|| Script::new(&TAKE_LINKS_LUA));

/// KEYS: level stream, its links-done set. ARGV: group. Returns 1 when the level is done.
static LEVEL_DONE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{LEVEL_DONE_LUA}\nif level_state(KEYS[1], ARGV[1], KEYS[2]) then return 1 end\nreturn 0"
    ))
});

/// KEYS: current-level key, level stream of ARGV[2], its links-done set, the stragglers set.
/// ARGV: group, level. Moves the current level from ARGV[2] to ARGV[2] + 1 when that level is
/// done and returns the current level. The done level's acknowledged entries are trimmed
/// (the stream and its group stay, so `level_state` still holds): all of them, with its
/// links-done set, when none is pending; else those before the first pending entry (every
/// earlier one was delivered and is not pending, so acknowledged), and the level joins the
/// stragglers set until its last pending entry is acknowledged (see SETTLE).
static ADVANCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{LEVEL_DONE_LUA}
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local lvl = tonumber(ARGV[2])
if cur ~= lvl then return cur end
local done, pending = level_state(KEYS[2], ARGV[1], KEYS[3])
if not done then return cur end
redis.call('SET', KEYS[1], cur + 1)
if pending == 0 then
  redis.call('XTRIM', KEYS[2], 'MAXLEN', 0)
  redis.call('DEL', KEYS[3])
else
  local first = redis.call('XPENDING', KEYS[2], ARGV[1])[2]
  redis.call('XTRIM', KEYS[2], 'MINID', first)
  redis.call('SADD', KEYS[4], lvl)
end
return cur + 1
"
    ))
});

/// KEYS: level stream, its links-done set, the stragglers set. ARGV: group, level. When no
/// entry of the level is pending: trims its entries (all acknowledged), deletes its
/// links-done set and takes it off the stragglers set; returns 1. Else 0.
static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
  if ok and p[1] > 0 then return 0 end
  redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
return 1
",
    )
});

/// KEYS: level stream. ARGV: group, consumer, id. Resets the idle time of the entry when it
/// is pending for that consumer (XCLAIM min-idle 0 JUSTID does not count a delivery); a task
/// another worker took over stays theirs. Returns 1 when touched.
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
",
    )
});

/// Settings of a [`Frontier`].
#[derive(Debug, Clone)]
pub struct FrontierOptions {
    /// A task delivered more than this many times without an ack goes to the dead-letter
    /// stream on its next reclaim instead of to another worker.
    pub max_deliveries: u64,
    /// Most tasks one [`Frontier::reclaim`] call claims.
    pub reclaim_batch: usize,
    /// How long a finished crawl's keys stay: [`Frontier::finish`] gives every key of the
    /// crawl this time to live (`None` = forever).
    pub keep_finished: Option<Duration>,
}

/// The default of [`FrontierOptions::keep_finished`]: one day, long enough for the
/// collectors to write the last records and for anyone to read the counters.
pub const DEFAULT_KEEP_FINISHED: Duration = Duration::from_secs(24 * 60 * 60);

impl Default for FrontierOptions {
    fn default() -> Self {
        Self {
            max_deliveries: 5,
            reclaim_batch: 64,
            keep_finished: Some(DEFAULT_KEEP_FINISHED),
        }
    }
}

/// One URL to crawl, as claimed by a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Stream entry id (what [`Frontier::ack`] acknowledges).
    pub id: String,
    /// Crawl level of the URL.
    pub level: u32,
    /// Registered site name whose extractor handles it.
    pub site: String,
    /// The (canonical) URL.
    pub url: String,
    /// How many times it has been delivered, this delivery included (1 = first time).
    pub deliveries: u64,
}

/// What a [`Frontier::reclaim`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Tasks of idle (presumably dead) consumers now owned by the caller: process and ack.
    pub tasks: Vec<Task>,
    /// Tasks delivered more than `max_deliveries` times: moved to the dead-letter stream and
    /// acknowledged on their level.
    pub dead: Vec<Task>,
}

/// What a worker should do next, as decided by [`Frontier::work`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Process these tasks (reclaimed or new), then ack each.
    Tasks(Vec<Task>),
    /// Nothing to do right now (other workers hold the level's last tasks, the level just
    /// advanced, or the crawl has not been enqueued yet): call again.
    Idle,
    /// Every level is done and nothing is queued beyond: the crawl is over (and marked
    /// [finished](Frontier::is_finished)).
    Finished,
}

/// The frontier of one crawl shared by all workers, at-least-once.
///
/// Keys (see [`crate::keys`]): `haul:{crawl}:level:{n}` (a stream per level, consumer group
/// [`WORKERS_GROUP`]), `haul:{crawl}:linked:{n}` (ids of level `n`'s tasks whose links are
/// queued), `haul:{crawl}:stragglers` (levels passed with tasks still pending),
/// `haul:{crawl}:visited` (a set of `"{site} {url}"`), `haul:{crawl}:current_level`,
/// `haul:{crawl}:dead` (dead-letter stream), `haul:{crawl}:finished`.
///
/// The crawl id is checked with [`keys::check_crawl_id`](crate::keys::check_crawl_id): with
/// an invalid one (such as `rate`, which would reach into the shared limits) every operation
/// that writes or takes work ([`enqueue`](Self::enqueue), [`work`](Self::work),
/// [`next_at`](Self::next_at), [`complete`](Self::complete), [`purge`](Self::purge),
/// [`finish`](Self::finish)) fails with [`RedisError::InvalidCrawlId`] before touching Redis.
///
/// Protocol of a worker, which keeps levels in order and loses nothing:
/// 1. [`next`](Self::next) claims a task of the current level;
/// 2. process it; queue its links on `level + 1`, either early, as soon as they are known,
///    with [`take_links`](Self::take_links) (which also marks them taken), or with
///    [`enqueue`](Self::enqueue); write (publish) its records;
/// 3. only then [`ack`](Self::ack) it (or [`complete`](Self::complete) it: records, links,
///    ack in one round trip). A worker killed before the ack leaves the task pending;
///    another worker's periodic [`reclaim`](Self::reclaim) takes it over after `min_idle`.
/// 4. When `next` finds nothing, [`try_advance`](Self::try_advance) moves the crawl to the next
///    level once the current one is [done](Self::level_done): no task undelivered, and each
///    task either acknowledged or with its links taken. Because links are queued before the
///    ack, a done level has queued all of the next level; tasks whose links were taken early
///    may still be finishing (stragglers, kept until acknowledged and reclaimed like any
///    other: see [`stragglers`](Self::stragglers)).
///
/// [`work`](Self::work) does steps 1 and 4 plus the periodic reclaim in one call; a worker
/// loops on it until [`Work::Finished`], which comes once the last level is done and no task
/// of any level is pending. A task's links must not be enqueued beyond the crawl's maximum
/// level (the caller filters them, as the local crawler does).
#[derive(Debug, Clone)]
pub struct Frontier {
    redis: Redis,
    crawl: String,
    opts: FrontierOptions,
    /// When [`work`](Self::work) last ran its recovery checks: reclaim (any consumer of this
    /// handle) and own pending (per consumer). Plain mutexes, never held across an await.
    last_reclaim: Arc<Mutex<Option<Instant>>>,
    last_own: Arc<Mutex<HashMap<String, Instant>>>,
}

/// How often one [`Frontier`] handle's `work` looks for a consumer's own lost deliveries.
const OWN_PENDING_EVERY: Duration = Duration::from_secs(1);

/// Whether `last` is more than `every` ago (or never); if so, marks it now.
fn due(last: &mut Option<Instant>, every: Duration) -> bool {
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < every) {
        return false;
    }
    *last = Some(now);
    true
}

impl Frontier {
    /// The frontier of crawl `crawl` (an id shared by the coordinator and its workers,
    /// checked by its operations: see above).
    pub fn new(redis: &Redis, crawl: &str, opts: FrontierOptions) -> Self {
        Self {
            redis: redis.clone(),
            crawl: crawl.to_string(),
            opts,
            last_reclaim: Arc::default(),
            last_own: Arc::default(),
        }
    }

    /// The crawl id.
    pub fn crawl(&self) -> &str {
        &self.crawl
    }

    /// The stream key of `level`.
    pub fn level_key(&self, level: u32) -> String {
        keys::level(&self.crawl, level)
    }

    /// The dead-letter stream key.
    pub fn dead_key(&self) -> String {
        keys::dead(&self.crawl)
    }

    /// The crawl id is valid (else the error naming it).
    fn checked(&self) -> Result<(), RedisError> {
        keys::check_crawl_id(&self.crawl)
    }

    /// Queues the `urls` of `site` on `level`, each only if no worker ever queued it for this
    /// site before (atomically, through the visited set); returns how many were new. Pass
    /// canonical URLs: the set compares strings.
    pub async fn enqueue<S: AsRef<str>>(
        &self,
        level: u32,
        site: &str,
        urls: &[S],
    ) -> Result<u64, RedisError> {
        self.checked()?;
        if urls.is_empty() {
            return Ok(0);
        }
        let keys = [keys::visited(&self.crawl), self.level_key(level)];
        let mut args = vec![
            WORKERS_GROUP.to_string(),
            site.to_string(),
            level.to_string(),
        ];
        args.extend(urls.iter().map(|u| u.as_ref().to_string()));
        self.redis
            .script("enqueue (SADD + XADD)", &ENQUEUE, &keys, &args)
            .await
    }

    /// The level workers take tasks from now (0 until [`try_advance`](Self::try_advance)).
    pub async fn current_level(&self) -> Result<u32, RedisError> {
        let v: Option<u32> = self
            .redis
            .query(
                "GET current level",
                redis::cmd("GET")
                    .arg(keys::current_level(&self.crawl))
                    .clone(),
                None,
            )
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Claims a new task of the current level for `consumer` (a name unique per worker),
    /// waiting up to `block` for one (zero = do not wait). `None` when there is none.
    pub async fn next(&self, consumer: &str, block: Duration) -> Result<Option<Task>, RedisError> {
        let level = self.current_level().await?;
        self.next_at(level, consumer, block).await
    }

    /// Claims a new task of `level` (see [`next`](Self::next)).
    pub async fn next_at(
        &self,
        level: u32,
        consumer: &str,
        block: Duration,
    ) -> Result<Option<Task>, RedisError> {
        self.checked()?;
        let key = self.level_key(level);
        let read = GroupRead::new_entries(WORKERS_GROUP, consumer, 1, block);
        let entry =
            match stream::read_group(&self.redis, "XREADGROUP (next task)", &key, read).await {
                Ok(entries) => entries.into_iter().next(),
                // Nothing was ever queued on this level.
                Err(e) if e.code() == Some("NOGROUP") => return Ok(None),
                Err(e) => return Err(e),
            };
        let Some(entry) = entry else {
            return Ok(None);
        };
        match self.task(&key, &entry, 1) {
            Ok(t) => Ok(Some(t)),
            Err(err) => {
                // Only haul writes these streams; never let a broken entry block a level.
                warn!("{err}; dead-lettered");
                let dead = self.dead_key();
                stream::dead_letter(
                    &self.redis,
                    &key,
                    &dead,
                    WORKERS_GROUP,
                    &entry.id,
                    1,
                    consumer,
                )
                .await?;
                Ok(None)
            }
        }
    }

    fn task(&self, key: &str, e: &StreamId, deliveries: u64) -> Result<Task, RedisError> {
        let field = |name: &str| {
            e.get::<String>(name).ok_or_else(|| {
                self.redis
                    .malformed(key, &e.id, format!("no field {name:?}"))
            })
        };
        let level = field("level")?;
        Ok(Task {
            id: e.id.clone(),
            level: level.parse().map_err(|_| {
                self.redis
                    .malformed(key, &e.id, format!("level {level:?} is not a number"))
            })?,
            site: field("site")?,
            url: field("url")?,
            deliveries,
        })
    }

    /// Finishes `task` in one round trip: publishes `records` on `records_stream`, queues
    /// `links` (canonical URLs of the task's site) on the next level as
    /// [`take_links`](Self::take_links) does (nothing when the task's links were taken
    /// before), runs the commands of `extra` (such as counters), and only then acknowledges
    /// the task. Redis runs a pipeline's commands in order, so the ack
    /// comes last; when the connection breaks midway the whole pipeline is sent again, which
    /// is safe: records are de-duplicated downstream, links go through the visited set, the
    /// ack is idempotent (only `extra` counters may count twice). Returns whether the task
    /// was still pending (false: another worker had taken it over and acknowledged it).
    pub async fn complete<S: AsRef<str>>(
        &self,
        task: &Task,
        records_stream: &crate::RecordStream,
        records: &[haul_core::Record],
        links: &[S],
        extra: Option<redis::Pipeline>,
    ) -> Result<bool, RedisError> {
        self.checked()?;
        let mut pipe = extra.unwrap_or_default();
        records_stream.add_to(&mut pipe, records, true);
        if !links.is_empty() {
            let eval = pipe
                .cmd("EVAL")
                .arg(TAKE_LINKS_LUA.as_str())
                .arg(4)
                .arg(keys::visited(&self.crawl))
                .arg(self.level_key(task.level + 1))
                .arg(keys::linked(&self.crawl, task.level))
                .arg(self.level_key(task.level))
                .arg(WORKERS_GROUP)
                .arg(&task.site)
                .arg(task.level + 1)
                .arg(&task.id);
            for l in links {
                eval.arg(l.as_ref());
            }
            eval.ignore();
        }
        pipe.cmd("XACK")
            .arg(self.level_key(task.level))
            .arg(WORKERS_GROUP)
            .arg(&task.id);
        let (acked,): (u64,) = self.redis.pipe("complete task (pipeline)", pipe).await?;
        Ok(acked == 1)
    }

    /// Acknowledges `task`: call only once its records are written and its links queued.
    /// Returns false when it was no longer pending (already acknowledged or dead-lettered).
    pub async fn ack(&self, task: &Task) -> Result<bool, RedisError> {
        let n: u64 = self
            .redis
            .query(
                "XACK",
                redis::cmd("XACK")
                    .arg(self.level_key(task.level))
                    .arg(WORKERS_GROUP)
                    .arg(&task.id)
                    .clone(),
                None,
            )
            .await?;
        Ok(n == 1)
    }

    /// Tells the others that `consumer` is still working on `task` (resets its idle time), so
    /// a task that takes longer than the reclaim timeout is not taken over while its worker
    /// lives. Returns false when the task is no longer pending for `consumer` (another worker
    /// reclaimed it, or it was acknowledged).
    pub async fn touch(&self, consumer: &str, task: &Task) -> Result<bool, RedisError> {
        let n: u64 = self
            .redis
            .script(
                "heartbeat (XCLAIM)",
                &TOUCH,
                &[self.level_key(task.level)],
                &[
                    WORKERS_GROUP.to_string(),
                    consumer.to_string(),
                    task.id.clone(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// Takes over tasks of the current level that were delivered but not acknowledged for at
    /// least `min_idle` (their worker died or hangs), for `consumer`. Tasks now delivered more
    /// than `max_deliveries` times go to the dead-letter stream instead.
    pub async fn reclaim(
        &self,
        consumer: &str,
        min_idle: Duration,
    ) -> Result<Reclaimed, RedisError> {
        let level = self.current_level().await?;
        self.reclaim_at(level, consumer, min_idle).await
    }

    /// [`reclaim`](Self::reclaim) on `level`.
    pub async fn reclaim_at(
        &self,
        level: u32,
        consumer: &str,
        min_idle: Duration,
    ) -> Result<Reclaimed, RedisError> {
        let key = self.level_key(level);
        let batch = self.opts.reclaim_batch;
        let Some(claimed) =
            stream::claim_idle(&self.redis, &key, WORKERS_GROUP, consumer, min_idle, batch).await?
        else {
            return Ok(Reclaimed::default());
        };
        let mut out = Reclaimed::default();
        for (e, deliveries) in claimed {
            let task = self.task(&key, &e, deliveries);
            if deliveries > self.opts.max_deliveries || task.is_err() {
                let (dead, id) = (self.dead_key(), e.id.clone());
                let moved = stream::dead_letter(
                    &self.redis,
                    &key,
                    &dead,
                    WORKERS_GROUP,
                    &id,
                    deliveries,
                    consumer,
                )
                .await?;
                match task {
                    Ok(task) if moved => {
                        warn!(url = %task.url, site = %task.site, deliveries, "task dead-lettered");
                        out.dead.push(task);
                    }
                    Ok(_) => {}
                    Err(err) => warn!("{err}; dead-lettered"),
                }
            } else if let Ok(task) = task {
                out.tasks.push(task);
            }
        }
        Ok(out)
    }

    /// Tasks in the dead-letter stream, oldest first (`deliveries` as when they were moved).
    pub async fn dead_letters(&self) -> Result<Vec<Task>, RedisError> {
        let key = self.dead_key();
        let dead = stream::dead_letters(&self.redis, "XRANGE dead letters", &key).await?;
        dead.into_iter()
            .map(|d| {
                let mut t = self.task(&key, &d.entry, d.deliveries)?;
                t.id = d.original_id.unwrap_or(t.id);
                Ok(t)
            })
            .collect()
    }

    /// Whether `level` is done, so that the next level may start: no task undelivered, and
    /// every task delivered but unacknowledged has its links queued
    /// ([`take_links`](Self::take_links)); such stragglers may still be finishing (a level
    /// nothing was queued on is done).
    pub async fn level_done(&self, level: u32) -> Result<bool, RedisError> {
        let n: u64 = self
            .redis
            .script(
                "level done (XINFO)",
                &LEVEL_DONE,
                &[self.level_key(level), keys::linked(&self.crawl, level)],
                &[WORKERS_GROUP.to_string()],
            )
            .await?;
        Ok(n == 1)
    }

    /// Moves the crawl from `level` to `level + 1` if `level` is the current level and is done
    /// (atomically, so concurrent workers advance it once); returns the current level after.
    /// The done level's acknowledged entries are trimmed; a level left with stragglers (tasks
    /// pending whose links are in) keeps them, and is [settled](Self::settle) once they are
    /// acknowledged.
    pub async fn try_advance(&self, level: u32) -> Result<u32, RedisError> {
        let keys = [
            keys::current_level(&self.crawl),
            self.level_key(level),
            keys::linked(&self.crawl, level),
            keys::stragglers(&self.crawl),
        ];
        self.redis
            .script(
                "advance level",
                &ADVANCE,
                &keys,
                &[WORKERS_GROUP.to_string(), level.to_string()],
            )
            .await
    }

    /// Queues the `links` of `task` (canonical URLs of its site) on the next level, as
    /// [`enqueue`](Self::enqueue) does, and marks the task's links as taken, in one atomic
    /// step: once every task of a level is acknowledged or has its links taken, the level is
    /// [done](Self::level_done) and the next one starts while the stragglers finish (slow
    /// extraction work, such as an LLM answer). Call it once the page's links are known,
    /// before [`complete`](Self::complete) (then with no links). A task's links are taken
    /// once: when they were taken before (a task reclaimed from a dead worker and processed
    /// again) or the task is no longer pending, nothing is queued or marked and `None` comes
    /// back; else how many URLs were new.
    pub async fn take_links<S: AsRef<str>>(
        &self,
        task: &Task,
        links: &[S],
    ) -> Result<Option<u64>, RedisError> {
        self.checked()?;
        let keys = [
            keys::visited(&self.crawl),
            self.level_key(task.level + 1),
            keys::linked(&self.crawl, task.level),
            self.level_key(task.level),
        ];
        let mut args = vec![
            WORKERS_GROUP.to_string(),
            task.site.clone(),
            (task.level + 1).to_string(),
            task.id.clone(),
        ];
        args.extend(links.iter().map(|u| u.as_ref().to_string()));
        let added: i64 = self
            .redis
            .script("take links (SADD + XADD)", &TAKE_LINKS, &keys, &args)
            .await?;
        Ok(u64::try_from(added).ok())
    }

    /// Settles `level` when none of its tasks is pending any more: trims its entries, deletes
    /// its links-done set and takes it off the stragglers (levels passed with tasks still
    /// pending). Returns whether it is settled.
    pub async fn settle(&self, level: u32) -> Result<bool, RedisError> {
        let keys = [
            self.level_key(level),
            keys::linked(&self.crawl, level),
            keys::stragglers(&self.crawl),
        ];
        let n: u64 = self
            .redis
            .script(
                "settle level",
                &SETTLE,
                &keys,
                &[WORKERS_GROUP.to_string(), level.to_string()],
            )
            .await?;
        Ok(n == 1)
    }

    /// The levels passed with tasks still pending (stragglers finishing, or waiting to be
    /// reclaimed from a dead worker), oldest first, after [settling](Self::settle) those whose
    /// last task was acknowledged meanwhile.
    pub async fn stragglers(&self) -> Result<Vec<u32>, RedisError> {
        let levels: Vec<u32> = self
            .redis
            .query(
                "SMEMBERS stragglers",
                redis::cmd("SMEMBERS")
                    .arg(keys::stragglers(&self.crawl))
                    .clone(),
                None,
            )
            .await?;
        let mut open = Vec::new();
        for level in levels {
            if !self.settle(level).await? {
                open.push(level);
            }
        }
        open.sort_unstable();
        Ok(open)
    }

    /// One step of a worker's loop: tasks of dead workers idle for `min_idle` first
    /// ([`reclaim`](Self::reclaim) on the levels with [`stragglers`](Self::stragglers) and
    /// the current level, at most every `min_idle / 4` per handle), then the
    /// consumer's own lost deliveries ([`own_pending`](Self::own_pending), at most every
    /// second), else a new task of the current level (waiting up to `block`), else advance the
    /// level when it is done, or report the crawl finished when the done level queued nothing
    /// further and no task of any level is pending. The recovery checks are rate-limited so that a busy worker spends its round
    /// trips on new tasks.
    pub async fn work(
        &self,
        consumer: &str,
        block: Duration,
        min_idle: Duration,
    ) -> Result<Work, RedisError> {
        self.checked()?;
        let (finished, level): (Option<u32>, Option<u32>) = self
            .redis
            .query(
                "MGET finished, current level",
                redis::cmd("MGET")
                    .arg(keys::finished(&self.crawl))
                    .arg(keys::current_level(&self.crawl))
                    .clone(),
                None,
            )
            .await?;
        if finished.is_some() {
            return Ok(Work::Finished);
        }
        let level = level.unwrap_or(0);
        let reclaim_every = (min_idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let reclaim_due = due(
            &mut self.last_reclaim.lock().unwrap_or_else(|p| p.into_inner()),
            reclaim_every,
        );
        if reclaim_due {
            // Levels passed with stragglers first: their tasks' links are in, but a dead
            // worker's records are not.
            let mut levels = self.stragglers().await?;
            levels.push(level);
            for l in levels {
                let reclaimed = self.reclaim_at(l, consumer, min_idle).await?;
                if !reclaimed.tasks.is_empty() {
                    return Ok(Work::Tasks(reclaimed.tasks));
                }
            }
        }
        let own_due = {
            let mut map = self.last_own.lock().unwrap_or_else(|p| p.into_inner());
            let mut last = map.get(consumer).copied();
            let d = due(&mut last, OWN_PENDING_EVERY);
            if let Some(t) = last {
                map.insert(consumer.to_string(), t);
            }
            d
        };
        if own_due {
            let own = self.own_pending(level, consumer).await?;
            if !own.is_empty() {
                return Ok(Work::Tasks(own));
            }
        }
        if let Some(t) = self.next_at(level, consumer, block).await? {
            return Ok(Work::Tasks(vec![t]));
        }
        if !self.level_exists(level).await? {
            // Not enqueued yet: the blocking read above returned at once, so wait here.
            tokio::time::sleep(block.max(Duration::from_millis(50))).await;
            return Ok(Work::Idle);
        }
        if !self.level_done(level).await? {
            // Other workers still hold tasks of this level.
            if block.is_zero() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return Ok(Work::Idle);
        }
        if !self.level_exists(level + 1).await? {
            // The last level is done; the crawl is over once no task of any level is still
            // pending (stragglers finish their records, or are reclaimed from a dead worker).
            if !self.settle(level).await? || !self.stragglers().await?.is_empty() {
                if block.is_zero() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                return Ok(Work::Idle);
            }
            self.finish().await?;
            return Ok(Work::Finished);
        }
        self.try_advance(level).await?;
        Ok(Work::Idle)
    }

    /// Tasks of `level` delivered to `consumer` and not acknowledged: deliveries whose reply
    /// it never got (Redis executed the read, then the connection broke or timed out), which
    /// would otherwise wait for the visibility timeout. A worker that asks for work while
    /// some of its tasks still finish (their links taken early) gets those too and must leave
    /// them out.
    pub async fn own_pending(&self, level: u32, consumer: &str) -> Result<Vec<Task>, RedisError> {
        let key = self.level_key(level);
        let read = GroupRead::pending(WORKERS_GROUP, consumer, self.opts.reclaim_batch);
        let entries =
            match stream::read_group(&self.redis, "XREADGROUP (own pending)", &key, read).await {
                Ok(entries) => entries,
                Err(e) if e.code() == Some("NOGROUP") => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
        // A re-read does not count as a delivery; at least 2 marks it as seen before.
        Ok(entries
            .into_iter()
            .filter_map(|e| self.task(&key, &e, 2).ok())
            .collect())
    }

    /// Whether anything was ever queued on `level`.
    async fn level_exists(&self, level: u32) -> Result<bool, RedisError> {
        let n: u64 = self
            .redis
            .query(
                "EXISTS level",
                redis::cmd("EXISTS").arg(self.level_key(level)).clone(),
                None,
            )
            .await?;
        Ok(n == 1)
    }

    /// Every key of this crawl (`haul:{crawl}:*`, found with `SCAN`; a crawl has a few dozen).
    async fn crawl_keys(&self) -> Result<Vec<String>, RedisError> {
        self.checked()?;
        let pattern = keys::crawl_pattern(&self.crawl);
        let mut cursor: u64 = 0;
        let mut found = Vec::new();
        loop {
            let cmd = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .clone();
            let (next, keys): (u64, Vec<String>) =
                self.redis.query("SCAN crawl keys", cmd, None).await?;
            found.extend(keys);
            if next == 0 {
                return Ok(found);
            }
            cursor = next;
        }
    }

    /// Deletes every key of this crawl (`haul:{crawl}:*`: levels, visited set, dead letters,
    /// records, markers), so the crawl id can be used afresh; returns how many keys went.
    /// Only while no worker or collector of the crawl runs.
    pub async fn purge(&self) -> Result<u64, RedisError> {
        let mut deleted = 0;
        for chunk in self.crawl_keys().await?.chunks(500) {
            let cmd = redis::cmd("DEL").arg(chunk).clone();
            deleted += self.redis.query::<u64>("DEL crawl keys", cmd, None).await?;
        }
        Ok(deleted)
    }

    /// Gives every key of this crawl `ttl` to live (`EXPIRE`); returns how many keys.
    pub async fn expire(&self, ttl: Duration) -> Result<u64, RedisError> {
        let keys = self.crawl_keys().await?;
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("EXPIRE")
                .arg(key)
                .arg(ttl.as_secs().max(1))
                .ignore();
        }
        if !keys.is_empty() {
            self.redis.pipe::<()>("EXPIRE crawl keys", pipe).await?;
        }
        Ok(keys.len() as u64)
    }

    /// Marks the crawl finished (by the worker that completes its last level), so workers
    /// and collectors can stop, and gives every key of the crawl the
    /// [`keep_finished`](FrontierOptions::keep_finished) time to live.
    pub async fn finish(&self) -> Result<(), RedisError> {
        self.checked()?;
        self.redis
            .query::<()>(
                "SET finished",
                redis::cmd("SET")
                    .arg(keys::finished(&self.crawl))
                    .arg(1)
                    .clone(),
                None,
            )
            .await?;
        if let Some(ttl) = self.opts.keep_finished {
            let n = self.expire(ttl).await?;
            tracing::debug!(
                crawl = self.crawl,
                keys = n,
                ttl_secs = ttl.as_secs(),
                "finished crawl expires"
            );
        }
        Ok(())
    }

    /// Whether [`finish`](Self::finish) was called.
    pub async fn is_finished(&self) -> Result<bool, RedisError> {
        let n: u64 = self
            .redis
            .query(
                "EXISTS finished",
                redis::cmd("EXISTS")
                    .arg(keys::finished(&self.crawl))
                    .clone(),
                None,
            )
            .await?;
        Ok(n == 1)
    }
}
