//! Page kinds and site contracts: what the engine needs to know about a URL before fetching
//! it ([`PageClass`]), and what a good page of each kind yields ([`PageContract`]).
//!
//! A site declares its page kinds once, as an enum implementing [`PageKind`]: each kind has
//! a name (for reports and fixture indexes), whether it needs a browser, what a rendered page
//! waits for, and its contract. Everything is keyed by the enum, so a misspelt or forgotten
//! kind is a compile error. [`Extractor::classify`](crate::Extractor::classify) maps a URL to
//! the [`PageClass`] of its kind, the kind-independent form the engine works with.
//!
//! Contracts are checked against recorded fixtures in each site's tests and against live pages
//! by the runner, which counts breaches per page kind: a page that breaks its contract means
//! the site changed its markup or API. A breach is a signal, never a reason to drop records.

use std::fmt;

use crate::{Extraction, Record, RecordProblem, RenderNeed};

/// What a good page of one kind yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageContract {
    /// Fewest records a good page of this kind gives.
    pub min_records: usize,
    /// Fewest links to follow a good page of this kind gives.
    pub min_links: usize,
    /// Fields every record of this page kind must have, named as in the JSONL output
    /// (`price`, `currency`, `availability`...). A field counts as present when it is neither
    /// missing, `null` nor an empty string.
    pub required: &'static [&'static str],
}

impl PageContract {
    /// A contract: at least `min_records` records and `min_links` links, and every record
    /// with the `required` fields.
    pub const fn new(
        min_records: usize,
        min_links: usize,
        required: &'static [&'static str],
    ) -> Self {
        Self {
            min_records,
            min_links,
            required,
        }
    }
}

/// A site's page kinds: a small `Copy` enum the site declares once.
///
/// ```
/// use haul_core::{PageClass, PageContract, PageKind, RenderNeed};
///
/// #[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// enum Kind { Listing, Product }
///
/// impl PageKind for Kind {
///     const ALL: &'static [Self] = &[Self::Listing, Self::Product];
///     fn name(self) -> &'static str {
///         match self { Self::Listing => "listing", Self::Product => "product" }
///     }
///     fn render(self) -> RenderNeed { RenderNeed::Never }
///     fn contract(self) -> Option<PageContract> {
///         Some(match self {
///             Self::Listing => PageContract::new(0, 1, &[]),
///             Self::Product => PageContract::new(1, 0, &["price"]),
///         })
///     }
/// }
///
/// let class = PageClass::of(Kind::Product);
/// assert_eq!((class.kind(), class.render()), ("product", RenderNeed::Never));
/// assert_eq!(PageClass::all::<Kind>().len(), 2);
/// ```
pub trait PageKind: Copy + PartialEq + fmt::Debug + Send + Sync + 'static {
    /// Every kind, in the order reports list them.
    const ALL: &'static [Self];

    /// The kind's name in reports, statistics and fixture indexes (`"products"`).
    fn name(self) -> &'static str;

    /// Whether pages of this kind need a browser. Default: [`RenderNeed::Auto`].
    fn render(self) -> RenderNeed {
        RenderNeed::Auto
    }

    /// A CSS selector that must be present before a rendered page of this kind counts as
    /// loaded (for pages built by scripts). Default: none, the page's content is waited for.
    fn wait_for(self) -> Option<&'static str> {
        None
    }

    /// What a good page of this kind yields. Default: no contract.
    fn contract(self) -> Option<PageContract> {
        None
    }
}

/// Everything the engine needs to know about a URL before fetching it: its page kind, whether
/// it needs a browser, what a rendered page waits for, and what a good page of its kind
/// yields. Made from a site's [`PageKind`] ([`PageClass::of`]), so its kind is always one the
/// site declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageClass {
    kind: &'static str,
    render: RenderNeed,
    wait_for: Option<&'static str>,
    contract: Option<PageContract>,
}

impl Default for PageClass {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl PageClass {
    /// The class of a site that declares no kinds: kind `"page"`, [`RenderNeed::Auto`], no
    /// selector, no contract.
    pub const DEFAULT: Self = Self {
        kind: "page",
        render: RenderNeed::Auto,
        wait_for: None,
        contract: None,
    };

    /// The class of page kind `kind`.
    pub fn of<K: PageKind>(kind: K) -> Self {
        Self {
            kind: kind.name(),
            render: kind.render(),
            wait_for: kind.wait_for(),
            contract: kind.contract(),
        }
    }

    /// The classes of every kind of `K`, in [`PageKind::ALL`] order.
    pub fn all<K: PageKind>() -> Vec<Self> {
        K::ALL.iter().map(|k| Self::of(*k)).collect()
    }

    /// The page kind's name.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Whether the page needs a browser.
    pub fn render(&self) -> RenderNeed {
        self.render
    }

    /// The selector a rendered page waits for.
    pub fn wait_for(&self) -> Option<&'static str> {
        self.wait_for
    }

    /// What a good page of this kind yields, when the site declares it.
    pub fn contract(&self) -> Option<&PageContract> {
        self.contract.as_ref()
    }

