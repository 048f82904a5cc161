//! The product extraction entry point: every layer run on one parsed page, their records
//! merged into the page's product record.

use haul_core::{Extraction, Method, Record, Url};

use crate::evidence::{Evidence, evidence};
use crate::heuristic::{
    PriceCandidate, best_candidate, heuristic_title, heuristic_with, price_candidates,
};
use crate::jsonld::json_ld;
use crate::microdata::microdata;
use crate::opengraph::{og_type_is_product, open_graph};
use crate::page::Page;
use crate::text::{TitleWords, element_text, sel};
use crate::verdict::{
    Abstain, DEFAULT_MIN_CONFIDENCE, STRONG_PRICE, Vote, abstention, confidence, visibly_priced,
};

/// Extracts the product of a product page: parses `html` and runs
/// [`extract_page`]. Never panics; a page with no product gives an empty extraction.
pub fn extract_product(html: &str, url: &Url, site: &str) -> Extraction {
    extract_page(&Page::parse(html, url), site)
}

/// What the page's layers found, before merging (for diagnostics and custom merges).
#[derive(Debug, Clone, Default)]
pub struct Layers {
    /// The site the records are for.
    pub site: String,
    /// Records from JSON-LD.
    pub json_ld: Vec<Record>,
    /// Records from microdata.
    pub microdata: Vec<Record>,
    /// The OpenGraph / product meta record.
    pub open_graph: Option<Record>,
    /// The heuristic record.
    pub heuristic: Option<Record>,
    /// The heuristic price candidates, best first.
    pub candidates: Vec<PriceCandidate>,
    /// Price evidence from inline script state, `data-*` attributes, loose `itemprop`s and
    /// platform markup, strongest first.
    pub evidence: Vec<Evidence>,
}

/// Runs every layer on `page`.
pub fn layers(page: &Page, site: &str) -> Layers {
    // A cancelled parse (see `budget`) skips what is left; nobody reads the result.
    if crate::budget::stop() {
        return Layers::default();
    }
    let stop = crate::budget::stop;
    let candidates = price_candidates(page);
    Layers {
        site: site.to_string(),
        json_ld: if stop() {
            Vec::new()
        } else {
            json_ld(page, site)
        },
        microdata: if stop() {
            Vec::new()
        } else {
            microdata(page, site)
        },
        open_graph: if stop() { None } else { open_graph(page, site) },
        heuristic: heuristic_with(page, site, &candidates),
        evidence: if stop() { Vec::new() } else { evidence(page) },
        candidates,
    }
}

/// The words the page itself uses for its product: the `<h1>` chosen as title, `og:title`
/// and `<title>`.
fn page_title_reference(page: &Page) -> String {
    crate::text::title_reference(
        [
            heuristic_title(page),
            page.meta("og:title"),
            page.title_tag(),
        ]
        .into_iter()
        .flatten(),
    )
}

/// The record among `records` that is the page's own product: the one whose title matches
/// the page's title best (ties: the one with a price, then the first).
fn pick_main<'a>(records: &'a [Record], reference: &str) -> Option<&'a Record> {
    let words = TitleWords::new(reference);
    let scored = records.iter().map(|r| {
        let overlap = words.share_of(&r.title);
        (overlap + if r.price.is_some() { 0.05 } else { 0.0 }, r)
    });
    let (score, best) = scored.fold(None::<(f64, &Record)>, |best, (s, r)| match best {
        Some((bs, _)) if bs >= s => best,
        _ => Some((s, r)),
    })?;
    // Several products and none named like the page: a listing, not a product page.
    if records.len() >= 3 && score < 0.5 {
        return None;
    }
    Some(best)
}

/// Fills the empty fields of `r` from `other`. The price is only taken together with its
/// currency and list price.
fn fill(r: &mut Record, other: &Record) {
    if r.price.is_none() && other.price.is_some() {
        r.price = other.price;
        r.currency = other.currency;
        r.list_price = other.list_price;
    }
    if r.currency.is_none() && r.price.is_some() && other.price == r.price {
        r.currency = other.currency;
    }
    if r.list_price.is_none()
        && other.price == r.price
        && other.list_price.is_some_and(|l| Some(l) > r.price)
    {
        r.list_price = other.list_price;
    }
    macro_rules! take {
        ($($f:ident),*) => {$(
            if r.$f.is_none() {
                r.$f = other.$f.clone();
            }
        )*};
    }
    take!(
        availability,
        merchant,
        brand,
        image,
        sku,
        gtin,
        rating,
        rating_count
    );
}

