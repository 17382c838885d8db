//! The strict edge of every request: size limits on the request head (414/431), load shedding
//! above the in-flight limit (503), and problem+json for any error a library answered with a
//! bare status.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::metrics::Metrics;

/// Limits on the request head, checked before routing.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Longest request target (path and query).
    pub uri_bytes: usize,
    /// Largest sum of header name and value lengths.
    pub header_bytes: usize,
    /// Most header fields.
    pub headers: usize,
}

/// 414 for a long target, 431 for too many or too large headers; nothing else is read first.
pub async fn check_head(State(limits): State<HeadLimits>, request: Request, next: Next) -> Response {
    let target = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > limits.uri_bytes {
        return ApiError::UriTooLong.into_response();
    }
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > limits.headers || bytes > limits.header_bytes {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}

/// Routes that answer whatever the load: probes must tell "busy" from "dead".
fn exempt_from_shedding(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The in-flight slots, and the counter of requests shed for want of one.
#[derive(Clone)]
pub struct Shedding {
    /// One permit per request handled at once.
    pub slots: Arc<Semaphore>,
    /// Where shed requests are counted.
    pub metrics: Arc<Metrics>,
}

/// Admits a request only while a slot is free; over the limit it answers 503 at once, before
/// authentication or any database work.
pub async fn shed_load(State(shedding): State<Shedding>, request: Request, next: Next) -> Response {
    if exempt_from_shedding(request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(_slot) = shedding.slots.try_acquire_owned() else {
        shedding.metrics.count_shed();
        return ApiError::Overloaded.into_response();
    };
    next.run(request).await
}

/// Rewrites an error answered without a problem body (axum's 405, a path rejection, a body
/// limit hit outside our extractors) into problem+json with the request id; headers such as
/// `Allow` are kept.
pub async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || !is_bare(&response) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let problem = ApiError::Status(status).into_response();
    let (problem_parts, body) = problem.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(retry) = problem_parts.headers.get(header::RETRY_AFTER) {
        parts.headers.insert(header::RETRY_AFTER, retry.clone());
    }
    Response::from_parts(parts, Body::new(body))
}

/// No content type, or the plain text libraries answer with.
fn is_bare(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"))
}
