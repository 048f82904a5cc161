//! Which addresses a crawl may connect to: loopback, private, link-local, shared, unspecified
//! and cloud-metadata ranges are refused unless the crawl allows them (its start URL is on one,
//! or `--allow-private-network`). The check runs on the address actually connected to (a DNS
//! resolver for reqwest), so a name that resolves to an internal address, or re-resolves to
//! one later (DNS rebinding), is refused too.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub use haul_core::net::{is_private, private_literal};

/// Why a host was not connected to: it resolved to private addresses only. Travels through
/// reqwest's error chain, where the fetcher finds it to report `private_network`.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to the private-network address {addr}")]
pub(crate) struct PrivateAddress {
    pub(crate) host: String,
    pub(crate) addr: IpAddr,
}

/// A reqwest DNS resolver that drops private addresses; a name with nothing else fails with
/// [`PrivateAddress`].
#[derive(Debug, Default)]
pub(crate) struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| !is_private(a.ip()))
                .collect();
            match (public.is_empty(), all.first()) {
                (true, Some(first)) => Err(Box::new(PrivateAddress {
                    host,
                    addr: first.ip(),
                })
                    as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// The resolver a client uses: public addresses only unless private ones are allowed.
pub(crate) fn resolver(allow_private: bool) -> Option<Arc<PublicOnly>> {
    (!allow_private).then(|| Arc::new(PublicOnly))
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    #[test]
    fn internal_ranges_are_private_and_public_ones_are_not() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "fd00:ec2::254",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(private_literal(&u("http://169.254.169.254/latest/meta-data")).is_some());
        assert!(private_literal(&u("http://localhost:8080/")).is_some());
        assert!(private_literal(&u("http://[::1]/")).is_some());
        assert!(private_literal(&u("https://shop.example/")).is_none());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = match PublicOnly.resolve(name).await {
            Err(e) => e,
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
        };
        assert!(err.downcast_ref::<PrivateAddress>().is_some(), "{err}");
    }
}
