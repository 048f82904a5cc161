//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use url::Url;

/// haul: crawl shopping and deal sites into clean product and deal records.
#[derive(Debug, Parser)]
#[command(name = "haul", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Crawl one or more sites (by name) or start URLs, writing records as they are found.
    Crawl(CrawlArgs),
    /// List the registered sites.
    Sites,
    /// Serve a bundled site on 127.0.0.1 (for trying haul out and for tests).
    Serve {
        /// The site to serve (only `demo`).
        site: String,
        /// Port on 127.0.0.1 (0 = any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Delay added to every response, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
}

/// When to use the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderArg {
    /// Plain HTTP only.
    Never,
    /// Render every page.
    Always,
    /// HTTP first, the browser only where needed.
    Auto,
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

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of at least 1")),
    }
}

/// Arguments of `haul crawl`.
#[derive(Debug, clap::Args)]
pub struct CrawlArgs {
    /// Registered site names (see `haul sites`). Without any, the site is chosen from each
    /// start URL.
    pub sites: Vec<String>,
    /// Where to start (level 0); repeatable. Defaults to the sites' own start URLs.
    #[arg(long = "start-url", value_name = "URL", value_parser = parse_url)]
    pub start_urls: Vec<Url>,
    /// Deepest link level to follow (0 = the start URLs only).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_level: u32,
    /// Pages in flight at once per site.
    #[arg(long, default_value = "8", value_name = "N", value_parser = parse_positive)]
    pub concurrency: usize,
    /// Stop after this many pages per site.
    #[arg(long, value_name = "N")]
    pub max_pages: Option<u64>,
    /// Output file (format from the extension: .jsonl); `-` or none writes JSON Lines to
    /// standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// When to render pages in a browser.
    #[arg(long, value_enum, default_value = "auto")]
    pub render: RenderArg,
    /// Upper bound for one page, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub page_timeout: u64,
    /// Retries of a page after a transient failure (timeouts, 5xx, 429, crashed browser).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub retries: u32,
    /// User-Agent for plain HTTP requests.
    #[arg(long, value_name = "UA")]
    pub user_agent: Option<String>,
    /// Write the final statistics as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
}
