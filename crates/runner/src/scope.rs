//! URL canonicalisation: when two URLs are the same page. (The crawl's scope, which hosts a
//! site's crawl may reach, is `haul_core::Scope`.)

use std::sync::Arc;

use async_trait::async_trait;
pub use haul_core::Scope;
use haul_core::{Admission, Document, FetchError, FetchRequest, Fetcher};
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

/// A site's fetcher: every request (and each of its redirect hops) stays within the site's
/// scope unless it names its own, carries the site's session, and a browser navigation is
/// admitted only within it.
pub(crate) struct Scoped {
    pub(crate) inner: Arc<dyn Fetcher>,
    pub(crate) scope: Scope,
    /// The site's session, put on every request that names none.
    pub(crate) session: Option<Arc<haul_core::Session>>,
}

#[async_trait]
impl Fetcher for Scoped {
    async fn fetch(&self, mut req: FetchRequest) -> Result<Document, FetchError> {
        if req.scope.is_none() {
            req.scope = Some(self.scope.clone());
        }
        if req.session.is_none() {
            req.session.clone_from(&self.session);
        }
        self.inner.fetch(req).await
    }

    async fn fetch_raw(
        &self,
        mut req: FetchRequest,
        limit: u64,
    ) -> Result<haul_core::RawBody, FetchError> {
        if req.scope.is_none() {
            req.scope = Some(self.scope.clone());
        }
        if req.session.is_none() {
            req.session.clone_from(&self.session);
        }
        self.inner.fetch_raw(req, limit).await
    }

    async fn sitemaps(&self, url: &Url) -> Vec<Url> {
        self.inner.sitemaps(url).await
    }

    async fn admit(&self, url: &Url) -> Result<Admission, FetchError> {
        if !self.scope.contains(url) {
            return Err(FetchError::OffScope {
                url: url.to_string(),
                from: "a browser navigation".into(),
            });
        }
        self.inner.admit(url).await
    }

    async fn check_hop(&self, url: &Url, from: &Url) -> Result<(), FetchError> {
        if !self.scope.contains(url) {
            return Err(FetchError::OffScope {
                url: url.to_string(),
                from: from.to_string(),
            });
        }
        self.inner.check_hop(url, from).await
    }

    async fn check_address(&self, url: &Url) -> Result<(), FetchError> {
        self.inner.check_address(url).await
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
