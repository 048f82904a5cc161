//! A named at-least-once job queue per crawl (for work other than URLs, such as LLM tasks):
//! JSON payloads on a stream with a consumer group, reclaim and a dead-letter stream.

use std::marker::PhantomData;
use std::time::Duration;

use redis::streams::StreamId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::conn::{Redis, RedisError};
use crate::frontier::WORKERS_GROUP;
use crate::stream::{self, GroupRead};

/// One job claimed from a [`JobQueue`].
#[derive(Debug, Clone, PartialEq)]
pub struct Job<T> {
    /// Stream entry id (what [`JobQueue::ack`] acknowledges).
    pub id: String,
    /// The payload.
    pub payload: T,
    /// How many times it has been delivered, this delivery included (1 = first time).
    pub deliveries: u64,
}

/// Jobs reclaimed by [`JobQueue::reclaim`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReclaimedJobs<T> {
    /// Jobs of idle (presumably dead) consumers, now owned by the caller.
    pub jobs: Vec<Job<T>>,
    /// Jobs delivered more than `max_deliveries` times, moved to the dead-letter stream.
    pub dead: Vec<Job<T>>,
}

/// The queue `haul:{crawl}:queue:{name}` (field `job`: the payload as JSON; consumer group
/// [`WORKERS_GROUP`]) with dead letters in `haul:{crawl}:queue:{name}:dead`. Same contract as
/// the frontier: ack only after the job's effects are durable; payloads that do not decode
/// as `T` go straight to the dead-letter stream.
#[derive(Debug)]
pub struct JobQueue<T> {
    redis: Redis,
    key: String,
    dead: String,
    max_deliveries: u64,
    _payload: PhantomData<fn() -> T>,
}

impl<T> Clone for JobQueue<T> {
    fn clone(&self) -> Self {
        Self {
            redis: self.redis.clone(),
            key: self.key.clone(),
            dead: self.dead.clone(),
            max_deliveries: self.max_deliveries,
            _payload: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> JobQueue<T> {
    /// Opens (creating if needed) queue `name` of crawl `crawl`; a job delivered more than
    /// `max_deliveries` times is dead-lettered on its next reclaim. Fails with
    /// [`RedisError::InvalidCrawlId`] for an id that cannot name a crawl.
    pub async fn open(
        redis: &Redis,
        crawl: &str,
        name: &str,
        max_deliveries: u64,
    ) -> Result<Self, RedisError> {
        crate::keys::check_crawl_id(crawl)?;
        let key = crate::keys::queue(crawl, name);
        let cmd = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&key)
            .arg(WORKERS_GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .clone();
        match redis.query::<()>("XGROUP CREATE queue", cmd, None).await {
            Err(e) if e.code() != Some("BUSYGROUP") => return Err(e),
            _ => {}
        }
        Ok(Self {
            redis: redis.clone(),
            dead: crate::keys::queue_dead(crawl, name),
            key,
            max_deliveries,
            _payload: PhantomData,
        })
    }

    /// The stream key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Appends `jobs` (one pipelined round trip); returns their ids.
    pub async fn push(&self, jobs: &[T]) -> Result<Vec<String>, RedisError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for j in jobs {
            let json = serde_json::to_string(j).map_err(|e| {
                self.redis.malformed(
                    &self.key,
                    "(new)",
                    format!("payload does not serialise: {e}"),
                )
            })?;
            pipe.cmd("XADD")
                .arg(&self.key)
                .arg("*")
                .arg("job")
                .arg(json);
        }
        self.redis.pipe("XADD jobs", pipe).await
    }

    fn decode(&self, e: &StreamId, deliveries: u64) -> Result<Job<T>, RedisError> {
        let json = e
            .get::<String>("job")
            .ok_or_else(|| self.redis.malformed(&self.key, &e.id, "no field \"job\""))?;
        let payload = serde_json::from_str(&json)
            .map_err(|err| self.redis.malformed(&self.key, &e.id, err.to_string()))?;
        Ok(Job {
            id: e.id.clone(),
            payload,
            deliveries,
        })
    }

    async fn bury(&self, id: &str, deliveries: u64, consumer: &str) -> Result<bool, RedisError> {
        stream::dead_letter(
            &self.redis,
            &self.key,
            &self.dead,
            WORKERS_GROUP,
            id,
            deliveries,
            consumer,
        )
        .await
    }

    /// Claims a new job for `consumer`, waiting up to `block` (zero = do not wait).
    pub async fn next(
        &self,
        consumer: &str,
        block: Duration,
    ) -> Result<Option<Job<T>>, RedisError> {
        let read = GroupRead::new_entries(WORKERS_GROUP, consumer, 1, block);
        let entries = stream::read_group(&self.redis, "XREADGROUP jobs", &self.key, read).await?;
        let Some(e) = entries.into_iter().next() else {
            return Ok(None);
        };
        match self.decode(&e, 1) {
            Ok(job) => Ok(Some(job)),
            Err(err) => {
                warn!("{err}; dead-lettered");
                self.bury(&e.id, 1, consumer).await?;
                Ok(None)
            }
        }
    }

    /// Acknowledges `job` once its effects are durable, and deletes it from the stream (no
    /// one needs it any more; this keeps Redis' memory flat over a long crawl); false if it
    /// was no longer pending.
    pub async fn ack(&self, job: &Job<T>) -> Result<bool, RedisError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("XACK")
            .arg(&self.key)
            .arg(WORKERS_GROUP)
            .arg(&job.id);
        pipe.cmd("XDEL").arg(&self.key).arg(&job.id).ignore();
        let (n,): (u64,) = self.redis.pipe("XACK + XDEL job", pipe).await?;
        Ok(n == 1)
    }

    /// Takes over up to `max` jobs unacknowledged for at least `min_idle`, for `consumer`;
    /// those now delivered more than `max_deliveries` times are dead-lettered instead.
    pub async fn reclaim(
        &self,
        consumer: &str,
        min_idle: Duration,
        max: usize,
    ) -> Result<ReclaimedJobs<T>, RedisError> {
        let mut out = ReclaimedJobs {
            jobs: Vec::new(),
            dead: Vec::new(),
        };
        let claimed = stream::claim_idle(
            &self.redis,
            &self.key,
            WORKERS_GROUP,
            consumer,
            min_idle,
            max,
        )
        .await?
        .unwrap_or_default();
        for (e, deliveries) in claimed {
            let job = self.decode(&e, deliveries);
            if deliveries > self.max_deliveries || job.is_err() {
                let moved = self.bury(&e.id, deliveries, consumer).await?;
                match job {
                    Ok(job) if moved => out.dead.push(job),
                    Ok(_) => {}
                    Err(err) => warn!("{err}; dead-lettered"),
                }
            } else if let Ok(job) = job {
                out.jobs.push(job);
            }
        }
        Ok(out)
    }

    /// Dead-lettered jobs, oldest first (undecodable ones are skipped).
    pub async fn dead_letters(&self) -> Result<Vec<Job<T>>, RedisError> {
        let dead = stream::dead_letters(&self.redis, "XRANGE dead jobs", &self.dead).await?;
        Ok(dead
            .into_iter()
            .filter_map(|d| {
                let mut job = self.decode(&d.entry, d.deliveries).ok()?;
                job.id = d.original_id.unwrap_or(job.id);
                Some(job)
            })
            .collect())
    }
}
