//! A page given up mid-parse stops costing CPU: the million-link page of the hostile shop,
//! parsed and extracted through `Context::blocking` as a site does, stops within a bound after
//! its deadline (the CPU time of the blocking thread read from `/proc/thread-self/stat`),
//! whether the deadline falls in the HTML parse or in the extraction after it.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use haul_core::cancel::CancelFlag;
use haul_core::{
    Context, Document, ExtractError, Extraction, Extractor, FetchError, FetchRequest, Fetcher, Url,
    async_trait,
};
use haul_extract::Page;

/// Links on the page (as on the hostile shop's `/links`): ~20 s of CPU whole in a debug build.
const LINKS: usize = 1_000_000;
/// When the page is given up.
const DEADLINE: Duration = Duration::from_millis(300);
/// The CPU time the work may use after its deadline: the longest step between two looks at
/// the flag takes ~0.5 s in a debug build (a CSS selector over the DOM at `MAX_HTML_NODES`);
/// the whole page costs ~20 s whole without the flag and the budget.
const CPU_BOUND: Duration = Duration::from_millis(2500);
/// Wall time after the deadline, only against a hang: on 2 cores shared with builds, the
/// thread may get a fraction of a core.
const WALL_BOUND: Duration = Duration::from_secs(60);

fn page() -> String {
    let mut body = String::from("<html><body>");
    for i in 0..LINKS {
        body.push_str(&format!("<a href=?{i}>"));
    }
    body
}

/// The `/proc` directory of the calling thread (`/proc/{pid}/task/{tid}`).
fn this_thread() -> std::path::PathBuf {
    // The link reads `{pid}/task/{tid}`, relative to `/proc`.
    std::path::Path::new("/proc").join(std::fs::read_link("/proc/thread-self").unwrap())
}

/// CPU time (user + system) of the thread whose `/proc` directory is `dir`.
fn thread_cpu(dir: &std::path::Path) -> Duration {
    let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = after
        .split(' ')
        .skip(11)
        .take(2)
        .map(|n| n.parse().unwrap())
        .collect();
    // Clock ticks of 1/100 s (USER_HZ on Linux).
    Duration::from_millis((f[0] + f[1]) * 10)
}

/// What a site's parse does with an HTML page (the generic site's `parse`).
fn parse(page: &Page) -> usize {
    let ex = haul_extract::extract_page(page, "test");
    ex.records.len() + haul_extract::page_links(page).len()
}

struct Site;
impl Extractor for Site {
    fn name(&self) -> &'static str {
        "test"
    }
    fn parse(&self, _: &Document) -> Result<Extraction, ExtractError> {
        Ok(Extraction::default())
    }
}
static SITE: Site = Site;

struct NoFetch;
#[async_trait]
impl Fetcher for NoFetch {
    async fn fetch(&self, req: FetchRequest) -> Result<Document, FetchError> {
        Err(FetchError::Robots {
            url: req.url.to_string(),
        })
    }
}

/// What a given-up work did: its CPU time after the deadline, and when it ended.
struct After {
    cpu: Duration,
    late: Duration,
}

/// Waits for the work's thread to report its end, after it was given up when its thread had
/// used `at_deadline` of CPU.
fn after_deadline(rx: &mpsc::Receiver<(Duration, Instant)>, at_deadline: Duration) -> After {
    let given_up = Instant::now();
    let (cpu, ended) = rx.recv_timeout(Duration::from_secs(120)).unwrap();
    After {
        cpu: cpu.saturating_sub(at_deadline),
        late: ended.saturating_duration_since(given_up),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parse_given_up_at_its_deadline_stops_within_a_bound() {
    let cx = Context::new(&SITE, Arc::new(NoFetch));
    let url = Url::parse("http://127.0.0.1:1/links").unwrap();
    let body = Arc::new(page());

    // The deadline falls in the HTML parse.
    let (tx, rx) = mpsc::channel();
    let (thread_tx, thread_rx) = tokio::sync::oneshot::channel();
    let (b, u) = (body.clone(), url.clone());
    let mut work = Box::pin(cx.blocking(&url, move || {
        let me = this_thread();
        let _ = thread_tx.send(me.clone());
        let n = parse(&Page::parse(&b, &u));
        tx.send((thread_cpu(&me), Instant::now())).unwrap();
        n
    }));
    let thread = tokio::select! {
        _ = &mut work => panic!("the work ended before it began"),
        t = thread_rx => t.unwrap(),
    };
    tokio::select! {
        _ = &mut work => panic!("the parse took less than {DEADLINE:?}: no test"),
        _ = tokio::time::sleep(DEADLINE) => {}
    }
    let at_deadline = thread_cpu(&thread);
    drop(work);
    let a = after_deadline(&rx, at_deadline);
    eprintln!(
        "given up in the parse: {:?} of CPU and {:?} after the deadline",
        a.cpu, a.late
    );
    assert!(a.cpu < CPU_BOUND, "{:?}", a.cpu);
    assert!(a.late < WALL_BOUND, "{:?}", a.late);

    // The deadline falls in the extraction after the parse: given up 300 ms after the parse.
    let (tx, rx) = mpsc::channel();
    let (parsed_tx, parsed_rx) = tokio::sync::oneshot::channel();
    let (b, u) = (body.clone(), url.clone());
    let mut work = Box::pin(cx.blocking(&url, move || {
        let me = this_thread();
        let page = Page::parse(&b, &u);
        let _ = parsed_tx.send(me.clone());
        let n = parse(&page);
        tx.send((thread_cpu(&me), Instant::now())).unwrap();
        n
    }));
    let thread = tokio::select! {
        _ = &mut work => panic!("the work ended before its parse was done"),
        t = parsed_rx => t.unwrap(),
    };
    tokio::select! {
        _ = &mut work => panic!("the extraction took less than {DEADLINE:?}: no test"),
        _ = tokio::time::sleep(DEADLINE) => {}
    }
    let at_deadline = thread_cpu(&thread);
    drop(work);
    let a = after_deadline(&rx, at_deadline);
    eprintln!(
        "given up in the extraction: {:?} of CPU and {:?} after the deadline",
        a.cpu, a.late
    );
    assert!(a.cpu < CPU_BOUND, "{:?}", a.cpu);
    assert!(a.late < WALL_BOUND, "{:?}", a.late);
}

#[test]
fn work_that_is_not_cancelled_runs_to_the_end() {
    // The budget cuts the million-link page at `MAX_HTML_NODES` nodes; the flag alone stops
    // nothing.
    let body = "<p>x</p>".repeat(50_000);
    let url = Url::parse("http://127.0.0.1:1/p").unwrap();
    let flag = CancelFlag::new();
    let page = flag.run(|| Page::parse(&body, &url));
    let p = scraper::Selector::parse("p").unwrap();
    assert_eq!(page.html().select(&p).count(), 50_000);
}
