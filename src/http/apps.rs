//! App routes: manifest registration (JSON or YAML), the app catalog, publishing, entitlements.

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use super::extract::{Caller, JsonBody, PathParams, QueryParams, media_type, read_body};
use super::{ApiError, AppState, meta};
use crate::admission::{AppListQuery, EntitlementInput, Outcome, VersionListQuery};
use crate::manifest::{self, Format};

/// Routes under `/v1/apps` and `/v1/projects/{project}/entitlements`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/apps", post(register).get(list))
        .route("/v1/apps/{slug}", get(show))
        .route("/v1/apps/{slug}/versions", post(register_version).get(versions))
        .route("/v1/apps/{slug}/versions/{version}", get(show_version))
        .route("/v1/apps/{slug}/versions/{version}/publish", post(publish))
        .route(
            "/v1/projects/{project}/entitlements",
            post(grant).get(entitlements),
        )
}

/// A manifest document: JSON (`application/json`) or YAML (`application/yaml`,
/// `application/x-yaml`, `text/yaml`); any other media type, or none, is 415. Unparseable input
/// is 400.
pub struct ManifestBody(pub serde_json::Value);

impl FromRequest<AppState> for ManifestBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let format = match media_type(request.headers()).as_deref() {
            Some("application/json") => Format::Json,
            Some("application/yaml" | "application/x-yaml" | "text/yaml") => Format::Yaml,
            _ => return Err(ApiError::UnsupportedMediaType),
        };
        let bytes = read_body(request, state).await?;
        manifest::parse(&bytes, format)
            .map(Self)
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    }
}

fn answer<T: Serialize>(outcome: Outcome<T>) -> Response {
    match outcome {
        Outcome::Created(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Outcome::Existing(v) => (StatusCode::OK, Json(v)).into_response(),
    }
}

async fn register(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ManifestBody(document): ManifestBody,
) -> Result<Response, ApiError> {
    let outcome = state
        .admission
        .register_app(&principal, &document, &meta())
        .await?;
    Ok(answer(outcome))
}

async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    QueryParams(query): QueryParams<AppListQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.admission.list_apps(&principal, query, &meta()).await?).into_response())
}

async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(slug): PathParams<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.admission.get_app(&principal, &slug, &meta()).await?).into_response())
}

async fn register_version(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(slug): PathParams<String>,
    ManifestBody(document): ManifestBody,
) -> Result<Response, ApiError> {
    let outcome = state
        .admission
        .register_app_version(&principal, &slug, &document, &meta())
        .await?;
    Ok(answer(outcome))
}

async fn versions(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(slug): PathParams<String>,
    QueryParams(query): QueryParams<VersionListQuery>,
) -> Result<Response, ApiError> {
    let page = state
        .admission
        .list_app_versions(&principal, &slug, query, &meta())
        .await?;
    Ok(Json(page).into_response())
}

async fn show_version(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((slug, version)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let view = state
        .admission
        .get_app_version(&principal, &slug, &version, &meta())
        .await?;
    Ok(Json(view).into_response())
}

async fn publish(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((slug, version)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let published = state
        .admission
        .publish_app_version(&principal, &slug, &version, &meta())
        .await?;
    Ok(Json(published).into_response())
}

async fn grant(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<String>,
    JsonBody(input): JsonBody<EntitlementInput>,
) -> Result<Response, ApiError> {
    let (entitlement, created) = state
        .admission
        .grant_entitlement(&principal, &project, input, &meta())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(entitlement)).into_response())
}

async fn entitlements(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<String>,
    QueryParams(query): QueryParams<AppListQuery>,
) -> Result<Response, ApiError> {
    let page = state
        .admission
        .list_entitlements(&principal, &project, query, &meta())
        .await?;
    Ok(Json(page).into_response())
}
