//! A Chromium tab behind haul-core's `Page` trait: navigate, wait, read the DOM, evaluate.

use std::sync::Arc;
use std::time::Duration;

use chromiumoxide::Page as CdpPage;
use chromiumoxide::cdp::browser_protocol::network::{
    EventLoadingFailed, EventLoadingFinished, EventRequestWillBeSent, EventResponseReceived,
    RequestId, ResourceType, SetUserAgentOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::page::FrameId;
use chromiumoxide::error::CdpError;
use futures::{FutureExt, StreamExt};
use haul_core::{Document, NavOptions, Page, PageError, Url, async_trait};
use std::collections::HashMap;
use tokio::time::Instant;

use crate::hops::{Hops, Watching};
use crate::instance::Instance;

/// How often a `wait_for` selector is checked.
const SELECTOR_POLL: Duration = Duration::from_millis(25);
/// How often the content check runs while a page settles.
const SETTLE_POLL: Duration = Duration::from_millis(40);
/// Network and DOM silence after which a page without recognisable content counts as done
/// (Puppeteer's `networkidle0` uses 500 ms).
const QUIET: Duration = Duration::from_millis(400);
/// How long an empty application root (`#app`, `#root`, ...) is given to fill, even when the
/// network and the DOM are quiet (content written by timers).
const SHELL_GRACE: Duration = Duration::from_secs(2);
/// The longest a page waits for content after `load`.
const SETTLE_MAX: Duration = Duration::from_secs(10);

/// The size in bytes of the DOM's HTML as UTF-8 (what [`ChromePage::load`] would read).
const SIZE_SCRIPT: &str =
    "new Blob([document.documentElement ? document.documentElement.outerHTML : '']).size";
/// A request in flight for longer than this (long polling, streaming) no longer keeps the
/// network from counting as idle.
const STALE_REQUEST: Duration = Duration::from_secs(2);

/// What [`READY_SCRIPT`] reports about the page.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Readiness {
    /// An application root is present and still empty.
    shell: bool,
    /// A price (structured data, microdata, a price element with digits) or a list of links
    /// outside the header, navigation and footer.
    content: bool,
    /// Milliseconds since the DOM last changed (see [`MUTATION_SCRIPT`]).
    dom_quiet_ms: f64,
}

/// Installed in every document of a tab: remembers when the DOM last changed.
pub(crate) const MUTATION_SCRIPT: &str = r#"(() => { try {
  window.__haulMutated = performance.now();
  new MutationObserver(() => { window.__haulMutated = performance.now(); })
    .observe(document, { childList: true, subtree: true, characterData: true });
} catch (e) {} })();"#;

/// Whether the page's content is there. Evidence from real shops: an application root that
/// only holds a `<noscript>` notice is an unbuilt page; a product page has a price in
/// JSON-LD, microdata, shop meta tags or a price element; a listing has many links outside
/// its header, navigation and footer.
const READY_SCRIPT: &str = r#"(() => {
  const d = document;
  const roots = d.querySelectorAll('#app, #root, #__next, #__nuxt, #___gatsby, #svelte, [data-reactroot], [ng-app], [data-v-app], app-root');
  let shell = !d.body;
  for (const r of roots) {
    const kids = [...r.children].filter(e => !['NOSCRIPT', 'SCRIPT', 'STYLE', 'TEMPLATE', 'LINK'].includes(e.tagName));
    const own = [...r.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    if (kids.length === 0 && own.length === 0) { shell = true; }
  }
  const ld = [...d.querySelectorAll('script[type="application/ld+json"]')]
    .some(s => /"(price|lowPrice|highPrice)"\s*:/.test(s.textContent));
  const micro = !!d.querySelector('[itemprop="price"], [itemprop="lowPrice"], meta[property="product:price:amount"], meta[property="og:price:amount"]');
  const shown = [...d.querySelectorAll('[class*="price" i], [id*="price" i], [data-price]')]
    .slice(0, 50).some(e => /\d/.test(e.textContent));
  const links = d.body ? [...d.body.querySelectorAll('a[href]')]
    .filter(a => !a.closest('header, nav, footer, noscript')).length : 0;
  const last = window.__haulMutated;
  return {
    shell,
    content: ld || micro || shown || links >= 8,
    domQuietMs: typeof last === 'number' ? performance.now() - last : 1e9,
  };
})()"#;

