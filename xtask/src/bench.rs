//! `cargo xtask bench`: measured figures for BENCHMARKS.md (never asserted in tests).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::util;

/// Kills a child process when dropped (servers must not outlive the benchmark).
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `haul serve ARGS` and returns it with the URL it printed.
pub(crate) fn serve(haul: &Path, args: &[&str]) -> Result<(KillOnDrop, String)> {
    let mut child = Command::new(haul)
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {} serve", haul.display()))?;
    let stdout = child.stdout.take().context("server has no stdout")?;
    let guard = KillOnDrop(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .with_context(|| format!("server printed no address: {line:?}"))?
        .to_string();
    Ok((guard, url))
}

/// Starts `haul serve SITE` with `products` product pages and `latency_ms` of latency per
/// response.
fn serve_shop(
    haul: &Path,
    site: &str,
    products: usize,
    latency_ms: u32,
) -> Result<(KillOnDrop, String)> {
    let (products, latency) = (products.to_string(), latency_ms.to_string());
    serve(
        haul,
        &[site, "--products", &products, "--latency-ms", &latency],
    )
}

/// A fresh folder for one benchmark's files (`haul-bench-NAME-PID` in the temporary folder).
fn bench_dir(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("haul-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `haul ARGS -o OUT --stats STATS`, its standard error discarded.
fn spawn_crawl(haul: &Path, args: &[&str], out: &Path, stats: &Path) -> Result<Child> {
    Ok(Command::new(haul)
        .args(args)
        .arg("-o")
        .arg(out)
        .arg("--stats")
        .arg(stats)
        .stderr(Stdio::null())
        .spawn()?)
}

/// Peak resident set (VmHWM) of `pid` in KiB, if it is still running.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds (user + system) used so far by `pid`.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Waits for `child` to exit, sampling every 20 ms the CPU seconds of each of `pids` into
/// `cpu` (the last value read: a process that exits keeps its final figure) and the peak
/// resident set of the first one. Returns the exit status and that peak in KiB.
pub(crate) fn sample_until_exit(
    child: &mut Child,
    pids: &[u32],
    cpu: &mut [f64],
) -> Result<(std::process::ExitStatus, u64)> {
    let mut peak = 0u64;
    loop {
        if let Some(s) = child.try_wait()? {
            return Ok((s, peak));
        }
        if let Some(first) = pids.first() {
            peak = peak.max(vm_hwm_kib(*first).unwrap_or(0));
        }
        for (c, pid) in cpu.iter_mut().zip(pids) {
            *c = cpu_secs(*pid).unwrap_or(*c);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn bench(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("http") => http(&args[1..]),
        Some("llm") if args.get(1).map(String::as_str) == Some("e2e") => {
            // The example runs the release `haul` next to it (target/release/haul).
            util::build_haul_release()?;
            util::step(
                "bench llm e2e",
                &["run", "--release", "-p", "haul-e2e", "--example", "llm_e2e"],
                &[],
            )
        }
        Some("llm") => util::step(
            "bench llm",
            &[
                "run",
                "--release",
                "-p",
                "haul-llm",
                "--features",
                "fake",
                "--example",
                "bench",
            ],
            &[],
        ),
        Some("browser") => browser(&args[1..]),
        Some("distributed") => distributed(&args[1..]),
        Some("recrawl") => crate::bench_recrawl::recrawl(&args[1..]),
        Some(other) => {
            bail!(
                "unknown benchmark {other:?}; available: http, llm, browser, distributed, recrawl"
            )
        }
        None => {
            bail!("usage: cargo xtask bench http|llm|browser [pool|mixed]|distributed|recrawl")
        }
    }
}

/// A generated site of 2,000 product pages (+41 listings) served with 20 ms latency, crawled
/// over plain HTTP by the release binary.
fn http(args: &[String]) -> Result<()> {
    let products = flag(args, "--products", 2000)?;
    let haul = util::build_haul_release()?;
    let (_server, url) = serve_shop(&haul, "generated", products, 20)?;
    let dir = bench_dir("http")?;
    let out = dir.join("out.jsonl");
    let stats = dir.join("stats.json");
    let started = Instant::now();
    let crawl = ["crawl", "demo", "--start-url", &url, "--max-level", "2"];
    let limits = ["--concurrency", "64", "--per-domain-concurrency", "64"];
    let args = [&crawl[..], &limits, &["--no-progress"]].concat();
    let mut child = spawn_crawl(&haul, &args, &out, &stats)?;
    let pid = child.id();
    let mut cpu = [0f64];
    let (status, peak) = sample_until_exit(&mut child, &[pid], &mut cpu)?;
    let cpu = cpu[0];
    let wall = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("haul crawl failed ({status})");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats)?)?;
    let site = &report["sites"][0];
    let pages = site["pages_ok"].as_u64().unwrap_or(0) + site["pages_failed"].as_u64().unwrap_or(0);
    let records = std::fs::read_to_string(&out)?.lines().count();
    let crawl_secs = report["elapsed_secs"].as_f64().unwrap_or(wall);
    println!("bench http: {products} product pages served with 20 ms latency, --concurrency 64");
    println!(
        "  pages fetched      {pages} ({} failed), records {records}",
        site["pages_failed"]
    );
    println!("  crawl time         {crawl_secs:.2} s (process wall {wall:.2} s)");
    println!(
        "  throughput         {:.0} pages/s",
        pages as f64 / crawl_secs
    );
    println!(
        "  peak RSS (VmHWM)   {:.1} MB (sampled every 20 ms)",
        peak as f64 / 1024.0
    );
    println!(
        "  CPU (haul only)    {cpu:.2} s = {:.2} ms per page",
        cpu * 1000.0 / pages.max(1) as f64
    );
    println!(
        "  page time p50/p95  {} / {} ms",
        site["page_ms_p50"], site["page_ms_p95"]
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Value of `--flag N` in `args`, or `default`.
pub(crate) fn flag(args: &[String], name: &str, default: usize) -> Result<usize> {
    Ok(args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse::<usize>())
        .transpose()
        .with_context(|| format!("{name} takes a whole number"))?
        .unwrap_or(default))
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The generated site crawled by 1, 2 and 4 `haul worker` processes sharing a local
/// redis-server (the coordinator collects the records), against one process alone.
fn distributed(args: &[String]) -> Result<()> {
    let products = flag(args, "--products", 2000)?;
    let concurrency = flag(args, "--concurrency", 32)?;
    let haul = util::build_haul_release()?;
    let port = free_port()?;
    let redis_bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let redis = KillOnDrop(
        Command::new(&redis_bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run {redis_bin} (apt-get install redis-server)"))?,
    );
    let redis_pid = redis.0.id();
    let redis_url = format!("redis://127.0.0.1:{port}/0");
    let (_server, url) = serve_shop(&haul, "generated", products, 20)?;
    let dir = bench_dir("dist")?;
    // Let redis-server come up.
    std::thread::sleep(Duration::from_millis(300));
    println!(
        "bench distributed: {products} product pages served with 20 ms latency, \
         --concurrency {concurrency} per worker, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  workers  pages  records  wall s  pages/s  CPU s (workers+coord+redis)  ms CPU/page"
    );
    for workers in [1usize, 2, 4] {
        let id = format!("bench{workers}");
        let conc = concurrency.to_string();
        let mut children: Vec<KillOnDrop> = Vec::new();
        for i in 0..workers {
            let child = Command::new(&haul)
                .args(["worker", "--redis", &redis_url, "--crawl-id", &id])
                .args(["--worker-name", &format!("w{i}"), "--render", "never"])
                .args(["--concurrency", &conc, "--per-domain-concurrency", "256"])
                .stderr(Stdio::null())
                .spawn()?;
            children.push(KillOnDrop(child));
        }
        let out = dir.join(format!("out{workers}.jsonl"));
        let stats = dir.join(format!("stats{workers}.json"));
        let redis_cpu0 = cpu_secs(redis_pid).unwrap_or(0.0);
        let started = Instant::now();
        let crawl = ["crawl", "demo", "--start-url", &url, "--max-level", "2"];
        let shared = ["--redis", &redis_url, "--crawl-id", &id, "--no-progress"];
        let mut coord = spawn_crawl(&haul, &[&crawl[..], &shared].concat(), &out, &stats)?;
        let coord_pid = coord.id();
        let pids: Vec<u32> = children.iter().map(|c| c.0.id()).collect();
        let mut cpu: Vec<f64> = vec![0.0; pids.len() + 1];
        let watched: Vec<u32> = pids.iter().copied().chain([coord_pid]).collect();
        let (status, _) = sample_until_exit(&mut coord, &watched, &mut cpu)?;
        let wall = started.elapsed().as_secs_f64();
        if !status.success() {
            bail!("distributed crawl with {workers} workers failed ({status})");
        }
        // Workers exit by themselves once the crawl is finished.
        for c in &mut children {
            let deadline = Instant::now() + Duration::from_secs(20);
            while c.0.try_wait()?.is_none() && Instant::now() < deadline {
                for (i, pid) in pids.iter().enumerate() {
                    cpu[i] = cpu_secs(*pid).unwrap_or(cpu[i]);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let redis_cpu = cpu_secs(redis_pid).unwrap_or(0.0) - redis_cpu0;
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats)?)?;
        let site = &report["sites"][0];
        let pages =
            site["pages_ok"].as_u64().unwrap_or(0) + site["pages_failed"].as_u64().unwrap_or(0);
        let records = std::fs::read_to_string(&out)?.lines().count();
        let total_cpu: f64 = cpu.iter().sum::<f64>() + redis_cpu;
        println!(
            "  {workers:>7}  {pages:>5}  {records:>7}  {wall:>6.2}  {:>7.0}  {total_cpu:>6.2} ({:.2}+{:.2}+{redis_cpu:.2}){:>14.2}",
            pages as f64 / wall,
            cpu[..pids.len()].iter().sum::<f64>(),
            cpu[pids.len()],
            total_cpu * 1000.0 / pages.max(1) as f64,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    drop(redis);
    Ok(())
}

/// `bench browser [pool|mixed]`: the page pool on its own (`haul-browser`'s bench example)
/// and [`mixed`], the release `haul` crawling the realistic `mixed` shop; both by default.
fn browser(args: &[String]) -> Result<()> {
    let pool = || {
        util::step(
            "bench browser pool",
            &[
                "run",
                "--release",
                "-p",
                "haul-browser",
                "--features",
                "bench",
                "--example",
                "browser_bench",
            ],
            &[],
        )
    };
    match args.first().map(String::as_str) {
        Some("pool") => pool(),
        Some("mixed") => mixed(&args[1..]),
        Some(other) if !other.starts_with("--") => {
            bail!("unknown browser benchmark {other:?}; available: pool, mixed")
        }
        _ => {
            pool()?;
            mixed(args)
        }
    }
}

/// The parent of every process: pid -> ppid, from `/proc/*/stat`.
fn parents() -> Vec<(u32, u32)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// `root` and all its descendants (Chromium and its renderers, for a crawl).
fn process_tree(root: u32) -> Vec<u32> {
    let links = parents();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(links.iter().filter(|l| l.1 == parent).map(|l| l.0));
        i += 1;
    }
    tree
}

/// Proportional set size of `pid` in KiB (`/proc/PID/smaps_rollup`).
fn pss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find(|l| l.starts_with("Pss:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds of the children this process has waited for (`cutime + cstime` of
/// `/proc/self/stat`): a finished crawl with everything it reaped in turn.
fn reaped_children_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit_once(')')
        .map(|(_, after)| {
            after
                .split_whitespace()
                .map(|f| f.parse().unwrap_or(0.0))
                .collect()
        })
        .unwrap_or_default();
    (fields.get(13).copied().unwrap_or(0.0) + fields.get(14).copied().unwrap_or(0.0)) / 100.0
}

/// One crawl of the `mixed` benchmark, measured.
struct MixedRow {
    pages: u64,
    failed: u64,
    records: usize,
    rendered: u64,
    launches: u64,
    crawl_secs: f64,
    wall: f64,
    cpu: f64,
    cpu_sampled: f64,
    cpu_reaped: f64,
    peak_pss_kib: u64,
    peak_hwm_kib: u64,
    server_cpu: f64,
    /// The machine's 1-minute load average before and after (other work skews the figures).
    load: (f64, f64),
    /// Page time p50 and p95 in milliseconds, from the crawl's statistics.
    page_ms: (u64, u64),
}

/// The 1-minute load average.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Runs `haul crawl --start-url URL --max-level 3 EXTRA` and samples every 100 ms each
/// process's CPU time and haul's VmHWM, and every 300 ms the PSS summed over haul and all its
/// descendants (Chromium).
///
/// CPU is the larger of two lower bounds: the sum of the last CPU time read for every process
/// of the tree (misses at most the last 100 ms of each process), and what this process
/// gets back when reaping haul (`cutime`: haul and whatever it reaped, which misses Chromium
/// children reaped by someone else).
fn mixed_crawl(
    haul: &Path,
    url: &str,
    extra: &[&str],
    dir: &Path,
    server: u32,
) -> Result<MixedRow> {
    let out = dir.join("out.jsonl");
    let stats = dir.join("stats.json");
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&stats);
    let reaped0 = reaped_children_cpu_secs();
    let server0 = cpu_secs(server).unwrap_or(0.0);
    let started = Instant::now();
    let crawl = [
        "crawl",
        "--start-url",
        url,
        "--max-level",
        "3",
        "--no-progress",
    ];
    let mut child = spawn_crawl(haul, &[&crawl[..], extra].concat(), &out, &stats)?;
    let pid = child.id();
    let mut last_cpu: std::collections::HashMap<u32, f64> = std::collections::HashMap::new();
    let (mut peak_pss_kib, mut peak_hwm_kib) = (0u64, 0u64);
    let load_before = load_average();
    let mut tick = 0u64;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        let tree = process_tree(pid);
        // smaps_rollup is the expensive read: every third round.
        if tick.is_multiple_of(3) {
            let pss: u64 = tree.iter().filter_map(|p| pss_kib(*p)).sum();
            peak_pss_kib = peak_pss_kib.max(pss);
        }
        tick += 1;
        peak_hwm_kib = peak_hwm_kib.max(vm_hwm_kib(pid).unwrap_or(0));
        for p in tree {
            if let Some(c) = cpu_secs(p) {
                last_cpu.insert(p, c);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let wall = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("haul crawl {extra:?} failed ({status})");
    }
    let cpu_reaped = reaped_children_cpu_secs() - reaped0;
    let cpu_sampled: f64 = last_cpu.values().sum();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats)?)?;
    let site = &report["sites"][0];
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    Ok(MixedRow {
        pages: n(&site["pages_ok"]) + n(&site["pages_failed"]),
        failed: n(&site["pages_failed"]),
        records: std::fs::read_to_string(&out)?.lines().count(),
        rendered: n(&site["rendered"]),
        launches: n(&report["browser"]["launches"]),
        crawl_secs: report["elapsed_secs"].as_f64().unwrap_or(wall),
        wall,
        cpu: cpu_reaped.max(cpu_sampled),
        cpu_sampled,
        cpu_reaped,
        peak_pss_kib,
        peak_hwm_kib,
        server_cpu: cpu_secs(server).unwrap_or(server0) - server0,
        load: (load_before, load_average()),
        page_ms: (n(&site["page_ms_p50"]), n(&site["page_ms_p95"])),
    })
}

/// The realistic `mixed` shop (30% of its product pages built by scripts after `load`,
/// 30 ms latency) crawled by the release `haul` with `--render always`, `--render auto` and,
/// on the first `--no-pool-pages` pages only, a browser per page (`--no-pool`).
fn mixed(args: &[String]) -> Result<()> {
    let products = flag(args, "--products", 300)?;
    let unpooled = flag(args, "--no-pool-pages", 40)?;
    let haul = util::build_haul_release()?;
    let (server, url) = serve_shop(&haul, "mixed", products, 30)?;
    let dir = bench_dir("mixed")?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "bench browser mixed: the `mixed` shop, {products} products (30% script-built), \
         30 ms latency, --max-level 3, {cores} cores"
    );
    println!(
        "| run | pages | records | rendered | launches | crawl s | pages/s | CPU s/page | cores busy | peak PSS haul+Chromium (MiB) | haul VmHWM (MiB) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let unpooled_pages = unpooled.to_string();
    let runs: [(&str, Vec<&str>); 3] = [
        ("--render always", vec!["--render", "always"]),
        ("--render auto", vec!["--render", "auto"]),
        (
            "--render always --no-pool",
            vec![
                "--render",
                "always",
                "--no-pool",
                "--max-pages",
                &unpooled_pages,
            ],
        ),
    ];
    let started_self = cpu_secs(std::process::id()).unwrap_or(0.0);
    let mut notes = Vec::new();
    for (name, extra) in runs {
        let r = mixed_crawl(&haul, &url, &extra, &dir, server.0.id())?;
        let failed = if r.failed > 0 {
            format!(" ({} failed)", r.failed)
        } else {
            String::new()
        };
        println!(
            "| {name} | {}{failed} | {} | {} | {} | {:.1} | {:.1} | {:.3} | {:.2} | {:.0} | {:.0} |",
            r.pages,
            r.records,
            r.rendered,
            r.launches,
            r.crawl_secs,
            r.pages as f64 / r.crawl_secs,
            r.cpu / r.pages.max(1) as f64,
            r.cpu / r.wall,
            r.peak_pss_kib as f64 / 1024.0,
            r.peak_hwm_kib as f64 / 1024.0,
        );
        notes.push(format!(
            "  {name}: page p50/p95 {}/{} ms; process wall {:.1} s; CPU {:.1} s (sampled tree {:.1}, reaped {:.1}); server CPU {:.1} s; load average {:.1} -> {:.1}",
            r.page_ms.0,
            r.page_ms.1,
            r.wall,
            r.cpu,
            r.cpu_sampled,
            r.cpu_reaped,
            r.server_cpu,
            r.load.0,
            r.load.1
        ));
    }
    for n in notes {
        println!("{n}");
    }
    println!(
        "  sampler (this process) CPU {:.1} s; CPU s/page and cores busy count haul and its Chromium processes, not the server",
        cpu_secs(std::process::id()).unwrap_or(0.0) - started_self
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
