//! Key rotation: round robin over healthy keys, cooldown after 429, dead keys after 401/403,
//! per-key pacing (requests per minute with the provider's burst, tokens per minute), per-key
//! counters.
//!
//! # Pacing
//!
//! Each key's request limit is a token bucket, written as a GCRA (generic cell rate
//! algorithm: one "theoretical arrival time" per key): `per_key_rpm` requests a minute on
//! average, at most `per_key_burst` back to back. Every HTTP request (first try, retry after
//! a 5xx or timeout, continuation round, JSON repair) goes through it, in two steps:
//!
//! 1. [`KeyRing::acquire`] *books* the earliest slot over all keys (the key that frees first)
//!    under one lock, and the worker sleeps until then without an in-flight permit, so waiting
//!    workers never poll the limiters nor wake in a herd;
//! 2. [`KeyRing::commit`], called once the worker holds its in-flight permit, right before the
//!    request goes out, checks the bucket against what was *really sent*: a request that waited
//!    for its permit (or woke late) must not go out bunched with the ones sent on time, which
//!    a provider counts as a burst. If it would, the worker gives its permit back and waits
//!    the few milliseconds needed.
//!
//! The bucket of what was sent starts a fresh period (after the key idled) 250 ms later than
//! the request really left ([`LlmConfig::pacing_guard`], only with a burst above 1, where it costs no
//! throughput while the key is busy): the provider's clock starts at the request's
//! *arrival*, and while the key stays busy the provider's bucket runs from that first
//! arrival, so a first request slower to arrive than the following ones (a new connection)
//! would otherwise make them early.
//!
//! Hand-rolled rather than `governor` (which implements the same algorithm) because the pool
//! needs what `governor` does not offer: *reserving* the earliest future slot over several keys
//! at once, and the two-step booking/commit above; its limiters can only be asked "may I now,
//! else when", which makes every waiting worker retry at the same instant. It also runs on
//! Tokio's clock, so the unit tests below run on paused time.
//!
//! The tokens-per-minute budget is a GCRA too (a full minute of tokens may be spent at once,
//! as providers count per minute), booked with an estimate and corrected by the tokens the
//! provider reports.
//!
//! With a [`crate::KeyGate`] the ring also remembers, per key, until when the gate asked this
//! process to wait, and lets one worker at a time ask the gate about a key (a *probe*), so
//! that waiting workers do not all ask the shared store at once.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{ApiKey, LlmConfig};
use crate::stats::{KeyState, KeyStats, LatencyRing};

/// Generic cell rate algorithm: each unit costs `cost`; up to `tau` of cost may be spent
/// ahead of time (the burst: `tau = burst x cost`).
#[derive(Debug, Clone)]
struct Gcra {
    cost: Duration,
    tau: Duration,
    /// How much later than it left a request that starts a new period is counted (see the
    /// module documentation).
    guard: Duration,
    /// Theoretical arrival time of the bookings: when the budget is fully spent, counting
    /// the slots booked by sleeping workers.
    booked: Instant,
    /// Theoretical arrival time of the requests really sent (requests only, see
    /// [`Gcra::commit`]).
    sent: Instant,
}

impl Gcra {
    /// `guard`: see [`LlmConfig::pacing_guard`]. It must cover how much later than the
    /// following ones the request opening a period may arrive: a new connection costs round
    /// trips (TCP and TLS handshakes), a busy machine more (30-60 ms seen on loopback with
    /// debug builds).
    fn new(cost: Duration, burst: u32, guard: Duration, now: Instant) -> Self {
        let tau = cost.saturating_mul(burst.max(1));
        Self {
            cost,
            tau,
            guard,
            booked: now,
            sent: now,
        }
    }

    fn spend(&self, units: u64) -> Duration {
        self.cost
            .saturating_mul(u32::try_from(units).unwrap_or(u32::MAX))
            .min(self.tau)
    }

    /// The earliest instant at or after `now` when `units` may be booked.
    fn earliest(&self, now: Instant, units: u64) -> Instant {
        let after = self.booked + self.spend(units);
        if after <= now + self.tau {
            now
        } else {
            after - self.tau
        }
    }

    /// Books `units` at `at` (which must be at or after [`Gcra::earliest`]).
    fn reserve(&mut self, at: Instant, units: u64) {
        self.booked = self.booked.max(at + self.guard) + self.spend(units);
    }