/// A tab of one browser instance.
pub(crate) struct ChromePage {
    pub(crate) page: CdpPage,
    /// The tab's request interception: a render's guard checks its document requests.
    hops: Arc<Hops>,
    pub(crate) inst: Arc<Instance>,
    page_timeout: Duration,
    /// Set while an operation runs, cleared when it completes well: a cancelled or failed
    /// operation leaves the tab in an unknown state, so it must not be reused.
    poisoned: bool,
    /// The `Accept-Language` the tab sends, when a site's session set one (`None`: the
    /// browser's own).
    accept_language: Option<String>,
}

impl ChromePage {
    pub(crate) fn new(
        page: CdpPage,
        hops: Arc<Hops>,
        inst: Arc<Instance>,
        page_timeout: Duration,
    ) -> Self {
        Self {
            page,
            hops,
            inst,
            page_timeout,
            poisoned: false,
            accept_language: None,
        }
    }
}

impl ChromePage {
    /// Makes the tab send `language` as `Accept-Language` (`None`: the browser's own), for
    /// this render and the following ones until another site's render changes it
    /// (`Network.setUserAgentOverride`, with the browser's own User-Agent).
    async fn set_language(&mut self, url: &str, language: Option<&str>) -> Result<(), PageError> {
        let what = "setting the site's Accept-Language";
        let mut params = SetUserAgentOverrideParams::new(self.inst.settings.cfg.user_agent.clone());
        // Chromium takes a list of languages and adds the q-values itself.
        params.accept_language = language.map(|l| {
            let tags: Vec<&str> = l
                .split(',')
                .filter_map(|t| t.split(';').next().map(str::trim))
                .filter(|t| !t.is_empty())
                .collect();
            tags.join(",")
        });
        match tokio::time::timeout(self.page_timeout, self.page.execute(params)).await {
            Ok(Ok(_)) => {
                self.accept_language = language.map(str::to_string);
                Ok(())
            }
            Ok(Err(e)) => Err(self.inst.page_error(url, what, Some(e))),
            Err(_) => Err(self.inst.page_error(url, what, None)),
        }
    }
}

/// Why one step of a render failed.
enum Step {
    Navigation(String),
    /// The rendered document is larger than the limit (bytes measured, limit).
    TooLarge(u64),
    Cdp(&'static str, CdpError),
    Selector(String),
}

impl ChromePage {
    async fn load(
        &self,
        url: &Url,
        opts: &NavOptions,
        hops: &Watching<'_>,
    ) -> Result<Document, Step> {
        // Listen before navigating: the main document's response and the tab's network
        // activity arrive while `goto` runs.
        let mut network = NetworkWatch::new(&self.page)
            .await
            .map_err(|e| Step::Cdp("listening for network events", e))?;
        hops.main_frame(network.main_frame.clone());
        if let Some(session) = &opts.session {
            crate::cookies::set_for(&self.page, session, url)
                .await
                .map_err(|e| Step::Cdp("setting the site's cookies", e))?;
        }
        let started = Instant::now();
        match network.during(self.page.goto(url.as_str())).await {
            Ok(_) => {}
            // Chromium's own navigation error text, such as `net::ERR_CONNECTION_REFUSED`.
            Err(CdpError::ChromeMessage(message)) => return Err(Step::Navigation(message)),
            Err(e) => return Err(Step::Cdp("navigating", e)),
        }
        // The handler delivers a navigation's events in order, before `load` completes it.
        network.drain();
        if let Some(selector) = &opts.wait_for {
            self.wait_for(selector).await?;
        } else if opts.settle {
            // Leave a fifth of the budget (at least a second) for reading the DOM.
            let budget = opts.timeout.saturating_sub(started.elapsed());
            let reserve = (budget / 5).max(Duration::from_secs(1));
            let limit = budget.saturating_sub(reserve).min(SETTLE_MAX);
            self.settle(&mut network, limit).await?;
        }
        self.check_size(opts.max_bytes).await?;
        let body = self
            .page
            .content()
            .await
            .map_err(|e| Step::Cdp("reading the DOM", e))?;
        let page_url = match self.page.url().await {
            Ok(u) => u.and_then(|u| Url::parse(&u).ok()),
            Err(e) => return Err(Step::Cdp("reading the URL", e)),
        };
        network.drain();
        if let Some(session) = &opts.session {
            let at = page_url.as_ref().unwrap_or(url);
            crate::cookies::read_back(&self.page, session, at)
                .await
                .map_err(|e| Step::Cdp("reading the site's cookies", e))?;
        }
        Ok(document(url, page_url, body, network.main.as_deref()))
    }

