//! Per-route request metrics, labelled by route template (never the raw path).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::Metrics;

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

/// The route template the request matched, or `unmatched` (a 404 of the fallback).
pub(super) fn matched_route(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned()
}
