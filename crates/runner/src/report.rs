//! Crawl statistics: per-site counters and the final report (printed and saved as JSON).
//!
//! A [`SiteReport`] is also the unit in which counts travel: a distributed worker stores its
//! share as a serialised report (page times included, as a histogram), and the coordinator
//! [`merge`](SiteReport::merge)s the shares and [`finish`](SiteReport::finish)es the sum, so
//! the percentiles of a distributed crawl are computed exactly as a local crawl's.

use std::collections::BTreeMap;
use std::fmt;

use haul_core::{FailureKind, PoolStats};
use serde::{Deserialize, Serialize};

/// What one site's crawl did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
    /// Records in another currency than the site's pinned one (`[sites.NAME] currency`),
    /// each also a warning.
    pub currency_mismatch: u64,
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
    pub errors: BTreeMap<FailureKind, u64>,
    /// Retries by the kind of failure that caused them.
    pub retry_kinds: BTreeMap<FailureKind, u64>,
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
    /// Blocked answers (bot walls, CAPTCHA pages; every attempt) by who blocked
    /// (`cloudflare`, `captcha_redirect`...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub blocks: BTreeMap<String, u64>,
    /// Blocked answers after which a page waited for its domain's pause.
    pub block_pauses: u64,
    /// Domains stopped for blocking, by domain: where and when.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub block_stops: BTreeMap<String, crate::BlockStop>,
    /// Page times: milliseconds -> pages that took that long (the percentiles' source,
    /// which [`merge`](Self::merge) adds up).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub page_ms: BTreeMap<u64, u64>,
    /// Pages the server answered `304 Not Modified` to a conditional request: their last
    /// records carried forward from the store, no body downloaded.
    pub not_modified: u64,
    /// Pages not fetched because their sitemap `lastmod` was not newer than their last
    /// visit: their last records carried forward from the store.
    pub unchanged_skipped: u64,
    /// Pages the site's sitemaps listed within its scope (start URLs of level 0).
    pub sitemap_urls: u64,
}

impl SiteReport {
    /// An empty report of `site`.
    pub fn new(site: &str) -> Self {
        Self {
            site: site.into(),
            ..Self::default()
        }
    }

    pub(crate) fn count_error(&mut self, kind: FailureKind) {
        *self.errors.entry(kind).or_default() += 1;
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
        *self
            .page_ms
            .entry(page.elapsed.as_millis() as u64)
            .or_default() += 1;
        self.records += page.written;
        self.warnings += page.warnings;
        self.currency_mismatch += page.currency_mismatch;
        self.retries += page.retries;
        self.rendered += u64::from(page.rendered());
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
            *self.retry_kinds.entry(*kind).or_default() += 1;
        }
        for vendor in &page.blocks {
            *self.blocks.entry(vendor.clone()).or_default() += 1;
        }
        self.block_pauses += u64::from(page.block_pauses);
        match page.carried {
            Some(crate::Carry::NotModified) => self.not_modified += 1,
            Some(crate::Carry::Unchanged) => self.unchanged_skipped += 1,
            None => {}
        }
        if let Some(stop) = &page.block_stop {
            self.note_stop(stop.clone());
        }
        match &page.error {
            Some(kind) => {
                self.pages_failed += 1;
                self.count_error(*kind);
            }
            None => self.pages_ok += 1,
        }
    }

    /// Keeps the earliest stop of each domain.
    fn note_stop(&mut self, stop: crate::BlockStop) {
        match self.block_stops.get(&stop.domain) {
            Some(known) if known.at <= stop.at => {}
            _ => {
                self.block_stops.insert(stop.domain.clone(), stop);
            }
        }
    }

    /// Adds the counts of `other` (the same site, crawled by another task or process).
    pub fn merge(&mut self, other: SiteReport) {
        for (k, v) in other.blocks {
            *self.blocks.entry(k).or_default() += v;
        }
        self.block_pauses += other.block_pauses;
        self.not_modified += other.not_modified;
        self.unchanged_skipped += other.unchanged_skipped;
        self.sitemap_urls += other.sitemap_urls;
        for stop in other.block_stops.into_values() {
            self.note_stop(stop);
        }
        self.pages_ok += other.pages_ok;
        self.pages_failed += other.pages_failed;
        self.records += other.records;
        self.warnings += other.warnings;
        self.currency_mismatch += other.currency_mismatch;
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
        for (ms, n) in other.page_ms {
            *self.page_ms.entry(ms).or_default() += n;
        }
    }

    /// Sets the wall time and computes the page-time percentiles (of every page merged in).
    pub fn finish(&mut self, elapsed_secs: f64) {
        self.elapsed_secs = elapsed_secs;
        self.page_ms_p50 = self.page_percentile(0.50);
        self.page_ms_p95 = self.page_percentile(0.95);
    }

    /// The page time at quantile `p` (0..=1) in milliseconds: the sample of rank
    /// `round((n - 1) * p)` among the `n` sorted page times; 0 without pages.
    fn page_percentile(&self, p: f64) -> u64 {
        let n: u64 = self.page_ms.values().sum();
        if n == 0 {
            return 0;
        }
        let rank = ((n - 1) as f64 * p).round() as u64;
        let mut below = 0;
        for (ms, count) in &self.page_ms {
            below += count;
            if below > rank {
                return *ms;
            }
        }
        0
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
    /// Per upstream proxy (keyed by its masked URL): requests, failures, blocks, cool-downs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<haul_core::ProxyStats>,
}