    /// Fails when the DOM's HTML is larger than `limit` bytes (UTF-8), measured in the tab so
    /// that an oversized page is never transferred.
    async fn check_size(&self, limit: u64) -> Result<(), Step> {
        let size = self
            .page
            .evaluate(SIZE_SCRIPT)
            .await
            .map_err(|e| Step::Cdp("measuring the DOM", e))?
            .value()
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0);
        if size > limit as f64 {
            return Err(Step::TooLarge(limit));
        }
        Ok(())
    }

    /// Waits until the page's content is there (see [`READY_SCRIPT`]) or, failing that, until
    /// the network and the DOM have been quiet for [`QUIET`], at most `limit`.
    async fn settle(&self, network: &mut NetworkWatch, limit: Duration) -> Result<(), Step> {
        let started = Instant::now();
        loop {
            let state = match self.page.evaluate(READY_SCRIPT).await {
                Ok(v) => v
                    .value()
                    .and_then(|v| serde_json::from_value::<Readiness>(v.clone()).ok())
                    .unwrap_or_default(),
                Err(
                    e @ (CdpError::Ws(_)
                    | CdpError::Io(_)
                    | CdpError::ChannelSendError(_)
                    | CdpError::Timeout),
                ) => return Err(Step::Cdp("waiting for the content", e)),
                // A script navigation replaced the document mid-check: look again.
                Err(_) => Readiness::default(),
            };
            let waited = started.elapsed();
            let quiet = network.quiet_for() >= QUIET
                && Duration::from_secs_f64(state.dom_quiet_ms.max(0.0) / 1000.0) >= QUIET;
            let done = if state.shell {
                // An empty application root: its script has not built the page yet. Give it
                // time even when nothing seems to happen (timers), then give up.
                quiet && waited >= SHELL_GRACE
            } else {
                state.content || quiet
            };
            if done || waited >= limit {
                tracing::trace!(?state, ?waited, quiet, "page settled");
                return Ok(());
            }
            // Record network events while waiting for the next check.
            network.during(tokio::time::sleep(SETTLE_POLL)).await;
        }
    }

    /// Polls until `selector` matches (the caller bounds the time).
    async fn wait_for(&self, selector: &str) -> Result<(), Step> {
        let quoted = serde_json::to_string(selector).unwrap_or_default();
        let script = format!("document.querySelector({quoted}) !== null");
        loop {
            match self.page.evaluate(script.as_str()).await {
                Ok(found) if found.value() == Some(&serde_json::Value::Bool(true)) => return Ok(()),
                Ok(_) => {}
                Err(CdpError::JavascriptException(e)) => {
                    return Err(Step::Selector(format!(
                        "wait_for selector {selector:?} is not valid CSS: {}",
                        e.text
                    )));
                }
                Err(
                    e @ (CdpError::Ws(_)
                    | CdpError::Io(_)
                    | CdpError::ChannelSendError(_)
                    | CdpError::Timeout),
                ) => return Err(Step::Cdp("waiting for the selector", e)),
                // A script navigation replaced the document mid-check: look again.
                Err(_) => {}
            }
            tokio::time::sleep(SELECTOR_POLL).await;
        }
    }
}

