//! The `Extractor` trait that every site implements, and the `Context` it is given.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use crate::{
    Choice, Document, ExtractError, FetchError, FetchRequest, Fetcher, Later, LlmPool, NavGuard,
    NavOptions, PageClass, PageError, PageHandle, PagePool, Record, Session, SiteSession,
    UnknownChoice,
};

/// Whether an extractor needs a page rendered by a browser (scripts run) to find its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenderNeed {
    /// Plain HTTP is always enough.
    Never,
    /// Always render (the data is written by scripts).
    Always,
    /// Try HTTP first; render when the HTTP page yields no records and looks script-built.
    Auto,
}

/// Which extraction path sites should take (`--extract`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ExtractMode {
    /// The site's own extraction; the LLM only as a fallback when it finds nothing.
    #[default]
    Auto,
    /// The site's own extraction only; never the LLM.
    Structured,
    /// Force the LLM path where a site supports it (for evaluation).
    Llm,
}

impl Choice for ExtractMode {
    const VALUES: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Auto, "auto", "Site extraction, LLM as fallback"),
        (Self::Structured, "structured", "Never the LLM"),
        (Self::Llm, "llm", "Force the LLM"),
    ];
}

impl fmt::Display for ExtractMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl std::str::FromStr for ExtractMode {
    type Err = UnknownChoice;

    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        Self::from_label(s)
    }
}

/// Something worth telling the user about an extraction that still produced a result, such as
/// "price not found on https://...".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Warning(pub String);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one page gave: records, links to follow at the next level, and warnings.
///
/// A partial extraction (some fields or records missing) is an `Extraction` with warnings, not
/// an [`ExtractError`].
#[derive(Debug, Clone, Default)]
pub struct Extraction {
    /// Records found on the page.
    pub records: Vec<Record>,
    /// Absolute links to crawl at the next level (the runner filters scope and duplicates).
    pub links: Vec<Url>,
    /// Problems that did not stop the extraction.
    pub warnings: Vec<Warning>,
}

impl Extraction {
    /// Adds a warning.
    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(Warning(message.into()));
    }
}

/// A site plugin: which URLs it handles and how it turns pages into records.
///
/// Required: [`name`](Extractor::name) and [`parse`](Extractor::parse). Everything else is a
/// hook with a sensible default.
///
/// Implementations are registered once per process with [`register_site!`](crate::register_site)
/// and must therefore be `'static` values (usually a unit struct).
#[async_trait]
pub trait Extractor: Send + Sync + 'static {
    /// The site's unique registered name: lower-case, `[a-z0-9-]`, such as `"demo"`. It is what
    /// users type after `haul crawl`.
    fn name(&self) -> &'static str;

    /// One line for `haul sites`.
    fn description(&self) -> &'static str {
        ""
    }

    /// Host names this site owns (subdomains included), such as `["slickdeals.net"]`. Used by
    /// the default [`handles`](Extractor::handles) and [`start_urls`](Extractor::start_urls).
    fn domains(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether this extractor claims `url` when a crawl or `haul parse` picks a site by URL.
    /// Default: the URL's host is one of [`domains`](Extractor::domains) or a subdomain.
    fn handles(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        self.domains()
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
    }

    /// Where a crawl of this site starts (level 0) when the user gives no `--start-url`.
    /// Default: `https://<domain>/` for each domain.
    fn start_urls(&self) -> Vec<Url> {
        self.domains()
            .iter()
            .filter_map(|d| Url::parse(&format!("https://{d}/")).ok())
            .collect()
    }

    /// What `url` is: its page kind, whether it needs a browser, what a rendered page waits
    /// for and what a good page of its kind yields. A site that declares page kinds returns
    /// `PageClass::of(kind)` of its [`PageKind`](crate::PageKind) enum. Default:
    /// [`PageClass::DEFAULT`] (kind `"page"`, [`RenderNeed::Auto`], no contract).
    ///
    /// Contract: cheap and pure (the runner calls it for every URL); every class it returns is
    /// among [`kinds`](Extractor::kinds). `parse` of a healthy page keeps its class's
    /// contract; the runner counts breaches per page kind and warns, and never drops records
    /// because of one.
    fn classify(&self, _url: &Url) -> PageClass {
        PageClass::DEFAULT
    }

    /// The site's own signs of a bot wall, checked before the common ones
    /// ([`crate::block::MARKERS`]) on every page of the site, fetched or rendered, before it
    /// is extracted: a page they match is a `blocked` failure, never extracted. Default: none.
    fn block_markers(&self) -> &'static [crate::BlockMarker] {
        &[]
    }

    /// Every page kind [`classify`](Extractor::classify) can return, for tools that check the
    /// contracts on recorded pages (`cargo xtask check`): `PageClass::all::<Kind>()`.
    /// Default: none (the site declares no kinds and no contract).
    fn kinds(&self) -> Vec<PageClass> {
        Vec::new()
    }

    /// The site's default session settings: headers, cookies, a locale or currency pin and
    /// how the platform takes that pin ([`CurrencyPin`](crate::CurrencyPin): Shopify's
    /// `cart_currency` cookie, a WooCommerce query parameter). `[sites.NAME]` in `haul.toml`
    /// is laid over it ([`SiteSession::overlay`]). Default: nothing.
    fn session(&self) -> SiteSession {
        SiteSession::default()
    }

    /// Whether a crawl of this site also starts from its sitemaps (robots.txt `Sitemap:`
    /// lines, else `/sitemap.xml`): every page they list within the site's scope becomes a
    /// start URL (level 0). For shops whose products are not all reachable by links.
    /// `--sitemap` and `sitemap` in `[sites.NAME]` override it. Default: no.
    fn sitemap(&self) -> bool {
        false
    }

    /// Extracts records and links from one document. Synchronous and CPU-bound: the runner
    /// calls it on a blocking thread (through [`Context::parse`]), never on the async runtime.
    ///
    /// Contract: must not panic on any input (return [`ExtractError::Unparseable`] naming the
    /// URL instead); must not do I/O; records carry `site == self.name()`; links are absolute.
    fn parse(&self, doc: &Document) -> Result<Extraction, ExtractError>;

    /// The full extraction of one page, given the context. Override it to fetch extra
    /// resources, drive the browser page, or fall back to the LLM; the default parses `doc` with
    /// [`parse`](Extractor::parse) on a blocking thread.
    ///
    /// Contract: may be cancelled at any `.await` (timeouts, shutdown), so it must not leave
    /// shared state half-updated; resources it borrows (pages) are released on drop.
    async fn extract(&self, cx: &Context, doc: Document) -> Result<Extraction, ExtractError> {
        cx.parse(doc).await
    }
}

