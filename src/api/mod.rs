//! `hive serve`'s HTTP API (axum): `GET /api/health`, `GET /api/status`, `GET /api/repos`, `GET /api/backlog` and
//! `POST /api/command`, which takes the text commands of [`hive::command`] (every one is served). Commands that
//! change anything need `Authorization: Bearer <token>` (the token from `HIVE_API_TOKEN`, compared in constant time,
//! never logged) and go into the audit trail with who asked (`api:<by>`).
//! Errors are JSON, `{"error": "..."}`, with the usage for a malformed command.

mod audit;
mod dashboard;
mod ecosystem;
mod events;
pub mod fleet;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

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
    Hive, Seed,
    cerebrum::Approval,
    command::{self, Command},
    ecosystem::EcosystemManager,
};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

mod metrics;
mod repo;
mod webhook;

/// Largest request body accepted: a command is a line.
const MAX_BODY: usize = 16 * 1024;

/// How long a stopping server waits for the requests under way (a command, a page; event streams end at once)
/// before it drops them.
const GRACE: Duration = Duration::from_secs(5);

/// The API's listener, bound before the hive starts so a taken address fails at once.
pub struct Api {
    listener: TcpListener,
    token: Option<String>,
    state_dir: PathBuf,
    webhook_secret: Option<String>,
    discover_now: Option<Arc<std::sync::atomic::AtomicBool>>,
    fleet: Option<fleet::FleetView>,
}

impl Api {
    /// Binds `addr`; `token` is what a state-changing request must present (none: such requests are refused).
    pub async fn bind(addr: SocketAddr, token: Option<String>) -> anyhow::Result<Api> {
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on '{addr}'; is another hive serving there? choose one with --bind")
        })?;
        Ok(Api {
            listener,
            token: token.filter(|t| !t.is_empty()),
            state_dir: PathBuf::from("."),
            webhook_secret: None,
            discover_now: None,
            fleet: None,
        })
    }

    /// The hive's state directory, where the imported repositories the `ecosystem` commands reach are kept.
    pub fn with_state_dir(mut self, dir: &Path) -> Api {
        self.state_dir = dir.to_path_buf();
        self
    }

    /// The flag a delivery about the fleet itself (a repository created, archived, deleted or renamed; an
    /// installation's repositories added or removed) raises, for the run's watch to discover the fleet now rather
    /// than after the next cycle.
    pub fn with_discover_now(mut self, flag: Arc<std::sync::atomic::AtomicBool>) -> Api {
        self.discover_now = Some(flag);
        self
    }

    /// What the other nodes of this node's cluster said (`hive serve --cluster`): `/api/fleet`, `/api/status`, the
    /// event stream and the dashboard show the whole fleet, each repository and event with its node.
    pub fn with_fleet_view(mut self, view: fleet::FleetView) -> Api {
        self.fleet = Some(view);
        self
    }

    /// The secret GitHub signs webhook deliveries with (`POST /api/github/webhook`); none: that route answers 404.
    pub fn with_webhook_secret(mut self, secret: Option<String>) -> Api {
        self.webhook_secret = secret;
        self
    }

    /// Where it listens (the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves `hive` until `stop` resolves, then stops gracefully: no new connection is taken, every event stream
    /// ends at once ([`EventFeed::close`](hive::feed::EventFeed::close): a client sees its stream end, not a
    /// connection cut when the process exits), and the requests under way are answered, for at most [`GRACE`].
    pub async fn serve_until(
        self,
        hive: Hive,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let feed = events::feed(&hive, self.fleet.as_ref());
        let stopping = tokio_util::sync::CancellationToken::new();
        let graceful = {
            let (feed, stopping) = (feed.clone(), stopping.clone());
            async move {
                stop.await;
                feed.close();
                stopping.cancel();
            }
        };
        let ecosystem = EcosystemManager::new(&self.state_dir);
        let state = ApiState { hive, token: self.token, ecosystem, fleet: self.fleet };
        let served = axum::serve(self.listener, router(state, feed, self.webhook_secret, self.discover_now))
            .with_graceful_shutdown(graceful);
        tokio::select! {
            served = served.into_future() => served.context("the API server stopped"),
            () = async { stopping.cancelled().await; tokio::time::sleep(GRACE).await } => {
                tracing::warn!("requests still under way {}s after the stop were dropped", GRACE.as_secs());
                Ok(())
            }
        }
    }
}