impl CrawlReport {
    /// The report of a crawl whose sites are `sites` (each already
    /// [finished](SiteReport::finish)), without pool counters (see
    /// [`with_services`](Self::with_services)).
    pub fn new(sites: Vec<SiteReport>, elapsed_secs: f64, interrupted: bool) -> Self {
        Self {
            sites,
            elapsed_secs,
            interrupted,
            browser: None,
            llm: None,
            proxies: Vec::new(),
        }
    }

    /// Adds the counters of the crawl's proxies, when it has any.
    pub fn with_proxies(mut self, proxies: Option<&haul_core::ProxyPool>) -> Self {
        self.proxies = proxies.map(|p| p.stats()).unwrap_or_default();
        self
    }

    /// The report of a crawl from shares of its sites' counts (from several tasks or
    /// processes): the shares of each site are merged, the sites listed in the order of
    /// `sites` (a site without shares has an empty report) and finished with `elapsed_secs`.
    pub fn from_shares(
        sites: &[String],
        shares: impl IntoIterator<Item = SiteReport>,
        elapsed_secs: f64,
        interrupted: bool,
    ) -> Self {
        let mut merged: Vec<SiteReport> = sites.iter().map(|s| SiteReport::new(s)).collect();
        for share in shares {
            match merged.iter_mut().find(|m| m.site == share.site) {
                Some(m) => m.merge(share),
                None => tracing::warn!(site = share.site, "counts of a site not in the crawl"),
            }
        }
        for m in &mut merged {
            m.finish(elapsed_secs);
        }
        Self::new(merged, elapsed_secs, interrupted)
    }

    /// Adds the counters of the browser pool and the LLM pool of `services`, when present;
    /// the LLM's gain `prompt_tokens_per_record` and `completion_tokens_per_record` (tokens
    /// the provider reported, over the records the crawl wrote).
    pub fn with_services(mut self, services: &crate::Services) -> Self {
        self.browser = services.pages.as_ref().map(|p| p.stats());
        self.llm = services.llm.as_ref().map(|l| l.stats_json());
        let records = self.records();
        if let Some(serde_json::Value::Object(llm)) = &mut self.llm {
            let sum = |k: &str| -> u64 {
                let keys = llm.get("keys").and_then(|k| k.as_array());
                keys.map_or(0, |ks| ks.iter().filter_map(|x| x[k].as_u64()).sum())
            };
            let per = |t: u64| (records > 0).then(|| t as f64 / records as f64);
            let (prompt, completion) = (sum("input_tokens"), sum("output_tokens"));
            llm.insert("prompt_tokens_per_record".into(), per(prompt).into());
            llm.insert(
                "completion_tokens_per_record".into(),
                per(completion).into(),
            );
        }
        self
    }

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

/// `k=v k=v` of a count map, for one report line.
fn pairs<K: fmt::Display>(m: &BTreeMap<K, u64>) -> String {
    let v: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    v.join(" ")
}

impl SiteReport {
    /// The site's row of the table, then one indented line per thing worth saying.
    fn write_lines(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self;
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
            writeln!(f, "{:<14} status: {}", "", pairs(&s.status))?;
        }
        if s.rendered > 0 {
            writeln!(
                f,
                "{:<14} rendered: {} ({}), over HTTP: {}",
                "",
                s.rendered,
                pairs(&s.render_reasons),
                s.http_pages
            )?;
        }
        if s.not_modified + s.unchanged_skipped + s.sitemap_urls > 0 {
            writeln!(
                f,
                "{:<14} recrawl: {} not modified (304), {} unchanged by sitemap lastmod (not fetched), {} from sitemaps",
                "", s.not_modified, s.unchanged_skipped, s.sitemap_urls
            )?;
        }
        if s.currency_mismatch > 0 {
            writeln!(
                f,
                "{:<14} records not in the pinned currency: {}",
                "", s.currency_mismatch
            )?;
        }
        if !s.contract_breaches.is_empty() {
            writeln!(
                f,
                "{:<14} contract breaches: {}",
                "",
                pairs(&s.contract_breaches)
            )?;
        }
        s.write_blocks(f)?;
        if !s.errors.is_empty() {
            writeln!(f, "{:<14} errors: {}", "", pairs(&s.errors))?;
        }
        Ok(())
    }

