//! Crawl settings merged from built-in defaults, `haul.toml`, `HAUL_*` environment variables
//! and flags (flags win). A bad key or value is an error naming it and where it came from.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::args::{CrawlArgs, ExtractArg, LlmProviderArg, RenderArg};

/// Every crawl setting with its default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    pub(crate) output: PathBuf,
    pub(crate) max_level: u32,
    pub(crate) concurrency: usize,
    pub(crate) global_concurrency: Option<usize>,
    pub(crate) per_domain_concurrency: usize,
    pub(crate) delay_ms: u64,
    pub(crate) max_pages: Option<u64>,
    pub(crate) allow: Vec<String>,
    pub(crate) deny: Vec<String>,
    pub(crate) render: RenderArg,
    pub(crate) page_timeout: u64,
    pub(crate) retries: u32,
    pub(crate) grace_secs: u64,
    pub(crate) ignore_robots: bool,
    pub(crate) user_agent: String,
    pub(crate) stats: Option<PathBuf>,
    pub(crate) state: Option<PathBuf>,
    pub(crate) browsers: Option<usize>,
    pub(crate) pages_per_browser: Option<usize>,
    pub(crate) chrome: Option<PathBuf>,
    pub(crate) retire_after: u64,
    pub(crate) load_resources: bool,
    pub(crate) browser_user_agent: Option<String>,
    pub(crate) no_pool: bool,
    pub(crate) llm_provider: LlmProviderArg,
    pub(crate) llm_base_url: Option<url::Url>,
    pub(crate) llm_model: Option<String>,
    pub(crate) llm_workers: usize,
    pub(crate) llm_max_in_flight: usize,
    pub(crate) llm_rpm: Option<u32>,
    pub(crate) extract: ExtractArg,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            output: PathBuf::from("-"),
            max_level: 3,
            concurrency: 8,
            global_concurrency: None,
            per_domain_concurrency: 8,
            delay_ms: 0,
            max_pages: None,
            allow: Vec::new(),
            deny: Vec::new(),
            render: RenderArg::Auto,
            page_timeout: 30,
            retries: 3,
            grace_secs: 10,
            ignore_robots: false,
            user_agent: haul_core::http::DEFAULT_USER_AGENT.into(),
            stats: None,
            state: None,
            browsers: None,
            pages_per_browser: None,
            chrome: None,
            retire_after: 100,
            load_resources: false,
            browser_user_agent: None,
            no_pool: false,
            llm_provider: LlmProviderArg::Gemini,
            llm_base_url: None,
            llm_model: None,
            llm_workers: 20,
            llm_max_in_flight: 20,
            llm_rpm: None,
            extract: ExtractArg::Auto,
        }
    }
}

impl Settings {
    /// Merges defaults < config file < environment < flags.
    pub(crate) fn load(args: &CrawlArgs) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        let file = args.config.clone().or_else(|| {
            let default = Path::new("haul.toml");
            default.exists().then(|| default.to_path_buf())
        });
        if let Some(file) = &file {
            if !file.exists() {
                anyhow::bail!("config file {} does not exist", file.display());
            }
            fig = fig.merge(Toml::file_exact(file));
        }
        fig = fig
            .merge(Env::prefixed("HAUL_").filter(|k| !k.as_str().eq_ignore_ascii_case("llm_keys")))
            .merge(Serialized::defaults(args));
        let settings: Settings = fig.extract().map_err(|e| {
            // figment's messages name the key and its source ("in haul.toml TOML file",
            // "in `HAUL_` environment variable(s)"); print every error it collected.
            let all: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
            anyhow::anyhow!("bad configuration: {}", all.join("; "))
        })?;
        settings.validate().context("bad configuration")?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.concurrency == 0 {
            anyhow::bail!("concurrency must be at least 1");
        }
        if self.per_domain_concurrency == 0 {
            anyhow::bail!("per_domain_concurrency must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(argv: &[&str]) -> CrawlArgs {
        let cli = crate::Cli::parse_from(argv);
        match cli.command {
            crate::Command::Crawl(a) => *a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn file_then_flags_with_flags_winning_and_errors_naming_key_and_source() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        std::fs::write(&cfg, "concurrency = 3\nmax_level = 5\nallow = ['/p/']\n").unwrap();
        let c = cfg.to_str().unwrap();
        let s = Settings::load(&args(&["haul", "crawl", "--config", c])).unwrap();
        assert_eq!((s.concurrency, s.max_level, s.retries), (3, 5, 3));
        assert_eq!(s.allow, vec!["/p/".to_string()]);
        let s = Settings::load(&args(&[
            "haul",
            "crawl",
            "--config",
            c,
            "--concurrency",
            "9",
        ]))
        .unwrap();
        assert_eq!(s.concurrency, 9);

        std::fs::write(&cfg, "concurency = 3\n").unwrap();
        let e = Settings::load(&args(&["haul", "crawl", "--config", c]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("concurency") && e.contains("haul.toml"), "{e}");

        std::fs::write(&cfg, "max_level = \"deep\"\n").unwrap();
        let e = Settings::load(&args(&["haul", "crawl", "--config", c]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_level") && e.contains("haul.toml"), "{e}");

        let missing = dir.path().join("nope.toml");
        let e = Settings::load(&args(&[
            "haul",
            "crawl",
            "--config",
            missing.to_str().unwrap(),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("nope.toml"), "{e}");
    }
}
