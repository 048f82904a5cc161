//! The Redis key schema: every key haul writes is named here, and nowhere else (the other
//! modules of this crate and `haul-cluster` call these functions).
//!
//! Everything lives under `haul:`. A crawl's keys are under `haul:{crawl}:`, so
//! [`crawl_pattern`] matches all of them (what `Frontier::purge` deletes); the limits shared
//! by every crawl on one Redis live under `haul:rate:` and `haul:sem:`, which is why those
//! namespaces are [reserved](RESERVED) and never a crawl id.
//!
//! | key | type | holds | written by |
//! | --- | --- | --- | --- |
//! | `haul:{crawl}:spec` | string | the crawl's description (JSON) | coordinator |
//! | `haul:{crawl}:level:{n}` | stream | level `n`'s tasks (group `workers`) | coordinator, workers |
//! | `haul:{crawl}:linked:{n}` | set | ids of level `n`'s tasks whose links are queued (until the level settles) | `Frontier` |
//! | `haul:{crawl}:stragglers` | set | levels passed with tasks still pending | `Frontier` |
//! | `haul:{crawl}:visited` | set | `"{site} {url}"` of every URL ever queued | `Frontier` |
//! | `haul:{crawl}:current_level` | string | the level being worked on | `Frontier` |
//! | `haul:{crawl}:dead` | stream | dead-lettered tasks | `Frontier` |
//! | `haul:{crawl}:finished` | string | present once the crawl is over | `Frontier` |
//! | `haul:{crawl}:records` | stream | records for the collector (group `collector`) | workers |
//! | `haul:{crawl}:queue:{name}` | stream | job queue `name` (`llm`, `llm-reply:{id}`) | `JobQueue` |
//! | `haul:{crawl}:queue:{name}:dead` | stream | its dead letters | `JobQueue` |
//! | `haul:{crawl}:stats:{site}` | hash | one serialised report share per worker task loop | workers |
//! | `haul:{crawl}:scheduled:{site}` | string | pages of `site` scheduled (for `--max-pages`) | workers |
//! | `haul:{crawl}:breaker:{domain}` | hash | the block breaker of a domain (row, pauses, pause end, stop) | `SharedBreaker` |
//! | `haul:rate:{namespace}:{key}` | string | a shared GCRA limit (`domain`, `llm:{provider}`) | `SharedRateLimit` |
//! | `haul:sem:{namespace}:{key}` | sorted set | a shared semaphore's leases (`domain`) | `SharedSemaphore` |

use crate::RedisError;

/// The first segment of every key.
pub const ROOT: &str = "haul";

/// Second segments that belong to the limits shared by all crawls, never a crawl id: a crawl
/// called `rate` would own `haul:rate:*`, and purging it would delete every shared limit.
pub const RESERVED: [&str; 2] = ["rate", "sem"];

/// The longest crawl id.
pub const MAX_CRAWL_ID_LEN: usize = 64;

/// Checks that `crawl` can name a crawl: 1 to [`MAX_CRAWL_ID_LEN`] ASCII letters, digits,
/// `-`, `_` or `.` (so no `:` that would reach into another crawl's keys, and no glob
/// characters), and not one of the [`RESERVED`] namespaces.
pub fn check_crawl_id(crawl: &str) -> Result<(), RedisError> {
    let invalid = |reason: String| {
        Err(RedisError::InvalidCrawlId {
            crawl: crawl.into(),
            reason,
        })
    };
    if crawl.is_empty() || crawl.len() > MAX_CRAWL_ID_LEN {
        return invalid(format!("use 1-{MAX_CRAWL_ID_LEN} characters"));
    }
    if !crawl
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return invalid("use only letters, digits, '-', '_' or '.'".into());
    }
    if let Some(ns) = RESERVED.iter().find(|r| r.eq_ignore_ascii_case(crawl)) {
        return invalid(format!(
            "`{ROOT}:{ns}:*` holds the limits shared by every crawl on this Redis; pick another id"
        ));
    }
    Ok(())
}

/// `haul:{crawl}:{suffix}`.
fn crawl_key(crawl: &str, suffix: &str) -> String {
    format!("{ROOT}:{crawl}:{suffix}")
}

/// A glob (for `SCAN MATCH`) matching every key of `crawl` and nothing else (for a valid id).
pub fn crawl_pattern(crawl: &str) -> String {
    let escaped: String = crawl
        .chars()
        .flat_map(|c| {
            let esc = matches!(c, '*' | '?' | '[' | ']' | '\\').then_some('\\');
            esc.into_iter().chain(std::iter::once(c))
        })
        .collect();
    format!("{ROOT}:{escaped}:*")
}

/// The crawl's description: `haul:{crawl}:spec`.
pub fn spec(crawl: &str) -> String {
    crawl_key(crawl, "spec")
}

