//! A client for any OpenAI-compatible chat completions endpoint (Ollama, llama.cpp's server, vLLM, or a hosted API
//! behind a TLS-terminating proxy: this build speaks plain HTTP only) on reqwest and serde:
//! `POST {base}/chat/completions`, non-streaming, the key as a bearer token.
//!
//! Only 429 and 5xx answers are retried, waiting what `Retry-After` says (or doubling from a quarter second) within
//! a bound; a timeout, a refused connection or any other status fails at once, so a caller can fall back while the
//! model is away. Answers are read up to [`MAX_ANSWER`] bytes. The key is never written anywhere: not in `Debug`,
//! not in an error (an error quotes the endpoint with any credentials in its URL redacted).

mod budget;
mod engine;
mod rounds;

use std::time::Duration;

use reqwest::{StatusCode, header};
use serde::{Deserialize, Serialize};

pub use self::{
    budget::Budget,
    engine::{LlmEngine, MAX_PROPOSALS},
};

/// Largest answer read, in bytes: a completion of a few proposals is a few kilobytes.
pub const MAX_ANSWER: usize = 1 << 20;

/// Where the model is and how to talk to it.
#[derive(Clone)]
pub struct LlmConfig {
    /// The API's base URL, up to and including `/v1` (`https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`).
    pub base_url: String,
    /// The model's name, as the endpoint knows it.
    pub model: String,
    /// The key, sent as `Authorization: Bearer <key>`; local servers often need none.
    pub api_key: Option<String>,
    /// How long one request may take, answer included.
    pub timeout: Duration,
    /// Requests per completion at most, the first included (retries happen only on 429 and 5xx).
    pub attempts: u32,
    /// The longest wait between attempts; a `Retry-After` asking for more fails the completion instead.
    pub max_wait: Duration,
}

impl LlmConfig {
    /// A configuration with defaults: no key, 60 s per request, 3 attempts, waits of at most 30 s.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> LlmConfig {
        LlmConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(60),
            attempts: 3,
            max_wait: Duration::from_secs(30),
        }
    }

    /// The key to send.
    pub fn api_key(mut self, key: impl Into<String>) -> LlmConfig {
        self.api_key = Some(key.into()).filter(|k: &String| !k.is_empty());
        self
    }

    /// How long one request may take.
    pub fn timeout(mut self, timeout: Duration) -> LlmConfig {
        self.timeout = timeout;
        self
    }

    /// Requests per completion at most (at least 1).
    pub fn attempts(mut self, attempts: u32) -> LlmConfig {
        self.attempts = attempts.max(1);
        self
    }

    /// The longest wait between attempts.
    pub fn max_wait(mut self, max_wait: Duration) -> LlmConfig {
        self.max_wait = max_wait;
        self
    }

    /// The base URL as it may be shown: credentials in it redacted.
    pub fn shown_url(&self) -> String {
        hive_support::redact_url_credentials(&self.base_url).into_owned()
    }
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.shown_url())
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

/// Why a completion failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The configuration cannot work.
    #[error("invalid language model configuration: {0}")]
    Config(String),
    /// The endpoint could not be reached.
    #[error("cannot reach the language model at '{endpoint}': {reason}; is the server running?")]
    Unreachable {
        /// The endpoint, credentials redacted.
        endpoint: String,
        /// What the connection said.
        reason: String,
    },
    /// The request took longer than the configured timeout.
    #[error("the language model at '{endpoint}' did not answer within {timeout:?}")]
    TimedOut {
        /// The endpoint, credentials redacted.
        endpoint: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The endpoint answered with an error status (after the retries it allows).
    #[error("the language model at '{endpoint}' answered {status}: {message}")]
    Status {
        /// The endpoint, credentials redacted.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The error's message from the body, quoted and cut short.
        message: String,
    },
    /// The endpoint asked for a longer wait than allowed.
    #[error("the language model at '{endpoint}' asked to wait {wait:?}, longer than the {max_wait:?} allowed")]
    TooLongAWait {
        /// The endpoint, credentials redacted.
        endpoint: String,
        /// What `Retry-After` asked for.
        wait: Duration,
        /// The configured bound.
        max_wait: Duration,
    },
    /// The answer is not a chat completion.
    #[error("the language model at '{endpoint}' sent an answer that is not a chat completion: {reason}")]
    Malformed {
        /// The endpoint, credentials redacted.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The instructions.
    System,
    /// The question.
    User,
    /// The model's own earlier answer.
    Assistant,
    /// A tool's result, answering one of the assistant's tool calls.
    Tool,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who says it.
    pub role: Role,
    /// What is said (empty for an assistant message that only calls tools).
    pub content: String,
    /// The tools an assistant message calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message { role, content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
    }

    /// The assistant's message calling `calls`.
    pub fn calling(content: impl Into<String>, calls: Vec<ToolCall>) -> Message {
        Message { tool_calls: calls, ..Message::new(Role::Assistant, content) }
    }

    /// A tool's result for the call `id`.
    pub fn tool_result(id: impl Into<String>, content: impl Into<String>) -> Message {
        Message { tool_call_id: Some(id.into()), ..Message::new(Role::Tool, content) }
    }
}