/// The rendered page as a [`Document`]: status, headers, content type and final URL from the
/// main frame's navigation response (after redirects), never from a sub-resource.
fn document(
    requested: &Url,
    page_url: Option<Url>,
    body: String,
    main: Option<&EventResponseReceived>,
) -> Document {
    let response = main.map(|e| &e.response);
    let final_url = response
        .and_then(|r| Url::parse(&r.url).ok())
        .or(page_url)
        .unwrap_or_else(|| requested.clone());
    let mut doc = Document::new(final_url, body);
    doc.requested = requested.clone();
    doc.rendered = true;
    if let Some(r) = response {
        doc.status = u16::try_from(r.status).unwrap_or(200);
        if let Some(headers) = r.headers.inner().as_object() {
            for (name, value) in headers {
                // CDP joins repeated headers with newlines.
                let value = value.as_str().unwrap_or_default().replace('\n', ", ");
                doc.headers.insert(name.to_ascii_lowercase(), value);
            }
        }
        doc.content_type = doc
            .headers
            .get("content-type")
            .cloned()
            .or_else(|| (!r.mime_type.is_empty()).then(|| r.mime_type.clone()));
    }
    doc
}

/// One network event of the tab.
enum NetEvent {
    Sent(RequestId),
    Done(RequestId),
    Response(Arc<EventResponseReceived>),
}

/// The tab's network events during one render: the main document's response, and the
/// requests in flight, to tell when the network is idle.
struct NetworkWatch {
    events: futures::stream::BoxStream<'static, NetEvent>,
    main_frame: Option<FrameId>,
    /// The last main-frame document response (the page's own, after redirects).
    main: Option<Arc<EventResponseReceived>>,
    in_flight: HashMap<RequestId, Instant>,
    last_activity: Instant,
}

impl NetworkWatch {
    /// Starts listening; call before navigating.
    async fn new(page: &CdpPage) -> Result<Self, CdpError> {
        let sent = page.event_listener::<EventRequestWillBeSent>().await?;
        let finished = page.event_listener::<EventLoadingFinished>().await?;
        let failed = page.event_listener::<EventLoadingFailed>().await?;
        let responses = page.event_listener::<EventResponseReceived>().await?;
        let events = futures::stream::select_all([
            sent.map(|e| NetEvent::Sent(e.request_id.clone())).boxed(),
            finished
                .map(|e| NetEvent::Done(e.request_id.clone()))
                .boxed(),
            failed.map(|e| NetEvent::Done(e.request_id.clone())).boxed(),
            responses.map(NetEvent::Response).boxed(),
        ])
        .boxed();
        Ok(Self {
            events,
            main_frame: page.mainframe().await?,
            main: None,
            in_flight: HashMap::new(),
            last_activity: Instant::now(),
        })
    }

    fn apply(&mut self, event: NetEvent) {
        let now = Instant::now();
        self.last_activity = now;
        match event {
            NetEvent::Sent(id) => {
                self.in_flight.insert(id, now);
            }
            NetEvent::Done(id) => {
                self.in_flight.remove(&id);
            }
            NetEvent::Response(e) => {
                if e.r#type == ResourceType::Document
                    && (self.main_frame.is_none() || e.frame_id == self.main_frame)
                {
                    self.main = Some(e);
                }
            }
        }
    }

    /// Runs `fut` while recording the tab's network events.
    async fn during<F: std::future::Future>(&mut self, fut: F) -> F::Output {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return out,
                Some(event) = self.events.next() => self.apply(event),
            }
        }
    }

    /// Takes the events that arrived already.
    fn drain(&mut self) {
        while let Some(Some(event)) = self.events.next().now_or_never() {
            self.apply(event);
        }
    }

    /// How long the network has been idle: no request started or ended, and none in flight
    /// except long-running ones (zero while a request is under way).
    fn quiet_for(&self) -> Duration {
        let now = Instant::now();
        let busy = self
            .in_flight
            .values()
            .any(|since| now.duration_since(*since) < STALE_REQUEST);
        if busy {
            Duration::ZERO
        } else {
            now.duration_since(self.last_activity)
        }
    }
}

