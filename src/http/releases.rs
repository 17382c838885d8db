//! Platform release catalog routes: thin handlers over the admission service, plus the
//! streamed convenience download.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Caller, JsonBody, PathParams};
use super::openapi::{Authenticated, JsonInput};
use super::request_id::current_request_id;
use super::{ApiError, AppState, meta};
use crate::admission::{ReleaseDownload, ReleaseInput};
use crate::domain::{Lookup, ReleaseFileName, ReleaseVersion};

/// Routes under `/v1/platform/releases`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, publish))
        .routes(routes!(show))
        .routes(routes!(download))
}

/// Publish a platform release: a version naming registered, verified platform artifacts.
#[utoipa::path(post, path = "/v1/platform/releases", tag = "releases", security(("bearer" = [])),
    request_body = ReleaseInput,
    responses(Authenticated, JsonInput, (status = 201, description = "published", body = crate::domain::Release),
        (status = 409, description = "the version exists, or an artifact is not releasable", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn publish(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(input): JsonBody<ReleaseInput>,
) -> Result<Response, ApiError> {
    let release = state
        .admission
        .publish_release(&principal, input, &meta())
        .await?;
    Ok((StatusCode::CREATED, Json(release)).into_response())
}

/// The platform releases, newest first.
#[utoipa::path(get, path = "/v1/platform/releases", tag = "releases", security(("bearer" = [])),
    responses(Authenticated, (status = 200, description = "`items`: release summaries, newest first", body = crate::admission::ReleaseList)))]
async fn list(State(state): State<AppState>, Caller(principal): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.admission.list_releases(&principal, &meta()).await?).into_response())
}

/// One release with its files.
#[utoipa::path(get, path = "/v1/platform/releases/{version}", tag = "releases", security(("bearer" = [])),
    params(("version" = String, Path, description = "release version")),
    responses(Authenticated, (status = 200, description = "ok", body = crate::domain::Release), (status = 404, description = "unknown release", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(version): PathParams<Lookup<ReleaseVersion>>,
) -> Result<Response, ApiError> {
    Ok(Json(state.admission.release(&principal, &version, &meta()).await?).into_response())
}

/// Convenience download of one file of a release, streamed from where it lives and checked
/// against its digest (`docker-content-digest` names it).
#[utoipa::path(get, path = "/v1/platform/releases/{version}/artifacts/{name}", tag = "releases", security(("bearer" = [])),
    params(("version" = String, Path, description = "release version"), ("name" = String, Path, description = "file name within the release")),
    responses(Authenticated,
        (status = 200, description = "the file's bytes", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 404, description = "unknown release or file", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 413, description = "above the download limit: `reference` and `digest` name where to pull it from the registry instead", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn download(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((version, name)): PathParams<(Lookup<ReleaseVersion>, Lookup<ReleaseFileName>)>,
) -> Result<Response, ApiError> {
    match state
        .admission
        .release_download(&principal, &version, &name, &meta())
        .await?
    {
        ReleaseDownload::Stream(file) => {
            // A body error (a digest mismatch, a short read) aborts the connection before the
            // declared length is reached, so a client sees a broken transfer, never a clean file.
            let mut response = Body::from_stream(file.body).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
            let media_type = HeaderValue::from_str(&file.media_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
            headers.insert(header::CONTENT_TYPE, media_type);
            if let Ok(digest) = HeaderValue::from_str(file.digest.as_str()) {
                headers.insert("docker-content-digest", digest);
            }
            Ok(response)
        }
        too_large @ ReleaseDownload::TooLarge { .. } => Ok(too_large_problem(too_large)),
    }
}

/// 413 problem+json pointing at the registry reference the file is pulled from instead.
fn too_large_problem(refusal: ReleaseDownload) -> Response {
    let ReleaseDownload::TooLarge {
        size,
        max_bytes,
        reference,
        digest,
        artifact_id,
        project,
    } = refusal
    else {
        return ApiError::Internal.into_response();
    };
    let body = json!({
        "type": "urn:gatehouse:problem:download-too-large",
        "title": "Too large for the convenience download",
        "status": 413,
        "detail": format!(
            "the artifact is {size} bytes, above the {max_bytes}-byte download limit; pull `{reference}` from the registry (layer `{digest}`)"
        ),
        "request_id": current_request_id(),
        "reference": reference,
        "digest": digest.as_str(),
        "size": size,
        "max_bytes": max_bytes,
        // A pull credential for the reference comes from a pull intent for the artifact.
        "artifact_id": artifact_id.to_string(),
        "pull_intents": format!("/v1/projects/{project}/pull-intents"),
    });
    let mut response = (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}
