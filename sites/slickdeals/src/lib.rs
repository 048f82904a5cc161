//! The `slickdeals` site: the Slickdeals deal aggregator (slickdeals.net).
//!
//! Two page kinds ([`Kind`]):
//!
//! * **listings** (the front page and other deal lists), level 0: every deal card gives a link
//!   to its deal page and, when the card shows a title and a price, a
//!   [`RecordKind::Deal`](haul_core::RecordKind::Deal) record (title, price, "was" price,
//!   store, votes, image) whose `source` is the listing;
//! * **deal pages** (`/f/<id>-...`, `/e/<id>-...`), level 1: one deal record with title, price,
//!   list price, store (`merchant`), vote score (`votes`), posting time (`posted_at`, RFC 3339
//!   when the page gives a machine-readable time), the outbound "See Deal" link (`deal_url`)
//!   and the image.
//!
//! A deal's card and its deal page have the same `url`, and the output keeps the first record
//! of a URL. So when the crawl follows the listing's links
//! ([`Context::follows_links`](haul_core::Context::follows_links)),
//! [`extract`](haul_core::Extractor::extract) drops the card records of deals whose deal page
//! is among the links, and the deal pages give the full records; at the crawl's last level
//! (`--max-level 0`) the cards are all there is and are kept. A card whose link is not a deal
//! page (it goes to the store, or another Slickdeals page) gives its record in both cases,
//! with that link as `url` and `deal_url`; sponsored cards give nothing. A deal whose page
//! cannot be had (a removed thread answers 404) is missing from a crawl that follows links.
//!
//! Markup: Slickdeals has changed its markup several times, so every field is looked for with
//! several selectors (the `dealCard__*` front page, the Blueprint `bp-*` cards, the
//! `dealDetailsMainDealInfo__*` deal page and the older `dealTitle`/`dealPrice` thread page).
//! Prices are read with `haul-price`; a bare `$` is USD on this US site.
//!
//! Rendering: the front page may be built by scripts. A listing's render need is `Auto`
//! (plain HTTP first; the runner renders when that gives nothing and looks script-built) and a
//! deal page's `Never`; a rendered listing waits for [`CARD_SELECTOR`] (see [`Kind`]). The extractor only parses the document it is given, so
//! it works the same on a pooled browser page, its own browser or plain HTTP.

mod extractor;
mod markup;

pub use extractor::{CARD_SELECTOR, Kind, Slickdeals};

haul_core::register_site!(Slickdeals);
