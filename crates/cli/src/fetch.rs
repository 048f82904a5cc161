//! `haul fetch`: save pages (raw over HTTP, or rendered) as files, for site fixtures
//! (`cargo xtask record SITE URL...` calls it with the site's fixtures folder).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use haul_core::{FetchRequest, Fetcher};
use haul_runner::{HttpFetcher, HttpOptions};
use url::Url;

/// Arguments of `haul fetch`.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Folder to write the pages to (created when missing).
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    /// URLs to save.
    #[arg(required = true, value_name = "URL")]
    pub urls: Vec<Url>,
}

/// A file name for `url`: its host and path with every other character replaced by `_`.
pub(crate) fn file_name(url: &Url) -> String {
    let mut s = format!("{}{}", url.host_str().unwrap_or("page"), url.path());
    if let Some(q) = url.query() {
        s.push('_');
        s.push_str(q);
    }
    let mut name: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name = name.trim_matches('_').to_string();
    if !name.ends_with(".html") && !name.ends_with(".json") {
        name.push_str(".html");
    }
    name
}

pub(crate) async fn fetch(args: FetchArgs) -> anyhow::Result<ExitCode> {
    // A fixture recorder: the user names every URL, private hosts included.
    let fetcher = HttpFetcher::new(&HttpOptions::local())?;
    let dir = args.out_dir.clone();
    tokio::task::spawn_blocking(move || std::fs::create_dir_all(&dir))
        .await?
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    for url in &args.urls {
        let doc = fetcher.fetch(FetchRequest::get(url.clone())).await?;
        let path = args.out_dir.join(file_name(url));
        save(&path, doc.body.into_bytes()).await?;
        println!("{url} -> {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn save(path: &Path, bytes: Vec<u8>) -> anyhow::Result<()> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::write(&p, bytes))
        .await?
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_and_distinct() {
        let u = |s| Url::parse(s).unwrap();
        assert_eq!(
            file_name(&u("https://shop.example/p/a-1")),
            "shop.example_p_a-1.html"
        );
        assert_eq!(
            file_name(&u("https://shop.example/products.json?page=2")),
            "shop.example_products.json_page_2.html"
        );
    }
}
