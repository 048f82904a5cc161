//! Walking a listing paged by a page-number query parameter (`?page=N`) within one crawl
//! level, for JSON APIs such as Shopify's `products.json` and WooCommerce's Store API.
//!
//! A site describes its API with a [`Paging`] and uses it twice:
//!
//! 1. in [`Extractor::parse`](haul_core::Extractor::parse), a listing page returns
//!    [`Paging::next_page`] as a link when the page was full (neither empty nor shorter than
//!    the page size), so `parse` alone still tells where the listing goes on;
//! 2. in [`Extractor::extract`](haul_core::Extractor::extract), [`Paging::walk`] follows those
//!    next-page links at once and merges every page into one [`Extraction`]. A catalogue of
//!    50 pages thus needs no `--max-level 50`. Which page to read next and when to stop is a
//!    pure plan, [`Walk`]; the pages are read by [`Context::read_pages`], through the crawl's
//!    polite fetcher and the extractor's own `parse` (on a blocking thread): this module does
//!    no I/O of its own.
//!
//! The walk stops at the last page (the one `parse` gives no next link for), and also, with a
//! warning in the extraction, after [`Paging::max_pages`] pages, after
//! [`Paging::time_budget`], when a page cannot be fetched or parsed, or when a page only
//! repeats products already seen (a store that ignores the page parameter). In those cases the
//! next page stays in the extraction's links, so a crawl with levels to spare goes on from it
//! at the next level.
//!
//! The walk cannot see response headers (a [`Document`](haul_core::Document) carries none), so
//! `Link: rel=next` and `X-WP-TotalPages` play no part.
//!
//! ```
//! use haul_core::Url;
//! use haul_extract::paging::Paging;
//!
//! let paging = Paging::new("page", "per_page", 10, 100);
//! let url = Url::parse("https://w.example/api/products?per_page=100&page=2").unwrap();
//! assert_eq!(paging.page(&url), 2);
//! assert_eq!(paging.page_size(&url), 100);
//! // A full page has a next page; a short or empty one is the last.
//! assert_eq!(
//!     paging.next_page(&url, 100).unwrap().as_str(),
//!     "https://w.example/api/products?per_page=100&page=3"
//! );
//! assert_eq!(paging.next_page(&url, 99), None);
//! assert_eq!(paging.next_page(&url, 0), None);
//! ```

use std::collections::HashSet;
use std::time::{Duration, Instant};

use haul_core::{Context, ExtractError, Extraction, PagePlan, Url};

/// Pages one [`Paging::walk`] reads at most by default (the first page included).
pub const MAX_PAGES: usize = 100;

/// How long one [`Paging::walk`] may go on starting page fetches by default. It is well under
/// the runner's default page timeout (30 s), which bounds the whole extraction of a page: a
/// walk cut by the timeout would lose every page it read.
pub const TIME_BUDGET: Duration = Duration::from_secs(20);

/// How a listing is paged: a 1-based page number and a page size in query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// The query parameter holding the page number (`page`).
    pub page_param: &'static str,
    /// The query parameter holding the page size (`limit` on Shopify, `per_page` on
    /// WooCommerce).
    pub size_param: &'static str,
    /// The page size the API uses when the URL names none.
    pub default_size: u64,
    /// The largest page size the API honours; a bigger request gets pages of this size.
    pub max_size: u64,
    /// Most pages one [`walk`](Self::walk) reads, the first included ([`MAX_PAGES`]).
    pub max_pages: usize,
    /// After this long, a [`walk`](Self::walk) starts no further page fetch
    /// ([`TIME_BUDGET`]).
    pub time_budget: Duration,
}

impl Paging {
    /// Paging by `page_param` and `size_param`, with the API's default and largest page size,
    /// [`MAX_PAGES`] and [`TIME_BUDGET`].
    pub const fn new(
        page_param: &'static str,
        size_param: &'static str,
        default_size: u64,
        max_size: u64,
    ) -> Self {
        Self {
            page_param,
            size_param,
            default_size,
            max_size,
            max_pages: MAX_PAGES,
            time_budget: TIME_BUDGET,
        }
    }

    /// The page number `url` asks for: 1 when it names none, or none that is a positive
    /// number.
    pub fn page(&self, url: &Url) -> u64 {
        self.param(url, self.page_param).unwrap_or(1).max(1)
    }

    /// The size of the pages `url` gets: the size it asks for (at most
    /// [`max_size`](Self::max_size)), else [`default_size`](Self::default_size).
    pub fn page_size(&self, url: &Url) -> u64 {
        self.param(url, self.size_param)
            .filter(|n| *n > 0)
            .unwrap_or(self.default_size)
            .min(self.max_size)
    }

