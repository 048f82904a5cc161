//! The verdict on a merged product record: how sure the extractor is of its price (the
//! record's `confidence`, 0..1) and when it must abstain instead of guessing (the page says
//! the product is no longer sold, or the evidence is weak or contradicts itself).
//!
//! Confidence starts from what the winning source is worth on its own (a shop's structured
//! data more than a heuristic guess), gains when the page visibly shows the price and when
//! independent sources agree, and loses when a strong source names another price or the
//! currency is unknown. The figures are hand-set, tuned on the tuning half of the evaluation
//! corpus only (see `eval`).

use haul_core::{Availability, Decimal, Method, Record};

use crate::heuristic::PriceCandidate;
use crate::page::Page;
use crate::text::{element_text, sel};

/// The confidence below which the generic extractor gives no price (and a warning) unless
/// told otherwise (`--min-confidence`).
pub const DEFAULT_MIN_CONFIDENCE: f64 = 0.35;

/// Heuristic score of a visible price that stands on its own (a currency or a price class,
/// close to the title).
pub(crate) const STRONG_PRICE: f64 = 4.0;

/// A price some source gives for the page's product, with what that source is worth alone.
#[derive(Debug, Clone, Copy)]
pub struct Vote {
    /// The source.
    pub method: Method,
    /// The price it gives.
    pub price: Decimal,
    /// What the source is worth alone, 0..1.
    pub weight: f64,
}

/// What the source of a record's price is worth alone.
pub(crate) fn base_weight(method: Method, best: Option<&PriceCandidate>) -> f64 {
    match method {
        Method::Api => 0.9,
        Method::Css => 0.8,
        Method::JsonLd => 0.7,
        Method::Microdata => 0.65,
        Method::OpenGraph => 0.55,
        Method::Llm => 0.5,
        Method::Heuristic => heuristic_weight(best),
        Method::Platform => 0.75,
        Method::Script => 0.6,
        Method::Attribute => 0.55,
    }
}

/// What the heuristic's best visible price is worth, from its score.
fn heuristic_weight(best: Option<&PriceCandidate>) -> f64 {
    match best.map(|b| b.score) {
        Some(s) if s >= 2.0 * STRONG_PRICE => 0.75,
        Some(s) if s >= STRONG_PRICE => 0.65,
        Some(s) if s >= 1.0 => 0.55,
        Some(s) if s >= 0.0 => 0.45,
        Some(_) => 0.35,
        None => 0.0,
    }
}

/// Whether the page visibly shows `price` as a product price (a candidate outside site
/// chrome and recommendation blocks).
pub(crate) fn visibly_priced(cands: &[PriceCandidate], price: Decimal) -> bool {
    cands.iter().any(|c| {
        !c.noise && c.score > -4.0 && c.amount == price && !crate::heuristic::is_net(&c.text)
    })
}

/// The confidence of `record`'s price given every source's vote and the page's visible
/// price candidates; 0 when it has no price.
pub fn confidence(record: &Record, votes: &[Vote], cands: &[PriceCandidate]) -> f64 {
    let Some(price) = record.price else {
        return 0.0;
    };
    let best = crate::heuristic::best_candidate(cands);
    let mut c = base_weight(record.method, best);
    if record.method != Method::Heuristic && visibly_priced(cands, price) {
        c += 0.2;
    }
    let mut agree: f64 = 0.0;
    let mut against: f64 = 0.0;
    for v in votes.iter().filter(|v| v.method != record.method) {
        if v.price == price {
            agree += 0.1 * v.weight.min(1.0) / 0.7;
        } else if Some(v.price) != record.list_price && v.weight >= 0.6 {
            against += 0.15;
        }
    }
    c += agree.min(0.25) - against.min(0.3);
    if record.currency.is_none() {
        c -= 0.15;
    }
    (c.clamp(0.0, 1.0) * 100.0).round() / 100.0
}

/// Phrases that say a product is no longer sold, lower case, in the languages of the shops
/// haul meets most.
#[rustfmt::skip]
const GONE: &[&str] = &[
    "no longer available", "no longer sold", "no longer in production", "discontinued",
    "has been retired", "nicht mehr verfügbar", "nicht mehr erhältlich", "nicht mehr lieferbar",
    "ya no está disponible", "descatalogado", "descontinuado", "n'est plus disponible",
    "n'est plus commercialisé", "plus commercialisé", "non è più disponibile",
    "fuori produzione", "niet meer leverbaar", "niet meer beschikbaar", "uit assortiment",
    "não está mais disponível", "fora de linha", "produkt wycofany", "wycofany ze sprzedaży",
    "již se neprodává", "inte längre tillgänglig", "utgått", "ikke lenger tilgjengelig",
    "udgået", "販売終了", "生産終了", "단종", "снят с производства", "больше не продается",
];

/// Phrases that say a product cannot be bought now.
#[rustfmt::skip]
const UNAVAILABLE: &[&str] = &[
    "currently unavailable", "out of stock", "sold out", "temporarily unavailable",
    "ausverkauft", "nicht verfügbar", "agotado", "no disponible", "sin stock", "épuisé",
    "indisponible", "esaurito", "non disponibile", "uitverkocht", "niet op voorraad",
    "esgotado", "indisponível", "wyprzedany", "niedostępny", "brak w magazynie", "vyprodáno",
    "slutsåld", "udsolgt", "utsolgt", "在庫切れ", "品切れ", "품절", "нет в наличии",
];

