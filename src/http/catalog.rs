//! Catalog routes: list a family, contribute an entry, approve, enable and disable it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Caller, JsonBody, PathParams};
use super::openapi::{Authenticated, JsonInput};
use super::{ApiError, AppState, meta};
use crate::admission::CatalogChangeInput;
use crate::catalog::Family;
use crate::domain::{ContributedName, Lookup};

/// Routes under `/v1/catalog`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(contribute, list))
        .routes(routes!(approve))
        .routes(routes!(enable))
        .routes(routes!(disable))
}

/// The entries of a catalog family.
#[utoipa::path(get, path = "/v1/catalog/{family}", tag = "catalog", security(("bearer" = [])),
    params(("family" = String, Path, description = "catalog family, e.g. `artifact_types`")),
    responses(Authenticated, (status = 200, description = "ok", body = Value), (status = 404, description = "unknown family", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(family): PathParams<Lookup<Family>>,
) -> Result<Response, ApiError> {
    let list = state.admission.list_catalog(&principal, &family, &meta()).await?;
    Ok(Json(list).into_response())
}

/// Contribute an entry to a family (validated against the family's schema); it serves once
/// approved.
#[utoipa::path(post, path = "/v1/catalog/{family}", tag = "catalog", security(("bearer" = [])),
    params(("family" = String, Path, description = "catalog family, e.g. `artifact_types`")),
    request_body(content = Value, description = "an entry of the family (see `schemas/catalog-entry.schema.json`)"),
    responses(Authenticated, JsonInput, (status = 201, description = "contributed", body = Value),
        (status = 404, description = "unknown family", content_type = "application/problem+json", body = super::openapi::Problem), (status = 409, description = "the id exists", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn contribute(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(family): PathParams<Lookup<Family>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let entry = state
        .admission
        .contribute_catalog_entry(&principal, &family, body, &meta())
        .await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

/// Approve a contributed entry.
#[utoipa::path(post, path = "/v1/catalog/{family}/{id}/approve", tag = "catalog", security(("bearer" = [])), params(("family" = String, Path, description = "catalog family, e.g. `artifact_types`"), ("id" = String, Path, description = "entry id")),
    responses(Authenticated, (status = 200, description = "approved", body = Value),
        (status = 404, description = "unknown family or entry", content_type = "application/problem+json", body = super::openapi::Problem), (status = 409, description = "already approved", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn approve(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((family, id)): PathParams<(Lookup<Family>, Lookup<ContributedName>)>,
) -> Result<Response, ApiError> {
    let entry = state
        .admission
        .approve_catalog_entry(&principal, &family, &id, &meta())
        .await?;
    Ok(Json(entry).into_response())
}

/// Enable an entry.
#[utoipa::path(post, path = "/v1/catalog/{family}/{id}/enable", tag = "catalog", security(("bearer" = [])), params(("family" = String, Path, description = "catalog family, e.g. `artifact_types`"), ("id" = String, Path, description = "entry id")),
    request_body = CatalogChangeInput,
    responses(Authenticated, JsonInput, (status = 200, description = "enabled", body = Value),
        (status = 404, description = "unknown family or entry", content_type = "application/problem+json", body = super::openapi::Problem), (status = 409, description = "not approved", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn enable(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((family, id)): PathParams<(Lookup<Family>, Lookup<ContributedName>)>,
    JsonBody(input): JsonBody<CatalogChangeInput>,
) -> Result<Response, ApiError> {
    let entry = state
        .admission
        .set_catalog_entry_enabled(&principal, &family, &id, true, input, &meta())
        .await?;
    Ok(Json(entry).into_response())
}

/// Disable an entry.
#[utoipa::path(post, path = "/v1/catalog/{family}/{id}/disable", tag = "catalog", security(("bearer" = [])), params(("family" = String, Path, description = "catalog family, e.g. `artifact_types`"), ("id" = String, Path, description = "entry id")),
    request_body = CatalogChangeInput,
    responses(Authenticated, JsonInput, (status = 200, description = "disabled", body = Value),
        (status = 404, description = "unknown family or entry", content_type = "application/problem+json", body = super::openapi::Problem), (status = 409, description = "the entry is in use or not approved", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn disable(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((family, id)): PathParams<(Lookup<Family>, Lookup<ContributedName>)>,
    JsonBody(input): JsonBody<CatalogChangeInput>,
) -> Result<Response, ApiError> {
    let entry = state
        .admission
        .set_catalog_entry_enabled(&principal, &family, &id, false, input, &meta())
        .await?;
    Ok(Json(entry).into_response())
}