    /// Whether one request may really go at `now`, counting what was sent: `None` if so,
    /// else when.
    fn conforms(&self, now: Instant) -> Option<Instant> {
        let after = self.sent + self.cost;
        (after > now + self.tau).then(|| after - self.tau)
    }

    /// Records one request really sent at `now` (which must conform); later bookings start
    /// after it.
    fn commit(&mut self, now: Instant) {
        self.sent = self.sent.max(now + self.guard) + self.cost;
        self.booked = self.booked.max(self.sent);
    }

    /// Corrects an earlier booking by `delta` units (positive: more was used).
    fn adjust(&mut self, delta: i64) {
        let d = self
            .cost
            .saturating_mul(u32::try_from(delta.unsigned_abs()).unwrap_or(u32::MAX));
        if delta >= 0 {
            self.booked += d;
        } else if let Some(t) = self.booked.checked_sub(d) {
            self.booked = t;
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: u64,
    successes: u64,
    rate_limited: u64,
    errors: u64,
    retries: u64,
    continuations: u64,
    input_tokens: u64,
    output_tokens: u64,
    latency: LatencyRing,
}

#[derive(Debug)]
struct Slot {
    dead: bool,
    cooling_until: Option<Instant>,
    consecutive_429: u32,
    /// The gate said to wait until then (gated rings only).
    gate_until: Option<Instant>,
    /// A worker is asking the gate about this key now (gated rings only).
    probing: bool,
    rpm: Option<Gcra>,
    tpm: Option<Gcra>,
    counters: Counters,
}

#[derive(Debug)]
struct Ring {
    slots: Vec<Slot>,
    cursor: usize,
}

/// The right to make one call with one key.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub(crate) index: usize,
    pub(crate) estimate: u64,
}

/// Why no key could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcquireError {
    NoUsableKey,
    Cancelled,
}

/// What [`KeyRing::commit`] says about a leased request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Send it now (it is counted as sent).
    Go,
    /// Sending now would exceed the key's bucket (or the key cools down): give the in-flight
    /// permit back, wait until then and ask again.
    Wait(Instant),
    /// The key was refused, or rate-limited by the provider, meanwhile: pick another.
    Lost,
}

/// What a 429 did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cooldown {
    pub(crate) duration: Duration,
}

/// The keys and their health.
#[derive(Debug)]
pub(crate) struct KeyRing {
    keys: Vec<ApiKey>,
    ring: Mutex<Ring>,
    changed: Notify,
    cooldown_base: Duration,
    cooldown_max: Duration,
    /// A gate is installed: every lease starts a probe (see [`KeyRing::end_probe`]).
    gated: bool,
}

/// Ends a probe when dropped (also when the call is cancelled mid-probe), so a key is never
/// left marked as being probed.
#[derive(Debug)]
pub(crate) struct Probe<'a> {
    ring: &'a KeyRing,
    index: usize,
    wait: Option<Duration>,
}

impl Probe<'_> {
    /// The gate refused: the key is busy in this process for `wait`.
    pub(crate) fn refused(mut self, wait: Duration) {
        self.wait = Some(wait);
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        self.ring.end_probe(self.index, self.wait);
    }
}

impl KeyRing {
    /// A ring without gate: every limit is local.
    pub(crate) fn new(config: &LlmConfig) -> Self {
        Self::with_gate(config, false, true)
    }

    /// A ring; `gated`: leases start gate probes; `local_rpm`: `per_key_rpm` is enforced
    /// locally (off when the gate enforces it).
    pub(crate) fn with_gate(config: &LlmConfig, gated: bool, local_rpm: bool) -> Self {
        let now = Instant::now();
        let rpm = config.per_key_rpm.filter(|_| local_rpm).map(|rpm| {
            // The provider's bucket: `rpm` a minute, `per_key_burst` back to back (with the
            // default burst of 1, `rpm` per rolling minute can never be exceeded).
            let cost = Duration::from_secs(60) / rpm.max(1);
            Gcra::new(cost, config.per_key_burst, config.pacing_guard(), now)
        });
        let tpm = config.per_key_tpm.map(|tpm| {
            // A full minute of tokens may be spent at once, as providers count per minute.
            let cost = Duration::from_secs(60) / tpm.max(1);
            Gcra::new(cost, tpm, Duration::ZERO, now)
        });
        let slots = config
            .keys
            .iter()
            .map(|_| Slot {
                dead: false,
                cooling_until: None,
                consecutive_429: 0,
                gate_until: None,
                probing: false,
                rpm: rpm.clone(),
                tpm: tpm.clone(),
                counters: Counters::default(),
            })
            .collect();
        Self {
            keys: config.keys.clone(),
            ring: Mutex::new(Ring { slots, cursor: 0 }),
            changed: Notify::new(),
            cooldown_base: config.cooldown_base,
            cooldown_max: config.cooldown_max,
            gated,
        }
    }