/// Further pages one extraction reads within its own page (such as a listing's next pages),
/// as a pure plan: it names the next page to read and takes what reading it gave;
/// [`Context::read_pages`] does the fetching and parsing.
pub trait PagePlan: Send {
    /// The next page to read, or `None` when the plan is done.
    fn next_page(&mut self) -> Option<Url>;

    /// What reading the page from [`next_page`](Self::next_page) gave: its final URL (after
    /// redirects) and its extraction, or why it failed.
    fn take(&mut self, page: Result<(Url, Extraction), ExtractError>);
}

/// What an extractor is given besides the page: the site's identity and the shared services.
///
/// Cheap to clone. Built by the runner (and by tests through [`Context::new`]).
#[derive(Clone)]
pub struct Context {
    extractor: &'static dyn Extractor,
    level: u32,
    max_level: u32,
    fetcher: Arc<dyn Fetcher>,
    pages: Option<Arc<dyn PagePool>>,
    llm: Option<Arc<dyn LlmPool>>,
    page_timeout: Duration,
    max_page_bytes: u64,
    mode: ExtractMode,
    min_confidence: Option<f64>,
    later: Option<Later>,
    session: Option<Arc<Session>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("site", &self.extractor.name())
            .field("level", &self.level)
            .field("pages", &self.pages.is_some())
            .field("llm", &self.llm.is_some())
            .finish()
    }
}

impl Context {
    /// A context for `extractor` with an HTTP fetcher, no page pool and no LLM.
    pub fn new(extractor: &'static dyn Extractor, fetcher: Arc<dyn Fetcher>) -> Self {
        Self {
            extractor,
            level: 0,
            max_level: u32::MAX,
            fetcher,
            pages: None,
            llm: None,
            page_timeout: Duration::from_secs(30),
            max_page_bytes: crate::DEFAULT_MAX_PAGE_BYTES,
            mode: ExtractMode::Auto,
            min_confidence: None,
            later: None,
            session: None,
        }
    }

    /// Gives the site's [`Session`]: rendered pages share its cookies (the fetcher it was
    /// built with carries it for fetches).
    pub fn with_session(mut self, session: Option<Arc<Session>>) -> Self {
        self.session = session;
        self
    }

    /// The site's session in this crawl, if any.
    pub fn session(&self) -> Option<&Arc<Session>> {
        self.session.as_ref()
    }

