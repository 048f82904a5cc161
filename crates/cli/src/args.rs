//! Command-line arguments (clap derive). Crawl settings are optional here: their defaults
//! live in [`crate::settings::Settings`], so that `haul.toml` and `HAUL_*` variables apply
//! unless a flag is given (flags win).

use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use haul_core::{Choice, ExtractMode, UnknownChoice};
use haul_runner::RenderMode;
use serde::{Deserialize, Serialize};
use url::Url;

/// haul: crawl shopping and deal sites into clean product and deal records.
#[derive(Debug, Parser)]
#[command(name = "haul", version, about)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Crawl one or more sites (by name) or start URLs, writing records as they are found.
    Crawl(Box<CrawlArgs>),
    /// List the registered sites.
    Sites,
    /// Work on a distributed crawl: take URLs of the crawl enqueued with `haul crawl --redis`
    /// (sites, start URLs, levels, the page budget and the output come from the crawl).
    Worker(Box<WorkerArgs>),
    /// Write the records of a distributed crawl to a file (when the coordinator was started
    /// with --detach, or to write a second copy).
    Collect(CollectArgs),
    /// List the change events of a SQLite store (price drops, stock changes...), newest
    /// last.
    Events(crate::events::EventsArgs),
    /// Recrawl sites into a SQLite store on a schedule (`every`/`cron` per site in haul.toml,
    /// or --every), until Ctrl-C or SIGTERM.
    Watch(Box<WatchArgs>),
    /// Write one self-contained HTML page of a store's products: current price, change since
    /// the last run and a chart of the price history.
    Report(ReportArgs),
    /// Save pages as files (site fixtures).
    Fetch(crate::fetch::FetchArgs),
    /// Print what the extractor gets from saved pages or URLs, as JSON Lines.
    Parse(crate::parse::ParseArgs),
    /// Measure extraction accuracy on an evaluation corpus.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Serve a bundled site on 127.0.0.1 (for trying haul out, tests and benchmarks; needs a
    /// build with `--features serve`).
    Serve {
        /// `demo` (the demo shop), `generated` (a shop of --products product pages), `mixed`
        /// (a realistic deal shop of --products product pages, --script-share percent of them
        /// built by scripts; read by the `generic` site), `recrawl` (a `generated`-like shop of
        /// --products product pages whose pages carry ETag / Last-Modified and answer 304;
        /// counters of body bytes and 304s at /__stats) or `hostile` (pages built to crash,
        /// hang or mislead a crawler, and an internal service it must never reach).
        site: String,
        /// Product pages of the `generated`, `mixed` and `recrawl` sites.
        #[arg(long, default_value_t = 2000)]
        products: usize,
        /// Percentage of the `mixed` site's product pages that are application shells built
        /// by scripts after `load`.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u8).range(0..=100))]
        script_share: u8,
        /// Port on 127.0.0.1 (0 = any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Delay added to every response, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
}

/// What `haul eval` measures.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Price parser accuracy on a JSON Lines file of price strings with expected parses.
    Prices {
        /// The corpus, such as price_strings.jsonl.
        file: PathBuf,
    },
    /// Generic extraction accuracy (price, currency, title) on a folder of saved product
    /// pages with a ground-truth.json (laid out like shared/data/product-pages-dev).
    Pages {
        /// The corpus folder; its pages are split by shop into a tuning and a held-out half.
        dir: PathBuf,
        /// A further corpus whose pages all count as tuning pages (pages written for the
        /// project); repeatable.
        #[arg(long, value_name = "DIR")]
        tuning: Vec<PathBuf>,
    },
}

/// LLM providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmProviderArg {
    /// Google Gemini (generateContent).
    Gemini,
    /// Any OpenAI-compatible chat-completions endpoint.
    Openai,
}

/// A value parser for a setting with a few named values (a library [`Choice`]): `--help`
/// lists them with their summaries, a bad value is an error listing them.
fn choice<T: Choice + Send + Sync + FromStr<Err = UnknownChoice>>()
-> impl TypedValueParser<Value = T> {
    let values = T::VALUES
        .iter()
        .map(|&(_, label, summary)| PossibleValue::new(label).help(summary));
    PossibleValuesParser::new(values).try_map(|s| s.parse::<T>())
}

