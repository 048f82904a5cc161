//! The gate's side of an upstream proxy: a tunnel to a checked address through an HTTP proxy
//! (`CONNECT`, `Proxy-Authorization: Basic`), the same over TLS to an https proxy (verified
//! like haul's HTTP client: `haul_http::tls_client_config`), or a SOCKS5 proxy
//! (username/password, RFC 1929). Errors name the proxy masked (its `Display`), never its
//! password.

use std::io;
use std::net::{IpAddr, SocketAddr};

use haul_core::ProxyUrl;
use haul_core::proxy::ProxyScheme;
use std::sync::{Arc, OnceLock};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

/// A byte stream to a checked address: a direct TCP connection or a proxy's tunnel.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connection the gate hands Chromium's bytes to.
pub(crate) type Conn = Box<dyn Stream>;

/// The longest proxy answer head read.
const MAX_HEAD: usize = 8 * 1024;

fn fail(proxy: &ProxyUrl, why: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("proxy {proxy}: {why}"))
}

/// Opens a tunnel to `target` through `proxy`.
pub(crate) async fn connect(proxy: &ProxyUrl, target: SocketAddr) -> io::Result<Conn> {
    let mut stream = TcpStream::connect((proxy.host(), proxy.port()))
        .await
        .map_err(|e| fail(proxy, e))?;
    match proxy.scheme() {
        ProxyScheme::Http => http_connect(&mut stream, proxy, target).await?,
        ProxyScheme::Socks5 | ProxyScheme::Socks5h => socks5(&mut stream, proxy, target).await?,
        ProxyScheme::Https => {
            let mut tls = tls(proxy, stream).await?;
            http_connect(&mut tls, proxy, target).await?;
            return Ok(Box::new(tls));
        }
    }
    Ok(Box::new(stream))
}

/// TLS to an https proxy, its certificate verified for its host name (or address).
async fn tls(
    proxy: &ProxyUrl,
    stream: TcpStream,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    static CONFIG: OnceLock<Result<Arc<tokio_rustls::rustls::ClientConfig>, String>> =
        OnceLock::new();
    let config = CONFIG
        .get_or_init(|| haul_http::tls_client_config().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| fail(proxy, format!("no TLS set-up: {e}")))?;
    let host = proxy.host().trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| fail(proxy, format!("not a TLS server name: {e}")))?;
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| fail(proxy, format!("TLS: {e}")))
}

/// `CONNECT ip:port`, with Basic credentials when the proxy has them; a 2xx opens the tunnel.
async fn http_connect<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    proxy: &ProxyUrl,
    target: SocketAddr,
) -> io::Result<()> {
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((user, password)) = proxy.credentials() {
        let token = base64(format!("{user}:{password}").as_bytes());
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| fail(proxy, e))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte: nothing after the head may be consumed (it is the tunnel's).
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD || s.read(&mut byte).await.map_err(|e| fail(proxy, e))? == 0 {
            return Err(fail(proxy, "no answer to CONNECT"));
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    let status = line.split_whitespace().nth(1).unwrap_or_default();
    if status.starts_with('2') {
        Ok(())
    } else {
        Err(fail(proxy, format!("CONNECT answered {status}")))
    }
}

/// SOCKS5 `CONNECT` to the address, with username/password when the proxy has them.
async fn socks5(s: &mut TcpStream, proxy: &ProxyUrl, target: SocketAddr) -> io::Result<()> {
    let creds = proxy.credentials();
    let greeting: &[u8] = if creds.is_some() {
        &[5, 2, 0, 2]
    } else {
        &[5, 1, 0]
    };
    let e = |e: io::Error| fail(proxy, e);
    s.write_all(greeting).await.map_err(e)?;
    let mut chosen = [0u8; 2];
    s.read_exact(&mut chosen).await.map_err(e)?;
    match (chosen, creds) {
        ([5, 0], _) => {}
        ([5, 2], Some((user, password))) => {
            let (u, p) = (user.as_bytes(), password.as_bytes());
            let (Ok(ul), Ok(pl)) = (u8::try_from(u.len()), u8::try_from(p.len())) else {
                return Err(fail(proxy, "credentials longer than 255 bytes"));
            };
            let mut auth = vec![1, ul];
            auth.extend_from_slice(u);
            auth.push(pl);
            auth.extend_from_slice(p);
            s.write_all(&auth).await.map_err(e)?;
            let mut status = [0u8; 2];
            s.read_exact(&mut status).await.map_err(e)?;
            if status[1] != 0 {
                return Err(fail(proxy, "credentials refused"));
            }
        }
        _ => return Err(fail(proxy, "no acceptable authentication method")),
    }
    let mut req = vec![5, 1, 0];
    match target.ip() {
        IpAddr::V4(ip) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            req.push(4);
            req.extend_from_slice(&ip.octets());
        }
    }
    req.extend_from_slice(&target.port().to_be_bytes());
    s.write_all(&req).await.map_err(e)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.map_err(e)?;
    if head[1] != 0 {
        return Err(fail(proxy, format!("SOCKS5 reply {}", head[1])));
    }
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await.map_err(e)?;
            usize::from(len[0]) + 2
        }
        _ => return Err(fail(proxy, "a bad SOCKS5 reply")),
    };
    let mut bound = vec![0u8; rest];
    s.read_exact(&mut bound).await.map_err(e)?;
    Ok(())
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
            ("user:pass", "dXNlcjpwYXNz"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
    }

    #[tokio::test]
    async fn connect_goes_through_an_http_proxy_with_credentials() {
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = proxy.local_addr().unwrap().port();
        let seen = tokio::spawn(async move {
            let (mut s, _) = proxy.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\n\r\nhi").await.unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let url = ProxyUrl::parse(&format!("http://user:pass@127.0.0.1:{port}")).unwrap();
        let mut s = connect(&url, "10.1.2.3:443".parse().unwrap())
            .await
            .unwrap();
        let mut hi = [0u8; 2];
        s.read_exact(&mut hi).await.unwrap();
        assert_eq!(&hi, b"hi", "the bytes after the head are the tunnel's");
        let req = seen.await.unwrap();
        assert!(
            req.starts_with("CONNECT 10.1.2.3:443 HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(
            req.contains("Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"),
            "{req}"
        );
        let refused = ProxyUrl::parse("socks5://u:secret@127.0.0.1:1").unwrap();
        let Err(err) = connect(&refused, "10.1.2.3:443".parse().unwrap()).await else {
            panic!("connected through a closed port");
        };
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
