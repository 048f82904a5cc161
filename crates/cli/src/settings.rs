//! Crawl settings merged from built-in defaults, `haul.toml`, `HAUL_*` environment variables
//! and flags (flags win). A bad key or value is an error naming it and where it came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use haul_core::{Currency, ExtractMode, ProxyPool, ProxyUrl, SiteSession};
use haul_runner::{CrawlOptions, Politeness, RenderMode};

use crate::args::LlmProviderArg;

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
    pub(crate) render: RenderMode,
    pub(crate) page_timeout: u64,
    pub(crate) retries: u32,
    pub(crate) grace_secs: u64,
    pub(crate) ignore_robots: bool,
    pub(crate) allow_private_network: bool,
    pub(crate) max_page_bytes: usize,
    pub(crate) max_retry_after: u64,
    pub(crate) block_pause_after: u32,
    pub(crate) block_stop_after: u32,
    pub(crate) block_backoff_ms: u64,
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
    /// `None`: sized from the keys (see `crawl::llm_in_flight`).
    pub(crate) llm_workers: Option<usize>,
    /// `None`: sized from the keys (see `crawl::llm_in_flight`).
    pub(crate) llm_max_in_flight: Option<usize>,
    pub(crate) llm_rpm: Option<u32>,
    pub(crate) llm_burst: Option<u32>,
    pub(crate) llm_tpm: Option<u32>,
    pub(crate) extract: ExtractMode,
    /// `None`: the extractors' own default.
    pub(crate) min_confidence: Option<f64>,
    /// Per-site session settings, `[sites.NAME]` tables (`haul.toml` only).
    pub(crate) sites: BTreeMap<String, SiteSettings>,
    /// Upstream proxies (`--proxy`, `proxies = [...]`); shown masked.
    pub(crate) proxies: Vec<ProxyUrl>,
    /// `[events]`: the change-event rules and their delivery.
    pub(crate) events: crate::events::EventSettings,
    /// `[[webhooks]]`: where change events are posted.
    pub(crate) webhooks: Vec<crate::events::WebhookSettings>,
    /// Start every site from its sitemaps too (`--sitemap`).
    pub(crate) sitemap: bool,
    /// Fetch pages conditionally and carry unchanged ones forward when the output is a
    /// SQLite store (`--no-revalidate`, `revalidate = false`: download everything again).
    pub(crate) revalidate: bool,
    /// The one pool of the proxies, shared by the fetcher, the browser's gate and the engine.
    #[serde(skip)]
    pool: std::sync::OnceLock<Option<Arc<ProxyPool>>>,
}

/// A site's session settings: `[sites.NAME]` in `haul.toml`, laid over the site crate's
/// default ([`haul_core::Extractor::session`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiteSettings {
    /// Default request headers (`Accept-Language` and others).
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// Cookies sent with every request (pinned).
    #[serde(default)]
    pub(crate) cookies: BTreeMap<String, String>,
    /// Query parameters added to every HTTP request.
    #[serde(default)]
    pub(crate) query: BTreeMap<String, String>,
    /// The locale pinned (`en-US`).
    #[serde(default)]
    pub(crate) locale: Option<String>,
    /// The currency pinned; records in another are flagged.
    #[serde(default)]
    pub(crate) currency: Option<Currency>,
    /// Send a real browser's header set over HTTP.
    #[serde(default)]
    pub(crate) browser_headers: bool,
    /// This site's proxies, instead of the global `proxies`.
    #[serde(default)]
    pub(crate) proxies: Vec<ProxyUrl>,
    /// This site's change-event rules (`[sites.NAME.events]`), over `[events]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) events: Option<crate::events::RuleSettings>,
    /// `haul watch`: recrawl this site at this interval (`30m`, `1h`, `1day`).
    #[serde(default)]
    pub(crate) every: Option<String>,
    /// `haul watch`: recrawl this site at the times of this cron expression (UTC).
    #[serde(default)]
    pub(crate) cron: Option<String>,
    /// `haul watch`: where this site's runs start [default: the site's own start URLs].
    #[serde(default)]
    pub(crate) start_urls: Vec<url::Url>,
    /// Start this site from its sitemaps too (default: the site crate's choice).
    #[serde(default)]
    pub(crate) sitemap: Option<bool>,
}

