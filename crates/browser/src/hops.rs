//! Request interception of a tab (CDP `Fetch` domain): image, media and font requests failed
//! (when blocking resources), and every document request held until the render's
//! [`NavGuard`] allows it, so that a redirect (or a script's navigation) to another host or to
//! an internal address is refused before Chromium sends it.
//!
//! One `Fetch.enable` per tab, with request-stage patterns for `Document` (and the blocked
//! types) only: scripts, stylesheets and XHR are never paused, so an ordinary page pays one
//! CDP round trip per document (its own, and each frame's). Every paused request is answered
//! by the tab's listener task (continued, or failed with `BlockedByClient`), whether a render
//! is running or not: a paused request nobody answers would hang the tab.
//!
//! What is checked, while a render holds a guard ([`Hops::watch`]):
//! * a main-frame document request (the first, each redirect hop, a script's navigation):
//!   [`NavGuard::document`] (scope, private network, robots.txt), from the previous hop; a
//!   refusal is kept and fails the render ([`PageError::Refused`](haul_core::PageError));
//! * a main-frame document request to a domain (scheme, host, port) the render holds no slot
//!   of: [`NavGuard::enter`] takes that domain's per-domain slot (and its turn, with
//!   `--delay-ms`) before Chromium sends it, held until the render ends, as the slot of the
//!   domain the render was admitted on is. Two renders hopping into each other's domains
//!   with `--per-domain-concurrency 1` wait on each other until their render timeout: a
//!   failure, never a hang.
//! * a frame's document: [`NavGuard::frame`] (the private-network rule only: a shop embeds
//!   frames from other hosts); a refused frame stays empty, the page renders on.
//!
//! A render with a site's [`Session`] also gets, on every main-frame document request the
//! session [applies to](Session::applies_to) (each redirect hop is paused again), the site's
//! configured headers and its pinned query parameters ([`Session::with_query`], a change the
//! page cannot observe), as the same request over HTTP would. Headers the browser owns are
//! left alone: `User-Agent`, `Accept`, `sec-ch-*` / `Sec-Fetch-*` (the browser header set is
//! for HTTP; Chromium sends its own), `Accept-Language` (set for the whole tab, see
//! `page.rs`), `Cookie` (the jar is shared through the browser's cookie store) and `Host`.
//! Frames and sub-resources get none of them.
//!
//! Sub-resources (scripts, XHR, `fetch`, images, WebSockets) are not paused: the pool's
//! network gate (`gate.rs`) checks the address of every connection the browser makes, so a
//! public page's script cannot reach a private address, without a CDP round trip per request.
//!
//! Between renders (and while an extractor evaluates scripts in a borrowed page) no guard is
//! installed and documents are continued as they come: a pooled tab carries nothing of one
//! render into the next ([`Watching`] removes the guard, and the slots it took, when the
//! render ends, also when it is cancelled).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chromiumoxide::Page as CdpPage;
use chromiumoxide::cdp::browser_protocol::fetch::{
    ContinueRequestParams, EnableParams, EventRequestPaused, FailRequestParams, HeaderEntry,
    RequestPattern, RequestStage,
};
use chromiumoxide::cdp::browser_protocol::network::{ErrorReason, Headers, ResourceType};
use chromiumoxide::cdp::browser_protocol::page::FrameId;
use chromiumoxide::error::CdpError;
use futures::StreamExt;
use haul_core::{Admission, FetchError, NavGuard, Session, Url};

/// The resource types failed when a tab blocks resources.
const BLOCKED: [ResourceType; 3] = [ResourceType::Image, ResourceType::Media, ResourceType::Font];

/// The interception state of one tab: the guard of the render in progress, if any.
#[derive(Default)]
pub(crate) struct Hops {
    /// A plain mutex, never held across an await.
    current: Mutex<Option<Watch>>,
    /// Numbers the renders of the tab, so that a check still running when its render ended
    /// never touches the next render's watch.
    renders: AtomicU64,
}

