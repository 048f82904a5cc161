//! Shop platforms' public product APIs ("store APIs", such as Shopify's `products.json` and
//! WooCommerce's Store API), shared by the site crates that read them.
//!
//! A store API has three kinds of pages ([`StorePage`]): a page of products (paged by
//! [`Paging`]), one product, and any other page of the store (its "storefront"), which maps to
//! an API endpoint given as the page's link. A site describes what differs between platforms
//! by implementing [`StoreApi`] (recognising the routes, where the products are in a
//! response, one product's records, the fields its records must have) and gets its
//! `Extractor` from [`store_extractor!`](crate::store_extractor), whose hooks are [`classify`],
//! [`kinds`], [`handles`], [`parse`] and [`extract`], which hold what is the same everywhere: the page kinds, claiming API routes on any host, the JSON parsing with one
//! skipped product never failing a page, the next-page link and the reading of the following
//! pages within the crawl level ([`Paging::walk`]).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::str::FromStr;

use haul_core::{
    Context, Decimal, Document, ExtractError, Extraction, Extractor, PageClass, PageContract,
    PageKind, RenderNeed, Url,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::paging::Paging;

/// What a page of a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorePage {
    /// An API route answering with a page of products (page kind `products`; a route that is
    /// not [`paged`](StoreApi::paged), such as a filter naming one product, is of kind
    /// `product`).
    Products,
    /// An API route answering with one product (page kind `product`).
    Product,
    /// Any other page of the store, mapped to an API endpoint given as its one link (page kind
    /// `storefront`).
    Storefront,
}

impl StorePage {
    /// Every store page.
    pub const ALL: [Self; 3] = [Self::Products, Self::Product, Self::Storefront];

    /// Its page kind's name: `products`, `product` or `storefront`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Products => "products",
            Self::Product => "product",
            Self::Storefront => "storefront",
        }
    }
}

/// What differs between store APIs. Implemented by the site's extractor, whose
/// [`name`](Extractor::name) its records carry.
pub trait StoreApi: Extractor + Sized {
    /// The API's name in errors (`"Shopify product"`: "not Shopify product JSON").
    const API: &'static str;
    /// How its pages of products are paged.
    const PAGING: Paging;
    /// One product as the API gives it; every field should be optional, so that one odd
    /// product never fails a page.
    type Product: DeserializeOwned;

    /// What `url` is.
    fn page(&self, url: &Url) -> StorePage;

    /// How the platform takes a session's currency and country pins (its
    /// [`Extractor::session`] default). Default: nothing.
    fn session_pins(&self) -> haul_core::SiteSession {
        haul_core::SiteSession::default()
    }

    /// Whether the page of products at `url` may have further pages. Default: yes.
    fn paged(&self, _url: &Url) -> bool {
        true
    }

    /// The API endpoint a storefront page maps to, or a warning saying why there is none.
    fn endpoint(&self, doc: &Document) -> Result<Url, String>;

    /// The product objects of an API response to a [`StorePage::Products`] or
    /// [`StorePage::Product`] page, or why the response is not one.
    fn products(&self, page: StorePage, body: Value) -> Result<Vec<Value>, String>;

    /// Appends the records of one product found on `doc`, with warnings for what is missing.
    fn push_records(&self, doc: &Document, product: Self::Product, out: &mut Extraction);

    /// The fields every record of a good [`StorePage::Products`] or [`StorePage::Product`]
    /// page has (such a page yields at least one record; a storefront page yields its
    /// endpoint as a link).
    fn required(page: StorePage) -> &'static [&'static str];

    /// Completes the extraction of the page at `url` (the following pages read), such as
    /// Shopify's store currency. Default: nothing to add.
    fn complete<'a>(
        &'a self,
        _cx: &'a Context,
        _url: &'a Url,
        ex: Extraction,
    ) -> impl Future<Output = Extraction> + Send + 'a {
        std::future::ready(ex)
    }
}

/// Implements [`Extractor`] for the store API site `$site` (a [`StoreApi`]): its registered
/// `$name`, its one-line `$description` for `haul sites`, and this module's hooks for the rest
/// ([`handles`], [`classify`], [`kinds`], [`parse`], [`extract`]).
#[macro_export]
macro_rules! store_extractor {
    ($site:ty, $name:literal, $description:literal) => {
        #[$crate::store::__core::async_trait]
        impl $crate::store::__core::Extractor for $site {
            fn name(&self) -> &'static str {
                $name
            }

            fn description(&self) -> &'static str {
                $description
            }

            fn handles(&self, url: &$crate::store::__core::Url) -> bool {
                $crate::store::handles(self, url)
            }

            fn classify(
                &self,
                url: &$crate::store::__core::Url,
            ) -> $crate::store::__core::PageClass {
                $crate::store::classify(self, url)
            }

            fn kinds(&self) -> Vec<$crate::store::__core::PageClass> {
                $crate::store::kinds::<Self>()
            }

            fn session(&self) -> $crate::store::__core::SiteSession {
                $crate::store::StoreApi::session_pins(self)
            }

            fn parse(
                &self,
                doc: &$crate::store::__core::Document,
            ) -> Result<$crate::store::__core::Extraction, $crate::store::__core::ExtractError>
            {
                $crate::store::parse(self, doc)
            }

            async fn extract(
                &self,
                cx: &$crate::store::__core::Context,
                doc: $crate::store::__core::Document,
            ) -> Result<$crate::store::__core::Extraction, $crate::store::__core::ExtractError>
            {
                $crate::store::extract(self, cx, doc).await
            }
        }
    };
}

