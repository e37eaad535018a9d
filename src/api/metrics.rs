//! `GET /metrics`: the hive's Prometheus metrics in the OpenMetrics text format ([`hive::metrics`]), computed at
//! scrape time from the queen's status, the database and the forge's counters; no token needed, like every read.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use hive::{Hive, metrics::Metrics};

use super::ApiError;

struct MetricsState {
    hive: Hive,
    metrics: Arc<Metrics>,
}

/// The `/metrics` route, with its own state: `shared` ([`Metrics::watch`], observing the hive's bus until the
/// router is dropped; the webhook route counts its deliveries there).
pub(super) fn routes<S: Clone + Send + Sync + 'static>(hive: &Hive, shared: Arc<Metrics>) -> Router<S> {
    let state = Arc::new(MetricsState { hive: hive.clone(), metrics: shared });
    Router::new().route("/metrics", get(metrics)).with_state(state)
}

async fn metrics(State(state): State<Arc<MetricsState>>) -> Result<Response, ApiError> {
    let text = state.metrics.render(&state.hive).await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, hive::metrics::CONTENT_TYPE)], text).into_response())
}
