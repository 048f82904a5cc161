//! The browser's one way out to the network: an in-process SOCKS5 proxy (RFC 1928, `CONNECT`
//! only, no authentication) on 127.0.0.1 that every Chromium of a pool is launched behind.
//!
//! Why a proxy and not request interception: with `socks5://` Chromium resolves no host name
//! itself, it hands the name to the proxy. The gate resolves it, checks every address
//! against [`PrivateNetwork`], and connects to one it checked. The check and the connection
//! are one step on one address, so nothing can re-resolve in between (DNS rebinding), and it
//! covers every TCP connection of every tab: documents, frames, scripts, stylesheets, XHR,
//! `fetch`, images, WebSockets, service workers. Intercepting requests with CDP `Fetch`
//! instead would cost a CDP round trip per sub-request and still leave Chromium to resolve
//! the name again after haul checked it.
//!
//! Chromium's side (the launch switches of [`Gate::switches`]): `--proxy-server` names the
//! gate; `--proxy-bypass-list=<-loopback>` removes Chromium's implicit bypass of localhost
//! and link-local addresses (169.254.169.254 would otherwise go direct); `--host-resolver-rules`
//! maps every other name lookup Chromium might make on its own (prefetching) to "not found";
//! WebRTC may not send UDP outside the proxy. QUIC is disabled at launch already.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::upstream::Conn;
use tokio::task::JoinHandle;

use crate::config::{PrivateNetwork, Resolver};

/// The longest a client may take to say where it wants to go.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// The longest resolving and connecting may take (Chromium's own connect timeout is longer;
/// a render is bounded by its own timeout anyway).
const CONNECT: Duration = Duration::from_secs(15);

/// SOCKS5 reply codes (RFC 1928, section 6).
mod reply {
    pub(super) const OK: u8 = 0;
    pub(super) const NOT_ALLOWED: u8 = 2;
    pub(super) const HOST_UNREACHABLE: u8 = 4;
    pub(super) const REFUSED: u8 = 5;
    pub(super) const COMMAND: u8 = 7;
    pub(super) const ADDRESS_TYPE: u8 = 8;
}

/// Which addresses pages may connect to, and how names are resolved.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) private: PrivateNetwork,
    pub(crate) resolver: Resolver,
    /// Upstream proxies: every connection goes through the one the pool picks for its host.
    pub(crate) upstream: Option<Arc<haul_core::ProxyPool>>,
}

/// How many recent failures the gate remembers for error messages.
const FAILURES_KEPT: usize = 64;

/// The gate's recent failures, `host:port` and why: Chromium reports every failure through a
/// SOCKS proxy as `net::ERR_SOCKS_CONNECTION_FAILED`, so a render's error adds the reason.
#[derive(Debug, Default)]
struct Failures(std::sync::Mutex<std::collections::VecDeque<(String, String)>>);

impl Failures {
    fn record(&self, dest: &Dest, port: u16, why: String) {
        let mut list = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if list.len() >= FAILURES_KEPT {
            list.pop_front();
        }
        list.push_back((format!("{dest}:{port}"), why));
    }

    fn why(&self, host_port: &str) -> Option<String> {
        let list = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        list.iter()
            .rev()
            .find(|(d, _)| d == host_port)
            .map(|(_, why)| why.clone())
    }
}

impl Rules {
    /// Whether a page may connect to `ip`.
    pub(crate) fn allows(&self, ip: IpAddr) -> bool {
        if !haul_core::net::is_private(ip) {
            return true;
        }
        match &self.private {
            PrivateNetwork::Refuse => false,
            PrivateNetwork::Allow => true,
            PrivateNetwork::Only(allowed) => {
                let ip = canonical(ip);
                allowed.iter().any(|a| canonical(*a) == ip)
            }
        }
    }

    /// Resolves `dest`, keeps the addresses allowed and connects to the first that answers.
    async fn connect(&self, dest: &Dest, port: u16) -> Result<Conn, (u8, String)> {
        let addrs = match dest {
            Dest::Ip(ip) => vec![SocketAddr::new(*ip, port)],
            Dest::Name(name) => match self.resolver.resolve(name, port).await {
                Ok(addrs) => addrs,
                Err(e) => return Err((reply::HOST_UNREACHABLE, format!("not resolved: {e}"))),
            },
        };
        let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
            addrs.into_iter().partition(|a| self.allows(a.ip()));
        if allowed.is_empty() {
            return Err(match refused.first() {
                Some(addr) => (
                    reply::NOT_ALLOWED,
                    format!("refused: the private-network address {}", addr.ip()),
                ),
                None => (reply::HOST_UNREACHABLE, "no address".into()),
            });
        }
        if let Some(pool) = self.upstream.as_ref().filter(|p| !p.is_empty()) {
            return through(pool, dest, allowed[0]).await;
        }
        let mut why = String::new();
        for addr in allowed {
            match TcpStream::connect(addr).await {
                Ok(stream) => return Ok(Box::new(stream)),
                Err(e) => why = format!("{addr}: {e}"),
            }
        }
        Err((reply::REFUSED, why))
    }
}

