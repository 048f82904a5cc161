//! Sites' cookie jars kept in the crawl's state directory (`--state DIR`), so that a resumed
//! or repeated crawl goes on with the session the shop gave the first one.
//!
//! One file per site, `DIR/sessions/{site}.json` (the jar's cookies, session cookies
//! included; readable by its owner only), written whole to a temporary file and renamed
//! after every page that changed the jar, on a blocking thread. The pinned cookies are not saved: they come from the
//! settings of each run.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use haul_core::{Cookie, Session};
use tracing::warn;

use crate::state::StateError;

/// Where the crawl's sites' jars are saved.
#[derive(Debug, Clone)]
pub struct SessionStore {
    dir: PathBuf,
    /// Serialises writes, so an older jar never replaces a newer one.
    writing: Arc<Mutex<()>>,
}

impl SessionStore {
    /// The store in the state directory `state`.
    pub fn in_state(state: &Path) -> Self {
        Self {
            dir: state.join("sessions"),
            writing: Arc::default(),
        }
    }

    /// The file of `site`'s jar.
    pub fn path(&self, site: &str) -> PathBuf {
        self.dir.join(format!("{site}.json"))
    }

    /// Fills `session`'s jar from its file, when there is one; a file that cannot be read
    /// is an error naming it.
    pub async fn load(&self, session: &Session) -> Result<usize, StateError> {
        let path = self.path(session.site());
        let read = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || std::fs::read(&path))
        };
        let bytes = match read.await.map_err(|e| io_err(&path, e.into()))? {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err(&path, e)),
        };
        let cookies: Vec<Cookie> =
            serde_json::from_slice(&bytes).map_err(|error| StateError::Corrupt {
                path: path.clone(),
                line: 1,
                error,
            })?;
        let n = cookies.len();
        session.absorb(cookies);
        session.take_changed();
        Ok(n)
    }

    /// Saves `session`'s jar when it changed since the last save. A failure is logged (the
    /// crawl goes on; only the next run's session is at stake).
    pub async fn save_if_changed(&self, session: &Arc<Session>) {
        if !session.take_changed() {
            return;
        }
        let (store, session) = (self.clone(), session.clone());
        let done = tokio::task::spawn_blocking(move || store.write(&session)).await;
        if let Ok(Err(e)) = done {
            warn!("cannot save the site's cookies: {e}");
        }
    }

    fn write(&self, session: &Session) -> Result<(), StateError> {
        let _one = self
            .writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let path = self.path(session.site());
        std::fs::create_dir_all(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        // Taken under the lock: the last write holds the newest jar.
        let json = serde_json::to_vec_pretty(&session.cookies())
            .map_err(|e| io_err(&path, std::io::Error::other(e)))?;
        let tmp = path.with_extension("json.tmp");
        write_private(&tmp, &json).map_err(|e| io_err(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))
    }
}

/// Writes `bytes` to a new `path` readable by its owner only (it holds session cookies).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

fn io_err(path: &Path, error: std::io::Error) -> StateError {
    StateError::Io {
        path: path.to_path_buf(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::SiteSession;

    #[tokio::test]
    async fn a_jar_saved_after_a_change_is_loaded_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::in_state(dir.path());
        let url = url::Url::parse("http://shop.example/").unwrap();
        let first = Arc::new(Session::new("acme", &SiteSession::default()));
        assert_eq!(store.load(&first).await.unwrap(), 0);
        first.store_set_cookies(&url, ["sid=s1; Path=/", "seen=1"]);
        store.save_if_changed(&first).await;
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(store.path("acme"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "owner only: {mode:o}");
        let second = Session::new("acme", &SiteSession::default());
        assert_eq!(store.load(&second).await.unwrap(), 2);
        assert_eq!(
            second.cookie_header(&url).as_deref(),
            Some("sid=s1; seen=1")
        );
        assert!(!second.take_changed());
        let other = Session::new("other", &SiteSession::default());
        assert_eq!(store.load(&other).await.unwrap(), 0, "jars are per site");
        std::fs::write(store.path("bad"), "{").unwrap();
        let e = store
            .load(&Session::new("bad", &SiteSession::default()))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("bad.json"), "{e}");
    }
}