    /// `url` with its page number set to `page`: in place when present (so the query keeps
    /// its order and the crawl's de-duplication sees one form), else appended. The fragment is
    /// dropped.
    pub fn with_page(&self, url: &Url, page: u64) -> Url {
        let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        match pairs.iter_mut().find(|(k, _)| k == self.page_param) {
            Some(p) => p.1 = page.to_string(),
            None => pairs.push((self.page_param.into(), page.to_string())),
        }
        let mut next = url.clone();
        next.query_pairs_mut().clear().extend_pairs(pairs);
        next.set_fragment(None);
        next
    }

    /// The page after `url`, when the page at `url` held `items` items and so may not be the
    /// last: `None` for an empty page or one shorter than [`page_size`](Self::page_size).
    pub fn next_page(&self, url: &Url, items: usize) -> Option<Url> {
        let full = items > 0 && items as u64 >= self.page_size(url);
        full.then(|| self.with_page(url, self.page(url) + 1))
    }

    /// Reads the pages after `url` within this crawl level and merges them into `first`, the
    /// extraction of the page at `url`: the [`Walk`] plan, read by [`Context::read_pages`]
    /// (the crawl's polite fetcher and the extractor's `parse` on a blocking thread). Never
    /// fails: what was read is kept.
    pub async fn walk(&self, cx: &Context, url: &Url, first: Extraction) -> Extraction {
        let mut walk = Walk::new(*self, url, first, cx);
        cx.read_pages(&mut walk).await;
        walk.finish()
    }

    fn param(&self, url: &Url, name: &str) -> Option<u64> {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
    }
}

/// The pages after a listing page, as a pure plan ([`PagePlan`]): it follows the next-page
/// link ([`Paging::next_page`] of the page read last) while the extraction contains it; a
/// followed link is removed from the links. It stops, leaving the next-page link in place and
/// adding a warning, after [`Paging::max_pages`] pages or [`Paging::time_budget`] (at most two
/// thirds of the page timeout), or when a page cannot be fetched or parsed. A page whose
/// records all repeat earlier ones ends the walk with a warning and is dropped.
#[derive(Debug)]
pub struct Walk {
    paging: Paging,
    url: Url,
    out: Extraction,
    seen: HashSet<String>,
    /// The page read last (its final URL).
    at: Url,
    pages: usize,
    /// The next page asked for and its position among the links.
    pending: Option<(Url, usize)>,
    started: Instant,
    budget: Duration,
    follows_links: bool,
    done: bool,
}

impl Walk {
    /// A walk from the page at `url`, whose extraction is `first`, for the page being
    /// extracted in `cx` (its page timeout and whether its links are followed).
    pub fn new(paging: Paging, url: &Url, first: Extraction, cx: &Context) -> Self {
        Self {
            paging,
            url: url.clone(),
            seen: first.records.iter().map(|r| r.url.clone()).collect(),
            out: first,
            at: url.clone(),
            pages: 1,
            pending: None,
            started: Instant::now(),
            // The runner drops the whole page (and every record read so far) when its
            // timeout runs out.
            budget: paging.time_budget.min(cx.page_timeout() * 2 / 3),
            follows_links: cx.follows_links(),
            done: false,
        }
    }

    /// Everything read: the first page's extraction with the following pages merged in.
    pub fn finish(self) -> Extraction {
        self.out
    }

    /// Why `next` is not read, for a warning.
    fn left(&self, next: &Url) -> String {
        if self.follows_links {
            format!("{next} is left for the next crawl level")
        } else {
            format!("{next} and later pages are not read (the crawl's last level)")
        }
    }

    fn stop(&mut self, warning: String) -> Option<Url> {
        self.out.warn(warning);
        self.done = true;
        None
    }
}

impl PagePlan for Walk {
    fn next_page(&mut self) -> Option<Url> {
        if self.done {
            return None;
        }
        let next = self
            .paging
            .with_page(&self.at, self.paging.page(&self.at) + 1);
        let Some(pos) = self.out.links.iter().position(|l| *l == next) else {
            self.done = true;
            return None;
        };
        let (url, pages) = (&self.url, self.pages);
        if pages >= self.paging.max_pages {
            let rest = self.left(&next);
            return self.stop(format!("{url}: paging stopped after {pages} pages; {rest}"));
        }
        let elapsed = self.started.elapsed();
        if elapsed >= self.budget {
            let rest = self.left(&next);
            let secs = elapsed.as_secs();
            return self.stop(format!(
                "{url}: paging stopped after {pages} pages and {secs} s; {rest}"
            ));
        }
        self.pending = Some((next.clone(), pos));
        Some(next)
    }