    /// How `ex`, extracted by site `site` from a page of this class, breaks the kind's
    /// contract, naming the page kind, the record and the field; empty when the contract is
    /// kept or there is none. `site` is the extractor's [`name`](crate::Extractor::name):
    /// every record must carry it.
    pub fn check(&self, site: &str, ex: &Extraction) -> Vec<Breach> {
        let Some(page) = &self.contract else {
            return Vec::new();
        };
        let kind = self.kind;
        let mut out = Vec::new();
        if ex.records.len() < page.min_records {
            out.push(Breach::TooFewRecords {
                kind,
                got: ex.records.len(),
                want: page.min_records,
            });
        }
        if ex.links.len() < page.min_links {
            out.push(Breach::TooFewLinks {
                kind,
                got: ex.links.len(),
                want: page.min_links,
            });
        }
        for record in &ex.records {
            out.extend(self.check_record(page, site, record));
        }
        out
    }

    fn check_record(&self, page: &PageContract, site: &str, record: &Record) -> Vec<Breach> {
        let mut out: Vec<Breach> = record
            .problems()
            .into_iter()
            .map(Breach::Unusable)
            .collect();
        if record.site != site {
            out.push(Breach::WrongSite {
                url: record.url.clone(),
                got: record.site.clone(),
                want: site.to_string(),
            });
        }
        let value = serde_json::to_value(record).unwrap_or_default();
        for field in page.required {
            let present = value
                .get(*field)
                .is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
            if !present {
                out.push(Breach::MissingField {
                    kind: self.kind,
                    url: record.url.clone(),
                    field,
                });
            }
        }
        out
    }
}

/// How an extraction breaks its page kind's [`PageContract`] (see [`PageClass::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Breach {
    /// Fewer records than the contract wants.
    #[error("{kind} page gave {got} records, the contract wants at least {want}")]
    TooFewRecords {
        /// The page kind.
        kind: &'static str,
        /// Records the page gave.
        got: usize,
        /// The contract's minimum.
        want: usize,
    },
    /// Fewer links than the contract wants.
    #[error("{kind} page gave {got} links, the contract wants at least {want}")]
    TooFewLinks {
        /// The page kind.
        kind: &'static str,
        /// Links the page gave.
        got: usize,
        /// The contract's minimum.
        want: usize,
    },
    /// A record is unusable (it would never be written).
    #[error("{0}")]
    Unusable(RecordProblem),
    /// A record names another site than the extractor's.
    #[error("record for {url} carries site {got:?}, not {want:?}")]
    WrongSite {
        /// The record's URL.
        url: String,
        /// The site the record carries.
        got: String,
        /// The extractor's name.
        want: String,
    },
    /// A record lacks a field the contract requires.
    #[error("{kind} record for {url} lacks required field {field}")]
    MissingField {
        /// The page kind.
        kind: &'static str,
        /// The record's URL.
        url: String,
        /// The field.
        field: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        List,
        Other,
    }

    impl PageKind for Kind {
        const ALL: &'static [Self] = &[Self::List, Self::Other];
        fn name(self) -> &'static str {
            match self {
                Self::List => "list",
                Self::Other => "other",
            }
        }
        fn contract(self) -> Option<PageContract> {
            (self == Self::List).then_some(PageContract {
                min_records: 1,
                min_links: 1,
                required: &["price", "sku"],
            })
        }
    }

    #[test]
    fn check_names_every_breach() {
        let list = PageClass::of(Kind::List);
        let mut ex = Extraction::default();
        assert_eq!(list.check("x", &ex).len(), 2);
        let mut r = Record::product("y", "http://s/p", "P", Method::Api);
        r.sku = Some(String::new());
        ex.records.push(r);
        ex.links.push(url::Url::parse("http://s/2").unwrap());
        let breaches = list.check("x", &ex);
        assert_eq!(breaches.len(), 3, "{breaches:?}");
        assert!(
            breaches
                .iter()
                .any(|b| matches!(b, Breach::WrongSite { got, .. } if got == "y"))
        );
        assert!(
            breaches
                .iter()
                .any(|b| matches!(b, Breach::MissingField { field: "price", .. }))
        );
        assert!(
            breaches
                .iter()
                .any(|b| b.to_string().contains("lacks required field sku"))
        );
        // A kind without a contract is never breached.
        assert!(PageClass::of(Kind::Other).check("x", &ex).is_empty());
        assert!(PageClass::DEFAULT.check("x", &ex).is_empty());
    }

    #[test]
    fn classes_carry_the_kind_and_its_defaults() {
        let all = PageClass::all::<Kind>();
        let kinds: Vec<&str> = all.iter().map(PageClass::kind).collect();
        assert_eq!(kinds, ["list", "other"]);
        assert_eq!(all[1].render(), RenderNeed::Auto);
        assert_eq!(all[1].wait_for(), None);
        assert!(all[0].contract().is_some() && all[1].contract().is_none());
        assert_eq!(PageClass::default().kind(), "page");
    }
}
