//! The connection to Redis: a reconnecting handle, the error type, and retry with backoff.

use std::future::Future;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Client, FromRedisValue, RedisResult};
use tracing::warn;

/// Why a Redis operation failed. Every variant names the Redis URL (password redacted), or
/// the crawl id at fault.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL {url}: {source}")]
    InvalidUrl {
        /// The URL as given (password redacted).
        url: String,
        /// The parse error.
        source: redis::RedisError,
    },
    /// The first connection failed: nothing listens there, or it does not speak Redis.
    #[error("Redis at {url} is unreachable: {source}")]
    Unreachable {
        /// The URL (password redacted).
        url: String,
        /// The connection error.
        source: redis::RedisError,
    },
    /// The first connection did not answer in time.
    #[error("Redis at {url} did not answer within {waited:.1?}")]
    ConnectTimeout {
        /// The URL (password redacted).
        url: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The connection went away mid-crawl and reconnecting kept failing for `waited`.
    #[error(
        "Redis at {url} went away during {what} and did not come back within {waited:.1?}: {source}"
    )]
    Gone {
        /// The URL (password redacted).
        url: String,
        /// The operation that was being retried.
        what: String,
        /// How long reconnecting was tried.
        waited: Duration,
        /// The last connection error.
        source: redis::RedisError,
    },
    /// Redis answered with an error (or an unexpected reply).
    #[error("Redis at {url}: {what} failed: {source}")]
    Command {
        /// The URL (password redacted).
        url: String,
        /// The operation.
        what: String,
        /// Redis' error.
        source: redis::RedisError,
    },
    /// The crawl id cannot name a crawl: see [`crate::keys::check_crawl_id`]. Checked before
    /// any key of the crawl is touched.
    #[error("invalid crawl id {crawl:?}: {reason}")]
    InvalidCrawlId {
        /// The id as given.
        crawl: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An entry read from a stream is not what haul writes there.
    #[error("Redis at {url}: malformed entry {id} in {key}: {message}")]
    Malformed {
        /// The URL (password redacted).
        url: String,
        /// The stream key.
        key: String,
        /// The entry id.
        id: String,
        /// What is wrong with it.
        message: String,
    },
}

impl RedisError {
    /// Redis' error code (such as `NOGROUP`) when Redis answered with an error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Command { source, .. } => source.code(),
            _ => None,
        }
    }
}

/// Timeouts and the reconnect budget of a [`Redis`] handle.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Upper bound for establishing one TCP connection.
    pub connect_timeout: Duration,
    /// Upper bound for one non-blocking command's reply.
    pub response_timeout: Duration,
    /// How long an operation keeps retrying (with exponential backoff, 100 ms doubling up to
    /// 5 s) while Redis is unreachable mid-crawl, before it fails with [`RedisError::Gone`].
    pub reconnect_for: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
            reconnect_for: Duration::from_secs(120),
        }
    }
}

/// A handle to one Redis server: cheap to clone, reconnects by itself.
///
/// It holds two [`ConnectionManager`]s (multiplexed connections that reconnect with
/// backoff): one for ordinary commands and one for blocking reads (`XREADGROUP ... BLOCK`),
/// because a blocking command on a multiplexed connection would stall every other command
/// queued behind it. Blocking reads of concurrent callers in one process are served in turn:
/// prefer one reader loop per process that hands tasks to local workers.
///
/// Every operation that fails because the connection dropped is retried with backoff for
/// [`ConnectOptions::reconnect_for`]; operations are written so that a retry after an
/// unknown outcome is harmless (atomic Lua scripts, idempotent acks, duplicates de-duplicated
/// downstream).
#[derive(Clone)]
pub struct Redis {
    url: String,
    conn: ConnectionManager,
    blocking: ConnectionManager,
    opts: ConnectOptions,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("url", &self.url).finish()
    }
}

impl Redis {
    /// Connects to `url` (`redis://HOST:PORT/DB`) with default options; fails fast, naming the
    /// URL, when nothing answers there.
    pub async fn connect(url: &str) -> Result<Self, RedisError> {
        Self::connect_with(url, ConnectOptions::default()).await
    }