/// Extracts the product of an already parsed page.
///
/// Layers, most trustworthy first: JSON-LD, microdata, OpenGraph, heuristics. The record is
/// the first layer's record that has a price (its `method` says which layer that was), with
/// empty fields filled from the other layers (title from `og:title` or the `<h1>` when the
/// structured data has none, image from `og:image`...). A page whose only evidence is a
/// heuristic title without a price gives no record; a page whose structured data lists
/// several products none of which is the page's own (a listing) gives one record per product
/// that has its own URL, with `source` set to the page.
pub fn extract_page(page: &Page, site: &str) -> Extraction {
    extract_page_at(page, site, DEFAULT_MIN_CONFIDENCE)
}

/// [`extract_page`] with the confidence below which the record gets no price (and a
/// warning) instead of a doubtful one: higher trades recall for precision.
pub fn extract_page_at(page: &Page, site: &str, min_confidence: f64) -> Extraction {
    extract_page_judged(page, site, min_confidence).extraction
}

/// A product extraction and why its record's price was withheld, if it was.
#[derive(Debug, Clone, Default)]
pub struct Judged {
    /// The extraction.
    pub extraction: Extraction,
    /// Why the record gives no price although the page had one.
    pub withheld: Option<Abstain>,
}

/// [`extract_page_at`], saying why a price was withheld (a caller may then ask an LLM).
pub fn extract_page_judged(page: &Page, site: &str, min_confidence: f64) -> Judged {
    let l = layers(page, site);
    judged_merge(page, l, min_confidence)
}

/// Merges the layers' records into the page's extraction (see [`extract_page`]).
///
/// A structured price that the page does not show anywhere outside site chrome and
/// recommendation blocks (a stale or default variant's price) gives way to the heuristic's
/// visible price; the record's `method` is then `heuristic`.
pub fn merge(page: &Page, l: Layers) -> Extraction {
    merge_at(page, l, DEFAULT_MIN_CONFIDENCE)
}

/// [`merge`], then the verdict: the record's `confidence`, and no price (with a warning)
/// when the page says the product is no longer sold or the confidence is under
/// `min_confidence`.
pub fn merge_at(page: &Page, l: Layers, min_confidence: f64) -> Extraction {
    judged_merge(page, l, min_confidence).extraction
}

fn judged_merge(page: &Page, l: Layers, min_confidence: f64) -> Judged {
    let mut out = Extraction::default();
    let reference = page_title_reference(page);
    let main_ld = pick_main(&l.json_ld, &reference).cloned();
    let main_md = pick_main(&l.microdata, &reference).cloned();
    let og_product = og_type_is_product(page);
    let og = l.open_graph.clone();
    let he = l.heuristic.clone();
    let best = best_candidate(&l.candidates);

    let structured = main_ld.is_some() || main_md.is_some();
    let ev = evidence_record(page, &l, best);
    // Evidence from the page's own state goes before the heuristic's guess unless the page
    // visibly shows the heuristic's price strongly and the evidence's price nowhere.
    let (ev_first, ev_last) = match ev {
        Some((r, shown)) if shown || best.is_none_or(|b| b.score < STRONG_PRICE) => (Some(r), None),
        Some((r, _)) => (None, Some(r)),
        None => (None, None),
    };
    let evidence_found = ev_first.is_some() || ev_last.is_some();
    let order: Vec<Record> = [main_ld, main_md, og.clone(), ev_first, he.clone(), ev_last]
        .into_iter()
        .flatten()
        .collect();
    let primary = order
        .iter()
        .find(|r| r.price.is_some())
        .cloned()
        .or_else(|| {
            order
                .iter()
                .find(|r| matches!(r.method, Method::JsonLd | Method::Microdata))
                .cloned()
        })
        .or_else(|| og.clone().filter(|_| og_product));
    let Some(mut record) = primary else {
        out.records = listing_records(page, &l);
        return Judged::of(out);
    };
    if record.method == Method::Heuristic
        && !structured
        && !og_product
        && !evidence_found
        && heuristic_price_is_no_product(page, best)
    {
        out.records = listing_records(page, &l);
        return Judged::of(out);
    }
    cross_check_shown_price(&mut record, he.as_ref(), &l.candidates, best);
    complete_record(page, &mut record, &order);
    let mut votes = votes(&order, best);
    votes.extend(l.evidence.iter().skip(1).map(|e| Vote {
        method: e.source.method(),
        price: e.price,
        weight: e.strength,
    }));
    let withheld = judge(
        page,
        &mut record,
        &votes,
        &l.candidates,
        min_confidence,
        &mut out,
    );
    out.records.push(record);
    Judged {
        extraction: out,
        withheld,
    }
}