/// What a render checks its hops with, and what it found.
struct Watch {
    render: u64,
    /// What checks the hops (`None`: every hop goes, as between renders).
    guard: Option<NavGuard>,
    /// The site's session, whose headers and query pins main-frame documents get.
    session: Option<Arc<Session>>,
    /// The tab's main frame (documents of other frames are frames of the page).
    main_frame: Option<FrameId>,
    /// The main frame's last document request allowed: the `from` of the next hop.
    last: Option<Url>,
    /// The first main-frame request refused.
    refused: Option<FetchError>,
    /// The domains whose per-domain slot the render holds: the one it was admitted on (by
    /// its caller), then each one a hop took ([`NavGuard::enter`]).
    domains: Vec<String>,
    /// The slots taken for hops, given back when the render ends.
    admissions: Vec<Admission>,
}

/// A URL's domain as the per-domain limits count it: scheme, host and port.
fn domain(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// Removes the render's guard from its tab when dropped.
pub(crate) struct Watching<'a>(&'a Hops);

impl Watching<'_> {
    /// Sets the tab's main frame (known once the render has asked the page).
    pub(crate) fn main_frame(&self, frame: Option<FrameId>) {
        if let Some(w) = self.0.lock().as_mut() {
            w.main_frame = frame;
        }
    }

    /// The first main-frame request refused so far, taken.
    pub(crate) fn take_refused(&self) -> Option<FetchError> {
        self.0.lock().as_mut().and_then(|w| w.refused.take())
    }
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

impl Hops {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Watch>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the tab's document requests with `guard`, and gives the main frame's the
    /// `session`'s headers and query pins, until the returned value is dropped (nothing is
    /// checked without a guard); the render was admitted on `admitted`'s domain.
    pub(crate) fn watch(
        &self,
        guard: Option<NavGuard>,
        session: Option<Arc<Session>>,
        admitted: &Url,
    ) -> Watching<'_> {
        let render = self.renders.fetch_add(1, Ordering::Relaxed);
        *self.lock() = (guard.is_some() || session.is_some()).then(|| Watch {
            render,
            guard,
            session,
            main_frame: None,
            last: None,
            refused: None,
            domains: vec![domain(admitted)],
            admissions: Vec::new(),
        });
        Watching(self)
    }

    /// Whether the paused document request may go on, and with what changed.
    async fn allow(&self, event: &EventRequestPaused) -> Verdict {
        let Ok(url) = Url::parse(&event.request.url) else {
            // Chromium only sends what it could parse; nothing to check against.
            return Verdict::Go(Override::default());
        };
        let (render, guard, session, main, from, held) = {
            let current = self.lock();
            let Some(w) = current.as_ref() else {
                return Verdict::Go(Override::default());
            };
            let main = w.main_frame.as_ref().is_none_or(|f| *f == event.frame_id);
            let held = w.domains.contains(&domain(&url));
            let (guard, session) = (w.guard.clone(), w.session.clone());
            (w.render, guard, session, main, w.last.clone(), held)
        };
        let Some(guard) = guard else {
            let change = if main {
                site_override(session.as_deref(), &url, event)
            } else {
                Override::default()
            };
            return Verdict::Go(change);
        };
        if !main {
            return match guard.frame(&url).await {
                Ok(()) => Verdict::Go(Override::default()),
                Err(e) => {
                    tracing::debug!("a frame refused: {e}");
                    Verdict::Refuse
                }
            };
        }
        let from = from.unwrap_or_else(|| url.clone());
        let verdict = match guard.document(&url, &from).await {
            // A hop to another domain waits for a slot of that domain, as a fetch's hop does.
            Ok(()) if !held => guard.enter(&url).await.map(Some),
            Ok(()) => Ok(None),
            Err(e) => Err(e),
        };
        let mut current = self.lock();
        let Some(w) = current.as_mut().filter(|w| w.render == render) else {
            // The render ended meanwhile (its tab is idle or renders another page): answer
            // the request, record nothing (a slot just taken is given back here).
            return match verdict {
                Ok(_) => Verdict::Go(Override::default()),
                Err(_) => Verdict::Refuse,
            };
        };
        match verdict {
            Ok(admission) => {
                if let Some(admission) = admission {
                    w.domains.push(domain(&url));
                    w.admissions.push(admission);
                }
                w.last = Some(url.clone());
                Verdict::Go(site_override(session.as_deref(), &url, event))
            }
            Err(e) => {
                tracing::debug!("a navigation hop refused: {e}");
                w.refused.get_or_insert(e);
                Verdict::Refuse
            }
        }
    }
}

