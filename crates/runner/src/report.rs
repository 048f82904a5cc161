//! Crawl statistics: per-site counters and the final report (printed and saved as JSON).

use std::collections::BTreeMap;
use std::fmt;

use haul_core::PoolStats;
use serde::Serialize;

/// What one site's crawl did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SiteReport {
    /// Registered site name.
    pub site: String,
    /// Pages fetched and extracted without error.
    pub pages_ok: u64,
    /// Pages that failed (after retries).
    pub pages_failed: u64,
    /// Records extracted.
    pub records: u64,
    /// Warnings from extractors (partial extractions).
    pub warnings: u64,
    /// Retries of transient failures.
    pub retries: u64,
    /// Pages rendered in a browser.
    pub rendered: u64,
    /// Pages that went over plain HTTP only.
    pub http_pages: u64,
    /// Rendered pages by why they were rendered (`always`, `extractor`, `app_shell`,
    /// `noscript`, `no_record`, `nothing_found`, `remembered`).
    pub render_reasons: BTreeMap<String, u64>,
    /// Failures by kind (`http_404`, `timeout`, `unparseable`...), after retries.
    pub errors: BTreeMap<String, u64>,
    /// Retries by the kind of failure that caused them.
    pub retry_kinds: BTreeMap<String, u64>,
    /// Pages that broke their site's contract, by page kind (a sign the site changed).
    pub contract_breaches: BTreeMap<String, u64>,
    /// Final HTTP status of each page (histogram).
    pub status: BTreeMap<u16, u64>,
    /// Pages processed per level (index = level).
    pub levels: Vec<u64>,
    /// Median page time in milliseconds (fetch + extract).
    pub page_ms_p50: u64,
    /// 95th percentile page time in milliseconds.
    pub page_ms_p95: u64,
    /// Wall time of this site's crawl in seconds.
    pub elapsed_secs: f64,
    #[serde(skip)]
    pub(crate) page_ms: Vec<u64>,
}

impl SiteReport {
    /// An empty report of `site`.
    pub fn new(site: &str) -> Self {
        Self {
            site: site.into(),
            ..Self::default()
        }
    }

    pub(crate) fn count_error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    pub(crate) fn count_level(&mut self, level: u32) {
        let i = level as usize;
        if self.levels.len() <= i {
            self.levels.resize(i + 1, 0);
        }
        self.levels[i] += 1;
    }

    /// Adds one processed page of `level` (its `written` records count as the site's).
    pub fn tally(&mut self, level: u32, page: &crate::PageOutcome) {
        self.count_level(level);
        self.page_ms.push(page.elapsed.as_millis() as u64);
        self.records += page.written;
        self.warnings += page.warnings;
        self.retries += page.retries;
        self.rendered += u64::from(page.rendered);
        match page.render_reason {
            Some(reason) => {
                *self
                    .render_reasons
                    .entry(reason.as_str().into())
                    .or_default() += 1
            }
            None if page.error.is_none() => self.http_pages += 1,
            None => {}
        }
        if let Some(status) = page.status {
            *self.status.entry(status).or_default() += 1;
        }
        if let Some(kind) = page.breach {
            *self.contract_breaches.entry(kind.to_string()).or_default() += 1;
        }
        for kind in &page.retry_kinds {
            *self.retry_kinds.entry(kind.clone()).or_default() += 1;
        }
        match &page.error {
            Some(kind) => {
                self.pages_failed += 1;
                self.count_error(kind.clone());
            }
            None => self.pages_ok += 1,
        }
    }

