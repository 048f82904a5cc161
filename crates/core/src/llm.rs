//! The LLM pool contract as seen by sites: submit a task, await its answer.

use async_trait::async_trait;

use crate::LlmError;

/// One request for the process-wide LLM pool.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LlmTask {
    /// Site that asks (the pool serves sites fairly).
    pub site: String,
    /// System instructions.
    pub system: String,
    /// The user turn (for extraction: the schema and the page as Markdown).
    pub prompt: String,
    /// Whether the answer must be JSON (the pool then parses, continues truncated answers and
    /// repairs once).
    pub json: bool,
}

/// The pool's answer to one [`LlmTask`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LlmAnswer {
    /// The full text (all continuation fragments merged).
    pub text: String,
    /// The parsed JSON when the task asked for JSON.
    pub json: Option<serde_json::Value>,
    /// Prompt tokens, summed over continuation rounds.
    pub input_tokens: u64,
    /// Output tokens, summed over continuation rounds.
    pub output_tokens: u64,
    /// Continuation rounds that were needed (0 when the first answer was complete).
    pub continuations: u32,
}

/// The process-wide LLM pool.
///
/// Contract: every submitted task resolves, to an answer or an error, also at shutdown
/// ([`LlmError::Cancelled`]); `submit` waits (back-pressure) when the pool's queue is full.
#[async_trait]
pub trait LlmPool: Send + Sync {
    /// Submits a task and waits for its answer.
    async fn submit(&self, task: LlmTask) -> Result<LlmAnswer, LlmError>;

    /// Counters as JSON for the crawl's final stats (keys never appear). Default: null.
    fn stats_json(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}
