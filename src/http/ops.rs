//! Decision-only, log, policy and operational routes.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::extract::{Caller, JsonBody, QueryParams};
use super::{ApiError, AppState, meta};
use crate::admission::{LogQuery, ReviewInput};

/// The OpenAPI document, kept beside the schema so policy and API contracts live together.
const OPENAPI: &str = include_str!("../../schemas/openapi.json");

/// Admission review, logs, policies, registry info, health and metrics.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admission/review", post(review))
        .route("/v1/audit", get(audit))
        .route("/v1/audit/chain", get(audit_chain))
        .route("/v1/decisions", get(decisions))
        .route("/v1/policies", get(policies))
        .route("/v1/registry", get(registry))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

async fn review(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(input): JsonBody<ReviewInput>,
) -> Result<Response, ApiError> {
    Ok(Json(state.admission.review(&principal, input, &meta()).await?).into_response())
}

async fn audit(
    State(state): State<AppState>,
    Caller(principal): Caller,
    QueryParams(query): QueryParams<LogQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.admission.audit_log(&principal, query, &meta()).await?).into_response())
}

async fn audit_chain(State(state): State<AppState>, Caller(principal): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.admission.audit_chain(&principal, &meta()).await?).into_response())
}

async fn decisions(
    State(state): State<AppState>,
    Caller(principal): Caller,
    QueryParams(query): QueryParams<LogQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.admission.decision_log(&principal, query, &meta()).await?).into_response())
}

async fn policies(State(state): State<AppState>, Caller(principal): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.admission.policy_set(&principal, &meta()).await?).into_response())
}

async fn registry(State(state): State<AppState>, Caller(principal): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.admission.describe_registry(&principal, &meta()).await?).into_response())
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// The longest `/readyz` waits for the database: a probe with a one-second timeout must get an
/// answer, "not ready" included.
const READINESS_PROBE: Duration = Duration::from_millis(800);

/// The longest `/metrics` waits for the database-backed gauges; without them it still answers.
const METRICS_PROBE: Duration = Duration::from_millis(500);

async fn readyz(State(state): State<AppState>) -> Response {
    let database = tokio::time::timeout(READINESS_PROBE, state.admission.database_ready())
        .await
        .unwrap_or(false);
    let policy_hash = state.admission.policy().hash().to_owned();
    // A refused reload does not make the gateway unready (the last good set serves), but it shows.
    let last_policy_reload_error = state.admission.last_policy_reload_error().await;
    let body = json!({
        "status": if database { "ready" } else { "not_ready" },
        "database": database,
        "policy_hash": policy_hash,
        "last_policy_reload_error": last_policy_reload_error,
    });
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    // Read at scrape time from the database: the queues are shared by every instance. Bounded,
    // so a slow database leaves those series out rather than hanging the scrape.
    // Pools first: the queue queries below would otherwise count themselves as in use.
    let pools = state.admission.pool_figures();
    let queues = tokio::time::timeout(METRICS_PROBE, state.admission.queue_figures())
        .await
        .ok()
        .flatten();
    let scraped = crate::metrics::Scraped {
        queues,
        pools,
        at: Some(chrono::Utc::now()),
    };
    let text = state.metrics.render(&scraped);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
