//! `cargo xtask crawl`: run the release `haul crawl`, optionally against the served demo shop.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::util;

/// Kills the demo server when dropped, so no server outlives the crawl (also on errors).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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
    let mut child = Command::new(&haul)
        .args(["serve", "demo", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {} serve demo", haul.display()))?;
    let stdout = child.stdout.take().context("demo server has no stdout")?;
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("cannot read the demo server's address")?;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .with_context(|| format!("demo server printed no address: {line:?}"))?
        .to_string();
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
