//! A hostile shop: a few good product pages among pages built to crash, hang, exhaust or
//! mislead a crawler (cyclic and 100,000-deep JSON-LD, 100,000-deep HTML, a 1 GiB gzip bomb, an
//! endless chunked body, a body that trickles one byte a second, invalid UTF-8, a million
//! links, absurd `Retry-After`s, a spreadsheet formula as a title, redirects off the site).
//! Served by the hostile e2e test and by `haul serve hostile`.
//!
//! Paths: `/` links every page below; `/good/{1,2,3}` good products ([`HOSTILE_GOOD`]);
//! `/cyclic`, `/deep-jsonld`, `/deep-html`, `/bomb`, `/endless`, `/trickle`, `/utf8`,
//! `/links`, `/retry-days`, `/retry-overflow`, `/formula`; `/to-internal` and
//! `/to-internal-hops` redirect (directly, and after a hop on the shop) to the `internal`
//! URL given to [`hostile_router`], standing for a service the crawl must never reach;
//! `/to-localhost` redirects to [`VIA_LOCALHOST`] on the shop's own port under the host name
//! `localhost` (the same address, another host name: another site).
//!
//! [`redirects_router`] is a small shop of redirects only, for rendered crawls: `/` links
//! `/moved` (redirected within the shop to a good product), `/to-internal`,
//! `/to-internal-hops` and `/to-localhost`.

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

/// The good products of the hostile shop: (path, title, price).
pub const HOSTILE_GOOD: [(&str, &str, &str); 3] = [
    ("/good/1", "Steel Kettle", "24.90"),
    ("/good/2", "Oak Cutting Board", "39.00"),
    ("/good/3", "Linen Apron", "18.50"),
];

/// The title of the `/formula` product: a live spreadsheet formula if written verbatim.
pub const FORMULA_TITLE: &str = r#"=HYPERLINK("http://evil.example","x")"#;

/// The path `/to-localhost` redirects to (on `localhost`, the shop's port): a good product,
/// should a crawl ever get there.
pub const VIA_LOCALHOST: &str = "/via-localhost";

/// Every page of the shop `/` links to.
pub const HOSTILE_PATHS: [&str; 17] = [
    "/good/1",
    "/good/2",
    "/good/3",
    "/cyclic",
    "/deep-jsonld",
    "/deep-html",
    "/bomb",
    "/endless",
    "/trickle",
    "/utf8",
    "/links",
    "/retry-days",
    "/retry-overflow",
    "/formula",
    "/to-internal",
    "/to-internal-hops",
    "/to-localhost",
];

/// Decompressed size of the `/bomb` body.
pub const BOMB_BYTES: usize = 1 << 30;

/// Links on `/links`.
pub const LINK_COUNT: usize = 1_000_000;

/// A stand-in for an internal service (a metadata endpoint, an admin port): answers every
/// path with 200; a crawl of the hostile shop must send it nothing (the server's
/// [`ServerStats`](crate::ServerStats) count what arrived).
pub fn internal_router() -> Router {
    Router::new().fallback(|| async { "internal service: secret" })
}

/// The hostile shop; `internal` is where its off-site redirects point. Starts compressing the
/// bomb at once, on a thread of its own.
pub fn hostile_router(internal: Url) -> Router {
    std::thread::spawn(|| BOMB.get_or_init(make_bomb).len());
    let internal = Arc::new(internal);
    Router::new().fallback(move |req: Request| {
        let internal = internal.clone();
        async move {
            if let Some(r) = common_redirects(&req, &internal) {
                return r;
            }
            respond(req.uri().path()).await
        }
    })
}

/// The shop of redirects only (see the module documentation); `internal` as for
/// [`hostile_router`].
pub fn redirects_router(internal: Url) -> Router {
    let internal = Arc::new(internal);
    Router::new().fallback(move |req: Request| {
        let internal = internal.clone();
        async move {
            if let Some(r) = common_redirects(&req, &internal) {
                return r;
            }
            match req.uri().path() {
                "/" => html(links_page(&[
                    "/moved",
                    "/to-internal",
                    "/to-internal-hops",
                    "/to-localhost",
                ])),
                "/moved" => redirect(Ok(HOSTILE_GOOD[0].0.to_string())),
                path => match HOSTILE_GOOD.iter().find(|(p, _, _)| *p == path) {
                    Some((_, title, price)) => html(product(title, price)),
                    None => (StatusCode::NOT_FOUND, "not found").into_response(),
                },
            }
        }
    })
}