    /// Lets [`later`](Self::later) keep slow work in `later` instead of awaiting it: the
    /// runner then hands the page's links on at once and adds the work's records when it is
    /// done.
    pub fn with_later(mut self, later: Later) -> Self {
        self.later = Some(later);
        self
    }

    /// Completes `ex` with the records of slow `work` (an LLM call). Within a crawl the
    /// runner does not wait for it: `ex` (with its links) is returned at once, the next
    /// level's pages are fetched meanwhile, and the page counts as done, its records written,
    /// once `work` is. Elsewhere (`haul parse`, a context built by hand) `work` is awaited
    /// here and its records and warnings added to `ex`. Links that `work` returns are
    /// dropped: links must come from the page itself.
    pub async fn later(
        &self,
        mut ex: Extraction,
        work: impl Future<Output = Extraction> + Send + 'static,
    ) -> Extraction {
        match &self.later {
            Some(later) => later.push(Box::pin(work)),
            None => ex.absorb(work.await),
        }
        ex
    }

    /// Whether work handed to [`later`](Self::later) is still waiting for the runner (its
    /// records may yet come).
    pub fn later_pending(&self) -> bool {
        self.later.as_ref().is_some_and(|l| !l.is_empty())
    }

    /// Sets the extraction mode.
    pub fn with_extract_mode(mut self, mode: ExtractMode) -> Self {
        self.mode = mode;
        self
    }

    /// The extraction mode asked for (`--extract`).
    pub fn extract_mode(&self) -> ExtractMode {
        self.mode
    }

    /// Sets the confidence below which a record gets no price (`--min-confidence`).
    pub fn with_min_confidence(mut self, min: Option<f64>) -> Self {
        self.min_confidence = min;
        self
    }

    /// The confidence below which an extractor that scores its records gives no price
    /// instead of a doubtful one (`--min-confidence`, 0..1); `None`: the extractor's own
    /// default. With [`ExtractMode::Auto`] and an LLM pool, such a page may go to the LLM.
    pub fn min_confidence(&self) -> Option<f64> {
        self.min_confidence
    }

    /// Sets the page pool that [`page`](Self::page) and [`render`](Self::render) borrow from.
    pub fn with_pages(mut self, pages: Option<Arc<dyn PagePool>>) -> Self {
        self.pages = pages;
        self
    }

    /// Sets the LLM pool.
    pub fn with_llm(mut self, llm: Option<Arc<dyn LlmPool>>) -> Self {
        self.llm = llm;
        self
    }

    /// Sets the crawl level of the page being extracted.
    pub fn with_level(mut self, level: u32) -> Self {
        self.level = level;
        self
    }

    /// Sets the deepest level the crawl follows (links found on a page at this level are not
    /// crawled).
    pub fn with_max_level(mut self, max_level: u32) -> Self {
        self.max_level = max_level;
        self
    }

    /// The deepest level the crawl follows (`u32::MAX` when unbounded, as in tests that
    /// build a context by hand). An extractor can tell from `level() < max_level()` whether
    /// the links it returns will be crawled.
    pub fn max_level(&self) -> u32 {
        self.max_level
    }

    /// Whether links returned from the current page will be crawled.
    pub fn follows_links(&self) -> bool {
        self.level < self.max_level
    }

    /// Sets the largest rendered page [`render`](Self::render) reads (`--max-page-bytes`).
    pub fn with_max_page_bytes(mut self, bytes: u64) -> Self {
        self.max_page_bytes = bytes;
        self
    }

    /// Sets the per-page timeout used by [`render`](Self::render).
    pub fn with_page_timeout(mut self, timeout: Duration) -> Self {
        self.page_timeout = timeout;
        self
    }

    /// The upper bound for one page of the crawl (`--page-timeout`): an extractor that makes
    /// extra requests for a page (such as walking a listing's pages) must finish well within
    /// it, or the runner abandons the page and everything it found.
    pub fn page_timeout(&self) -> Duration {
        self.page_timeout
    }

