//! `cargo xtask crawl`: run the release `haul crawl`, optionally against the served demo shop.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util;

pub(crate) fn crawl(args: &[String]) -> Result<()> {
    let demo = args.iter().any(|a| a == "--demo");
    let mut rest: Vec<String> = args.iter().filter(|a| *a != "--demo").cloned().collect();
    let haul = util::build_haul_release()?;
    if !demo {
        let status = Command::new(&haul)
            .arg("crawl")
            .args(&rest)
            .status()
            .with_context(|| format!("cannot run {}", haul.display()))?;
        if !status.success() {
            bail!("haul crawl failed ({status})");
        }
        return Ok(());
    }
    let (server, url) = crate::bench::serve(&haul, &["demo", "--port", "0"])?;
    eprintln!("xtask: demo shop at {url}");
    if !rest
        .iter()
        .any(|a| a == "-o" || a == "--output" || a.starts_with("--output="))
    {
        rest.extend(["-o".into(), "demo.jsonl".into()]);
    }
    let status = Command::new(&haul)
        .args(["crawl", "demo", "--start-url", &url])
        .args(&rest)
        .status()
        .with_context(|| format!("cannot run {}", haul.display()))?;
    drop(server);
    if !status.success() {
        bail!("haul crawl failed ({status})");
    }
    Ok(())
}