fn parse_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| {
        format!("{s:?} is not a valid URL ({e}); write it in full, like https://shop.example/")
    })?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        _ => Err(format!("{s:?} is not an http(s) URL with a host")),
    }
}

/// A start URL, optionally for a named site (`SITE=URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartUrl {
    /// The site it is for, when given.
    pub site: Option<String>,
    /// The URL.
    pub url: Url,
}

fn parse_start_url(s: &str) -> Result<StartUrl, String> {
    if let Some((site, rest)) = s.split_once('=')
        && !site.is_empty()
        && site
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Ok(StartUrl {
            site: Some(site.to_string()),
            url: parse_url(rest)?,
        });
    }
    Ok(StartUrl {
        site: None,
        url: parse_url(s)?,
    })
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of at least 1")),
    }
}

/// A confidence: a number from 0 to 1.
pub(crate) fn parse_confidence(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(c) if (0.0..=1.0).contains(&c) => Ok(c),
        _ => Err(format!("{s:?} is not a confidence from 0 to 1 (e.g. 0.5)")),
    }
}

fn parse_regex(s: &str) -> Result<String, String> {
    regex::Regex::new(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("{s:?} is not a valid regular expression: {e}"))
}

/// Arguments of `haul collect`.
#[derive(Debug, clap::Args)]
pub struct CollectArgs {
    /// The Redis of the crawl (`redis://HOST:PORT/DB`).
    #[arg(long, value_name = "URL")]
    pub redis: String,
    /// Id of the distributed crawl.
    #[arg(long, value_name = "ID", default_value = "haul", value_parser = parse_crawl_id)]
    pub crawl_id: String,
    /// Output file; the format follows the extension; `-` is standard output. An existing
    /// file is continued: records already in it are not written again.
    #[arg(short = 'o', long = "output", value_name = "FILE", default_value = "-")]
    pub output: PathBuf,
    /// Collector name (a collector restarted under the same name re-reads what it had read
    /// but not yet written).
    #[arg(long, value_name = "NAME", default_value = "collector")]
    pub name: String,
}

fn parse_crawl_id(s: &str) -> Result<String, String> {
    // The library's rule (`haul_redis::keys`): the error names the id and what is wrong.
    haul_redis::keys::check_crawl_id(s)
        .map(|()| s.to_string())
        .map_err(|e| e.to_string())
}

