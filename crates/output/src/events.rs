//! Change events: their kinds, the per-site rules (thresholds, cool-down, daily cap) and the
//! pure decisions the SQLite store takes with them when a record or a page visit changes
//! what it holds (`events_store.rs` runs them inside the store's transaction).
//!
//! The rules, as documented in the README ("Events and webhooks"):
//! * A price change is measured from the *reference price*: the price of the last emitted
//!   price event (or, before any, the first price seen). It is an event only when it meets
//!   every threshold that is set: `min_change` (absolute, in the currency) **and**
//!   `min_percent` (of the reference). A change below them is silent and the reference
//!   stays, so a price that flickers by a cent around it never adds up to an event.
//! * Cool-down: within `cooldown` of the last price event of a product, only a change in the
//!   *same direction* that again meets the thresholds (measured from the last emitted price)
//!   is an event: a further real drop is loud, a bounce back is silent until the cool-down
//!   is over (then it is compared with the reference like any change).
//! * Daily cap: at most `daily_cap` events of any kind per product per UTC day.
//! * Prices are compared only in one currency: a change of currency resets the reference
//!   silently (the history keeps both).
//! * In stock means `in_stock` or `limited_availability`; every other known availability
//!   (`out_of_stock`, `pre_order`, `back_order`, `discontinued`) is not in stock; an unknown
//!   one gives no availability event.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// First time the store sees the product.
    NewProduct,
    /// The price fell (by at least the thresholds).
    PriceDrop,
    /// The price rose (by at least the thresholds).
    PriceRise,
    /// Not in stock before, in stock now.
    BackInStock,
    /// In stock before, not now.
    OutOfStock,
    /// Its page answered 404/410, or a listing that held it no longer does.
    Gone,
}

impl EventKind {
    /// Every kind, in the order above.
    pub const ALL: [EventKind; 6] = [
        Self::NewProduct,
        Self::PriceDrop,
        Self::PriceRise,
        Self::BackInStock,
        Self::OutOfStock,
        Self::Gone,
    ];

    /// The label stored and shown (`price_drop`).
    pub fn label(self) -> &'static str {
        match self {
            Self::NewProduct => "new_product",
            Self::PriceDrop => "price_drop",
            Self::PriceRise => "price_rise",
            Self::BackInStock => "back_in_stock",
            Self::OutOfStock => "out_of_stock",
            Self::Gone => "gone",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// An unknown event kind, naming it and the known ones.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{0:?} is not an event kind (new_product, price_drop, price_rise, back_in_stock, out_of_stock, gone)"
)]
pub struct UnknownKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.label() == s)
            .ok_or_else(|| UnknownKind(s.into()))
    }
}

/// One change event as the store keeps it (and as it is delivered, in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The store's id of the event: unique and increasing; receivers drop duplicates by it.
    pub id: i64,
    /// What changed.
    pub kind: EventKind,
    /// The site's registered name.
    pub site: String,
    /// The product's URL.
    pub url: String,
    /// The product's title.
    pub title: Option<String>,
    /// The price before (exact decimal text).
    pub old_price: Option<String>,
    /// The price now.
    pub new_price: Option<String>,
    /// The currency of both prices.
    pub currency: Option<String>,
    /// `new_price - old_price` (price events).
    pub change: Option<String>,
    /// The change in percent of the old price, rounded to 2 decimals (price events).
    pub change_percent: Option<String>,
    /// The availability before (`in_stock`...).
    pub old_availability: Option<String>,
    /// The availability now.
    pub new_availability: Option<String>,
    /// When the event was committed (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// The crawl that found it.
    pub crawl_id: i64,
}

/// The event rules of one site (or the global default).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRules {
    /// A price change must be at least this much (absolute), when set.
    pub min_change: Option<Decimal>,
    /// A price change must be at least this percent of the reference price, when set.
    pub min_percent: Option<Decimal>,
    /// After a price event, a reversal is silent for this long.
    pub cooldown: Duration,
    /// Events per product per UTC day, at most.
    pub daily_cap: u32,
}

impl Default for EventRules {
    /// 1 % (no absolute minimum), a 6-hour cool-down, 5 events per product a day.
    fn default() -> Self {
        Self {
            min_change: None,
            min_percent: Some(Decimal::ONE),
            cooldown: Duration::from_secs(6 * 3600),
            daily_cap: 5,
        }
    }
}

/// What the store is told at open: the event rules, global and per site.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreOptions {
    /// The rules of sites without their own.
    pub rules: EventRules,
    /// Per-site rules, by registered site name.
    pub sites: BTreeMap<String, EventRules>,
}

impl StoreOptions {
    /// The rules for `site`.
    pub fn rules_for(&self, site: &str) -> &EventRules {
        self.sites.get(site).unwrap_or(&self.rules)
    }
}

