//! App routes: manifest registration (JSON or YAML), the app catalog, publishing, entitlements.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppQuery, Caller, JsonBody, PathParams, media_type, read_body};
use super::openapi::{Authenticated, JsonInput};
use super::{ApiError, AppState, meta};
use crate::admission::{AppListQuery, EntitlementInput, Outcome, VersionListQuery};
use crate::domain::{AppSlug, Lookup, ProjectSlug, VersionNumber};
use crate::manifest::{self, Format};

/// Routes under `/v1/apps` and `/v1/projects/{project}/entitlements`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register, list))
        .routes(routes!(show))
        .routes(routes!(register_version, versions))
        .routes(routes!(show_version))
        .routes(routes!(publish))
        .routes(routes!(grant, entitlements))
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

/// Register an app and its first version from a manifest package; the owning project is
/// `app.project`; artifacts resolve by digest in that project. Identical repeats answer 200.
#[utoipa::path(post, path = "/v1/apps", tag = "apps", security(("bearer" = [])),
    request_body(description = "a manifest package: one document with `app` and `version`, validated against `schemas/app-manifest.schema.json`",
        content((Value = "application/json"), (Value = "application/yaml"))),
    responses(Authenticated, JsonInput,
        (status = 201, description = "registered", body = crate::admission::AppRegistration),
        (status = 200, description = "identical registration already stored", body = crate::admission::AppRegistration),
        (status = 400, description = "not JSON or YAML", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 409, description = "the slug is registered with other content", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 415, description = "neither JSON nor YAML", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 422, description = "invalid manifest: `field` is the first fault's JSON pointer, `errors` lists every fault {pointer, rule, message}", content_type = "application/problem+json", body = super::openapi::Problem)))]
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

/// Apps the caller may read (owning-project members, entitled projects' members, platform
/// admins); a page may hold fewer than `limit` items.
#[utoipa::path(get, path = "/v1/apps", tag = "apps", security(("bearer" = [])), params(AppListQuery),
    responses(Authenticated, (status = 200, description = "a page: `items` and `next_cursor`", body = crate::admission::Page<crate::domain::App>),
        (status = 422, description = "invalid query", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    AppQuery(query): AppQuery<AppListQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.admission.list_apps(&principal, query, &meta()).await?).into_response())
}