    /// Starts the gate probe of a leased key (gated rings mark it when leasing): end it with
    /// [`Probe::refused`], or drop it when the gate granted the request.
    pub(crate) fn probe(&self, lease: &Lease) -> Probe<'_> {
        Probe {
            ring: self,
            index: lease.index,
            wait: None,
        }
    }

    fn end_probe(&self, index: usize, wait: Option<Duration>) {
        {
            let mut ring = self.lock();
            let slot = &mut ring.slots[index];
            slot.probing = false;
            if let Some(wait) = wait {
                // A gate (another process, through Redis) names the wait: never trust it to fit.
                let cap = Duration::from_secs(haul_http::MAX_RETRY_AFTER_SECS);
                let until = Instant::now() + wait.min(cap);
                slot.gate_until = Some(slot.gate_until.map_or(until, |t| t.max(until)));
            }
        }
        self.changed.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding this lock leaves plain counters behind: keep going.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn key(&self, lease: &Lease) -> &ApiKey {
        &self.keys[lease.index]
    }

    pub(crate) fn label(&self, lease: &Lease) -> &str {
        self.keys[lease.index].label()
    }

    /// Replaces any secret in `text` by its key's label.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for key in &self.keys {
            if !key.secret().is_empty() && out.contains(key.secret()) {
                out = out.replace(key.secret(), key.label());
            }
        }
        out
    }

    /// Waits for a key that may be used now: round robin among ready keys; otherwise the key
    /// that frees first (cooldown or rate limit) is waited for.
    pub(crate) async fn acquire(
        &self,
        estimate: u64,
        cancel: &CancellationToken,
    ) -> Result<Lease, AcquireError> {
        loop {
            let notified = self.changed.notified();
            let (wait_until, booked) = {
                let mut ring = self.lock();
                let now = Instant::now();
                let n = ring.slots.len();
                let mut best: Option<(usize, Instant, bool)> = None;
                let mut probed = false;
                for i in 0..n {
                    let index = (ring.cursor + i) % n;
                    let slot = &ring.slots[index];
                    if slot.dead {
                        continue;
                    }
                    if slot.probing {
                        // Another worker is asking the gate: wait for its answer.
                        probed = true;
                        continue;
                    }
                    // Cooling down, or the gate said to wait: no booking, just wait.
                    let cooling = slot
                        .cooling_until
                        .filter(|t| *t > now)
                        .max(slot.gate_until.filter(|t| *t > now));
                    let mut ready = cooling.unwrap_or(now);
                    if let Some(g) = &slot.rpm {
                        ready = ready.max(g.earliest(now, 1));
                    }
                    if let Some(g) = &slot.tpm {
                        ready = ready.max(g.earliest(now, estimate));
                    }
                    if best.is_none_or(|(_, r, _)| ready < r) {
                        best = Some((index, ready, cooling.is_some()));
                    }
                }
                let (index, ready, cooling) = match best {
                    Some(best) => best,
                    // Woken by the end of the probe (the fallback time only guards against
                    // a lost wake-up).
                    None if probed => (usize::MAX, now + Duration::from_secs(1), true),
                    None => return Err(AcquireError::NoUsableKey),
                };
                if cooling {
                    // Every usable key is cooling down (or busier): wait for the first.
                    (ready, None)
                } else {
                    let slot = &mut ring.slots[index];
                    if let Some(g) = &mut slot.rpm {
                        g.reserve(ready, 1);
                    }
                    if let Some(g) = &mut slot.tpm {
                        g.reserve(ready, estimate);
                    }
                    ring.cursor = (index + 1) % n;
                    let lease = Lease { index, estimate };
                    if ready <= now {
                        ring.slots[index].probing = self.gated;
                        return Ok(lease);
                    }
                    (ready, Some(lease))
                }
            };
            match booked {
                Some(lease) => {
                    // A booked slot: sleep until it, then use it unless the key failed since.
                    tokio::select! {
                        () = tokio::time::sleep_until(wait_until) => {}
                        () = cancel.cancelled() => return Err(AcquireError::Cancelled),
                    }
                    if self.use_booking(&lease) {
                        return Ok(lease);
                    }
                }
                None => {
                    tokio::select! {
                        () = tokio::time::sleep_until(wait_until) => {}
                        () = notified => {}
                        () = cancel.cancelled() => return Err(AcquireError::Cancelled),
                    }
                }
            }
        }
    }

    /// Takes up a booked slot once its time came: `false` if the key failed meanwhile (the
    /// caller picks a key again).
    fn use_booking(&self, lease: &Lease) -> bool {
        let mut ring = self.lock();
        let now = Instant::now();
        let slot = &mut ring.slots[lease.index];
        if slot.dead
            || slot.probing
            || slot.cooling_until.is_some_and(|t| t > now)
            || slot.gate_until.is_some_and(|t| t > now)
        {
            return false;
        }
        slot.probing = self.gated;
        true
    }

    /// The last step before a leased request goes out (the caller holds its in-flight
    /// permit): checks the key's request bucket against the requests really sent and, if the
    /// request fits, counts it as sent now.
    pub(crate) fn commit(&self, lease: &Lease) -> Commit {
        let mut ring = self.lock();
        let now = Instant::now();
        let slot = &mut ring.slots[lease.index];
        if slot.dead {
            return Commit::Lost;
        }
        if slot.cooling_until.is_some_and(|t| t > now) {
            // A 429 of another request on this key came back meanwhile: try another key.
            return Commit::Lost;
        }
        match &mut slot.rpm {
            Some(g) => match g.conforms(now) {
                Some(until) => Commit::Wait(until),
                None => {
                    g.commit(now);
                    Commit::Go
                }
            },
            None => Commit::Go,
        }
    }

    fn record_call(&self, ring: &mut Ring, lease: &Lease, latency: Duration) {
        let c = &mut ring.slots[lease.index].counters;
        c.requests += 1;
        c.latency
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// A call succeeded.
    pub(crate) fn succeeded(
        &self,
        lease: &Lease,
        latency: Duration,
        input_tokens: u64,
        output_tokens: u64,
        continuation: bool,
    ) {
        let mut ring = self.lock();
        self.record_call(&mut ring, lease, latency);
        let slot = &mut ring.slots[lease.index];
        slot.consecutive_429 = 0;
        let c = &mut slot.counters;
        c.successes += 1;
        c.input_tokens += input_tokens;
        c.output_tokens += output_tokens;
        if continuation {
            c.continuations += 1;
        }
        if let Some(g) = &mut slot.tpm {
            let used = i64::try_from(input_tokens + output_tokens).unwrap_or(i64::MAX);
            g.adjust(used - i64::try_from(lease.estimate).unwrap_or(i64::MAX));
        }
    }

    /// A call got HTTP 429: the key cools down for `retry_after`, else exponentially longer
    /// per repeated 429, capped at the configured maximum.
    pub(crate) fn rate_limited(
        &self,
        lease: &Lease,
        latency: Duration,
        retry_after: Option<Duration>,
    ) -> Cooldown {
        let mut ring = self.lock();
        self.record_call(&mut ring, lease, latency);
        let slot = &mut ring.slots[lease.index];
        slot.counters.rate_limited += 1;
        slot.consecutive_429 = slot.consecutive_429.saturating_add(1);
        let duration = retry_after
            .unwrap_or_else(|| {
                let exp = slot.consecutive_429.saturating_sub(1).min(20);
                self.cooldown_base.saturating_mul(1 << exp)
            })
            .min(self.cooldown_max);
        let until = Instant::now() + duration;
        slot.cooling_until = Some(slot.cooling_until.map_or(until, |t| t.max(until)));
        Cooldown { duration }
    }

    /// A call got 401/403: the key is dead for the rest of the run.
    pub(crate) fn refused(&self, lease: &Lease, latency: Duration) {
        {
            let mut ring = self.lock();
            self.record_call(&mut ring, lease, latency);
            let slot = &mut ring.slots[lease.index];
            slot.dead = true;
            slot.counters.errors += 1;
        }
        // Waiters re-check: maybe every key is dead now.
        self.changed.notify_waiters();
    }

    /// A call failed otherwise (transient or rejected); `retrying` when it will be retried.
    pub(crate) fn failed(&self, lease: &Lease, latency: Duration, retrying: bool) {
        let mut ring = self.lock();
        self.record_call(&mut ring, lease, latency);
        let c = &mut ring.slots[lease.index].counters;
        c.errors += 1;
        if retrying {
            c.retries += 1;
        }
    }

    /// Whether every key is dead.
    #[cfg(test)]
    pub(crate) fn all_dead(&self) -> bool {
        self.lock().slots.iter().all(|s| s.dead)
    }

    pub(crate) fn stats(&self) -> Vec<KeyStats> {
        let ring = self.lock();
        let now = Instant::now();
        self.keys
            .iter()
            .zip(&ring.slots)
            .map(|(key, slot)| {
                let c = &slot.counters;
                let (p50, p95) = c.latency.percentiles_ms();
                let state = if slot.dead {
                    KeyState::Dead
                } else if slot.cooling_until.is_some_and(|t| t > now) {
                    KeyState::Cooling
                } else {
                    KeyState::Healthy
                };
                KeyStats {
                    label: key.label().to_string(),
                    state,
                    requests: c.requests,
                    successes: c.successes,
                    rate_limited: c.rate_limited,
                    errors: c.errors,
                    retries: c.retries,
                    continuations: c.continuations,
                    latency_p50_ms: p50,
                    latency_p95_ms: p95,
                    input_tokens: c.input_tokens,
                    output_tokens: c.output_tokens,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Provider, parse_keys};

    fn ring(keys: &str, adjust: impl FnOnce(&mut LlmConfig)) -> KeyRing {
        let mut c = LlmConfig::new(Provider::OpenAi, parse_keys(keys));
        c.cooldown_base = Duration::from_secs(1);
        c.cooldown_max = Duration::from_secs(30);
        adjust(&mut c);
        KeyRing::new(&c)
    }

    async fn take(ring: &KeyRing) -> usize {
        ring.acquire(1, &CancellationToken::new())
            .await
            .unwrap()
            .index
    }

    #[tokio::test(start_paused = true)]
    async fn round_robin_skips_cooling_and_dead_keys() {
        let r = ring("a,b,c", |_| {});
        let mut order = Vec::new();
        for _ in 0..6 {
            order.push(take(&r).await);
        }
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
        let lease = Lease {
            index: 1,
            estimate: 1,
        };
        let cd = r.rate_limited(&lease, Duration::ZERO, Some(Duration::from_secs(5)));
        assert_eq!(cd.duration, Duration::from_secs(5));
        r.refused(
            &Lease {
                index: 2,
                estimate: 1,
            },
            Duration::ZERO,
        );
        let mut order = Vec::new();
        for _ in 0..3 {
            order.push(take(&r).await);
        }
        assert_eq!(order, [0, 0, 0]);
        tokio::time::advance(Duration::from_secs(5)).await;
        let mut order = Vec::new();
        for _ in 0..4 {
            order.push(take(&r).await);
        }
        assert_eq!(order, [1, 0, 1, 0]);
        let stats = r.stats();
        assert_eq!(stats[2].state, "dead");
        assert_eq!(stats[1].rate_limited, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn all_cooling_waits_for_the_earliest_and_all_dead_fails() {
        let r = ring("a,b", |_| {});
        r.rate_limited(
            &Lease {
                index: 0,
                estimate: 1,
            },
            Duration::ZERO,
            Some(Duration::from_secs(9)),
        );
        r.rate_limited(
            &Lease {
                index: 1,
                estimate: 1,
            },
            Duration::ZERO,
            Some(Duration::from_secs(4)),
        );
        let start = Instant::now();
        assert_eq!(take(&r).await, 1);
        assert_eq!(start.elapsed(), Duration::from_secs(4));

        let r = ring("a,b", |_| {});
        r.rate_limited(
            &Lease {
                index: 0,
                estimate: 1,
            },
            Duration::ZERO,
            None,
        );
        r.rate_limited(
            &Lease {
                index: 1,
                estimate: 1,
            },
            Duration::ZERO,
            None,
        );
        let waiter = async { r.acquire(1, &CancellationToken::new()).await };
        let killer = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            r.refused(
                &Lease {
                    index: 0,
                    estimate: 1,
                },
                Duration::ZERO,
            );
            r.refused(
                &Lease {
                    index: 1,
                    estimate: 1,
                },
                Duration::ZERO,
            );
        };
        let (got, ()) = tokio::join!(waiter, killer);
        assert_eq!(got.unwrap_err(), AcquireError::NoUsableKey);
        assert!(r.all_dead());
        assert_eq!(start.elapsed(), Duration::from_millis(4100));
    }

    #[tokio::test(start_paused = true)]
    async fn cooldown_grows_exponentially_and_is_capped() {
        let r = ring("a", |_| {});
        let lease = Lease {
            index: 0,
            estimate: 1,
        };
        let got: Vec<u64> = (0..7)
            .map(|_| {
                r.rate_limited(&lease, Duration::ZERO, None)
                    .duration
                    .as_secs()
            })
            .collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30]);
        let capped = r.rate_limited(&lease, Duration::ZERO, Some(Duration::from_secs(3600)));
        assert_eq!(capped.duration, Duration::from_secs(30));
        r.succeeded(&lease, Duration::ZERO, 1, 1, false);
        assert_eq!(
            r.rate_limited(&lease, Duration::ZERO, None)
                .duration
                .as_secs(),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rpm_spaces_requests_over_all_keys() {
        // 2 keys at 60 rpm: one request a second each, so 2 per second together.
        let r = ring("a,b", |c| c.per_key_rpm = Some(60));
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..6 {
            take(&r).await;
            times.push(start.elapsed().as_millis());
        }
        assert_eq!(times, [0, 0, 1000, 1000, 2000, 2000]);
    }

    #[tokio::test(start_paused = true)]
    async fn tpm_budget_is_a_rolling_minute_corrected_by_actual_use() {
        let r = ring("a", |c| c.per_key_tpm = Some(600));
        let start = Instant::now();
        // 600 tokens may go at once...
        let l = r.acquire(300, &CancellationToken::new()).await.unwrap();
        r.succeeded(&l, Duration::ZERO, 300, 300, false);
        assert_eq!(start.elapsed(), Duration::ZERO);
        // ...then the budget refills at 10 tokens a second: 100 tokens wait 10 s.
        let l = r.acquire(100, &CancellationToken::new()).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        // Using fewer tokens than estimated gives them back.
        r.succeeded(&l, Duration::ZERO, 10, 0, false);
        r.acquire(90, &CancellationToken::new()).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_is_cancelled() {
        let r = ring("a", |_| {});
        r.rate_limited(
            &Lease {
                index: 0,
                estimate: 1,
            },
            Duration::ZERO,
            Some(Duration::from_secs(60)),
        );
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert_eq!(
            r.acquire(1, &cancel).await.unwrap_err(),
            AcquireError::Cancelled
        );
    }

    #[test]
    fn a_late_request_holds_back_the_following_ones() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let ms = Duration::from_millis;
        let mut g = Gcra::new(second, 1, Duration::ZERO, t0);
        assert_eq!(g.earliest(t0, 1), t0);
        g.reserve(t0, 1);
        assert_eq!(g.earliest(t0, 1), t0 + second);
        g.reserve(t0 + second, 1);
        // The first booked request went 600 ms late (it waited for an in-flight permit): the
        // second, on time for its booking, waits a full interval after it.
        assert_eq!(g.conforms(t0 + ms(600)), None);
        g.commit(t0 + ms(600));
        assert_eq!(g.conforms(t0 + second), Some(t0 + ms(1600)));
        g.commit(t0 + ms(1600));
        assert_eq!(g.conforms(t0 + ms(2600)), None);
        // New bookings start after the real schedule.
        assert_eq!(g.earliest(t0, 1), t0 + ms(2600));
    }

    const GUARD: Duration = Duration::from_millis(250);

    /// Books `n` requests back to back on a key's bucket; each goes out late by
    /// `late(i)` (an in-flight permit wait, a late wake-up), waiting again whenever
    /// [`Gcra::conforms`] says so. Returns the send times, in order.
    fn send_late(
        g: &mut Gcra,
        t0: Instant,
        n: u64,
        late: impl Fn(u64) -> Duration,
    ) -> Vec<Instant> {
        let mut pending = std::collections::BinaryHeap::new();
        for i in 0..n {
            let at = g.earliest(t0, 1);
            g.reserve(at, 1);
            pending.push(std::cmp::Reverse(at + late(i)));
        }
        let mut sent = Vec::new();
        while let Some(std::cmp::Reverse(at)) = pending.pop() {
            match g.conforms(at) {
                None => {
                    g.commit(at);
                    sent.push(at);
                }
                Some(until) => {
                    assert!(until > at);
                    pending.push(std::cmp::Reverse(until));
                }
            }
        }
        sent
    }

    /// Checks `sent` against a provider's token bucket (counted independently of [`Gcra`]):
    /// `burst` tokens, one more every `cost`; a request needs a whole token.
    fn provider_accepts(sent: &[Instant], cost: Duration, burst: u32) -> Result<(), usize> {
        let full = cost * burst;
        let mut level = full;
        let mut last = sent[0];
        for (i, at) in sent.iter().enumerate() {
            level = (level + (*at - last)).min(full);
            last = *at;
            if level < cost {
                return Err(i);
            }
            level -= cost;
        }
        Ok(())
    }

    #[test]
    fn late_sends_never_exceed_the_providers_bucket_nor_lose_its_rate() {
        let t0 = Instant::now();
        let cost = Duration::from_millis(100);
        for burst in [1, 2, 10] {
            let guard = if burst > 1 { GUARD } else { Duration::ZERO };
            let mut g = Gcra::new(cost, burst, guard, t0);
            // Every third request leaves 0-150 ms late: sends bunch unless held back.
            let late = |i: u64| {
                Duration::from_millis(if i.is_multiple_of(3) {
                    (i * 37) % 151
                } else {
                    0
                })
            };
            let sent = send_late(&mut g, t0, 300, late);
            assert_eq!(sent.len(), 300);
            assert_eq!(
                provider_accepts(&sent, cost, burst),
                Ok(()),
                "burst {burst}"
            );
            if burst == 1 {
                // Without the check on what was really sent, the same bookings bunch (with a
                // burst, the provider's bucket absorbs delays shorter than the burst).
                let mut naive = Gcra::new(cost, burst, guard, t0);
                let mut bunched: Vec<Instant> = (0..300)
                    .map(|i| {
                        let at = naive.earliest(t0, 1);
                        naive.reserve(at, 1);
                        at + late(i)
                    })
                    .collect();
                bunched.sort();
                assert!(provider_accepts(&bunched, cost, burst).is_err());
            } else if burst == 10 {
                // The rate holds: 300 requests take (300 - burst) intervals, plus the guard
                // and the last requests' delays; the delays before are not lost.
                let took = *sent.last().unwrap() - t0;
                let floor = cost * (300 - burst);
                assert!(took >= floor, "{took:?}");
                assert!(
                    took <= floor + GUARD + Duration::from_millis(200),
                    "{took:?} for {floor:?}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_requests_follow_the_rate() {
        // 2 keys at 600 rpm (10/s) with a burst of 10: the first 7 of each key at once (the
        // rest of the burst waits out the 250 ms guard), then one every 100 ms per key.
        let r = ring("a,b", |c| {
            c.per_key_rpm = Some(600);
            c.per_key_burst = 10;
        });
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..20 {
            let lease = r.acquire(1, &CancellationToken::new()).await.unwrap();
            assert_eq!(r.commit(&lease), Commit::Go);
            times.push(start.elapsed().as_millis());
        }
        let mut want = vec![0; 14];
        want.extend([50, 50, 150, 150, 250, 250]);
        assert_eq!(times, want);
    }

    #[test]
    fn redaction_replaces_secrets_by_labels() {
        let r = ring("sk-AAA,sk-BBB", |_| {});
        assert_eq!(
            r.redact("bad key sk-BBB and sk-AAA"),
            "bad key key#2 and key#1"
        );
    }
}
