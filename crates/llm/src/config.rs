//! The pool's configuration: provider, endpoint, keys (redacted everywhere) and limits.

use std::fmt;
use std::time::Duration;

use thiserror::Error;
use url::Url;

/// The environment variable holding the API keys, comma-separated.
pub const KEYS_ENV: &str = "HAUL_LLM_KEYS";

/// Which wire protocol the endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Google Gemini REST: `{base}/v1beta/models/{model}:generateContent`, `x-goog-api-key`.
    Gemini,
    /// Any OpenAI-compatible chat-completions endpoint: `{base}/chat/completions`, Bearer key.
    #[serde(rename = "openai")]
    OpenAi,
}

impl Provider {
    /// The public endpoint used when no base URL is given.
    pub fn default_base_url(self) -> Url {
        let s = match self {
            Self::Gemini => "https://generativelanguage.googleapis.com",
            Self::OpenAi => "https://api.openai.com/v1",
        };
        Url::parse(s).expect("static URL parses")
    }

    /// The model used when none is given.
    pub fn default_model(self) -> &'static str {
        match self {
            Self::Gemini => "gemini-2.5-flash",
            Self::OpenAi => "gpt-4o-mini",
        }
    }

    /// `gemini` or `openai`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gemini => "gemini",
            Self::OpenAi => "openai",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Provider {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gemini" | "google" => Ok(Self::Gemini),
            "openai" | "open-ai" | "openai-compatible" => Ok(Self::OpenAi),
            other => Err(ConfigError::UnknownProvider(other.to_string())),
        }
    }
}

/// One API key. The secret is only readable inside this crate; `Debug` and `Display` show
/// the label (`key#1`, `key#2`... by position), never the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    label: String,
    secret: String,
}

impl ApiKey {
    /// A key labelled `key#{number}` (numbers start at 1 by convention).
    pub fn new(number: usize, secret: impl Into<String>) -> Self {
        Self {
            label: format!("key#{number}"),
            secret: secret.into(),
        }
    }

    /// The label that stands for this key in logs, errors and stats.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}, <redacted>)", self.label)
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// Splits a comma-separated key list (the format of `HAUL_LLM_KEYS`) into labelled keys;
/// blanks around and between commas are ignored, duplicates are dropped.
pub fn parse_keys(list: &str) -> Vec<ApiKey> {
    let mut seen: Vec<&str> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !seen.contains(&part) {
            seen.push(part);
        }
    }
    seen.into_iter()
        .enumerate()
        .map(|(i, s)| ApiKey::new(i + 1, s))
        .collect()
}

/// Why a configuration cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No key was given.
    #[error("no LLM API key: set {KEYS_ENV} to a comma-separated list of keys")]
    NoKeys,
    /// The provider name is not known.
    #[error("unknown LLM provider `{0}` (expected `gemini` or `openai`)")]
    UnknownProvider(String),
    /// The base URL is not http(s).
    #[error("LLM base URL {0} must be http or https")]
    BadBaseUrl(String),
    /// A limit is zero or out of range.
    #[error("LLM setting `{field}` is invalid: {message}")]
    Invalid {
        /// The configuration field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("LLM HTTP client: {0}")]
    Client(String),
}

