//! The one HTTP error type, rendered as RFC 9457 problem+json. Internal causes are logged where
//! they happen and rendered as fixed text: nothing internal leaks.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::request_id::current_request_id;
use crate::admission::AdmissionError;
use crate::policy::Decision;

/// Every way an HTTP request can fail.
#[derive(Debug)]
pub enum ApiError {
    /// 401: no or bad credentials.
    Unauthenticated(String),
    /// 400: the body or query is malformed.
    BadRequest(String),
    /// 422: well-formed but invalid, naming the field.
    Invalid {
        /// Field name.
        field: String,
        /// Why.
        reason: String,
    },
    /// 422: a manifest breaks its schema or a registration rule; each fault names its JSON
    /// pointer and the rule.
    InvalidManifest(Vec<crate::manifest::Fault>),
    /// 413: body above the configured limit.
    PayloadTooLarge,
    /// 415: not JSON.
    UnsupportedMediaType,
    /// 403: policy denial.
    Denied(Box<Decision>),
    /// 404.
    NotFound(String),
    /// 409: a lifecycle/trust rule or a concurrent change.
    Conflict(String),
    /// 409: the digest is registered already with other values for the fields named.
    RegistrationConflict(Vec<String>),
    /// 409: a catalog entry the request relies on is not usable; the detail names it.
    Catalog(crate::catalog::Refusal),
    /// 503: a dependency is unavailable.
    Unavailable,
    /// 503: the feature is not configured on this gateway; the detail names the keys.
    NotConfigured(String),
    /// 503: the request ran past its deadline.
    Timeout,
    /// 408: the client sent its request body too slowly for the deadline.
    SlowBody,
    /// 503: too many requests in flight; shed before any work is done.
    Overloaded,
    /// 429: the caller's rate limit is spent; it may retry after this many seconds.
    RateLimited {
        /// Whole seconds until a request would be admitted.
        retry_after_seconds: u64,
    },
    /// 414: the request target is longer than the configured limit.
    UriTooLong,
    /// 431: the request head is larger than the configured limit.
    HeadersTooLarge,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// Any other error status the router or a library produced without a problem body; the
    /// detail is fixed per status.
    Status(StatusCode),
    /// 500: an invariant broke; details are in the log only.
    Internal,
}

impl From<AdmissionError> for ApiError {
    fn from(error: AdmissionError) -> Self {
        match error {
            AdmissionError::Invalid { field, reason } => Self::Invalid { field, reason },
            AdmissionError::Manifest(faults) => Self::InvalidManifest(faults),
            AdmissionError::Malformed(detail) => Self::BadRequest(detail),
            AdmissionError::Unauthenticated(detail) => Self::Unauthenticated(detail),
            AdmissionError::NotConfigured(detail) => Self::NotConfigured(detail),
            AdmissionError::Denied(decision) => Self::Denied(decision),
            AdmissionError::NotFound(what) => Self::NotFound(what),
            e @ (AdmissionError::Rule(_) | AdmissionError::Conflict) => Self::Conflict(e.to_string()),
            AdmissionError::Catalog(refusal) => Self::Catalog(refusal),
            AdmissionError::RegistrationConflict(fields) => Self::RegistrationConflict(fields),
            AdmissionError::Unavailable => Self::Unavailable,
            AdmissionError::Internal => Self::Internal,
        }
    }
}