/// Arguments of `haul crawl`. Unset options fall back to `haul.toml`, then `HAUL_*`
/// environment variables, then built-in defaults.
#[derive(Debug, clap::Args, Serialize)]
pub struct CrawlArgs {
    /// Registered site names (see `haul sites`). Without any, the site is chosen from each
    /// start URL.
    #[serde(skip)]
    pub sites: Vec<String>,
    /// Where to start (level 0); repeatable. `SITE=URL` gives the URL to that site (needed
    /// when several sites are crawled and one claims no domain). Defaults to the sites' own
    /// start URLs.
    #[arg(long = "start-url", value_name = "[SITE=]URL", value_parser = parse_start_url)]
    #[serde(skip)]
    pub start_urls: Vec<StartUrl>,
    /// Output file; the format follows the extension (.jsonl); `-` is standard output
    /// [default: -].
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    /// Deepest link level to follow, 0 = the start URLs only [default: 3].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_level: Option<u32>,
    /// Stop scheduling a site after this many pages [default: no limit].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pages: Option<u64>,
    /// Follow only links matching this regular expression; repeatable.
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Never follow links matching this regular expression; repeatable.
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// Pages in flight at once over all sites [default: no global cap].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_concurrency: Option<usize>,
    /// Keep the crawl's state (levels, frontier, pages done) in this folder, so that a
    /// crawl that was killed can be finished with --resume.
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<PathBuf>,
    /// Continue the crawl recorded in --state DIR, appending to the same -o FILE; pages done
    /// are not fetched again and no record is written twice.
    #[arg(long, requires = "state")]
    #[serde(skip)]
    pub resume: bool,
    /// Start every site from its sitemaps too (robots.txt `Sitemap:` lines, else
    /// /sitemap.xml; indexes and .gz followed): each page listed within the site's scope is
    /// a start URL. With a SQLite store, a page whose `lastmod` is not newer than its last
    /// visit is not fetched: its last records are carried forward.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sitemap: bool,
    /// With a SQLite store (-o FILE.db): download every page again instead of sending the
    /// validators the store kept (If-None-Match / If-Modified-Since) and skipping pages
    /// whose sitemap `lastmod` says they are unchanged.
    #[arg(long)]
    #[serde(skip)]
    pub no_revalidate: bool,
    /// How this process fetches, renders and extracts.
    #[command(flatten)]
    #[serde(flatten)]
    pub engine: EngineArgs,
    /// No progress bars, even on a terminal.
    #[arg(long)]
    #[serde(skip)]
    pub no_progress: bool,
    /// Serve Prometheus metrics on `http://ADDR/metrics` while crawling (such as
    /// 127.0.0.1:9187).
    #[arg(long, value_name = "ADDR")]
    #[serde(skip)]
    pub metrics: Option<std::net::SocketAddr>,
    /// Share the crawl with `haul worker` processes through this Redis
    /// (`redis://HOST:PORT/DB`): `haul crawl` enqueues it and writes the records, the workers
    /// fetch and extract.
    #[arg(long, value_name = "URL")]
    #[serde(skip)]
    pub redis: Option<String>,
    /// Id of the distributed crawl (Redis keys `haul:ID:*`).
    #[arg(long, value_name = "ID", default_value = "haul", value_parser = parse_crawl_id)]
    #[serde(skip)]
    pub crawl_id: String,
    /// With --redis: only enqueue, and exit (write the records with `haul collect`).
    #[arg(long, requires = "redis")]
    #[serde(skip)]
    pub detach: bool,
    /// With --redis: discard an unfinished crawl with the same id first (only when none of
    /// its workers still run).
    #[arg(long, requires = "redis")]
    #[serde(skip)]
    pub fresh: bool,
    /// With --redis: seconds the crawl's keys stay in Redis once it finished (for late
    /// `haul collect` runs and its counters), then they expire; 0 keeps them forever.
    #[arg(long, value_name = "SECS", requires = "redis", default_value_t = haul_redis::DEFAULT_KEEP_FINISHED.as_secs())]
    #[serde(skip)]
    pub keep_finished: u64,
    /// Where change events go (with a SQLite store).
    #[command(flatten)]
    #[serde(skip)]
    pub delivery: crate::events::DeliveryArgs,
}