impl SiteSettings {
    /// As the engine takes them.
    pub(crate) fn session(&self) -> SiteSession {
        let pairs = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        SiteSession {
            headers: pairs(&self.headers),
            cookies: pairs(&self.cookies),
            query: pairs(&self.query),
            locale: self.locale.clone(),
            currency: self.currency,
            browser_headers: self.browser_headers,
            ..SiteSession::default()
        }
    }

    /// Checks the values that would make a bad request, naming the key (`sites.NAME.headers`).
    fn validate(&self, site: &str) -> anyhow::Result<()> {
        let key = |k: &str| format!("sites.{site}.{k}");
        for (name, value) in &self.headers {
            if !is_token(name) {
                anyhow::bail!("{}: {name:?} is not a header name", key("headers"));
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                anyhow::bail!(
                    "{}: the value of {name} has a control character",
                    key("headers")
                );
            }
        }
        for (name, value) in &self.cookies {
            if !is_token(name) {
                anyhow::bail!("{}: {name:?} is not a cookie name", key("cookies"));
            }
            if value
                .chars()
                .any(|c| c.is_control() || matches!(c, ';' | ',' | ' ' | '"' | '\\'))
            {
                anyhow::bail!(
                    "{}: the value of {name} has a character a cookie value cannot have",
                    key("cookies")
                );
            }
        }
        if self.every.is_some() && self.cron.is_some() {
            anyhow::bail!("sites.{site}: give `every` or `cron`, not both");
        }
        if let Some(every) = &self.every {
            haul_watch::Schedule::every(every)
                .map_err(|e| anyhow::anyhow!("{}: {e}", key("every")))?;
        }
        if let Some(cron) = &self.cron {
            haul_watch::Schedule::cron(cron)
                .map_err(|e| anyhow::anyhow!("{}: {e}", key("cron")))?;
        }
        if let Some(l) = &self.locale {
            let mut parts = l.split(['-', '_']);
            let lang_ok = parts.next().is_some_and(|p| {
                (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic())
            });
            if !lang_ok
                || !parts.all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
            {
                anyhow::bail!("{}: {l:?} is not a locale such as en-US", key("locale"));
            }
        }
        Ok(())
    }
}

/// An HTTP token (RFC 9110): a header or cookie name.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Default for Settings {
    /// The engine's own defaults ([`CrawlOptions`], [`Politeness`]), so that they are written
    /// down once.
    fn default() -> Self {
        let engine = CrawlOptions::default();
        let polite = Politeness::default();
        Self {
            output: PathBuf::from("-"),
            max_level: engine.max_level,
            concurrency: engine.concurrency,
            global_concurrency: engine.global_concurrency,
            per_domain_concurrency: polite.per_domain_concurrency,
            delay_ms: polite.delay.as_millis() as u64,
            max_pages: engine.max_pages,
            allow: Vec::new(),
            deny: Vec::new(),
            render: engine.render,
            page_timeout: engine.page_timeout.as_secs(),
            retries: engine.retries,
            grace_secs: engine.grace.as_secs(),
            ignore_robots: !polite.obey_robots,
            allow_private_network: false,
            max_page_bytes: haul_runner::DEFAULT_MAX_BODY as usize,
            max_retry_after: haul_runner::MAX_RETRY_AFTER_SECS,
            block_pause_after: engine.blocks.pause_after,
            block_stop_after: engine.blocks.stop_after,
            block_backoff_ms: engine.blocks.backoff.as_millis() as u64,
            user_agent: haul_runner::HttpOptions::default().user_agent,
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
            llm_workers: None,
            llm_max_in_flight: None,
            llm_rpm: None,
            llm_burst: None,
            llm_tpm: None,
            extract: engine.extract,
            min_confidence: engine.min_confidence,
            sites: BTreeMap::new(),
            proxies: Vec::new(),
            events: crate::events::EventSettings::default(),
            webhooks: Vec::new(),
            sitemap: engine.sitemap,
            revalidate: true,
            pool: std::sync::OnceLock::new(),
        }
    }
}