/// Every route, over `state`, with the events of `feed` and webhook deliveries signed with `webhook_secret`.
fn router(
    state: ApiState,
    feed: hive::feed::EventFeed,
    webhook_secret: Option<String>,
    discover_now: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Router {
    let state = Arc::new(state);
    let metrics = Arc::new(hive::metrics::Metrics::watch(&state.hive));
    Router::new()
        .route("/api/health", get(health))
        .route("/api/status", get(status))
        .route("/api/repos", get(repos))
        .route("/api/fleet", get(fleet::fleet))
        .route("/api/repos/{owner}/{name}", get(repo::repo))
        .route("/api/backlog", get(backlog))
        .route("/api/audit", get(audit::records))
        .route("/api/events", events::route(feed))
        .route("/", get(dashboard::page))
        .route("/dashboard.css", get(dashboard::style))
        .route("/dashboard.js", get(dashboard::script))
        .route("/api/command", post(run_command))
        .merge(metrics::routes(&state.hive, Arc::clone(&metrics)))
        .merge(webhook::routes(&state.hive, webhook_secret, discover_now, metrics))
        .layer(axum::middleware::map_response(redacted))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Largest JSON answer redacted; a status of 10,000 members is under 2 MB.
const MAX_REDACTED: usize = 64 << 20;

/// Every JSON answer with every known secret redacted, as everything hive prints: members' last errors, findings
/// and audit records quote outside text. The event stream redacts each event itself; text answers carry no quotes.
async fn redacted(response: Response) -> Response {
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REDACTED).await else {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the answer is too large to send").into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    crate::terminal::redact_json(&mut value);
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

struct ApiState {
    hive: Hive,
    token: Option<String>,
    ecosystem: EcosystemManager,
    /// In a cluster: what the other nodes said.
    fleet: Option<fleet::FleetView>,
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
            hive::HiveError::UnknownApproval(_)
            | hive::HiveError::NotApproved(_)
            | hive::HiveError::ToolNotAssigned { .. }
            | hive::HiveError::NoNote(_)
            | hive::HiveError::NoSync(_) => StatusCode::NOT_FOUND,
            hive::HiveError::Tool(ref tool)
                if matches!(
                    **tool,
                    hive::spawner::ToolError::InvalidInput { .. } | hive::spawner::ToolError::Unknown { .. }
                ) =>
            {
                StatusCode::BAD_REQUEST
            }
            hive::HiveError::InvalidRepo(_) => StatusCode::BAD_REQUEST,
            hive::HiveError::NoAgents | hive::HiveError::AgentRunning(_) | hive::HiveError::NoChanges => {
                StatusCode::CONFLICT
            }
            hive::HiveError::Change(ref change) => match **change {
                hive::changes::ChangeError::NotFound { .. } => StatusCode::NOT_FOUND,
                hive::changes::ChangeError::InvalidSpec { .. }
                | hive::changes::ChangeError::InvalidId { .. }
                | hive::changes::ChangeError::NoChange { .. }
                | hive::changes::ChangeError::NoRepositories { .. } => StatusCode::BAD_REQUEST,
                hive::changes::ChangeError::Locked { .. } | hive::changes::ChangeError::WrongState { .. } => {
                    StatusCode::CONFLICT
                }
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
            hive::HiveError::Spawn(ref spawn) => match **spawn {
                hive::spawner::SpawnError::NotFound { .. } => StatusCode::NOT_FOUND,
                hive::spawner::SpawnError::Exists { .. }
                | hive::spawner::SpawnError::InTheWay { .. }
                | hive::spawner::SpawnError::NotReady { .. } => StatusCode::CONFLICT,
                hive::spawner::SpawnError::Request(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, hive_support::error_chain(&err))
    }
}

async fn health(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let status = state.hive.status().await?;
    Ok(Json(json!({ "status": "ok", "cycle": status.cycle, "emergency": status.emergency })))
}

/// The queen's status; in a cluster, with this node, the leader and the fleet's emergency as `cluster`.
async fn status(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let status = state.hive.status().await?;
    let mut value = serde_json::to_value(status).map_err(internal)?;
    if let (Some(view), Some(fields)) = (&state.fleet, value.as_object_mut()) {
        fields.insert("cluster".to_owned(), view.summary());
    }
    Ok(Json(value))
}

/// The watched repositories: each pilot's latest score, verdict, CI and findings (stale while its forge is
/// unreachable).
async fn repos(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let status = state.hive.status().await?;
    let repos: Vec<Value> =
        status.members.iter().filter(|m| m.kind == hive::cerebrum::MemberKind::Pilot).map(repo_line).collect();
    Ok(Json(json!({ "cycle": status.cycle, "repositories": repos })))
}

/// One pilot as `/api/repos` lists it.
fn repo_line(m: &hive::cerebrum::MemberStatus) -> Value {
    json!({
        "repo": m.id,
        "state": m.state,
        "score": m.score,
        "healthy": m.healthy,
        "stale": m.stale,
        "ci": m.facts.get("ci"),
        "findings": m.findings,
    })
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
    /// Who asks, recorded in the audit trail as `api:<by>` (the token says only that the caller may).
    #[serde(default)]
    by: Option<String>,
}

/// Longest `by` accepted.
const MAX_BY: usize = 100;

async fn run_command(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: CommandBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"command\": \"<text>\", \"by\": \"<name>\" (optional)}}: {e}"),
        )
    })?;
    let parsed = command::parse(&body.command).map_err(|err| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: err.to_string(),
        usage: Some(err.usage()),
    })?;
    let who = asker(body.by.as_deref())?;
    if parsed.changes_state() {
        authorize(&headers, state.token.as_deref())?;
    }
    // Approvals and tool assignments are audited by the database, in the change's own transaction; every other
    // change is recorded before it is made (a change the trail cannot record is not made), and a failure after that
    // is recorded too.
    let audited = parsed.changes_state()
        && !matches!(
            parsed,
            Command::Approve { .. }
                | Command::RevokeApproval { .. }
                | Command::AssignTool { .. }
                | Command::RemoveTool { .. }
        );
    let actor = format!("api:{who}");
    if audited {
        state.hive.audit(&actor, &parsed.audit_text()).await?;
    }
    let outcome = dispatch(&state, &parsed, &who).await;
    if audited && let Err(err) = &outcome {
        let why = crate::terminal::line(&err.message);
        if let Err(failed) = state.hive.audit_failure(&actor, &parsed.audit_text(), &why).await {
            tracing::warn!(error = %hive_support::error_chain(&failed), "could not record a failed command");
        }
    }
    outcome
}