    /// The extractor this context belongs to.
    pub fn extractor(&self) -> &'static dyn Extractor {
        self.extractor
    }

    /// The registered name of the site.
    pub fn site(&self) -> &'static str {
        self.extractor.name()
    }

    /// Crawl level of the current page (0 = start URL).
    pub fn level(&self) -> u32 {
        self.level
    }

    /// Fetches `url` through the crawl's polite HTTP client.
    pub async fn fetch(&self, url: Url) -> Result<Document, FetchError> {
        self.fetcher.fetch(FetchRequest::get(url)).await
    }

    /// Reads the pages `plan` asks for, one after the other, until it is done: each is
    /// fetched with [`fetch`](Self::fetch) (the crawl's polite fetcher) and parsed with
    /// [`parse`](Self::parse) (on a blocking thread).
    pub async fn read_pages(&self, plan: &mut dyn PagePlan) {
        while let Some(url) = plan.next_page() {
            let page = match self.fetch(url).await {
                Ok(doc) => {
                    let final_url = doc.url.clone();
                    self.parse(doc).await.map(|ex| (final_url, ex))
                }
                Err(e) => Err(e.into()),
            };
            plan.take(page);
        }
    }

    /// The crawl's fetcher, for requests with extra headers.
    pub fn fetcher(&self) -> &Arc<dyn Fetcher> {
        &self.fetcher
    }

    /// Whether a page pool is available.
    pub fn has_pages(&self) -> bool {
        self.pages.is_some()
    }

    /// Borrows a browser page; it goes back to the pool when the handle is dropped.
    /// `url` only names the page in the error when no pool is configured.
    pub async fn page(&self, url: &Url) -> Result<PageHandle, PageError> {
        match &self.pages {
            Some(pool) => pool.acquire().await,
            None => Err(PageError::NotConfigured {
                url: url.to_string(),
            }),
        }
    }

    /// Renders `url` in a borrowed page (waiting for the selector of its
    /// [`PageClass`], from [`Extractor::classify`]) and returns the DOM after scripts ran.
    /// The navigation is admitted by the fetcher first ([`Fetcher::admit`]): robots.txt and
    /// the per-domain limits hold for rendered pages as for fetched ones.
    pub async fn render(&self, url: &Url) -> Result<Document, ExtractError> {
        let opts = NavOptions {
            timeout: self.page_timeout,
            wait_for: self.extractor.classify(url).wait_for().map(str::to_string),
            settle: true,
            max_bytes: self.max_page_bytes,
            // Every hop of the navigation is held to the rules of a fetch's hops.
            guard: Some(NavGuard::new(self.fetcher.clone())),
            session: self.session.clone(),
        };
        // The navigation obeys robots.txt and the per-domain limits like a fetch: the
        // admission holds the domain's slot while the page renders.
        let _admission = self.fetcher.admit(url).await?;
        let mut page = self.page(url).await?;
        let limit = opts.timeout + Duration::from_secs(5);
        match tokio::time::timeout(limit, page.render(url, &opts)).await {
            // A refused hop fails as the same hop of a fetch would (kind, retries).
            Ok(Err(PageError::Refused(e))) => Err(e.into()),
            Ok(result) => Ok(result?),
            Err(_) => {
                page.mark_broken();
                Err(PageError::Timeout {
                    url: url.to_string(),
                    secs: limit.as_secs(),
                }
                .into())
            }
        }
    }

    /// The LLM pool, when one is configured.
    pub fn llm(&self) -> Option<&Arc<dyn LlmPool>> {
        self.llm.as_ref()
    }

    /// Runs the extractor's [`parse`](Extractor::parse) on a blocking thread, so CPU-heavy
    /// HTML parsing never stalls the async runtime. A panic in `parse` becomes
    /// [`ExtractError::Aborted`] naming the URL.
    pub async fn parse(&self, doc: Document) -> Result<Extraction, ExtractError> {
        let extractor = self.extractor;
        let url = doc.url.clone();
        self.blocking(&url, move || extractor.parse(&doc)).await?
    }

    /// Runs CPU-bound work for the page at `url` (parsing, converting HTML) on a blocking
    /// thread, never on the async runtime. A panic in `work` becomes
    /// [`ExtractError::Aborted`] naming `url`, as for [`parse`](Self::parse).
    ///
    /// The work is cancellable: when the returned future is dropped before the work is done
    /// (the page's timeout fired, the crawl stopped), [`cancel::cancelled`](crate::cancel::cancelled)
    /// turns true on the work's thread, and haul-extract's long loops (HTML parsing, links,
    /// DOM walks, JSON-LD) stop within milliseconds instead of burning the CPU for a result
    /// nobody waits for.
    pub async fn blocking<T: Send + 'static>(
        &self,
        url: &Url,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ExtractError> {
        let flag = crate::cancel::CancelFlag::new();
        let cancel_on_drop = flag.cancel_on_drop();
        let done = tokio::task::spawn_blocking(move || flag.run(work)).await;
        cancel_on_drop.disarm();
        done.map_err(|e| ExtractError::Aborted {
            url: url.to_string(),
            message: if e.is_panic() {
                "the extractor panicked".into()
            } else {
                "cancelled".into()
            },
        })
    }
}