/// One app.
#[utoipa::path(get, path = "/v1/apps/{slug}", tag = "apps", security(("bearer" = [])),
    params(("slug" = String, Path, description = "app slug")),
    responses(Authenticated, (status = 200, description = "ok", body = crate::domain::App), (status = 404, description = "unknown app", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(slug): PathParams<Lookup<AppSlug>>,
) -> Result<Response, ApiError> {
    Ok(Json(state.admission.get_app(&principal, &slug, &meta()).await?).into_response())
}

/// Register a version from a manifest package (`app.slug` must be `{slug}`; `app.project`, if
/// given, the owner). Versions are immutable: the same version with other content is 409.
#[utoipa::path(post, path = "/v1/apps/{slug}/versions", tag = "apps", security(("bearer" = [])),
    params(("slug" = String, Path, description = "app slug")),
    request_body(description = "a manifest package: one document with `app` and `version`",
        content((Value = "application/json"), (Value = "application/yaml"))),
    responses(Authenticated, JsonInput,
        (status = 201, description = "registered", body = crate::domain::AppVersion),
        (status = 200, description = "identical version already stored", body = crate::domain::AppVersion),
        (status = 400, description = "not JSON or YAML", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 404, description = "unknown app", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 409, description = "the version exists with other content", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 415, description = "neither JSON nor YAML", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 422, description = "invalid manifest, or an artifact reference that does not resolve", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn register_version(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(slug): PathParams<Lookup<AppSlug>>,
    ManifestBody(document): ManifestBody,
) -> Result<Response, ApiError> {
    let outcome = state
        .admission
        .register_app_version(&principal, &slug, &document, &meta())
        .await?;
    Ok(answer(outcome))
}

/// Versions the caller may read: owning-project members and platform admins see drafts too.
#[utoipa::path(get, path = "/v1/apps/{slug}/versions", tag = "apps", security(("bearer" = [])),
    params(("slug" = String, Path, description = "app slug"), VersionListQuery),
    responses(Authenticated, (status = 200, description = "a page: `items` and `next_cursor`", body = crate::admission::Page<crate::domain::AppVersion>),
        (status = 404, description = "unknown app", content_type = "application/problem+json", body = super::openapi::Problem), (status = 422, description = "invalid status or cursor", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn versions(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(slug): PathParams<Lookup<AppSlug>>,
    AppQuery(query): AppQuery<VersionListQuery>,
) -> Result<Response, ApiError> {
    let page = state
        .admission
        .list_app_versions(&principal, &slug, query, &meta())
        .await?;
    Ok(Json(page).into_response())
}

/// One version with the artifacts it links and their current trust and lifecycle state.
#[utoipa::path(get, path = "/v1/apps/{slug}/versions/{version}", tag = "apps", security(("bearer" = [])),
    params(("slug" = String, Path, description = "app slug"), ("version" = String, Path, description = "app version")),
    responses(Authenticated, (status = 200, description = "the version and its linked artifacts (`linked_artifacts[]`: id, digest, kind, type, source type, repository, trust_state, lifecycle_state, channels, catalog_refusals)", body = serde_json::Value),
        (status = 404, description = "unknown app or version", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn show_version(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((slug, version)): PathParams<(Lookup<AppSlug>, Lookup<VersionNumber>)>,
) -> Result<Response, ApiError> {
    let view = state
        .admission
        .get_app_version(&principal, &slug, &version, &meta())
        .await?;
    Ok(Json(view).into_response())
}

/// Publish (approve) a draft version: platform admins only, and only while every linked
/// artifact is verified and none is retired (Cedar `publish_app_version`).
#[utoipa::path(post, path = "/v1/apps/{slug}/versions/{version}/publish", tag = "apps", security(("bearer" = [])),
    params(("slug" = String, Path, description = "app slug"), ("version" = String, Path, description = "app version")),
    responses(Authenticated, (status = 200, description = "published", body = crate::domain::AppVersion),
        (status = 404, description = "unknown app or version", content_type = "application/problem+json", body = super::openapi::Problem), (status = 409, description = "already published", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn publish(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((slug, version)): PathParams<(Lookup<AppSlug>, Lookup<VersionNumber>)>,
) -> Result<Response, ApiError> {
    let published = state
        .admission
        .publish_app_version(&principal, &slug, &version, &meta())
        .await?;
    Ok(Json(published).into_response())
}

/// Grant the project an entitlement to an app with a published version (project admins); a
/// repeat answers 200 with the stored grant.
#[utoipa::path(post, path = "/v1/projects/{project}/entitlements", tag = "apps", security(("bearer" = [])),
    params(("project" = String, Path, description = "project slug")), request_body = EntitlementInput,
    responses(Authenticated, JsonInput,
        (status = 201, description = "granted", body = crate::domain::Entitlement),
        (status = 200, description = "already granted", body = crate::domain::Entitlement),
        (status = 404, description = "unknown app", content_type = "application/problem+json", body = super::openapi::Problem), (status = 409, description = "the app has no published version", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn grant(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<ProjectSlug>,
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

/// The project's entitlements.
#[utoipa::path(get, path = "/v1/projects/{project}/entitlements", tag = "apps", security(("bearer" = [])),
    params(("project" = String, Path, description = "project slug"), AppListQuery),
    responses(Authenticated, (status = 200, description = "a page: `items` and `next_cursor`", body = crate::admission::Page<crate::domain::Entitlement>),
        (status = 422, description = "invalid query", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn entitlements(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<ProjectSlug>,
    AppQuery(query): AppQuery<AppListQuery>,
) -> Result<Response, ApiError> {
    let page = state
        .admission
        .list_entitlements(&principal, &project, query, &meta())
        .await?;
    Ok(Json(page).into_response())
}
