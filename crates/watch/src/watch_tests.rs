//! Scheduler tests on tokio's paused clock: no real sleep anywhere.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use haul_output::schedule::ScheduleStore;

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

/// Runs of several sites from any number of watches: how many of each site run at once
/// (the most seen), and when each started.
struct CountingRun {
    clock: Clock,
    takes: Duration,
    running: Mutex<HashMap<String, usize>>,
    most: Mutex<HashMap<String, usize>>,
    starts: Mutex<Vec<(String, DateTime<Utc>)>>,
}

impl CountingRun {
    fn new(clock: Clock, takes: Duration) -> Arc<Self> {
        Arc::new(Self {
            clock,
            takes,
            running: Mutex::default(),
            most: Mutex::default(),
            starts: Mutex::default(),
        })
    }

    fn starts_of(&self, site: &str) -> Vec<DateTime<Utc>> {
        (self.starts.lock().unwrap().iter())
            .filter(|(s, _)| s == site)
            .map(|(_, t)| *t)
            .collect()
    }
}

#[async_trait]
impl SiteRun for CountingRun {
    async fn run(&self, site: &str, cancel: CancellationToken) -> RunSummary {
        {
            let mut running = self.running.lock().unwrap();
            let now = running.entry(site.into()).or_default();
            *now += 1;
            let mut most = self.most.lock().unwrap();
            let m = most.entry(site.into()).or_default();
            *m = (*m).max(*now);
        }
        self.starts
            .lock()
            .unwrap()
            .push((site.into(), self.clock.now()));
        let interrupted = tokio::select! {
            () = tokio::time::sleep(self.takes) => false,
            () = cancel.cancelled() => true,
        };
        *self.running.lock().unwrap().get_mut(site).unwrap() -= 1;
        RunSummary {
            interrupted,
            ..RunSummary::default()
        }
    }
}

fn two_sites() -> Vec<WatchedSite> {
    ["demo", "shop"]
        .into_iter()
        .map(|name| WatchedSite {
            name: name.into(),
            schedule: Schedule::every("10m").unwrap(),
        })
        .collect()
}

/// Two watches of the same two sites every 10 min from 00:00, each with its own `NextRuns`
/// (`a`, `b`: two connections to one store file, as two processes have), runs of 3 min
/// (longer than the 60 s lease, so only its renewal keeps the other watch out), stopped at
/// 01:02: the runner that both call.
async fn two_watches(a: Arc<dyn NextRuns>, b: Arc<dyn NextRuns>) -> Arc<CountingRun> {
    let clock = Clock::starting_at(t("2026-01-01T00:00:00Z"));
    let runner = CountingRun::new(clock, 3 * MIN);
    let cancel = CancellationToken::new();
    let watch = || Watch::new(two_sites(), no_jitter()).with_clock(clock);
    let (wa, wb) = (watch(), watch());
    assert_ne!(wa.owner(), wb.owner(), "one owner id per watch");
    let ta = tokio::spawn(wa.run(runner.clone(), a, cancel.clone()));
    let tb = tokio::spawn(wb.run(runner.clone(), b, cancel.clone()));
    tokio::time::sleep(62 * MIN).await;
    cancel.cancel();
    ta.await.unwrap().unwrap();
    tb.await.unwrap().unwrap();
    runner
}

/// What one watch alone does from 00:00 to 01:02: a run every 10 min, the last (01:00)
/// interrupted by the stop.
fn assert_run_once_per_slot(runner: &CountingRun) {
    let slots: Vec<DateTime<Utc>> = (0..7)
        .map(|k| t("2026-01-01T00:00:00Z") + chrono::Duration::minutes(10 * k))
        .collect();
    for site in ["demo", "shop"] {
        assert_eq!(
            runner.most.lock().unwrap().get(site),
            Some(&1),
            "{site}: most runs at once"
        );
        assert_eq!(runner.starts_of(site), slots, "{site}: each slot run once");
    }
}

