//! Scheduler tests on tokio's paused clock: no real sleep anywhere.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::{MemoryNextRuns, StoreNextRuns};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A run that takes `takes` (of paused time) and records when it started, failing the test if
/// two runs of one site overlap.
struct FakeRun {
    clock: Clock,
    takes: Duration,
    starts: Mutex<Vec<(String, DateTime<Utc>)>>,
    running: AtomicBool,
}

impl FakeRun {
    fn new(clock: Clock, takes: Duration) -> Arc<Self> {
        Arc::new(Self {
            clock,
            takes,
            starts: Mutex::new(Vec::new()),
            running: AtomicBool::new(false),
        })
    }

    fn starts(&self) -> Vec<DateTime<Utc>> {
        self.starts
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| *t)
            .collect()
    }
}

#[async_trait]
impl SiteRun for FakeRun {
    async fn run(&self, site: &str, cancel: CancellationToken) -> RunSummary {
        assert!(
            !self.running.swap(true, Ordering::SeqCst),
            "two runs of {site} at once"
        );
        self.starts
            .lock()
            .unwrap()
            .push((site.into(), self.clock.now()));
        let interrupted = tokio::select! {
            () = tokio::time::sleep(self.takes) => false,
            () = cancel.cancelled() => true,
        };
        self.running.store(false, Ordering::SeqCst);
        RunSummary {
            pages: 3,
            records: 2,
            interrupted,
            ..RunSummary::default()
        }
    }
}

fn site(schedule: Schedule) -> Vec<WatchedSite> {
    vec![WatchedSite {
        name: "demo".into(),
        schedule,
    }]
}

/// Runs a watch of `sites` from wall time `start` for `watch_for`, then cancels it.
async fn watch_for(
    sites: Vec<WatchedSite>,
    jitter: Jitter,
    start: &str,
    takes: Duration,
    watch_for: Duration,
    store: Arc<dyn NextRuns>,
) -> Arc<FakeRun> {
    let clock = Clock::starting_at(t(start));
    let runner = FakeRun::new(clock, takes);
    let cancel = CancellationToken::new();
    let watch = Watch::new(sites, jitter).with_clock(clock);
    let task = tokio::spawn(watch.run(runner.clone(), store, cancel.clone()));
    tokio::time::sleep(watch_for).await;
    cancel.cancel();
    task.await.unwrap().unwrap();
    runner
}

fn no_jitter() -> Jitter {
    Jitter::new(0.0, 1).unwrap()
}

