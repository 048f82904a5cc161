//! One Chromium process: launch with its own temporary profile, the task that drives the CDP
//! handler (and notices the process dying), tabs, and shutdown (kill, reap, remove profile).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::target::{CloseTargetParams, GetTargetsParams};
use chromiumoxide::error::CdpError;
use chromiumoxide::{Browser, Page as CdpPage};
use futures::StreamExt;
use futures::future::BoxFuture;
use haul_core::PageError;
use tempfile::TempDir;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, RwLock, Semaphore};
use tokio::task::JoinHandle;

use crate::gate::{Gate, Rules};
use crate::hops::Hops;
use crate::{BrowserConfig, BrowserError};

/// Chromium switches (chromiumoxide adds the leading `--`; headless, no-sandbox, the profile
/// and the User-Agent are set through its builder).
const ARGS: &[&str] = &[
    "disable-background-networking",
    "disable-component-update",
    "disable-sync",
    "no-first-run",
    "disable-quic",
    "disable-gpu",
    "disable-breakpad",
    "no-default-browser-check",
    // No initial about:blank tab: the pool's tabs are all its own (one renderer less, and
    // CDP's page count equals the pool's).
    "no-startup-window",
];

/// How long `Browser.close` may take before the process is killed.
const GRACEFUL_CLOSE: Duration = Duration::from_secs(1);
/// How long to wait for Chromium's processes to exit before removing a profile anyway (they
/// exit within ~200 ms once the browser is gone, but slowly on an overloaded machine, and a
/// live one would recreate files in the removed profile).
const PROFILE_RELEASE_WAIT: Duration = Duration::from_secs(30);

/// A validated configuration with the executable resolved, shared by all instances.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) chrome: PathBuf,
    pub(crate) cfg: BrowserConfig,
    /// The network gate every browser of the pool connects through, started with the first
    /// launch (it needs the runtime) and stopped when the pool's settings drop.
    gate: OnceCell<Gate>,
}

impl Settings {
    /// Checks `cfg` and finds the executable, for a new pool; launches nothing, but sweeps
    /// (in the background) the browsers and profiles of a haul killed before it could close
    /// them.
    pub(crate) fn prepare(cfg: BrowserConfig) -> Result<Arc<Self>, BrowserError> {
        cfg.validate()?;
        let chrome = cfg.resolve_chrome()?;
        crate::sys::sweep_in_background();
        Ok(Arc::new(Self {
            chrome,
            cfg,
            gate: OnceCell::new(),
        }))
    }

    /// Why the pool's network gate last failed a connection to `url`'s host and port.
    pub(crate) fn gate_failure(&self, url: &str) -> Option<String> {
        let url = url::Url::parse(url).ok()?;
        self.gate
            .get()?
            .why(url.host_str()?, url.port_or_known_default()?)
    }

    /// The pool's network gate, started on first use.
    async fn gate(&self) -> std::io::Result<&Gate> {
        self.gate
            .get_or_try_init(|| {
                Gate::start(Rules {
                    private: self.cfg.private_network.clone(),
                    resolver: self.cfg.resolver.clone(),
                    upstream: self.cfg.proxies.0.clone(),
                })
            })
            .await
    }
}

/// Called once with the instance id when the CDP connection of a launched browser ends
/// (process killed or crashed, or shut down).
pub(crate) type OnExit = Box<dyn FnOnce(u64) + Send + 'static>;

/// One browser process (possibly still launching).
pub(crate) struct Instance {
    pub(crate) id: u64,
    pub(crate) settings: Arc<Settings>,
    live: OnceCell<Live>,
    failed: Mutex<Option<String>>,
    dead: AtomicBool,
    closing: AtomicBool,
}

struct Live {
    browser: RwLock<Option<Browser>>,
    pid: Option<u32>,
    profile_path: PathBuf,
    handler: Mutex<Option<JoinHandle<()>>>,
    profile: Mutex<Option<TempDir>>,
}

impl Live {
    fn abort_handler(&self) {
        if let Some(task) = lock(&self.handler).take() {
            task.abort();
        }
    }
}

/// Locks a std mutex, recovering from poisoning (the data are plain counters and handles).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits for a permit of `permits`; once they are closed (the pool is shutting down), a
/// `PageError::Browser` saying that `what` is closed.
pub(crate) async fn permit(
    permits: &Arc<Semaphore>,
    what: &str,
) -> Result<OwnedSemaphorePermit, PageError> {
    permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| PageError::Browser(format!("{what} is closed")))
}