/// Level `n`'s task stream: `haul:{crawl}:level:{n}`.
pub fn level(crawl: &str, n: u32) -> String {
    crawl_key(crawl, &format!("level:{n}"))
}

/// The ids of level `n`'s tasks whose links are queued: `haul:{crawl}:linked:{n}`.
pub fn linked(crawl: &str, n: u32) -> String {
    crawl_key(crawl, &format!("linked:{n}"))
}

/// The levels passed with tasks still pending: `haul:{crawl}:stragglers`.
pub fn stragglers(crawl: &str) -> String {
    crawl_key(crawl, "stragglers")
}

/// The visited set: `haul:{crawl}:visited`.
pub fn visited(crawl: &str) -> String {
    crawl_key(crawl, "visited")
}

/// The level being worked on: `haul:{crawl}:current_level`.
pub fn current_level(crawl: &str) -> String {
    crawl_key(crawl, "current_level")
}

/// The frontier's dead letters: `haul:{crawl}:dead`.
pub fn dead(crawl: &str) -> String {
    crawl_key(crawl, "dead")
}

/// The finished marker: `haul:{crawl}:finished`.
pub fn finished(crawl: &str) -> String {
    crawl_key(crawl, "finished")
}

/// The record stream: `haul:{crawl}:records`.
pub fn records(crawl: &str) -> String {
    crawl_key(crawl, "records")
}

/// Job queue `name`: `haul:{crawl}:queue:{name}`.
pub fn queue(crawl: &str, name: &str) -> String {
    crawl_key(crawl, &format!("queue:{name}"))
}

/// Job queue `name`'s dead letters: `haul:{crawl}:queue:{name}:dead`.
pub fn queue_dead(crawl: &str, name: &str) -> String {
    crawl_key(crawl, &format!("queue:{name}:dead"))
}

/// The report shares of `site`: `haul:{crawl}:stats:{site}`.
pub fn stats(crawl: &str, site: &str) -> String {
    crawl_key(crawl, &format!("stats:{site}"))
}

/// Pages of `site` scheduled so far: `haul:{crawl}:scheduled:{site}`.
pub fn scheduled(crawl: &str, site: &str) -> String {
    crawl_key(crawl, &format!("scheduled:{site}"))
}

/// The block circuit breaker's state of `domain`: `haul:{crawl}:breaker:{domain}`.
pub fn breaker(crawl: &str, domain: &str) -> String {
    crawl_key(crawl, &format!("breaker:{domain}"))
}

/// The prefix of shared rate limits in `namespace`: `haul:rate:{namespace}:`.
pub fn rate_prefix(namespace: &str) -> String {
    format!("{ROOT}:rate:{namespace}:")
}

/// The shared rate limit `key` in `namespace`: `haul:rate:{namespace}:{key}`.
pub fn rate(namespace: &str, key: &str) -> String {
    format!("{}{key}", rate_prefix(namespace))
}

/// The prefix of shared semaphores in `namespace`: `haul:sem:{namespace}:`.
pub fn sem_prefix(namespace: &str) -> String {
    format!("{ROOT}:sem:{namespace}:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crawl_ids_that_reach_into_shared_or_other_keys_are_rejected_by_name() {
        for ok in ["haul", "c1", "deals-2024.06_a", "ratez", "semantic"] {
            check_crawl_id(ok).unwrap();
        }
        for (bad, why) in [
            ("rate", "shared by every crawl"),
            ("sem", "shared by every crawl"),
            ("RATE", "shared by every crawl"),
            ("a:b", "only letters"),
            ("a*", "only letters"),
            ("", "1-64 characters"),
        ] {
            let err = check_crawl_id(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "names the id: {err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
        let long = "x".repeat(MAX_CRAWL_ID_LEN + 1);
        assert!(check_crawl_id(&long).is_err());
    }

    #[test]
    fn a_crawls_keys_match_its_pattern_and_shared_keys_do_not() {
        let pattern = crawl_pattern("c1");
        assert_eq!(pattern, "haul:c1:*");
        for key in [
            spec("c1"),
            level("c1", 3),
            linked("c1", 3),
            stragglers("c1"),
            visited("c1"),
            current_level("c1"),
            dead("c1"),
            finished("c1"),
            records("c1"),
            queue("c1", "llm"),
            queue_dead("c1", "llm"),
            stats("c1", "demo"),
            scheduled("c1", "demo"),
        ] {
            assert!(key.starts_with("haul:c1:"), "{key}");
        }
        assert_eq!(rate("domain", "shop.test"), "haul:rate:domain:shop.test");
        assert_eq!(sem_prefix("domain"), "haul:sem:domain:");
        assert_eq!(crawl_pattern("a*"), "haul:a\\*:*");
    }
}
