//! The two wire protocols: building requests and reading answers and errors of Gemini's
//! `generateContent` and of OpenAI-compatible `chat/completions`.

use std::time::Duration;

use haul_core::{LlmFailureKind, TransportKind};
use serde_json::{Value, json};

use crate::config::{ApiKey, LlmConfig, Provider};

/// Who speaks a turn of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
}

/// One call's content: system text and the turns so far.
#[derive(Debug, Clone)]
pub(crate) struct ChatRequest {
    pub(crate) system: String,
    pub(crate) turns: Vec<(Role, String)>,
    /// Ask the provider for JSON output.
    pub(crate) json: bool,
}

impl ChatRequest {
    /// A rough token count for tokens-per-minute budgeting (4 characters a token).
    pub(crate) fn estimated_tokens(&self) -> u64 {
        let chars = self.system.len() + self.turns.iter().map(|(_, t)| t.len()).sum::<usize>();
        (chars as u64).div_ceil(4).max(1)
    }
}

/// A successful answer of one call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) text: String,
    /// The model stopped at the output-token limit.
    pub(crate) truncated: bool,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
}

/// Why one call failed, classified for the retry logic.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallError {
    /// HTTP 429: cool the key down, move on.
    RateLimited { retry_after: Option<Duration> },
    /// HTTP 401/403 (or Gemini's 400 `API_KEY_INVALID`): the key is dead.
    KeyRefused { status: u16, message: String },
    /// Any other 4xx, or a blocked answer: give up with the provider's message.
    Rejected { status: u16, message: String },
    /// 5xx, timeout, connection or body errors: retry with backoff.
    Transient {
        kind: LlmFailureKind,
        message: String,
    },
}

/// Where and how to call: built once from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    provider: Provider,
    url: String,
    model: String,
    max_output_tokens: Option<u32>,
    temperature: Option<f32>,
}

impl Endpoint {
    pub(crate) fn new(config: &LlmConfig) -> Self {
        let base = config.base_url.as_str().trim_end_matches('/');
        let model = config
            .model
            .trim()
            .trim_start_matches("models/")
            .to_string();
        let url = match config.provider {
            Provider::Gemini => format!("{base}/v1beta/models/{model}:generateContent"),
            Provider::OpenAi => format!("{base}/chat/completions"),
        };
        Self {
            provider: config.provider,
            url,
            model,
            max_output_tokens: config.max_output_tokens,
            temperature: config.temperature,
        }
    }

    /// The request URL (holds no key: keys travel in headers).
    #[cfg(test)]
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The JSON body of a request.
    pub(crate) fn body(&self, req: &ChatRequest) -> Value {
        match self.provider {
            Provider::Gemini => {
                let contents: Vec<Value> = req
                    .turns
                    .iter()
                    .map(|(role, text)| {
                        let role = match role {
                            Role::User => "user",
                            Role::Assistant => "model",
                        };
                        json!({"role": role, "parts": [{"text": text}]})
                    })
                    .collect();
                let mut body = json!({ "contents": contents });
                if !req.system.is_empty() {
                    body["systemInstruction"] = json!({"parts": [{"text": req.system}]});
                }
                let mut generation = serde_json::Map::new();
                if req.json {
                    generation.insert("responseMimeType".into(), json!("application/json"));
                }
                if let Some(n) = self.max_output_tokens {
                    generation.insert("maxOutputTokens".into(), json!(n));
                }
                if let Some(t) = self.temperature {
                    generation.insert("temperature".into(), json!(t));
                }
                if !generation.is_empty() {
                    body["generationConfig"] = Value::Object(generation);
                }
                body
            }
            Provider::OpenAi => {
                let mut messages = Vec::with_capacity(req.turns.len() + 1);
                if !req.system.is_empty() {
                    messages.push(json!({"role": "system", "content": req.system}));
                }
                for (role, text) in &req.turns {
                    let role = match role {
                        Role::User => "user",
                        Role::Assistant => "assistant",
                    };
                    messages.push(json!({"role": role, "content": text}));
                }
                let mut body = json!({"model": self.model, "messages": messages});
                if req.json {
                    body["response_format"] = json!({"type": "json_object"});
                }
                if let Some(n) = self.max_output_tokens {
                    body["max_tokens"] = json!(n);
                }
                if let Some(t) = self.temperature {
                    body["temperature"] = json!(t);
                }
                body
            }
        }
    }

