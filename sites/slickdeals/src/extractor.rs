//! The Slickdeals extractor: deal cards on listings, deal records on deal pages.

use std::collections::HashSet;
use std::sync::LazyLock;

use haul_core::{
    Context, Document, ExtractError, Extraction, Extractor, Method, PageClass, PageContract,
    PageKind, Record, RecordKind, RenderNeed, Url, async_trait,
};
use scraper::{ElementRef, Selector};

use crate::markup::{
    first, first_attr, first_text, image_src, posted, price, selectors, text, votes,
};

/// The Slickdeals extractor (registered as `slickdeals`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Slickdeals;

/// A deal card on a listing, in any of the markups Slickdeals has used. It is also the
/// selector a rendered listing waits for ([`PageKind::wait_for`] of [`Kind::Listing`]).
pub const CARD_SELECTOR: &str = ".dealCard, .bp-p-dealCard, .bp-p-blueberryDealCard";

/// The page kinds of Slickdeals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The front page or another list of deals.
    Listing,
    /// One deal thread: `/f/<id>-...` (forum thread) or `/e/<id>-...` (editorial).
    Deal,
}

impl Kind {
    /// The kind of `url`: [`Kind::Deal`] for deal threads, [`Kind::Listing`] for everything
    /// else.
    pub fn of(url: &Url) -> Self {
        let mut segs = url.path_segments().into_iter().flatten();
        match (segs.next(), segs.next()) {
            (Some("f" | "e"), Some(slug)) if slug.starts_with(|c: char| c.is_ascii_digit()) => {
                Self::Deal
            }
            _ => Self::Listing,
        }
    }
}

impl PageKind for Kind {
    const ALL: &'static [Self] = &[Self::Listing, Self::Deal];

    fn name(self) -> &'static str {
        match self {
            Self::Listing => "listing",
            Self::Deal => "deal",
        }
    }

    /// Deal pages are served complete; listings may be built by scripts, so they are tried
    /// over HTTP first and rendered when that gives nothing.
    fn render(self) -> RenderNeed {
        match self {
            Self::Deal => RenderNeed::Never,
            Self::Listing => RenderNeed::Auto,
        }
    }

    fn wait_for(self) -> Option<&'static str> {
        (self == Self::Listing).then_some(CARD_SELECTOR)
    }

    fn contract(self) -> Option<PageContract> {
        Some(match self {
            Self::Listing => PageContract {
                // A listing whose links are followed gives only the records of cards without
                // a deal page, often none (see `Extractor::extract`); the links show it was
                // read.
                min_records: 0,
                min_links: 1,
                required: &["title", "url", "price", "currency", "merchant"],
            },
            Self::Deal => PageContract {
                min_records: 1,
                min_links: 0,
                // Not `price`: many deals are coupons ("20% off") without one.
                required: &["title", "url", "merchant", "votes", "posted_at", "deal_url"],
            },
        })
    }
}

static CARD: LazyLock<Vec<Selector>> = LazyLock::new(|| selectors(&[CARD_SELECTOR]));

// Listing cards.
static CARD_LINK: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        "a.dealCard__title",
        "a.dealCard__titleLink",
        "a.bp-c-card_title",
        "a.dealCard__imageContainer",
        "a.bp-c-card_imageContainer",
        "a[href]",
    ])
});
static CARD_TITLE: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        ".dealCard__title",
        ".dealCard__titleLink",
        ".bp-c-card_title",
        ".itemTitle",
    ])
});
static CARD_PRICE: LazyLock<Vec<Selector>> =
    LazyLock::new(|| selectors(&[".dealCard__price", ".bp-p-dealCard_price", ".itemPrice"]));
static CARD_WAS: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        ".dealCard__originalPrice",
        ".bp-p-dealCard_originalPrice",
        ".itemOriginalPrice",
        ".oldListPrice",
    ])
});
static CARD_STORE: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        ".dealCard__storeLink",
        ".dealCard__store",
        ".bp-c-card_subtitle",
        ".itemStore",
    ])
});
static CARD_VOTES: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        ".dealCardSocialControls__voteCount",
        ".dealCard__voteCount",
        ".bp-p-votingThumbsPopup_count",
        ".bp-p-dealCard_votes",
    ])
});
static CARD_IMAGE: LazyLock<Vec<Selector>> =
    LazyLock::new(|| selectors(&["img.dealCard__image", "img.bp-c-card_image", "img"]));

