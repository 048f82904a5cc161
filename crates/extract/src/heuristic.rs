//! Heuristics for pages without structured data: the product title (the `<h1>` that matches
//! the page title best) and the main price near it, told apart from "was" prices and from the
//! prices of related products, carousels, headers, footers and carts.
//!
//! Every element with a short text that reads as a price is a candidate. Candidates are
//! scored on what the markup says about them (`price` in a class or `itemprop`, a currency
//! sign, sale words), on what surrounds them (navigation, footers and recommendation blocks
//! count heavily against) and on their distance to the title in the DOM tree.

use std::collections::HashMap;

use ego_tree::NodeId;
use haul_core::{Availability, Currency, Decimal, Method, Record};
use scraper::ElementRef;

use crate::page::Page;
use crate::text::{INVISIBLE_TAGS, element_text, is_hidden, price_text, sel, token_overlap};

/// Words in class names, ids and the like that mark a price.
const PRICE_WORDS: &[&str] = &["price", "prc", "amount", "cost", "money", "pricing"];
/// Words that mark the current (sale) price.
#[rustfmt::skip]
const SALE_WORDS: &[&str] = &[
    "sale", "now", "current", "final", "special", "our", "deal", "offer", "youpay", "selling",
    "actual", "promo", "discount", "lead", "main", "primary", "big", "large", "highlight",
    "reduced", "today", "your",
];
/// Words that mark a former / list price.
#[rustfmt::skip]
const OLD_WORDS: &[&str] = &[
    "was", "old", "orig", "original", "list", "regular", "reg", "msrp", "compare", "strike",
    "before", "retail", "crossed", "rrp", "initial", "previous", "linethrough", "struck",
];
/// Class and id words of blocks whose prices belong to other products or to the shop.
#[rustfmt::skip]
pub(crate) const NOISE_LONG: &[&str] = &[
    "related", "recommend", "similar", "carousel", "slider", "upsell", "crosssell", "cross-sell",
    "recently", "viewed", "minicart", "mini-cart", "breadcrumb", "sponsor", "alsobought",
    "also-bought", "alsoviewed", "you-may", "youmay", "frequently", "footer", "megamenu", "navbar",
    "masthead", "newsletter", "bundle", "accessories", "complete-the-look", "completethelook",
    "trending", "bestseller", "best-seller", "popular", "others", "peoplealso", "people-also",
    "shoppingcart", "shopping-cart", "cartdrawer", "cart-drawer", "wishlist", "compare-products",
];
/// Short noise words, matched as whole words of a class or id.
const NOISE_SHORT: &[&str] = &[
    "nav", "menu", "header", "promo", "banner", "ads", "ad", "recs", "reco", "rr", "modal",
    "review", "reviews", "rating", "ratings", "shipping", "qa",
];
/// Tags whose content is site chrome, never the product.
pub(crate) const NOISE_TAGS: &[&str] = &["header", "footer", "nav"];
/// Words in a price's own text that say it is not the product's price.
#[rustfmt::skip]
const BAD_TEXT: &[&str] = &[
    "shipping", "ship ", "orders over", "saving", "order over", "save", "off", "reward", "points",
    "earn", "credit", "/mo", "per month", "month", "financ", "gift card", "coupon", "bonus",
    "cash back", "deposit", "fee", "tax", "bought", "sold", "review", "rating", "qty", "quantity",
    "items", "subtotal", "cart", "spend", "minimum", "or more", "and up", "delivery", "free",
    // Instalments ("12x de R$ 108,33", "6 cuotas de $ 14.999", "3 rate da") and per-unit
    // prices ("€ 24,95 per kg").
    "x de ", "cuota", "parcela", "sem juros", "sin interés", "installment", "instalment",
    "ratenzahlung", "monatlich", "/mes", "al mes", "por mes", " rate da", "per kg", "/kg",
    "per l", "/100", "pro kg", "par mois",
];

/// Words in a price's own text that make it a net price (before VAT), shown beside the gross
/// price a consumer pays.
#[rustfmt::skip]
pub(crate) const NET_TEXT: &[&str] = &[
    "zzgl", "excl. vat", "excl vat", "ex vat", "ex. vat", "exkl", "excl. tax", "ex tax",
    "netto", "hors tax", " ht", "sans tva", "sin iva", "bez dph", "bez vat", "ex. btw",
    "excl. btw", "exkl. moms", "ekskl. moms",
];