/// Everything the pool needs. Build with [`LlmConfig::new`] (defaults) and adjust fields.
#[derive(Clone)]
pub struct LlmConfig {
    /// The wire protocol.
    pub provider: Provider,
    /// Endpoint base: for Gemini the host (`https://generativelanguage.googleapis.com`), for
    /// OpenAI-compatible servers the prefix before `/chat/completions` (`https://api.openai.com/v1`).
    pub base_url: Url,
    /// Model name (`gemini-2.5-flash`, `gpt-4o-mini`...).
    pub model: String,
    /// The keys, rotated round robin.
    pub keys: Vec<ApiKey>,
    /// Worker tasks taking tasks from the queue (default 20).
    pub workers: usize,
    /// Cap on HTTP calls in flight at once (default 20).
    pub max_in_flight: usize,
    /// Tasks that may wait in the queue before `submit` waits (default 1,000).
    pub queue_capacity: usize,
    /// Timeout of one HTTP call (default 120 s).
    pub timeout: Duration,
    /// Retries after 5xx, timeouts and connection errors (default 3).
    pub max_retries: u32,
    /// First retry delay; later ones double, plus jitter (default 1 s).
    pub retry_base_delay: Duration,
    /// Longest retry delay (default 30 s).
    pub retry_max_delay: Duration,
    /// Continuation rounds after an answer cut at the output-token limit (default 4).
    pub max_continuations: u32,
    /// Optional requests-per-minute limit of each key: the provider's token bucket, refilled
    /// at this rate. Every request (first try, retry, continuation, repair) is paced by it.
    pub per_key_rpm: Option<u32>,
    /// Requests of one key that may go back to back within `per_key_rpm` (the bucket's
    /// size; default 1: evenly spaced, so that no rolling minute ever holds more than
    /// `per_key_rpm`). Set it to the provider's burst.
    pub per_key_burst: u32,
    /// Optional tokens-per-minute limit of each key (input + output tokens; a full minute's
    /// worth may be spent at once).
    pub per_key_tpm: Option<u32>,
    /// First cooldown of a key after a 429 without `Retry-After`; doubles per repeated 429
    /// (default 2 s).
    pub cooldown_base: Duration,
    /// Longest cooldown (default 10 min). A provider's `Retry-After` or `retryDelay` is
    /// capped at `haul_http::MAX_RETRY_AFTER_SECS` (10 min) when read, then at this (the
    /// binary sets it from `--max-retry-after`).
    pub cooldown_max: Duration,
    /// 429 answers one task accepts (moving to another key each time) before it fails with
    /// [`haul_core::LlmError::Exhausted`] (default 50).
    pub max_rate_limited: u32,
    /// Ask the provider for JSON output on JSON tasks (`responseMimeType` /
    /// `response_format`); continuation rounds never ask for it (default true).
    pub native_json_mode: bool,
    /// Output-token limit sent with each request (default: the provider's own).
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature sent with each request (default: the provider's own).
    pub temperature: Option<f32>,
    /// How long `shutdown` lets running calls finish before cancelling them (default 10 s).
    pub shutdown_grace: Duration,
    /// The largest reply body read, in bytes (default [`DEFAULT_MAX_REPLY_BYTES`]); reading
    /// stops there and the call fails with [`haul_core::LlmError::Rejected`] naming the cap.
    pub max_reply_bytes: u64,
}

/// The default [`LlmConfig::max_reply_bytes`]: 16 MiB, as for a crawled page (answers of
/// real models are a few kilobytes to a few hundred).
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 16 * 1024 * 1024;

impl LlmConfig {
    /// A configuration with the provider's public endpoint and default model, and defaults
    /// for everything else.
    pub fn new(provider: Provider, keys: Vec<ApiKey>) -> Self {
        Self {
            provider,
            base_url: provider.default_base_url(),
            model: provider.default_model().to_string(),
            keys,
            workers: 20,
            max_in_flight: 20,
            queue_capacity: 1000,
            timeout: Duration::from_secs(120),
            max_retries: 3,
            retry_base_delay: Duration::from_secs(1),
            retry_max_delay: Duration::from_secs(30),
            max_continuations: 4,
            per_key_rpm: None,
            per_key_burst: 1,
            per_key_tpm: None,
            cooldown_base: Duration::from_secs(2),
            cooldown_max: Duration::from_secs(600),
            max_rate_limited: 50,
            native_json_mode: true,
            max_output_tokens: None,
            temperature: None,
            shutdown_grace: Duration::from_secs(10),
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        }
    }

    /// [`LlmConfig::new`] with the keys of a comma-separated list (`HAUL_LLM_KEYS` format).
    pub fn from_keys_str(provider: Provider, list: &str) -> Result<Self, ConfigError> {
        let keys = parse_keys(list);
        if keys.is_empty() {
            return Err(ConfigError::NoKeys);
        }
        Ok(Self::new(provider, keys))
    }