/// The flags of how a process fetches, renders and extracts pages, shared by `haul crawl` and
/// `haul worker`. Unset options fall back to `haul.toml`, then `HAUL_*` environment
/// variables, then built-in defaults.
#[derive(Debug, clap::Args, Serialize)]
pub struct EngineArgs {
    /// Configuration file [default: haul.toml when it exists].
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Pages in flight at once per site; for `haul worker`, URLs it processes at once
    /// [default: 8].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Requests in flight at once per domain [default: 8].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_domain_concurrency: Option<usize>,
    /// Minimum milliseconds between two requests to one domain [default: 0; robots.txt
    /// Crawl-delay raises it].
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// When to render pages in a browser [default: auto].
    #[arg(long, value_parser = choice::<RenderMode>())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub render: Option<RenderMode>,
    /// Upper bound for one page, in seconds [default: 30].
    #[arg(long, value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_timeout: Option<u64>,
    /// Retries after a transient failure (timeouts, 5xx, 429, crashed browser) [default: 3].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// After Ctrl-C, seconds pages in flight may take to finish before they are aborted
    /// [default: 10].
    #[arg(long, value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_secs: Option<u64>,
    /// Fetch pages that robots.txt disallows.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignore_robots: bool,
    /// The largest page body read, in bytes, after decompression; a larger page fails as
    /// `too_large` [default: 16777216, 16 MiB].
    #[arg(long, value_name = "BYTES", value_parser = parse_positive)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_page_bytes: Option<usize>,
    /// The longest a server's Retry-After may delay a page or pause its domain, in seconds
    /// [default: 600].
    #[arg(long, value_name = "SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retry_after: Option<u64>,
    /// Blocked answers in a row (bot walls, CAPTCHA pages) after which a domain pauses, with
    /// a back-off doubled on each further pause [default: 3].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_pause_after: Option<u32>,
    /// Blocked answers in a row after which a domain is stopped for the rest of the crawl
    /// (the report says where and when) [default: 10].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_stop_after: Option<u32>,
    /// The first pause of a blocking domain, in milliseconds; at most --max-retry-after
    /// [default: 30000].
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_backoff_ms: Option<u64>,
    /// Allow hosts on loopback, private, link-local or cloud-metadata addresses (allowed
    /// anyway when a start URL is on one, such as a shop on localhost; browser pages then
    /// reach only the start URLs' own addresses).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_private_network: bool,
    /// An upstream proxy for every request, HTTP and rendered (http, https, socks5 or
    /// socks5h, credentials as `user:password@`); repeatable: a domain sticks to one and
    /// moves on when blocked or when the proxy fails.
    #[arg(long = "proxy", value_name = "URL")]
    #[serde(rename = "proxies", skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<String>,
    /// User-Agent for plain HTTP requests [default: haul/<version>].
    #[arg(long, value_name = "UA")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Browsers in the page pool [default: from the cores, 1 on 2 cores].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browsers: Option<usize>,
    /// Pages (tabs) per browser [default: from the cores, 4 on 2 cores].
    #[arg(long, value_name = "M", value_parser = parse_positive)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages_per_browser: Option<usize>,
    /// Chromium executable [default: $CHROME, else chromium / google-chrome in PATH].
    #[arg(long, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chrome: Option<PathBuf>,
    /// Retire a browser after it served this many pages, bounding memory [default: 100].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retire_after: Option<u64>,
    /// Let browser pages load images, media and fonts (blocked by default for speed).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub load_resources: bool,
    /// User-Agent of browser pages [default: a desktop Chrome].
    #[arg(long, value_name = "UA")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser_user_agent: Option<String>,
    /// No shared pool: every rendered page launches its own browser (the original's
    /// behaviour; slow, for comparison and as a fallback).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_pool: bool,
    /// LLM provider for LLM extraction (keys come from HAUL_LLM_KEYS, comma-separated)
    /// [default: gemini].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_provider: Option<LlmProviderArg>,
    /// Base URL of the provider's API (OpenAI-compatible servers: Ollama, vLLM, llama.cpp).
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_base_url: Option<Url>,
    /// Model name [default: the provider's default].
    #[arg(long, value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_model: Option<String>,
    /// LLM worker tasks [default: like --llm-max-in-flight].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_workers: Option<usize>,
    /// LLM calls in flight at once [default: enough for every key at --llm-rpm with 2 s
    /// answers, 4 per key without it; 20 to 256].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_max_in_flight: Option<usize>,
    /// Requests per minute allowed per LLM key (the provider's limit). Every request (first
    /// try, retry, continuation) is paced by it. With `haul worker`, the limit is shared by
    /// all workers through Redis [default: no limit].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_rpm: Option<u32>,
    /// Requests one LLM key may send back to back within --llm-rpm (the provider's burst)
    /// [default: 1, evenly spaced].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_burst: Option<u32>,
    /// Tokens (prompt and answer) per minute allowed per LLM key, for providers that limit
    /// them [default: no limit].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_tpm: Option<u32>,
    /// auto: the site's own extraction, the LLM only as a fallback; structured: never the
    /// LLM; llm: force the LLM path (for evaluation) [default: auto].
    #[arg(long, value_parser = choice::<ExtractMode>())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extract: Option<ExtractMode>,
    /// Give no price (and a warning) rather than one whose confidence is below this, 0 to 1:
    /// higher trades recall for precision; with --extract auto and an LLM pool such pages go
    /// to the LLM, whose price must be visible on the page [default: 0.35].
    #[arg(long, value_name = "C", value_parser = parse_confidence)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_confidence: Option<f64>,
    /// Write the final statistics as JSON to this file.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<PathBuf>,
}