    fn take(&mut self, page: Result<(Url, Extraction), ExtractError>) {
        let Some((next, pos)) = self.pending.take() else {
            return;
        };
        let (final_url, ex) = match page {
            Ok(page) => page,
            Err(e) => {
                let rest = self.left(&next);
                self.stop(format!("{e}; paging of {} stopped; {rest}", self.url));
                return;
            }
        };
        self.out.links.remove(pos);
        self.pages += 1;
        let fresh = ex.records.iter().any(|r| !self.seen.contains(&r.url));
        if !ex.records.is_empty() && !fresh {
            let warning = format!(
                "{next} repeats the products of earlier pages (the store ignores `{}`?); \
                 paging of {} stopped",
                self.paging.page_param, self.url
            );
            self.stop(warning);
            return;
        }
        self.seen.extend(ex.records.iter().map(|r| r.url.clone()));
        self.out.records.extend(ex.records);
        self.out.links.extend(ex.links);
        self.out.warnings.extend(ex.warnings);
        self.at = final_url;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use haul_core::{
        Document, ExtractError, Extractor, FetchError, FetchRequest, Fetcher, Method, Record,
        async_trait,
    };

    use super::*;

    const PAGING: Paging = Paging::new("page", "per_page", 10, 3);

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn page_numbers_sizes_and_next_pages() {
        let shopify = Paging::new("page", "limit", 30, 250);
        // (url, page, size, next page when full)
        let cases = [
            (
                "https://s.example/products.json?limit=250&page=1",
                1,
                250,
                "https://s.example/products.json?limit=250&page=2",
            ),
            (
                "https://s.example/products.json",
                1,
                30,
                "https://s.example/products.json?page=2",
            ),
            (
                "https://s.example/products.json?page=0&limit=5#x",
                1,
                5,
                "https://s.example/products.json?page=2&limit=5",
            ),
            (
                "https://s.example/products.json?page=x&limit=999",
                1,
                250,
                "https://s.example/products.json?page=2&limit=999",
            ),
            (
                "https://w.example/?rest_route=%2Fwc%2Fstore%2Fv1%2Fproducts&page=3&limit=0",
                3,
                30,
                "https://w.example/?rest_route=%2Fwc%2Fstore%2Fv1%2Fproducts&page=4&limit=0",
            ),
        ];
        for (url, page, size, next) in cases {
            let url = u(url);
            assert_eq!(shopify.page(&url), page, "{url}");
            assert_eq!(shopify.page_size(&url), size, "{url}");
            let full = usize::try_from(size).unwrap();
            assert_eq!(shopify.next_page(&url, full).unwrap().as_str(), next);
            assert_eq!(shopify.next_page(&url, full + 1).unwrap().as_str(), next);
            assert_eq!(shopify.next_page(&url, full - 1), None, "{url}");
            assert_eq!(shopify.next_page(&url, 0), None, "{url}");
        }
    }

    /// A listing whose body is a JSON array of item numbers; item `n` is the record
    /// `http://s.test/p/<n>`. The next page is linked when the page is full for [`PAGING`].
    struct Numbers;

    impl Extractor for Numbers {
        fn name(&self) -> &'static str {
            "numbers"
        }

        fn parse(&self, doc: &Document) -> Result<Extraction, ExtractError> {
            let items: Vec<u64> =
                serde_json::from_str(&doc.body).map_err(|e| ExtractError::Unparseable {
                    url: doc.url.to_string(),
                    message: e.to_string(),
                })?;
            let mut out = Extraction::default();
            for n in &items {
                let url = format!("http://s.test/p/{n}");
                out.records.push(Record::product(
                    "numbers",
                    &url,
                    format!("P{n}"),
                    Method::Api,
                ));
            }
            out.links.extend(PAGING.next_page(&doc.url, items.len()));
            Ok(out)
        }
    }

    static NUMBERS: Numbers = Numbers;

    /// Serves a catalogue of `items` numbers in pages (ignoring the page number when
    /// `ignore_page`); answers 404 for the pages in `missing`; records what was fetched.
    struct Catalogue {
        items: u64,
        ignore_page: bool,
        missing: Vec<u64>,
        fetched: Mutex<Vec<u64>>,
    }

