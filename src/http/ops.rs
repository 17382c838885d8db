//! Decision-only, log, policy and operational routes.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppQuery, Caller, JsonBody};
use super::openapi::{Authenticated, JsonInput};
use super::{ApiError, AppState, meta};
use crate::admission::{LogQuery, ReviewInput};

/// Admission review, logs, policies, registry info, health and metrics.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(review))
        .routes(routes!(audit))
        .routes(routes!(audit_chain))
        .routes(routes!(decisions))
        .routes(routes!(policies))
        .routes(routes!(registry))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
}

/// Side-effect-free gate: would this action be allowed? A deny is a 200.
#[utoipa::path(post, path = "/v1/admission/review", tag = "policies",
    request_body = ReviewInput, security(("bearer" = [])),
    responses(Authenticated, JsonInput,
        (status = 200, description = "`decision` (`allow` or `deny`), `policy_ids`, `reasons` and, when allowed, the artifact", body = Value)))]
async fn review(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(input): JsonBody<ReviewInput>,
) -> Result<Response, ApiError> {
    let outcome = state.admission.review(&principal, input, &meta()).await?;
    let capacity = if outcome.artifact.is_some() {
        ALLOWED_REVIEW_BYTES
    } else {
        DENIED_REVIEW_BYTES
    };
    Ok(json_sized(&outcome, capacity))
}

/// Room for an allowed review's answer (it carries the artifact, 1–2 KB) and a denied one's.
const ALLOWED_REVIEW_BYTES: usize = 2048;
const DENIED_REVIEW_BYTES: usize = 512;

/// `Json(value).into_response()` — the same bytes and headers — written into a buffer of
/// `capacity` bytes: `Json` starts at 128 and regrew (copying) four times per allowed review.
fn json_sized<T: serde::Serialize>(value: &T, capacity: usize) -> Response {
    let mut body = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response(),
        // `Json` answers what it cannot write its own way.
        Err(_) => Json(value).into_response(),
    }
}

/// Audit records (hash-chained).
#[utoipa::path(get, path = "/v1/audit", tag = "policies", params(LogQuery), security(("bearer" = [])),
    responses(Authenticated,
        (status = 200, description = "a page: `items` and `next_cursor`", body = Value),
        (status = 422, description = "invalid query, naming the field", body = super::openapi::Problem, content_type = "application/problem+json")))]
async fn audit(
    State(state): State<AppState>,
    Caller(principal): Caller,
    AppQuery(query): AppQuery<LogQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.admission.audit_log(&principal, query, &meta()).await?).into_response())
}

/// The audit hash chain's status: intact, records, head hash, pending (not yet sealed) and the
/// first break, as `gatehouse audit verify` reports it. Platform-wide: `read_platform`.
#[utoipa::path(get, path = "/v1/audit/chain", tag = "policies", security(("bearer" = [])),
    responses(Authenticated,
        (status = 200, description = "`intact`, `records`, `head_hash`, `pending` and, when broken, the first break", body = Value)))]
async fn audit_chain(State(state): State<AppState>, Caller(principal): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.admission.audit_chain(&principal, &meta()).await?).into_response())
}

/// Decision log (allow and deny).
#[utoipa::path(get, path = "/v1/decisions", tag = "policies", params(LogQuery), security(("bearer" = [])),
    responses(Authenticated,
        (status = 200, description = "a page: `items` and `next_cursor`", body = Value),
        (status = 422, description = "invalid query, naming the field", body = super::openapi::Problem, content_type = "application/problem+json")))]
async fn decisions(
    State(state): State<AppState>,
    Caller(principal): Caller,
    AppQuery(query): AppQuery<LogQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.admission.decision_log(&principal, query, &meta()).await?).into_response())
}

/// The serving policy set (`manage_policies` on the platform).
#[utoipa::path(get, path = "/v1/policies", tag = "policies", security(("bearer" = [])),
    responses(Authenticated, (status = 200, description = "hash, load time and files of the serving set", body = Value)))]
async fn policies(State(state): State<AppState>, Caller(principal): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.admission.policy_set(&principal, &meta()).await?).into_response())
}

/// Registry facts: root, token realm and service, kinds, source types, channels.
#[utoipa::path(get, path = "/v1/registry", tag = "registry", security(("bearer" = [])),
    responses(Authenticated, (status = 200, description = "ok", body = Value)))]
async fn registry(State(state): State<AppState>, Caller(principal): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.admission.describe_registry(&principal, &meta()).await?).into_response())
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Value)))]
async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// The longest `/readyz` waits for the database: a probe with a one-second timeout must get an
/// answer, "not ready" included.
const READINESS_PROBE: Duration = Duration::from_millis(800);

/// The longest `/metrics` waits for the database-backed gauges; without them it still answers.
const METRICS_PROBE: Duration = Duration::from_millis(500);

/// Readiness: database reachable, policy set loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "ready: `database`, `policy_hash`, `last_policy_reload_error`", body = Value),
        (status = 503, description = "not ready: the database did not answer", body = Value)))]
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

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "text exposition", body = String, content_type = "text/plain; version=0.0.4")))]
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

/// This document, generated from the routes and types.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1", body = Value)))]
async fn openapi() -> Response {
    let document: &str = &super::openapi::DOCUMENT_JSON;
    ([(header::CONTENT_TYPE, "application/json")], document).into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::BTreeMap;

    use super::*;

    async fn parts(response: Response) -> (StatusCode, axum::http::HeaderMap, axum::body::Bytes) {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, bytes)
    }

    /// The sized answer is `Json`'s, byte for byte and header for header, whether the buffer
    /// is too small, just right or larger; what `Json` cannot write it answers as `Json` does.
    #[tokio::test]
    async fn a_sized_answer_is_what_json_answers() {
        let value = json!({ "decision": "allow", "reasons": ["a \"quoted\" \u{1} reason", "é"], "n": 1.5 });
        let expected = parts(Json(&value).into_response()).await;
        for capacity in [0, 16, 4096] {
            assert_eq!(parts(json_sized(&value, capacity)).await, expected, "{capacity}");
        }
        let unwritable = BTreeMap::from([((1, 2), "a map with non-string keys")]);
        let expected = parts(Json(&unwritable).into_response()).await;
        assert_eq!(expected.0, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(parts(json_sized(&unwritable, 64)).await, expected);
    }
}
