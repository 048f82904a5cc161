//! haul's browser pool: headless Chromium pages behind haul-core's [`PagePool`] contract.
//!
//! * [`BrowserPool`]: `browsers` Chromium processes with up to `pages_per_browser` tabs each
//!   (never more than `browsers * pages_per_browser` pages open). Browsers launch lazily and
//!   concurrently on first use; a page goes to the least-loaded browser; a page handle gives
//!   its tab back when dropped (also on error, timeout or panic). Kept tabs are re-navigated
//!   for the next URL ([`BrowserConfig::reuse_pages`]); a tab that failed, timed out or was
//!   cancelled mid-navigation is closed instead. Measured with the `bench` module (cargo
//!   feature `bench`) on 2 cores (100 script-rendered pages, 30 ms latency, 1 browser x 6
//!   tabs): reused tabs 28.4 pages/s,
//!   a new tab per URL 12.6 pages/s, a browser per URL 2.3 pages/s (BENCHMARKS.md).
//! * [`OwnBrowser`]: the fallback without a pool: each `acquire` launches its own browser,
//!   closed when the handle drops. Extractors cannot tell the two apart.
//!
//! Health: a browser whose process dies (killed, crashed, CDP connection closed) is noticed by
//! its handler task within ~100 ms; renders on it fail with [`PageError::Crashed`] so the
//! caller retries the URL (count retries with [`BrowserPool::record_retry`]), and the next
//! `acquire` launches a replacement (counted as a relaunch). A browser retires after
//! [`BrowserConfig::retire_after`] pages so memory stays bounded. Every browser operation is
//! bounded by a timeout (a crashed renderer can make CDP calls hang).
//!
//! Speed: image, media and font requests are failed by default (`Fetch.enable` with
//! per-resource-type patterns; `BrowserConfig::enable_request_intercept` of chromiumoxide is
//! deliberately not used: it pauses every request of every tab).
//!
//! Redirects: a render's main-frame document requests (the first, every redirect hop, a
//! script's navigation) are paused and checked against the render's
//! [`NavGuard`](haul_core::NavGuard) (the site's scope, private networks, robots.txt) before
//! Chromium sends them; a refused one fails the render as
//! [`PageError::Refused`](haul_core::PageError::Refused) (see the `hops` module).
//!
//! Network: every browser of a pool connects through the pool's network gate, an
//! in-process SOCKS5 proxy that resolves names itself and refuses private-network addresses
//! other than those [`BrowserConfig::private_network`] allows, on the address it connects to
//! (see the `gate` module): a public page's scripts, images and frames cannot reach
//! 169.254.169.254 or 10.x, and a DNS-rebinding name finds no second lookup to race.
//!
//! Clean shutdown: [`PagePool::close`] kills and reaps every browser and removes its temporary
//! profile; dropping the pool does the same without waiting.
//!
//! Logging: Chromium sends CDP events newer than chromiumoxide knows; chromiumoxide logs each
//! as a harmless `WARN chromiumoxide::handler: WS Invalid message`. Filter them with
//! `RUST_LOG=...,chromiumoxide::handler=error` (or [`LOG_FILTER`]).
//!
//! [`PageError::Crashed`]: haul_core::PageError::Crashed

#[cfg(feature = "bench")]
pub mod bench;
mod config;
mod cookies;
mod gate;
mod hops;
mod instance;
mod own;
mod page;
mod pool;
mod stats;
pub mod sys;
mod upstream;

pub use config::{
    BrowserConfig, BrowserError, CHROME_NAMES, CHROME_USER_AGENT, PrivateNetwork, Resolution,
    Resolver, Upstream, resolve_chrome,
};
pub use haul_core::PagePool;
pub use own::OwnBrowser;
pub use pool::BrowserPool;

/// A `tracing` filter directive that hides chromiumoxide's harmless `WS Invalid message`
/// warnings; add it to the subscriber's `EnvFilter`.
pub const LOG_FILTER: &str = "chromiumoxide::handler=error,chromiumoxide::browser=error";

use std::sync::Arc;

/// The page source the runner wants: a [`BrowserPool`] when `pooled`, else an [`OwnBrowser`].
pub fn page_pool(cfg: BrowserConfig, pooled: bool) -> Result<Arc<dyn PagePool>, BrowserError> {
    Ok(if pooled {
        BrowserPool::new(cfg)?
    } else {
        OwnBrowser::new(cfg)?
    })
}
