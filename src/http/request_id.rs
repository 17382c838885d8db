//! Request ids (accepted from `X-Request-Id` or generated), the request deadline, the access
//! line, and per-route metrics.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::error::ApiError;
use crate::admission::noting_would_deny;
use crate::metrics::Metrics;

tokio::task_local! {
    static REQUEST_ID: String;
    static BREAK_GLASS: Option<String>;
    /// Set while the request body is being read, so a deadline can tell a slow client (408)
    /// from a slow gateway (503).
    static READING_BODY: Cell<bool>;
}

/// Runs `read` (a body read) marked as such for the request deadline.
pub(super) async fn reading_body<F: Future>(read: F) -> F::Output {
    let _ = READING_BODY.try_with(|flag| flag.set(true));
    let output = read.await;
    let _ = READING_BODY.try_with(|flag| flag.set(false));
    output
}

/// The header carrying a break-glass justification.
pub const BREAK_GLASS_HEADER: &str = "gatehouse-break-glass";

/// The header naming the dry-run forbids that would have denied an allowed request.
pub const WOULD_DENY_HEADER: &str = "gatehouse-would-deny";

/// The header carrying the request id in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served on this task (empty outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// The break-glass justification of the request being served, if it sent one.
pub fn current_break_glass() -> Option<String> {
    BREAK_GLASS.try_with(Clone::clone).ok().flatten()
}

/// A caller's id is kept only if it is short and plain, so logs and audit stay clean.
fn accept_caller_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    (plain && (1..=128).contains(&text.len())).then(|| text.to_owned())
}

/// Sets the request id for the whole request, enforces the deadline, echoes the id and logs the
/// request's one access line. It wraps each route (and the fallback), so the matched route is
/// known, and every answer — shed, rate-limited and timed out included — is logged.
pub async fn request_context(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(accept_caller_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = request.method().clone();
    let route = matched_route(&request);
    // The route template, never the raw path: no ids in every line of the request.
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let break_glass = request
        .headers()
        .get(BREAK_GLASS_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let handled = async move {
        let (response, would_deny) =
            noting_would_deny(tokio::time::timeout(timeout, next.run(request))).await;
        match response {
            Ok(mut response) => {
                tell_would_deny(&mut response, &would_deny);
                response
            }
            Err(_) if READING_BODY.try_with(Cell::get).unwrap_or(false) => ApiError::SlowBody.into_response(),
            Err(_) => ApiError::Timeout.into_response(),
        }
    };
    let (mut response, note) = REQUEST_ID
        .scope(
            id.clone(),
            BREAK_GLASS.scope(
                break_glass,
                READING_BODY.scope(Cell::new(false), crate::access::noting(handled.instrument(span))),
            ),
        )
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    log_access(&method, &route, &response, started, &id, &note);
    response
}

/// The route template the request matched, or `unmatched` (a 404 of the fallback).
fn matched_route(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned()
}

/// The access line: method, route template, status, latency, request id, and the principal and
/// decision when the request got that far. Never a header, token, query or body.
fn log_access(
    method: &axum::http::Method,
    route: &str,
    response: &Response,
    started: Instant,
    request_id: &str,
    note: &crate::access::AccessNote,
) {
    // Microsecond resolution is plenty and keeps the number short.
    let latency_ms = (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
    tracing::info!(
        target: crate::logging::ACCESS_TARGET,
        method = %method,
        route,
        status = response.status().as_u16(),
        latency_ms,
        request_id,
        principal = note.principal.as_deref(),
        decision = note.decision,
        "request"
    );
}

/// Names the dry-run forbids on an answer that went through; a refused request was not allowed,
/// whatever an earlier decision of it said.
fn tell_would_deny(response: &mut Response, ids: &[String]) {
    if ids.is_empty() || response.status().is_client_error() || response.status().is_server_error() {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&ids.join(",")) {
        response.headers_mut().insert(WOULD_DENY_HEADER, value);
    }
}

/// Counts requests and latency by route template (never the raw path).
pub async fn record_metrics(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = matched_route(&request);
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
