//! The web console at `/ui`: server-rendered pages for people, each a client of the admission
//! service through the same methods (and so the same Cedar actions) as the JSON API, so a page
//! never shows more than the API would answer the same caller.

mod decision;
mod oidc;
mod pages;
mod session;
mod signin;
mod timeline;
mod upload;
mod views;
mod whatif;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use secrecy::ExposeSecret;

use super::error::ApiError;
use super::extract::{AppQuery, Caller};
use super::{AppState, RateLimiter};
use crate::admission::AdmissionError;
use crate::domain::Principal;
pub use oidc::{ConsoleConfig, OidcClient, OidcConfig, OidcConfigError, SessionToken};
use session::{SESSION_COOKIE, Session, Sessions, cookie};

/// What every console handler sees: the API's state and the session table.
#[derive(Clone)]
pub struct ConsoleState {
    api: AppState,
    sessions: Arc<Sessions>,
    /// Sign-in form posts per client address (see `signin::sign_in`).
    sign_ins: Arc<RateLimiter>,
    /// Sign-in with an OpenID Connect provider, when `[console.oidc]` is configured.
    oidc: Option<Arc<OidcClient>>,
}

/// The console's routes, with their own state, ready to merge into the API router.
pub fn router<S: Clone + Send + Sync + 'static>(api: AppState, oidc: Option<Arc<OidcClient>>) -> Router<S> {
    let state = ConsoleState {
        api,
        sessions: Arc::new(Sessions::default()),
        sign_ins: Arc::new(signin::sign_in_limit()),
        oidc,
    };
    Router::new()
        .route("/ui", get(pages::projects))
        .route("/ui/projects/{project}", get(pages::artifacts))
        .route("/ui/artifacts/{id}", get(timeline::page))
        .route("/ui/decisions", get(pages::decisions))
        .route("/ui/decisions/{id}", get(decision::page))
        .route("/ui/audit", get(pages::audit))
        .route("/ui/policies", get(whatif::policies))
        .route("/ui/policies/what-if", post(whatif::run))
        .route("/ui/login", get(signin::form).post(signin::sign_in))
        .route("/ui/logout", post(signin::sign_out))
        .route("/ui/oidc/login", get(oidc::start))
        .route(oidc::CALLBACK_PATH, get(oidc::callback))
        .route("/ui/console.css", get(stylesheet))
        .layer(from_fn(security_headers))
        .with_state(state)
}

/// The stylesheet, served from the gateway itself (no external assets, nothing inline).
async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

/// Headers on every console answer: nothing but the gateway's own resources, no inline script,
/// no framing, no referrer leaking ids, no caching of pages that show decisions.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The signed-in person behind a console request.
pub struct Viewer {
    /// Who the session's token names, verified now.
    pub principal: Principal,
    /// The session (its CSRF token goes into every form).
    pub session: Arc<Session>,
}

impl FromRequestParts<ConsoleState> for Viewer {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or(ConsoleError::SignIn)?;
        let session = state.sessions.get(&id).await.ok_or(ConsoleError::SignIn)?;
        // The token is verified on every page exactly as the API verifies a bearer token
        // (issuer keys, expiry, rate limit), so a revoked key ends the session too.
        match verify_bearer(session.token.expose_secret(), &state.api).await {
            Ok(principal) => Ok(Self { principal, session }),
            Err(ApiError::Unauthenticated(_)) => {
                state.sessions.end(&id).await;
                Err(ConsoleError::SignIn)
            }
            Err(other) => Err(ConsoleError::Api(other)),
        }
    }
}

/// Verifies `token` exactly as the API verifies the bearer token of a request (issuer keys,
/// expiry, rate limit), answering the principal the API would see. Every place the console
/// takes a token (sign-in, the provider's callback, each page of a session) goes through here.
async fn verify_bearer(token: &str, api: &AppState) -> Result<Principal, ApiError> {
    // Trimmed as the API trims the token after `Bearer `.
    Caller::from_bearer(token.trim(), api)
        .await
        .map(|Caller(principal)| principal)
}

/// A query string, parsed and checked exactly as the API's `AppQuery` does.
pub struct Query<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequestParts<ConsoleState> for Query<T> {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let AppQuery(query) = AppQuery::from_request_parts(parts, &state.api).await?;
        Ok(Self(query))
    }
}

/// Why a console page is not shown.
#[derive(Debug)]
pub enum ConsoleError {
    /// No live session: go to the sign-in form.
    SignIn,
    /// What the API would have answered, shown as a page with the same status.
    Api(ApiError),
    /// A form without the session's CSRF token.
    Csrf,
}

impl From<ApiError> for ConsoleError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<AdmissionError> for ConsoleError {
    fn from(error: AdmissionError) -> Self {
        Self::Api(error.into())
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => Redirect::to("/ui/login").into_response(),
            Self::Csrf => views::error_page(
                StatusCode::FORBIDDEN,
                "Form expired",
                "the form was not sent with this session's anti-forgery token; reload the page and try again",
            ),
            Self::Api(error) => {
                let (status, _, title, detail) = error.parts();
                views::error_page(status, title, &detail)
            }
        }
    }
}