/// Whether a price's text marks it as a net price.
pub(crate) fn is_net(text: &str) -> bool {
    let lower = text.to_lowercase();
    NET_TEXT.iter().any(|k| lower.contains(k))
}
/// Words before a price that make it a former price.
#[rustfmt::skip]
const OLD_TEXT: &[&str] = &[
    "was", "list", "regular", "reg.", "reg ", "msrp", "compare", "originally", "orig", "retail",
    "value", "before", "rrp", "uvp", "statt",
];

/// Splits a class / id / attribute string into lower-case words, also at camelCase
/// boundaries: `productCurrentSellingPrice` gives `product current selling price`.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether `kw` is one of `ws`, or glued to a price word (`dealprice`, `pricenow`), or, for
/// long keywords, contained in one.
fn has_word(ws: &[String], kw: &str) -> bool {
    ws.iter().any(|w| {
        w == kw
            || (kw.len() >= 6 && w.contains(kw))
            || w.strip_prefix(kw)
                .is_some_and(|rest| PRICE_WORDS.iter().any(|p| rest.starts_with(p)) || rest == "s")
            || w.strip_suffix(kw)
                .is_some_and(|rest| PRICE_WORDS.iter().any(|p| rest.ends_with(p)))
    })
}

/// The words of an element's identifying attributes: class, id, itemprop, name, and every
/// short `data-*` / `aria-*` / binding attribute (names and values).
pub(crate) fn signature(el: ElementRef<'_>) -> Vec<String> {
    let mut s = String::new();
    for (name, value) in el.value().attrs() {
        let identifier_like = value.len() <= 40
            && !value.contains(['/', ':', ' ', '?', '='])
            && value.chars().any(char::is_alphabetic);
        match name {
            "class" | "id" | "itemprop" | "name" | "role" => {
                s.push(' ');
                s.push_str(value);
            }
            _ if name.starts_with("data-") || name.starts_with("ng-") => {
                s.push(' ');
                s.push_str(name);
                if identifier_like {
                    s.push(' ');
                    s.push_str(value);
                }
            }
            _ => {}
        }
    }
    words(&s)
}

/// Whether an element's own class / id says it is a block about other products or site
/// chrome (related products, carousels, recommendations, mini cart, footer...).
pub(crate) fn is_noise_block(el: ElementRef<'_>) -> bool {
    let v = el.value();
    if matches!(v.name(), "html" | "body") {
        return false;
    }
    let joined = signature(el).join("-");
    NOISE_LONG.iter().any(|k| joined.contains(k))
}

pub(crate) fn is_noise_sig(ws: &[String]) -> bool {
    let joined = ws.join("-");
    NOISE_LONG.iter().any(|k| joined.contains(k))
        || ws.iter().any(|w| NOISE_SHORT.contains(&w.as_str()))
}

/// Whether an element sits in site chrome or in a block about other products.
fn in_noise(page: &Page, el: ElementRef<'_>) -> bool {
    page.facts().of(el).noise.is_some()
}

/// The ancestor that makes an element noise, described (`footer`, `div[related products]`).
/// Ancestors that also contain the title (in `title_chain`) are the page's own wrappers and
/// never count: they are the ancestors above the nearest one shared with the title, so the
/// nearest noise ancestor decides.
fn noise_reason(
    page: &Page,
    el: ElementRef<'_>,
    title_chain: &HashMap<NodeId, usize>,
) -> Option<String> {
    let id = page.facts().of(el).noise?;
    if title_chain.contains_key(&id) {
        return None;
    }
    let a = page.html().tree.get(id).and_then(ElementRef::wrap)?;
    let name = a.value().name();
    Some(if NOISE_TAGS.contains(&name) {
        name.to_string()
    } else {
        format!("{name}[{}]", signature(a).join(" "))
    })
}

/// Whether an element or an ancestor makes it invisible.
fn invisible(page: &Page, el: ElementRef<'_>) -> bool {
    page.facts().of(el).invisible
}

