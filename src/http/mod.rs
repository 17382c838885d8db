//! The HTTP layer: routes, extractors and problem+json errors. Handlers are thin; the admission
//! service sequences every request.

mod apps;
mod artifacts;
mod catalog;
mod error;
mod extract;
mod ops;
mod policies;
mod registry;
mod releases;
mod request_id;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;

use crate::admission::{Admission, RequestMeta};
use crate::auth::Authenticator;
use crate::metrics::Metrics;

pub use error::ApiError;
pub use request_id::{REQUEST_ID_HEADER, current_request_id};

/// Shared, read-only state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The admission service.
    pub admission: Arc<Admission>,
    /// Bearer-token verification.
    pub auth: Arc<Authenticator>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body accepted.
    pub body_bytes: usize,
    /// Deadline of a whole request.
    pub timeout: Duration,
}

/// The request metadata of the request being served.
fn meta() -> RequestMeta {
    RequestMeta {
        correlation_id: current_request_id(),
        break_glass: request_id::current_break_glass(),
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".to_owned())
}

/// The whole API.
pub fn router(state: AppState, limits: Limits) -> Router {
    let metrics = Arc::clone(&state.metrics);
    Router::new()
        .merge(apps::router())
        .merge(artifacts::router())
        .merge(catalog::router())
        .merge(ops::router())
        .merge(policies::router())
        .merge(registry::router())
        .merge(releases::router())
        .fallback(not_found)
        .route_layer(from_fn_with_state(metrics, request_id::record_metrics))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(from_fn_with_state(limits.timeout, request_id::request_context))
        .with_state(state)
}
