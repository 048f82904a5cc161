//! `haul parse`: what an extractor gets from given pages (saved files or URLs), printed as
//! JSON Lines, each record carrying the input it came from in `source` (like `scrapy parse`).
//! URLs go through the crawl's own page pipeline (polite fetcher, retries, validation), files
//! through the same validation, so what `parse` shows is what a crawl would write.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use haul_core::{Context, Document, Extractor, Fetcher, Registry};
use haul_runner::{
    CancellationToken, Checked, CrawlOptions, Crawler, HttpFetcher, HttpOptions, PoliteFetcher,
    Politeness, Services, SiteJob,
};
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
    /// Give no price rather than one whose confidence is below this, 0 to 1 (see
    /// `haul crawl --min-confidence`).
    #[arg(long, value_name = "C", value_parser = crate::args::parse_confidence)]
    pub min_confidence: Option<f64>,
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
    // The same polite fetcher as a crawl: robots.txt and the per-domain limits apply.
    // Private-network hosts only when an input URL is on one.
    let local = args
        .inputs
        .iter()
        .any(|i| Url::parse(i).is_ok_and(|u| haul_runner::private_literal(&u).is_some()));
    let http = HttpOptions {
        allow_private_network: local,
        ..HttpOptions::default()
    };
    let fetcher: Arc<dyn Fetcher> = Arc::new(PoliteFetcher::new(
        HttpFetcher::new(&http)?,
        Politeness::default(),
    ));
    let services = Services {
        fetcher: fetcher.clone(),
        pages: None,
        llm: None,
    };
    let opts = CrawlOptions {
        min_confidence: args.min_confidence,
        ..CrawlOptions::default()
    };
    let crawler = Crawler::detached(opts, services, CancellationToken::new());
    let mut failed = 0;
    for input in &args.inputs {
        let is_url = input.starts_with("http://") || input.starts_with("https://");
        let result = if is_url {
            let url = Url::parse(input).with_context(|| format!("{input:?} is not a valid URL"))?;
            let ext = pick(&registry, args.site.as_deref(), &url)?;
            parse_url(&crawler, ext, url).await
        } else {
            let doc = read_file(input, args.url.as_ref()).await?;
            let ext = pick(&registry, args.site.as_deref(), &doc.url)?;
            let url = doc.url.clone();
            let cx = Context::new(ext, fetcher.clone()).with_min_confidence(args.min_confidence);
            ext.extract(&cx, doc)
                .await
                .map(|ex| Checked::new(ext, &url, ex))
                .map_err(|e| format!("error ({}): {e}", ext.name()))
        };
        match result {
            Ok(checked) => print_checked(input, &checked)?,
            Err(e) => {
                failed += 1;
                eprintln!("{input}: {e}");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} inputs failed", args.inputs.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// Crawls `url` as a crawl's page would be (retries included), without writing.
async fn parse_url(
    crawler: &Crawler,
    ext: &'static dyn Extractor,
    url: Url,
) -> Result<Checked, String> {
    let job = SiteJob::new(ext, vec![url.clone()]);
    let page = crawler.crawl_page(&job, 0, &url).await;
    if let Some(kind) = page.error {
        // The cause was logged as a warning by the crawler.
        return Err(format!("failed ({}): {kind}", ext.name()));
    }
    Ok(Checked {
        records: page.records,
        links: page.links,
        // The crawler logged the breaches and warnings themselves.
        breach: page.breach.map(|kind| (kind, Vec::new())),
        ..Checked::default()
    })
}

/// A saved page as a document from `url` (default: the file's own `file://` URL).
async fn read_file(input: &str, url: Option<&Url>) -> anyhow::Result<Document> {
    let path = std::path::PathBuf::from(input);
    let body = {
        let p = path.clone();
        tokio::task::spawn_blocking(move || std::fs::read(&p)).await?
    }
    .with_context(|| format!("cannot read {input}"))?;
    let url = match url {
        Some(u) => u.clone(),
        None => Url::from_file_path(std::fs::canonicalize(&path)?)
            .map_err(|()| anyhow::anyhow!("cannot make a URL of {input}"))?,
    };
    Ok(Document::new(
        url,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

/// Prints the records as JSON Lines (each with its input in `source`), and the warnings,
/// dropped records, contract breaches and link count on stderr.
fn print_checked(input: &str, checked: &Checked) -> anyhow::Result<()> {
    for w in &checked.warnings {
        eprintln!("{input}: warning: {w}");
    }
    for m in checked.dropped_messages() {
        eprintln!("{input}: warning: {m}");
    }
    if let Some((kind, breaches)) = &checked.breach {
        eprintln!(
            "{input}: contract of {kind:?} pages broken{}{}",
            if breaches.is_empty() { "" } else { ": " },
            checked.breach_message()
        );
    }
    let mut out = String::new();
    for r in &checked.records {
        let mut r = r.clone();
        r.source = Some(input.to_string());
        out.push_str(&serde_json::to_string(&r)?);
        out.push('\n');
    }
    print!("{out}");
    eprintln!("{input}: {} links", checked.links.len());
    Ok(())
}
