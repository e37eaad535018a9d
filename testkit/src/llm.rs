//! A language model server on loopback that speaks the OpenAI chat completions wire format
//! (`POST /v1/chat/completions`, `Authorization: Bearer <key>`, `choices[].message.content`, `usage`, errors as
//! `{"error": {"message", "type"}}`), with scripted answers: valid JSON, prose, tool calls (`tool_calls`, answered
//! by the client with `role: tool` messages), a body that is not JSON, error statuses with `Retry-After`, and
//! latency. It records every request, and stops when dropped.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use hive_testkit::llm::{FakeLlm, LlmReply};
//!
//! let llm = FakeLlm::start().await;
//! llm.push(LlmReply::status(429).retry_after(1));
//! llm.push(LlmReply::content(r#"{"proposals": []}"#));
//! assert!(llm.url().ends_with("/v1"));
//! # }
//! ```

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

/// The key the server accepts; any other gets a 401 like OpenAI's.
pub const LLM_KEY: &str = "sk-hive-fake-llm-key-0123456789";

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct LlmReply {
    kind: ReplyKind,
    delay: Duration,
    retry_after: Option<u64>,
}

#[derive(Debug, Clone)]
enum ReplyKind {
    /// 200 with this assistant message content.
    Content(String),
    /// An error status with an OpenAI-shaped error body.
    Status(u16),
    /// 200 with this raw body, not a completion.
    Raw(String),
    /// 200 with an assistant message calling these tools: (name, arguments as JSON text).
    ToolCalls(Vec<(String, String)>),
}

impl LlmReply {
    /// A completion whose message content is `text` (JSON or prose: the model's words).
    pub fn content(text: impl Into<String>) -> LlmReply {
        LlmReply { kind: ReplyKind::Content(text.into()), delay: Duration::ZERO, retry_after: None }
    }

    /// An error status (429, 500, 400, ...) with an OpenAI-shaped error body.
    pub fn status(code: u16) -> LlmReply {
        LlmReply { kind: ReplyKind::Status(code), delay: Duration::ZERO, retry_after: None }
    }

    /// A 200 whose body is `body` verbatim (not a completion: a proxy's HTML page, a cut-off stream).
    pub fn raw(body: impl Into<String>) -> LlmReply {
        LlmReply { kind: ReplyKind::Raw(body.into()), delay: Duration::ZERO, retry_after: None }
    }