/// Carries out a parsed, authorised command.
async fn dispatch(state: &Arc<ApiState>, parsed: &Command, who: &str) -> Result<Json<Value>, ApiError> {
    let hive = &state.hive;
    let mut answer = json!({ "ok": true, "command": parsed.to_string() });
    match parsed {
        Command::Status => return status(State(Arc::clone(state))).await,
        Command::Explain { repo } => {
            return Ok(Json(serde_json::to_value(hive.explain(repo).await?).map_err(internal)?));
        }
        Command::ListApprovals => {
            let approvals: Vec<Value> = hive.approvals().await?.iter().map(approval_json).collect();
            return Ok(Json(json!({ "approvals": approvals })));
        }
        Command::Propose { n, repo } => {
            let status = hive.status().await?;
            let member = status.members.iter().find(|m| m.id.as_str() == repo.as_str()).ok_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, format!("'{repo}' is not watched; `status` lists the fleet"))
            })?;
            // Signals come worst first.
            let signal = member.signals.first().cloned().ok_or_else(|| {
                ApiError::new(StatusCode::CONFLICT, format!("'{repo}' raised no signal to propose on"))
            })?;
            let report = hive.propose(Seed::new(repo.as_str(), signal), *n).await?;
            answer["report"] = serde_json::to_value(&report).map_err(internal)?;
        }
        Command::DeclareEmergency => hive.declare_emergency(&format!("the api ({who})"))?,
        Command::ClearEmergency => hive.clear_emergency()?,
        Command::Pause { repo } => hive.unwatch(repo.as_str()).await?,
        Command::Resume { repo } => hive.watch(repo.as_str()).await?,
        Command::Autonomy { on } => hive.set_autonomy(*on)?,
        // Approvals are audited by the database in the same transaction.
        Command::Approve { id, hours } => {
            let approval = hive.approve(id, &format!("api:{who}"), *hours).await?;
            answer["approval"] = approval_json(&approval);
            return Ok(Json(answer));
        }
        Command::ListImports => return ecosystem::list(&state.ecosystem),
        Command::ServiceStatus { id } => return ecosystem::status(hive, &state.ecosystem, id).await,
        Command::StartService { id, command } => {
            answer["service"] = ecosystem::start(hive, &state.ecosystem, id, command.as_deref()).await?;
        }
        Command::StopService { id } => {
            answer["service"] = ecosystem::stop(hive, &state.ecosystem, id).await?;
        }
        Command::Deploy { id, reference } => {
            answer["deploy"] = ecosystem::deploy(hive, &state.ecosystem, id, reference.clone()).await?;
        }
        Command::DeployHistory { id } => return ecosystem::deploy_history(&state.ecosystem, id),
        Command::RevokeApproval { id } => {
            let approval = hive.revoke_approval(id, &format!("api:{who}")).await?;
            answer["revoked"] = approval_json(&approval);
            return Ok(Json(answer));
        }
        Command::Remember { key, text } => {
            answer["key"] = Value::from(key.as_str());
            answer["replaced"] = Value::from(hive.remember(key, text, &format!("api:{who}")).await?);
        }
        Command::Recall { key } => return Ok(Json(json!({ "note": hive.recall(key).await? }))),
        Command::SearchMemory { query } => return Ok(Json(json!({ "hits": hive.search_memory(query).await? }))),
        Command::Forget { key } => {
            hive.forget(key).await?;
            answer["deleted"] = Value::from(key.as_str());
        }
        Command::ListTools { agent } => {
            let assignments = hive.tool_assignments(agent.as_ref()).await?;
            return Ok(Json(json!({ "tools": hive::spawner::tools::BUILTIN_TOOLS, "assignments": assignments })));
        }
        // Tool assignments are audited by the database in the same transaction.
        Command::AssignTool { agent, tool } => {
            let made = hive.assign_tool(agent, tool, &format!("api:{who}")).await?;
            answer["already"] = Value::from(made.is_none());
            answer["assignment"] = json!({ "agent": agent, "tool": tool });
        }
        Command::RemoveTool { agent, tool } => {
            answer["removed"] =
                serde_json::to_value(hive.remove_tool(agent, tool, &format!("api:{who}")).await?).map_err(internal)?;
        }
        Command::SpawnAgent { spec, archetype, tier } => {
            let request = hive::spawner::SpawnRequest {
                spec: spec.clone(),
                archetype: *archetype,
                tier: *tier,
                by: format!("api:{who}"),
            };
            match hive.agent(spec.name()).await {
                Ok(_) => {
                    return Err(hive::HiveError::from(hive::spawner::SpawnError::Exists {
                        name: spec.name().to_owned(),
                    })
                    .into());
                }
                Err(hive::HiveError::Spawn(err)) if matches!(*err, hive::spawner::SpawnError::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
            // A spawn builds and tests a crate, which takes minutes: it goes on after the answer. Its steps and its
            // outcome are in the audit trail, and `agents show` has the agent once it is made.
            let spawning = hive.clone();
            let (actor, text) = (format!("api:{who}"), parsed.audit_text());
            tokio::spawn(async move {
                if let Err(err) = spawning.spawn_agent(&request).await {
                    let why = crate::terminal::line(&hive_support::error_chain(&err));
                    tracing::warn!(agent = request.spec.name(), error = %why, "spawn agent failed");
                    if let Err(failed) = spawning.audit_failure(&actor, &text, &why).await {
                        tracing::warn!(error = %hive_support::error_chain(&failed), "could not record a failed spawn");
                    }
                }
            });
            answer["accepted"] = Value::from(true);
            answer["agent"] = json!({ "name": spec.name(), "archetype": request_archetype(spec, *archetype) });
        }
        Command::ListAgents => return Ok(Json(json!({ "agents": hive.agents().await? }))),
        Command::ShowAgent { name } => {
            return Ok(Json(serde_json::to_value(hive.agent(name.as_str()).await?).map_err(internal)?));
        }
        Command::CheckAgent { name } => {
            answer["agent"] = serde_json::to_value(hive.check_agent(name.as_str(), &format!("api:{who}")).await?)
                .map_err(internal)?;
        }
        Command::RunAgent { name, env } => {
            answer["service"] = Value::from(hive.run_agent(name.as_str(), env, &format!("api:{who}")).await?);
        }
        Command::StopAgent { name } => hive.stop_agent(name.as_str(), &format!("api:{who}")).await?,
        Command::ListChanges => return Ok(Json(json!({ "changes": hive.changes().await? }))),
        Command::ShowChange { id } => return Ok(Json(serde_json::to_value(hive.change(id).await?).map_err(internal)?)),
        Command::PlanChange { spec } => {
            answer["plan"] = serde_json::to_value(hive.plan_change(spec).await?).map_err(internal)?;
        }
        Command::ApplyChange { spec } => {
            // A set clones, changes and publishes every repository and then waits for checks: it goes on after the
            // answer, looked at again until it settles (a day at most; `change resume` after that). Its steps are in
            // the audit trail and `changes show <id>` has it.
            let id = hive.next_change_id(spec).await?;
            let (applying, spec, actor, text) = (hive.clone(), spec.clone(), format!("api:{who}"), parsed.audit_text());
            tokio::spawn(async move {
                if let Err(err) = applying.drive_change(&spec, &actor, CHANGE_DRIVE).await {
                    let why = crate::terminal::line(&hive_support::error_chain(&err));
                    tracing::warn!(change = %spec.id(), error = %why, "change set failed");
                    if let Err(failed) = applying.audit_failure(&actor, &text, &why).await {
                        tracing::warn!(error = %hive_support::error_chain(&failed), "could not record a failed change");
                    }
                }
            });
            answer["accepted"] = Value::from(true);
            answer["change"] = Value::from(id.to_string());
        }
        Command::SyncStatus { name } => {
            let mut statuses = Vec::new();
            for decl in chosen_syncs(hive, name.as_deref()) {
                statuses.push(hive.sync_status(&decl).await?);
            }
            return Ok(Json(json!({ "syncs": statuses })));
        }
        Command::SyncPush { name } => {
            let mut pushes = Vec::new();
            for decl in chosen_syncs(hive, name.as_deref()) {
                pushes.push(hive.sync_push(&decl, &format!("api:{who}")).await?);
            }
            answer["syncs"] = serde_json::to_value(pushes).map_err(internal)?;
        }
        Command::StepChange { id, step } => {
            let by = format!("api:{who}");
            let record = match step {
                command::ChangeStep::Resume => hive.resume_change(id, &by).await?,
                command::ChangeStep::Abort => hive.abort_change(id, &by).await?,
                command::ChangeStep::Rollback => hive.rollback_change(id, &by).await?,
            };
            answer["change"] = serde_json::to_value(record).map_err(internal)?;
        }
        Command::RemoveAgent { name } => {
            answer["removed"] = serde_json::to_value(hive.remove_agent(name.as_str(), &format!("api:{who}")).await?)
                .map_err(internal)?;
        }
    }
    Ok(Json(answer))
}

