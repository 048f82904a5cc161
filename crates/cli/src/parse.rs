//! `haul parse`: what an extractor gets from given pages (saved files or URLs), printed as
//! JSON Lines, each record carrying the input it came from in `source` (like `scrapy parse`).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use haul_core::{Context, Document, Extractor, FetchRequest, Fetcher, Registry};
use haul_runner::{HttpFetcher, HttpOptions};
use url::Url;

/// Arguments of `haul parse`.
#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// Use this site's extractor (default: chosen by URL, else `generic`).
    #[arg(long)]
    pub site: Option<String>,
    /// The original address of a saved file (for relative links and currency hints).
    #[arg(long, value_name = "URL")]
    pub url: Option<Url>,
    /// Saved pages (files) or URLs to fetch.
    #[arg(required = true, value_name = "FILE|URL")]
    pub inputs: Vec<String>,
}

fn pick(
    registry: &Registry,
    site: Option<&str>,
    url: &Url,
) -> anyhow::Result<&'static dyn Extractor> {
    match site {
        Some(name) => Ok(registry.get(name)?),
        None => registry.for_url(url).with_context(|| {
            format!("no site handles {url} and no generic site is registered; pass --site")
        }),
    }
}

pub(crate) async fn parse(args: ParseArgs) -> anyhow::Result<ExitCode> {
    let registry = haul_sites::registry()?;
    let fetcher: Arc<dyn Fetcher> = Arc::new(HttpFetcher::new(&HttpOptions::default())?);
    let mut failed = 0;
    for input in &args.inputs {
        let is_url = input.starts_with("http://") || input.starts_with("https://");
        let doc = if is_url {
            let url = Url::parse(input).with_context(|| format!("{input:?} is not a valid URL"))?;
            fetcher.fetch(FetchRequest::get(url)).await?
        } else {
            let path = std::path::PathBuf::from(input);
            let body = {
                let p = path.clone();
                tokio::task::spawn_blocking(move || std::fs::read(&p)).await?
            }
            .with_context(|| format!("cannot read {input}"))?;
            let url = match &args.url {
                Some(u) => u.clone(),
                None => Url::from_file_path(std::fs::canonicalize(&path)?)
                    .map_err(|()| anyhow::anyhow!("cannot make a URL of {input}"))?,
            };
            Document::new(url, String::from_utf8_lossy(&body).into_owned())
        };
        let ext = pick(&registry, args.site.as_deref(), &doc.url)?;
        let cx = Context::new(ext, fetcher.clone());
        match ext.extract(&cx, doc).await {
            Ok(ex) => {
                for w in &ex.warnings {
                    eprintln!("{input}: warning: {w}");
                }
                let mut out = String::new();
                for mut r in ex.records {
                    r.source = Some(input.clone());
                    out.push_str(&serde_json::to_string(&r)?);
                    out.push('\n');
                }
                print!("{out}");
                eprintln!("{input}: {} links", ex.links.len());
            }
            Err(e) => {
                failed += 1;
                eprintln!("{input}: error ({}): {e}", ext.name());
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} inputs failed", args.inputs.len());
    }
    Ok(ExitCode::SUCCESS)
}