/// Whether a title and a price found by the heuristics alone are no product: a page is a
/// product page only if its price is not one of many alike (product cards of a listing) and
/// it has something to buy with or the price is clearly the page's.
fn heuristic_price_is_no_product(page: &Page, best: Option<&PriceCandidate>) -> bool {
    let listing = best.is_some_and(|b| {
        b.lookalikes >= 2
            || (b.in_linked_card(page) && (b.lookalikes >= 1 || !has_buy_button(page)))
    });
    let weak = !has_buy_button(page) && best.is_none_or(|b| b.score < STRONG_PRICE);
    listing || weak
}

/// Cross-checks a structured price against what the page shows: it gives way to the
/// heuristic's when the page does not show it, or shows it as the former price of a sale
/// ("$39.90 $1.90").
fn cross_check_shown_price(
    record: &mut Record,
    he: Option<&Record>,
    candidates: &[PriceCandidate],
    best: Option<&PriceCandidate>,
) {
    if record.method != Method::Heuristic
        && let (Some(p), Some(h)) = (record.price, he)
        && let Some(hp) = h.price
        && hp != p
        && (!visibly_priced(candidates, p) || (h.list_price == Some(p) && hp < p))
        && best.is_some_and(|b| b.score >= 0.5)
    {
        record.price = h.price;
        record.list_price = h.list_price;
        record.currency = h.currency.or(record.currency);
        record.method = Method::Heuristic;
    }
}

/// Fills what the chosen record lacks from the other layers (`order`) and the page: title,
/// brand, image, currency and the canonical URL.
fn complete_record(page: &Page, record: &mut Record, order: &[Record]) {
    for other in order {
        fill(record, other);
    }
    if record.title.trim().is_empty()
        && let Some(t) = order
            .iter()
            .map(|r| &r.title)
            .find(|t| !t.trim().is_empty())
    {
        record.title = t.clone();
    }
    record.title = best_title(page, &record.title, order);
    record.brand = record.brand.as_deref().and_then(crate::text::clean_brand);
    if record.image.is_none() {
        record.image = ["og:image:secure_url", "og:image", "twitter:image"]
            .iter()
            .find_map(|k| page.meta(k).and_then(|u| page.resolve(&u)));
    }
    if record.currency.is_none() && record.price.is_some() {
        record.currency = page.stated_currency();
    }
    record.url = page.canonical_url().to_string();
}

impl Judged {
    fn of(extraction: Extraction) -> Self {
        Self {
            extraction,
            withheld: None,
        }
    }
}

/// Evidence weaker than this does not make a record on its own (it still votes).
const EVIDENCE_ALONE: f64 = 0.6;

/// The record of the page's strongest price evidence, and whether the page visibly shows
/// its price; `None` when there is no evidence strong enough to stand alone.
fn evidence_record(
    page: &Page,
    l: &Layers,
    best: Option<&PriceCandidate>,
) -> Option<(Record, bool)> {
    let e = l
        .evidence
        .first()
        .filter(|e| e.strength >= EVIDENCE_ALONE)?;
    let title = e
        .title
        .clone()
        .or_else(|| l.heuristic.as_ref().map(|h| h.title.clone()))
        .or_else(|| page.meta("og:title"))
        .or_else(|| page.title_tag())?;
    let mut r = Record::product(
        &l.site,
        page.canonical_url().as_str(),
        title,
        e.source.method(),
    );
    r.price = Some(e.price);
    r.list_price = e.list_price;
    r.currency = e.currency;
    r.availability = e.availability;
    let shown = visibly_priced(&l.candidates, e.price)
        || best.is_some_and(|b| b.high == Some(e.price) || b.amount == e.price);
    Some((r, shown))
}

/// The prices the layers give, each with what its source is worth alone.
fn votes(order: &[Record], best: Option<&PriceCandidate>) -> Vec<Vote> {
    order
        .iter()
        .filter_map(|r| {
            Some(Vote {
                method: r.method,
                price: r.price?,
                weight: crate::verdict::base_weight(r.method, best),
            })
        })
        .collect()
}

/// Sets the record's confidence and withholds its price when the verdict says so.
fn judge(
    page: &Page,
    record: &mut Record,
    votes: &[Vote],
    cands: &[PriceCandidate],
    min_confidence: f64,
    out: &mut Extraction,
) -> Option<Abstain> {
    if record.price.is_none() {
        out.warn(format!("{}: no price found", page.url()));
        return None;
    }
    record.confidence = Some(confidence(record, votes, cands));
    if let Some(why) = abstention(page, record, cands, min_confidence) {
        let price = record.price.take();
        record.list_price = None;
        record.currency = None;
        record.confidence = None;
        if matches!(why, Abstain::Discontinued) {
            record.availability = Some(haul_core::Availability::Discontinued);
        }
        let price = price.map(|p| p.to_string()).unwrap_or_default();
        out.warn(format!(
            "{}: no price given ({price} withheld: {why})",
            page.url()
        ));
        return Some(why);
    }
    if record.currency.is_none() {
        out.warn(format!(
            "{}: {}",
            page.url(),
            undecided_currency(page, record, cands)
        ));
    }
    None
}

