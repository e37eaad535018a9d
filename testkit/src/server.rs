//! The HTTP side: `Emulator` binds 127.0.0.1:0, accepts connections in one task and serves each through axum.
//! Every request goes through one pipeline (latency, faults, authentication, rate-limit budget, routing, ETag,
//! request log), so each GitHub behaviour is implemented once. Dropping the `Emulator` aborts the accept task,
//! which owns the connection tasks, so nothing outlives the test.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RETRY_AFTER};
use axum::http::{HeaderValue, Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

use crate::fault::Fault;
use crate::render;
use crate::routes::{self, Ctx, Reply};
use crate::spec::RequestRecord;
use crate::state::{Caller, EmulatorState};

/// The token the emulator accepts for every owner: `ghp_` and 36 characters, the shape of a classic personal access
/// token. Others, each limited to some owners, are added with [`EmulatorState::add_token`].
pub const TOKEN: &str = "ghp_HiveEmulatorToken0123456789abcdefghi";

const DOCS: &str = "https://docs.github.com/rest";

/// A running GitHub API emulator on loopback; it stops when dropped.
#[derive(Debug)]
pub struct Emulator {
    url: String,
    state: Arc<EmulatorState>,
    task: JoinHandle<()>,
}

/// The fault (if any) the connection layer already took for a request, handed to the pipeline.
#[derive(Clone)]
struct Pending(Option<Fault>);

impl Emulator {
    /// Starts an emulator on 127.0.0.1 with a port the OS picks. Must be called inside a tokio runtime.
    pub async fn start() -> Emulator {
        // Loopback only: the emulator is test support and must never be reachable from the network.
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binding 127.0.0.1:0 fails only when out of ports or descriptors");
        let addr = listener.local_addr().expect("a bound TCP listener has a local address");
        let url = format!("http://{addr}");
        let state = Arc::new(EmulatorState::new(url.clone()));
        let router = Router::new().fallback(pipeline).with_state(state.clone());
        let task = tokio::spawn(accept_loop(listener, router, state.clone()));
        Emulator { url, state, task }
    }

    /// REST base URL, e.g. `http://127.0.0.1:PORT`; GraphQL is at `{url}/graphql`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// GraphQL endpoint URL.
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.url)
    }

    /// The token the emulator accepts.
    pub fn token(&self) -> &'static str {
        TOKEN
    }

    /// The shared state: fixtures in, requests and writes out.
    pub fn state(&self) -> &EmulatorState {
        &self.state
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, router: Router, state: Arc<EmulatorState>) {
    // The set owns every connection task: aborting this task drops the set, which aborts them all.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (router, state) = (router.clone(), state.clone());
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        serve_one(req, router.clone(), state.clone())
                    });
                    // A failed connection (client gone, injected reset) concerns only that connection.
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Takes the request's fault before axum sees it, because only this layer can drop a connection unanswered.
async fn serve_one(
    mut req: hyper::Request<hyper::body::Incoming>,
    router: Router,
    state: Arc<EmulatorState>,
) -> Result<Response<Body>, io::Error> {
    let fault = state.world().take_fault(req.method(), req.uri().path());
    if fault == Some(Fault::ConnectionReset) {
        let caller = state.world().caller(bearer(req.headers()).as_deref());
        let record = RequestRecord {
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            query: req.uri().query().unwrap_or("").to_owned(),
            status: 0,
            authorized: caller.as_ref().is_some_and(Caller::authorized),
            token: caller.and_then(|caller| caller.token()),
            if_none_match: header(req.headers(), IF_NONE_MATCH.as_str()),
            counted: false,
            points: 0,
            operation: None,
            at: Instant::now(),
        };
        state.world().log.push(record);
        // Returning an error makes hyper close the connection without writing a response.
        return Err(io::Error::new(io::ErrorKind::ConnectionReset, "injected connection reset"));
    }
    req.extensions_mut().insert(Pending(fault));
    router.oneshot(req.map(Body::new)).await.map_err(|never| match never {})
}

