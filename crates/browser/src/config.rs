//! Pool configuration, its machine-sized defaults, and finding the Chrome/Chromium executable.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use thiserror::Error;

/// The desktop Chrome User-Agent browser pages send by default ([`BrowserConfig::user_agent`]).
pub const CHROME_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Names looked up in `PATH` when neither the configuration nor `CHROME` names an executable.
pub const CHROME_NAMES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// Real binaries behind distribution wrapper scripts (Debian's `/usr/bin/chromium` is a shell
/// script that adds flags from `/etc/chromium.d` and prints noise; the binary gives a clean
/// command line).
const WRAPPED_BINARIES: &[&str] = &[
    "/usr/lib/chromium/chromium",
    "/usr/lib/chromium-browser/chromium-browser",
];

/// Why a pool could not be set up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// No Chrome/Chromium executable was found; names every place that was tried.
    #[error(
        "no Chrome/Chromium executable found (tried {tried}); install chromium, set CHROME=/path/to/chrome or pass --chrome"
    )]
    ChromeNotFound {
        /// What was tried, in order.
        tried: String,
    },
    /// An explicitly named executable does not exist.
    #[error("Chrome executable {path} (from {source_name}) does not exist or is not a file")]
    ChromeMissing {
        /// The path given.
        path: PathBuf,
        /// Where it came from: `--chrome` or `CHROME`.
        source_name: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid browser pool setting {setting}: {message}")]
    Invalid {
        /// The setting (flag) at fault.
        setting: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// How the browser pool runs Chromium. Build it with [`BrowserConfig::default`] (sized from the
/// machine's cores) and override fields.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserConfig {
    /// The Chrome/Chromium executable; `None` = `CHROME` env, else `PATH` ([`CHROME_NAMES`]).
    pub chrome: Option<PathBuf>,
    /// Browser processes at most (`--browsers`).
    pub browsers: usize,
    /// Pages (tabs) per browser at most (`--pages-per-browser`); the pool never has more than
    /// `browsers * pages_per_browser` pages open.
    pub pages_per_browser: usize,
    /// Upper bound for every browser operation other than `render` (opening, closing and
    /// evaluating in pages); `render` is bounded by its [`NavOptions::timeout`](haul_core::NavOptions).
    pub page_timeout: Duration,
    /// Upper bound for launching one browser.
    pub launch_timeout: Duration,
    /// The User-Agent every page sends.
    pub user_agent: String,
    /// Fail image, media and font requests (pages load faster; the DOM is unchanged).
    pub block_resources: bool,
    /// Retire (close and replace) a browser after it served this many pages, bounding memory;
    /// 0 = never.
    pub retire_after: u64,
    /// Navigate kept tabs to the next URL instead of opening a new tab per URL (faster, see
    /// the crate docs); a tab that failed or timed out is always closed.
    pub reuse_pages: bool,
    /// Which private-network addresses (loopback, private, link-local, cloud metadata; see
    /// [`haul_core::net::is_private`]) pages may connect to, checked on every connection of
    /// every tab on the address connected to (the pool's network gate). Default:
    /// [`PrivateNetwork::Refuse`].
    pub private_network: PrivateNetwork,
    /// How the network gate resolves host names (the system resolver by default; tests
    /// replace it to serve a public-looking name from 127.0.0.1).
    pub resolver: Resolver,
    /// Upstream proxies the gate connects through (the crawl's one pool, shared with the
    /// HTTP fetcher so that rendered pages follow the same rotation). Default: none.
    pub proxies: Upstream,
}

/// The upstream proxies of a pool ([`haul_core::ProxyPool`]), compared by identity.
#[derive(Debug, Clone, Default)]
pub struct Upstream(pub Option<std::sync::Arc<haul_core::ProxyPool>>);

impl PartialEq for Upstream {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Which private-network addresses a pool's pages may connect to. Public addresses are
/// always allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivateNetwork {
    /// None (a crawl of public shops): a public page's scripts, images or frames cannot reach
    /// 127.0.0.1, 10.x, 169.254.169.254...
    Refuse,
    /// Only these addresses: those of a shop on this machine or network that is crawled
    /// itself, so that its pages still cannot reach the rest of the private network.
    Only(Vec<IpAddr>),
    /// Every address (`--allow-private-network`).
    Allow,
}

/// What a custom [`Resolver`] returns.
pub type Resolution = BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>;

type ResolveFn = dyn Fn(&str, u16) -> Resolution + Send + Sync;

/// Resolves the host names pages connect to: the system's resolver, or a function.
#[derive(Clone, Default)]
pub struct Resolver(Option<Arc<ResolveFn>>);

impl Resolver {
    /// The system's resolver (`getaddrinfo` on a blocking thread).
    pub fn system() -> Self {
        Self(None)
    }

    /// Resolves with `f(host, port)`.
    pub fn custom(f: impl Fn(&str, u16) -> Resolution + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// The addresses of `host`.
    pub(crate) async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        match &self.0 {
            Some(f) => f(host, port).await,
            None => Ok(tokio::net::lookup_host((host, port)).await?.collect()),
        }
    }
}

impl PartialEq for Resolver {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Resolver(custom)"
        } else {
            "Resolver(system)"
        })
    }
}

