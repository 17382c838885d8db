//! The outermost middleware: the request's id, break-glass justification and deadline for the
//! whole request, the would-deny header, and the request's one access line.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::route_metrics::matched_route;
use super::{break_glass, deadline, request_id, would_deny};
use crate::admission::noting_would_deny;

/// Sets the request id for the whole request, enforces the deadline, echoes the id and logs the
/// request's one access line. It wraps each route (and the fallback), so the matched route is
/// known, and every answer — shed, rate-limited and timed out included — is logged.
pub async fn request_context(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id::id_of(&request);
    let method = request.method().clone();
    let route = matched_route(&request);
    // The route template, never the raw path: no ids in every line of the request.
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let justification = break_glass::justification(&request);
    // Boxed: each scope below wraps (and so copies) the future it is given; a pointer is cheap
    // to copy where the unboxed future was kilobytes (callgrind: memcpy was a sixth of a review).
    let handled = Box::pin(async move {
        let (mut response, would_deny) =
            noting_would_deny(deadline::within(timeout, next.run(request))).await;
        would_deny::tell(&mut response, &would_deny);
        response
    });
    let (mut response, note) = request_id::scope(
        id.clone(),
        break_glass::scope(
            justification,
            deadline::scope(crate::access::noting(handled.instrument(span))),
        ),
    )
    .await;
    request_id::echo(&mut response, &id);
    log_access(&method, &route, &response, started, &id, &note);
    response
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
