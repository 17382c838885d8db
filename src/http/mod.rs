//! The HTTP layer: routes, extractors and problem+json errors. Handlers are thin; the admission
//! service sequences every request.

mod apps;
mod artifacts;
mod break_glass;
mod catalog;
mod config;
mod console;
mod context;
mod deadline;
mod edge;
mod error;
mod extract;
mod forwarded;
mod k8s;
mod openapi;
mod ops;
mod policies;
mod rate_limit;
mod registry;
mod releases;
mod request_id;
mod route_metrics;
mod serve;
mod tls;
mod would_deny;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use tokio::sync::Semaphore;
use utoipa_axum::router::OpenApiRouter;

use crate::admission::{Admission, RequestMeta};
use crate::auth::Authenticator;
use crate::metrics::Metrics;

pub use config::HttpConfig;
pub use console::{ConsoleConfig, OidcClient, OidcConfig, OidcConfigError, SessionToken};
pub use edge::HeadLimits;
pub use error::ApiError;
pub use forwarded::TrustedProxies;
pub use openapi::document as openapi_document;
pub use rate_limit::RateLimiter;
pub use request_id::{REQUEST_ID_HEADER, current_request_id};
pub use serve::{ConnectionLimits, serve, warn_if_above_descriptor_limit};
pub use tls::{ClientAuth, ClientCertificate, TlsConfig, TlsSetupError};

/// Shared, read-only state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The admission service.
    pub admission: Arc<Admission>,
    /// Bearer-token verification.
    pub auth: Arc<Authenticator>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Per-principal token buckets, taken when a caller authenticates.
    pub rate_limiter: Arc<RateLimiter>,
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body accepted.
    pub body_bytes: usize,
    /// Deadline of a whole request.
    pub timeout: Duration,
    /// Limits on the request line and headers.
    pub head: HeadLimits,
    /// Requests handled at once at most; more are shed with 503.
    pub in_flight: usize,
}

/// The request metadata of the request being served.
fn meta() -> RequestMeta {
    RequestMeta {
        correlation_id: current_request_id(),
        break_glass: break_glass::current_break_glass(),
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Every route with its OpenAPI entry: the one list both the server and `/openapi.json` are
/// built from. Register routes only with `.routes(routes!(handler))`, never `.route(..)`: a
/// route without its `#[utoipa::path]` would be served but not documented.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(apps::router())
        .merge(artifacts::router())
        .merge(catalog::router())
        .merge(k8s::router())
        .merge(ops::router())
        .merge(policies::router())
        .merge(registry::router())
        .merge(releases::router())
}

/// The whole API.
pub fn router(
    state: AppState,
    limits: Limits,
    console_oidc: Option<Arc<OidcClient>>,
    trusted_proxies: Arc<TrustedProxies>,
) -> Router {
    let metrics = Arc::clone(&state.metrics);
    let (routes, _) = routes().split_for_parts();
    // The console's HTML pages are not API operations: outside the OpenAPI document.
    routes
        .merge(console::router(state.clone(), console_oidc))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(from_fn_with_state(metrics, route_metrics::record_metrics))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        // Outermost last: the request id and deadline wrap everything, then every error becomes
        // problem+json, then the head is checked, then load is shed, all before any handler.
        .layer(from_fn_with_state(
            edge::Shedding {
                slots: Arc::new(Semaphore::new(limits.in_flight)),
                metrics: Arc::clone(&state.metrics),
            },
            edge::shed_load,
        ))
        .layer(from_fn_with_state(limits.head, edge::check_head))
        .layer(from_fn(edge::problem_for_bare_errors))
        .layer(from_fn_with_state(limits.timeout, context::request_context))
        // Read by `extract::ClientAddr`.
        .layer(axum::Extension(trusted_proxies))
        .with_state(state)
}