impl Settings {
    /// The crawl's proxy pool (global and per-site lists), built once; `None` without any.
    pub(crate) fn proxy_pool(&self) -> Option<Arc<ProxyPool>> {
        self.pool
            .get_or_init(|| {
                let sites: Vec<(String, Vec<ProxyUrl>)> = (self.sites.iter())
                    .filter(|(_, s)| !s.proxies.is_empty())
                    .map(|(name, s)| (name.clone(), s.proxies.clone()))
                    .collect();
                (!self.proxies.is_empty() || !sites.is_empty())
                    .then(|| Arc::new(ProxyPool::new(self.proxies.clone(), sites)))
            })
            .clone()
    }

    /// The block circuit breaker's settings.
    pub(crate) fn breaker(&self) -> haul_runner::BreakerOptions {
        haul_runner::BreakerOptions {
            pause_after: self.block_pause_after,
            stop_after: self.block_stop_after,
            backoff: std::time::Duration::from_millis(self.block_backoff_ms),
            max_backoff: std::time::Duration::from_secs(self.max_retry_after),
        }
    }

    /// Merges defaults < config file (`config`, else `haul.toml` when it exists) <
    /// environment < `flags` (the command's arguments, serialised under the settings' names).
    pub(crate) fn load(config: Option<&Path>, flags: &impl Serialize) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        let file = config.map(Path::to_path_buf).or_else(|| {
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
            .merge(Env::prefixed("HAUL_").filter(|k| {
                // Secrets, read where they are used, never settings.
                !k.as_str().eq_ignore_ascii_case("llm_keys")
                    && !k.as_str().eq_ignore_ascii_case("webhook_secret")
            }))
            .merge(Serialized::defaults(flags));
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
        self.breaker().validate()?;
        if self.concurrency == 0 {
            anyhow::bail!("concurrency must be at least 1");
        }
        if self.per_domain_concurrency == 0 {
            anyhow::bail!("per_domain_concurrency must be at least 1");
        }
        for (name, value) in [
            ("llm_rpm (--llm-rpm)", self.llm_rpm),
            ("llm_burst (--llm-burst)", self.llm_burst),
            ("llm_tpm (--llm-tpm)", self.llm_tpm),
        ] {
            if value == Some(0) {
                anyhow::bail!("{name} must be at least 1");
            }
        }
        for (name, value) in [
            ("llm_workers (--llm-workers)", self.llm_workers),
            (
                "llm_max_in_flight (--llm-max-in-flight)",
                self.llm_max_in_flight,
            ),
        ] {
            if value == Some(0) {
                anyhow::bail!("{name} must be at least 1");
            }
        }
        if let Some(c) = self.min_confidence
            && !(0.0..=1.0).contains(&c)
        {
            anyhow::bail!("min_confidence (--min-confidence) must be from 0 to 1, got {c}");
        }
        for (site, s) in &self.sites {
            s.validate(site)?;
        }
        crate::events::store_options(self)?;
        if self.llm_burst.is_some() && self.llm_rpm.is_none() {
            anyhow::bail!(
                "llm_burst (--llm-burst) needs llm_rpm (--llm-rpm): a burst is the size of the per-minute bucket"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The settings `argv` gives (`haul crawl ...` or `haul worker ...`).
    fn load(argv: &[&str]) -> anyhow::Result<Settings> {
        match crate::Cli::parse_from(argv).command {
            crate::Command::Crawl(a) => Settings::load(a.engine.config.as_deref(), &a),
            crate::Command::Worker(a) => Settings::load(a.engine.config.as_deref(), &a),
            _ => unreachable!(),
        }
    }

    #[test]
    fn proxies_come_from_flags_or_the_file_per_site_and_bad_ones_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        std::fs::write(
            &cfg,
            "proxies = [\"http://a:pw1@127.0.0.1:1\"]\n[sites.generic]\nproxies = [\"socks5://u:pw2@h:2\"]\n",
        )
        .unwrap();
        let c = cfg.to_str().unwrap();
        let s = load(&["haul", "crawl", "--config", c]).unwrap();
        assert_eq!(s.proxies[0].to_string(), "http://a:***@127.0.0.1:1");
        assert_eq!(
            s.sites["generic"].proxies[0].to_string(),
            "socks5://u:***@h:2"
        );
        let pool = s.proxy_pool().unwrap();
        assert!(Arc::ptr_eq(&pool, &s.proxy_pool().unwrap()), "one pool");
        assert_eq!(pool.pick(Some("generic"), "d").unwrap().url.host(), "h");
        let s = load(&[
            "haul",
            "worker",
            "--redis",
            "redis://r/0",
            "--proxy",
            "http://x:9",
            "--proxy",
            "socks5h://y",
        ])
        .unwrap();
        assert_eq!(s.proxies.len(), 2, "workers take --proxy too");
        for (argv, key) in [
            (
                vec!["haul", "crawl", "--proxy", "ftp://u:hidden@h"],
                "proxies",
            ),
            (vec!["haul", "crawl", "--proxy", "http://"], "proxies"),
        ] {
            let e = format!("{:#}", load(&argv).unwrap_err());
            assert!(e.contains(key), "{e}");
            assert!(!e.contains("hidden"), "{e}");
        }
        std::fs::write(&cfg, "[sites.generic]\nproxies = [\"gopher://h\"]\n").unwrap();
        let e = format!("{:#}", load(&["haul", "crawl", "--config", c]).unwrap_err());
        assert!(
            e.contains("sites.generic.proxies") && e.contains("gopher"),
            "{e}"
        );
    }

    #[test]
    fn file_then_flags_with_flags_winning_and_errors_naming_key_and_source() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        std::fs::write(&cfg, "concurrency = 3\nmax_level = 5\nallow = ['/p/']\n").unwrap();
        let c = cfg.to_str().unwrap();
        let s = load(&["haul", "crawl", "--config", c]).unwrap();
        assert_eq!((s.concurrency, s.max_level, s.retries), (3, 5, 3));
        assert_eq!(s.allow, vec!["/p/".to_string()]);
        let s = load(&["haul", "crawl", "--config", c, "--concurrency", "9"]).unwrap();
        assert_eq!(s.concurrency, 9);

        std::fs::write(&cfg, "concurency = 3\n").unwrap();
        let e = load(&["haul", "crawl", "--config", c])
            .unwrap_err()
            .to_string();
        assert!(e.contains("concurency") && e.contains("haul.toml"), "{e}");

        std::fs::write(&cfg, "max_level = \"deep\"\n").unwrap();
        let e = load(&["haul", "crawl", "--config", c])
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_level") && e.contains("haul.toml"), "{e}");

        let missing = dir.path().join("nope.toml");
        let e = load(&["haul", "crawl", "--config", missing.to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.toml"), "{e}");
    }

    #[test]
    fn defaults_are_the_engines_own() {
        let (o, e) = (
            crate::crawl::crawl_options(&Settings::default()),
            CrawlOptions::default(),
        );
        assert_eq!(
            (
                o.max_level,
                o.concurrency,
                o.max_pages,
                o.global_concurrency
            ),
            (
                e.max_level,
                e.concurrency,
                e.max_pages,
                e.global_concurrency
            )
        );
        assert_eq!(
            (o.render, o.extract, o.page_timeout, o.retries, o.grace),
            (e.render, e.extract, e.page_timeout, e.retries, e.grace)
        );
    }

    #[test]
    fn llm_pacing_comes_from_flags_or_the_file_and_bad_values_name_the_setting() {
        let s = load(&[
            "haul",
            "crawl",
            "--llm-rpm",
            "600",
            "--llm-burst",
            "10",
            "--llm-tpm",
            "100000",
        ])
        .unwrap();
        assert_eq!(
            (s.llm_rpm, s.llm_burst, s.llm_tpm),
            (Some(600), Some(10), Some(100_000))
        );
        let worker = ["haul", "worker", "--redis", "redis://r/0"];
        let s = load(&[&worker[..], &["--llm-rpm", "60", "--llm-burst", "2"]].concat()).unwrap();
        assert_eq!(
            (s.llm_rpm, s.llm_burst, s.llm_tpm),
            (Some(60), Some(2), None)
        );
        for flag in ["--llm-rpm", "--llm-burst", "--llm-tpm"] {
            for bad in ["0", "-1", "many"] {
                let e = crate::Cli::try_parse_from(["haul", "crawl", &format!("{flag}={bad}")])
                    .unwrap_err()
                    .to_string();
                assert!(e.contains(flag), "{flag} {bad}: {e}");
            }
        }
        let e = format!(
            "{:#}",
            load(&["haul", "crawl", "--llm-burst", "5"]).unwrap_err()
        );
        assert!(e.contains("--llm-burst") && e.contains("--llm-rpm"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        let c = cfg.to_str().unwrap();
        std::fs::write(&cfg, "llm_rpm = 600\nllm_burst = 10\nllm_tpm = 5000\n").unwrap();
        let s = load(&["haul", "crawl", "--config", c, "--llm-burst", "3"]).unwrap();
        assert_eq!(
            (s.llm_rpm, s.llm_burst, s.llm_tpm),
            (Some(600), Some(3), Some(5000))
        );
        std::fs::write(&cfg, "llm_rpm = 600\nllm_burst = 0\n").unwrap();
        let e = load(&["haul", "crawl", "--config", c]).unwrap_err();
        assert!(format!("{e:#}").contains("llm_burst"), "{e:#}");
        std::fs::write(&cfg, "llm_tpm = -5\n").unwrap();
        let e = load(&["haul", "crawl", "--config", c])
            .unwrap_err()
            .to_string();
        assert!(e.contains("llm_tpm") && e.contains("haul.toml"), "{e}");
    }

    #[test]
    fn min_confidence_comes_from_the_flag_or_the_file_and_must_be_0_to_1() {
        assert_eq!(load(&["haul", "crawl"]).unwrap().min_confidence, None);
        let s = load(&["haul", "crawl", "--min-confidence", "0.8"]).unwrap();
        assert_eq!(s.min_confidence, Some(0.8));
        assert_eq!(crawl_options_of(&s).min_confidence, Some(0.8));
        for bad in ["1.5", "-0.1", "high"] {
            let e =
                crate::Cli::try_parse_from(["haul", "crawl", &format!("--min-confidence={bad}")])
                    .unwrap_err()
                    .to_string();
            assert!(
                e.contains("--min-confidence") && e.contains("0 to 1"),
                "{bad}: {e}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        let c = cfg.to_str().unwrap();
        std::fs::write(&cfg, "min_confidence = 0.6\n").unwrap();
        assert_eq!(
            load(&["haul", "crawl", "--config", c])
                .unwrap()
                .min_confidence,
            Some(0.6)
        );
        std::fs::write(&cfg, "min_confidence = 2\n").unwrap();
        let e = format!("{:#}", load(&["haul", "crawl", "--config", c]).unwrap_err());
        assert!(e.contains("min_confidence") && e.contains("0 to 1"), "{e}");
    }

    #[test]
    fn block_breaker_settings_come_from_flags_or_the_file_and_are_checked() {
        let s = load(&["haul", "crawl"]).unwrap();
        assert_eq!((s.block_pause_after, s.block_stop_after), (3, 10));
        let argv = [
            "haul",
            "crawl",
            "--block-pause-after",
            "2",
            "--block-stop-after",
            "4",
            "--block-backoff-ms",
            "50",
        ];
        let o = crawl_options_of(&load(&argv).unwrap()).blocks;
        assert_eq!((o.pause_after, o.stop_after), (2, 4));
        assert_eq!(o.backoff, std::time::Duration::from_millis(50));
        let e = format!(
            "{:#}",
            load(&["haul", "crawl", "--block-stop-after", "2"]).unwrap_err()
        );
        assert!(e.contains("block_stop_after (2)"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        std::fs::write(&cfg, "block_pause_after = 0\n").unwrap();
        let c = cfg.to_str().unwrap();
        let e = format!("{:#}", load(&["haul", "crawl", "--config", c]).unwrap_err());
        assert!(e.contains("block_pause_after"), "{e}");
    }

    #[test]
    fn sitemaps_and_revalidation_come_from_flags_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        let c = cfg.to_str().unwrap();
        std::fs::write(
            &cfg,
            "revalidate = false
[sites.shopify]
sitemap = true
",
        )
        .unwrap();
        let s = load(&["haul", "crawl", "--config", c]).unwrap();
        assert!(!s.revalidate && !s.sitemap);
        let opts = crate::crawl::crawl_options(&s);
        assert_eq!(opts.site_sitemaps.get("shopify"), Some(&true));
        let registry = haul_sites::registry().unwrap();
        assert!(opts.uses_sitemap(registry.get("shopify").unwrap()));
        assert!(!opts.uses_sitemap(registry.get("demo").unwrap()));
        let s = load(&["haul", "crawl", "--sitemap"]).unwrap();
        assert!(s.revalidate && s.sitemap);
        let opts = crate::crawl::crawl_options(&s);
        assert!(opts.uses_sitemap(registry.get("demo").unwrap()));
    }

    #[test]
    fn sites_tables_give_each_site_its_session_and_bad_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        let c = cfg.to_str().unwrap();
        std::fs::write(
            &cfg,
            r#"
[sites.shopify]
headers = { "Accept-Language" = "en-US,en;q=0.9", "X-Test" = "1" }
cookies = { localization = "US" }
locale = "en-US"
currency = "usd"
browser_headers = true

[sites.woocommerce]
query = { currency = "USD" }
"#,
        )
        .unwrap();
        let s = load(&["haul", "crawl", "--config", c]).unwrap();
        let shop = s.sites["shopify"].session();
        assert_eq!(shop.currency.map(|c| c.to_string()).as_deref(), Some("USD"));
        assert_eq!(shop.locale.as_deref(), Some("en-US"));
        assert!(shop.browser_headers);
        assert_eq!(shop.cookies, vec![("localization".into(), "US".into())]);
        assert_eq!(shop.headers.len(), 2);
        assert_eq!(
            s.sites["woocommerce"].session().query,
            vec![("currency".to_string(), "USD".to_string())]
        );
        // The site crate's pin ways stay under the settings: Shopify's currency cookie.
        let registry = haul_sites::registry().unwrap();
        let url = url::Url::parse("https://shop.example/products.json").unwrap();
        let job = haul_runner::SiteJob::new(registry.get("shopify").unwrap(), vec![url.clone()]);
        let job = crawl_options_of(&s).with_site_session(job);
        let cookie = job.session.cookie_header(&url).unwrap();
        assert!(cookie.contains("cart_currency=USD"), "{cookie}");
        assert!(cookie.contains("localization=US"), "{cookie}");

        for (toml, key) in [
            (
                "[sites.acme]\nheaders = { \"Bad Name\" = \"x\" }\n",
                "sites.acme.headers",
            ),
            ("[sites.acme]\nheaders = \"en\"\n", "sites.acme.headers"),
            (
                "[sites.acme]\ncookies = { sid = \"a;b\" }\n",
                "sites.acme.cookies",
            ),
            ("[sites.acme]\ncurrency = \"dollars\"\n", "currency"),
            (
                "[sites.acme]\nlocale = \"english please\"\n",
                "sites.acme.locale",
            ),
            ("[sites.acme]\nbrowser_header = true\n", "browser_header"),
        ] {
            std::fs::write(&cfg, toml).unwrap();
            let e = format!("{:#}", load(&["haul", "crawl", "--config", c]).unwrap_err());
            assert!(e.contains(key), "{toml}: {e}");
        }
        std::fs::write(&cfg, "[sites.nosuchsite]\ncurrency = \"USD\"\n").unwrap();
        let s = load(&["haul", "crawl", "--config", c]).unwrap();
        let e = crate::crawl::check_site_sessions(&registry, &s).unwrap_err();
        assert!(format!("{e:#}").contains("sites.nosuchsite"), "{e:#}");
    }

    fn crawl_options_of(s: &Settings) -> haul_runner::CrawlOptions {
        crate::crawl::crawl_options(s)
    }

    #[test]
    fn a_worker_reads_the_same_engine_settings_and_no_crawl_flags() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        std::fs::write(
            &cfg,
            "concurrency = 3
retries = 5
max_level = 1
",
        )
        .unwrap();
        let c = cfg.to_str().unwrap();
        let argv = ["haul", "worker", "--redis", "redis://r/0", "--config", c];
        let s = load(&[&argv[..], &["--concurrency", "7", "--render", "never"]].concat()).unwrap();
        assert_eq!((s.concurrency, s.retries, s.max_level), (7, 5, 1));
        assert_eq!(s.render, RenderMode::Never);
        for crawl_only in ["--start-url", "-o", "--max-level", "--max-pages", "--allow"] {
            let args = [&argv[..], &[crawl_only, "x"]].concat();
            assert!(crate::Cli::try_parse_from(args).is_err(), "{crawl_only}");
        }
    }
}
