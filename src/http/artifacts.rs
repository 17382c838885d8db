//! Artifact routes: thin handlers that hand off to the admission service.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppQuery, Caller, JsonBody, PathParams, artifact_id};
use super::openapi::{Authenticated, JsonInput};
use super::{ApiError, AppState, meta};
use crate::admission::{
    LifecycleInput, ListQuery, PromoteInput, RegisterInput, RegisterOutcome, VerifyInput,
};
use crate::domain::{ArtifactId, LifecycleMove, Lookup, ProjectSlug};

/// Routes under `/v1/projects/{project}/artifacts` and `/v1/artifacts/{id}`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register, list))
        .routes(routes!(show))
        .routes(routes!(explain))
        .routes(routes!(summary))
        .routes(routes!(summary_key))
        .routes(routes!(verify))
        .routes(routes!(promote))
        .routes(routes!(deprecate))
        .routes(routes!(retire))
        .routes(routes!(revoke))
}

/// Register an artifact by digest (idempotent on project, repository, digest).
#[utoipa::path(post, path = "/v1/projects/{project}/artifacts", tag = "artifacts", security(("bearer" = [])),
    params(("project" = String, Path, description = "project slug")), request_body = RegisterInput,
    responses(Authenticated, JsonInput,
        (status = 201, description = "created: the artifact with `evidence` and `promotions`", body = serde_json::Value),
        (status = 200, description = "already registered with the same values (idempotent)", body = serde_json::Value),
        (status = 409, description = "the digest is already registered in this repository with other values: `fields` names them (`registration-conflict`); or a catalog entry is unusable", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 422, description = "invalid input, naming the field: a source URI that does not fit its source type, a control character in any string", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn register(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<ProjectSlug>,
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

/// List a project's artifacts.
#[utoipa::path(get, path = "/v1/projects/{project}/artifacts", tag = "artifacts", security(("bearer" = [])),
    params(("project" = String, Path, description = "project slug"), ListQuery),
    responses(Authenticated, (status = 200, description = "a page: `items` and `next_cursor`", body = serde_json::Value),
        (status = 404, description = "a project the caller holds no role in and may not read: as unknown as a missing one", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 422, description = "invalid query, naming the field", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<ProjectSlug>,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .admission
            .list_artifacts(&principal, &project, query, &meta())
            .await?,
    )
    .into_response())
}

/// One artifact with evidence and promotions.
#[utoipa::path(get, path = "/v1/artifacts/{id}", tag = "artifacts", security(("bearer" = [])), params(("id" = String, Path, description = "artifact id: a canonical lowercase hyphenated UUID")),
    responses(Authenticated, (status = 200, description = "ok", body = serde_json::Value), (status = 404, description = "unknown id", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<Lookup<ArtifactId>>,
) -> Result<Response, ApiError> {
    let id = artifact_id(id)?;
    Ok(Json(state.admission.get_artifact(&principal, id, &meta()).await?).into_response())
}

/// Evidence, promotions, decisions, audit records and registry trail of an artifact.
#[utoipa::path(get, path = "/v1/artifacts/{id}/explain", tag = "artifacts", security(("bearer" = [])), params(("id" = String, Path, description = "artifact id: a canonical lowercase hyphenated UUID")),
    responses(Authenticated, (status = 200, description = "ok", body = serde_json::Value), (status = 404, description = "unknown id", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn explain(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<Lookup<ArtifactId>>,
) -> Result<Response, ApiError> {
    let id = artifact_id(id)?;
    Ok(Json(state.admission.explain(&principal, id, &meta()).await?).into_response())
}

/// The artifact's latest signed verification summary (SLSA VSA v1 in a DSSE envelope), decided
/// as `read` on the artifact.
#[utoipa::path(get, path = "/v1/artifacts/{id}/vsa", tag = "artifacts", security(("bearer" = [])), params(("id" = String, Path, description = "artifact id: a canonical lowercase hyphenated UUID")),
    responses(Authenticated, (status = 200, description = "the DSSE envelope, as stored", body = serde_json::Value),
        (status = 404, description = "unknown id; no summary holds for the current trust state; or no `[vsa]` key is configured", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 409, description = "the artifact is revoked", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn summary(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<Lookup<ArtifactId>>,
) -> Result<Response, ApiError> {
    let id = artifact_id(id)?;
    let envelope = state
        .admission
        .verification_summary(&principal, id, &meta())
        .await?;
    Ok(Json(envelope).into_response())
}

/// The PEM public key verification summaries are signed with, decided as `describe` on the
/// platform.
#[utoipa::path(get, path = "/v1/vsa/public-key", tag = "artifacts", security(("bearer" = [])),
    responses(Authenticated, (status = 200, description = "PEM SubjectPublicKeyInfo", body = String, content_type = "application/x-pem-file"),
        (status = 404, description = "no `[vsa]` key is configured", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn summary_key(State(state): State<AppState>, Caller(principal): Caller) -> Result<Response, ApiError> {
    let pem = state.admission.vsa_public_key(&principal, &meta()).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

/// Run verification now: canonical digest, source policy, cosign signatures from the registry
/// (OCI), and every attached DSSE attestation; answers the artifact with its new `trust_state`.
#[utoipa::path(post, path = "/v1/artifacts/{id}/verify", tag = "artifacts", security(("bearer" = [])), params(("id" = String, Path, description = "artifact id: a canonical lowercase hyphenated UUID")),
    request_body(content = VerifyInput, description = "optional: an empty body reads as `{}`"),
    responses(Authenticated, JsonInput, (status = 200, description = "ok", body = serde_json::Value),
        (status = 404, description = "unknown id", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 409, description = "lifecycle or trust rule (a revoked artifact is never verified again)", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 422, description = "invalid attestations", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 503, description = "dependency unavailable, or the artifact kept changing under four verification runs in a row: retry later", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn verify(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<Lookup<ArtifactId>>,
    JsonBody(input): JsonBody<VerifyInput>,
) -> Result<Response, ApiError> {
    let id = artifact_id(id)?;
    Ok(Json(state.admission.verify(&principal, id, input, &meta()).await?).into_response())
}

/// Promote to a channel.
#[utoipa::path(post, path = "/v1/artifacts/{id}/promote", tag = "artifacts", security(("bearer" = [])), params(("id" = String, Path, description = "artifact id: a canonical lowercase hyphenated UUID")),
    request_body = PromoteInput,
    responses(Authenticated, JsonInput,
        (status = 200, description = "promoted; or the channel (and target environment) was reached already: nothing is written", body = serde_json::Value),
        (status = 404, description = "unknown id", content_type = "application/problem+json", body = super::openapi::Problem), (status = 409, description = "lifecycle or trust rule, or concurrent change", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn promote(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<Lookup<ArtifactId>>,
    JsonBody(input): JsonBody<PromoteInput>,
) -> Result<Response, ApiError> {
    let id = artifact_id(id)?;
    Ok(Json(state.admission.promote(&principal, id, input, &meta()).await?).into_response())
}

/// Deprecate (no new use).
#[utoipa::path(post, path = "/v1/artifacts/{id}/deprecate", tag = "artifacts", security(("bearer" = [])), params(("id" = String, Path, description = "artifact id: a canonical lowercase hyphenated UUID")),
    request_body = LifecycleInput,
    responses(Authenticated, JsonInput, (status = 200, description = "ok", body = serde_json::Value),
        (status = 404, description = "unknown id", content_type = "application/problem+json", body = super::openapi::Problem), (status = 409, description = "lifecycle or trust rule, or concurrent change", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn deprecate(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<Lookup<ArtifactId>>,
    JsonBody(input): JsonBody<LifecycleInput>,
) -> Result<Response, ApiError> {
    let id = artifact_id(id)?;
    let view = state
        .admission
        .end_of_life(&principal, id, LifecycleMove::Deprecate, input, &meta())
        .await?;
    Ok(Json(view).into_response())
}

/// Retire (terminal).
#[utoipa::path(post, path = "/v1/artifacts/{id}/retire", tag = "artifacts", security(("bearer" = [])), params(("id" = String, Path, description = "artifact id: a canonical lowercase hyphenated UUID")),
    request_body = LifecycleInput,
    responses(Authenticated, JsonInput, (status = 200, description = "ok", body = serde_json::Value),
        (status = 404, description = "unknown id", content_type = "application/problem+json", body = super::openapi::Problem), (status = 409, description = "lifecycle or trust rule, or concurrent change", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn retire(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<Lookup<ArtifactId>>,
    JsonBody(input): JsonBody<LifecycleInput>,
) -> Result<Response, ApiError> {
    let id = artifact_id(id)?;
    let view = state
        .admission
        .end_of_life(&principal, id, LifecycleMove::Retire, input, &meta())
        .await?;
    Ok(Json(view).into_response())
}

/// Revoke trust (terminal); `reason` required.
#[utoipa::path(post, path = "/v1/artifacts/{id}/revoke", tag = "artifacts", security(("bearer" = [])), params(("id" = String, Path, description = "artifact id: a canonical lowercase hyphenated UUID")),
    request_body = LifecycleInput,
    responses(Authenticated, JsonInput, (status = 200, description = "ok", body = serde_json::Value),
        (status = 404, description = "unknown id", content_type = "application/problem+json", body = super::openapi::Problem), (status = 409, description = "lifecycle or trust rule, or concurrent change", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn revoke(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<Lookup<ArtifactId>>,
    JsonBody(input): JsonBody<LifecycleInput>,
) -> Result<Response, ApiError> {
    let id = artifact_id(id)?;
    Ok(Json(state.admission.revoke(&principal, id, input, &meta()).await?).into_response())
}