#[doc(hidden)]
pub use haul_core as __core;

/// The page kinds of store API site `S`: the [`StorePage`]s, with `S`'s contracts. Store pages
/// never need a browser.
pub struct StoreKind<S>(StorePage, PhantomData<fn() -> S>);

impl<S> StoreKind<S> {
    /// The kind of store page `page`.
    pub const fn new(page: StorePage) -> Self {
        Self(page, PhantomData)
    }

    /// The store page.
    pub fn page(self) -> StorePage {
        self.0
    }
}

impl<S> Clone for StoreKind<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for StoreKind<S> {}

impl<S> PartialEq for StoreKind<S> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<S> fmt::Debug for StoreKind<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<S: StoreApi> PageKind for StoreKind<S> {
    const ALL: &'static [Self] = &[
        Self::new(StorePage::ALL[0]),
        Self::new(StorePage::ALL[1]),
        Self::new(StorePage::ALL[2]),
    ];

    fn name(self) -> &'static str {
        self.0.name()
    }

    fn render(self) -> RenderNeed {
        RenderNeed::Never
    }

    fn contract(self) -> Option<PageContract> {
        Some(match self.0 {
            // The following pages are read within the page's extraction (`S::PAGING`).
            StorePage::Products | StorePage::Product => {
                PageContract::new(1, 0, S::required(self.0))
            }
            StorePage::Storefront => PageContract::new(0, 1, &[]),
        })
    }
}

/// The page kind of `url` (for [`Extractor::classify`]).
pub fn kind<S: StoreApi>(api: &S, url: &Url) -> StoreKind<S> {
    StoreKind::new(match api.page(url) {
        StorePage::Products if !api.paged(url) => StorePage::Product,
        page => page,
    })
}

/// [`Extractor::classify`] of a store API site.
pub fn classify<S: StoreApi>(api: &S, url: &Url) -> PageClass {
    PageClass::of(kind(api, url))
}

/// [`Extractor::kinds`] of a store API site.
pub fn kinds<S: StoreApi>() -> Vec<PageClass> {
    PageClass::all::<StoreKind<S>>()
}

/// [`Extractor::handles`] of a store API site: its API routes, on any host (stores live on
/// any domain).
pub fn handles<S: StoreApi>(api: &S, url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https") && api.page(url) != StorePage::Storefront
}

fn unparseable(doc: &Document, message: impl Into<String>) -> ExtractError {
    ExtractError::Unparseable {
        url: doc.url.to_string(),
        message: message.into(),
    }
}

/// [`Extractor::parse`] of a store API site: a storefront page gives its endpoint as a link;
/// an API response gives the records of each product (one that does not fit the schema is
/// skipped with a warning) and, on a full page of products, the next page as a link. A body
/// that is not the API's JSON is [`ExtractError::Unparseable`] naming the URL.
pub fn parse<S: StoreApi>(api: &S, doc: &Document) -> Result<Extraction, ExtractError> {
    let page = api.page(&doc.url);
    let mut out = Extraction::default();
    if page == StorePage::Storefront {
        match api.endpoint(doc) {
            Ok(link) => out.links.push(link),
            Err(warning) => out.warn(warning),
        }
        return Ok(out);
    }
    let body: Value = serde_json::from_str(&doc.body)
        .map_err(|e| unparseable(doc, format!("not {} JSON ({e})", S::API)))?;
    let products = api
        .products(page, body)
        .map_err(|message| unparseable(doc, message))?;
    for (i, p) in products.iter().enumerate() {
        match S::Product::deserialize(p) {
            Ok(product) => api.push_records(doc, product, &mut out),
            Err(e) => out.warn(format!("{}: product #{i} skipped: {e}", doc.url)),
        }
    }
    // Past the last page the APIs answer with an empty list; a short page is the last.
    if page == StorePage::Products && api.paged(&doc.url) {
        out.links
            .extend(S::PAGING.next_page(&doc.url, products.len()));
    }
    Ok(out)
}

/// [`Extractor::extract`] of a store API site: parses on a blocking thread and, on a paged
/// page of products, reads the following pages within the crawl level ([`Paging::walk`]);
/// then [`StoreApi::complete`].
pub async fn extract<S: StoreApi>(
    api: &S,
    cx: &Context,
    doc: Document,
) -> Result<Extraction, ExtractError> {
    let url = doc.url.clone();
    let mut ex = cx.parse(doc).await?;
    if api.page(&url) == StorePage::Products && api.paged(&url) {
        ex = S::PAGING.walk(cx, &url, ex).await;
    }
    Ok(api.complete(cx, &url, ex).await)
}

/// An exact decimal from a JSON value: a string (`"19.99"`, trimmed) or a number read from its
/// shortest decimal form. Empty strings, `null` and anything else give `None`.
pub fn decimal(v: Option<&Value>) -> Option<Decimal> {
    match v? {
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        _ => None,
    }
}

/// `Some(trimmed)` unless empty.
pub fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimals_are_exact_and_empty_is_none() {
        let cases = [
            (json!("19.99"), Some("19.99")),
            (json!(" 5.00 "), Some("5.00")),
            (json!(12.5), Some("12.5")),
            (json!(""), None),
            (json!(null), None),
            (json!("n/a"), None),
        ];
        for (v, want) in cases {
            assert_eq!(
                decimal(Some(&v)).map(|d| d.to_string()).as_deref(),
                want,
                "{v}"
            );
        }
        assert_eq!(non_empty(Some("  a ")).as_deref(), Some("a"));
        assert_eq!(non_empty(Some("  ")), None);
    }
}