/// The element holding the product title: the visible `<h1>` (or, without a fitting one, an
/// element marked as the product name) whose words best match the page's `og:title` /
/// `<title>`, outside navigation and recommendation blocks.
pub fn main_title<'a>(page: &'a Page) -> Option<ElementRef<'a>> {
    if crate::budget::stop() {
        return None;
    }
    let reference = crate::text::title_reference(
        [page.meta("og:title"), page.title_tag()]
            .into_iter()
            .flatten(),
    );
    let words = crate::text::TitleWords::new(&reference);
    let mut best: Option<(f64, ElementRef<'a>)> = None;
    let mut consider = |el: ElementRef<'a>, bonus: f64| {
        let text = element_text(el);
        if text.chars().count() < 2 || text.chars().count() > 300 || invisible(page, el) {
            return;
        }
        // Only blocks that are clearly about other things count against a title: short
        // words such as "header" or "nav" also name the page's own wrappers.
        let noise = page.facts().of(el).in_title_noise;
        let (precision, recall) = if reference.is_empty() {
            (0.5, 0.0)
        } else {
            (words.share_of(&text), token_overlap(&reference, &text))
        };
        let score = precision + 0.1 * recall + bonus - if noise { 1.0 } else { 0.0 };
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, el));
        }
    };
    for h in page.html().select(&sel("h1")) {
        consider(h, 0.15);
    }
    for el in page.html().select(&sel(
        "[itemprop=name], [class*=product-title], [class*=product-name], [class*=productName], \
         [class*=productTitle], [class*=product_title], [class*=product_name], [id*=product-title], \
         [id*=productTitle], [id*=product_title], [id*=productName], [class*=pdp-title], h2, \
         [class*=title i], [id*=title i]",
    )) {
        if el.value().name() == "meta" {
            continue;
        }
        consider(el, 0.0);
    }
    best.filter(|(s, _)| *s > 0.25).map(|(_, el)| el)
}

/// One price found on the page by the heuristics.
#[derive(Debug, Clone)]
pub struct PriceCandidate {
    /// The amount.
    pub amount: Decimal,
    /// The currency, when written or stated by the page.
    pub currency: Option<Currency>,
    /// The element's text.
    pub text: String,
    /// How likely this is the product's price (higher is better; comparable within a page).
    pub score: f64,
    /// Whether it reads as a former / list price (struck through, "was", "list price"...).
    pub old: bool,
    /// The highest amount in the element's text when it shows several ("Was $5 Now $4").
    pub high: Option<Decimal>,
    /// Whether it sits in site chrome or a block about other products.
    pub noise: bool,
    /// How many other candidates outside noise blocks have the same markup (tag and class)
    /// and another amount: product cards of a listing.
    pub lookalikes: usize,
    /// Tag and class of the element, and of its parent.
    shape: String,
    /// The features behind the score, for diagnostics.
    pub why: String,
    node: NodeId,
    /// The page's main title element, if any (a product card never holds it).
    title: Option<NodeId>,
}

/// How many price candidates a page yields at most (the first in document order). Real pages
/// have hundreds; the bound keeps a page made of nothing but prices linear.
const MAX_PRICE_CANDIDATES: usize = 20_000;