/// What becomes of a paused request.
enum Verdict {
    /// Continued, with what changes.
    Go(Override),
    /// Failed (`BlockedByClient`): Chromium never sends it.
    Refuse,
}

/// Changes to a continued request (`None`: as the page asked).
#[derive(Default)]
struct Override {
    url: Option<String>,
    headers: Option<Vec<HeaderEntry>>,
}

/// Header names the browser owns: a site's session never overrides them in a render.
fn browser_owned(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "user-agent" | "accept" | "accept-language" | "cookie" | "host"
    ) || n.starts_with("sec-ch-")
        || n.starts_with("sec-fetch-")
}

/// The site's headers and query pins for a main-frame document request to `url`, when the
/// session applies to it (see the module documentation).
fn site_override(session: Option<&Session>, url: &Url, event: &EventRequestPaused) -> Override {
    let Some(session) = session.filter(|s| s.applies_to(url)) else {
        return Override::default();
    };
    let pinned = session.with_query(url);
    let extra: Vec<&(String, String)> = session
        .headers()
        .iter()
        .filter(|(k, _)| !browser_owned(k))
        .collect();
    let headers = (!extra.is_empty()).then(|| merged_headers(&event.request.headers, &extra));
    Override {
        url: (pinned != *url).then(|| pinned.to_string()),
        headers,
    }
}

/// The request's own headers with `extra` set over them (same name, any case: replaced).
fn merged_headers(own: &Headers, extra: &[&(String, String)]) -> Vec<HeaderEntry> {
    let mut out: Vec<HeaderEntry> = own
        .inner()
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)))
        .filter_map(|(k, v)| v.as_str().map(|v| HeaderEntry::new(k.clone(), v)))
        .collect();
    out.extend(
        extra
            .iter()
            .map(|(k, v)| HeaderEntry::new(k.clone(), v.clone())),
    );
    out
}

/// Sets up interception on a new tab: document requests checked against the render's guard
/// (see the module documentation), image, media and font requests failed when `block`.
pub(crate) async fn intercept(page: &CdpPage, block: bool) -> Result<Arc<Hops>, CdpError> {
    let mut paused = page.event_listener::<EventRequestPaused>().await?;
    let pattern = |kind: ResourceType| RequestPattern {
        url_pattern: Some("*".into()),
        resource_type: Some(kind),
        request_stage: Some(RequestStage::Request),
    };
    let mut patterns = vec![pattern(ResourceType::Document)];
    if block {
        patterns.extend(BLOCKED.into_iter().map(pattern));
    }
    page.execute(EnableParams {
        patterns: Some(patterns),
        handle_auth_requests: None,
    })
    .await?;
    let hops = Arc::new(Hops::default());
    let tab = hops.clone();
    let page = page.clone();
    // Ends when the tab closes or the browser goes away (the listener is dropped). Each
    // paused request is answered on its own task: a check that waits (DNS, robots.txt) holds
    // up nothing else.
    tokio::spawn(async move {
        while let Some(event) = paused.next().await {
            let page = page.clone();
            let hops = tab.clone();
            tokio::spawn(async move {
                let verdict = if event.resource_type == ResourceType::Document {
                    hops.allow(&event).await
                } else {
                    Verdict::Refuse
                };
                let id = event.request_id.clone();
                let _ = match verdict {
                    Verdict::Go(change) => {
                        let mut go = ContinueRequestParams::new(id);
                        go.url = change.url;
                        go.headers = change.headers;
                        page.execute(go).await.map(drop)
                    }
                    Verdict::Refuse => page
                        .execute(FailRequestParams::new(id, ErrorReason::BlockedByClient))
                        .await
                        .map(drop),
                };
            });
        }
    });
    Ok(hops)
}
