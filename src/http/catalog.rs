//! Catalog routes: list a family, contribute an entry, approve, enable and disable it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use super::extract::{Caller, JsonBody, PathParams};
use super::{ApiError, AppState, meta};
use crate::admission::CatalogChangeInput;

/// Routes under `/v1/catalog`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/catalog/{family}", post(contribute).get(list))
        .route("/v1/catalog/{family}/{id}/approve", post(approve))
        .route("/v1/catalog/{family}/{id}/enable", post(enable))
        .route("/v1/catalog/{family}/{id}/disable", post(disable))
}

async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(family): PathParams<String>,
) -> Result<Response, ApiError> {
    let list = state.admission.list_catalog(&principal, &family, &meta()).await?;
    Ok(Json(list).into_response())
}

async fn contribute(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(family): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let entry = state
        .admission
        .contribute_catalog_entry(&principal, &family, body, &meta())
        .await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

async fn approve(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((family, id)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let entry = state
        .admission
        .approve_catalog_entry(&principal, &family, &id, &meta())
        .await?;
    Ok(Json(entry).into_response())
}

async fn enable(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((family, id)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<CatalogChangeInput>,
) -> Result<Response, ApiError> {
    let entry = state
        .admission
        .set_catalog_entry_enabled(&principal, &family, &id, true, input, &meta())
        .await?;
    Ok(Json(entry).into_response())
}

async fn disable(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((family, id)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<CatalogChangeInput>,
) -> Result<Response, ApiError> {
    let entry = state
        .admission
        .set_catalog_entry_enabled(&principal, &family, &id, false, input, &meta())
        .await?;
    Ok(Json(entry).into_response())
}
