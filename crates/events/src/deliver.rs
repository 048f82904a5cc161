//! One delivery attempt of one event to one target, and the dead-letter file.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use haul_output::Event;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use crate::sign::{EVENT_HEADER, SIGNATURE_HEADER, sign};
use crate::{Target, Webhook, shown};

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Delivered.
    Sent,
    /// Failed in a way worth retrying (connection error, timeout, 5xx, 429), after the
    /// server's delay when it gave one.
    Retry(String, Option<Duration>),
    /// Failed for good (another 4xx): no retry.
    Fail(String),
}

/// One attempt (`attempt` counts from 1) to deliver `event` to `target`.
pub(crate) async fn attempt(
    client: &reqwest::Client,
    target: &Target,
    event: &Event,
    attempt: u32,
) -> Outcome {
    let line = match serde_json::to_vec(event) {
        Ok(l) => l,
        Err(e) => return Outcome::Fail(format!("cannot serialise the event: {e}")),
    };
    match target {
        Target::Webhook(hook) => post(client, hook, event.id, attempt, line).await,
        Target::Stdout => append(None, line).await,
        Target::File(path) => append(Some(path.clone()), line).await,
    }
}

async fn post(
    client: &reqwest::Client,
    hook: &Webhook,
    id: i64,
    attempt: u32,
    body: Vec<u8>,
) -> Outcome {
    let signature = sign(&hook.secret, &body);
    let sent = client
        .post(hook.url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(EVENT_HEADER, id.to_string())
        .header(SIGNATURE_HEADER, signature)
        .header("X-Haul-Attempt", attempt.to_string())
        .body(body)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        // `without_url`: the URL may carry a token in its query.
        Err(e) => return Outcome::Retry(format!("request failed: {}", e.without_url()), None),
    };
    let status = resp.status();
    if status.is_success() {
        return Outcome::Sent;
    }
    let why = format!("{} answered HTTP {}", shown(&hook.url), status.as_u16());
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        let after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(haul_http::retry_after);
        Outcome::Retry(why, after)
    } else {
        Outcome::Fail(why)
    }
}

/// Appends `line` and a newline to `path` (standard output for `None`) off the runtime.
async fn append(path: Option<PathBuf>, mut line: Vec<u8>) -> Outcome {
    line.push(b'\n');
    let done = tokio::task::spawn_blocking(move || match &path {
        Some(p) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .and_then(|mut f| f.write_all(&line))
            .map_err(|e| format!("cannot append to {}: {e}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&line)
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write to standard output: {e}"))
        }
    })
    .await;
    match done {
        Ok(Ok(())) => Outcome::Sent,
        Ok(Err(e)) => Outcome::Retry(e, None),
        Err(_) => Outcome::Retry("the writing task failed".into(), None),
    }
}

/// Appends a dead event to the dead-letter file: `{"event", "target", "reason", "attempts",
/// "at"}`.
pub(crate) async fn dead_letter(
    path: &Path,
    target: &str,
    event: &Event,
    reason: &str,
    attempts: u32,
) -> Result<(), String> {
    let line = serde_json::json!({
        "event": event,
        "target": target,
        "reason": reason,
        "attempts": attempts,
        "at": haul_output::events::stamp(chrono::Utc::now()),
    });
    let line = serde_json::to_vec(&line).map_err(|e| e.to_string())?;
    match append(Some(path.to_path_buf()), line).await {
        Outcome::Sent => Ok(()),
        Outcome::Retry(e, _) | Outcome::Fail(e) => Err(e),
    }
}
