//! `POST /api/github/webhook`: GitHub's webhook deliveries, so a repository is read when it changes rather than at
//! the next cycle. Signed with `HIVE_GITHUB_WEBHOOK_SECRET` (`X-Hub-Signature-256`, checked in constant time before
//! anything of the body is parsed), de-duplicated by `X-GitHub-Delivery`; the read goes through the repository's
//! pilot, as every read does.

use std::{
    collections::{HashSet, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use hive::{Hive, metrics::Metrics};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::ApiError;

/// GitHub caps a delivery's payload at 25 MB; anything larger is not GitHub's.
pub(super) const MAX_PAYLOAD: usize = 25 * 1024 * 1024;

/// Delivery ids remembered, the oldest forgotten first: GitHub redelivers within hours, far fewer deliveries than
/// this for a fleet. Kept in memory only, so a restarted hive reads a redelivered event once more, which is
/// harmless: a read changes nothing.
const REMEMBERED: usize = 10_000;

/// Events about a repository's state that its pilot reads.
const READ_EVENTS: [&str; 5] = ["workflow_run", "check_run", "check_suite", "issues", "pull_request"];

struct WebhookState {
    hive: Hive,
    secret: Option<String>,
    /// Raised for the run's watch to discover the fleet now (when it watches a discoverable fleet).
    discover_now: Option<Arc<AtomicBool>>,
    seen: Mutex<Seen>,
    metrics: Arc<Metrics>,
}

/// The recent delivery ids, bounded.
#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    /// Records `id`; false when it was already there.
    fn insert(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        true
    }

    /// Forgets `id`, so a redelivery of a delivery that could not be carried out is taken again.
    fn forget(&mut self, id: &str) {
        if self.ids.remove(id) {
            self.order.retain(|kept| kept != id);
        }
    }
}

/// The webhook route, with its own state and its own body limit (GitHub's, far above the commands').
pub(super) fn routes<S: Clone + Send + Sync + 'static>(
    hive: &Hive,
    secret: Option<String>,
    discover_now: Option<Arc<AtomicBool>>,
    metrics: Arc<Metrics>,
) -> Router<S> {
    let secret = secret.filter(|s| !s.is_empty());
    let state = Arc::new(WebhookState { hive: hive.clone(), secret, discover_now, seen: Mutex::default(), metrics });
    Router::new()
        .route("/api/github/webhook", post(deliver).layer(DefaultBodyLimit::max(MAX_PAYLOAD)))
        .with_state(state)
}

/// Whether `signature` (the `X-Hub-Signature-256` header, `sha256=<hex>`) is `body`'s HMAC-SHA256 under `secret`,
/// compared in constant time.
pub(super) fn signed(secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_digest) = signature.strip_prefix("sha256=") else { return false };
    let Ok(digest) = hex::decode(hex_digest) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&digest).is_ok()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn deliver(
    State(state): State<Arc<WebhookState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(secret) = state.secret.as_deref() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "this hive takes no webhook deliveries: set HIVE_GITHUB_WEBHOOK_SECRET for `hive serve` and give GitHub \
             the same secret",
        ));
    };
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(status, format!("a delivery is at most {MAX_PAYLOAD} bytes, as GitHub sends them"))
        } else {
            ApiError::new(status, format!("cannot read the delivery: {}", rejection.body_text()))
        }
    })?;
    // Header values are outside text: cleaned before they reach a log line or an answer.
    let delivery = header(&headers, "x-github-delivery").map(crate::terminal::line);
    let event = header(&headers, "x-github-event").map(crate::terminal::line);
    // The signature first: nothing of an unsigned delivery is parsed or remembered.
    if !header(&headers, "x-hub-signature-256").is_some_and(|signature| signed(secret, &body, signature)) {
        tracing::warn!(delivery = ?delivery, event = ?event, "webhook delivery refused: missing or wrong signature");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong X-Hub-Signature-256: give the webhook on GitHub the value of HIVE_GITHUB_WEBHOOK_SECRET \
             as its secret",
        ));
    }
    let Some(delivery) = delivery.filter(|d| !d.is_empty()) else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "the delivery has no X-GitHub-Delivery header"));
    };
    let Some(event) = event.filter(|e| !e.is_empty()) else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "the delivery has no X-GitHub-Event header"));
    };
    let payload: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, format!("the '{event}' delivery's body is not JSON: {e}"))
    })?;
    let repo = repository(&event, &payload)?;
    // The set is whole after any panic (each change is one call), so a poisoned lock is still good.
    let seen = || state.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let fresh = seen().insert(&delivery);
    if !fresh {
        tracing::info!(%delivery, %event, repo = ?repo, "webhook delivery already seen");
        state.metrics.count_delivery(event_label(&event), "duplicate");
        return Ok(Json(json!({ "duplicate": true, "delivery": delivery })).into_response());
    }
    let answer = match act(&state, &event, repo.as_deref(), &payload).await {
        Ok(answer) => answer,
        Err(err) => {
            // Not carried out (the hive is stopping): GitHub's redelivery must not be taken for a replay.
            seen().forget(&delivery);
            tracing::warn!(%delivery, %event, repo = ?repo, error = %err.message, "webhook delivery not carried out");
            return Err(err);
        }
    };
    tracing::info!(%delivery, %event, repo = ?repo, outcome = %answer.0, "webhook delivery");
    state.metrics.count_delivery(event_label(&event), answer.0);
    Ok((answer.1, Json(answer.2)).into_response())
}

