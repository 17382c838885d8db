//! `POST /k8s/admission`: the Kubernetes validating admission webhook. The API server
//! authenticates with the configured bearer token or a verified client certificate; a
//! well-formed review is always answered 200 with an `AdmissionReview` carrying its `uid`.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::JsonBody;
use super::openapi::JsonInput;
use super::tls::ClientCertificate;
use super::{ApiError, AppState, meta};
use crate::admission::KubernetesCaller;
use crate::k8s::{AdmissionReview, AdmissionReviewAnswer, Review};

/// The webhook route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(review))
}

/// Kubernetes ValidatingAdmissionWebhook: an `admission.k8s.io/v1` `AdmissionReview` in, one with
/// the same `uid` out; refused images and deciding policies in `status.message`.
#[utoipa::path(post, path = "/k8s/admission", tag = "kubernetes",
    security(("bearer" = []), ()),
    request_body(content = serde_json::Value, description = "an `admission.k8s.io/v1` `AdmissionReview`"),
    responses(JsonInput,
        (status = 200, description = "an `AdmissionReview` with `response.uid`, `allowed`, `status.message` and `warnings`; errors fail closed as `allowed: false`", body = serde_json::Value),
        (status = 401, description = "neither the bearer token of `kubernetes.token_file` nor a verified client certificate named in `kubernetes.client_cert_names`", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 422, description = "not an AdmissionReview: the field is named", content_type = "application/problem+json", body = super::openapi::Problem),
        (status = 503, description = "the gateway is overloaded", content_type = "application/problem+json", body = super::openapi::Problem)))]
async fn review(
    State(state): State<AppState>,
    ApiServer(caller): ApiServer,
    JsonBody(review): JsonBody<AdmissionReview>,
) -> Result<Response, ApiError> {
    let review = Review::try_from(review).map_err(|e| ApiError::Invalid {
        field: e.field.to_owned(),
        reason: e.reason,
    })?;
    let verdict = state.admission.review_kubernetes(&caller, &review, &meta()).await;
    Ok(Json(AdmissionReviewAnswer::new(review.uid, verdict)).into_response())
}

/// The authenticated Kubernetes API server: the bearer token of `kubernetes.token_file`, or
/// (without an `Authorization` header) a verified client certificate named in
/// `kubernetes.client_cert_names`.
struct ApiServer(KubernetesCaller);

impl FromRequestParts<AppState> for ApiServer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Self::authenticate(parts, state)?;
        crate::access::note_principal(&crate::domain::Actor {
            actor_type: crate::domain::ActorType::KubernetesApiServer,
            id: caller.0.name.clone(),
        });
        Ok(caller)
    }
}

impl ApiServer {
    fn authenticate(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(header) = parts.headers.get(header::AUTHORIZATION) {
            // A presented token is judged alone: a wrong one is never rescued by a certificate.
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .map(str::trim)
                .unwrap_or_default();
            return state
                .admission
                .kubernetes_token_caller(token)
                .map(Self)
                .ok_or_else(|| {
                    ApiError::Unauthenticated(
                        "the bearer token is not the webhook's (`kubernetes.token_file`)".to_owned(),
                    )
                });
        }
        parts
            .extensions
            .get::<ClientCertificate>()
            .and_then(|certificate| state.admission.kubernetes_certificate_caller(&certificate.names))
            .map(Self)
            .ok_or_else(|| {
                ApiError::Unauthenticated(
                    "the webhook needs the bearer token of `kubernetes.token_file` or a verified client certificate named in `kubernetes.client_cert_names`"
                        .to_owned(),
                )
            })
    }
}
