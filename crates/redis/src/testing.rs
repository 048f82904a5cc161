//! Test support: a throw-away `redis-server` on a free loopback port, killed on drop.
//!
//! Tests that need Redis never skip: when `redis-server` is missing, [`RedisServer::start`]
//! panics saying how to install it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// A `redis-server` child process on `127.0.0.1` without persistence.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

/// The `redis-server` binary: `$HAUL_REDIS_SERVER`, else `/usr/bin/redis-server` if present,
/// else `redis-server` from `PATH`.
pub fn redis_server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("HAUL_REDIS_SERVER") {
        return p.into();
    }
    let usr = PathBuf::from("/usr/bin/redis-server");
    if usr.exists() {
        usr
    } else {
        PathBuf::from("redis-server")
    }
}

/// A loopback port that was free a moment ago (bound to 127.0.0.1:0, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0 to find a free port")
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers PING.
    ///
    /// # Panics
    /// When `redis-server` cannot be started or does not answer within 10 s.
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    /// Starts a server on `port` (such as the port of a server stopped with
    /// [`stop`](Self::stop), to simulate Redis coming back).
    ///
    /// # Panics
    /// When `redis-server` cannot be started or does not answer within 10 s.
    pub async fn start_on(port: u16) -> Self {
        let bin = redis_server_binary();
        let child = Command::new(&bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): Redis tests need redis-server 7 \
                     (apt-get install redis-server, or set HAUL_REDIS_SERVER to its path)",
                    bin.display()
                )
            });
        let mut this = Self {
            child: Some(child),
            port,
        };
        let started = Instant::now();
        loop {
            if ping(port).await {
                return this;
            }
            if let Some(Ok(Some(status))) = this.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "{} exited with {status} before answering on 127.0.0.1:{port}",
                    bin.display()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{} did not answer PING on 127.0.0.1:{port} within 10 s",
                bin.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL, `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The server's process id (to pause it with SIGSTOP, as a network cut would), while it
    /// runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Kills the server (SIGKILL) and waits for it to exit; its data is gone.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }
}

/// Whether something on `127.0.0.1:port` answers `PING` with `+PONG`.
async fn ping(port: u16) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), s.read_exact(&mut buf)).await,
        Ok(Ok(_))
    ) && &buf == b"+PONG\r\n"
}