/// How much text around the product title is searched for availability wording.
const NEAR_TITLE_CHARS: usize = 4_000;

/// What the page says about the product being for sale, from its structured availability and
/// the wording next to its title: `Discontinued`, `OutOfStock` or nothing.
pub fn stated_unavailability(page: &Page, record: &Record) -> Option<Availability> {
    if let Some(a @ (Availability::Discontinued | Availability::OutOfStock)) = record.availability {
        return Some(a);
    }
    let text = near_title_text(page).to_lowercase();
    if GONE.iter().any(|w| text.contains(w)) {
        return Some(Availability::Discontinued);
    }
    UNAVAILABLE
        .iter()
        .any(|w| text.contains(w))
        .then_some(Availability::OutOfStock)
}

/// The text of the block that holds the product title (its parent, grandparent or the one
/// above, whichever is the first to hold more than the title), cut to a few thousand
/// characters; buy boxes and stock notes sit there.
fn near_title_text(page: &Page) -> String {
    let Some(title) = crate::heuristic::main_title(page) else {
        return String::new();
    };
    let own = element_text(title).len();
    let mut text = String::new();
    for block in title
        .ancestors()
        .filter_map(scraper::ElementRef::wrap)
        .take(3)
    {
        text = element_text(block);
        if text.len() > own + 80 {
            break;
        }
    }
    for el in page
        .html()
        .select(&sel(
            "[class*=availability], [id*=availability], [class*=stock-status]",
        ))
        .take(8)
    {
        text.push(' ');
        text.push_str(&element_text(el));
    }
    if text.len() > NEAR_TITLE_CHARS {
        let cut = (0..=NEAR_TITLE_CHARS)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
    }
    text
}

/// The digits of `price` as a page would write it: with two decimals, and without when it
/// is whole.
fn price_digits(price: Decimal) -> (String, Option<String>) {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let two = digits(&format!("{price:.2}"));
    let whole = price
        .fract()
        .is_zero()
        .then(|| digits(&format!("{price:.0}")));
    (two, whole)
}

/// The prices a page visibly shows: its price candidates outside site chrome, and every
/// number of its visible text (digits only, whatever the separators), to check a price that
/// came from elsewhere (an LLM answer, structured data) against the page.
#[derive(Debug, Clone, Default)]
pub struct ShownPrices {
    amounts: Vec<Decimal>,
    numbers: std::collections::HashSet<String>,
}

impl ShownPrices {
    /// The prices `page` shows (one pass over its text).
    pub fn of(page: &Page, cands: &[PriceCandidate]) -> Self {
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        let amounts = cands
            .iter()
            .filter(|c| !c.noise && c.score > -4.0)
            .map(|c| c.amount)
            .collect();
        let mut numbers = std::collections::HashSet::new();
        if let Some(body) = page.html().select(&sel("body")).next() {
            let text = element_text(body);
            // Numbers with spaces as grouping ("1 299,00") and numbers next to each other
            // ("19.99 24.99") both count.
            let grouped = text.split(|c: char| {
                !(c.is_ascii_digit() || matches!(c, '.' | ',' | ' ' | '\'' | '\u{a0}'))
            });
            let plain =
                text.split(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | ',' | '\'')));
            numbers.extend(grouped.chain(plain).map(digits).filter(|d| !d.is_empty()));
        }
        Self { amounts, numbers }
    }

    /// Whether the page shows `price`.
    pub fn shows(&self, price: Decimal) -> bool {
        if self.amounts.contains(&price) {
            return true;
        }
        let (two, whole) = price_digits(price);
        self.numbers.contains(&two) || whole.is_some_and(|w| self.numbers.contains(&w))
    }
}

/// Why a record's price was withheld.
#[derive(Debug, Clone, PartialEq)]
pub enum Abstain {
    /// The page says the product is no longer sold.
    Discontinued,
    /// The page says the product cannot be bought now and does not show the price.
    Unavailable,
    /// The evidence for the price is too weak or contradictory.
    Weak {
        /// The price's confidence.
        confidence: f64,
        /// The floor it fell under.
        floor: f64,
    },
}

impl std::fmt::Display for Abstain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Abstain::Discontinued => f.write_str("the page says the product is no longer sold"),
            Abstain::Unavailable => {
                f.write_str("the page says the product is unavailable and shows no price for it")
            }
            Abstain::Weak { confidence, floor } => write!(
                f,
                "the evidence is weak or contradictory (confidence {confidence:.2} < {floor:.2})"
            ),
        }
    }
}

/// Whether `record` (whose `confidence` is set) must give no price, and why.
pub fn abstention(
    page: &Page,
    record: &Record,
    cands: &[PriceCandidate],
    floor: f64,
) -> Option<Abstain> {
    let price = record.price?;
    if record.availability == Some(Availability::Discontinued) {
        return Some(Abstain::Discontinued);
    }
    if let Some(said) = stated_unavailability(page, record) {
        // Shops keep showing the price of a sold-out product, and "discontinued" may be said
        // of another model in a description: wording decides only when the page shows the
        // price nowhere.
        let shown = ShownPrices::of(page, cands).shows(price);
        if !shown {
            return Some(match said {
                Availability::Discontinued => Abstain::Discontinued,
                _ => Abstain::Unavailable,
            });
        }
    }
    let confidence = record.confidence.unwrap_or(0.0);
    (confidence < floor).then_some(Abstain::Weak { confidence, floor })
}