    /// Sends one request with `key` and classifies the outcome. The client follows no
    /// redirects (the key would go along): a 3xx answer is [`CallError::Rejected`] naming
    /// its target. The reply is read up to `max_reply` bytes.
    pub(crate) async fn send(
        &self,
        client: &reqwest::Client,
        key: &ApiKey,
        req: &ChatRequest,
        timeout: Duration,
        max_reply: u64,
    ) -> Result<Reply, CallError> {
        let builder = client
            .post(&self.url)
            .timeout(timeout)
            .json(&self.body(req));
        let builder = match self.provider {
            Provider::Gemini => builder.header("x-goog-api-key", key.secret()),
            Provider::OpenAi => builder.bearer_auth(key.secret()),
        };
        let response = builder.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if response.status().is_redirection() {
            let target = header(reqwest::header::LOCATION).unwrap_or_else(|| "nowhere".into());
            return Err(CallError::Rejected {
                status,
                message: format!(
                    "HTTP {status} redirect to {target} not followed (the LLM client follows no redirects; set the base URL to the final address)"
                ),
            });
        }
        let retry_after = header(reqwest::header::RETRY_AFTER)
            .as_deref()
            .and_then(haul_http::retry_after);
        let bytes = haul_http::read_capped(response, max_reply)
            .await
            .map_err(|e| match e {
                haul_http::ReadError::TooLarge { limit } => CallError::Rejected {
                    status,
                    message: format!(
                        "the reply is larger than the cap of {limit} bytes (max_reply_bytes); reading stopped there"
                    ),
                },
                haul_http::ReadError::Transport(e) => transport_error(e),
            })?;
        if status == 200 {
            return self.parse_success(&bytes);
        }
        Err(classify_status(status, retry_after, &bytes))
    }

    fn parse_success(&self, bytes: &[u8]) -> Result<Reply, CallError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| CallError::Transient {
            kind: LlmFailureKind::BadResponse,
            message: format!("answer body is not JSON: {e}"),
        })?;
        match self.provider {
            Provider::Gemini => parse_gemini(&value),
            Provider::OpenAi => parse_openai(&value),
        }
    }
}

fn transport_error(e: reqwest::Error) -> CallError {
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else if e.is_body() || e.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Request
    };
    // reqwest's message names the URL, which never holds a key.
    CallError::Transient {
        kind: LlmFailureKind::Transport(kind),
        message: error_chain(&e),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

fn classify_status(status: u16, retry_after: Option<Duration>, body: &[u8]) -> CallError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                format!("HTTP {status} with an empty body")
            } else {
                text.chars().take(500).collect()
            }
        });
    match status {
        429 => {
            // Gemini tells the delay in a google.rpc.RetryInfo detail rather than a header.
            let from_body = parsed.as_ref().and_then(gemini_retry_delay);
            CallError::RateLimited {
                retry_after: retry_after.or(from_body),
            }
        }
        401 | 403 => CallError::KeyRefused { status, message },
        400 if is_invalid_key(parsed.as_ref(), &message) => {
            CallError::KeyRefused { status, message }
        }
        408 | 500..=599 => CallError::Transient {
            kind: LlmFailureKind::HttpStatus,
            message: format!("HTTP {status}: {message}"),
        },
        _ => CallError::Rejected { status, message },
    }
}

/// Gemini answers a bad key with 400 INVALID_ARGUMENT and reason `API_KEY_INVALID`.
fn is_invalid_key(parsed: Option<&Value>, message: &str) -> bool {
    let reason = parsed
        .and_then(|v| v.pointer("/error/details"))
        .and_then(Value::as_array)
        .is_some_and(|details| {
            details
                .iter()
                .any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
        });
    reason || message.contains("API key not valid")
}