    /// Connects to `url` with `opts`.
    pub async fn connect_with(url: &str, opts: ConnectOptions) -> Result<Self, RedisError> {
        let shown = redact(url);
        let client = Client::open(url).map_err(|source| RedisError::InvalidUrl {
            url: shown.clone(),
            source,
        })?;
        // Probe once so that an unreachable server fails now with a clear error instead of
        // inside the connection manager's retry loop.
        let probe_cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(Some(opts.response_timeout));
        let probe = async {
            let mut c = client
                .get_multiplexed_async_connection_with_config(&probe_cfg)
                .await?;
            redis::cmd("PING").query_async::<String>(&mut c).await
        };
        let waited = opts.connect_timeout + opts.response_timeout;
        match tokio::time::timeout(waited, probe).await {
            Err(_) => {
                return Err(RedisError::ConnectTimeout { url: shown, waited });
            }
            Ok(Err(source)) => return Err(RedisError::Unreachable { url: shown, source }),
            Ok(Ok(_)) => {}
        }
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(Some(opts.response_timeout))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(2));
        let lazy = |cfg| {
            ConnectionManager::new_lazy_with_config(client.clone(), cfg).map_err(|source| {
                RedisError::Unreachable {
                    url: shown.clone(),
                    source,
                }
            })
        };
        let conn = lazy(cfg.clone())?;
        // Blocking reads are bounded by their BLOCK argument (plus a margin, see `query`).
        let blocking = lazy(cfg.set_response_timeout(None))?;
        Ok(Self {
            url: shown,
            conn,
            blocking,
            opts,
        })
    }

    /// The URL this handle talks to, password redacted (for messages).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `op` on a connection, retrying with backoff while the connection is down.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        what: &str,
        blocking: bool,
        mut op: F,
    ) -> Result<T, RedisError>
    where
        F: FnMut(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            let conn = if blocking {
                self.blocking.clone()
            } else {
                self.conn.clone()
            };
            match op(conn).await {
                Ok(v) => return Ok(v),
                Err(e) if is_connection_error(&e) => {
                    let waited = started.elapsed();
                    if waited >= self.opts.reconnect_for {
                        return Err(RedisError::Gone {
                            url: self.url.clone(),
                            what: what.into(),
                            waited,
                            source: e,
                        });
                    }
                    warn!(url = %self.url, "{what}: Redis connection lost ({e}); retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(source) => {
                    return Err(RedisError::Command {
                        url: self.url.clone(),
                        what: what.into(),
                        source,
                    });
                }
            }
        }
    }

    /// Runs one command (retrying while the connection is down). A `block` longer than zero
    /// uses the blocking connection, with a reply deadline of `block` plus the response
    /// timeout.
    pub async fn query<T: FromRedisValue>(
        &self,
        what: &str,
        cmd: redis::Cmd,
        block: Option<Duration>,
    ) -> Result<T, RedisError> {
        let deadline = block.map(|b| b + self.opts.response_timeout);
        self.run(what, deadline.is_some(), |mut c| {
            let cmd = cmd.clone();
            async move {
                match deadline {
                    None => cmd.query_async(&mut c).await,
                    Some(d) => match tokio::time::timeout(d, cmd.query_async(&mut c)).await {
                        Ok(r) => r,
                        Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "blocking read got no reply in time",
                        ))),
                    },
                }
            }
        })
        .await
    }

    /// Runs a pipeline (retrying while the connection is down).
    pub async fn pipe<T: FromRedisValue>(
        &self,
        what: &str,
        pipe: redis::Pipeline,
    ) -> Result<T, RedisError> {
        self.run(what, false, |mut c| {
            let pipe = pipe.clone();
            async move { pipe.query_async(&mut c).await }
        })
        .await
    }

    /// Runs a Lua script with `keys` and `args` (retrying while the connection is down).
    pub async fn script<T: FromRedisValue>(
        &self,
        what: &str,
        script: &'static redis::Script,
        keys: &[String],
        args: &[String],
    ) -> Result<T, RedisError> {
        self.run(what, false, |mut c| async move {
            let mut inv = script.prepare_invoke();
            for k in keys {
                inv.key(k);
            }
            for a in args {
                inv.arg(a);
            }
            inv.invoke_async(&mut c).await
        })
        .await
    }

    /// A malformed-entry error naming this server.
    pub(crate) fn malformed(&self, key: &str, id: &str, message: impl Into<String>) -> RedisError {
        RedisError::Malformed {
            url: self.url.clone(),
            key: key.into(),
            id: id.into(),
            message: message.into(),
        }
    }
}

/// Whether `e` means the connection is (temporarily) gone rather than a command error.
fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

/// `url` with its password replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("redis://user:secret@10.0.0.1:6379/2"),
            "redis://user:***@10.0.0.1:6379/2"
        );
        assert_eq!(
            redact("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }
}