/// How a crawl ended, told to the output before it finishes
/// ([`RecordSender::crawl_ended`](crate::RecordSender::crawl_ended)). Only a complete crawl
/// may call a product `gone` because a listing no longer shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrawlEnd {
    /// Every page was processed and the crawl was not mostly failures.
    Complete,
    /// Stopped early (Ctrl-C, SIGTERM, an output error).
    Interrupted,
    /// Ran to the end but failed (every page failed, a domain was stopped as blocked).
    Failed,
}

/// Whether an availability label counts as in stock; `None` for unknown labels.
pub(crate) fn in_stock(label: &str) -> Option<bool> {
    match label {
        "in_stock" | "limited_availability" => Some(true),
        "out_of_stock" | "pre_order" | "back_order" | "discontinued" => Some(false),
        _ => None,
    }
}

/// The de-flapping memory of one product (table `event_state`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProductState {
    /// The reference price: the last emitted one (or the first seen).
    pub(crate) ref_price: Option<Decimal>,
    /// Its currency.
    pub(crate) ref_currency: Option<String>,
    /// When the last price event was emitted.
    pub(crate) price_event_at: Option<DateTime<Utc>>,
    /// Its direction: -1 a drop, 1 a rise.
    pub(crate) direction: i8,
    /// The UTC day `day_count` counts (`2026-12-07`).
    pub(crate) day: Option<String>,
    /// Events emitted that day.
    pub(crate) day_count: u32,
    /// Whether a `gone` event was emitted and the product not seen since.
    pub(crate) gone: bool,
}

/// The outcome of a price change under the rules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PriceDecision {
    /// Nothing to compare (first price, a currency change, same price): the reference moves
    /// silently to the new price.
    Reset,
    /// An event of this kind, from the reference price.
    Emit(EventKind, Decimal),
    /// Silent; the reference stays. The reason, for debug logs.
    Suppress(&'static str),
}

/// Decides what a price of `price` in `currency` at `now` is under `rules`.
pub(crate) fn price_decision(
    rules: &EventRules,
    state: &ProductState,
    price: Decimal,
    currency: &str,
    now: DateTime<Utc>,
) -> PriceDecision {
    let Some(reference) = state.ref_price else {
        return PriceDecision::Reset;
    };
    if state.ref_currency.as_deref() != Some(currency) {
        return PriceDecision::Reset;
    }
    let delta = price - reference;
    if delta.is_zero() {
        return PriceDecision::Suppress("same price");
    }
    if !meets(rules, reference, delta) {
        return PriceDecision::Suppress("below the thresholds");
    }
    let direction: i8 = if delta.is_sign_negative() { -1 } else { 1 };
    if let Some(at) = state.price_event_at {
        let within = now
            .signed_duration_since(at)
            .to_std()
            .is_ok_and(|d| d < rules.cooldown)
            || now < at;
        if within && direction != state.direction {
            return PriceDecision::Suppress("a reversal within the cool-down");
        }
    }
    let kind = if direction < 0 {
        EventKind::PriceDrop
    } else {
        EventKind::PriceRise
    };
    PriceDecision::Emit(kind, reference)
}

/// Whether a change of `delta` from `reference` meets every threshold set.
fn meets(rules: &EventRules, reference: Decimal, delta: Decimal) -> bool {
    let abs = delta.abs();
    if rules.min_change.is_some_and(|m| abs < m) {
        return false;
    }
    match rules.min_percent {
        Some(p) if !reference.is_zero() => abs * Decimal::ONE_HUNDRED / reference.abs() >= p,
        _ => true,
    }
}

/// The change in percent of `old`, rounded to 2 decimals; `None` when `old` is 0.
pub(crate) fn percent(old: Decimal, new: Decimal) -> Option<Decimal> {
    (!old.is_zero()).then(|| {
        let mut p = ((new - old) * Decimal::ONE_HUNDRED / old).round_dp(2);
        p.rescale(2);
        p
    })
}

/// The UTC day of `t` (`2026-12-07`).
pub(crate) fn day_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Whether the daily cap lets one more event through at `now`; counts it when so.
pub(crate) fn take_cap(rules: &EventRules, state: &mut ProductState, now: DateTime<Utc>) -> bool {
    let today = day_of(now);
    if state.day.as_deref() != Some(today.as_str()) {
        state.day = Some(today);
        state.day_count = 0;
    }
    if state.day_count >= rules.daily_cap {
        return false;
    }
    state.day_count += 1;
    true
}

