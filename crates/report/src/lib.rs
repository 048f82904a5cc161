//! `haul report`: one static, self-contained HTML page of a SQLite store's products (title,
//! current price, the change since the last run, an SVG chart of the price history drawn
//! here with `plotters`), sorted by biggest drop, with a small inline script to re-sort it.
//!
//! Self-contained means the page loads nothing: the CSS and the script are inline, the charts
//! are inline SVG (no `xmlns` URL either), fonts are the browser's own `sans-serif`, and a
//! Content-Security-Policy of `default-src 'none'` forbids any request. Product pages are
//! named by site and path, not linked. Every shop-given text is HTML-escaped.

mod chart;
mod html;

use std::path::{Path, PathBuf};

pub use html::render;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] haul_output::OutputError),
    /// A chart could not be drawn.
    #[error("cannot draw the price chart of {url}: {reason}")]
    Chart {
        /// The product.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The HTML file could not be written.
    #[error("cannot write report {path}: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        error: std::io::Error,
    },
}

/// Reads the store at `store` (the products of `site` only, when given), renders the page
/// and writes it to `out`; returns how many products it shows. Blocking.
pub fn write_report(store: &Path, site: Option<&str>, out: &Path) -> Result<usize, ReportError> {
    let products = haul_output::read_price_history(store, site)?;
    let page = render(&products, chrono::Utc::now())?;
    std::fs::write(out, page).map_err(|error| ReportError::Write {
        path: out.into(),
        error,
    })?;
    Ok(products.len())
}