/// The price candidates of a page, best first.
pub fn price_candidates(page: &Page) -> Vec<PriceCandidate> {
    if crate::budget::stop() {
        return Vec::new();
    }
    let title = main_title(page);
    if crate::budget::stop() {
        return Vec::new();
    }
    let html = page.html();
    let all: Vec<ElementRef<'_>> = html
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
        .collect();
    let index: HashMap<NodeId, usize> = all.iter().enumerate().map(|(i, e)| (e.id(), i)).collect();
    // Descendant element counts, bottom-up over the pre-order list.
    let mut counts = vec![0usize; all.len()];
    for i in (0..all.len()).rev() {
        if let Some(p) = all[i].parent().and_then(|p| index.get(&p.id())) {
            counts[*p] += counts[i] + 1;
        }
    }
    let title = Title {
        chain: title
            .map(|t| {
                std::iter::once(t.id())
                    .chain(t.ancestors().map(|a| a.id()))
                    .enumerate()
                    .map(|(steps, id)| (id, steps))
                    .collect()
            })
            .unwrap_or_default(),
        index: title.and_then(|t| index.get(&t.id()).copied()),
    };

    let mut out = Vec::new();
    for (i, el) in all.iter().enumerate() {
        if out.len() >= MAX_PRICE_CANDIDATES || (i % 4096 == 4095 && crate::budget::stop()) {
            break;
        }
        let el = *el;
        let name = el.value().name();
        if INVISIBLE_TAGS.contains(&name) || matches!(name, "html" | "body" | "head") {
            continue;
        }
        for text in candidate_texts(el, counts[i] <= 12) {
            out.extend(evaluate_text(page, el, text, &title, i));
        }
    }
    // Candidates outside noise per shape, and per shape and amount (counted, not compared
    // pairwise: a listing of 100,000 cards made 10^10 comparisons).
    let mut per_shape: HashMap<&str, usize> = HashMap::new();
    let mut per_amount: HashMap<(&str, Decimal), usize> = HashMap::new();
    for c in out.iter().filter(|c| !c.noise) {
        *per_shape.entry(&c.shape).or_default() += 1;
        *per_amount.entry((&c.shape, c.amount)).or_default() += 1;
    }
    let lookalikes: Vec<usize> = out
        .iter()
        .map(|c| {
            let shape = per_shape.get(c.shape.as_str()).copied().unwrap_or(0);
            let same = per_amount
                .get(&(c.shape.as_str(), c.amount))
                .copied()
                .unwrap_or(0);
            shape - same
        })
        .collect();
    let title_node = title
        .chain
        .iter()
        .find(|(_, steps)| **steps == 0)
        .map(|(id, _)| *id);
    for (c, n) in out.iter_mut().zip(lookalikes) {
        c.lookalikes = n;
        c.title = title_node;
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// Tag and class of an element and of its parent, such as `span.price<li.card`.
fn shape(el: ElementRef<'_>) -> String {
    let one = |e: ElementRef<'_>| {
        format!(
            "{}.{}",
            e.value().name(),
            e.value().attr("class").unwrap_or("")
        )
    };
    let parent = el
        .parent()
        .and_then(ElementRef::wrap)
        .map(one)
        .unwrap_or_default();
    format!("{}<{parent}", one(el))
}

/// The element's own text (its text children, not its descendants'), normalised.
fn own_text(el: ElementRef<'_>) -> String {
    let parts: Vec<&str> = el
        .children()
        .filter_map(|c| c.value().as_text().map(|t| &**t))
        .collect();
    crate::text::normalize_space(&parts.join(" "))
}

/// Where the page's title is: the title element and its ancestors with the steps up to each
/// (empty without a title), and the title's index in document order.
struct Title {
    chain: HashMap<NodeId, usize>,
    index: Option<usize>,
}

/// The texts of one element that may be prices: its whole text when `small`, and its own text
/// (without its children's) when that differs: a price followed by a reviews widget or a
/// rewards line ("$69.99" + "Earn up to 70 points") is still a price.
fn candidate_texts(el: ElementRef<'_>, small: bool) -> Vec<String> {
    if el.value().name() == "meta" {
        // Not visible; the microdata layer reads it.
        return Vec::new();
    }
    let full = if small { price_text(el) } else { String::new() };
    let own = own_text(el);
    let mut out = Vec::new();
    if own != full && !own.is_empty() {
        out.push(own);
    }
    if !full.is_empty() {
        out.insert(0, full);
    }
    out
}

/// Words of a price text that do not make it less of a price ("now", "our price", codes).
#[rustfmt::skip]
const PRICE_TEXT_WORDS: &[&str] = &[
    "now", "sale", "price", "our", "your", "only", "from", "starting", "at", "us", "each", "was",
    "list", "regular", "usd", "eur", "gbp", "cad", "aud", "you", "pay", "today", "special", "reg",
];

/// An element's own markup words and those of its three nearest ancestors.
struct Surroundings<'a> {
    ancestors: Vec<ElementRef<'a>>,
    /// Signatures: the element's, then its ancestors', nearest first.
    sigs: Vec<Vec<String>>,
}

impl<'a> Surroundings<'a> {
    fn new(el: ElementRef<'a>) -> Self {
        let ancestors: Vec<ElementRef<'a>> = el
            .ancestors()
            .filter_map(ElementRef::wrap)
            .take(3)
            .collect();
        let sigs = std::iter::once(signature(el))
            .chain(ancestors.iter().map(|a| signature(*a)))
            .collect();
        Self { ancestors, sigs }
    }

    /// Whether the markup `level` steps up (0: the element) names a price.
    fn priceish_at(&self, level: usize) -> bool {
        self.sigs
            .get(level)
            .is_some_and(|ws| PRICE_WORDS.iter().any(|k| ws.iter().any(|w| w.contains(k))))
    }
}

