//! Shared HTTP client set-up: TLS provider and haul's HTTP User-Agent (the browser's default
//! User-Agent is `haul_browser::CHROME_USER_AGENT`).
//!
//! reqwest 0.13 defaults to rustls with aws-lc; haul builds reqwest with `rustls-no-provider`
//! and installs rustls's ring provider here instead, which avoids aws-lc-sys's long C build.
//! Every crate that builds a `reqwest::Client` must start from [`client_builder`].

use std::sync::Once;

/// The User-Agent haul sends over plain HTTP unless configured otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "Mozilla/5.0 (compatible; haul/",
    env!("CARGO_PKG_VERSION"),
    "; +https://github.com/haul-crawler/haul)"
);

/// The robots.txt product token matched against `User-agent:` lines.
pub const ROBOTS_TOKEN: &str = "haul";

static PROVIDER: Once = Once::new();

/// Installs the ring TLS provider once per process (idempotent).
pub fn ensure_tls_provider() {
    PROVIDER.call_once(|| {
        // Another component may have installed one already; either way one is present.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A `reqwest::ClientBuilder` with the TLS provider installed and haul's defaults
/// (User-Agent, gzip/brotli, redirects).
pub fn client_builder() -> reqwest::ClientBuilder {
    ensure_tls_provider();
    reqwest::Client::builder().user_agent(DEFAULT_USER_AGENT)
}