/// Connects to `target` (an address the gate checked: the proxy gets the address, not the
/// name, so nothing resolves it again) through the proxy `pool` picks for `dest`'s host, and
/// on the proxy's failure through the next, up to three.
async fn through(
    pool: &haul_core::ProxyPool,
    dest: &Dest,
    target: SocketAddr,
) -> Result<Conn, (u8, String)> {
    let host = dest.to_string();
    let mut why = String::from("no proxy");
    for _ in 0..pool.urls().len().min(3) {
        let Some(pick) = pool.pick_any(&host) else {
            break;
        };
        match crate::upstream::connect(&pick.url, target).await {
            Ok(stream) => {
                pool.report(&pick, haul_core::ProxyOutcome::Ok);
                return Ok(stream);
            }
            Err(e) => {
                pool.report(&pick, haul_core::ProxyOutcome::ProxyFailed);
                why = e.to_string();
            }
        }
    }
    Err((reply::REFUSED, why))
}

/// An IPv4-mapped IPv6 address as its IPv4 address, so that one address compares equal in
/// both forms.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Where a client asked to connect.
#[derive(Debug)]
enum Dest {
    Ip(IpAddr),
    Name(String),
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Ip(ip) => write!(f, "{ip}"),
            Dest::Name(name) => f.write_str(name),
        }
    }
}

/// The running gate of one pool: its port, and the accept loop, stopped when dropped
/// (connections already tunnelled end when Chromium closes them).
#[derive(Debug)]
pub(crate) struct Gate {
    port: u16,
    task: JoinHandle<()>,
    failures: Arc<Failures>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gate {
    /// Listens on a free port of 127.0.0.1 and serves every connection on its own task.
    pub(crate) async fn start(rules: Rules) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = listener.local_addr()?.port();
        let rules = Arc::new(rules);
        let failures = Arc::new(Failures::default());
        let seen = failures.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve(stream, rules.clone(), seen.clone()));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: Chromium's connection fails,
                        // the next may not.
                        tracing::warn!("the browser's network gate could not accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Ok(Self {
            port,
            task,
            failures,
        })
    }

    /// Why the gate last failed a connection to `host:port` (as Chromium writes the URL's
    /// host: IPv6 in brackets are stripped), if it did lately.
    pub(crate) fn why(&self, host: &str, port: u16) -> Option<String> {
        let host = host.trim_matches(['[', ']']);
        self.failures.why(&format!("{host}:{port}"))
    }

    /// The Chromium switches (name, value) that send every connection through the gate.
    pub(crate) fn switches(&self) -> [(&'static str, String); 4] {
        [
            ("proxy-server", format!("socks5://127.0.0.1:{}", self.port)),
            ("proxy-bypass-list", "<-loopback>".into()),
            (
                "host-resolver-rules",
                "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".into(),
            ),
            (
                "force-webrtc-ip-handling-policy",
                "disable_non_proxied_udp".into(),
            ),
        ]
    }
}

/// One client connection: the handshake, the checked connection, then bytes both ways.
async fn serve(mut client: TcpStream, rules: Arc<Rules>, failures: Arc<Failures>) {
    let Ok(Ok((dest, port))) = tokio::time::timeout(HANDSHAKE, handshake(&mut client)).await else {
        return;
    };
    let upstream = match tokio::time::timeout(CONNECT, rules.connect(&dest, port)).await {
        Ok(Ok(upstream)) => upstream,
        Ok(Err((code, why))) => {
            tracing::debug!("a browser connection to {dest}:{port} failed: {why}");
            failures.record(&dest, port, why);
            let _ = answer(&mut client, code).await;
            return;
        }
        Err(_) => {
            failures.record(&dest, port, "timed out".into());
            let _ = answer(&mut client, reply::HOST_UNREACHABLE).await;
            return;
        }
    };
    let mut upstream = upstream;
    if answer(&mut client, reply::OK).await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Reads a SOCKS5 greeting (answering "no authentication") and a `CONNECT` request.
async fn handshake(client: &mut TcpStream) -> io::Result<(Dest, u16)> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Err(invalid("not SOCKS5"));
    }
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).await?;
    if !methods.contains(&0) {
        client.write_all(&[5, 0xff]).await?;
        return Err(invalid("no acceptable authentication method"));
    }
    client.write_all(&[5, 0]).await?;
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    if request[0] != 5 || request[1] != 1 {
        answer(client, reply::COMMAND).await?;
        return Err(invalid("only CONNECT is supported"));
    }
    let dest = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            Dest::Ip(IpAddr::V4(Ipv4Addr::from(ip)))
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            Dest::Ip(IpAddr::V6(Ipv6Addr::from(ip)))
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name).await?;
            let name = String::from_utf8(name).map_err(|_| invalid("a host name not in UTF-8"))?;
            // A name written as an address ("127.0.0.1") is that address.
            match name.trim_matches(['[', ']']).parse::<IpAddr>() {
                Ok(ip) => Dest::Ip(ip),
                Err(_) => Dest::Name(name),
            }
        }
        _ => {
            answer(client, reply::ADDRESS_TYPE).await?;
            return Err(invalid("unknown address type"));
        }
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await?;
    Ok((dest, u16::from_be_bytes(port)))
}

