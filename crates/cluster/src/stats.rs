//! Crawl counters shared by all workers: one Redis hash per site (`haul:{crawl}:stats:{site}`)
//! that every worker adds its pages to, read back into a [`CrawlReport`] by the coordinator.

use std::collections::BTreeMap;

use haul_redis::Redis;
use haul_runner::{PageOutcome, SiteReport};

use crate::ClusterError;

fn key(crawl: &str, site: &str) -> String {
    format!("haul:{crawl}:stats:{site}")
}

/// The commands that add one processed page of `site` at `level` to the shared counters
/// (replies ignored), to run in the pipeline that completes the page's task.
pub(crate) fn add_page(crawl: &str, site: &str, level: u32, page: &PageOutcome) -> redis::Pipeline {
    let k = key(crawl, site);
    let mut fields: Vec<(String, u64)> = vec![
        (
            if page.error.is_some() {
                "pages_failed"
            } else {
                "pages_ok"
            }
            .into(),
            1,
        ),
        ("records".into(), page.written),
        ("warnings".into(), page.warnings),
        ("retries".into(), page.retries),
        ("rendered".into(), u64::from(page.rendered)),
        (
            "http_pages".into(),
            u64::from(!page.rendered && page.error.is_none()),
        ),
        (format!("level:{level}"), 1),
        ("page_ms".into(), page.elapsed.as_millis() as u64),
    ];
    if let Some(e) = &page.error {
        fields.push((format!("error:{e}"), 1));
    }
    if let Some(s) = page.status {
        fields.push((format!("status:{s}"), 1));
    }
    if let Some(r) = page.render_reason {
        fields.push((format!("render:{}", r.as_str()), 1));
    }
    if let Some(b) = page.breach {
        fields.push((format!("breach:{b}"), 1));
    }
    for r in &page.retry_kinds {
        fields.push((format!("retry:{r}"), 1));
    }
    let mut pipe = redis::pipe();
    for (f, n) in fields.iter().filter(|(_, n)| *n > 0) {
        pipe.cmd("HINCRBY").arg(&k).arg(f).arg(*n).ignore();
    }
    pipe
}

/// The shared counters of `sites`, as site reports (no page-time percentiles: only the mean
/// is kept, as `page_ms_p50`).
pub async fn site_reports(
    redis: &Redis,
    crawl: &str,
    sites: &[String],
) -> Result<Vec<SiteReport>, ClusterError> {
    let mut out = Vec::new();
    for site in sites {
        let h: BTreeMap<String, u64> = redis
            .query(
                "HGETALL crawl stats",
                redis::cmd("HGETALL").arg(key(crawl, site)).clone(),
                None,
            )
            .await?;
        let mut r = SiteReport::new(site);
        let get = |f: &str| h.get(f).copied().unwrap_or(0);
        r.pages_ok = get("pages_ok");
        r.pages_failed = get("pages_failed");
        r.records = get("records");
        r.warnings = get("warnings");
        r.retries = get("retries");
        r.rendered = get("rendered");
        r.http_pages = get("http_pages");
        for (f, n) in &h {
            if let Some(e) = f.strip_prefix("error:") {
                r.errors.insert(e.into(), *n);
            } else if let Some(s) = f.strip_prefix("status:") {
                if let Ok(s) = s.parse() {
                    r.status.insert(s, *n);
                }
            } else if let Some(why) = f.strip_prefix("render:") {
                r.render_reasons.insert(why.into(), *n);
            } else if let Some(b) = f.strip_prefix("breach:") {
                r.contract_breaches.insert(b.into(), *n);
            } else if let Some(k) = f.strip_prefix("retry:") {
                r.retry_kinds.insert(k.into(), *n);
            } else if let Some(l) = f.strip_prefix("level:")
                && let Ok(l) = l.parse::<usize>()
            {
                if r.levels.len() <= l {
                    r.levels.resize(l + 1, 0);
                }
                r.levels[l] = *n;
            }
        }
        r.page_ms_p50 = get("page_ms")
            .checked_div(r.pages_ok + r.pages_failed)
            .unwrap_or(0);
        out.push(r);
    }
    Ok(out)
}