fn header(h: &axum::http::HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The token of the `Authorization` header, if there is one; `EmulatorState`'s world says whether it is accepted.
fn bearer(h: &axum::http::HeaderMap) -> Option<String> {
    let value = header(h, AUTHORIZATION.as_str())?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .or_else(|| value.strip_prefix("token "))
        .unwrap_or(&value);
    Some(token.trim().to_owned())
}

fn resource_of(path: &str) -> &'static str {
    if path.starts_with("/search/") {
        "search"
    } else if path == "/graphql" {
        "graphql"
    } else {
        "core"
    }
}

/// Whether an `If-None-Match` value matches `etag`, comparing weakly as GitHub does.
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |s: &str| s.trim().trim_start_matches("W/").to_owned();
    if_none_match.split(',').any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

async fn pipeline(state: State<Arc<EmulatorState>>, req: Request) -> Response<Body> {
    let (response, reply_delay) = answer(state, req).await;
    // The change is made; only the answer is late, as when GitHub has acted but the response is slow to arrive.
    if !reply_delay.is_zero() {
        tokio::time::sleep(reply_delay).await;
    }
    response
}

/// The answer to a request, and how long to hold it back.
async fn answer(State(state): State<Arc<EmulatorState>>, req: Request) -> (Response<Body>, std::time::Duration) {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let fault = parts.extensions.get::<Pending>().and_then(|p| p.0.clone());
    let method = parts.method.clone();
    // A GraphQL query reads, though it travels as a POST.
    let method_is_write = method != Method::GET && parts.uri.path() != "/graphql";
    let path = parts.uri.path().to_owned();
    let query_string = parts.uri.query().unwrap_or("").to_owned();
    let if_none_match = header(&parts.headers, IF_NONE_MATCH.as_str());
    // `None`: a token the emulator does not accept.
    let caller = state.world().caller(bearer(&parts.headers).as_deref());
    let is_authorized = caller.as_ref().is_some_and(Caller::authorized);
    // Refused credentials draw on the anonymous budget, as before a token is known.
    let who = caller.clone().unwrap_or(Caller::Anonymous);
    let resource = resource_of(&path);
    let latency = state.world().latency + if let Some(Fault::Latency(d)) = &fault { *d } else { Default::default() };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let body = axum::body::to_bytes(body, 16 << 20).await.unwrap_or_default();
    let query: BTreeMap<String, String> = Query::try_from_uri(&parts.uri).map(|Query(q)| q).unwrap_or_default();

    let mut w = state.world();
    let request_id = {
        w.request_seq += 1;
        format!("E{:04X}:{:06X}:{:X}", w.request_seq % 0xFFFF, w.request_seq, w.request_seq * 7919)
    };
    let mut counted = false;
    let mut rate_headers = true;
    let reply: Reply = 'reply: {
        if caller.is_none() {
            break 'reply Reply::error(StatusCode::UNAUTHORIZED, render::error("Bad credentials", DOCS, 401));
        }
        match &fault {
            Some(Fault::Status(code)) => {
                let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                break 'reply Reply::error(
                    status,
                    render::error(status.canonical_reason().unwrap_or("Server Error"), DOCS, *code),
                );
            }
            Some(Fault::PrimaryRateLimit) => {
                break 'reply rate_limited();
            }
            Some(Fault::SecondaryRateLimit { retry_after_secs })
            | Some(Fault::SecondaryRateLimitForbidden { retry_after_secs }) => {
                let status = if matches!(fault, Some(Fault::SecondaryRateLimit { .. })) {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::FORBIDDEN
                };
                let msg = format!(
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID {request_id}."
                );
                let mut r = Reply::error(
                    status,
                    render::error(
                        &msg,
                        "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                        status.as_u16(),
                    ),
                );
                r.headers.push((RETRY_AFTER.as_str(), retry_after_secs.to_string()));
                break 'reply r;
            }
            Some(Fault::SecondaryRateLimitMessageOnly) => {
                let msg = format!(
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID {request_id}."
                );
                break 'reply Reply::error(
                    StatusCode::FORBIDDEN,
                    render::error(
                        &msg,
                        "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                        403,
                    ),
                );
            }
            Some(Fault::ForbiddenNoHeaders) => {
                rate_headers = false;
                break 'reply Reply::error(
                    StatusCode::FORBIDDEN,
                    render::error("Resource not accessible by integration", DOCS, 403),
                );
            }
            Some(Fault::MalformedBody) => {
                break 'reply Reply::raw(StatusCode::OK, "{\"id\": 1, \"name\": \"trunc");
            }
            _ => {}
        }
        if who == Caller::Anonymous && (method != Method::GET || resource == "graphql") {
            break 'reply Reply::error(StatusCode::UNAUTHORIZED, render::error("Requires authentication", DOCS, 401));
        }
        // /rate_limit is free on GitHub; everything else draws on the identity's budget for its resource.
        let free = path == "/rate_limit";
        let exhausted = !free && w.budget_of(who.clone(), resource).remaining == 0;
        let ctx = Ctx {
            method: &method,
            path: &path,
            query: &query,
            query_string: &query_string,
            body: &body,
            authorized: is_authorized,
            caller: &who,
        };
        if method == Method::GET {
            // GETs have no side effects, so answering first and charging afterwards is safe and lets a matching
            // ETag answer 304 for free, as GitHub does.
            let mut reply = routes::dispatch(&mut w, &ctx);
            if let (true, Some(v)) = (reply.status == StatusCode::OK, &reply.body) {
                let etag = format!("W/\"{}\"", hex(&Sha256::digest(v.to_string().as_bytes())));
                if if_none_match.as_deref().is_some_and(|inm| etag_matches(inm, &etag)) {
                    reply = Reply::raw(StatusCode::NOT_MODIFIED, "");
                }
                reply.headers.push((ETAG.as_str(), etag));
            }
            if reply.status == StatusCode::NOT_MODIFIED || free {
                break 'reply reply;
            }
            if exhausted {
                break 'reply rate_limited();
            }
            counted = true;
            break 'reply reply;
        }
        if exhausted {
            break 'reply rate_limited();
        }
        counted = true;
        routes::dispatch(&mut w, &ctx)
    };
    let points = if counted { reply.cost.unwrap_or(1) } else { 0 };
    if counted {
        let b = w.budget_of(who.clone(), resource);
        b.remaining = b.remaining.saturating_sub(points);
    }
    w.log.push(RequestRecord {
        method,
        path,
        query: query_string,
        status: reply.status.as_u16(),
        authorized: is_authorized,
        token: caller.as_ref().and_then(Caller::token),
        if_none_match,
        counted,
        points,
        operation: reply.operation.clone(),
        at,
    });
    let budget = *w.budget_of(who.clone(), resource);
    let reply_delay = if method_is_write { w.write_reply_delay } else { std::time::Duration::ZERO };
    drop(w);

    let mut builder = Response::builder().status(reply.status);
    let mut add = |name: &str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            builder = std::mem::take(&mut builder).header(name, v);
        }
    };
    add(CONTENT_TYPE.as_str(), "application/json; charset=utf-8".to_owned());
    add("x-github-request-id", request_id);
    add("x-github-media-type", "github.v3; format=json".to_owned());
    add("x-github-api-version-selected", "2022-11-28".to_owned());
    if rate_headers {
        add("x-ratelimit-limit", budget.limit.to_string());
        // An injected primary-limit fault reports an empty budget without emptying the real one.
        let remaining = if reply.exhausted { 0 } else { budget.remaining };
        add("x-ratelimit-remaining", remaining.to_string());
        add("x-ratelimit-used", (budget.limit - remaining).to_string());
        add("x-ratelimit-reset", budget.reset.to_string());
        add("x-ratelimit-resource", resource.to_owned());
    }
    for (name, value) in reply.headers {
        add(name, value);
    }
    let text = match (reply.raw, reply.body) {
        (Some(raw), _) => raw,
        (None, Some(v)) => v.to_string(),
        (None, None) => String::new(),
    };
    (builder.body(Body::from(text)).unwrap_or_else(|_| Response::new(Body::empty())), reply_delay)
}

fn rate_limited() -> Reply {
    let msg = "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID and timestamp.";
    let mut r = Reply::error(
        StatusCode::FORBIDDEN,
        render::error(msg, "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api", 403),
    );
    r.exhausted = true;
    r
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
