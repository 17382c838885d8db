//! Registry routes: publish and pull intents, the Docker token endpoint, the notification webhook,
//! unregistered pushes.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;

use super::extract::{Caller, JsonBody, PathParams, QueryParams, RawBody, canonical_id};
use super::{ApiError, AppState, meta};
use crate::admission::{ListQuery, PublishIntentInput, PullIntentInput, TokenCaller, TokenRequest};

/// Routes of the registry integration.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/projects/{project}/publish-intents", post(publish_intent))
        .route("/v1/projects/{project}/pull-intents", post(pull_intent))
        .route("/v1/pull-intents/{id}", get(get_pull_intent))
        .route(
            "/v1/projects/{project}/unregistered-pushes",
            get(unregistered_pushes),
        )
        .route("/v1/registry/token", get(token))
        .route("/v1/webhooks/registry", post(webhook))
}

async fn publish_intent(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<String>,
    JsonBody(input): JsonBody<PublishIntentInput>,
) -> Result<Response, ApiError> {
    let answer = state
        .admission
        .publish_intent(&principal, &project, input, &meta())
        .await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

async fn pull_intent(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<String>,
    JsonBody(input): JsonBody<PullIntentInput>,
) -> Result<Response, ApiError> {
    let answer = state
        .admission
        .pull_intent(&principal, &project, input, &meta())
        .await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

async fn get_pull_intent(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let id = canonical_id(id, "pull intent")?;
    let answer = state.admission.get_pull_intent(&principal, &id, &meta()).await?;
    Ok(Json(answer).into_response())
}

async fn unregistered_pushes(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<String>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .admission
            .unregistered_pushes(&principal, &project, query, &meta())
            .await?,
    )
    .into_response())
}

/// Docker registry token endpoint: `service` and repeated `scope` query values; HTTP Basic with an
/// intent credential, or a gateway bearer token.
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let service = pairs.iter().find(|(k, _)| k == "service").map(|(_, v)| v.clone());
    let scopes = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let caller = if let Some(encoded) = authorization.strip_prefix("Basic ") {
        let (username, password) = decode_basic(encoded)?;
        TokenCaller::Intent { username, password }
    } else if authorization.starts_with("Bearer ") {
        let Caller(principal) = Caller::from_headers(&headers, &state).await?;
        TokenCaller::Principal(principal)
    } else {
        return Err(ApiError::Unauthenticated(
            "present an intent credential (HTTP Basic) or a bearer token".to_owned(),
        ));
    };
    let body = state
        .admission
        .registry_token(
            TokenRequest {
                service,
                scopes,
                caller,
            },
            &meta(),
        )
        .await?;
    Ok(Json(body).into_response())
}

fn decode_basic(encoded: &str) -> Result<(String, String), ApiError> {
    let malformed = || ApiError::Unauthenticated("malformed Basic credentials".to_owned());
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let (user, pass) = text.split_once(':').ok_or_else(malformed)?;
    Ok((user.to_owned(), pass.to_owned()))
}

/// Registry notifications: the shared secret first (401, nothing stored), then the envelope
/// (400 if malformed), then durable queueing before the 202.
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !state.admission.webhook_secret_matches(presented) {
        return Err(ApiError::Unauthenticated(
            "the webhook secret is missing or wrong".to_owned(),
        ));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let outcome = state
        .admission
        .intake_notifications(content_type, &body, &meta())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(outcome)).into_response())
}
