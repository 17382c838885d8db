//! Artifact routes: thin handlers that hand off to the admission service.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::extract::{Caller, JsonBody, PathParams, QueryParams, canonical_id};
use super::{ApiError, AppState, meta};
use crate::admission::{
    LifecycleInput, ListQuery, PromoteInput, RegisterInput, RegisterOutcome, VerifyInput,
};
use crate::domain::LifecycleMove;

/// Routes under `/v1/projects/{project}/artifacts` and `/v1/artifacts/{id}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/projects/{project}/artifacts", post(register).get(list))
        .route("/v1/artifacts/{id}", get(show))
        .route("/v1/artifacts/{id}/explain", get(explain))
        .route("/v1/artifacts/{id}/vsa", get(summary))
        .route("/v1/vsa/public-key", get(summary_key))
        .route("/v1/artifacts/{id}/verify", post(verify))
        .route("/v1/artifacts/{id}/promote", post(promote))
        .route("/v1/artifacts/{id}/deprecate", post(deprecate))
        .route("/v1/artifacts/{id}/retire", post(retire))
        .route("/v1/artifacts/{id}/revoke", post(revoke))
}

async fn register(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<String>,
    JsonBody(input): JsonBody<RegisterInput>,
) -> Result<Response, ApiError> {
    Ok(
        match state
            .admission
            .register(&principal, &project, input, &meta())
            .await?
        {
            RegisterOutcome::Created(view) => (StatusCode::CREATED, Json(view)).into_response(),
            RegisterOutcome::Existing(view) => (StatusCode::OK, Json(view)).into_response(),
        },
    )
}

async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<String>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .admission
            .list_artifacts(&principal, &project, query, &meta())
            .await?,
    )
    .into_response())
}

async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let id = canonical_id(id, "artifact")?;
    Ok(Json(state.admission.get_artifact(&principal, &id, &meta()).await?).into_response())
}

async fn explain(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let id = canonical_id(id, "artifact")?;
    Ok(Json(state.admission.explain(&principal, &id, &meta()).await?).into_response())
}

/// The latest signed verification summary (a DSSE envelope), as stored.
async fn summary(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let id = canonical_id(id, "artifact")?;
    let envelope = state
        .admission
        .verification_summary(&principal, &id, &meta())
        .await?;
    Ok(Json(envelope).into_response())
}

/// The PEM public key summaries verify with.
async fn summary_key(State(state): State<AppState>, Caller(principal): Caller) -> Result<Response, ApiError> {
    let pem = state.admission.vsa_public_key(&principal, &meta()).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

async fn verify(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<String>,
    JsonBody(input): JsonBody<VerifyInput>,
) -> Result<Response, ApiError> {
    let id = canonical_id(id, "artifact")?;
    Ok(Json(state.admission.verify(&principal, &id, input, &meta()).await?).into_response())
}

async fn promote(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<String>,
    JsonBody(input): JsonBody<PromoteInput>,
) -> Result<Response, ApiError> {
    let id = canonical_id(id, "artifact")?;
    Ok(Json(state.admission.promote(&principal, &id, input, &meta()).await?).into_response())
}

async fn deprecate(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<String>,
    JsonBody(input): JsonBody<LifecycleInput>,
) -> Result<Response, ApiError> {
    let id = canonical_id(id, "artifact")?;
    let view = state
        .admission
        .end_of_life(&principal, &id, LifecycleMove::Deprecate, input, &meta())
        .await?;
    Ok(Json(view).into_response())
}

async fn retire(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<String>,
    JsonBody(input): JsonBody<LifecycleInput>,
) -> Result<Response, ApiError> {
    let id = canonical_id(id, "artifact")?;
    let view = state
        .admission
        .end_of_life(&principal, &id, LifecycleMove::Retire, input, &meta())
        .await?;
    Ok(Json(view).into_response())
}

async fn revoke(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<String>,
    JsonBody(input): JsonBody<LifecycleInput>,
) -> Result<Response, ApiError> {
    let id = canonical_id(id, "artifact")?;
    Ok(Json(state.admission.revoke(&principal, &id, input, &meta()).await?).into_response())
}