    /// Adds the counts of `other` (the same site, crawled by another task or process).
    pub fn merge(&mut self, other: SiteReport) {
        self.pages_ok += other.pages_ok;
        self.pages_failed += other.pages_failed;
        self.records += other.records;
        self.warnings += other.warnings;
        self.retries += other.retries;
        self.rendered += other.rendered;
        self.http_pages += other.http_pages;
        for (k, v) in other.render_reasons {
            *self.render_reasons.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in other.retry_kinds {
            *self.retry_kinds.entry(k).or_default() += v;
        }
        for (k, v) in other.contract_breaches {
            *self.contract_breaches.entry(k).or_default() += v;
        }
        for (k, v) in other.status {
            *self.status.entry(k).or_default() += v;
        }
        if self.levels.len() < other.levels.len() {
            self.levels.resize(other.levels.len(), 0);
        }
        for (i, v) in other.levels.iter().enumerate() {
            self.levels[i] += v;
        }
        self.page_ms.extend(other.page_ms);
    }

    /// Sets the wall time and computes the page-time percentiles.
    pub fn finish(&mut self, elapsed_secs: f64) {
        self.elapsed_secs = elapsed_secs;
        self.page_ms.sort_unstable();
        let pct = |p: f64| -> u64 {
            if self.page_ms.is_empty() {
                return 0;
            }
            let i = ((self.page_ms.len() - 1) as f64 * p).round() as usize;
            self.page_ms[i]
        };
        self.page_ms_p50 = pct(0.50);
        self.page_ms_p95 = pct(0.95);
    }

    /// Pages per second over the site's wall time.
    pub fn pages_per_sec(&self) -> f64 {
        let pages = (self.pages_ok + self.pages_failed) as f64;
        if self.elapsed_secs > 0.0 {
            pages / self.elapsed_secs
        } else {
            0.0
        }
    }
}

/// The whole crawl's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrawlReport {
    /// One entry per site, in the order given.
    pub sites: Vec<SiteReport>,
    /// Wall time in seconds.
    pub elapsed_secs: f64,
    /// Whether the crawl was interrupted (Ctrl-C or an output error) before it finished.
    pub interrupted: bool,
    /// Browser pool counters, when a pool was used.
    pub browser: Option<PoolStats>,
    /// LLM pool counters, when an LLM was configured.
    pub llm: Option<serde_json::Value>,
}

impl CrawlReport {
    /// Pages processed over all sites.
    pub fn pages(&self) -> u64 {
        self.sites.iter().map(|s| s.pages_ok + s.pages_failed).sum()
    }

    /// Failed pages over all sites.
    pub fn failed(&self) -> u64 {
        self.sites.iter().map(|s| s.pages_failed).sum()
    }

    /// Records over all sites.
    pub fn records(&self) -> u64 {
        self.sites.iter().map(|s| s.records).sum()
    }
}

impl fmt::Display for CrawlReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<14} {:>7} {:>7} {:>8} {:>7} {:>8} {:>8} {:>7}",
            "site", "pages", "failed", "records", "retries", "p50 ms", "p95 ms", "pages/s"
        )?;
        for s in &self.sites {
            writeln!(
                f,
                "{:<14} {:>7} {:>7} {:>8} {:>7} {:>8} {:>8} {:>7.1}",
                s.site,
                s.pages_ok + s.pages_failed,
                s.pages_failed,
                s.records,
                s.retries,
                s.page_ms_p50,
                s.page_ms_p95,
                s.pages_per_sec()
            )?;
            if !s.status.is_empty() {
                let st: Vec<String> = s.status.iter().map(|(k, v)| format!("{k}={v}")).collect();
                writeln!(f, "{:<14} status: {}", "", st.join(" "))?;
            }
            if s.rendered > 0 {
                let why: Vec<String> = s
                    .render_reasons
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                writeln!(
                    f,
                    "{:<14} rendered: {} ({}), over HTTP: {}",
                    "",
                    s.rendered,
                    why.join(" "),
                    s.http_pages
                )?;
            }
            if !s.contract_breaches.is_empty() {
                let b: Vec<String> = s
                    .contract_breaches
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                writeln!(f, "{:<14} contract breaches: {}", "", b.join(" "))?;
            }
            if !s.errors.is_empty() {
                let errs: Vec<String> = s.errors.iter().map(|(k, v)| format!("{k}={v}")).collect();
                writeln!(f, "{:<14} errors: {}", "", errs.join(" "))?;
            }
        }
        if let Some(b) = self
            .browser
            .as_ref()
            .filter(|b| b.pages_served > 0 || b.launches > 0)
        {
            writeln!(
                f,
                "browser: {} pages, {} launches ({} relaunches, {} retired), peak {} open, mean {:.0} ms",
                b.pages_served,
                b.launches,
                b.relaunches,
                b.retirements,
                b.peak_open,
                b.mean_page_ms
            )?;
        }
        if let Some(llm) = &self.llm {
            let keys = llm["keys"].as_array().cloned().unwrap_or_default();
            let sum = |k: &str| keys.iter().filter_map(|x| x[k].as_u64()).sum::<u64>();
            let ok = llm["succeeded"].as_u64().unwrap_or(0);
            let records = self.records().max(1);
            writeln!(
                f,
                "llm: {} calls ({} tasks ok, {} failed, {} 429s), tokens in {} out {} ({:.0} per record)",
                sum("requests"),
                ok,
                llm["failed"].as_u64().unwrap_or(0),
                sum("rate_limited"),
                sum("input_tokens"),
                sum("output_tokens"),
                (sum("input_tokens") + sum("output_tokens")) as f64 / records as f64
            )?;
        }
        write!(
            f,
            "total: {} pages, {} records, {} failed, {:.2} s{}",
            self.pages(),
            self.records(),
            self.failed(),
            self.elapsed_secs,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        )
    }
}