    /// [`LlmConfig::new`] with the keys of `HAUL_LLM_KEYS`; then `adjust` sets whatever the
    /// caller's flags say (base URL, model, limits). Fails when the variable is unset or
    /// empty, or when the adjusted configuration is invalid.
    pub fn from_env_and(
        provider: Provider,
        adjust: impl FnOnce(&mut LlmConfig),
    ) -> Result<Self, ConfigError> {
        let list = std::env::var(KEYS_ENV).unwrap_or_default();
        let mut config = Self::from_keys_str(provider, &list)?;
        adjust(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// How much later than it left the request opening a period of a key's request bucket
    /// counts (after the key idled): 250 ms with a burst above 1, where it costs no throughput
    /// while the key is busy, else zero. The provider's bucket starts when that request
    /// *arrives*, and a first request on a new connection arrives later than the following
    /// ones. Shared limits (a [`crate::KeyGate`]) should use the same.
    pub fn pacing_guard(&self) -> Duration {
        if self.per_key_burst > 1 {
            Duration::from_millis(250)
        } else {
            Duration::ZERO
        }
    }

    /// Checks the settings, naming the first bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.keys.is_empty() {
            return Err(ConfigError::NoKeys);
        }
        if !matches!(self.base_url.scheme(), "http" | "https") {
            return Err(ConfigError::BadBaseUrl(self.base_url.to_string()));
        }
        let positive = |field: &'static str, v: usize| {
            if v == 0 {
                Err(ConfigError::Invalid {
                    field,
                    message: "must be at least 1".into(),
                })
            } else {
                Ok(())
            }
        };
        positive("workers", self.workers)?;
        positive("max_in_flight", self.max_in_flight)?;
        positive("queue_capacity", self.queue_capacity)?;
        positive(
            "max_reply_bytes",
            usize::try_from(self.max_reply_bytes).unwrap_or(usize::MAX),
        )?;
        if self.model.trim().is_empty() {
            return Err(ConfigError::Invalid {
                field: "model",
                message: "must not be empty".into(),
            });
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::Invalid {
                field: "timeout",
                message: "must be longer than 0".into(),
            });
        }
        if self.per_key_rpm == Some(0) {
            return Err(ConfigError::Invalid {
                field: "per_key_rpm",
                message: "must be at least 1 (or unset)".into(),
            });
        }
        if self.per_key_burst == 0 {
            return Err(ConfigError::Invalid {
                field: "per_key_burst",
                message: "must be at least 1".into(),
            });
        }
        if self.per_key_tpm == Some(0) {
            return Err(ConfigError::Invalid {
                field: "per_key_tpm",
                message: "must be at least 1 (or unset)".into(),
            });
        }
        Ok(())
    }
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<&str> = self.keys.iter().map(ApiKey::label).collect();
        f.debug_struct("LlmConfig")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url.as_str())
            .field("model", &self.model)
            .field("keys", &labels)
            .field("workers", &self.workers)
            .field("max_in_flight", &self.max_in_flight)
            .field("queue_capacity", &self.queue_capacity)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_base_delay", &self.retry_base_delay)
            .field("retry_max_delay", &self.retry_max_delay)
            .field("max_continuations", &self.max_continuations)
            .field("per_key_rpm", &self.per_key_rpm)
            .field("per_key_burst", &self.per_key_burst)
            .field("per_key_tpm", &self.per_key_tpm)
            .field("cooldown_base", &self.cooldown_base)
            .field("cooldown_max", &self.cooldown_max)
            .field("max_rate_limited", &self.max_rate_limited)
            .field("native_json_mode", &self.native_json_mode)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("temperature", &self.temperature)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("max_reply_bytes", &self.max_reply_bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_parsed_labelled_and_deduplicated() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            (" , ,", &[]),
            ("a", &["a"]),
            ("a,b , c", &["a", "b", "c"]),
            ("a,,a,b", &["a", "b"]),
        ];
        for (input, want) in cases {
            let keys = parse_keys(input);
            let secrets: Vec<&str> = keys.iter().map(ApiKey::secret).collect();
            assert_eq!(&secrets, want, "input {input:?}");
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(k.label(), format!("key#{}", i + 1));
            }
        }
    }

    #[test]
    fn debug_and_display_never_show_secrets() {
        let mut config =
            LlmConfig::from_keys_str(Provider::Gemini, "sk-SECRET-1,sk-SECRET-2").unwrap();
        config.per_key_rpm = Some(10);
        let shown = format!("{config:?} {:?} {}", config.keys[0], config.keys[1]);
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("key#1") && shown.contains("key#2"),
            "{shown}"
        );
    }

    #[test]
    fn validation_names_the_bad_field() {
        let base = LlmConfig::from_keys_str(Provider::OpenAi, "k").unwrap();
        assert!(base.validate().is_ok());
        type Change = Box<dyn Fn(&mut LlmConfig)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|c| c.workers = 0), "workers"),
            (Box::new(|c| c.max_in_flight = 0), "max_in_flight"),
            (Box::new(|c| c.queue_capacity = 0), "queue_capacity"),
            (Box::new(|c| c.per_key_rpm = Some(0)), "per_key_rpm"),
            (Box::new(|c| c.per_key_tpm = Some(0)), "per_key_tpm"),
            (Box::new(|c| c.per_key_burst = 0), "per_key_burst"),
            (Box::new(|c| c.model = " ".into()), "model"),
            (Box::new(|c| c.timeout = Duration::ZERO), "timeout"),
            (Box::new(|c| c.keys.clear()), "HAUL_LLM_KEYS"),
            (
                Box::new(|c| c.base_url = Url::parse("ftp://x").unwrap()),
                "ftp://x",
            ),
        ];
        for (change, culprit) in cases {
            let mut c = base.clone();
            change(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(culprit), "{err} should name {culprit}");
        }
    }

    #[test]
    fn providers_parse() {
        assert_eq!("Gemini".parse::<Provider>().unwrap(), Provider::Gemini);
        assert_eq!("openai".parse::<Provider>().unwrap(), Provider::OpenAi);
        assert!(
            "claude"
                .parse::<Provider>()
                .unwrap_err()
                .to_string()
                .contains("claude")
        );
        assert!(LlmConfig::from_keys_str(Provider::Gemini, " ").is_err());
    }
}
