//! URL canonicalisation and crawl scope: which links are followed, and when two URLs are the
//! same page.

use url::Url;

/// Query parameters that only track where a click came from; they never change the page.
const TRACKING_PARAMS: &[&str] = &[
    "gclid", "fbclid", "msclkid", "mc_cid", "mc_eid", "_ga", "ref_src", "igshid", "yclid",
];

/// The canonical form of `url`, used for de-duplication: no fragment, no tracking parameters
/// (`utm_*`, `gclid`, ...), no empty query. The `url` crate already lower-cases the host and
/// drops default ports.
pub fn canonicalize(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_fragment(None);
    if u.query().is_some() {
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !k.starts_with("utm_") && !TRACKING_PARAMS.contains(&k.as_str())
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    u
}

/// Which links a site's crawl follows: by default, those on the hosts of its start URLs or
/// claimed by its extractor.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    hosts: Vec<(String, Option<u16>)>,
}

impl Scope {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn canonical_form_drops_fragments_tracking_and_default_ports() {
        let cases = [
            (
                "http://A.example:80/p?utm_source=x#top",
                "http://a.example/p",
            ),
            (
                "https://a.example/p?id=3&utm_medium=m&gclid=1",
                "https://a.example/p?id=3",
            ),
            ("https://a.example/p?", "https://a.example/p"),
            ("https://a.example/p?b=2&a=1", "https://a.example/p?b=2&a=1"),
        ];
        for (input, want) in cases {
            assert_eq!(canonicalize(&u(input)).as_str(), want, "{input}");
        }
    }

    #[test]
    fn scope_is_the_start_hosts_and_their_subdomains() {
        let s =
            Scope::from_start_urls(&[u("https://www.shop.example/"), u("http://127.0.0.1:8080/")]);
        assert!(s.contains(&u("https://www.shop.example/p/1")));
        assert!(s.contains(&u("https://shop.example/p/1")));
        assert!(s.contains(&u("http://127.0.0.1:8080/x")));
        assert!(!s.contains(&u("http://127.0.0.1:9090/x")));
        assert!(!s.contains(&u("https://other.example/")));
        assert!(!s.contains(&u("mailto:a@shop.example")));
    }
}