/// `event` as a metric label: the events hive knows by name, every other one as `other`, so a sender cannot grow
/// the metrics without bound.
fn event_label(event: &str) -> &str {
    const NAMED: [&str; 3] = ["ping", "repository", "installation_repositories"];
    if READ_EVENTS.contains(&event) || NAMED.contains(&event) { event } else { "other" }
}

/// The repository a delivery is about (`repository.full_name`), for the events that need one; a delivery of such an
/// event without it is malformed.
fn repository(event: &str, payload: &Value) -> Result<Option<String>, ApiError> {
    let full_name = payload.pointer("/repository/full_name").and_then(Value::as_str);
    if READ_EVENTS.contains(&event) || event == "repository" {
        let name = full_name.ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("the '{event}' delivery has no repository.full_name"))
        })?;
        return Ok(Some(crate::terminal::line(name)));
    }
    Ok(full_name.map(crate::terminal::line))
}

/// What a delivery makes the hive do: the outcome (for the log), the status and the answer.
async fn act(
    state: &WebhookState,
    event: &str,
    repo: Option<&str>,
    payload: &Value,
) -> Result<(&'static str, StatusCode, Value), ApiError> {
    let hive = &state.hive;
    // The fleet is discovered again after every cycle (new repositories get a pilot, gone or archived ones lose
    // theirs, with the run's filters applied); a delivery about the fleet itself asks the run's watch for that
    // discovery now, where it has one to make.
    let discovery = |outcome: &'static str, answer: Value| {
        let now = state.discover_now.as_ref().inspect(|flag| flag.store(true, Ordering::SeqCst)).is_some();
        let mut answer = answer;
        answer["discovery"] = Value::from(if now { "now" } else { "next cycle" });
        Ok((if now { "discovery" } else { outcome }, StatusCode::ACCEPTED, answer))
    };
    if event == "ping" {
        return Ok(("pong", StatusCode::OK, json!({ "ok": true, "event": "ping" })));
    }
    let action = payload.get("action").and_then(Value::as_str).unwrap_or_default();
    match (event, repo) {
        (event, Some(repo)) if READ_EVENTS.contains(&event) => {
            let Some(watched) = watched(hive, repo).await? else {
                return Ok(("not_watched", StatusCode::ACCEPTED, json!({ "ignored": event, "repository": repo })));
            };
            hive.observe_now(&watched).await?;
            Ok(("read", StatusCode::ACCEPTED, json!({ "read": watched, "event": event })))
        }
        ("repository", Some(repo)) if ["created", "archived", "unarchived", "deleted", "renamed"].contains(&action) => {
            discovery("next_discovery", json!({ "event": event, "action": action, "repository": repo }))
        }
        ("installation_repositories", _) if ["added", "removed"].contains(&action) => {
            discovery("next_discovery", json!({ "event": event, "action": action }))
        }
        _ => Ok(("ignored", StatusCode::ACCEPTED, json!({ "ignored": event }))),
    }
}

/// The watched repository `repo` names (GitHub's names are case-insensitive), as the hive spells it.
async fn watched(hive: &Hive, repo: &str) -> Result<Option<String>, ApiError> {
    let status = hive.status().await?;
    Ok(status
        .members
        .iter()
        .filter(|m| m.kind == hive::cerebrum::MemberKind::Pilot)
        .find(|m| m.id.as_str().eq_ignore_ascii_case(repo))
        .map(|m| m.id.as_str().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn githubs_documented_example_is_signed_and_nothing_else_is() {
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signed("It's a Secret to Everybody", b"Hello, World!", signature));
        assert!(!signed("another secret", b"Hello, World!", signature));
        assert!(!signed("It's a Secret to Everybody", b"Hello, World?", signature));
        assert!(!signed("It's a Secret to Everybody", b"Hello, World!", &signature["sha256=".len()..]));
        assert!(!signed("It's a Secret to Everybody", b"Hello, World!", "sha256=zz"));
        assert!(!signed("It's a Secret to Everybody", b"Hello, World!", "sha256="));
    }

    #[test]
    fn the_remembered_ids_are_bounded_and_the_oldest_go_first() {
        let mut seen = Seen::default();
        assert!(seen.insert("first"));
        assert!(!seen.insert("first"));
        for n in 0..REMEMBERED {
            assert!(seen.insert(&n.to_string()));
        }
        assert_eq!(seen.order.len(), REMEMBERED);
        assert_eq!(seen.ids.len(), REMEMBERED);
        assert!(seen.insert("first"), "the oldest id was forgotten");
        assert!(!seen.insert(&(REMEMBERED - 1).to_string()), "a recent id is remembered");
        seen.forget("first");
        assert_eq!(seen.order.len(), seen.ids.len(), "forgotten from both");
        assert!(seen.insert("first"), "a forgotten id is taken again");
    }
}
