//! Policy reload and simulation routes; a refused candidate answers 422 listing its problems.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Caller, JsonBody};
use super::openapi::{Authenticated, JsonInput};
use super::request_id::current_request_id;
use super::{ApiError, AppState, meta};
use crate::admission::{ReloadOutcome, SimulateInput, SimulateOutcome};
use crate::policy::PolicyLoadError;

/// `POST /v1/policies/reload` and `POST /v1/policies/simulate`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reload))
        .routes(routes!(simulate))
}

/// Reload the policy set from disk (`manage_policies` on the platform; also on SIGHUP); audited as
/// `policy.reload` or `policy.reload_refused`.
#[utoipa::path(post, path = "/v1/policies/reload", tag = "policies", security(("bearer" = [])),
    responses(Authenticated, (status = 200, description = "the new set serves: `hash`, `previous_hash`", body = serde_json::Value),
        (status = 422, description = "the policy set is invalid: every problem with file, line and reason in `problems`; the serving set is unchanged (`serving_hash`)", content_type = "application/problem+json", body = super::openapi::Problem)))]
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

/// Replay stored decisions against a candidate policy set (`manage_policies` on the platform);
/// lists the decisions whose effect would change.
#[utoipa::path(post, path = "/v1/policies/simulate", tag = "policies", security(("bearer" = [])),
    request_body = SimulateInput,
    responses(Authenticated, JsonInput, (status = 200, description = "the replay report", body = serde_json::Value),
        (status = 422, description = "a file name that is not a plain `*.cedar` name (with `field`), or an invalid candidate (with `problems`)", content_type = "application/problem+json", body = super::openapi::Problem)))]
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
