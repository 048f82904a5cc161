//! The local crawl's [`Frontier`]: one site's URLs level by level in memory. A level's URLs
//! are handed out as slots free up; the next level starts once the links of every page of the
//! current one are known (a page may still wait for slow extraction work, such as an LLM
//! answer, while the next level is fetched). Keeps the visited set, spends the
//! `--max-pages` budget, journals levels and finished pages for `--resume`, and reports
//! levels to the progress display.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::Notify;
use tracing::info;
use url::Url;

use crate::crawl::PageOutcome;
use crate::pipeline::{Frontier, PageTask};
use crate::progress::Progress;
use crate::report::SiteReport;
use crate::scope::canonicalize;
use crate::state::{Entry, Journal, SiteResume};
use haul_output::RecordSender;

/// Where the finished pages of a local crawl are journaled, with the output whose flush a
/// page's entry waits for.
pub(crate) struct Journaling {
    pub(crate) journal: Arc<Journal>,
    pub(crate) output: RecordSender,
}

/// One site's levels, in memory.
pub(crate) struct LevelFrontier {
    site: String,
    max_pages: Option<u64>,
    journal: Option<Journaling>,
    progress: Arc<dyn Progress>,
    state: Mutex<Levels>,
    /// Signalled whenever a page completes (a level may be over).
    completed: Notify,
}

#[derive(Default)]
struct Levels {
    level: u32,
    /// Whether `level` was announced (journal entry, progress, log).
    announced: bool,
    /// Whether the level in progress was restored from the journal (not journaled again).
    resumed: bool,
    pending: VecDeque<Url>,
    next: Vec<Url>,
    visited: HashSet<Url>,
    in_flight: usize,
    scheduled: u64,
    over: bool,
}

impl LevelFrontier {
    /// The levels of `site` from `start_urls`, or from where the journal left it (`resume`).
    pub(crate) fn new(
        site: &str,
        start_urls: &[Url],
        resume: Option<&SiteResume>,
        max_pages: Option<u64>,
        journal: Option<Journaling>,
        progress: Arc<dyn Progress>,
    ) -> Self {
        let levels = match resume {
            Some(pos) => {
                info!(
                    site,
                    level = pos.level,
                    remaining = pos.remaining.len(),
                    "resuming"
                );
                Levels {
                    level: pos.level,
                    resumed: true,
                    pending: pos.remaining.iter().cloned().collect(),
                    next: pos.next.clone(),
                    visited: pos.visited.clone(),
                    ..Levels::default()
                }
            }
            None => {
                let mut levels = Levels::default();
                for u in start_urls {
                    let c = canonicalize(u);
                    if levels.visited.insert(c.clone()) {
                        levels.pending.push_back(c);
                    }
                }
                levels
            }
        };
        Self {
            site: site.to_string(),
            max_pages,
            journal,
            progress,
            state: Mutex::new(levels),
            completed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Levels> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A task to hand out now, `Some(None)` when the site is over, `None` to wait for pages
    /// in flight.
    fn take(&self) -> Option<Option<PageTask<()>>> {
        let mut s = self.lock();
        loop {
            if s.over {
                return Some(None);
            }
            if !s.announced {
                s.announced = true;
                self.announce(&s);
            }
            if self.max_pages.is_some_and(|m| s.scheduled >= m) {
                // The budget is spent: what is still queued is dropped.
                s.pending.clear();
                s.next.clear();
            }
            if let Some(url) = s.pending.pop_front() {
                s.scheduled += 1;
                s.in_flight += 1;
                return Some(Some(PageTask {
                    site: self.site.clone(),
                    level: s.level,
                    url,
                    ticket: (),
                }));
            }
            if s.in_flight > 0 {
                return None;
            }
            if s.next.is_empty() {
                s.over = true;
                self.completed.notify_waiters();
                return Some(None);
            }
            s.level += 1;
            s.pending = std::mem::take(&mut s.next).into();
            s.announced = false;
            s.resumed = false;
        }
    }

    /// Journals (unless resumed), logs and shows the start of the current level.
    fn announce(&self, s: &Levels) {
        let urls: Vec<Url> = s.pending.iter().cloned().collect();
        if let Some(j) = &self.journal
            && !s.resumed
        {
            j.journal.append(Entry::Level {
                site: self.site.clone(),
                level: s.level,
                urls: urls.clone(),
            });
        }
        info!(
            site = self.site,
            level = s.level,
            urls = urls.len(),
            "level starts"
        );
        self.progress
            .level_started(&self.site, s.level, urls.len() as u64);
    }
}

#[async_trait]
impl Frontier for LevelFrontier {
    type Ticket = ();
    type Error = Infallible;

    async fn next(&self, _slot: usize) -> Result<Option<PageTask<()>>, Infallible> {
        loop {
            let completed = self.completed.notified();
            tokio::pin!(completed);
            completed.as_mut().enable();
            if let Some(task) = self.take() {
                return Ok(task);
            }
            completed.await;
        }
    }

    fn early_links(&self) -> bool {
        true
    }

    /// Links go to the next level at once: a level is over once every page of it has its
    /// links known, even while some pages still wait for slow extraction work.
    async fn links(
        &self,
        _slot: usize,
        _task: &PageTask<()>,
        links: &mut Vec<Url>,
        _finishing: bool,
    ) -> Result<(), Infallible> {
        {
            let mut s = self.lock();
            links.retain(|l| s.visited.insert(l.clone()));
            s.next.extend(links.iter().cloned());
            s.in_flight -= 1;
        }
        self.completed.notify_waiters();
        Ok(())
    }

    async fn complete(
        &self,
        _slot: usize,
        task: PageTask<()>,
        page: &mut PageOutcome,
        _share: &SiteReport,
    ) -> Result<(), Infallible> {
        if let Some(j) = &self.journal {
            // Only once the page's records are durably written may it count as done.
            if j.output.flushed().await.is_ok() {
                j.journal.append(Entry::Done {
                    site: task.site,
                    level: task.level,
                    url: task.url,
                    links: page.links.clone(),
                });
            }
        }
        Ok(())
    }
}