const MIN: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn an_interval_runs_at_once_then_every_interval_from_the_planned_start() {
    let runner = watch_for(
        site(Schedule::every("10m").unwrap()),
        no_jitter(),
        "2026-01-01T00:00:00Z",
        Duration::from_secs(90),
        25 * MIN,
        Arc::new(MemoryNextRuns::default()),
    )
    .await;
    assert_eq!(
        runner.starts(),
        vec![
            t("2026-01-01T00:00:00Z"),
            t("2026-01-01T00:10:00Z"),
            t("2026-01-01T00:20:00Z")
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cron_expression_runs_on_its_times() {
    let runner = watch_for(
        site(Schedule::cron("*/15 * * * *").unwrap()),
        no_jitter(),
        "2026-01-01T00:07:00Z",
        Duration::from_secs(30),
        40 * MIN,
        Arc::new(MemoryNextRuns::default()),
    )
    .await;
    assert_eq!(
        runner.starts(),
        vec![
            t("2026-01-01T00:07:00Z"),
            t("2026-01-01T00:15:00Z"),
            t("2026-01-01T00:30:00Z"),
            t("2026-01-01T00:45:00Z"),
        ]
    );
    assert!(Schedule::cron("61 * * * *").is_err());
    assert!(Schedule::every("soon").is_err());
    assert!(Schedule::every("10ms").is_err());
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_its_fraction_and_is_the_same_for_the_same_seed() {
    let run = || async {
        watch_for(
            site(Schedule::every("100s").unwrap()),
            Jitter::new(0.5, 42).unwrap(),
            "2026-01-01T00:00:00Z",
            Duration::from_secs(1),
            Duration::from_secs(2000),
            Arc::new(MemoryNextRuns::default()),
        )
        .await
        .starts()
    };
    let starts = run().await;
    assert!(starts.len() >= 14, "{starts:?}");
    let t0 = starts[0];
    let mut jitters = Vec::new();
    for (k, s) in starts.iter().enumerate().skip(1) {
        let slot = t0 + chrono::Duration::seconds(100 * k as i64);
        let late = (*s - slot).num_milliseconds();
        assert!(
            (0..50_000).contains(&late),
            "run {k} is {late} ms after its slot"
        );
        jitters.push(late);
    }
    assert!(
        jitters.iter().any(|j| *j > 5_000),
        "jitter drawn: {jitters:?}"
    );
    assert_eq!(run().await, starts, "same seed, same runs");
    assert!(Jitter::new(1.5, 1).is_err());
}

#[tokio::test(start_paused = true)]
async fn a_run_that_overruns_its_interval_is_followed_once_right_after_it_ends() {
    let runner = watch_for(
        site(Schedule::every("10m").unwrap()),
        no_jitter(),
        "2026-01-01T00:00:00Z",
        25 * MIN,
        60 * MIN,
        Arc::new(MemoryNextRuns::default()),
    )
    .await;
    // (FakeRun panics on two runs at once.) Not 00:10 and 00:20 piled up at 00:25.
    assert_eq!(
        runner.starts(),
        vec![
            t("2026-01-01T00:00:00Z"),
            t("2026-01-01T00:25:00Z"),
            t("2026-01-01T00:50:00Z"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_restarted_watch_keeps_the_next_run_and_runs_a_due_one_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = || Arc::new(StoreNextRuns::open(&path).unwrap()) as Arc<dyn NextRuns>;
    let every = || site(Schedule::every("1h").unwrap());
    // First watch: runs at once (00:00), stopped at 00:10.
    let r = watch_for(
        every(),
        no_jitter(),
        "2026-01-01T00:00:00Z",
        MIN,
        10 * MIN,
        store(),
    )
    .await;
    assert_eq!(r.starts(), vec![t("2026-01-01T00:00:00Z")]);
    // Restarted at 00:20: nothing until 01:00.
    let r = watch_for(
        every(),
        no_jitter(),
        "2026-01-01T00:20:00Z",
        MIN,
        50 * MIN,
        store(),
    )
    .await;
    assert_eq!(r.starts(), vec![t("2026-01-01T01:00:00Z")]);
    // Restarted at 05:30, long after the 02:00 run was due: it runs at once, once, and the
    // next one is on the hour grid after it.
    let r = watch_for(
        every(),
        no_jitter(),
        "2026-01-01T05:30:00Z",
        MIN,
        40 * MIN,
        store(),
    )
    .await;
    assert_eq!(
        r.starts(),
        vec![t("2026-01-01T05:30:00Z"), t("2026-01-01T06:00:00Z")]
    );
    let kept = ScheduleStore::open(&path)
        .unwrap()
        .get("demo")
        .unwrap()
        .unwrap();
    assert_eq!(kept.next_run, t("2026-01-01T07:00:00Z"));
    assert_eq!(kept.runs, 4);
}

#[tokio::test(start_paused = true)]
async fn a_run_stopped_by_the_cancellation_is_not_counted_and_runs_again_at_restart() {
    let store: Arc<dyn NextRuns> = Arc::new(MemoryNextRuns::default());
    let every = || site(Schedule::every("1h").unwrap());
    // The first run takes 30 min; stopped at 00:10, in the middle of it.
    let r = watch_for(
        every(),
        no_jitter(),
        "2026-01-01T00:00:00Z",
        30 * MIN,
        10 * MIN,
        store.clone(),
    )
    .await;
    assert_eq!(r.starts().len(), 1);
    let kept = store.load("demo").await.unwrap().unwrap();
    assert_eq!((kept.runs, kept.next_run), (0, t("2026-01-01T00:00:00Z")));
    let r = watch_for(
        every(),
        no_jitter(),
        "2026-01-01T00:15:00Z",
        MIN,
        5 * MIN,
        store,
    )
    .await;
    assert_eq!(r.starts(), vec![t("2026-01-01T00:15:00Z")]);
}

use haul_output::schedule::ScheduleStore;
