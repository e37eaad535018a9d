//! `hive serve`'s HTTP API (axum): `GET /api/health`, `GET /api/status`, `GET /api/repos`, `GET /api/backlog` and
//! `POST /api/command`, which takes the text commands of [`hive::command`]. Commands that change anything need
//! `Authorization: Bearer <token>` (the token from `HIVE_API_TOKEN`, compared in constant time, never logged) and go
//! into the audit trail with who asked.
//! Errors are JSON, `{"error": "..."}`, with the usage for a malformed command.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use hive::{
    Hive,
    command::{self, Command},
};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

mod metrics;
mod repo;

/// Largest request body accepted: a command is a line.
const MAX_BODY: usize = 16 * 1024;

/// The API's listener, bound before the hive starts so a taken address fails at once.
pub struct Api {
    listener: TcpListener,
    token: Option<String>,
}

impl Api {
    /// Binds `addr`; `token` is what a state-changing request must present (none: such requests are refused).
    pub async fn bind(addr: SocketAddr, token: Option<String>) -> anyhow::Result<Api> {
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on '{addr}'; is another hive serving there? choose one with --bind")
        })?;
        Ok(Api { listener, token: token.filter(|t| !t.is_empty()) })
    }

    /// Where it listens (the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves `hive` until the future is dropped (the caller's shutdown) or the listener fails.
    pub async fn serve(self, hive: Hive) -> anyhow::Result<()> {
        let state = Arc::new(ApiState { hive, token: self.token });
        let app = Router::new()
            .route("/api/health", get(health))
            .route("/api/status", get(status))
            .route("/api/repos", get(repos))
            .route("/api/repos/{owner}/{name}", get(repo::repo))
            .route("/api/backlog", get(backlog))
            .route("/api/command", post(run_command))
            .merge(metrics::routes(&state.hive))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(state);
        axum::serve(self.listener, app).await.context("the API server stopped")
    }
}

struct ApiState {
    hive: Hive,
    token: Option<String>,
}

/// An error as the API answers it.
struct ApiError {
    status: StatusCode,
    message: String,
    usage: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), usage: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(usage) = self.usage {
            body["usage"] = Value::from(usage);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<hive::HiveError> for ApiError {
    fn from(err: hive::HiveError) -> ApiError {
        let status = match err {
            hive::HiveError::NoAutonomy => StatusCode::CONFLICT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, hive_support::error_chain(&err))
    }
}

async fn health(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let status = state.hive.status().await?;
    Ok(Json(json!({ "status": "ok", "cycle": status.cycle, "emergency": status.emergency })))
}

async fn status(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let status = state.hive.status().await?;
    Ok(Json(serde_json::to_value(status).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?))
}

/// The watched repositories: each pilot's latest score, verdict, CI and findings (stale while its forge is
/// unreachable).
async fn repos(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let status = state.hive.status().await?;
    let repos: Vec<Value> = status
        .members
        .iter()
        .filter(|m| m.kind == hive::cerebrum::MemberKind::Pilot)
        .map(|m| {
            json!({
                "repo": m.id,
                "state": m.state,
                "score": m.score,
                "healthy": m.healthy,
                "stale": m.stale,
                "ci": m.facts.get("ci"),
                "findings": m.findings,
            })
        })
        .collect();
    Ok(Json(json!({ "cycle": status.cycle, "repositories": repos })))
}

/// The backlog as the database holds it now.
async fn backlog(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let items = state.hive.backlog().await?;
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    command: String,
}

async fn run_command(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: CommandBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, format!("the body must be {{\"command\": \"<text>\"}}: {e}"))
    })?;
    let parsed = command::parse(&body.command).map_err(|err| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: err.to_string(),
        usage: Some(err.usage()),
    })?;
    if parsed.changes_state() {
        authorize(&headers, state.token.as_deref())?;
    }
    let hive = &state.hive;
    let done = |what: &Command| Json(json!({ "ok": true, "command": what.to_string() }));
    match &parsed {
        Command::Status => return status(State(state.clone())).await,
        Command::DeclareEmergency => hive.declare_emergency("the api")?,
        Command::ClearEmergency => hive.clear_emergency()?,
        Command::Pause { repo } => hive.unwatch(repo.as_str()).await?,
        Command::Resume { repo } => hive.watch(repo.as_str()).await?,
        Command::Autonomy { on } => hive.set_autonomy(*on)?,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                format!("'{other}' is not served yet; `hive approve` and `hive backlog` work beside a running hive"),
            ));
        }
    }
    // Who asked, in the trail: the API's token holder.
    hive.audit("api", &parsed.to_string()).await?;
    Ok(done(&parsed))
}

/// A state-changing request must carry the configured token: 401 without one, 403 with another.
fn authorize(headers: &HeaderMap, token: Option<&str>) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this hive takes no commands that change anything: set HIVE_API_TOKEN for `hive serve`",
        ));
    };
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => Err(ApiError::new(StatusCode::UNAUTHORIZED, "send the API token as `Authorization: Bearer <token>`")),
        Some(given) if bool::from(given.as_bytes().ct_eq(token.as_bytes())) => Ok(()),
        Some(_) => Err(ApiError::new(StatusCode::FORBIDDEN, "the API token is not this hive's")),
    }
}
