//! In-crate tests of `--render auto` through [`Crawler::crawl_page`] over a fake HTTP
//! fetcher and a fake page pool: which pages go to the browser, why, and what is remembered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use haul_core::{
    Document, FetchError, FetchRequest, Fetcher, NavOptions, Page, PageError, PageHandle, PagePool,
    async_trait,
};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::fakes::{Tiny, url};
use crate::render::RenderReason;
use crate::{CrawlOptions, Crawler, RenderMode, Services, SiteJob};

const BUNDLE: &str = r#"<script src="/static/app.js"></script>"#;

/// Serves `pages` (path -> (status, HTTP body, rendered body)) to both fakes and counts.
#[derive(Default)]
struct Shop {
    pages: HashMap<String, (u16, String, String)>,
    fetched: Mutex<Vec<String>>,
    rendered: Mutex<Vec<String>>,
}

struct Http(Arc<Shop>);

#[async_trait]
impl Fetcher for Http {
    async fn fetch(&self, req: FetchRequest) -> Result<Document, FetchError> {
        let path = req.url.path().to_string();
        self.0.fetched.lock().unwrap().push(path.clone());
        let (status, body, _) = self.0.pages.get(&path).cloned().unwrap_or_default();
        if status != 200 {
            return Err(FetchError::Status {
                url: req.url.to_string(),
                status,
                retry_after: None,
                body: None,
            });
        }
        Ok(Document::new(req.url, body))
    }
}

struct Pool(Arc<Shop>, AtomicUsize);
struct Tab(Arc<Shop>);

#[async_trait]
impl Page for Tab {
    async fn render(&mut self, url: &Url, _: &NavOptions) -> Result<Document, PageError> {
        let path = url.path().to_string();
        self.0.rendered.lock().unwrap().push(path.clone());
        let (status, _, body) = self.0.pages.get(&path).cloned().unwrap_or_default();
        let mut doc = Document::new(url.clone(), body);
        doc.status = status;
        doc.rendered = true;
        Ok(doc)
    }
}

#[async_trait]
impl PagePool for Pool {
    async fn acquire(&self) -> Result<PageHandle, PageError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(PageHandle::new(Box::new(Tab(self.0.clone())), |_, _| {}))
    }
}