/// A candidate text that reads as a price.
struct Reading {
    prices: Vec<haul_price::Price>,
    /// The first price with a positive amount.
    first: haul_price::Price,
    has_currency: bool,
    lower: String,
    /// Words other than price words ("Earn 70 points").
    extra_words: usize,
}

/// The candidates of one text: stage by stage, whether it reads as a price, how it scores,
/// and which amount it stands for.
fn evaluate_text(
    page: &Page,
    el: ElementRef<'_>,
    text: String,
    title: &Title,
    index: usize,
) -> Option<PriceCandidate> {
    if text.chars().count() > 60 || !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let around = Surroundings::new(el);
    let reading = read_price_text(page, el, &text, &around)?;
    let mut why: Vec<String> = Vec::new();
    let mut score = markup_score(el, &around, &reading);
    let label = preceding_label(el);
    let old = reads_old(el, &around, &reading, &label);
    penalize_text(&reading, &label, &mut score, &mut why);
    let noise = noise_reason(page, el, &title.chain);
    if let Some(reason) = &noise {
        score -= 12.0;
        why.push(format!("noise {reason}"));
    }
    if !title.chain.is_empty() {
        penalize_distance(el, title, index, &mut score, &mut why);
    }
    let amount = candidate_amount(&reading)?;
    Some(PriceCandidate {
        amount: amount.amount,
        currency: amount.currency,
        text,
        score,
        old: old && !amount.was_now,
        high: amount.high,
        noise: noise.is_some(),
        lookalikes: 0,
        shape: shape(el),
        why: why.join("; "),
        node: el.id(),
        title: None,
    })
}

/// Stage 1: whether a short text with digits reads as a visible price: a positive amount,
/// with a currency or in price markup, not the cents of a split price, not a number among
/// words.
fn read_price_text(
    page: &Page,
    el: ElementRef<'_>,
    text: &str,
    around: &Surroundings<'_>,
) -> Option<Reading> {
    let prices = page.find_prices(text);
    let first = prices
        .iter()
        .find(|p| p.amount.is_some_and(|a| a > Decimal::ZERO))?
        .clone();
    let has_currency = first.currency_text.is_some();
    if !(has_currency || around.priceish_at(0) || around.priceish_at(1)) {
        return None;
    }
    // A piece of a split price (the "57" cents of "$31.57"): its parent is the price.
    if !has_currency && let Some(parent) = around.ancestors.first() {
        let pt = price_text(*parent);
        if pt.len() <= 60
            && pt.len() > text.len()
            && page.parse_price(&pt, None).currency_text.is_some()
        {
            return None;
        }
    }
    let lower = text.to_lowercase();
    let extra_words = lower
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .filter(|w| !PRICE_TEXT_WORDS.contains(&w.trim_matches(|c: char| !c.is_alphanumeric())))
        .count();
    // A number without a currency is only a price when it stands (almost) alone.
    if !has_currency && extra_words > 1 {
        return None;
    }
    if invisible(page, el) {
        return None;
    }
    Some(Reading {
        prices,
        first,
        has_currency,
        lower,
        extra_words,
    })
}

/// Stage 2: what the markup and the text say for the candidate: a currency, price words in
/// the classes near it, `itemprop=price`, sale words.
fn markup_score(el: ElementRef<'_>, around: &Surroundings<'_>, reading: &Reading) -> f64 {
    let mut score = 0.0;
    if reading.has_currency {
        score += 3.0;
    }
    score += [3.0, 2.0, 1.0, 0.5]
        .iter()
        .enumerate()
        .filter(|(l, _)| around.priceish_at(*l))
        .map(|(_, w)| *w)
        .fold(0.0, f64::max);
    if around
        .sigs
        .iter()
        .take(2)
        .any(|ws| ws.iter().any(|w| w == "price") && ws.iter().any(|w| w == "itemprop"))
        || el
            .value()
            .attr("itemprop")
            .is_some_and(|p| p.eq_ignore_ascii_case("price"))
    {
        score += 2.0;
    }
    if around
        .sigs
        .iter()
        .take(3)
        .any(|ws| SALE_WORDS.iter().any(|k| has_word(ws, k)))
    {
        score += 1.5;
    }
    if [
        "now",
        "sale",
        "our price",
        "you pay",
        "your price",
        "special",
        "today",
    ]
    .iter()
    .any(|k| reading.lower.contains(k))
    {
        score += 1.5;
    }
    score
}

