//! The `ecosystem` commands on a running `hive serve`: the imported repositories, and their services kept by this
//! hive's queen (started, stopped, deployed and shown through the API rather than by a `hive ecosystem <id> start`
//! or `deploy` process of their own).

use axum::{Json, http::StatusCode};
use hive::{
    Hive, HiveError,
    ecosystem::{DeployOutcome, EcosystemManager, ImportId},
};
use serde_json::{Value, json};

use super::ApiError;
use crate::{ecosystem_cmd::services, terminal};

/// The imported repositories, sources redacted (a URL may carry credentials).
pub(super) fn list(manager: &EcosystemManager) -> Result<Json<Value>, ApiError> {
    let imports = manager.list().map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error(&e)))?;
    let mut value = json!({ "imports": imports });
    terminal::redact_json(&mut value);
    Ok(Json(value))
}

/// Starts the repository's service under this hive's queen.
pub(super) async fn start(
    hive: &Hive,
    manager: &EcosystemManager,
    id: &ImportId,
    command: Option<&str>,
) -> Result<Value, ApiError> {
    let meta = show(manager, id)?;
    let prepared = services::prepare(manager, &meta, command, true)
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, format!("{e:#}")))?;
    let name = prepared.spec.name.clone();
    // Recorded before it starts, so a `hive ecosystem <id> start` elsewhere cannot start it a second time.
    services::claim(manager, &meta, &prepared).map_err(|e| ApiError::new(StatusCode::CONFLICT, format!("{e:#}")))?;
    if let Err(err) = hive.add_service(prepared.spec.clone()).await {
        services::release(manager, &meta);
        return Err(err.into());
    }
    Ok(json!({ "name": name, "id": meta.id }))
}

/// Stops the repository's service this hive keeps.
pub(super) async fn stop(hive: &Hive, manager: &EcosystemManager, id: &ImportId) -> Result<Value, ApiError> {
    let meta = show(manager, id)?;
    let name = services::current_service(manager, &meta);
    match hive.remove_service(&name).await {
        Ok(()) => {}
        Err(HiveError::Service(hive::actors::KeeperError::Unknown(_))) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("'{}' runs no service under this hive; start it with `ecosystem {id} start`", meta.name),
            ));
        }
        Err(err) => return Err(err.into()),
    }
    services::release(manager, &meta);
    Ok(json!({ "name": name, "id": meta.id }))
}

/// The service's state as its keeper sees it.
pub(super) async fn status(hive: &Hive, manager: &EcosystemManager, id: &ImportId) -> Result<Json<Value>, ApiError> {
    let meta = show(manager, id)?;
    let name = services::current_service(manager, &meta);
    if !hive.services().contains(&name) {
        return Ok(Json(json!({ "id": meta.id, "name": name, "running": false })));
    }
    let status = hive.service_status(&name).await?;
    let mut value = json!({ "id": meta.id, "name": name, "running": true, "status": status });
    terminal::redact_json(&mut value);
    Ok(Json(value))
}

/// Deploys a ref of the repository beside its service under this hive's queen, and switches the queen's member to
/// it when it is healthy. A rollback is answered 409 with its reason; `deploy history` has the whole record.
pub(super) async fn deploy(
    hive: &Hive,
    manager: &EcosystemManager,
    id: &ImportId,
    reference: Option<String>,
) -> Result<Value, ApiError> {
    let meta = show(manager, id)?;
    let request = services::DeployRequest { reference, ..services::DeployRequest::default() };
    // A task of its own: a client that goes away does not cut the deploy short between two of its steps.
    let (task_hive, task_manager, task_meta) = (hive.clone(), manager.clone(), meta.clone());
    let record =
        tokio::spawn(async move { services::deploy(&task_hive, &task_manager, &task_meta, &request, true).await })
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the deploy failed: {e}")))?
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, format!("{e:#}")))?;
    if let DeployOutcome::RolledBack { reason } = &record.outcome {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("deploy {} of '{}' was rolled back: {reason}", record.id, meta.name),
        ));
    }
    let mut value =
        serde_json::to_value(&record).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    terminal::redact_json(&mut value);
    Ok(value)
}

/// Every deploy of the repository, newest first.
pub(super) fn deploy_history(manager: &EcosystemManager, id: &ImportId) -> Result<Json<Value>, ApiError> {
    let meta = show(manager, id)?;
    let deploys =
        manager.deploy_history(&meta.id).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error(&e)))?;
    let mut value = json!({ "id": meta.id, "name": meta.name, "deploys": deploys });
    terminal::redact_json(&mut value);
    Ok(Json(value))
}

fn show(manager: &EcosystemManager, id: &ImportId) -> Result<hive::ecosystem::RepoMeta, ApiError> {
    manager.show(id.as_str()).map_err(|e| ApiError::new(StatusCode::NOT_FOUND, error(&e)))
}

fn error(err: &hive::ecosystem::EcosystemError) -> String {
    hive_support::error_chain(err)
}
