//! Upstream proxies: [`ProxyUrl`] (a proxy's address and credentials, shown masked) and
//! [`ProxyPool`], the one rotation the HTTP fetcher and the browser's gate share: a domain
//! sticks to one proxy until a page of it is blocked or the proxy fails; a failing proxy
//! cools down (doubled per failure in a row, capped); counters per proxy for the report.
//!
//! The pool is pure state (a mutex held for a few map operations, never across an await):
//! whoever makes the connection reports how it went.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Scope;
use serde::{Deserialize, Serialize};

/// The schemes a proxy may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyScheme {
    /// An HTTP proxy (absolute-form requests, `CONNECT` for TLS).
    Http,
    /// An HTTP proxy reached over TLS.
    Https,
    /// SOCKS5, names resolved by the client.
    Socks5,
    /// SOCKS5, names resolved by the proxy.
    Socks5h,
}

impl ProxyScheme {
    /// The URL scheme.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Socks5 => "socks5",
            Self::Socks5h => "socks5h",
        }
    }
}

/// Why a proxy URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyUrlError {
    /// Not a URL at all.
    #[error("not a URL: {0}")]
    Unparsable(String),
    /// A scheme other than http, https, socks5 or socks5h.
    #[error("unsupported proxy scheme `{0}` (http, https, socks5 or socks5h)")]
    Scheme(String),
    /// No host.
    #[error("no host in the proxy URL")]
    NoHost,
}

/// A proxy's URL. `Display` and `Debug` show the password as `***`: the raw URL (with the
/// password) only comes out of [`ProxyUrl::secret_url`], for the client that connects.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyUrl {
    scheme: ProxyScheme,
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
}

