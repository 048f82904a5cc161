//! `haul collect` (and the coordinator): reads the records workers publish, writes them to
//! an output, and acknowledges them only once the output has flushed them.

use std::time::Duration;

use haul_redis::{Frontier, FrontierOptions, RecordStream, Redis, StreamedRecord};
use haul_runner::{CancellationToken, RecordSender};
use tracing::{debug, info, warn};

use crate::ClusterError;
use crate::alive::Liveness;

/// Settings of a collector.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// The crawl id.
    pub crawl: String,
    /// Consumer name in the collector group (a collector restarted under the same name first
    /// re-reads what it read but never acknowledged).
    pub name: String,
    /// Records read per round trip.
    pub batch: usize,
    /// Records another collector read but did not acknowledge for this long are taken over.
    pub reclaim_after: Duration,
}

impl CollectOptions {
    /// Defaults for crawl `crawl`: consumer `collector`, 500 records per read, takeover
    /// after 60 s.
    pub fn new(crawl: &str) -> Self {
        Self {
            crawl: crawl.into(),
            name: "collector".into(),
            batch: 500,
            reclaim_after: Duration::from_secs(60),
        }
    }
}

/// What a collector did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// Records read from the stream (duplicates included; the output drops those).
    pub read: u64,
    /// Whether it stopped because the crawl finished (false: cancelled).
    pub finished: bool,
}

/// Reads crawl `opts.crawl`'s records into `out` until the crawl is finished and every record
/// is written, or `cancel` fires. Each batch is acknowledged only after `out` flushed it, so
/// a collector killed at any point loses nothing (a restart re-reads the unacknowledged
/// batch; the output de-duplicates by (site, url)). A crawl whose keys vanish from Redis
/// meanwhile is [`ClusterError::CrawlVanished`] within about a second.
pub async fn collect(
    redis: &Redis,
    opts: &CollectOptions,
    out: &RecordSender,
    cancel: &CancellationToken,
) -> Result<Collected, ClusterError> {
    let stream = RecordStream::open(redis, &opts.crawl).await?;
    let frontier = Frontier::new(redis, &opts.crawl, FrontierOptions::default());
    let alive = Liveness::new(redis, &opts.crawl)?;
    let mut done = Collected::default();
    loop {
        if cancel.is_cancelled() {
            return Ok(done);
        }
        let batch = match next_batch(&stream, opts, cancel).await {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(done),
            // A failed read may be the crawl vanishing under it (`NOGROUP`, or `UNBLOCKED`
            // when the stream went away under a blocked read): say so if it did.
            Err(ClusterError::Redis(e)) => {
                alive.check_now().await?;
                return Err(e.into());
            }
            Err(e) => return Err(e),
        };
        if batch.is_empty() {
            // Finished is set when the last level is done, after its records were published.
            if frontier.is_finished().await? && stream.backlog().await? == 0 {
                done.finished = true;
                info!(
                    crawl = opts.crawl,
                    records = done.read,
                    "crawl finished, all records written"
                );
                let dead = frontier.dead_letters().await?;
                for t in &dead {
                    warn!(
                        site = t.site,
                        url = t.url,
                        deliveries = t.deliveries,
                        "URL given up after repeated worker failures (dead letter)"
                    );
                }
                return Ok(done);
            }
            alive.check().await?;
            continue;
        }
        let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
        for r in batch {
            out.send(r.record).await?;
        }
        out.flushed().await?;
        stream.ack(&ids).await?;
        done.read += ids.len() as u64;
        debug!(records = ids.len(), "records written and acknowledged");
    }
}

/// The next records to write: those another collector left unacknowledged first, else new
/// ones (waiting briefly); `None` when cancelled.
async fn next_batch(
    stream: &RecordStream,
    opts: &CollectOptions,
    cancel: &CancellationToken,
) -> Result<Option<Vec<StreamedRecord>>, ClusterError> {
    let batch = stream
        .reclaim(&opts.name, opts.reclaim_after, opts.batch)
        .await?;
    if !batch.is_empty() {
        return Ok(Some(batch));
    }
    tokio::select! {
        b = stream.read(&opts.name, opts.batch, Duration::from_millis(300)) => Ok(Some(b?)),
        () = cancel.cancelled() => Ok(None),
    }
}
