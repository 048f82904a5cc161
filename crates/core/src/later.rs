//! Slow extraction work that may finish after a page's links were handed on: an LLM answer
//! must not hold the next level's fetches ([`Context::later`](crate::Context::later)).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::Extraction;

/// Work whose records complete a page's [`Extraction`] later.
pub type LaterWork = Pin<Box<dyn Future<Output = Extraction> + Send + 'static>>;

/// Where a [`Context`](crate::Context) puts the work an extractor hands to
/// [`Context::later`](crate::Context::later) when the runner finishes pages in two steps
/// (links first, records when the work is done). Cheap to clone; the clones share the work.
#[derive(Clone, Default)]
pub struct Later(Arc<Mutex<Vec<LaterWork>>>);

impl fmt::Debug for Later {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Later").field(&self.lock().len()).finish()
    }
}

impl Later {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LaterWork>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `work` for the runner.
    pub(crate) fn push(&self, work: LaterWork) {
        self.lock().push(work);
    }

    /// Whether no work is kept.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Takes the work kept so far (none is left behind).
    pub fn take(&self) -> Vec<LaterWork> {
        std::mem::take(&mut *self.lock())
    }
}

impl Extraction {
    /// Adds the records and warnings of `more`, work done later for the same page. Links in
    /// `more` are dropped: a page's links are those known when its extraction returned.
    pub fn absorb(&mut self, more: Extraction) {
        self.records.extend(more.records);
        self.warnings.extend(more.warnings);
    }
}