/// The redirects both shops have: to the internal service (directly, after a hop on the
/// shop), and to the shop's own port under the host name `localhost`.
fn common_redirects(req: &Request, internal: &Url) -> Option<Response> {
    Some(match req.uri().path() {
        "/to-internal" => redirect(internal.join("/secret").map(String::from)),
        "/to-internal-hops" => redirect(Ok("/hop".to_string())),
        "/hop" => redirect(internal.join("/admin").map(String::from)),
        "/to-localhost" => {
            // The port this request came to, from its Host header (`127.0.0.1:PORT`).
            let port = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.rsplit_once(':'))
                .and_then(|(_, p)| p.parse::<u16>().ok());
            match port {
                Some(port) => redirect(Ok(format!("http://localhost:{port}{VIA_LOCALHOST}"))),
                None => StatusCode::BAD_REQUEST.into_response(),
            }
        }
        VIA_LOCALHOST => html(product("Localhost Kettle", "9.99")),
        _ => return None,
    })
}

async fn respond(path: &str) -> Response {
    if let Some((_, title, price)) = HOSTILE_GOOD.iter().find(|(p, _, _)| *p == path) {
        return html(product(title, price));
    }
    match path {
        "/" => html(index()),
        "/cyclic" => html(page_with_json_ld(
            r##"{"@context":"https://schema.org","@type":"Product","name":"Loop","offers":{"@id":"#o","price":"1.00","priceCurrency":"USD","offers":{"@id":"#o"}}}"##,
        )),
        "/deep-jsonld" => {
            let depth = 100_000;
            let json = format!(
                r#"{{"@type":"Product","name":"Deep","offers":{}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            html(page_with_json_ld(&json))
        }
        "/deep-html" => {
            let depth = 100_000;
            html(format!(
                "<html><body>{}<span class=price>$5.00</span>{}</body></html>",
                "<div>".repeat(depth),
                "</div>".repeat(depth)
            ))
        }
        "/bomb" => bomb().await,
        "/endless" => endless(),
        "/trickle" => trickle(),
        "/utf8" => {
            // Bytes that are not UTF-8 although the page says it is, in the visible text.
            let mut body = product("Broken Bytes Mug", "12.00").into_bytes();
            let at = body.len() - "</h1></body></html>".len();
            body.splice(at..at, [0xff, 0xfe, 0xc3, 0x28]);
            (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                Bytes::from(body),
            )
                .into_response()
        }
        "/links" => {
            let mut body = String::with_capacity(LINK_COUNT * 14);
            body.push_str("<html><body>");
            for i in 0..LINK_COUNT {
                body.push_str(&format!("<a href=?{i}>"));
            }
            html(body)
        }
        "/retry-days" => retry_after("864000"),
        "/retry-overflow" => retry_after("99999999999999999999"),
        "/formula" => html(product(FORMULA_TITLE, "1.00")),
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn index() -> String {
    links_page(&HOSTILE_PATHS)
}

fn links_page(paths: &[&str]) -> String {
    let links: String = paths
        .iter()
        .map(|p| format!("<li><a href=\"{p}\">{p}</a></li>"))
        .collect();
    format!("<html><head><title>Hostile shop</title></head><body><ul>{links}</ul></body></html>")
}

fn product(title: &str, price: &str) -> String {
    let name = serde_json::to_string(title).unwrap_or_default();
    page_with_json_ld(&format!(
        r#"{{"@context":"https://schema.org","@type":"Product","name":{name},"offers":{{"@type":"Offer","price":"{price}","priceCurrency":"USD"}}}}"#
    ))
}

fn page_with_json_ld(json: &str) -> String {
    format!(
        "<html><head><title>Product</title><script type=\"application/ld+json\">{json}</script></head><body><h1>Product</h1></body></html>"
    )
}

fn retry_after(value: &'static str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, value)],
        "busy",
    )
        .into_response()
}

fn redirect(to: Result<String, url::ParseError>) -> Response {
    match to {
        Ok(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

static BOMB: OnceLock<Bytes> = OnceLock::new();

/// 1 GiB of zeros, gzip-compressed (about 1 MiB).
fn make_bomb() -> Bytes {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..BOMB_BYTES / zeros.len() {
        enc.write_all(&zeros).ok();
    }
    Bytes::from(enc.finish().unwrap_or_default())
}

/// The bomb, served as `Content-Encoding: gzip` (waiting for its compression if needed).
async fn bomb() -> Response {
    let gz = tokio::task::spawn_blocking(|| BOMB.get_or_init(make_bomb).clone())
        .await
        .unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/html"),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        gz,
    )
        .into_response()
}

/// A chunked HTML body that never ends (64 KiB chunks as fast as the client reads).
fn endless() -> Response {
    let chunk = Bytes::from("<p>more</p>".repeat(64 * 1024 / 11));
    let stream = futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
    (
        [(header::CONTENT_TYPE, "text/html")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// An HTML body of one byte a second, forever.
fn trickle() -> Response {
    let stream = futures::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Some((Ok::<_, std::io::Error>(Bytes::from_static(b" ")), ()))
    });
    (
        [(header::CONTENT_TYPE, "text/html")],
        Body::from_stream(stream),
    )
        .into_response()
}
