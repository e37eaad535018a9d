//! `GET /api/repos/{owner}/{name}`: one watched repository in detail: its score with the breakdown of its
//! components, its signals, findings and CI verdict, its pilot's state and restarts, and the issues and pull requests
//! hive filed for it that may be open (from the database, with the autonomy loop). A name that is not a repository
//! name (`..`, shell metacharacters, look-alike characters) is a 400; a repository this hive does not watch a 404.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
};
use hive::{HiveError, RepoId, cerebrum::MemberKind};
use serde_json::{Value, json};

use super::{ApiError, ApiState};

pub(super) async fn repo(
    State(state): State<Arc<ApiState>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((owner, name)) = path.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let repo =
        RepoId::new(format!("{owner}/{name}")).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let hive = &state.hive;
    let status = hive.status().await?;
    let Some(member) = status.member(repo.as_str()).filter(|m| m.kind == MemberKind::Pilot) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no repository '{repo}' is watched by this hive; GET /api/repos lists those that are"),
        ));
    };
    // The report may be a moment newer than the status; each says what it knew when asked.
    let report = hive.report(repo.as_str()).await?;
    let filed = match hive.filed(repo.as_str()).await {
        Ok(filed) => Some(filed),
        Err(HiveError::NoAutonomy) => None,
        Err(err) => return Err(err.into()),
    };
    Ok(Json(json!({
        "repo": repo,
        "cycle": status.cycle,
        "state": member.state,
        "restarts": member.restarts,
        "stale": member.stale,
        "last_error": member.last_error,
        "score": member.score,
        "healthy": member.healthy,
        "ci": member.facts.get("ci"),
        "reported_in_cycle": report.as_ref().and_then(|r| r.cycle),
        "components": report.as_ref().map(|r| &r.components),
        "signals": report.as_ref().map(|r| &r.signals),
        "findings": member.findings,
        "facts": member.facts,
        "filed": filed,
    })))
}
