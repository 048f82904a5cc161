//! A site's scope: the hosts (and ports) a crawl of it may reach, for links and for every
//! redirect hop. Shared by the runner (which links are followed, which hops are fetched) and
//! extractors (an extractor claims links only within it).

use url::Url;

/// Which links a site's crawl follows: by default, those on the hosts of its start URLs or
/// claimed by its extractor.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    hosts: Vec<(String, Option<u16>)>,
}

impl Scope {
    /// A scope covering the hosts (and ports) of `start_urls` and, on the default http and
    /// https ports, the site's own `domains`.
    pub fn of_site(start_urls: &[Url], domains: &[&str]) -> Self {
        let mut scope = Self::from_start_urls(start_urls);
        scope
            .hosts
            .extend(domains.iter().map(|d| (d.to_ascii_lowercase(), Some(443))));
        scope.hosts.sort();
        scope.hosts.dedup();
        scope
    }

    /// A scope covering the hosts (and ports) of `start_urls`.
    pub fn from_start_urls(start_urls: &[Url]) -> Self {
        let mut hosts: Vec<(String, Option<u16>)> = start_urls
            .iter()
            .filter_map(|u| Some((u.host_str()?.to_string(), u.port_or_known_default())))
            .collect();
        hosts.sort();
        hosts.dedup();
        Self { hosts }
    }

    /// Whether `host` is one of the scope's hosts, on any port (`www.` and subdomains of a
    /// start host count as the same site).
    pub fn contains_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.hosts.iter().any(|(h, _)| {
            host == *h
                || host.ends_with(&format!(".{h}"))
                || h.strip_prefix("www.").is_some_and(|bare| host == bare)
        })
    }

    /// Whether `url` is on one of the scope's hosts (`www.` and subdomains of a start host
    /// count as the same site; the port must match).
    pub fn contains(&self, url: &Url) -> bool {
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let port = url.port_or_known_default();
        self.hosts.iter().any(|(h, p)| {
            let same_host = host == h
                || host.ends_with(&format!(".{h}"))
                || h.strip_prefix("www.").is_some_and(|bare| host == bare);
            same_host
                && (*p == port
                    || (p.is_some_and(|p| p == 80 || p == 443)
                        && port.is_some_and(|q| q == 80 || q == 443)))
        })
    }
}