/// Why a priced record has no currency: what the price as shown could mean, else that the
/// page names none.
fn undecided_currency(page: &Page, record: &Record, cands: &[PriceCandidate]) -> String {
    cands
        .iter()
        .filter(|c| Some(c.amount) == record.price)
        .find_map(|c| page.undecided_currency(&page.parse_price(&c.text, None)))
        .unwrap_or_else(|| "currency undecided: the page names no currency".to_string())
}

/// The title to keep: `current`, unless another layer's title (the visible `<h1>`, the
/// structured name, `og:title`) names the product the way the page's `<title>` does clearly
/// better (structured names sometimes carry a variant: "Robe - Free size / Blue").
fn best_title(page: &Page, current: &str, order: &[Record]) -> String {
    let Some(reference) = page.title_tag() else {
        return current.to_string();
    };
    let reference = TitleWords::new(&crate::text::title_reference([reference]));
    let base = reference.share_of(current);
    let mut best = (base, current.to_string());
    for r in order {
        let t = &r.title;
        if crate::text::title_tokens(t).len() < 2 || t.len() > 300 {
            continue;
        }
        let s = reference.share_of(t);
        if s > best.0 + 0.2 {
            best = (s, t.clone());
        }
    }
    best.1
}

/// Records of a listing page: structured products with their own URL.
fn listing_records(page: &Page, l: &Layers) -> Vec<Record> {
    let canonical = page.canonical_url().as_str();
    let mut seen = std::collections::HashSet::new();
    l.json_ld
        .iter()
        .chain(l.microdata.iter())
        .filter(|r| r.url != canonical && r.url != page.url().as_str())
        .filter(|r| seen.insert(r.url.clone()))
        .cloned()
        .map(|mut r| {
            r.source = Some(page.url().to_string());
            r
        })
        .collect()
}

/// Whether the page has something to buy with: an add-to-cart / buy button or form.
pub fn has_buy_button(page: &Page) -> bool {
    const WORDS: &[&str] = &[
        "add to cart",
        "add to bag",
        "add to basket",
        "add to trolley",
        "buy now",
        "buy it now",
        "add to order",
        "in den warenkorb",
        "ajouter au panier",
        "aggiungi al carrello",
        "añadir al carrito",
        "in winkelwagen",
        "pre-order",
        "preorder",
        "notify me",
        "sold out",
        "out of stock",
        // Other languages' buy buttons, and auctions' bid buttons.
        "comprar",
        "adicionar ao carrinho",
        "agregar al carr",
        "añadir a la cesta",
        "kaufen",
        "acheter",
        "ajouter au",
        "acquista",
        "dodaj do koszyka",
        "kup teraz",
        "do košíku",
        "kosárba",
        "lägg i varukorg",
        "köp",
        "læg i kurv",
        "legg i handlekurv",
        "lisää ostoskoriin",
        "sepete ekle",
        "в корзину",
        "купить",
        "カートに入れる",
        "購入",
        "장바구니",
        "구매",
        "加入购物车",
        "立即购买",
        "place bid",
        "bid now",
        "lägg bud",
        "bieten",
        "enchérir",
    ];
    for el in page
        .html()
        .select(&sel("button, input[type=submit], input[type=button], a[role=button], [class*=add-to-cart], [id*=add-to-cart], [class*=addToCart], [id*=addToCart], form[action*=cart]"))
    {
        let v = el.value();
        if v.name() == "form" || v.attr("class").is_some_and(|c| c.contains("add-to-cart") || c.contains("addToCart")) || v.attr("id").is_some_and(|c| c.contains("add-to-cart") || c.contains("addToCart")) {
            return true;
        }
        let text = format!(
            "{} {} {}",
            element_text(el),
            v.attr("value").unwrap_or(""),
            v.attr("aria-label").unwrap_or("")
        )
        .to_lowercase();
        if WORDS.iter().any(|w| text.contains(w)) {
            return true;
        }
    }
    false
}

/// Whether a page looks like a single product's page: structured product data, `og:type`
/// product, or a title with a price near it and a buy button.
pub fn looks_like_product_page(page: &Page) -> bool {
    let l = Layers {
        site: "probe".to_string(),
        json_ld: json_ld(page, "probe"),
        microdata: microdata(page, "probe"),
        open_graph: None,
        heuristic: None,
        candidates: Vec::new(),
        evidence: Vec::new(),
    };
    if !l.json_ld.is_empty() || !l.microdata.is_empty() || og_type_is_product(page) {
        return true;
    }
    has_buy_button(page) && crate::heuristic::main_title(page).is_some()
}
