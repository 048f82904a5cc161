//! A site session's cookies in and out of a tab: the jar's (and the pinned) cookies for the
//! URL are set in Chromium before a render navigates (CDP `Network.setCookies`), and the
//! cookies Chromium holds for the rendered page afterwards (`Network.getCookies`, those a
//! script's `document.cookie` or a challenge set included) go back into the site's jar, so
//! the next plain HTTP request of the site carries them. Values are never logged.

use chromiumoxide::Page as CdpPage;
use chromiumoxide::cdp::browser_protocol::network::{
    CookieParam, GetCookiesParams, SetCookiesParams, TimeSinceEpoch,
};
use chromiumoxide::error::CdpError;
use haul_core::{Cookie, Session, Url};

/// Sets the cookies `session` sends to `url` in the tab's browser.
pub(crate) async fn set_for(page: &CdpPage, session: &Session, url: &Url) -> Result<(), CdpError> {
    let cookies: Vec<CookieParam> = session
        .cookies_for(url)
        .into_iter()
        .map(|c| to_param(c, url))
        .collect();
    if cookies.is_empty() {
        return Ok(());
    }
    page.execute(SetCookiesParams::new(cookies)).await?;
    Ok(())
}

/// Puts the browser's cookies for `url` into `session`'s jar (not those of a pinned name:
/// the pin stays the settings').
pub(crate) async fn read_back(
    page: &CdpPage,
    session: &Session,
    url: &Url,
) -> Result<(), CdpError> {
    let params = GetCookiesParams {
        urls: Some(vec![url.to_string()]),
    };
    let got = page.execute(params).await?.result.cookies;
    let pinned = session.pinned_cookies();
    let cookies = got
        .into_iter()
        .filter(|c| !pinned.iter().any(|(n, _)| *n == c.name))
        .map(|c| Cookie {
            host_only: !c.domain.starts_with('.'),
            domain: c.domain.trim_start_matches('.').to_ascii_lowercase(),
            name: c.name,
            value: c.value,
            path: c.path,
            secure: c.secure,
            http_only: c.http_only,
            expires: (!c.session && c.expires > 0.0).then_some(c.expires as i64),
        });
    session.absorb(cookies);
    Ok(())
}

/// The CDP form of a jar cookie sent to `url`: a host-only cookie is set through the URL (so
/// that it stays host-only), a domain cookie through its domain.
fn to_param(c: Cookie, url: &Url) -> CookieParam {
    let mut p = CookieParam::new(c.name, c.value);
    if c.host_only {
        let mut origin = url.clone();
        origin.set_path(&c.path);
        origin.set_query(None);
        origin.set_fragment(None);
        p.url = Some(origin.to_string());
    } else {
        p.domain = Some(format!(".{}", c.domain));
    }
    p.path = Some(c.path);
    p.secure = Some(c.secure);
    p.http_only = Some(c.http_only);
    p.expires = c.expires.map(|t| TimeSinceEpoch::new(t as f64));
    p
}