    #[async_trait]
    impl Fetcher for Catalogue {
        async fn fetch(&self, req: FetchRequest) -> Result<Document, FetchError> {
            let page = PAGING.page(&req.url);
            self.fetched.lock().unwrap().push(page);
            if self.missing.contains(&page) {
                return Err(FetchError::Status {
                    url: req.url.to_string(),
                    status: 404,
                    retry_after: None,
                    body: None,
                });
            }
            let size = PAGING.page_size(&req.url);
            let start = if self.ignore_page {
                0
            } else {
                (page - 1) * size
            };
            let items: Vec<u64> = (start..(start + size).min(self.items)).collect();
            Ok(Document::new(
                req.url,
                serde_json::to_string(&items).unwrap(),
            ))
        }
    }

    struct Walked {
        ex: Extraction,
        fetched: Vec<u64>,
    }

    async fn walk(paging: Paging, cat: Catalogue, max_level: u32) -> Walked {
        let cat = Arc::new(cat);
        let cx = Context::new(&NUMBERS, cat.clone()).with_max_level(max_level);
        let first_url = u("http://s.test/list?per_page=3&page=1");
        let first = cx.fetch(first_url.clone()).await.unwrap();
        let first = cx.parse(first).await.unwrap();
        let ex = paging.walk(&cx, &first_url, first).await;
        let fetched = cat.fetched.lock().unwrap().clone();
        Walked { ex, fetched }
    }

    fn catalogue(items: u64) -> Catalogue {
        Catalogue {
            items,
            ignore_page: false,
            missing: Vec::new(),
            fetched: Mutex::new(Vec::new()),
        }
    }

    #[tokio::test]
    async fn walks_to_the_last_page_and_stops_there() {
        // (items, pages fetched): a short last page ends the walk; an exact multiple of the
        // page size needs the empty page after it.
        let cases: [(u64, &[u64]); 4] = [(7, &[1, 2, 3]), (6, &[1, 2, 3]), (2, &[1]), (0, &[1])];
        for (items, pages) in cases {
            let w = walk(PAGING, catalogue(items), 1).await;
            assert_eq!(w.fetched, pages, "{items} items");
            let got: Vec<String> = w.ex.records.iter().map(|r| r.url.clone()).collect();
            let want: Vec<String> = (0..items).map(|n| format!("http://s.test/p/{n}")).collect();
            assert_eq!(got, want);
            assert!(w.ex.links.is_empty(), "{:?}", w.ex.links);
            assert!(w.ex.warnings.is_empty(), "{:?}", w.ex.warnings);
        }
    }

    #[tokio::test]
    async fn the_page_cap_leaves_the_next_page_as_a_link() {
        let capped = Paging {
            max_pages: 2,
            ..PAGING
        };
        for (max_level, says) in [(1, "left for the next crawl level"), (0, "not read")] {
            let w = walk(capped, catalogue(10), max_level).await;
            assert_eq!(w.fetched, [1, 2]);
            assert_eq!(w.ex.records.len(), 6);
            assert_eq!(w.ex.links, [u("http://s.test/list?per_page=3&page=3")]);
            let warning =
                w.ex.warnings
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>();
            assert_eq!(warning.len(), 1, "{warning:?}");
            assert!(
                warning[0].contains("after 2 pages") && warning[0].contains(says),
                "{warning:?}"
            );
        }
        let out_of_time = Paging {
            time_budget: Duration::ZERO,
            ..PAGING
        };
        let w = walk(out_of_time, catalogue(10), 1).await;
        assert_eq!((w.fetched.len(), w.ex.records.len()), (1, 3));
        assert_eq!(w.ex.links, [u("http://s.test/list?per_page=3&page=2")]);
        assert_eq!(w.ex.warnings.len(), 1, "{:?}", w.ex.warnings);
    }

    #[tokio::test]
    async fn a_failed_page_ends_the_walk_and_stays_a_link() {
        let cat = Catalogue {
            missing: vec![3],
            ..catalogue(10)
        };
        let w = walk(PAGING, cat, 1).await;
        assert_eq!(w.fetched, [1, 2, 3]);
        assert_eq!(w.ex.records.len(), 6);
        assert_eq!(w.ex.links, [u("http://s.test/list?per_page=3&page=3")]);
        let warning = w.ex.warnings[0].to_string();
        assert!(
            warning.contains("page=3") && warning.contains("404"),
            "{warning}"
        );
    }

    #[tokio::test]
    async fn a_store_that_ignores_the_page_number_is_read_once() {
        let cat = Catalogue {
            ignore_page: true,
            ..catalogue(10)
        };
        let w = walk(PAGING, cat, 1).await;
        assert_eq!(w.fetched, [1, 2]);
        assert_eq!(w.ex.records.len(), 3);
        assert!(w.ex.links.is_empty(), "{:?}", w.ex.links);
        assert!(
            w.ex.warnings[0].to_string().contains("repeats"),
            "{:?}",
            w.ex.warnings
        );
    }
}