// Deal pages.
static DEAL_TITLE: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        ".dealDetailsMainDealInfo__title",
        "h1.dealTitle",
        "#dealTitle",
        "h1",
    ])
});
static DEAL_PRICE: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        ".dealDetailsMainDealInfo__price",
        ".dealDetailsPriceInfo__price",
        ".dealPrice",
        "#dealPrice",
    ])
});
static DEAL_WAS: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        ".dealDetailsMainDealInfo__listPrice",
        ".dealDetailsPriceInfo__listPrice",
        ".oldListPrice",
        ".listPrice",
    ])
});
static DEAL_STORE: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        ".dealDetailsMainDealInfo__storeLink",
        ".dealDetailsMainDealInfo__store a",
        ".storeName",
        "#store a",
        ".dealStore",
    ])
});
static DEAL_VOTES: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        ".dealVoteScore__score",
        ".dealDetailsVotes__score",
        "#dealScore",
        ".dealScore",
        ".dealVoteScore",
        ".voteScore",
    ])
});
static DEAL_TIME: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        ".dealDetailsPostInfo time[datetime]",
        "time[datetime]",
        "[data-timestamp]",
    ])
});
static DEAL_TIME_TEXT: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        ".dealDetailsPostInfo__postedDate",
        ".postDate",
        ".postedDate",
        ".dealDetailsPostInfo time",
    ])
});
static DEAL_LINK: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        "a.dealDetailsOutclickButton",
        "a[data-role=\"outclickButton\"]",
        "a#largeBuyNow",
        "a.buyNow",
        "a.seeDealButton",
    ])
});
static ANY_LINK: LazyLock<Vec<Selector>> = LazyLock::new(|| selectors(&["a[href]"]));
static DEAL_IMAGE: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    selectors(&[
        "img.dealDetailsMainDealInfo__image",
        "img#mainImage",
        ".mainImageContainer img",
        "img.mainImage",
    ])
});
static OG_TITLE: LazyLock<Vec<Selector>> =
    LazyLock::new(|| selectors(&["meta[property=\"og:title\"]"]));
static OG_IMAGE: LazyLock<Vec<Selector>> =
    LazyLock::new(|| selectors(&["meta[property=\"og:image\"]"]));
static EXIT_SITE: LazyLock<Vec<Selector>> =
    LazyLock::new(|| selectors(&["[data-product-exitwebsite]"]));

/// Texts of the outbound button when it has no class of its own.
const SEE_DEAL: &[&str] = &["see deal", "get deal", "buy now", "get it now"];

/// `url` without query and fragment: the deal page's canonical address.
fn canonical(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u
}

impl Slickdeals {
    fn parse_listing(&self, doc: &Document, out: &mut Extraction) {
        let html = haul_extract::parse_html(&doc.body);
        let root = html.root_element();
        let base = doc.base_url();
        let mut seen = HashSet::new();
        for card in CARD.iter().flat_map(|s| root.select(s)) {
            if is_sponsored(card) {
                continue;
            }
            let Some(link) = first_attr(card, &CARD_LINK, "href").and_then(|h| base.join(&h).ok())
            else {
                // Nothing names the deal: no record can carry it.
                continue;
            };
            if self.is_deal_page(&link, &doc.url) {
                let link = canonical(&link);
                if !seen.insert(link.clone()) {
                    continue;
                }
                if let Some(record) = card_record(card, &link, &doc.url, &base) {
                    out.records.push(record);
                }
                out.links.push(link);
            } else {
                // No deal page to read (the card links to the store or elsewhere): the card
                // is all there is, in every mode.
                let mut link = link;
                link.set_fragment(None);
                if !seen.insert(link.clone()) {
                    continue;
                }
                if let Some(mut record) = card_record(card, &link, &doc.url, &base) {
                    record.deal_url = Some(link.to_string());
                    out.records.push(record);
                }
            }
        }
    }

    /// Whether `link` (from a card on `page`) is a deal page this site crawls: a deal thread
    /// on the listing's own host or on a Slickdeals domain.
    fn is_deal_page(&self, link: &Url, page: &Url) -> bool {
        Kind::of(link) == Kind::Deal && (link.host() == page.host() || self.handles(link))
    }