/// Stage 3: whether the candidate reads as a former price: struck through, marked old in its
/// markup, or labelled "was" / "list price".
fn reads_old(
    el: ElementRef<'_>,
    around: &Surroundings<'_>,
    reading: &Reading,
    label: &str,
) -> bool {
    let struck = std::iter::once(el)
        .chain(around.ancestors.iter().copied())
        .any(|a| {
            matches!(a.value().name(), "del" | "s" | "strike")
                || a.value()
                    .attr("style")
                    .is_some_and(|s| s.contains("line-through"))
        });
    let old_attr = around
        .sigs
        .iter()
        .take(3)
        .any(|ws| OLD_WORDS.iter().any(|k| has_word(ws, k)));
    let old_text = OLD_TEXT.iter().any(|k| {
        reading.lower.starts_with(k)
            || label.ends_with(k.trim())
            || label.ends_with(&format!("{}:", k.trim()))
    });
    struck || old_attr || old_text
}

/// Stage 4: what counts against the candidate's text: shipping, savings, points and the
/// like, a discount label before it, and words around the number.
fn penalize_text(reading: &Reading, label: &str, score: &mut f64, why: &mut Vec<String>) {
    let lower = &reading.lower;
    let discount_label = ["save", "saving", "discount", "off:", "rebate", "coupon"]
        .iter()
        .any(|k| label.contains(k));
    if BAD_TEXT.iter().any(|k| lower.contains(k))
        || NET_TEXT.iter().any(|k| lower.contains(k))
        || discount_label
        || lower.contains("-$")
        || lower.contains("- $")
    {
        *score -= 6.0;
        why.push("bad text".to_string());
    }
    *score -= (reading.extra_words as f64 * 0.7).min(4.0);
}

/// Stage 5: how far the candidate is from the title: tree distance through their lowest
/// common ancestor, and distance in document order (the title's index against `index`).
fn penalize_distance(
    el: ElementRef<'_>,
    title: &Title,
    index: usize,
    score: &mut f64,
    why: &mut Vec<String>,
) {
    let dist = std::iter::once(el.id())
        .chain(el.ancestors().map(|a| a.id()))
        .enumerate()
        .find_map(|(up, a)| title.chain.get(&a).map(|t| up + t))
        .unwrap_or(40);
    *score -= dist.min(20) as f64 * 0.35;
    why.push(format!("dist {dist}"));
    if let Some(ti) = title.index {
        let gap = index.abs_diff(ti) as f64;
        *score -= (gap / 150.0).min(3.0);
        if index < ti {
            *score -= 1.0;
        }
    }
}

/// The amount a candidate stands for.
struct Amount {
    amount: Decimal,
    currency: Option<Currency>,
    /// The higher amount of a "was / now" pair.
    high: Option<Decimal>,
    /// The text shows a former and a current price.
    was_now: bool,
}

/// Stage 6: the amount the candidate stands for. Two prices in one element: a range
/// ("$19.95 – $24.95", "from $5 to $9") reads as its low end; otherwise ("$79.99 $39.99",
/// "Was $5 Now $4") the lower is the current price and the higher the former one.
fn candidate_amount(reading: &Reading) -> Option<Amount> {
    let lower = &reading.lower;
    let amounts: Vec<Decimal> = reading
        .prices
        .iter()
        .filter_map(|p| p.amount)
        .filter(|a| *a > Decimal::ZERO)
        .collect();
    let min = amounts.iter().min().copied()?;
    let max = amounts.iter().max().copied()?;
    let is_range = amounts.len() == 2
        && (lower.contains(" - ")
            || lower.contains('–')
            || lower.contains('—')
            || lower.contains(" to ")
            || lower.contains("-$")
            || (lower.contains('-') && !lower.contains("(-")));
    let was_now = amounts.len() > 1
        && (OLD_TEXT.iter().any(|k| lower.contains(k))
            || lower.contains("now")
            || lower.contains("sale")
            || (amounts.len() == 2 && !is_range));
    let currency = reading
        .prices
        .iter()
        .find(|p| p.amount == Some(min))
        .and_then(|p| p.currency)
        .or(reading.first.currency);
    Some(Amount {
        amount: if was_now {
            min
        } else {
            reading.first.amount.unwrap_or(min)
        },
        currency,
        high: (was_now && max > min).then_some(max),
        was_now,
    })
}