/// One tool call of an assistant message, in the OpenAI wire format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, which the tool's result names.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function")]
    pub kind: String,
    /// The function called.
    pub function: FunctionCall,
}

/// The function a [`ToolCall`] calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The tool's name.
    pub name: String,
    /// Its arguments: a JSON object, as text.
    #[serde(default)]
    pub arguments: String,
}

fn function() -> String {
    "function".to_owned()
}

/// What a completion returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The assistant message's text (empty when it only calls tools).
    pub content: String,
    /// The tools it calls, if any.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens the endpoint counted for the request and the answer (0 when it does not say).
    pub tokens: u64,
}

/// A client for one endpoint and model. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    endpoint: String,
    config: LlmConfig,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: &'a [Message],
    stream: bool,
    temperature: f32,
    /// JSON mode, only without tools: several servers refuse the two together.
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormat>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [serde_json::Value],
}

#[derive(Serialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Deserialize)]
struct Answer {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
}

#[derive(Deserialize)]
struct AnswerMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCall>>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    total_tokens: u64,
}

impl LlmClient {
    /// A client for `config`: checks the URL (http or https) and the model name; builds no connection yet.
    pub fn new(config: LlmConfig) -> Result<LlmClient, LlmError> {
        let base = config.base_url.trim_end_matches('/');
        if base.starts_with("https://") {
            return Err(LlmError::Config(format!(
                "the base url '{}' needs TLS, which this build does not speak yet; reach the model over http, such \
                 as a local server (Ollama, llama.cpp, vLLM) or a TLS-terminating proxy on loopback",
                config.shown_url()
            )));
        }
        if !base.starts_with("http://") {
            return Err(LlmError::Config(format!(
                "the base url '{}' must start with http://, such as http://127.0.0.1:11434/v1",
                config.shown_url()
            )));
        }
        if config.api_key.is_some() && !loopback(base) {
            return Err(LlmError::Config(format!(
                "the key would cross the network in cleartext to '{}'; send it only to a server on this machine \
                 (127.0.0.1, ::1, localhost), such as a TLS-terminating proxy, or give no key",
                config.shown_url()
            )));
        }
        if config.model.trim().is_empty() || config.model.chars().any(char::is_control) {
            return Err(LlmError::Config("the model name is empty or holds control characters".to_owned()));
        }
        // No proxy from the environment and no redirects: the key goes to the configured server and nowhere else.
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .user_agent(concat!("hive/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build the http client: {e}")))?;
        let endpoint = format!("{base}/chat/completions");
        Ok(LlmClient { http, endpoint, config })
    }

    /// The configuration.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// Asks for the next assistant message after `messages`, as one JSON object (`response_format` `json_object`).
    /// Dropping the future aborts the request.
    pub async fn complete(&self, messages: &[Message]) -> Result<Completion, LlmError> {
        self.complete_with_tools(messages, &[]).await
    }

    /// Asks for the next assistant message after `messages`, offering `tools` (entries of the OpenAI `tools`
    /// array); the answer may call them instead of answering. Without tools, it is [`LlmClient::complete`].
    pub async fn complete_with_tools(
        &self,
        messages: &[Message],
        tools: &[serde_json::Value],
    ) -> Result<Completion, LlmError> {
        let body = Request {
            model: &self.config.model,
            messages,
            stream: false,
            temperature: 0.0,
            response_format: tools.is_empty().then_some(ResponseFormat { kind: "json_object" }),
            tools,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.post(&self.endpoint).json(&body);
            if let Some(key) = &self.config.api_key {
                request = request.bearer_auth(key);
            }
            let response = request.send().await.map_err(|e| self.transport(&e))?;
            let status = response.status();
            if status.is_success() {
                let bytes = self.read(response).await?;
                return self.parse(&bytes);
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            let wait = retry_after(response.headers()).unwrap_or_else(|| {
                hive_support::doubling(Duration::from_millis(250), self.config.max_wait, attempt - 1)
            });
            // An authentication error's text may echo (part of) the key: it is not kept.
            let message = if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                "the key was refused; check the variable that holds it".to_owned()
            } else {
                error_message(&self.read(response).await.unwrap_or_default())
            };
            if !retryable || attempt >= self.config.attempts {
                return Err(LlmError::Status { endpoint: self.shown(), status: status.as_u16(), message });
            }
            if wait > self.config.max_wait {
                return Err(LlmError::TooLongAWait { endpoint: self.shown(), wait, max_wait: self.config.max_wait });
            }
            tracing::debug!(status = status.as_u16(), ?wait, attempt, "language model asked to retry");
            tokio::time::sleep(wait).await;
        }
    }

    fn shown(&self) -> String {
        hive_support::redact_url_credentials(&self.endpoint).into_owned()
    }

    fn transport(&self, err: &reqwest::Error) -> LlmError {
        if err.is_timeout() {
            return LlmError::TimedOut { endpoint: self.shown(), timeout: self.config.timeout };
        }
        // reqwest's text names the URL; the chain below it says why.
        let reason = std::error::Error::source(err).map(hive_support::error_chain).unwrap_or_else(|| err.to_string());
        LlmError::Unreachable {
            endpoint: self.shown(),
            reason: hive_support::redact_url_credentials(&reason).into_owned(),
        }
    }

    /// The body, at most [`MAX_ANSWER`] bytes.
    async fn read(&self, mut response: reqwest::Response) -> Result<Vec<u8>, LlmError> {
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport(&e))? {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(LlmError::Malformed {
                    endpoint: self.shown(),
                    reason: format!("it is longer than {MAX_ANSWER} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    fn parse(&self, bytes: &[u8]) -> Result<Completion, LlmError> {
        let malformed = |reason: String| LlmError::Malformed { endpoint: self.shown(), reason };
        let answer: Answer = serde_json::from_slice(bytes).map_err(|e| malformed(format!("{e}")))?;
        let message =
            answer.choices.into_iter().next().ok_or_else(|| malformed("it has no choices".to_owned()))?.message;
        let tool_calls = message.tool_calls.unwrap_or_default();
        let content = match message.content {
            Some(content) => content,
            None if !tool_calls.is_empty() => String::new(),
            None => return Err(malformed("its message has no content".to_owned())),
        };
        Ok(Completion { content, tool_calls, tokens: answer.usage.map_or(0, |u| u.total_tokens) })
    }
}

/// Whether the URL's host is this machine.
fn loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `Retry-After` in seconds (the form rate limiters send; an HTTP date is not honoured and falls back to doubling).
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

/// The `error.message` of an OpenAI-shaped error body, else the body's first line; quoted and cut short.
fn error_message(body: &[u8]) -> String {
    let text = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).lines().next().unwrap_or("").to_owned());
    let cut: String = text.chars().take(200).collect();
    if cut.is_empty() { "no message".to_owned() } else { format!("'{}'", cut.escape_debug()) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_this_machine_is_loopback() {
        for url in ["http://127.0.0.1:11434/v1", "http://localhost/v1", "http://[::1]:8080/v1", "http://127.1.2.3"] {
            assert!(super::loopback(url), "{url}");
        }
        for url in ["http://10.0.0.2/v1", "http://model.example/v1", "http://127.0.0.1.example/v1", "http://[::2]/"] {
            assert!(!super::loopback(url), "{url}");
        }
    }
}