#[tokio::test(start_paused = true)]
async fn two_watches_on_one_store_file_never_run_a_site_twice_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let open = || Arc::new(StoreNextRuns::open(&path).unwrap()) as Arc<dyn NextRuns>;
    let runner = two_watches(open(), open()).await;
    assert_run_once_per_slot(&runner);
    let store = ScheduleStore::open(&path).unwrap();
    for site in ["demo", "shop"] {
        let kept = store.get(site).unwrap().unwrap();
        // The 01:00 runs were stopped: not counted, still due, their leases released.
        assert_eq!(kept.runs, 6, "{site}");
        assert_eq!(kept.next_run, t("2026-01-01T01:00:00Z"));
        assert_eq!(kept.lease, None, "{site}: lease released at the stop");
    }
}

#[tokio::test(start_paused = true)]
async fn two_watches_sharing_memory_next_runs_never_run_a_site_twice_at_once() {
    let memory = MemoryNextRuns::default();
    let runner = two_watches(Arc::new(memory.clone()), Arc::new(memory.clone())).await;
    assert_run_once_per_slot(&runner);
    let kept = memory.load("demo").await.unwrap().unwrap();
    assert_eq!((kept.runs, kept.lease), (6, None));
}

#[tokio::test(start_paused = true)]
async fn a_crashed_watchs_lease_holds_its_site_up_only_until_it_lapses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        // A watch claimed the 00:00 run (lease until 00:01), then died.
        let mut s = ScheduleStore::open(&path).unwrap();
        s.plan("demo", "every 10m", t("2026-01-01T00:00:00Z"))
            .unwrap();
        let claim = s.claim(
            "demo",
            "dead:1:0",
            t("2026-01-01T00:00:00Z"),
            t("2026-01-01T00:01:00Z"),
        );
        assert_eq!(claim.unwrap(), Claim::Claimed);
    }
    let r = watch_for(
        site(Schedule::every("10m").unwrap()),
        no_jitter(),
        "2026-01-01T00:00:00Z",
        MIN,
        15 * MIN,
        Arc::new(StoreNextRuns::open(&path).unwrap()),
    )
    .await;
    assert_eq!(
        r.starts(),
        vec![t("2026-01-01T00:01:00Z"), t("2026-01-01T00:10:00Z")]
    );
}

#[tokio::test(start_paused = true)]
async fn a_lease_lost_while_running_is_not_fatal_and_the_taker_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let clock = Clock::starting_at(t("2026-01-01T00:00:00Z"));
    let runner = FakeRun::new(clock, 5 * MIN);
    let cancel = CancellationToken::new();
    let watch = Watch::new(site(Schedule::every("10m").unwrap()), no_jitter()).with_clock(clock);
    let store = Arc::new(StoreNextRuns::open(&path).unwrap());
    let task = tokio::spawn(watch.run(runner.clone(), store, cancel.clone()));
    tokio::time::sleep(2 * MIN).await;
    // Another watch whose clock runs far ahead (as ours would look after a suspension past
    // the lease) takes the lease of the run under way.
    let thief = StoreNextRuns::open(&path).unwrap();
    let (at, until) = (t("2026-01-01T00:09:00Z"), t("2026-01-01T00:20:00Z"));
    let claim = thief.claim("demo", "thief:2:0", at, until).await.unwrap();
    assert_eq!(claim, Claim::Claimed);
    tokio::time::sleep(13 * MIN).await;
    cancel.cancel();
    task.await.unwrap().unwrap();
    // Our run went on to its end (and was recorded); the 00:10 one waited for the thief's.
    assert_eq!(runner.starts(), vec![t("2026-01-01T00:00:00Z")]);
    let kept = thief.load("demo").await.unwrap().unwrap();
    assert_eq!(kept.runs, 1);
    assert_eq!(
        kept.lease,
        Some(Lease {
            owner: "thief:2:0".into(),
            until
        })
    );
}