impl ApiError {
    pub(super) fn parts(&self) -> (StatusCode, &'static str, &'static str, String) {
        use StatusCode as S;
        match self {
            Self::Unauthenticated(d) => (S::UNAUTHORIZED, "unauthenticated", "Unauthenticated", d.clone()),
            Self::BadRequest(d) => (
                S::BAD_REQUEST,
                "malformed-request",
                "Malformed request",
                d.clone(),
            ),
            Self::Invalid { field, reason } => (
                S::UNPROCESSABLE_ENTITY,
                "invalid-input",
                "Invalid input",
                format!("`{field}` {reason}"),
            ),
            Self::InvalidManifest(faults) => (
                S::UNPROCESSABLE_ENTITY,
                "invalid-manifest",
                "Invalid manifest",
                faults
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Self::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                "the request body exceeds the configured limit".to_owned(),
            ),
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send `application/json` (app manifests may also be `application/yaml`)".to_owned(),
            ),
            Self::Denied(d) => (
                S::FORBIDDEN,
                "policy-denied",
                "Denied by policy",
                d.reasons.join("; "),
            ),
            Self::NotFound(d) => (S::NOT_FOUND, "not-found", "Not found", d.clone()),
            Self::Conflict(d) => (
                S::CONFLICT,
                "state-conflict",
                "Conflict with the artifact's state",
                d.clone(),
            ),
            Self::RegistrationConflict(fields) => (
                S::CONFLICT,
                "registration-conflict",
                "Conflicts with the registered artifact",
                format!(
                    "the digest is already registered in this repository with a different {}; \
                     register it again with the same values, or under another digest",
                    fields
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Self::Catalog(refusal) => (
                S::CONFLICT,
                "catalog-entry-unusable",
                "Catalog entry not usable",
                refusal.to_string(),
            ),
            Self::Unavailable => (
                S::SERVICE_UNAVAILABLE,
                "dependency-unavailable",
                "Service unavailable",
                "a dependency of the gateway is unavailable; retry later".to_owned(),
            ),
            Self::NotConfigured(d) => (
                S::SERVICE_UNAVAILABLE,
                "not-configured",
                "Not configured",
                d.clone(),
            ),
            Self::Timeout => (
                S::SERVICE_UNAVAILABLE,
                "request-timeout",
                "Request timed out",
                "the request did not complete within the configured deadline".to_owned(),
            ),
            Self::SlowBody => (
                S::REQUEST_TIMEOUT,
                "request-timeout",
                "Request timed out",
                "the request body did not arrive within the configured deadline".to_owned(),
            ),
            Self::Overloaded => (
                S::SERVICE_UNAVAILABLE,
                "overloaded",
                "Overloaded",
                "the gateway is handling as many requests as it is configured to; retry later".to_owned(),
            ),
            Self::RateLimited { .. } => (
                S::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                "this caller's request rate limit is spent; retry after the time in `Retry-After`".to_owned(),
            ),
            Self::UriTooLong => (
                S::URI_TOO_LONG,
                "uri-too-long",
                "URI too long",
                "the request target exceeds the configured limit".to_owned(),
            ),
            Self::HeadersTooLarge => (
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers-too-large",
                "Request header fields too large",
                "the request headers exceed the configured limit".to_owned(),
            ),
            Self::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this route does not accept this method; see the `Allow` header".to_owned(),
            ),
            Self::Status(status) => bare_status_parts(*status),
            Self::Internal => (
                S::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal error",
                "the gateway hit an internal error; it has been logged".to_owned(),
            ),
        }
    }
}

/// Fixed text for a status some layer produced without a problem body.
fn bare_status_parts(status: StatusCode) -> (StatusCode, &'static str, &'static str, String) {
    let (slug, detail) = match status.as_u16() {
        400 => ("malformed-request", "the request could not be parsed"),
        404 => ("not-found", "no such route"),
        405 => ("method-not-allowed", "this route does not accept this method"),
        408 => ("request-timeout", "the request did not arrive in time"),
        413 => (
            "payload-too-large",
            "the request body exceeds the configured limit",
        ),
        414 => ("uri-too-long", "the request target exceeds the configured limit"),
        415 => (
            "unsupported-media-type",
            "the request body has an unsupported media type",
        ),
        422 => ("invalid-input", "the request could not be processed"),
        431 => (
            "headers-too-large",
            "the request headers exceed the configured limit",
        ),
        s if s >= 500 => ("server-error", "the gateway could not answer this request"),
        _ => ("client-error", "the request was refused"),
    };
    let title = status.canonical_reason().unwrap_or("Error");
    (status, slug, title, detail.to_owned())
}

impl ApiError {
    /// Seconds a client should wait before retrying, for the errors that pass with time.
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Unavailable => Some(2),
            Self::Overloaded | Self::Timeout => Some(1),
            Self::RateLimited { retry_after_seconds } => Some((*retry_after_seconds).max(1)),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title, detail) = self.parts();
        let mut body = json!({
            "type": format!("urn:gatehouse:problem:{slug}"),
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
            "request_id": current_request_id(),
        });
        if let (Self::Invalid { field, .. }, Value::Object(map)) = (&self, &mut body) {
            map.insert("field".to_owned(), json!(field));
        }
        if let (Self::RegistrationConflict(fields), Value::Object(map)) = (&self, &mut body) {
            map.insert("field".to_owned(), json!(fields.first()));
            map.insert("fields".to_owned(), json!(fields));
        }
        if let (Self::Catalog(refusal), Value::Object(map)) = (&self, &mut body) {
            let (family, id) = refusal.entry();
            map.insert("catalog_family".to_owned(), json!(family.as_str()));
            map.insert("catalog_id".to_owned(), json!(id));
        }
        if let (Self::InvalidManifest(faults), Value::Object(map)) = (&self, &mut body) {
            let first = faults.first().map(|f| f.pointer.clone()).unwrap_or_default();
            map.insert("field".to_owned(), json!(first));
            map.insert("errors".to_owned(), json!(faults));
        }
        if let (Self::Denied(d), Value::Object(map)) = (&self, &mut body) {
            map.insert("decision".to_owned(), json!("deny"));
            map.insert("policy_ids".to_owned(), json!(d.policy_ids));
            map.insert("reasons".to_owned(), json!(d.reasons));
            map.insert("policy_hash".to_owned(), json!(d.policy_hash));
        }
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\""),
            );
        }
        response
    }
}