/// Sends a SOCKS5 reply with `code` (the bound address left unspecified).
async fn answer(client: &mut TcpStream, code: u8) -> io::Result<()> {
    client.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(private: PrivateNetwork) -> Rules {
        Rules {
            private,
            resolver: Resolver::system(),
            upstream: None,
        }
    }

    #[test]
    fn private_addresses_are_refused_unless_allowed() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let refuse = rules(PrivateNetwork::Refuse);
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "169.254.169.254",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!refuse.allows(ip(private)), "{private}");
            assert!(
                rules(PrivateNetwork::Allow).allows(ip(private)),
                "{private}"
            );
        }
        assert!(refuse.allows(ip("93.184.216.34")));
        let only = rules(PrivateNetwork::Only(vec![ip("127.0.0.1")]));
        assert!(only.allows(ip("127.0.0.1")));
        assert!(
            only.allows(ip("::ffff:127.0.0.1")),
            "the same address, mapped"
        );
        assert!(only.allows(ip("93.184.216.34")));
        for other in ["127.0.0.2", "169.254.169.254", "10.0.0.1"] {
            assert!(!only.allows(ip(other)), "{other}");
        }
    }

    /// A SOCKS5 client's `CONNECT` to `name:port` through the gate; the reply code.
    async fn connect_through(gate: &Gate, name: &str, port: u16) -> (u8, TcpStream) {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, gate.port))
            .await
            .unwrap();
        s.write_all(&[5, 1, 0]).await.unwrap();
        let mut greeting = [0u8; 2];
        s.read_exact(&mut greeting).await.unwrap();
        assert_eq!(greeting, [5, 0]);
        let mut req = vec![5, 1, 0, 3, u8::try_from(name.len()).unwrap()];
        req.extend_from_slice(name.as_bytes());
        req.extend_from_slice(&port.to_be_bytes());
        s.write_all(&req).await.unwrap();
        let mut reply = [0u8; 10];
        s.read_exact(&mut reply).await.unwrap();
        (reply[1], s)
    }

    #[tokio::test]
    async fn the_gate_connects_to_the_address_it_checked() {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = server.accept().await {
                let _ = s.write_all(b"hello").await;
            }
        });
        // "rebind.test" resolves to a public address first and to loopback afterwards; only
        // 127.0.0.1 exists here, so the "public" answer is 127.0.0.1 allowed by name.
        let lookups = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = lookups.clone();
        let resolver = Resolver::custom(move |name, port| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let name = name.to_string();
            Box::pin(async move {
                match (name.as_str(), n) {
                    ("rebind.test", 0) => Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]),
                    ("rebind.test", _) => Ok(vec![SocketAddr::from(([127, 0, 0, 2], port))]),
                    _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
                }
            })
        });
        let gate = Gate::start(Rules {
            private: PrivateNetwork::Only(vec!["127.0.0.1".parse().unwrap()]),
            resolver,
            upstream: None,
        })
        .await
        .unwrap();
        let (code, mut s) = connect_through(&gate, "rebind.test", port).await;
        assert_eq!(code, reply::OK);
        let mut hello = [0u8; 5];
        s.read_exact(&mut hello).await.unwrap();
        assert_eq!(&hello, b"hello");
        // The next lookup gives the internal address: refused, nothing connected.
        assert_eq!(
            connect_through(&gate, "rebind.test", port).await.0,
            reply::NOT_ALLOWED
        );
        assert_eq!(
            connect_through(&gate, "169.254.169.254", 80).await.0,
            reply::NOT_ALLOWED
        );
        assert_eq!(
            connect_through(&gate, "nowhere.test", 80).await.0,
            reply::HOST_UNREACHABLE
        );
        assert_eq!(lookups.load(std::sync::atomic::Ordering::SeqCst), 3);
        let why = gate.why("169.254.169.254", 80).unwrap();
        assert!(
            why.contains("private-network address 169.254.169.254"),
            "{why}"
        );
    }
}
