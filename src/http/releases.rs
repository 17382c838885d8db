//! Platform release catalog routes: thin handlers over the admission service, plus the
//! streamed convenience download.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::extract::{Caller, JsonBody, PathParams};
use super::request_id::current_request_id;
use super::{ApiError, AppState, meta};
use crate::admission::{ReleaseDownload, ReleaseInput};

/// Routes under `/v1/platform/releases`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/platform/releases", get(list).post(publish))
        .route("/v1/platform/releases/{version}", get(show))
        .route("/v1/platform/releases/{version}/artifacts/{name}", get(download))
}

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

async fn list(State(state): State<AppState>, Caller(principal): Caller) -> Result<Response, ApiError> {
    Ok(Json(state.admission.list_releases(&principal, &meta()).await?).into_response())
}

async fn show(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(version): PathParams<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.admission.release(&principal, &version, &meta()).await?).into_response())
}

async fn download(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams((version, name)): PathParams<(String, String)>,
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
