//! Policy reload and simulation routes; a refused candidate answers 422 listing its problems.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use super::extract::{Caller, JsonBody};
use super::request_id::current_request_id;
use super::{ApiError, AppState, meta};
use crate::admission::{ReloadOutcome, SimulateInput, SimulateOutcome};
use crate::policy::PolicyLoadError;

/// `POST /v1/policies/reload` and `POST /v1/policies/simulate`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/policies/reload", post(reload))
        .route("/v1/policies/simulate", post(simulate))
}

async fn reload(State(state): State<AppState>, Caller(principal): Caller) -> Result<Response, ApiError> {
    let serving = state.admission.policy().hash().to_owned();
    Ok(
        match state.admission.reload_policies_for(&principal, &meta()).await? {
            ReloadOutcome::Applied(report) => Json(report).into_response(),
            ReloadOutcome::Refused(error) => refused(
                &error,
                "the policy set on disk is invalid; the serving set is unchanged",
                Some(&serving),
            ),
        },
    )
}

async fn simulate(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(input): JsonBody<SimulateInput>,
) -> Result<Response, ApiError> {
    Ok(
        match state
            .admission
            .simulate_policies(&principal, input, &meta())
            .await?
        {
            SimulateOutcome::Report(report) => Json(report).into_response(),
            SimulateOutcome::Refused(error) => refused(&error, "the candidate policy set is invalid", None),
        },
    )
}

/// 422 problem+json with every problem as `{file, line, reason}`.
fn refused(error: &PolicyLoadError, detail: &str, serving_hash: Option<&str>) -> Response {
    let mut body = json!({
        "type": "urn:gatehouse:problem:invalid-policy-set",
        "title": "Invalid policy set",
        "status": 422,
        "detail": detail,
        "request_id": current_request_id(),
        "problems": error.problems,
    });
    if let (Some(hash), Some(map)) = (serving_hash, body.as_object_mut()) {
        map.insert("serving_hash".to_owned(), json!(hash));
    }
    let mut response = (StatusCode::UNPROCESSABLE_ENTITY, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}