    /// Blocks by vendor and the domains stopped for blocking.
    fn write_blocks(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.blocks.is_empty() {
            writeln!(
                f,
                "{:<14} blocked: {} (domain pauses: {})",
                "",
                pairs(&self.blocks),
                self.block_pauses
            )?;
        }
        for stop in self.block_stops.values() {
            writeln!(
                f,
                "{:<14} STOPPED: {} blocked {} times in a row (last by {} on {}) at {}; its other pages were not fetched",
                "",
                stop.domain,
                stop.blocks,
                stop.vendor,
                stop.url,
                stop.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )?;
        }
        Ok(())
    }
}

impl CrawlReport {
    /// One line per proxy, then the browser pool's and the LLM pool's lines.
    fn write_pools(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.proxies {
            writeln!(
                f,
                "proxy {}: {} requests, {} failures, {} blocks, {} cool-downs",
                p.proxy, p.requests, p.failures, p.blocks, p.cooldowns
            )?;
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
                "llm: {} calls ({} tasks ok, {} failed, {} 429s), tokens in {} out {} ({:.0} + {:.0} per record)",
                sum("requests"),
                ok,
                llm["failed"].as_u64().unwrap_or(0),
                sum("rate_limited"),
                sum("input_tokens"),
                sum("output_tokens"),
                sum("input_tokens") as f64 / records as f64,
                sum("output_tokens") as f64 / records as f64
            )?;
        }
        Ok(())
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
            s.write_lines(f)?;
        }
        self.write_pools(f)?;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::PageOutcome;

    fn page(n: u64) -> PageOutcome {
        PageOutcome {
            written: n % 3,
            warnings: n % 2,
            retries: u64::from(n.is_multiple_of(7)),
            status: Some(if n.is_multiple_of(10) { 404 } else { 200 }),
            retry_kinds: if n.is_multiple_of(7) {
                vec![FailureKind::Http(503)]
            } else {
                Vec::new()
            },
            // 1..=100 ms, in an order unlike the sorted one.
            elapsed: Duration::from_millis((n * 37) % 100 + 1),
            error: (n.is_multiple_of(10)).then_some(FailureKind::Http(404)),
            ..PageOutcome::new(url::Url::parse(&format!("http://shop.test/p/{n}")).unwrap())
        }
    }

    #[test]
    fn merged_serialised_deltas_give_the_local_counts_and_real_percentiles() {
        let mut local = SiteReport::new("tiny");
        // Three workers, each storing its share as JSON after every page.
        let mut shares = vec![SiteReport::new("tiny"); 3];
        for n in 0..100 {
            let level = (n % 3) as u32;
            local.tally(level, &page(n));
            shares[(n % 3) as usize].tally(level, &page(n));
        }
        let mut merged = SiteReport::new("tiny");
        for share in &shares {
            let json = serde_json::to_string(share).unwrap();
            merged.merge(serde_json::from_str(&json).unwrap());
        }
        local.finish(2.0);
        merged.finish(2.0);
        assert_eq!(merged, local);
        // Page times 1..=100 ms: the median is the 51st, the 95th percentile the 95th.
        assert_eq!((merged.page_ms_p50, merged.page_ms_p95), (51, 95));
        assert_eq!((merged.pages_ok, merged.pages_failed), (90, 10));
        assert_eq!(
            merged.retry_kinds.get(&haul_core::FailureKind::Http(503)),
            Some(&15)
        );
        assert_eq!(merged.levels, [34, 33, 33]);
        assert_eq!(SiteReport::new("none").page_percentile(0.95), 0);
    }
}