/// Arguments of `haul worker`: only what applies to one worker process; the sites, start
/// URLs, levels, page budget and output belong to the crawl (`haul crawl --redis`).
#[derive(Debug, clap::Args, Serialize)]
pub struct WorkerArgs {
    /// The Redis the crawl was enqueued on (`redis://HOST:PORT/DB`).
    #[arg(long, value_name = "URL")]
    #[serde(skip)]
    pub redis: String,
    /// Id of the distributed crawl (Redis keys `haul:ID:*`).
    #[arg(long, value_name = "ID", default_value = "haul", value_parser = parse_crawl_id)]
    #[serde(skip)]
    pub crawl_id: String,
    /// Serve Prometheus metrics on `http://ADDR/metrics` (such as 127.0.0.1:9187).
    #[arg(long, value_name = "ADDR")]
    #[serde(skip)]
    pub metrics: Option<std::net::SocketAddr>,
    /// Worker without LLM keys: send LLM tasks through Redis to the workers that have keys
    /// (they serve them) instead of calling a provider.
    #[arg(long)]
    #[serde(skip)]
    pub llm_via_redis: bool,
    /// A URL taken by a worker that went silent this many seconds ago (killed,
    /// hung, cut off) is given to another worker [default: 60].
    #[arg(long, value_name = "SECS")]
    #[serde(skip)]
    pub visibility_timeout: Option<u64>,
    /// This worker's name in the crawl [default: HOSTNAME-PID].
    #[arg(long, value_name = "NAME")]
    #[serde(skip)]
    pub worker_name: Option<String>,
    /// Give up when no crawl is enqueued within this many seconds [default: wait].
    #[arg(long, value_name = "SECS")]
    #[serde(skip)]
    pub wait_secs: Option<u64>,
    /// How this worker fetches, renders and extracts.
    #[command(flatten)]
    #[serde(flatten)]
    pub engine: EngineArgs,
}

/// Arguments of `haul watch`. Unset options fall back to `haul.toml`, then `HAUL_*`
/// environment variables, then built-in defaults.
#[derive(Debug, clap::Args, Serialize)]
pub struct WatchArgs {
    /// Registered site names (see `haul sites`) [default: every `[sites.NAME]` of haul.toml
    /// with an `every` or `cron` schedule].
    #[serde(skip)]
    pub sites: Vec<String>,
    /// Where to start (level 0); repeatable; `SITE=URL` gives the URL to that site. Adds to
    /// the sites' `start_urls` in haul.toml (else their own defaults).
    #[arg(long = "start-url", value_name = "[SITE=]URL", value_parser = parse_start_url)]
    #[serde(skip)]
    pub start_urls: Vec<StartUrl>,
    /// The SQLite store every run writes into (`.db`, `.sqlite`); required.
    #[arg(short = 'o', long = "output", value_name = "STORE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    /// The interval of sites without their own `every` or `cron` in haul.toml (`30m`, `1h`,
    /// `1day`).
    #[arg(long, value_name = "INTERVAL")]
    #[serde(skip)]
    pub every: Option<String>,
    /// Each run starts up to this fraction of its interval late, at random (spreads runs),
    /// 0 to 1.
    #[arg(long, value_name = "FRACTION", default_value_t = haul_watch::DEFAULT_JITTER, value_parser = parse_confidence)]
    #[serde(skip)]
    pub jitter: f64,
    /// Seed of the jitter's random draws [default: from the clock].
    #[arg(long, value_name = "N")]
    #[serde(skip)]
    pub jitter_seed: Option<u64>,
    /// Where change events go, as with `haul crawl` (delivered while the watch runs).
    #[command(flatten)]
    #[serde(skip)]
    pub delivery: crate::events::DeliveryArgs,
    /// Serve Prometheus metrics on `http://ADDR/metrics` (such as 127.0.0.1:9187).
    #[arg(long, value_name = "ADDR")]
    #[serde(skip)]
    pub metrics: Option<std::net::SocketAddr>,
    /// Deepest link level to follow, 0 = the start URLs only [default: 3].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_level: Option<u32>,
    /// Stop scheduling a site after this many pages per run [default: no limit].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pages: Option<u64>,
    /// Follow only links matching this regular expression; repeatable.
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Never follow links matching this regular expression; repeatable.
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// How this process fetches, renders and extracts.
    #[command(flatten)]
    #[serde(flatten)]
    pub engine: EngineArgs,
}

/// Arguments of `haul report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The HTML file to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// The SQLite store to read.
    #[arg(long, value_name = "STORE", default_value = "store.db")]
    pub store: PathBuf,
    /// Only the products of this site.
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
}
