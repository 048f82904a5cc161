//! A shop behind a bot wall: after [`BotWall::free`] requests without its session cookie it
//! answers challenge pages in turn (Cloudflare's 403 "Just a moment...", PerimeterX's 200
//! "Press & Hold", a 302 to `/captcha` serving a 200 "Robot Check", DataDome's 403 frame,
//! Akamai's 403 "Access Denied"), each also showing a decoy product in JSON-LD, so that a
//! crawler that does not see the wall takes the decoy for a product.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

/// The name of the decoy product every challenge page shows.
pub const DECOY_NAME: &str = "Decoy Challenge Gadget";

/// The cookie that lets a client through (`botwall=passed`).
pub const SESSION_COOKIE: &str = "botwall=passed";

/// How the bot wall behaves.
#[derive(Debug, Clone, Copy)]
pub struct BotWall {
    /// Requests served normally before the wall goes up (robots.txt not counted).
    pub free: usize,
    /// Product pages `/p/1` ..= `/p/<products>`, linked from `/`.
    pub products: usize,
}

/// The decoy, as a JSON-LD product.
fn decoy() -> String {
    format!(
        r#"<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Product","name":"{DECOY_NAME}","offers":{{"@type":"Offer","price":"0.99","priceCurrency":"USD"}}}}</script><h1>{DECOY_NAME}</h1><p class="price">$0.99</p>"#
    )
}

fn cloudflare() -> Response {
    let body = format!(
        r#"<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title><meta name="robots" content="noindex,nofollow"></head><body><div class="main-wrapper" role="main"><div class="main-content"><h1 class="zone-name-title h1">shop</h1><h2 class="h2" id="challenge-running">Checking if the site connection is secure</h2><noscript><div class="h2">Enable JavaScript and cookies to continue</div></noscript></div></div><script>(function(){{window._cf_chl_opt={{cvId: '3',cZone: "shop",cType: 'managed',cRay: '8a1b2c3d4e5f6a7b'}};}}());</script>{}</body></html>"#,
        decoy()
    );
    (
        StatusCode::FORBIDDEN,
        [("cf-mitigated", "challenge")],
        Html(body),
    )
        .into_response()
}

fn perimeterx() -> Response {
    Html(format!(
        r#"<!DOCTYPE html><html lang="en"><head><title>Access to this page has been denied.</title></head><body><div class="px-captcha-container"><div class="px-captcha-header">Before we continue...</div><div class="px-captcha-message">Press &amp; Hold to confirm you are a human (and not a bot).</div><div id="px-captcha"></div></div><script>window._pxAppId = 'PXtEsT1234';</script>{}</body></html>"#,
        decoy()
    ))
    .into_response()
}

fn robot_check() -> Response {
    Html(format!(
        r#"<html><head><title dir="ltr">Robot Check</title></head><body><div class="a-box"><form method="get" action="/errors/validateCaptcha"><h4>Enter the characters you see below</h4><p class="a-last">Sorry, we just need to make sure you're not a robot.</p><input name="field-keywords"></form></div>{}</body></html>"#,
        decoy()
    ))
    .into_response()
}

fn datadome() -> Response {
    let body = format!(
        r#"<html><head><title>shop</title></head><body style="margin:0"><script data-cfasync="false">var dd={{'rt':'c','cid':'AHrlqAAAAAMA1a2b3c','hsh':'A1B2C3','t':'fe','s':17434,'e':'abc','host':'geo.captcha-delivery.com'}}</script><script data-cfasync="false" src="https://ct.captcha-delivery.com/c.js"></script>{}</body></html>"#,
        decoy()
    );
    (
        StatusCode::FORBIDDEN,
        [("x-datadome", "protected")],
        Html(body),
    )
        .into_response()
}

fn akamai() -> Response {
    let body = format!(
        "<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n \nYou don't have permission to access \"http&#58;&#47;&#47;shop&#47;\" on this server.<P>\nReference&#32;&#35;18&#46;6f2c1602&#46;1700000000&#46;1a2b3c\n<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;18&#46;6f2c1602</P>{}</BODY>\n</HTML>",
        decoy()
    );
    (StatusCode::FORBIDDEN, Html(body)).into_response()
}

/// The challenge number `n` (in turn).
fn challenge(n: usize) -> Response {
    match n % 5 {
        0 => cloudflare(),
        1 => perimeterx(),
        2 => Redirect::to("/captcha").into_response(),
        3 => datadome(),
        _ => akamai(),
    }
}

/// A real product page.
fn product(n: usize) -> Response {
    Html(format!(
        r#"<!DOCTYPE html><html lang="en"><head><title>Widget {n} | Wall Shop</title><script src="https://www.google.com/recaptcha/api.js?render=6LcTest"></script><script type="application/ld+json">{{"@context":"https://schema.org","@type":"Product","name":"Widget {n}","sku":"w{n}","offers":{{"@type":"Offer","price":"{n}.50","priceCurrency":"USD","availability":"https://schema.org/InStock"}}}}</script></head><body><h1>Widget {n}</h1><p class="price">${n}.50</p><footer><form class="newsletter"><div class="g-recaptcha" data-size="invisible"></div></form><small>Protected by reCAPTCHA.</small></footer></body></html>"#
    ))
    .into_response()
}

fn home(products: usize) -> Response {
    let links: String = (1..=products)
        .map(|n| format!(r#"<li><a href="/p/{n}">Widget {n}</a></li>"#))
        .collect();
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><title>Wall Shop</title></head><body><ul>{links}</ul></body></html>"
    ))
    .into_response()
}

impl BotWall {
    /// The shop as a router.
    pub fn router(self) -> Router {
        let served = Arc::new(AtomicUsize::new(0));
        let walls = Arc::new(AtomicUsize::new(0));
        Router::new().fallback(move |req: Request| {
            let (served, walls) = (served.clone(), walls.clone());
            async move {
                let path = req.uri().path().to_string();
                if path == "/robots.txt" {
                    return (StatusCode::NOT_FOUND, "").into_response();
                }
                if path == "/captcha" {
                    return robot_check();
                }
                let session = req
                    .headers()
                    .get(header::COOKIE)
                    .and_then(|c| c.to_str().ok())
                    .is_some_and(|c| c.contains(SESSION_COOKIE));
                if !session && served.fetch_add(1, Ordering::SeqCst) >= self.free {
                    return challenge(walls.fetch_add(1, Ordering::SeqCst));
                }
                let n = path.strip_prefix("/p/").and_then(|n| n.parse().ok());
                match n {
                    Some(n) if (1..=self.products).contains(&n) => product(n),
                    _ if path == "/" => home(self.products),
                    _ => (StatusCode::NOT_FOUND, "not found").into_response(),
                }
            }
        })
    }
}