fn shell(title: &str) -> (u16, String, String) {
    (
        200,
        format!(
            r#"<html><head>{BUNDLE}</head><body><nav><a href="/">Home</a></nav><div id="app"><noscript>Please enable JavaScript.</noscript></div><footer>Shipping and returns</footer></body></html>"#
        ),
        format!(r#"<html><body><div id="app"><b class="price">{title}</b></div></body></html>"#),
    )
}

fn plain(title: &str) -> (u16, String, String) {
    let html =
        format!(r#"<html><head>{BUNDLE}</head><body><b class="price">{title}</b></body></html>"#);
    (200, html.clone(), html)
}

fn crawler(shop: &Arc<Shop>, render: RenderMode) -> Crawler {
    let services = Services {
        fetcher: Arc::new(Http(shop.clone())),
        pages: Some(Arc::new(Pool(shop.clone(), AtomicUsize::new(0)))),
        llm: None,
    };
    let opts = CrawlOptions {
        render,
        retries: 0,
        ..CrawlOptions::default()
    };
    Crawler::detached(opts, services, CancellationToken::new())
}

#[tokio::test]
async fn auto_renders_only_pages_that_show_script_evidence_and_says_why() {
    let mut pages = HashMap::new();
    for n in 0..30 {
        // A third of the products of one page kind are app shells.
        let page = if n % 3 == 0 {
            shell(&format!("P{n}"))
        } else {
            plain(&format!("P{n}"))
        };
        pages.insert(format!("/p/{n}"), page);
    }
    // A product-looking page built by scripts without an app root or notice.
    pages.insert(
        "/product/mount".into(),
        (
            200,
            format!(r#"<html><head>{BUNDLE}</head><body><a href="/">Home</a><main class="pdp"></main></body></html>"#),
            r#"<html><body><b class="price">Mounted</b></body></html>"#.into(),
        ),
    );
    // A listing: no records, links, scripts: complete over HTTP.
    pages.insert(
        "/c/all".into(),
        {
            let html = format!(r#"<html><head>{BUNDLE}</head><body><a href="/p/1">1</a><a href="/p/2">2</a></body></html>"#);
            (200, html.clone(), html)
        },
    );
    let shop = Arc::new(Shop {
        pages,
        ..Shop::default()
    });
    let c = crawler(&shop, RenderMode::Auto);
    let job = SiteJob::new(&Tiny, vec![url("/")]);
    let mut reasons: HashMap<Option<RenderReason>, usize> = HashMap::new();
    let mut paths: Vec<String> = (0..30).map(|n| format!("/p/{n}")).collect();
    paths.extend(["/product/mount".into(), "/c/all".into()]);
    for path in &paths {
        let page = c.crawl_page(&job, 1, &url(path)).await;
        assert_eq!(page.error, None, "{path}");
        if path != "/c/all" {
            assert_eq!(page.records.len(), 1, "{path} gives its record");
        }
        *reasons.entry(page.render_reason).or_default() += 1;
    }
    assert_eq!(reasons.get(&Some(RenderReason::AppShell)), Some(&10));
    assert_eq!(reasons.get(&Some(RenderReason::NoRecord)), Some(&1));
    assert_eq!(reasons.get(&None), Some(&21), "{reasons:?}");
    let rendered = shop.rendered.lock().unwrap().clone();
    assert!(
        rendered.iter().all(|p| p == "/product/mount"
            || p.trim_start_matches("/p/").parse::<u32>().unwrap() % 3 == 0),
        "{rendered:?}"
    );
}

#[tokio::test]
async fn a_consistently_script_built_kind_is_rendered_directly_and_rechecked() {
    let mut pages = HashMap::new();
    for n in 0..40 {
        pages.insert(format!("/js/{n}"), shell(&format!("J{n}")));
    }
    let shop = Arc::new(Shop {
        pages,
        ..Shop::default()
    });
    let c = crawler(&shop, RenderMode::Auto);
    let job = SiteJob::new(&Tiny, vec![url("/")]);
    let mut direct = 0;
    for n in 0..40 {
        let page = c.crawl_page(&job, 1, &url(&format!("/js/{n}"))).await;
        assert_eq!(page.records.len(), 1);
        direct += usize::from(page.render_reason == Some(RenderReason::Remembered));
    }
    // Three samples teach it; of the 37 pages after them, those the 16-page re-check picks
    // go over HTTP first (and are rendered again on the evidence).
    let fetched = shop.fetched.lock().unwrap().len();
    assert_eq!(
        fetched + direct,
        40,
        "every page either fetched first or rendered directly"
    );
    assert!(
        (34..=36).contains(&direct),
        "rendered directly: {direct}, fetched: {fetched}"
    );
    assert_eq!(shop.rendered.lock().unwrap().len(), 40);
}

#[tokio::test]
async fn render_always_and_extractor_demands_skip_http_and_error_statuses_fail_alike() {
    let mut pages = HashMap::new();
    pages.insert("/p/1".into(), plain("One"));
    pages.insert("/always/2".into(), plain("Two"));
    pages.insert(
        "/p/gone".into(),
        (404, String::new(), "<html>Not found</html>".into()),
    );
    let shop = Arc::new(Shop {
        pages,
        ..Shop::default()
    });
    let job = SiteJob::new(&Tiny, vec![url("/")]);

    let always = crawler(&shop, RenderMode::Always);
    let page = always.crawl_page(&job, 1, &url("/p/1")).await;
    assert_eq!(
        (page.records.len(), page.render_reason),
        (1, Some(RenderReason::Always))
    );
    // The rendered 404 is the same failure as the 404 over HTTP.
    let gone = always.crawl_page(&job, 1, &url("/p/gone")).await;
    assert_eq!(
        (gone.error, gone.status),
        (Some(haul_core::FailureKind::Http(404)), Some(404))
    );
    assert!(gone.records.is_empty());

    let auto = crawler(&shop, RenderMode::Auto);
    let page = auto.crawl_page(&job, 1, &url("/always/2")).await;
    assert_eq!(page.render_reason, Some(RenderReason::Extractor));
    let gone = auto.crawl_page(&job, 1, &url("/p/gone")).await;
    assert_eq!(
        (gone.error, gone.status),
        (Some(haul_core::FailureKind::Http(404)), Some(404))
    );
    assert!(
        shop.fetched
            .lock()
            .unwrap()
            .iter()
            .all(|p| p != "/p/1" && p != "/always/2")
    );

    let never = crawler(&shop, RenderMode::Never);
    let page = never.crawl_page(&job, 1, &url("/p/1")).await;
    assert_eq!((page.records.len(), page.render_reason), (1, None));
}