    fn parse_deal(&self, doc: &Document, out: &mut Extraction) -> Result<(), ExtractError> {
        let html = haul_extract::parse_html(&doc.body);
        let root = html.root_element();
        let url = canonical(&doc.url);
        let title = first_text(root, &DEAL_TITLE)
            .or_else(|| first_attr(root, &OG_TITLE, "content"))
            .ok_or_else(|| ExtractError::Unparseable {
                url: doc.url.to_string(),
                message: "deal page without a deal title".into(),
            })?;
        let mut r = Record::new(
            RecordKind::Deal,
            "slickdeals",
            url.as_str(),
            title,
            Method::Css,
        );
        let (now, currency) = first_text(root, &DEAL_PRICE)
            .map(|t| price(&t))
            .unwrap_or_default();
        r.price = now;
        r.currency = currency;
        r.list_price = first_text(root, &DEAL_WAS)
            .and_then(|t| price(&t).0)
            .filter(|was| now.is_some_and(|now| *was > now));
        r.merchant = first_text(root, &DEAL_STORE)
            .or_else(|| first_attr(root, &EXIT_SITE, "data-product-exitwebsite"));
        r.votes =
            first(root, &DEAL_VOTES, |e| votes(&text(e)).is_some()).and_then(|e| votes(&text(e)));
        r.posted_at = first(root, &DEAL_TIME, |e| machine_time(e).is_some())
            .and_then(machine_time)
            .or_else(|| first_text(root, &DEAL_TIME_TEXT).and_then(|t| posted(&t)));
        r.deal_url = first_attr(root, &DEAL_LINK, "href")
            .or_else(|| {
                first(root, &ANY_LINK, |a| {
                    let t = text(a).to_lowercase();
                    SEE_DEAL.iter().any(|s| t.starts_with(s))
                })
                .and_then(|a| a.value().attr("href"))
                .map(str::to_string)
            })
            .and_then(|h| doc.resolve(&h))
            .map(String::from);
        let base = doc.base_url();
        r.image = first(root, &DEAL_IMAGE, |e| image_src(e, &base).is_some())
            .and_then(|e| image_src(e, &base))
            .or_else(|| {
                first_attr(root, &OG_IMAGE, "content")
                    .and_then(|s| doc.resolve(&s))
                    .map(String::from)
            });
        for (missing, what) in [
            (r.price.is_none(), "price"),
            (r.merchant.is_none(), "store"),
            (r.deal_url.is_none(), "\"See Deal\" link"),
        ] {
            if missing {
                out.warn(format!("{url}: no {what} found"));
            }
        }
        out.records.push(r);
        Ok(())
    }
}

/// Whether a card is an advertisement (`dealCard--sponsored`, `data-role="sponsoredDealCard"`
/// and the like), which is no deal.
fn is_sponsored(card: ElementRef<'_>) -> bool {
    let v = card.value();
    [v.attr("class"), v.attr("data-role")]
        .into_iter()
        .flatten()
        .any(|a| a.to_ascii_lowercase().contains("sponsored"))
}

/// The machine-readable time of an element (`datetime`, `data-timestamp`), as RFC 3339.
fn machine_time(e: ElementRef<'_>) -> Option<String> {
    let v = e.value();
    v.attr("datetime")
        .or_else(|| v.attr("data-timestamp"))
        .and_then(posted)
}

/// The deal record of a listing card on `page`, when the card shows a title and a price
/// (its image resolved against the page's `base`).
fn card_record(card: ElementRef<'_>, link: &Url, page: &Url, base: &Url) -> Option<Record> {
    let title = first_text(card, &CARD_TITLE).or_else(|| first_attr(card, &CARD_LINK, "title"))?;
    let (now, currency) = price(&first_text(card, &CARD_PRICE)?);
    let now = now?;
    let mut r = Record::new(
        RecordKind::Deal,
        "slickdeals",
        link.as_str(),
        title,
        Method::Css,
    );
    r.price = Some(now);
    r.currency = currency;
    r.list_price = first_text(card, &CARD_WAS)
        .and_then(|t| price(&t).0)
        .filter(|was| *was > now);
    r.merchant = first_text(card, &CARD_STORE);
    r.votes = first_text(card, &CARD_VOTES).and_then(|t| votes(&t));
    r.image =
        first(card, &CARD_IMAGE, |e| image_src(e, base).is_some()).and_then(|e| image_src(e, base));
    r.source = Some(page.to_string());
    Some(r)
}

#[async_trait]
impl Extractor for Slickdeals {
    fn name(&self) -> &'static str {
        "slickdeals"
    }

    fn description(&self) -> &'static str {
        "Slickdeals front-page deals and deal threads (slickdeals.net)"
    }

    fn domains(&self) -> &'static [&'static str] {
        &["slickdeals.net"]
    }

    fn classify(&self, url: &Url) -> PageClass {
        PageClass::of(Kind::of(url))
    }

    fn kinds(&self) -> Vec<PageClass> {
        PageClass::all::<Kind>()
    }

    fn parse(&self, doc: &Document) -> Result<Extraction, ExtractError> {
        let mut out = Extraction::default();
        match Kind::of(&doc.url) {
            Kind::Listing => self.parse_listing(doc, &mut out),
            Kind::Deal => self.parse_deal(doc, &mut out)?,
        }
        Ok(out)
    }

    /// Parses on a blocking thread. On a listing whose links the crawl follows, drops the
    /// card records of deals whose deal page is among the links: that page gives the full
    /// record (votes, posting time, "See Deal" link), and the output keeps only the first
    /// record of a URL, which would otherwise be the card's. Cards without a deal page keep
    /// their records.
    async fn extract(&self, cx: &Context, doc: Document) -> Result<Extraction, ExtractError> {
        let listing = Kind::of(&doc.url) == Kind::Listing;
        let mut ex = cx.parse(doc).await?;
        if listing && cx.follows_links() {
            let followed: HashSet<&str> = ex.links.iter().map(Url::as_str).collect();
            ex.records.retain(|r| !followed.contains(r.url.as_str()));
        }
        Ok(ex)
    }
}

#[cfg(test)]
mod tests;
