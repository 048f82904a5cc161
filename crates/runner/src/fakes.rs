//! Test fakes shared by the runner's in-crate tests: a tiny extractor, a scripted HTTP
//! fetcher that logs what it was asked and when, and a JSON Lines output in a temp folder.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use haul_core::{
    Document, ExtractError, Extraction, Extractor, FetchError, FetchRequest, Fetcher, Method,
    PageClass, PageKind, Record, RenderNeed, async_trait,
};
use haul_output::Output;
use url::Url;

/// [`Tiny`]'s page kinds: `/js/...` pages, `/always/...` pages (rendered always) and the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TinyKind {
    Page,
    Js,
    Always,
}

impl TinyKind {
    fn of(url: &Url) -> Self {
        match url.path() {
            p if p.starts_with("/js/") => Self::Js,
            p if p.starts_with("/always/") => Self::Always,
            _ => Self::Page,
        }
    }
}

impl PageKind for TinyKind {
    const ALL: &'static [Self] = &[Self::Page, Self::Js, Self::Always];
    fn name(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Js => "js",
            Self::Always => "always",
        }
    }
    fn render(self) -> RenderNeed {
        match self {
            Self::Always => RenderNeed::Always,
            Self::Page | Self::Js => RenderNeed::Auto,
        }
    }
}

/// Reads `<b class="price">TITLE</b>` elements as records and every `href="…"` as a link.
pub(crate) struct Tiny;

impl Extractor for Tiny {
    fn name(&self) -> &'static str {
        "tiny"
    }
    fn classify(&self, url: &Url) -> PageClass {
        PageClass::of(TinyKind::of(url))
    }
    fn parse(&self, doc: &Document) -> Result<Extraction, ExtractError> {
        let mut ex = Extraction::default();
        for part in doc.body.split("<b class=\"price\">").skip(1) {
            let title = part.split('<').next().unwrap_or_default();
            ex.records.push(Record::product(
                "tiny",
                doc.url.as_str(),
                title,
                Method::Css,
            ));
        }
        for part in doc.body.split("href=\"").skip(1) {
            if let Some(link) = part.split('"').next().and_then(|l| doc.url.join(l).ok()) {
                ex.links.push(link);
            }
        }
        Ok(ex)
    }
}

/// `path` on the fake shop `http://shop.test`.
pub(crate) fn url(path: &str) -> Url {
    Url::parse("http://shop.test").unwrap().join(path).unwrap()
}

/// One scripted answer of [`Scripted`].
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) delay: Duration,
    pub(crate) retry_after: Option<u64>,
}

impl Reply {
    /// A 200 page with `body`, answered at once.
    pub(crate) fn ok(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            body: body.into(),
            delay: Duration::ZERO,
            retry_after: None,
        }
    }

    /// An error `status`, answered at once.
    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::ok("")
        }
    }

    /// The same answer after `delay`.
    pub(crate) fn after(self, delay: Duration) -> Self {
        Self { delay, ..self }
    }
}

/// A page of `records` products linking to `links`.
pub(crate) fn page(records: &[&str], links: &[&str]) -> String {
    let mut html = String::from("<html><body>");
    for r in records {
        html.push_str(&format!(r#"<b class="price">{r}</b>"#));
    }
    for l in links {
        html.push_str(&format!(r#"<a href="{l}">x</a>"#));
    }
    html.push_str("</body></html>");
    html
}

/// An HTTP fetcher answering each path from its script (the n-th request of a path gets
/// the n-th reply, the last one repeating; unknown paths are 404) and logging every request
/// with the (tokio) time it arrived.
#[derive(Default)]
pub(crate) struct Scripted {
    script: HashMap<String, Vec<Reply>>,
    log: Mutex<Vec<(String, tokio::time::Instant)>>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl Scripted {
    /// A fetcher answering `path` with `replies`, in order.
    pub(crate) fn new<'a>(script: impl IntoIterator<Item = (&'a str, Vec<Reply>)>) -> Self {
        Self {
            script: script
                .into_iter()
                .map(|(p, r)| (p.to_string(), r))
                .collect(),
            ..Self::default()
        }
    }

    /// Paths requested, in order.
    pub(crate) fn paths(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// When each request of `path` arrived.
    pub(crate) fn times(&self, path: &str) -> Vec<tokio::time::Instant> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(p, _)| p == path)
            .map(|(_, t)| *t)
            .collect()
    }

    /// The most requests that were in flight at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Fetcher for Scripted {
    async fn fetch(&self, req: FetchRequest) -> Result<Document, FetchError> {
        let path = req.url.path().to_string();
        let n = {
            let mut log = self.log.lock().unwrap();
            let n = log.iter().filter(|(p, _)| *p == path).count();
            log.push((path.clone(), tokio::time::Instant::now()));
            n
        };
        let reply = self
            .script
            .get(&path)
            .and_then(|r| r.get(n).or(r.last()))
            .cloned()
            .unwrap_or_else(|| Reply::status(404));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(reply.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if reply.status != 200 {
            return Err(FetchError::Status {
                url: req.url.to_string(),
                status: reply.status,
                retry_after: reply.retry_after,
                body: Some(reply.body.to_string()),
            });
        }
        Ok(Document::new(req.url, reply.body))
    }
}

/// A JSON Lines output in a fresh temp folder (kept alive by the returned guard).
pub(crate) fn jsonl_output() -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = Output::create(&dir.path().join("out.jsonl")).unwrap();
    (out, dir)
}