    /// A completion whose assistant message calls tools instead of answering: each `(name, arguments)`, the
    /// arguments sent as JSON text the way OpenAI sends them, with ids `call_1`, `call_2`, ... in order.
    pub fn tool_calls<'a>(calls: impl IntoIterator<Item = (&'a str, Value)>) -> LlmReply {
        let calls = calls.into_iter().map(|(name, args)| (name.to_owned(), args.to_string())).collect();
        LlmReply { kind: ReplyKind::ToolCalls(calls), delay: Duration::ZERO, retry_after: None }
    }

    /// Answers only after `delay`.
    pub fn after(mut self, delay: Duration) -> LlmReply {
        self.delay = delay;
        self
    }

    /// Sends `Retry-After: <secs>` with it.
    pub fn retry_after(mut self, secs: u64) -> LlmReply {
        self.retry_after = Some(secs);
        self
    }
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct LlmRequest {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: Value,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl LlmRequest {
    /// The text of every message sent, in order.
    pub fn messages(&self) -> Vec<String> {
        self.body["messages"]
            .as_array()
            .map(|m| m.iter().filter_map(|m| m["content"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Script {
    replies: VecDeque<LlmReply>,
    fallback: Option<LlmReply>,
    latency: Duration,
    requests: Vec<LlmRequest>,
    in_flight: usize,
    most_in_flight: usize,
}

/// The server; it stops when dropped.
#[derive(Debug)]
pub struct FakeLlm {
    url: String,
    script: Arc<Mutex<Script>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script").field("queued", &self.replies.len()).finish_non_exhaustive()
    }
}

impl FakeLlm {
    /// Starts a server on 127.0.0.1 with a port the OS picks. Unscripted requests get a valid answer proposing
    /// one issue titled after the request's last message.
    pub async fn start() -> FakeLlm {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("binding 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound listener has an address");
        let script = Arc::new(Mutex::new(Script::default()));
        let app = Router::new().route("/v1/chat/completions", post(complete)).with_state(script.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm { url: format!("http://{addr}/v1"), script, task }
    }

    /// The base URL clients are given, `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Queues an answer for the next request without one.
    pub fn push(&self, reply: LlmReply) {
        self.lock().replies.push_back(reply);
    }

    /// The answer to every request once the queue is empty (instead of the default valid answer).
    pub fn otherwise(&self, reply: LlmReply) {
        self.lock().fallback = Some(reply);
    }

    /// Latency added to every answer.
    pub fn latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Requests being answered now (a request whose client hung up is not).
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// The most requests that were being answered at the same time.
    pub fn most_in_flight(&self) -> usize {
        self.lock().most_in_flight
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<LlmRequest> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn complete(State(script): State<Arc<Mutex<Script>>>, headers: HeaderMap, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (reply, latency) = {
        let mut script = script.lock().unwrap_or_else(|e| e.into_inner());
        let at = std::time::Instant::now();
        script.requests.push(LlmRequest { authorization: authorization.clone(), body: body.clone(), at });
        let reply = script.replies.pop_front().or_else(|| script.fallback.clone());
        script.in_flight += 1;
        script.most_in_flight = script.most_in_flight.max(script.in_flight);
        (reply, script.latency)
    };
    let reply = reply.unwrap_or_else(|| LlmReply::content(default_answer(&body)));
    // Counted out even when the client hangs up mid-wait (the future is dropped then).
    let _answered = InFlight(script.clone());
    tokio::time::sleep(latency + reply.delay).await;
    if authorization.as_deref() != Some(&format!("Bearer {LLM_KEY}")) {
        // As OpenAI answers: the key given, masked but for its ends.
        let given = authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
        let masked = match (given.get(..3), given.get(given.len().saturating_sub(4)..)) {
            (Some(head), Some(tail)) if given.len() > 8 => format!("{head}***{tail}"),
            _ => "***".to_owned(),
        };
        let message = format!("Incorrect API key provided: {masked}.");
        return error(StatusCode::UNAUTHORIZED, "invalid_request_error", &message);
    }
    let mut response = match &reply.kind {
        ReplyKind::Content(text) => Json(completion(&body, text)).into_response(),
        ReplyKind::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let kind = if *code == 429 { "rate_limit_exceeded" } else { "server_error" };
            error(status, kind, "scripted failure")
        }
        ReplyKind::ToolCalls(calls) => Json(tool_completion(&body, calls)).into_response(),
        ReplyKind::Raw(raw) => {
            ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], raw.clone()).into_response()
        }
    };
    if let Some(secs) = reply.retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

struct InFlight(Arc<Mutex<Script>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).in_flight -= 1;
    }
}

fn completion(request: &Value, content: &str) -> Value {
    let prompt_tokens = request.to_string().len() as u64 / 4;
    let completion_tokens = content.len() as u64 / 4;
    json!({
        "id": "chatcmpl-hive",
        "object": "chat.completion",
        "created": 1_796_000_000,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    })
}

fn tool_completion(request: &Value, calls: &[(String, String)]) -> Value {
    let calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, arguments))| {
            json!({ "id": format!("call_{}", i + 1), "type": "function", "function": { "name": name, "arguments": arguments } })
        })
        .collect();
    let mut answer = completion(request, "");
    answer["choices"][0]["message"] = json!({ "role": "assistant", "content": null, "tool_calls": calls });
    answer["choices"][0]["finish_reason"] = json!("tool_calls");
    answer
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "message": message, "type": kind, "param": null, "code": null } })))
        .into_response()
}

/// A valid answer: one low-risk issue, titled after the last message's first line.
fn default_answer(request: &Value) -> String {
    let last = request["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["content"].as_str());
    let title: String = last.unwrap_or("a signal").lines().next().unwrap_or("").chars().take(80).collect();
    json!({ "proposals": [{
        "action": "open_issue",
        "title": format!("look at: {title}"),
        "rationale": "a person should know",
        "risk": "low"
    }]})
    .to_string()
}