fn gemini_retry_delay(v: &Value) -> Option<Duration> {
    v.pointer("/error/details")?
        .as_array()?
        .iter()
        .filter_map(|d| d.get("retryDelay").and_then(Value::as_str))
        .find_map(|s| haul_http::delay_secs(s.trim().strip_suffix('s')?))
}

fn tokens(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

fn parse_gemini(v: &Value) -> Result<Reply, CallError> {
    let Some(candidate) = v.pointer("/candidates/0") else {
        let reason = v
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
            .unwrap_or("no candidates in the answer");
        return Err(CallError::Rejected {
            status: 200,
            message: format!("prompt blocked: {reason}"),
        });
    };
    let finish = candidate
        .get("finishReason")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut text = String::new();
    let mut has_parts = false;
    if let Some(parts) = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
    {
        for part in parts {
            has_parts = true;
            // Thought summaries are not part of the answer.
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            if let Some(t) = part.get("text").and_then(Value::as_str) {
                text.push_str(t);
            }
        }
    }
    if !has_parts
        && matches!(
            finish,
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII"
        )
    {
        return Err(CallError::Rejected {
            status: 200,
            message: format!("answer blocked: finishReason {finish}"),
        });
    }
    Ok(Reply {
        text,
        truncated: finish == "MAX_TOKENS",
        input_tokens: tokens(v, "/usageMetadata/promptTokenCount"),
        output_tokens: tokens(v, "/usageMetadata/candidatesTokenCount")
            + tokens(v, "/usageMetadata/thoughtsTokenCount"),
    })
}

fn parse_openai(v: &Value) -> Result<Reply, CallError> {
    let Some(choice) = v.pointer("/choices/0") else {
        return Err(CallError::Transient {
            kind: LlmFailureKind::BadResponse,
            message: "answer has no choices".into(),
        });
    };
    let finish = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("");
    let text = match choice.pointer("/message/content") {
        Some(Value::String(s)) => s.clone(),
        // Some compatible servers send content parts.
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    };
    if text.is_empty() && finish == "content_filter" {
        return Err(CallError::Rejected {
            status: 200,
            message: "answer blocked: finish_reason content_filter".into(),
        });
    }
    Ok(Reply {
        text,
        truncated: finish == "length",
        input_tokens: tokens(v, "/usage/prompt_tokens"),
        output_tokens: tokens(v, "/usage/completion_tokens"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(provider: Provider) -> Endpoint {
        let mut c = LlmConfig::new(provider, vec![ApiKey::new(1, "k")]);
        c.base_url = url::Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        c.model = "models/m1".into();
        c.max_output_tokens = Some(100);
        Endpoint::new(&c)
    }

    fn request() -> ChatRequest {
        ChatRequest {
            system: "sys".into(),
            turns: vec![
                (Role::User, "q".into()),
                (Role::Assistant, "a".into()),
                (Role::User, "continue".into()),
            ],
            json: true,
        }
    }

    #[test]
    fn urls_follow_each_protocol() {
        assert_eq!(
            endpoint(Provider::Gemini).url(),
            "http://127.0.0.1:9/prefix/v1beta/models/m1:generateContent"
        );
        assert_eq!(
            endpoint(Provider::OpenAi).url(),
            "http://127.0.0.1:9/prefix/chat/completions"
        );
    }

    #[test]
    fn bodies_follow_each_protocol() {
        let g = endpoint(Provider::Gemini).body(&request());
        assert_eq!(
            g,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "q"}]},
                    {"role": "model", "parts": [{"text": "a"}]},
                    {"role": "user", "parts": [{"text": "continue"}]},
                ],
                "systemInstruction": {"parts": [{"text": "sys"}]},
                "generationConfig": {"responseMimeType": "application/json", "maxOutputTokens": 100},
            })
        );
        let o = endpoint(Provider::OpenAi).body(&request());
        assert_eq!(
            o,
            json!({
                "model": "m1",
                "messages": [
                    {"role": "system", "content": "sys"},
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a"},
                    {"role": "user", "content": "continue"},
                ],
                "response_format": {"type": "json_object"},
                "max_tokens": 100,
            })
        );
    }

    #[test]
    fn answers_are_read() {
        let g = json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "thinking", "thought": true}, {"text": "{\"a\":"}, {"text": "1}"}
            ]}, "finishReason": "MAX_TOKENS"}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 2}
        });
        assert_eq!(
            parse_gemini(&g).unwrap(),
            Reply {
                text: "{\"a\":1}".into(),
                truncated: true,
                input_tokens: 10,
                output_tokens: 7
            }
        );
        let o = json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        });
        assert_eq!(
            parse_openai(&o).unwrap(),
            Reply {
                text: "hi".into(),
                truncated: false,
                input_tokens: 3,
                output_tokens: 1
            }
        );
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}});
        assert!(matches!(
            parse_gemini(&blocked),
            Err(CallError::Rejected { .. })
        ));
        assert!(matches!(
            parse_openai(&json!({})),
            Err(CallError::Transient { .. })
        ));
    }

    #[test]
    fn statuses_are_classified() {
        let gemini_bad_key = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#;
        let gemini_429 = br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}"#;
        let openai_400 = br#"{"error":{"message":"bad param","type":"invalid_request_error","param":null,"code":null}}"#;
        let cases: Vec<(u16, Option<Duration>, &[u8], CallError)> = vec![
            (
                429,
                Some(Duration::from_secs(3)),
                b"",
                CallError::RateLimited {
                    retry_after: Some(Duration::from_secs(3)),
                },
            ),
            (
                429,
                None,
                gemini_429,
                CallError::RateLimited {
                    retry_after: Some(Duration::from_secs(7)),
                },
            ),
            (
                429,
                None,
                b"slow down",
                CallError::RateLimited { retry_after: None },
            ),
            (
                401,
                None,
                openai_400,
                CallError::KeyRefused {
                    status: 401,
                    message: "bad param".into(),
                },
            ),
            (
                400,
                None,
                gemini_bad_key,
                CallError::KeyRefused {
                    status: 400,
                    message: "API key not valid. Please pass a valid API key.".into(),
                },
            ),
            (
                400,
                None,
                openai_400,
                CallError::Rejected {
                    status: 400,
                    message: "bad param".into(),
                },
            ),
            (
                404,
                None,
                b"",
                CallError::Rejected {
                    status: 404,
                    message: "HTTP 404 with an empty body".into(),
                },
            ),
            (
                503,
                None,
                b"busy",
                CallError::Transient {
                    kind: LlmFailureKind::HttpStatus,
                    message: "HTTP 503: busy".into(),
                },
            ),
        ];
        for (status, retry_after, body, want) in cases {
            assert_eq!(classify_status(status, retry_after, body), want, "{status}");
        }
    }

    #[test]
    fn server_given_delays_are_capped() {
        let cap = Duration::from_secs(haul_http::MAX_RETRY_AFTER_SECS);
        let gemini = |delay: &str| {
            let body = json!({"error": {"code": 429, "message": "quota", "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
            ]}});
            classify_status(429, None, body.to_string().as_bytes())
        };
        let limited = |secs: Duration| CallError::RateLimited {
            retry_after: Some(secs),
        };
        assert_eq!(gemini("1.5s"), limited(Duration::from_millis(1500)));
        assert_eq!(gemini("99999999999999999999s"), limited(cap));
        assert_eq!(
            gemini("1e400s"),
            CallError::RateLimited { retry_after: None }
        );
        // The header wins over the body, and is capped the same way.
        let header = haul_http::retry_after("99999999999999999999");
        assert_eq!(header, Some(cap));
        assert_eq!(
            classify_status(429, header, b"{}"),
            CallError::RateLimited {
                retry_after: Some(cap)
            }
        );
    }
}