/// The text just before an element inside its parent (a label such as "Was:" or "List
/// Price:"), lower-cased and trimmed.
fn preceding_label(el: ElementRef<'_>) -> String {
    let mut s = String::new();
    for sib in el.prev_siblings().take(3) {
        let t = match sib.value() {
            scraper::Node::Text(t) => t.to_string(),
            scraper::Node::Element(_) => {
                ElementRef::wrap(sib).map(element_text).unwrap_or_default()
            }
            _ => continue,
        };
        s = format!("{t} {s}");
        if s.trim().len() > 30 {
            break;
        }
    }
    let s = s.trim().to_lowercase();
    s.chars()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<String>()
        .trim()
        .to_string()
}

/// How many ancestors up a product card's link is looked for from its price.
const CARD_DEPTH: usize = 3;
/// The most elements a product card holds (a product page's price block with the title and
/// the buy box is bigger, or holds the page's main title).
const CARD_SIZE: usize = 40;

impl PriceCandidate {
    /// Whether the price sits in a product card: within a few ancestors, a small block (not
    /// the page's body or main) that holds a link to another page of the site (the card's
    /// product link) with text or an image, and neither the page's main title nor an `h1`.
    /// A listing's last page with one or two cards has too few lookalikes to tell it from a
    /// product page; its cards still look like this.
    pub fn in_linked_card(&self, page: &Page) -> bool {
        let tree = &page.html().tree;
        let Some(node) = tree.get(self.node) else {
            return false;
        };
        let title = self.title;
        let here = page.url();
        for block in node
            .ancestors()
            .take(CARD_DEPTH)
            .filter_map(ElementRef::wrap)
        {
            // The size first: every other look at the block is then bounded by it.
            if matches!(block.value().name(), "body" | "html" | "main")
                || block.descendants().nth(CARD_SIZE).is_some()
            {
                return false;
            }
            let headed = block
                .descendants()
                .filter_map(ElementRef::wrap)
                .any(|d| d.value().name() == "h1" || title.is_some_and(|t| d.id() == t));
            if headed {
                return false;
            }
            let linked = block.descendants().filter_map(ElementRef::wrap).any(|a| {
                a.value().name() == "a"
                    && a.value()
                        .attr("href")
                        .and_then(|h| page.resolve(h))
                        .is_some_and(|to| {
                            haul_core::Url::parse(&to).is_ok_and(|to| {
                                to.host_str() == here.host_str()
                                    && (to.path() != here.path() || to.query() != here.query())
                            })
                        })
                    && (!element_text(a).trim().is_empty()
                        || a.descendants()
                            .filter_map(ElementRef::wrap)
                            .any(|d| d.value().name() == "img"))
            });
            if linked {
                return true;
            }
        }
        false
    }
}

