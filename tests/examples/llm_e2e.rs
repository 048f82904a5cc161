//! `cargo xtask bench llm e2e`: the release `haul crawl --extract llm` on a generated shop
//! against the fake provider limited like a real one (a token bucket per key, 5 % of answers
//! 500/503, 20 % cut at the output-token limit), with 1, 3 and 10 keys: wall time against the
//! keys' bound, 429s drawn, tasks lost, records right and tokens per record.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use haul_e2e::{generated_answer, haul_bin, read_records, stderr};
use haul_llm::fake::FakeServer;
use haul_testkit::TestServer;

/// Product pages of the generated shop.
const PRODUCTS: usize = 300;
/// Requests per second each key allows, and its burst.
const RATE: f64 = 10.0;
const BURST: u32 = 10;

/// One run's figures.
struct Row {
    keys: usize,
    wall: f64,
    bound: f64,
    ok_calls: usize,
    rate_limited: u64,
    server_errors: u64,
    truncated: u64,
    failed: u64,
    right: usize,
    prompt_tokens: u64,
    completion_tokens: u64,
    /// Seconds from the start to the first and to the last LLM request.
    first_call: f64,
    last_call: f64,
    /// Retries after 5xx and continuations, as the server saw them.
    later_rounds: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    println!(
        "bench llm e2e: {PRODUCTS} product pages (5 ms), keys of {RATE} requests/s (burst {BURST}), \
         5% 5xx, 20% cut answers, 200 ms answers; haul told the same limits"
    );
    println!(
        "| keys | wall s | bound s (ok calls) | efficiency | strict efficiency | calls ok | 429 | 5xx | cut | tasks failed | records right | prompt tokens/record | completion tokens/record |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut code = ExitCode::SUCCESS;
    let mut notes = Vec::new();
    for keys in [1, 3, 10] {
        let r = match run(keys).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("bench llm e2e with {keys} keys: {e}");
                code = ExitCode::FAILURE;
                continue;
            }
        };
        let per = |t: u64| t as f64 / r.right.max(1) as f64;
        // Every request the server answered spends the key's budget (5xx too), and the
        // first burst of each key is free.
        let sent = r.ok_calls as f64 + r.server_errors as f64 - keys as f64 * f64::from(BURST);
        let strict = sent.max(0.0) / (keys as f64 * RATE);
        println!(
            "| {} | {:.1} | {:.1} | {:.1}% | {:.1}% | {} | {} | {} | {} | {} | {}/{PRODUCTS} | {:.0} | {:.0} |",
            r.keys,
            r.wall,
            r.bound,
            100.0 * r.bound / r.wall,
            100.0 * strict / r.wall,
            r.ok_calls,
            r.rate_limited,
            r.server_errors,
            r.truncated,
            r.failed,
            r.right,
            per(r.prompt_tokens),
            per(r.completion_tokens),
        );
        notes.push(format!(
            "  {keys} keys: first LLM request at {:.2} s, last at {:.2} s, crawl over at {:.2} s; {} retry or continuation requests",
            r.first_call, r.last_call, r.wall, r.later_rounds
        ));
    }
    for n in notes {
        println!("{n}");
    }
    code
}

/// Crawls the shop with `keys` keys and measures.
async fn run(keys: usize) -> Result<Row, String> {
    let llm = FakeServer::builder()
        .latency(Duration::from_millis(200))
        .token_bucket(RATE, BURST)
        .server_errors(0.05)
        .truncated(0.2)
        .seed(11)
        .respond(generated_answer)
        .start()
        .await
        .map_err(|e| format!("fake provider: {e}"))?;
    let shop = TestServer::start(haul_testkit::generated_router(
        PRODUCTS,
        Duration::from_millis(5),
    ))
    .await
    .map_err(|e| format!("shop: {e}"))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (out_path, stats_path) = (dir.path().join("out.jsonl"), dir.path().join("stats.json"));
    let names: Vec<String> = (1..=keys).map(|k| format!("sk-bench-{k}")).collect();
    let started = Instant::now();
    let t0 = tokio::time::Instant::now();
    let out = tokio::process::Command::new(haul_bin())
        .args(["crawl", "--render", "never", "--extract", "llm"])
        .args(["--concurrency", "64", "--per-domain-concurrency", "64"])
        .args(["--llm-provider", "openai", "--llm-base-url"])
        .arg(llm.base_url().as_str())
        .args(["--llm-rpm", &format!("{}", RATE * 60.0)])
        .args(["--llm-burst", &BURST.to_string()])
        .args(["--start-url", shop.url("/").as_str()])
        .arg("-o")
        .arg(&out_path)
        .arg("--stats")
        .arg(&stats_path)
        .env("HAUL_LLM_KEYS", names.join(","))
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run haul: {e}"))?;
    let wall = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("haul failed: {}", stderr(&out)));
    }
    let stats: serde_json::Value = std::fs::read_to_string(&stats_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or("no --stats JSON")?;
    let log = llm.log();
    let ok_calls = log.iter().filter(|l| l.status == 200).count();
    let at = |l: Option<&haul_llm::fake::FakeLog>| l.map_or(0.0, |l| (l.at - t0).as_secs_f64());
    let (first_call, last_call) = (at(log.first()), at(log.last()));
    let later_rounds = log.iter().filter(|l| l.round > 0).count();
    let sum = |field: &str| -> u64 {
        stats["llm"]["keys"]
            .as_array()
            .map(|ks| ks.iter().filter_map(|k| k[field].as_u64()).sum())
            .unwrap_or(0)
    };
    let failed = ["failed", "cancelled", "abandoned"]
        .iter()
        .filter_map(|f| stats["llm"][*f].as_u64())
        .sum();
    let right = read_records(&out_path)
        .iter()
        .filter(|r| {
            let Some(n) = r
                .url
                .rsplit("/product/p")
                .next()
                .filter(|_| r.url.contains("/product/"))
            else {
                return false;
            };
            r.title == format!("Product {n}")
                && r.price.map(|p| p.to_string()) == Some(format!("{n}.99"))
        })
        .count();
    Ok(Row {
        keys,
        wall,
        bound: ok_calls as f64 / (keys as f64 * RATE),
        ok_calls,
        rate_limited: llm.rate_limited(),
        server_errors: llm.server_errors(),
        truncated: llm.truncated(),
        failed,
        right,
        prompt_tokens: sum("input_tokens"),
        completion_tokens: sum("output_tokens"),
        first_call,
        last_call,
        later_rounds,
    })
}