#[async_trait]
impl Page for ChromePage {
    async fn render(&mut self, url: &Url, opts: &NavOptions) -> Result<Document, PageError> {
        let u = url.as_str();
        if self.inst.is_gone() {
            return Err(PageError::Crashed { url: u.into() });
        }
        self.poisoned = true;
        let language = opts.session.as_ref().and_then(|s| s.accept_language());
        if language != self.accept_language.as_deref() {
            self.set_language(u, language).await?;
        }
        // Every document request of the navigation is checked with the render's guard until
        // `hops` drops (at the end of this render, also when it is cancelled).
        let hops = self.hops.clone();
        let hops = hops.watch(opts.guard.clone(), opts.session.clone(), url);
        let loaded = tokio::time::timeout(opts.timeout, self.load(url, opts, &hops)).await;
        if let Some(refused) = hops.take_refused() {
            // Chromium never sent the refused request: the tab shows its error page, or the
            // page the script tried to leave, and is fine to reuse unless the render failed
            // some other way.
            if matches!(loaded, Ok(Ok(_) | Err(Step::Navigation(_)))) {
                self.poisoned = false;
            }
            return Err(PageError::Refused(refused));
        }
        match loaded {
            Ok(Ok(doc)) => {
                self.poisoned = false;
                Ok(doc)
            }
            Ok(Err(Step::Navigation(mut message))) => {
                // The tab shows Chromium's error page and is fine to reuse.
                self.poisoned = false;
                // Every failure through the network gate reads the same in Chromium: say why.
                if message.contains("ERR_SOCKS_CONNECTION_FAILED")
                    && let Some(why) = self.inst.settings.gate_failure(u)
                {
                    message = format!("{message} ({why})");
                }
                if self.inst.is_gone() {
                    return Err(PageError::Crashed { url: u.into() });
                }
                Err(PageError::Navigation {
                    url: u.into(),
                    message,
                })
            }
            Ok(Err(Step::Selector(message))) => Err(PageError::Browser(format!("{u}: {message}"))),
            Ok(Err(Step::TooLarge(limit))) => Err(PageError::TooLarge {
                url: u.into(),
                limit,
            }),
            Ok(Err(Step::Cdp(what, e))) => match self.inst.page_error(u, what, Some(e)) {
                PageError::Timeout { .. } => Err(PageError::Timeout {
                    url: u.into(),
                    secs: opts.timeout.as_secs(),
                }),
                other => Err(other),
            },
            Err(_) if self.inst.is_gone() => Err(PageError::Crashed { url: u.into() }),
            Err(_) => Err(PageError::Timeout {
                url: u.into(),
                secs: opts.timeout.as_secs(),
            }),
        }
    }

    async fn evaluate(&mut self, script: &str) -> Result<serde_json::Value, PageError> {
        let what = "evaluating a script";
        if self.inst.is_gone() {
            return Err(PageError::Crashed { url: what.into() });
        }
        self.poisoned = true;
        match tokio::time::timeout(self.page_timeout, self.page.evaluate(script)).await {
            Ok(Ok(result)) => {
                self.poisoned = false;
                Ok(result.value().cloned().unwrap_or(serde_json::Value::Null))
            }
            Ok(Err(CdpError::JavascriptException(e))) => {
                self.poisoned = false;
                Err(PageError::Browser(format!("script threw: {}", e.text)))
            }
            Ok(Err(e)) => Err(self.inst.page_error(what, what, Some(e))),
            Err(_) => Err(self.inst.page_error(what, what, None)),
        }
    }

    fn reusable(&self) -> bool {
        !self.poisoned && !self.inst.is_gone()
    }
}
