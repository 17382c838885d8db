//! Registry routes: publish and pull intents, the Docker token endpoint, the notification webhook,
//! unregistered pushes.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppQuery, Caller, JsonBody, PathParams, RawBody};
use super::openapi::{Authenticated, JsonInput};
use super::{ApiError, AppState, meta};
use crate::admission::{ListQuery, PublishIntentInput, PullIntentInput, TokenCaller, TokenRequest};
use crate::domain::{CanonicalUuid, Lookup, ProjectSlug};
use crate::registry::{RequestedScopes, RequestedService};

/// Routes of the registry integration.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(publish_intent))
        .routes(routes!(pull_intent))
        .routes(routes!(get_pull_intent))
        .routes(routes!(unregistered_pushes))
        .routes(routes!(token))
        .routes(routes!(webhook))
}

/// Publish intent: a short-lived credential to push to the canonical repository
/// `<root>/<project>/<app>`.
#[utoipa::path(post, path = "/v1/projects/{project}/publish-intents", tag = "registry", security(("bearer" = [])),
    params(("project" = String, Path, description = "project slug")), request_body = PublishIntentInput,
    responses(Authenticated, JsonInput,
        (status = 201, description = "created: `id`, `repository`, `credential`, `expires_at`", body = serde_json::Value),
        (status = 503, description = "registry tokens are not configured, or a dependency is unavailable", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn publish_intent(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<ProjectSlug>,
    JsonBody(input): JsonBody<PublishIntentInput>,
) -> Result<Response, ApiError> {
    let answer = state
        .admission
        .publish_intent(&principal, &project, input, &meta())
        .await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Pull intent: a pull-only credential for one OCI artifact, or for a blob its source reference,
/// digest and (artifact store) object token.
#[utoipa::path(post, path = "/v1/projects/{project}/pull-intents", tag = "registry", security(("bearer" = [])),
    params(("project" = String, Path, description = "project slug")), request_body = PullIntentInput,
    responses(Authenticated, JsonInput,
        (status = 201, description = "created", body = serde_json::Value),
        (status = 404, description = "unknown artifact", content_type = "application/problem+json", body = super::openapi::Problem), (status = 409, description = "revoked or retired", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 503, description = "registry tokens or the artifact store are not configured", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn pull_intent(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<ProjectSlug>,
    JsonBody(input): JsonBody<PullIntentInput>,
) -> Result<Response, ApiError> {
    let answer = state
        .admission
        .pull_intent(&principal, &project, input, &meta())
        .await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// One pull intent (decided as `read` on its artifact).
#[utoipa::path(get, path = "/v1/pull-intents/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = String, Path, description = "pull intent id: a canonical lowercase hyphenated UUID")),
    responses(Authenticated,
        (status = 200, description = "the intent; a credential only for its asker while it is live (an OCI password is never shown again)", body = serde_json::Value),
        (status = 404, description = "unknown pull intent", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn get_pull_intent(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(id): PathParams<Lookup<CanonicalUuid>>,
) -> Result<Response, ApiError> {
    let answer = state.admission.get_pull_intent(&principal, &id, &meta()).await?;
    Ok(Json(answer).into_response())
}

/// Pushes the registry reported that no publish intent covered.
#[utoipa::path(get, path = "/v1/projects/{project}/unregistered-pushes", tag = "registry", security(("bearer" = [])),
    params(("project" = String, Path, description = "project slug"), ListQuery),
    responses(Authenticated, (status = 200, description = "a page: `items` and `next_cursor`", body = serde_json::Value),
        (status = 404, description = "a project the caller holds no role in and may not read: as unknown as a missing one", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 422, description = "invalid query, naming the field", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn unregistered_pushes(
    State(state): State<AppState>,
    Caller(principal): Caller,
    PathParams(project): PathParams<ProjectSlug>,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .admission
            .unregistered_pushes(&principal, &project, query, &meta())
            .await?,
    )
    .into_response())
}

/// Docker registry token endpoint (the token realm): `service` and repeated `scope` query values;
/// HTTP Basic with an intent credential, or a gateway bearer token. Grants the intersection of
/// the requested scopes and what the intent allows.
#[utoipa::path(get, path = "/v1/registry/token", tag = "registry", security(("bearer" = []), ("intent_basic" = [])),
    params(("service" = Option<String>, Query, description = "the registry's service name"),
        ("scope" = Option<Vec<String>>, Query, description = "`repository:<name>:<actions>`, repeated", explode = true)),
    responses(
        (status = 200, description = "`token`, `access_token`, `expires_in`, `issued_at`", body = serde_json::Value),
        (status = 401, description = "unknown or malformed credential", content_type = "application/problem+json", body = super::openapi::Problem), (status = 403, description = "denied by policy", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 422, description = "wrong service or malformed scope", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 429, description = "the caller's rate limit is spent", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 503, description = "registry tokens are not configured, or a dependency is unavailable", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(pairs): AppQuery<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let service = pairs
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| RequestedService::from(v.clone()));
    let scopes = RequestedScopes::read(
        pairs
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    );
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

/// Registry notifications (CNCF distribution envelope v1/v2, Harbor webhook); `Authorization:
/// Bearer <webhook secret>`; 202 once durably queued, deduplicated by event id. The secret is
/// checked first (401, nothing stored), then the envelope (400 if malformed).
#[utoipa::path(post, path = "/v1/webhooks/registry", tag = "registry", security(("webhook_secret" = [])),
    request_body(content((serde_json::Value = "application/vnd.docker.distribution.events.v1+json"), (serde_json::Value = "application/json"))),
    responses(
        (status = 202, description = "queued: `accepted` and `duplicates`", body = serde_json::Value),
        (status = 400, description = "malformed envelope", content_type = "application/problem+json", body = super::openapi::Problem), (status = 401, description = "wrong or missing secret", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 408, description = "the request body did not arrive within the request deadline", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 413, description = "body above `http.body_limit_bytes`", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 503, description = "a dependency is unavailable, or the gateway is overloaded", content_type = "application/problem+json", body = super::openapi::Problem)))]
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