/// The tree distance between two nodes.
fn tree_distance(page: &Page, a: NodeId, b: NodeId) -> usize {
    let tree = &page.html().tree;
    let chain = |id: NodeId| -> Vec<NodeId> {
        tree.get(id)
            .map(|n| {
                std::iter::once(n.id())
                    .chain(n.ancestors().map(|a| a.id()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let ca = chain(a);
    let cb = chain(b);
    for (i, x) in ca.iter().enumerate() {
        if let Some(j) = cb.iter().position(|y| y == x) {
            return i + j;
        }
    }
    usize::MAX
}

/// The record the heuristics find: the title element's text, and the best price candidate
/// (with a nearby former price as `list_price`). `None` when the page has no recognisable
/// title.
pub fn heuristic(page: &Page, site: &str) -> Option<Record> {
    heuristic_with(page, site, &price_candidates(page))
}

/// The candidate the heuristics take as the product's price: the best-scored one that is
/// not a former price (else the best one), if any scores above the noise floor.
pub fn best_candidate(cands: &[PriceCandidate]) -> Option<&PriceCandidate> {
    let best = |old_ok: bool| {
        cands
            .iter()
            .filter(|c| (old_ok || !c.old) && c.score > -4.0)
            .max_by(|a, b| a.score.total_cmp(&b.score))
    };
    best(false).or_else(|| best(true))
}

/// The title the heuristics see: the chosen title element's text, else `og:title` or
/// `<title>`.
pub fn heuristic_title(page: &Page) -> Option<String> {
    match main_title(page) {
        Some(el) => Some(title_text(page, el)).filter(|t| !t.is_empty()),
        None => None,
    }
    .or_else(|| page.meta("og:title"))
    .or_else(|| page.title_tag())
}

/// [`heuristic`] with the page's price candidates already computed.
pub fn heuristic_with(page: &Page, site: &str, cands: &[PriceCandidate]) -> Option<Record> {
    let title = heuristic_title(page)?;
    let mut r = Record::product(
        site,
        page.canonical_url().as_str(),
        title,
        Method::Heuristic,
    );
    if let Some(m) = best_candidate(cands) {
        r.price = Some(m.amount);
        r.currency = m.currency;
        r.list_price = m.high.or_else(|| {
            cands
                .iter()
                .filter(|c| c.old && c.amount > m.amount && c.score > -6.0)
                .filter(|c| tree_distance(page, c.node, m.node) <= 8)
                .max_by(|a, b| a.score.total_cmp(&b.score))
                .map(|c| c.amount)
        });
    }
    r.availability = availability(page);
    r.image = image(page);
    Some(r)
}

/// The text of a title element without the parts that are prices or ratings (some shops put
/// the price inside the `<h1>`).
fn title_text(page: &Page, el: ElementRef<'_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    collect_title(page, el, 0, &mut parts);
    crate::text::normalize_space(&parts.join(" "))
}

fn collect_title(page: &Page, el: ElementRef<'_>, depth: usize, out: &mut Vec<String>) {
    if depth > crate::text::MAX_DEPTH {
        return;
    }
    for child in el.children() {
        match child.value() {
            scraper::Node::Text(t) => out.push(t.to_string()),
            scraper::Node::Element(e) => {
                let Some(c) = ElementRef::wrap(child) else {
                    continue;
                };
                if INVISIBLE_TAGS.contains(&e.name()) || is_hidden(c) {
                    continue;
                }
                let sig = signature(c);
                let priceish = sig
                    .iter()
                    .any(|w| PRICE_WORDS.iter().any(|k| w.contains(k)) || w.contains("rating"));
                let text = element_text(c);
                let looks_price = text.len() <= 30
                    && text.bytes().any(|b| b.is_ascii_digit())
                    && page.parse_price(&text, None).currency_text.is_some();
                if priceish || looks_price {
                    continue;
                }
                collect_title(page, c, depth + 1, out);
            }
            _ => {}
        }
    }
}

fn availability(page: &Page) -> Option<Availability> {
    for el in page.html().select(&sel("[itemprop=availability]")) {
        let v = el.value();
        let s = v
            .attr("href")
            .or_else(|| v.attr("content"))
            .map(str::to_string)
            .unwrap_or_else(|| element_text(el));
        if let Some(a) = Availability::parse(&s) {
            return Some(a);
        }
    }
    for el in page.html().select(&sel(
        "[class*=availability], [class*=stock], [id*=availability], [id*=stock]",
    )) {
        let t = element_text(el);
        if t.len() <= 40
            && !in_noise(page, el)
            && let Some(a) = Availability::parse(&t)
        {
            return Some(a);
        }
    }
    None
}

fn image(page: &Page) -> Option<String> {
    for el in page.html().select(&sel("[itemprop=image]")) {
        let v = el.value();
        if let Some(u) = v
            .attr("src")
            .or_else(|| v.attr("content"))
            .or_else(|| v.attr("href"))
            .and_then(|s| page.resolve(s))
        {
            return Some(u);
        }
    }
    for el in page.html().select(&sel("img")) {
        let ws = signature(el);
        let main = ["main", "primary", "hero", "product", "zoom"]
            .iter()
            .any(|k| ws.iter().any(|w| w.contains(k)));
        if main
            && !in_noise(page, el)
            && let Some(u) = el
                .value()
                .attr("src")
                .or_else(|| el.value().attr("data-src"))
                .and_then(|s| page.resolve(s))
        {
            return Some(u);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_camel_case_and_separators() {
        assert_eq!(
            words("productCurrentSellingPrice"),
            ["product", "current", "selling", "price"]
        );
        assert_eq!(words("pdp-sale_price x2"), ["pdp", "sale", "price", "x2"]);
        assert!(has_word(&words("priceblock_dealprice"), "deal"));
        assert!(has_word(&words("price-old"), "old"));
        assert!(!has_word(&words("listing-price"), "list"));
        assert!(!has_word(&words("your-account"), "our"));
    }
}