impl Default for BrowserConfig {
    /// One browser per 4 cores (at least one) with three tabs per core (2 to 8): on 2-core
    /// machines one browser with a few long-lived tabs measured fastest, and 6 tabs beat 4
    /// both on rendering every page (16.3 against 18.6 s for the `mixed` bench shop) and on
    /// pages that wait for scripts' timers and XHR (7.9 against 9.0 s with `--render auto`).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            chrome: None,
            browsers: cores.div_ceil(4).max(1),
            pages_per_browser: (cores * 3).clamp(2, 8),
            page_timeout: Duration::from_secs(30),
            launch_timeout: Duration::from_secs(20),
            user_agent: CHROME_USER_AGENT.to_string(),
            block_resources: true,
            retire_after: 100,
            reuse_pages: true,
            private_network: PrivateNetwork::Refuse,
            resolver: Resolver::system(),
            proxies: Upstream::default(),
        }
    }
}

impl BrowserConfig {
    /// The defaults with every private-network address allowed: for pages of shops on this
    /// machine (tests, benchmarks).
    pub fn local() -> Self {
        Self {
            private_network: PrivateNetwork::Allow,
            ..Self::default()
        }
    }
}

impl BrowserConfig {
    /// Checks the ranges of the settings.
    pub fn validate(&self) -> Result<(), BrowserError> {
        let invalid = |setting, message: &str| {
            Err(BrowserError::Invalid {
                setting,
                message: message.to_string(),
            })
        };
        if self.browsers == 0 {
            return invalid("--browsers", "must be at least 1");
        }
        if self.pages_per_browser == 0 {
            return invalid("--pages-per-browser", "must be at least 1");
        }
        if self.page_timeout.is_zero() {
            return invalid("--page-timeout", "must be more than 0");
        }
        if self.launch_timeout.is_zero() {
            return invalid("launch_timeout", "must be more than 0");
        }
        if self.user_agent.trim().is_empty() {
            return invalid("--user-agent", "must not be empty");
        }
        Ok(())
    }

    /// The most pages open at once: `browsers * pages_per_browser`.
    pub fn max_pages(&self) -> usize {
        self.browsers.saturating_mul(self.pages_per_browser)
    }

    /// The executable to launch: [`chrome`](Self::chrome), else the `CHROME` environment
    /// variable, else the first of [`CHROME_NAMES`] in `PATH`.
    pub fn resolve_chrome(&self) -> Result<PathBuf, BrowserError> {
        let env = std::env::var_os("CHROME").filter(|v| !v.is_empty());
        resolve_chrome(
            self.chrome.as_deref(),
            env.as_deref().map(Path::new),
            std::env::var_os("PATH"),
        )
    }
}

