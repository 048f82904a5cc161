//! Cooperative cancellation of blocking work. A parse runs on a blocking thread
//! ([`Context::blocking`](crate::Context::blocking)); when the page it works for is given up
//! (its timeout fired, the crawl stopped), the thread cannot be stopped from outside, so the
//! work checks [`cancelled`] in its long loops and returns early (with a partial result that
//! nobody reads). Without this, a page of a million links kept a core busy for ~20 s (debug
//! build) after its page had timed out.
//!
//! The flag travels in a thread-local, so that parsing code deep in `haul-extract` (and site
//! crates) needs no extra parameter: [`CancelFlag::run`] installs it for the duration of the
//! work; outside such work [`cancelled`] is always false.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static CURRENT: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Whether the blocking work running on this thread has been given up by its caller. Cheap
/// (a thread-local read and an atomic load, a few nanoseconds): long loops over page data
/// call it every few thousand steps and stop when it is true. Always false outside work run
/// by [`CancelFlag::run`].
pub fn cancelled() -> bool {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    })
}

/// A cancellation flag shared by the caller of some blocking work and the work itself.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag not raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the work to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A guard that raises the flag when dropped, unless [`CancelOnDrop::disarm`]ed: held by
    /// the future awaiting the work, it cancels the work when that future is dropped.
    pub fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(Some(self.clone()))
    }

    /// Runs `work` on this thread with this flag as the one [`cancelled`] reads (the previous
    /// one is restored afterwards, also when `work` panics).
    pub fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        struct Restore(Option<Arc<AtomicBool>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.0.clone()));
        let _restore = Restore(previous);
        work()
    }
}

/// Raises its [`CancelFlag`] when dropped (see [`CancelFlag::cancel_on_drop`]).
#[derive(Debug)]
pub struct CancelOnDrop(Option<CancelFlag>);

impl CancelOnDrop {
    /// Drops the guard without raising the flag.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_seen_only_inside_its_work() {
        assert!(!cancelled());
        let flag = CancelFlag::new();
        assert!(!flag.run(cancelled));
        flag.cancel();
        assert!(flag.run(cancelled));
        assert!(!cancelled(), "restored after the work");
        let inner = CancelFlag::new();
        flag.run(|| {
            assert!(!inner.run(cancelled));
            assert!(cancelled(), "the outer flag is back");
        });
    }

    #[test]
    fn a_dropped_guard_cancels_and_a_disarmed_one_does_not() {
        let flag = CancelFlag::new();
        flag.cancel_on_drop().disarm();
        assert!(!flag.is_cancelled());
        drop(flag.cancel_on_drop());
        assert!(flag.is_cancelled());
    }
}
