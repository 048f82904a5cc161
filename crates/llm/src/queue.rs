//! The bounded task queue shared by all sites: one sub-queue per site, served round robin,
//! so a site with thousands of pages cannot starve a site with ten.
//!
//! Hand-rolled (a map of `VecDeque`s and two semaphores): no well-kept crate offers a bounded,
//! closable, per-key round-robin async queue.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use haul_core::{LlmAnswer, LlmError, LlmTask};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;

/// Where a task's outcome goes.
pub(crate) type Reply = oneshot::Sender<Result<LlmAnswer, LlmError>>;

/// A queued task.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) task: LlmTask,
    pub(crate) reply: Reply,
    pub(crate) enqueued: Instant,
}

#[derive(Debug)]
struct Entry {
    job: Job,
    /// Holds one unit of queue capacity until the job leaves the queue.
    _slot: OwnedSemaphorePermit,
}

#[derive(Debug, Default)]
struct Inner {
    sites: HashMap<String, VecDeque<Entry>>,
    /// Sites with queued jobs, in serving order.
    order: VecDeque<String>,
    len: usize,
    peak: usize,
    closed: bool,
}

/// The fair, bounded, closable queue.
#[derive(Debug)]
pub(crate) struct FairQueue {
    inner: Mutex<Inner>,
    capacity: Arc<Semaphore>,
    items: Semaphore,
}

impl FairQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: Arc::new(Semaphore::new(capacity)),
            items: Semaphore::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a job, waiting while the queue is full. Gives the job back when the queue is
    /// closed.
    pub(crate) async fn push(&self, job: Job) -> Result<(), Job> {
        let Ok(slot) = self.capacity.clone().acquire_owned().await else {
            return Err(job);
        };
        {
            let mut inner = self.lock();
            if inner.closed {
                return Err(job);
            }
            let site = job.task.site.clone();
            let queue = inner.sites.entry(site.clone()).or_default();
            let was_empty = queue.is_empty();
            queue.push_back(Entry { job, _slot: slot });
            if was_empty {
                inner.order.push_back(site);
            }
            inner.len += 1;
            inner.peak = inner.peak.max(inner.len);
        }
        self.items.add_permits(1);
        Ok(())
    }

    /// The next job, sites taking turns; `None` once the queue is closed.
    pub(crate) async fn pop(&self) -> Option<Job> {
        self.items.acquire().await.ok()?.forget();
        let mut inner = self.lock();
        let site = inner.order.pop_front()?;
        let queue = inner.sites.get_mut(&site)?;
        let entry = queue.pop_front()?;
        if queue.is_empty() {
            inner.sites.remove(&site);
        } else {
            inner.order.push_back(site);
        }
        inner.len -= 1;
        Some(entry.job)
    }

    /// Closes the queue and hands back every job still in it.
    pub(crate) fn close(&self) -> Vec<Job> {
        let drained = {
            let mut inner = self.lock();
            inner.closed = true;
            inner.len = 0;
            inner.order.clear();
            std::mem::take(&mut inner.sites)
        };
        self.items.close();
        self.capacity.close();
        drained
            .into_values()
            .flat_map(|q| q.into_iter().map(|e| e.job))
            .collect()
    }

    /// (depth now, peak depth).
    pub(crate) fn depth(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.len, inner.peak)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn job(site: &str, n: usize) -> (Job, oneshot::Receiver<Result<LlmAnswer, LlmError>>) {
        let (tx, rx) = oneshot::channel();
        let task = LlmTask {
            site: site.into(),
            system: String::new(),
            prompt: n.to_string(),
            json: false,
        };
        (
            Job {
                task,
                reply: tx,
                enqueued: Instant::now(),
            },
            rx,
        )
    }

    #[tokio::test]
    async fn sites_take_turns() {
        let q = FairQueue::new(100);
        let mut receivers = Vec::new();
        for n in 0..6 {
            let (j, rx) = job("big", n);
            q.push(j).await.unwrap();
            receivers.push(rx);
        }
        for (site, n) in [("small", 0), ("other", 0), ("small", 1)] {
            let (j, rx) = job(site, n);
            q.push(j).await.unwrap();
            receivers.push(rx);
        }
        assert_eq!(q.depth(), (9, 9));
        let mut got = Vec::new();
        for _ in 0..9 {
            let j = q.pop().await.unwrap();
            got.push(format!("{}{}", j.task.site, j.task.prompt));
        }
        assert_eq!(
            got,
            [
                "big0", "small0", "other0", "big1", "small1", "big2", "big3", "big4", "big5"
            ]
        );
        assert_eq!(q.depth(), (0, 9));
    }

    #[tokio::test]
    async fn push_waits_when_full_and_close_returns_everything() {
        let q = Arc::new(FairQueue::new(2));
        for n in 0..2 {
            q.push(job("s", n).0).await.unwrap();
        }
        let q2 = q.clone();
        let blocked = tokio::spawn(async move { q2.push(job("s", 2).0).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!blocked.is_finished(), "a full queue must make push wait");
        let first = q.pop().await.unwrap();
        assert_eq!(first.task.prompt, "0");
        blocked.await.unwrap().unwrap();
        let drained = q.close();
        let mut prompts: Vec<String> = drained.into_iter().map(|j| j.task.prompt).collect();
        prompts.sort();
        assert_eq!(prompts, ["1", "2"]);
        assert!(q.pop().await.is_none());
        assert!(q.push(job("s", 3).0).await.is_err());
    }
}