/// How long the router's `change apply` keeps looking at a set that waits for checks.
const CHANGE_DRIVE: Duration = Duration::from_secs(24 * 3600);

/// The name a command is recorded under: `by` when given (printable, short), else `anonymous`.
fn asker(by: Option<&str>) -> Result<String, ApiError> {
    let Some(by) = by else { return Ok("anonymous".to_owned()) };
    let by = by.trim();
    if by.is_empty() || by.chars().count() > MAX_BY || by.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("\"by\" must be 1 to {MAX_BY} printable characters, such as a login"),
        ));
    }
    // The name goes into the audit trail and the emergency's causes: cleaned, and never a secret.
    Ok(crate::terminal::line(by))
}

fn approval_json(approval: &Approval) -> Value {
    json!({
        "id": approval.id,
        "approved_by": approval.approved_by,
        "approved_at": hive_support::rfc3339(UNIX_EPOCH + Duration::from_secs(approval.approved_at.max(0) as u64)),
        "expires_at": approval.expires_rfc3339(),
    })
}

/// The `[[sync]]` names a command means: `name`, or every declared one.
fn chosen_syncs(hive: &hive::Hive, name: Option<&str>) -> Vec<String> {
    match name {
        Some(name) => vec![name.to_owned()],
        None => hive.sync_declarations().iter().map(|d| d.name.clone()).collect(),
    }
}

fn internal(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
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

/// The archetype a spawn will use: the one asked for, else the closest to the description.
fn request_archetype(spec: &hive::spawner::AgentSpec, archetype: Option<hive::spawner::Archetype>) -> &'static str {
    archetype.unwrap_or_else(|| hive::spawner::Archetype::closest(spec.description())).name()
}