impl Instance {
    /// An instance that is not launched yet ([`ensure_launched`](Self::ensure_launched)).
    pub(crate) fn new(id: u64, settings: Arc<Settings>) -> Arc<Self> {
        Arc::new(Self {
            id,
            settings,
            live: OnceCell::new(),
            failed: Mutex::new(None),
            dead: AtomicBool::new(false),
            closing: AtomicBool::new(false),
        })
    }

    /// Whether the browser died or is being shut down: its pages cannot be used.
    pub(crate) fn is_gone(&self) -> bool {
        self.dead.load(Ordering::SeqCst) || self.closing.load(Ordering::SeqCst)
    }

    /// Whether the process is up (launched, not dead, not closing).
    pub(crate) fn is_launched(&self) -> bool {
        self.live.initialized() && !self.is_gone()
    }

    /// The browser's process id, once launched.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.live.get().and_then(|l| l.pid)
    }

    /// The profile directory, once launched.
    pub(crate) fn profile_path(&self) -> Option<PathBuf> {
        self.live.get().map(|l| l.profile_path.clone())
    }

    fn handler_finished(&self) -> bool {
        self.live.get().is_some_and(|l| {
            lock(&l.handler)
                .as_ref()
                .is_none_or(JoinHandle::is_finished)
        })
    }

    fn mark_dead(&self, reason: &str) {
        if !self.dead.swap(true, Ordering::SeqCst) && !self.closing.load(Ordering::SeqCst) {
            tracing::warn!(browser = self.id, pid = ?self.pid(), %reason, "Chromium died; it will be replaced");
        }
    }

    /// Launches the browser unless it is launched already (concurrent callers wait for the
    /// one launch). A failed launch is remembered: every waiter gets the same error.
    pub(crate) async fn ensure_launched(
        self: &Arc<Self>,
        on_exit: OnExit,
    ) -> Result<(), PageError> {
        if let Some(e) = lock(&self.failed).clone() {
            return Err(PageError::Browser(e));
        }
        let result = self
            .live
            .get_or_try_init(|| async {
                if let Some(e) = lock(&self.failed).clone() {
                    return Err(e);
                }
                let launched = self.launch(on_exit).await;
                if let Err(e) = &launched {
                    *lock(&self.failed) = Some(e.clone());
                }
                launched
            })
            .await;
        match result {
            Ok(_) if self.is_gone() => Err(PageError::Crashed {
                url: "(browser launch)".into(),
            }),
            Ok(_) => Ok(()),
            Err(e) => Err(PageError::Browser(e)),
        }
    }

    async fn launch(self: &Arc<Self>, on_exit: OnExit) -> Result<Live, String> {
        let s = &*self.settings;
        // File system work off the runtime.
        let chrome = s.chrome.clone();
        let (profile, launcher) = tokio::task::spawn_blocking(move || {
            let profile = tempfile::Builder::new()
                .prefix(crate::sys::PROFILE_PREFIX)
                .tempdir()?;
            // Tells a later haul whether this profile's owner is alive (see `sys`).
            crate::sys::mark_owner(profile.path())?;
            // Chromium dies with haul, even when haul is killed (see `sys::write_launcher`).
            let launcher = crate::sys::write_launcher(profile.path(), &chrome);
            Ok::<_, std::io::Error>((profile, launcher))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| format!("creating a temporary Chromium profile: {e}"))?;
        // Every connection of the browser goes through the gate (see `gate`).
        let gate = s
            .gate()
            .await
            .map_err(|e| format!("starting the browser's network gate: {e}"))?;
        let mut config = chromiumoxide::BrowserConfig::builder()
            .chrome_executable(launcher.as_deref().unwrap_or(&s.chrome))
            .no_sandbox()
            .user_data_dir(profile.path())
            .args(ARGS.iter().copied())
            .arg(("user-agent", s.cfg.user_agent.as_str()));
        for (name, value) in gate.switches() {
            config = config.arg((name, value.as_str()));
        }
        let config = config
            .viewport(None)
            .window_size(1366, 900)
            .launch_timeout(s.cfg.launch_timeout)
            .request_timeout(s.cfg.page_timeout + Duration::from_secs(5))
            .build()
            .map_err(|e| format!("configuring {}: {e}", s.chrome.display()))?;
        let limit = s.cfg.launch_timeout + Duration::from_secs(5);
        // chromiumoxide forks Chromium on the thread that first polls `launch`, and the
        // parent-death signal fires when that *thread* exits: a runtime task is polled by a
        // runtime thread (a worker of a multi-thread runtime, or the thread of a current-thread
        // one), which lives as long as the runtime, never by a blocking-pool thread that exits
        // after 10 s idle.
        let mut task = tokio::spawn(async move {
            tracing::debug!(thread = ?std::thread::current().name(), "launching Chromium");
            Browser::launch(config).await
        });
        let launched = tokio::time::timeout(limit, &mut task).await;
        if launched.is_err() {
            // Dropping the launch kills the half-started process (kill_on_drop).
            task.abort();
        }
        let (mut browser, mut handler) = match launched {
            Ok(Ok(Ok(pair))) => pair,
            failed => {
                let why = match failed {
                    Ok(Ok(Err(e))) => e.to_string(),
                    Ok(Err(e)) => format!("the launch task failed: {e}"),
                    _ => format!("no answer within {} s", limit.as_secs()),
                };
                let _ = tokio::task::spawn_blocking(move || {
                    crate::sys::remove_profile(profile, PROFILE_RELEASE_WAIT)
                })
                .await;
                return Err(format!("launching {}: {why}", s.chrome.display()));
            }
        };
        let pid = browser.get_mut_child().and_then(|c| c.as_mut_inner().id());
        let id = self.id;
        let weak = Arc::downgrade(self);
        let handler_task = tokio::spawn(async move {
            let reason = loop {
                match handler.next().await {
                    None => break "the CDP connection ended".to_string(),
                    Some(Ok(())) => {}
                    // A killed browser makes the stream yield `Ws` errors forever: stop here
                    // so every pending call fails at once.
                    Some(Err(e)) if matches!(e, CdpError::Ws(_) | CdpError::Io(_)) => {
                        break e.to_string();
                    }
                    Some(Err(e)) => tracing::debug!(browser = id, error = %e, "CDP handler"),
                }
            };
            if let Some(inst) = weak.upgrade() {
                inst.mark_dead(&reason);
            }
            drop(handler);
            on_exit(id);
        });
        tracing::debug!(browser = id, ?pid, profile = %profile.path().display(), "Chromium launched");
        Ok(Live {
            browser: RwLock::new(Some(browser)),
            pid,
            profile_path: profile.path().to_path_buf(),
            handler: Mutex::new(Some(handler_task)),
            profile: Mutex::new(Some(profile)),
        })
    }

    /// Turns a CDP error (or a timeout, `None`) from an operation on `url` into a
    /// [`PageError`]: `Crashed` when the browser is gone.
    pub(crate) fn page_error(&self, url: &str, what: &str, e: Option<CdpError>) -> PageError {
        // The handler task marks the browser dead before it drops the connection; a call
        // cut off because the handler ended for another reason counts as a death too.
        if matches!(e, Some(CdpError::ChannelSendError(_))) && self.handler_finished() {
            self.mark_dead(&format!("{what}: the CDP handler ended"));
        }
        if self.is_gone() {
            return PageError::Crashed { url: url.into() };
        }
        match e {
            Some(CdpError::Timeout) | None => PageError::Timeout {
                url: url.into(),
                secs: self.settings.cfg.page_timeout.as_secs(),
            },
            Some(e) => PageError::Browser(format!("{what} ({url}): {e}")),
        }
    }

    /// Runs `op` against the browser within the page timeout.
    async fn with_browser<T, F>(&self, what: &str, op: F) -> Result<T, PageError>
    where
        F: for<'b> FnOnce(&'b Browser) -> BoxFuture<'b, Result<T, CdpError>>,
    {
        let timeout = self.settings.cfg.page_timeout;
        let live = self
            .live
            .get()
            .ok_or_else(|| PageError::Browser(format!("{what}: browser not launched")))?;
        let run = async {
            let guard = live.browser.read().await;
            match guard.as_ref() {
                Some(browser) => op(browser).await.map_err(Some),
                None => Err(None),
            }
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(None)) => Err(PageError::Crashed { url: what.into() }),
            Ok(Err(Some(e))) => Err(self.page_error(what, what, Some(e))),
            Err(_) => Err(self.page_error(what, what, None)),
        }
    }

    /// Opens a blank tab, set up for rendering: the DOM-change tracker that content waits use,
    /// and request interception (documents checked against a render's guard, resources
    /// blocked when configured; see `hops`).
    pub(crate) async fn new_tab(&self) -> Result<(CdpPage, Arc<Hops>), PageError> {
        if self.is_gone() {
            return Err(PageError::Crashed {
                url: "(new page)".into(),
            });
        }
        let block = self.settings.cfg.block_resources;
        let page = self
            .with_browser("opening a page", |b| Box::pin(b.new_page("about:blank")))
            .await?;
        let setup = async {
            // Remembers when the DOM last changed, for waiting on content (see `page`).
            page.evaluate_on_new_document(crate::page::MUTATION_SCRIPT)
                .await?;
            crate::hops::intercept(&page, block).await
        };
        let failed = match tokio::time::timeout(self.settings.cfg.page_timeout, setup).await {
            Ok(Ok(hops)) => return Ok((page, hops)),
            Ok(Err(e)) => self.page_error("(new page)", "setting up the page", Some(e)),
            Err(_) => self.page_error("(new page)", "setting up the page", None),
        };
        self.close_tab(&page).await;
        Err(failed)
    }

    /// Closes a tab (Target.closeTarget: no `beforeunload` prompt can keep it open). Errors
    /// are ignored: a dead browser's tabs are gone anyway.
    pub(crate) async fn close_tab(&self, page: &CdpPage) {
        if self.is_gone() {
            return;
        }
        let target = page.target_id().clone();
        let _ = self
            .with_browser("closing a page", move |b| {
                Box::pin(async move { b.execute(CloseTargetParams::new(target)).await })
            })
            .await;
    }

    /// The number of page targets the browser reports over CDP (`Target.getTargets`).
    pub(crate) async fn page_targets(&self) -> Result<usize, PageError> {
        if !self.is_launched() {
            return Ok(0);
        }
        self.with_browser("listing targets", |b| {
            Box::pin(async move {
                let targets = b.execute(GetTargetsParams::default()).await?;
                tracing::trace!(targets = ?targets.result.target_infos.iter().map(|t| (t.r#type.clone(), t.url.clone(), t.attached)).collect::<Vec<_>>(), "targets");
                Ok(targets
                    .result
                    .target_infos
                    .iter()
                    .filter(|t| t.r#type == "page")
                    .count())
            })
        })
        .await
    }

    /// Kills the process, waits for it, and removes the profile once its children are gone.
    pub(crate) async fn shutdown(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let Some(live) = self.live.get() else {
            return;
        };
        let browser = live.browser.write().await.take();
        if let Some(mut browser) = browser {
            // Ask politely first: the handler then ends cleanly instead of logging a connection
            // error. `kill` then sends SIGKILL (if still needed) and reaps the process.
            if !self.dead.load(Ordering::SeqCst) {
                let _ = tokio::time::timeout(GRACEFUL_CLOSE, browser.close()).await;
            }
            let _ = browser.kill().await;
            drop(browser);
        }
        live.abort_handler();
        let profile = lock(&live.profile).take();
        if let Some(dir) = profile {
            let _ = tokio::task::spawn_blocking(move || {
                crate::sys::remove_profile(dir, PROFILE_RELEASE_WAIT)
            })
            .await;
        }
        tracing::debug!(browser = self.id, profile = %live.profile_path.display(), "Chromium closed");
    }

    /// Synchronous variant for `Drop` paths: SIGKILL now (or, if a CDP call holds the browser
    /// this instant, from a helper thread as soon as the aborted handler makes it fail), then
    /// remove the profile from a helper thread once Chromium's processes are gone.
    pub(crate) fn kill_now(self: &Arc<Self>) {
        self.closing.store(true, Ordering::SeqCst);
        let Some(live) = self.live.get() else {
            return;
        };
        // Without the handler every pending CDP call fails at once, releasing the lock.
        live.abort_handler();
        if let Ok(mut guard) = live.browser.try_write() {
            kill_browser_now(guard.take());
            drop(guard);
            if let Some(dir) = lock(&live.profile).take() {
                remove_profile_in_background(dir);
            }
            return;
        }
        let inst = self.clone();
        let spawned = std::thread::Builder::new()
            .name("haul-browser-kill".into())
            .spawn(move || {
                if let Some(live) = inst.live.get() {
                    // Not on the runtime: blocking on the async lock is allowed here.
                    kill_browser_now(live.browser.blocking_write().take());
                    if let Some(dir) = lock(&live.profile).take() {
                        crate::sys::remove_profile(dir, PROFILE_RELEASE_WAIT);
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the browser clean-up thread");
        }
    }
}

fn kill_browser_now(browser: Option<Browser>) {
    if let Some(mut browser) = browser {
        if let Some(child) = browser.get_mut_child() {
            let _ = child.as_mut_inner().start_kill();
            let _ = child.try_wait();
        }
        drop(browser);
    }
}

fn remove_profile_in_background(dir: TempDir) {
    let spawned = std::thread::Builder::new()
        .name("haul-profile-cleanup".into())
        .spawn(move || crate::sys::remove_profile(dir, PROFILE_RELEASE_WAIT));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the profile clean-up thread");
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(live) = self.live.get_mut() {
            kill_browser_now(live.browser.get_mut().take());
            live.abort_handler();
            if let Some(dir) = lock(&live.profile).take() {
                remove_profile_in_background(dir);
            }
        }
    }
}