impl ProxyUrl {
    /// Parses `http://user:pass@host:port` (also https, socks5, socks5h; the port defaults
    /// to 80, 443 or 1080). Errors never repeat the password.
    pub fn parse(s: &str) -> Result<Self, ProxyUrlError> {
        let url =
            url::Url::parse(s.trim()).map_err(|e| ProxyUrlError::Unparsable(e.to_string()))?;
        let scheme = match url.scheme() {
            "http" => ProxyScheme::Http,
            "https" => ProxyScheme::Https,
            "socks5" => ProxyScheme::Socks5,
            "socks5h" => ProxyScheme::Socks5h,
            other => return Err(ProxyUrlError::Scheme(other.to_string())),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(ProxyUrlError::NoHost),
        };
        let port = url.port().unwrap_or(match scheme {
            ProxyScheme::Http => 80,
            ProxyScheme::Https => 443,
            ProxyScheme::Socks5 | ProxyScheme::Socks5h => 1080,
        });
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let user = (!url.username().is_empty()).then(|| decode(url.username()));
        let password = url.password().map(decode);
        Ok(Self {
            scheme,
            host,
            port,
            user,
            password,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> ProxyScheme {
        self.scheme
    }

    /// The host (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user and password, if any (a user without password gives an empty password).
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.user
            .as_deref()
            .map(|u| (u, self.password.as_deref().unwrap_or("")))
    }

    fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL with the password in clear: only for the client that connects, never to print.
    pub fn secret_url(&self) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        match (&self.user, &self.password) {
            (Some(u), Some(p)) => {
                format!(
                    "{}://{}:{}@{}",
                    self.scheme.as_str(),
                    enc(u),
                    enc(p),
                    self.host_port()
                )
            }
            (Some(u), None) => {
                format!("{}://{}@{}", self.scheme.as_str(), enc(u), self.host_port())
            }
            _ => format!("{}://{}", self.scheme.as_str(), self.host_port()),
        }
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match (&self.user, &self.password) {
            (Some(u), Some(_)) => write!(f, "{u}:***@")?,
            (Some(u), None) => write!(f, "{u}@")?,
            _ => {}
        }
        f.write_str(&self.host_port())
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

impl std::str::FromStr for ProxyUrl {
    type Err = ProxyUrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ProxyUrl {
    /// Serialised masked: a report or a log never carries the password.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ProxyUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How a request through a proxy went, as told to [`ProxyPool::report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyOutcome {
    /// The proxy carried the request (whatever the shop answered).
    Ok,
    /// The proxy itself failed: refused the connection, answered 407, 502 or a failed
    /// `CONNECT`. The proxy cools down and the domain moves on.
    ProxyFailed,
    /// The page came back blocked: the domain moves on to the next proxy.
    Blocked,
}

/// One proxy's counters, keyed by its masked URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStats {
    /// The proxy, masked (`http://user:***@host:port`).
    pub proxy: String,
    /// Requests sent through it.
    pub requests: u64,
    /// Requests the proxy itself failed.
    pub failures: u64,
    /// Pages that came back blocked through it.
    pub blocks: u64,
    /// Times it was put to cool down.
    pub cooldowns: u64,
}

/// The first cool-down of a failing proxy; doubled per failure in a row.
pub const PROXY_COOLDOWN: Duration = Duration::from_secs(5);
/// The longest cool-down.
pub const MAX_PROXY_COOLDOWN: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Entry {
    url: ProxyUrl,
    stats: ProxyStats,
    failures_in_row: u32,
    cool_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    entries: Vec<Entry>,
    /// Domain (per site list) to the index of its proxy.
    sticky: HashMap<(usize, String), usize>,
    /// The scopes of the sites with their own list (the list's index), in the order they
    /// were [claimed](ProxyPool::claim_scope): the browser gate's connections to a host in
    /// one use that site's list.
    scopes: Vec<(String, Scope, usize)>,
    /// Blocks the HTTP fetcher already reported with the proxy that served them, per domain,
    /// not yet passed to [`ProxyPool::blocked`] by the crawl (which then skips them).
    reported: HashMap<(usize, String), u32>,
}

/// The proxies of a crawl: a global list and per-site lists (a site's list replaces the
/// global one), every proxy once, sticky per domain, rotated on a block or a failure.
#[derive(Debug)]
pub struct ProxyPool {
    state: Mutex<State>,
    /// Lists of indices: `lists[0]` global, then one per site in `sites`.
    lists: Vec<Vec<usize>>,
    sites: HashMap<String, usize>,
    /// The index in `lists` of every proxy (for connections of no known site).
    all: usize,
    cooldown: Duration,
}

/// A proxy chosen for a request: its index (to report back) and URL.
#[derive(Debug, Clone)]
pub struct ProxyPick {
    /// The proxy's index in the pool ([`ProxyPool::urls`]).
    pub index: usize,
    /// The proxy.
    pub url: ProxyUrl,
    list: usize,
    domain: String,
}

impl ProxyPool {
    /// A pool of `global` proxies and per-site lists (`(site, proxies)`).
    pub fn new(global: Vec<ProxyUrl>, sites: Vec<(String, Vec<ProxyUrl>)>) -> Self {
        let mut state = State::default();
        let index_of = |url: ProxyUrl, state: &mut State| -> usize {
            if let Some(i) = state.entries.iter().position(|e| e.url == url) {
                return i;
            }
            state.entries.push(Entry {
                stats: ProxyStats {
                    proxy: url.to_string(),
                    ..ProxyStats::default()
                },
                url,
                failures_in_row: 0,
                cool_until: None,
            });
            state.entries.len() - 1
        };
        let mut lists = vec![
            global
                .into_iter()
                .map(|u| index_of(u, &mut state))
                .collect(),
        ];
        let mut site_lists = HashMap::new();
        for (site, urls) in sites {
            if urls.is_empty() {
                continue;
            }
            site_lists.insert(site, lists.len());
            lists.push(urls.into_iter().map(|u| index_of(u, &mut state)).collect());
        }
        let all = lists.len();
        lists.push((0..state.entries.len()).collect());
        Self {
            state: Mutex::new(state),
            lists,
            sites: site_lists,
            all,
            cooldown: PROXY_COOLDOWN,
        }
    }

    /// The same pool with another first cool-down (tests).
    pub fn with_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Whether there is no proxy at all.
    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    /// Every proxy, by index.
    pub fn urls(&self) -> Vec<ProxyUrl> {
        self.lock().entries.iter().map(|e| e.url.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The proxy for a request of `site` (its list, else the global one; without a site,
    /// see [`claim_scope`](Self::claim_scope)) to `domain`: the
    /// domain's sticky proxy while it is not cooling down, else the next one in the list
    /// that is not (or, all cooling, the one that is ready first). `None` without proxies.
    pub fn pick(&self, site: Option<&str>, domain: &str) -> Option<ProxyPick> {
        let list = self.list_of(site, domain);
        self.pick_in(list, domain)
    }

    /// Tells the pool the scope of `site`'s crawl, so that a connection whose site is not
    /// known ([`pick_any`](Self::pick_any)) to a host of it uses the site's own list, if it
    /// has one. A site claimed again replaces its scope.
    pub fn claim_scope(&self, site: &str, scope: &Scope) {
        let Some(&list) = self.sites.get(site) else {
            return;
        };
        let mut state = self.lock();
        state.scopes.retain(|(s, _, _)| s != site);
        state.scopes.push((site.to_string(), scope.clone(), list));
    }

    /// The list of a request of `site` to `domain`: the site's own list, else the global
    /// one; without a site (robots.txt), that of the site with its own list whose
    /// [claimed scope](Self::claim_scope) holds the host, else the global one.
    fn list_of(&self, site: Option<&str>, domain: &str) -> usize {
        match site {
            Some(s) => self.sites.get(s).copied().unwrap_or(0),
            None => self.claimed(domain).unwrap_or(0),
        }
    }

    /// The list of the first site with its own list whose claimed scope holds `host`.
    fn claimed(&self, host: &str) -> Option<usize> {
        (self.lock().scopes.iter())
            .find(|(_, scope, _)| scope.contains_host(host))
            .map(|(_, _, list)| *list)
    }

    /// The proxy for a connection whose site is not known (the browser's gate) to `domain`
    /// (a host name or address): the list of the first site with its own list whose
    /// [claimed scope](Self::claim_scope) holds the host (so a rendered page of that site,
    /// and its rotation after a block, uses the same proxies as its HTTP requests); else the
    /// global list, or every proxy when only sites have lists, so that a configured proxy is
    /// never bypassed.
    pub fn pick_any(&self, domain: &str) -> Option<ProxyPick> {
        let list = match self.claimed(domain) {
            Some(list) => list,
            None if self.lists[0].is_empty() => self.all,
            None => 0,
        };
        self.pick_in(list, domain)
    }

    fn pick_in(&self, list: usize, domain: &str) -> Option<ProxyPick> {
        let indices = &self.lists[list];
        if indices.is_empty() {
            return None;
        }
        let now = Instant::now();
        let mut state = self.lock();
        let key = (list, domain.to_string());
        let start = match state.sticky.get(&key) {
            Some(i) => indices.iter().position(|x| x == i).unwrap_or(0),
            // A new domain starts at a spread position, so domains share the proxies.
            None => state.sticky.len() % indices.len(),
        };
        let ready = |e: &Entry| e.cool_until.is_none_or(|t| t <= now);
        let chosen = (0..indices.len())
            .map(|k| indices[(start + k) % indices.len()])
            .find(|&i| ready(&state.entries[i]))
            .unwrap_or_else(|| {
                *indices
                    .iter()
                    .min_by_key(|&&i| state.entries[i].cool_until)
                    .unwrap_or(&indices[0])
            });
        state.sticky.insert(key, chosen);
        let entry = &mut state.entries[chosen];
        entry.stats.requests += 1;
        Some(ProxyPick {
            index: chosen,
            url: entry.url.clone(),
            list,
            domain: domain.to_string(),
        })
    }

    /// Tells the pool how the request it picked `pick` for went.
    pub fn report(&self, pick: &ProxyPick, outcome: ProxyOutcome) {
        let now = Instant::now();
        let mut state = self.lock();
        match outcome {
            ProxyOutcome::Ok => {
                state.entries[pick.index].failures_in_row = 0;
            }
            ProxyOutcome::ProxyFailed => {
                let cooldown = self.cooldown;
                let e = &mut state.entries[pick.index];
                e.stats.failures += 1;
                e.failures_in_row = e.failures_in_row.saturating_add(1);
                let factor = 1u32 << (e.failures_in_row - 1).min(16);
                let wait = cooldown.saturating_mul(factor).min(MAX_PROXY_COOLDOWN);
                e.cool_until = Some(now + wait);
                e.stats.cooldowns += 1;
                tracing::warn!("proxy {} failed; cooling down for {wait:?}", e.url);
                self.rotate(&mut state, pick);
            }
            ProxyOutcome::Blocked => {
                state.entries[pick.index].stats.blocks += 1;
                *state
                    .reported
                    .entry((pick.list, pick.domain.clone()))
                    .or_default() += 1;
                self.rotate(&mut state, pick);
            }
        }
    }

    /// A page of `domain` (of `site`) came back blocked: counts a block for the domain's
    /// current proxy and moves the domain on to the next one.
    ///
    /// A block the fetcher already [reported](Self::report) with the proxy that served it
    /// (every blocked HTTP page) is not counted or rotated twice: only blocks seen elsewhere
    /// (rendered pages, whose connections the browser's gate made) move the domain here.
    pub fn blocked(&self, site: Option<&str>, domain: &str) {
        let list = self.list_of(site, domain);
        let mut state = self.lock();
        if let Some(n) = state.reported.get_mut(&(list, domain.to_string()))
            && *n > 0
        {
            *n -= 1;
            return;
        }
        let Some(&index) = state.sticky.get(&(list, domain.to_string())) else {
            return;
        };
        let pick = ProxyPick {
            index,
            url: state.entries[index].url.clone(),
            list,
            domain: domain.to_string(),
        };
        state.entries[index].stats.blocks += 1;
        self.rotate(&mut state, &pick);
    }

    /// Moves `pick`'s domain on to the proxy after the one it used (if it still uses it).
    fn rotate(&self, state: &mut State, pick: &ProxyPick) {
        let indices = &self.lists[pick.list];
        let key = (pick.list, pick.domain.clone());
        if state.sticky.get(&key) != Some(&pick.index) {
            return;
        }
        let pos = indices.iter().position(|&x| x == pick.index).unwrap_or(0);
        state.sticky.insert(key, indices[(pos + 1) % indices.len()]);
    }

    /// The counters of every proxy, in configuration order.
    pub fn stats(&self) -> Vec<ProxyStats> {
        self.lock()
            .entries
            .iter()
            .map(|e| e.stats.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn url(s: &str) -> ProxyUrl {
        ProxyUrl::parse(s).unwrap()
    }

    #[test]
    fn proxy_urls_are_masked_and_checked() {
        let p = url("http://alice:s3cr%40t@127.0.0.1:8080");
        assert_eq!(p.to_string(), "http://alice:***@127.0.0.1:8080");
        assert_eq!(
            format!("{p:?}"),
            "ProxyUrl(http://alice:***@127.0.0.1:8080)"
        );
        assert_eq!(p.credentials(), Some(("alice", "s3cr@t")));
        assert_eq!(p.secret_url(), "http://alice:s3cr%40t@127.0.0.1:8080");
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            "\"http://alice:***@127.0.0.1:8080\""
        );
        assert_eq!(url("socks5://h").port(), 1080);
        assert_eq!(url("socks5h://[::1]:9").to_string(), "socks5h://[::1]:9");
        assert_eq!(
            ProxyUrl::parse("ftp://u:pw@h").unwrap_err(),
            ProxyUrlError::Scheme("ftp".into())
        );
        assert!(matches!(
            ProxyUrl::parse("http://"),
            Err(ProxyUrlError::Unparsable(_) | ProxyUrlError::NoHost)
        ));
        let err = ProxyUrl::parse("nope:pw").unwrap_err().to_string();
        assert!(!err.contains("pw@"), "{err}");
    }

    #[test]
    fn a_domain_sticks_to_its_proxy_and_domains_are_spread() {
        let pool = ProxyPool::new(vec![url("http://a:1"), url("http://b:2")], vec![]);
        let first = pool.pick(None, "shop.test").unwrap();
        for _ in 0..5 {
            let again = pool.pick(None, "shop.test").unwrap();
            pool.report(&again, ProxyOutcome::Ok);
            assert_eq!(again.index, first.index);
        }
        let other = pool.pick(None, "other.test").unwrap();
        assert_ne!(
            other.index, first.index,
            "a second domain gets the next proxy"
        );
        assert_eq!(pool.stats()[first.index].requests, 6);
    }

    #[test]
    fn a_block_rotates_and_a_failure_cools_down() {
        let pool = ProxyPool::new(
            vec![url("http://a:1"), url("http://b:2"), url("http://c:3")],
            vec![],
        )
        .with_cooldown(Duration::from_secs(3600));
        let p = pool.pick(None, "d").unwrap();
        pool.blocked(None, "d");
        let q = pool.pick(None, "d").unwrap();
        assert_eq!(q.index, (p.index + 1) % 3, "rotated to the next proxy");
        pool.report(&q, ProxyOutcome::ProxyFailed);
        let r = pool.pick(None, "d").unwrap();
        assert_eq!(r.index, (q.index + 1) % 3);
        // Another domain that would start on the cooling proxy skips it.
        for n in 0..6 {
            let pick = pool.pick(None, &format!("x{n}")).unwrap();
            assert_ne!(pick.index, q.index, "the cooling proxy is skipped");
        }
        let s = &pool.stats();
        assert_eq!(
            (s[p.index].blocks, s[q.index].failures, s[q.index].cooldowns),
            (1, 1, 1)
        );
    }

    #[test]
    fn all_cooling_gives_the_first_ready_and_cool_downs_end() {
        let pool = ProxyPool::new(vec![url("http://a:1"), url("http://b:2")], vec![])
            .with_cooldown(Duration::ZERO);
        let p = pool.pick(None, "d").unwrap();
        pool.report(&p, ProxyOutcome::ProxyFailed);
        let q = pool.pick(None, "d").unwrap();
        assert_ne!(q.index, p.index);
        pool.report(&q, ProxyOutcome::ProxyFailed);
        // A zero cool-down is over at once: picking still works.
        assert!(pool.pick(None, "d").is_some());
    }

    #[test]
    fn unattributed_connections_to_a_claimed_sites_hosts_use_its_list_and_its_rotation() {
        let pool = ProxyPool::new(
            vec![url("http://g:1")],
            vec![("shop".into(), vec![url("http://s1:1"), url("http://s2:2")])],
        );
        let shop = Url::parse("http://shop.test:8080/").unwrap();
        assert_eq!(
            pool.pick_any("shop.test").unwrap().url.host(),
            "g",
            "not claimed yet"
        );
        pool.claim_scope("shop", &Scope::from_start_urls(&[shop]));
        pool.claim_scope(
            "other",
            &Scope::from_start_urls(&[Url::parse("http://cdn.test/").unwrap()]),
        );
        let first = pool.pick_any("shop.test").unwrap();
        assert!(
            first.url.host().starts_with('s'),
            "the site's list: {}",
            first.url
        );
        let www = pool.pick_any("www.shop.test").unwrap();
        assert!(
            www.url.host().starts_with('s'),
            "the site's list: {}",
            www.url
        );
        assert_eq!(
            pool.pick_any("cdn.test").unwrap().url.host(),
            "g",
            "a site without a list"
        );
        // A request of no site (robots.txt) to the site's host uses the site's list too.
        assert!(
            pool.pick(None, "shop.test")
                .unwrap()
                .url
                .host()
                .starts_with('s')
        );
        assert_eq!(pool.pick(None, "cdn.test").unwrap().url.host(), "g");
        // A block the crawl reports for the site moves the gate's connections on too.
        pool.blocked(Some("shop"), "shop.test");
        let next = pool.pick_any("shop.test").unwrap();
        assert!(
            next.url.host().starts_with('s') && next.index != first.index,
            "{}",
            next.url
        );
        assert_eq!(
            pool.pick(Some("shop"), "shop.test").unwrap().index,
            next.index
        );
    }

    #[test]
    fn a_sites_list_replaces_the_global_one() {
        let pool = ProxyPool::new(
            vec![url("http://g:1")],
            vec![
                ("shop".into(), vec![url("socks5://u:p@s:2")]),
                ("none".into(), vec![]),
            ],
        );
        assert_eq!(pool.pick(Some("shop"), "d").unwrap().url.host(), "s");
        assert_eq!(pool.pick(Some("none"), "d").unwrap().url.host(), "g");
        assert_eq!(pool.pick(None, "d").unwrap().url.host(), "g");
        assert!(ProxyPool::new(vec![], vec![]).pick(None, "d").is_none());
        let only_sites = ProxyPool::new(vec![], vec![("shop".into(), vec![url("http://s:1")])]);
        assert!(
            only_sites.pick(None, "d").is_none(),
            "a site without a list goes direct"
        );
        assert_eq!(only_sites.pick_any("d").unwrap().url.host(), "s");
        assert_eq!(pool.stats()[1].proxy, "socks5://u:***@s:2");
    }
}