/// [`BrowserConfig::resolve_chrome`] with its inputs spelled out (testable without touching
/// the process environment).
pub fn resolve_chrome(
    explicit: Option<&Path>,
    env: Option<&Path>,
    path_var: Option<std::ffi::OsString>,
) -> Result<PathBuf, BrowserError> {
    if let Some(path) = explicit {
        return existing(path, "--chrome");
    }
    if let Some(path) = env {
        return existing(path, "CHROME");
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    for name in CHROME_NAMES {
        if let Ok(found) = which::which_in(name, path_var.as_ref(), &cwd) {
            return Ok(unwrap_wrapper(found));
        }
    }
    Err(BrowserError::ChromeNotFound {
        tried: format!(
            "--chrome (not given), CHROME (unset), {} in PATH",
            CHROME_NAMES.join(", ")
        ),
    })
}

fn existing(path: &Path, source_name: &'static str) -> Result<PathBuf, BrowserError> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(BrowserError::ChromeMissing {
            path: path.to_path_buf(),
            source_name,
        })
    }
}

/// A `PATH` hit that is a shell script wrapping a known real binary becomes that binary.
fn unwrap_wrapper(found: PathBuf) -> PathBuf {
    let is_script = std::fs::read(&found)
        .map(|bytes| bytes.starts_with(b"#!"))
        .unwrap_or(false);
    if is_script && let Some(real) = WRAPPED_BINARIES.iter().map(Path::new).find(|p| p.is_file()) {
        return real.to_path_buf();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_sized_from_cores() {
        let cfg = BrowserConfig::default();
        cfg.validate().unwrap();
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        assert!(cfg.browsers >= 1 && cfg.browsers <= cores.max(1));
        assert!((2..=8).contains(&cfg.pages_per_browser));
        assert_eq!(cfg.page_timeout, Duration::from_secs(30));
        assert_eq!(cfg.retire_after, 100);
        assert!(cfg.block_resources && cfg.reuse_pages);
        assert_eq!(cfg.user_agent, CHROME_USER_AGENT);
    }

    #[test]
    fn invalid_settings_name_the_flag() {
        for (cfg, flag) in [
            (
                BrowserConfig {
                    browsers: 0,
                    ..Default::default()
                },
                "--browsers",
            ),
            (
                BrowserConfig {
                    pages_per_browser: 0,
                    ..Default::default()
                },
                "--pages-per-browser",
            ),
            (
                BrowserConfig {
                    page_timeout: Duration::ZERO,
                    ..Default::default()
                },
                "--page-timeout",
            ),
        ] {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(flag), "{err}");
        }
    }

    #[test]
    fn chrome_resolution_order_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("chromium");
        std::fs::write(&fake, b"\x7fELF fake").unwrap();
        // Explicit wins; a missing explicit path is an error naming it.
        assert_eq!(resolve_chrome(Some(&fake), None, None).unwrap(), fake);
        let missing = dir.path().join("nope");
        let err = resolve_chrome(Some(&missing), Some(&fake), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope") && err.contains("--chrome"), "{err}");
        // Then CHROME.
        let err = resolve_chrome(None, Some(&missing), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("CHROME"), "{err}");
        assert_eq!(resolve_chrome(None, Some(&fake), None).unwrap(), fake);
        // Then PATH (needs the executable bit for `which`).
        let bin = tempfile::tempdir().unwrap();
        let err = resolve_chrome(None, None, Some(bin.path().into()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("chromium-browser") && err.contains("PATH"),
            "{err}"
        );
        use std::os::unix::fs::PermissionsExt;
        let chrome = bin.path().join("google-chrome");
        std::fs::write(&chrome, b"\x7fELF fake").unwrap();
        std::fs::set_permissions(&chrome, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            resolve_chrome(None, None, Some(bin.path().into())).unwrap(),
            chrome
        );
    }
}
