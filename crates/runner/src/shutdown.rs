//! The grace period of a shutdown, shared by the level loop and distributed workers: once the
//! crawl is cancelled, tasks in flight may finish until a deadline, then they are aborted.

use std::time::Duration;

use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Joins the tasks of a [`JoinSet`] one by one; after `cancel` fires, only until `grace` has
/// passed, when the tasks still running are aborted. (Whoever fills the set stops adding
/// tasks once cancelled.)
#[derive(Debug)]
pub struct GraceJoin {
    cancel: CancellationToken,
    grace: Duration,
    deadline: Option<Instant>,
}

/// What [`GraceJoin::next`] gave.
#[derive(Debug)]
pub enum Joined<T> {
    /// A task ended (or panicked, or was cancelled).
    Task(Result<T, JoinError>),
    /// The set is empty.
    Empty,
    /// The grace period ran out: this many tasks were still running and are aborted.
    Aborted(u64),
}

impl GraceJoin {
    /// A joiner that gives tasks `grace` to finish once `cancel` fires.
    pub fn new(cancel: CancellationToken, grace: Duration) -> Self {
        Self {
            cancel,
            grace,
            deadline: None,
        }
    }

    /// The next task to end, as [`JoinSet::join_next`], bounded by the grace period once the
    /// crawl is cancelled.
    pub async fn next<T: 'static>(&mut self, set: &mut JoinSet<T>) -> Joined<T> {
        let joined = loop {
            match self.deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, set.join_next()).await {
                    Ok(joined) => break joined,
                    Err(_) => {
                        let aborted = set.len() as u64;
                        set.abort_all();
                        return Joined::Aborted(aborted);
                    }
                },
                None => tokio::select! {
                    joined = set.join_next() => break joined,
                    () = self.cancel.cancelled() => {
                        self.deadline = Some(Instant::now() + self.grace);
                    }
                },
            }
        };
        match joined {
            Some(res) => Joined::Task(res),
            None => Joined::Empty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tasks_finish_within_grace_after_cancel_and_the_rest_are_aborted() {
        let cancel = CancellationToken::new();
        let mut set = JoinSet::new();
        for secs in [1, 5, 100] {
            set.spawn(async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                secs
            });
        }
        let stop = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            stop.cancel();
        });
        let start = Instant::now();
        let mut join = GraceJoin::new(cancel, Duration::from_secs(10));
        let mut seen = Vec::new();
        loop {
            match join.next(&mut set).await {
                Joined::Task(res) => seen.push((res.unwrap(), start.elapsed().as_secs())),
                Joined::Aborted(n) => {
                    seen.push((n * 1000, start.elapsed().as_secs()));
                    break;
                }
                Joined::Empty => break,
            }
        }
        // 1 s and 5 s end; the 100 s task is aborted when the grace ends (2 s + 10 s).
        assert_eq!(seen, [(1, 1), (5, 5), (1000, 12)]);

        // Without a cancel, an empty set is the end.
        let mut join = GraceJoin::new(CancellationToken::new(), Duration::ZERO);
        assert!(matches!(
            join.next(&mut JoinSet::<()>::new()).await,
            Joined::Empty
        ));
    }
}