/// A time as the event tables keep it: RFC 3339, UTC, milliseconds (fixed width, so text
/// order is time order).
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A duration such as `90s`, `15m`, `6h`, `2d` or `1w` (a number and one unit; a bare
/// number is seconds). Hand-written: five units do not need a dependency.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("{s:?} is not a duration such as 90s, 15m, 6h, 2d or 1w");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    fn rules(min_change: Option<&str>, min_percent: Option<&str>) -> EventRules {
        EventRules {
            min_change: min_change.map(d),
            min_percent: min_percent.map(d),
            cooldown: Duration::from_secs(6 * 3600),
            daily_cap: 3,
        }
    }

    fn state(price: &str) -> ProductState {
        ProductState {
            ref_price: Some(d(price)),
            ref_currency: Some("USD".into()),
            ..ProductState::default()
        }
    }

    /// Applies a decision the way the store does: an emitted price becomes the reference.
    fn apply(r: &EventRules, s: &mut ProductState, price: &str, now: DateTime<Utc>) -> String {
        match price_decision(r, s, d(price), "USD", now) {
            PriceDecision::Emit(kind, _) => {
                s.ref_price = Some(d(price));
                s.price_event_at = Some(now);
                s.direction = if kind == EventKind::PriceDrop { -1 } else { 1 };
                kind.label().into()
            }
            PriceDecision::Reset => "reset".into(),
            PriceDecision::Suppress(_) => "-".into(),
        }
    }

    #[test]
    fn both_thresholds_must_be_met_when_both_are_set() {
        let r = rules(Some("1.00"), Some("5"));
        // 2 % and 2.00: the percent fails.
        assert_eq!(apply(&r, &mut state("100"), "98", at(0)), "-");
        // 10 % of 5.00 is 0.50: the absolute fails.
        assert_eq!(apply(&r, &mut state("5"), "4.50", at(0)), "-");
        assert_eq!(apply(&r, &mut state("100"), "94", at(0)), "price_drop");
        assert_eq!(apply(&r, &mut state("100"), "106.00", at(0)), "price_rise");
        // Only one set: only it counts.
        assert_eq!(
            apply(&rules(Some("1"), None), &mut state("5"), "4", at(0)),
            "price_drop"
        );
        assert_eq!(
            apply(&rules(None, Some("1")), &mut state("1000"), "995", at(0)),
            "-"
        );
        assert_eq!(
            apply(&rules(None, None), &mut state("10"), "9.99", at(0)),
            "price_drop"
        );
    }

    #[test]
    fn a_cent_flicker_is_silent_and_a_real_drop_loud() {
        let r = rules(None, Some("1"));
        let mut s = state("10.00");
        let seen: Vec<String> = ["9.99", "10.00", "9.99", "10.01", "9.99", "8.00"]
            .iter()
            .enumerate()
            .map(|(h, p)| apply(&r, &mut s, p, at(h as i64)))
            .collect();
        assert_eq!(seen, ["-", "-", "-", "-", "-", "price_drop"]);
        assert_eq!(s.ref_price, Some(d("8.00")));
    }

    #[test]
    fn within_the_cool_down_a_reversal_waits_and_a_further_drop_is_loud() {
        let r = rules(None, Some("5"));
        let mut s = state("100");
        assert_eq!(apply(&r, &mut s, "80", at(0)), "price_drop");
        // Back up within 6 h: silent, the reference stays 80.
        assert_eq!(apply(&r, &mut s, "100", at(1)), "-");
        // A further drop of 5 % or more from the last emitted price: loud at once.
        assert_eq!(apply(&r, &mut s, "70", at(2)), "price_drop");
        assert_eq!(apply(&r, &mut s, "68", at(3)), "-");
        // After the cool-down the rise is compared with the reference (70) and emitted.
        assert_eq!(apply(&r, &mut s, "100", at(9)), "price_rise");
    }

    #[test]
    fn the_daily_cap_counts_per_utc_day() {
        let r = rules(None, None);
        let mut s = ProductState::default();
        let taken: Vec<bool> = (0..5).map(|_| take_cap(&r, &mut s, at(1))).collect();
        assert_eq!(taken, [true, true, true, false, false]);
        assert!(take_cap(&r, &mut s, at(25)), "a new day");
    }

    #[test]
    fn currencies_and_first_prices_reset_silently() {
        let r = rules(None, None);
        let mut s = state("10");
        assert_eq!(
            price_decision(&r, &s, d("8"), "EUR", at(0)),
            PriceDecision::Reset
        );
        s.ref_price = None;
        assert_eq!(
            price_decision(&r, &s, d("8"), "USD", at(0)),
            PriceDecision::Reset
        );
        assert_eq!(percent(d("20"), d("15")).unwrap().to_string(), "-25.00");
        assert_eq!(percent(d("3"), d("2")), Some(d("-33.33")));
        assert_eq!(percent(d("0"), d("2")), None);
    }

    #[test]
    fn availability_labels_and_durations_and_kinds_parse() {
        assert_eq!(in_stock("limited_availability"), Some(true));
        assert_eq!(in_stock("back_order"), Some(false));
        assert_eq!(in_stock("whatever"), None);
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("soon").unwrap_err().contains("soon"));
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("").is_err());
        for k in EventKind::ALL {
            assert_eq!(k.label().parse::<EventKind>().unwrap(), k);
        }
        assert!("drop".parse::<EventKind>().is_err());
    }
}
