//! A Chromium tab behind haul-core's `Page` trait: navigate, wait, read the DOM, evaluate.

use std::sync::Arc;
use std::time::Duration;

use chromiumoxide::Page as CdpPage;
use chromiumoxide::error::CdpError;
use haul_core::{Document, NavOptions, Page, PageError, Url, async_trait};

use crate::instance::Instance;

/// How often a `wait_for` selector is checked.
const SELECTOR_POLL: Duration = Duration::from_millis(25);
/// How long to wait for the navigation response (HTTP status) after `load`.
const RESPONSE_WAIT: Duration = Duration::from_secs(2);

/// A tab of one browser instance.
pub(crate) struct ChromePage {
    pub(crate) page: CdpPage,
    pub(crate) inst: Arc<Instance>,
    page_timeout: Duration,
    /// Set while an operation runs, cleared when it completes well: a cancelled or failed
    /// operation leaves the tab in an unknown state, so it must not be reused.
    poisoned: bool,
}

impl ChromePage {
    pub(crate) fn new(page: CdpPage, inst: Arc<Instance>, page_timeout: Duration) -> Self {
        Self {
            page,
            inst,
            page_timeout,
            poisoned: false,
        }
    }
}

/// Why one step of a render failed.
enum Step {
    Navigation(String),
    Cdp(&'static str, CdpError),
    Selector(String),
}

impl ChromePage {
    async fn load(&self, url: &Url, opts: &NavOptions) -> Result<Document, Step> {
        match self.page.goto(url.as_str()).await {
            Ok(_) => {}
            // Chromium's own navigation error text, such as `net::ERR_CONNECTION_REFUSED`.
            Err(CdpError::ChromeMessage(message)) => return Err(Step::Navigation(message)),
            Err(e) => return Err(Step::Cdp("navigating", e)),
        }
        let response =
            tokio::time::timeout(RESPONSE_WAIT, self.page.wait_for_navigation_response()).await;
        let response = match response {
            Ok(Ok(request)) => request.and_then(|r| r.response.clone()),
            Ok(Err(e)) => return Err(Step::Cdp("reading the response", e)),
            Err(_) => None,
        };
        if let Some(selector) = &opts.wait_for {
            self.wait_for(selector).await?;
        }
        let body = self
            .page
            .content()
            .await
            .map_err(|e| Step::Cdp("reading the DOM", e))?;
        let final_url = match self.page.url().await {
            Ok(Some(u)) => Url::parse(&u).unwrap_or_else(|_| url.clone()),
            Ok(None) => url.clone(),
            Err(e) => return Err(Step::Cdp("reading the URL", e)),
        };
        let mut doc = Document::new(final_url, body);
        doc.requested = url.clone();
        doc.rendered = true;
        if let Some(r) = response {
            doc.status = u16::try_from(r.status).unwrap_or(200);
            if !r.mime_type.is_empty() {
                doc.content_type = Some(r.mime_type);
            }
        }
        Ok(doc)
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

#[async_trait]
impl Page for ChromePage {
    async fn render(&mut self, url: &Url, opts: &NavOptions) -> Result<Document, PageError> {
        let u = url.as_str();
        if self.inst.is_gone() {
            return Err(PageError::Crashed { url: u.into() });
        }
        self.poisoned = true;
        match tokio::time::timeout(opts.timeout, self.load(url, opts)).await {
            Ok(Ok(doc)) => {
                self.poisoned = false;
                Ok(doc)
            }
            Ok(Err(Step::Navigation(message))) => {
                // The tab shows Chromium's error page and is fine to reuse.
                self.poisoned = false;
                if self.inst.is_gone() {
                    return Err(PageError::Crashed { url: u.into() });
                }
                Err(PageError::Navigation {
                    url: u.into(),
                    message,
                })
            }
            Ok(Err(Step::Selector(message))) => Err(PageError::Browser(format!("{u}: {message}"))),
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
