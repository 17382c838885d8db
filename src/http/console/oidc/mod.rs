//! Console sign-in with an OpenID Connect provider: authorization code with PKCE (S256).
//!
//! `GET /ui/oidc/login` starts an attempt (state, nonce, verifier kept server-side, the state
//! also in a short-lived cookie) and sends the browser to the provider; `GET /ui/oidc/callback`
//! checks the state against that cookie, takes the attempt (once), exchanges the code with the
//! verifier, verifies the ID token (issuer, audience = client id, expiry, nonce, pinned
//! algorithm) and then verifies the session's token exactly as the API verifies a bearer
//! token, so the session's principal is the one the API would see.
//!
//! Cookies: the state cookie is `SameSite=Lax` because the callback arrives as a cross-site
//! top-level navigation from the provider, and a `Strict` cookie would not be sent with it.
//! The session cookie stays `Strict`; so that the first console page is requested by a
//! same-site navigation (which carries it), the callback answers a short page that moves on to
//! `/ui` (a `Refresh` header and a link) rather than a redirect inside the cross-site chain.

mod client;
mod config;
mod pkce;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use secrecy::ExposeSecret;
use serde::Deserialize;

pub use client::{CALLBACK_PATH, OidcClient, OidcConfigError};
pub use config::{ConsoleConfig, OidcConfig, SessionToken};

use super::session::{
    SESSION_COOKIE, append_cookie, cookie, csrf_matches, now, set_cookie, verified_token_exp,
};
use super::{ConsoleState, verify_bearer, views};
use crate::http::ApiError;
use crate::http::extract::{AppQuery, ClientAddr};
use client::ProviderError;
use pkce::StartRefused;

/// The cookie binding a callback to the browser that started the sign-in.
pub const STATE_COOKIE: &str = "gatehouse_oidc_state";
/// Where the state cookie is sent (the callback only).
const STATE_COOKIE_PATH: &str = "/ui/oidc";

/// The callback's query: a code and state, or the provider's error (RFC 6749 §4.1.2).
#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    /// RFC 9207: when sent, the issuer that answered (defends against provider mix-up).
    #[serde(default)]
    iss: Option<String>,
}

/// Why a callback signed nobody in.
enum Failure {
    /// No state cookie, or one that does not match the `state` parameter.
    State,
    /// No attempt for this state: expired, or its callback already ran.
    Spent,
    /// The provider answered with an error, refused the code, or sent tokens that fail a check.
    Refused(String),
    /// The provider could not be reached or answered nonsense.
    Unavailable(String),
}

/// `GET /ui/oidc/login`: starts a sign-in and sends the browser to the provider. Each client
/// address may start only a few at a time (429 with `Retry-After` past them), so no one client
/// fills the table of pending sign-ins and locks out everyone else's.
pub async fn start(State(state): State<ConsoleState>, client: ClientAddr) -> Response {
    let Some(oidc) = state.oidc.as_deref() else {
        return views::error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "no sign-in provider is configured",
        );
    };
    let endpoints = match oidc.endpoints().await {
        Ok(endpoints) => endpoints,
        Err(error) => return failure_page(Failure::Unavailable(error.to_string())),
    };
    let started = match oidc.attempts.start(&client.limit_key()).await {
        Ok(started) => started,
        Err(StartRefused::RateLimited(retry_after_seconds)) => {
            state.api.metrics.count_rate_limited();
            return ApiError::RateLimited { retry_after_seconds }.into_response();
        }
        Err(StartRefused::Random(_)) => {
            return views::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                "the sign-in could not be started",
            );
        }
    };
    let url = match oidc.authorization_url(&endpoints, &started) {
        Ok(url) => url,
        Err(error) => return failure_page(Failure::Unavailable(error.to_string())),
    };
    let mut response = Redirect::to(url.as_str()).into_response();
    let cookie = state_cookie(&started.state, pkce::ATTEMPT_SECONDS);
    append_cookie(&mut response, &cookie);
    response
}

/// `GET /ui/oidc/callback`: completes the sign-in or says why it did not.
pub async fn callback(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    query: Result<AppQuery<Callback>, ApiError>,
) -> Response {
    let mut response = match complete(&state, &headers, query).await {
        Ok(response) => response,
        Err(failure) => failure_page(failure),
    };
    // The attempt is over either way: its cookie goes.
    append_cookie(&mut response, &state_cookie("", 0));
    response
}

async fn complete(
    state: &ConsoleState,
    headers: &HeaderMap,
    query: Result<AppQuery<Callback>, ApiError>,
) -> Result<Response, Failure> {
    let oidc = state.oidc.as_deref().ok_or(Failure::State)?;
    let Ok(AppQuery(callback)) = query else {
        return Err(Failure::State);
    };
    // The state must be the one this browser's cookie holds (constant time): a callback
    // planted by someone else (login CSRF) carries their state, not ours.
    let presented = callback.state.as_deref().unwrap_or_default();
    let expected = cookie(headers, STATE_COOKIE).unwrap_or_default();
    if !csrf_matches(presented, &expected) {
        return Err(Failure::State);
    }
    let attempt = oidc.attempts.take(presented).await.ok_or(Failure::Spent)?;
    if let Some(error) = &callback.error {
        return Err(Failure::Refused(client::describe(
            error,
            callback.error_description.as_deref(),
        )));
    }
    if callback.iss.as_deref().is_some_and(|iss| iss != oidc.issuer) {
        return Err(Failure::Refused("the callback names another issuer".to_owned()));
    }
    let code = callback
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Failure::Refused("the provider sent no code".to_owned()))?;
    let tokens = oidc
        .exchange(&code, &attempt)
        .await
        .map_err(|error| match error {
            ProviderError::Refused(why) => Failure::Refused(why),
            ProviderError::Unavailable(why) => Failure::Unavailable(why),
        })?;
    match state
        .api
        .auth
        .verify_id_token(
            &oidc.issuer,
            tokens.id_token.expose_secret(),
            &oidc.client_id,
            &attempt.nonce,
        )
        .await
    {
        Ok(()) => {}
        Err(error) if error.is_unavailable() => return Err(Failure::Unavailable(error.to_string())),
        Err(error) => return Err(Failure::Refused(format!("the ID token: {error}"))),
    }
    // The session's token, verified as the API verifies a bearer token (and re-verified on
    // every page): the console can never hold a principal the API would not.
    let principal = match verify_bearer(tokens.session_token.expose_secret(), &state.api).await {
        Ok(principal) => principal,
        Err(ApiError::Unauthenticated(reason)) => {
            return Err(Failure::Refused(format!("the session token: {reason}")));
        }
        Err(ApiError::Unavailable) => {
            return Err(Failure::Unavailable(
                "the issuer's keys are unavailable".to_owned(),
            ));
        }
        Err(_) => return Err(Failure::Unavailable("try again later".to_owned())),
    };
    if principal.issuer != oidc.issuer {
        return Err(Failure::Refused(
            "the session token is from another issuer".to_owned(),
        ));
    }
    let expires_at = verified_token_exp(&tokens.session_token)
        .ok_or_else(|| Failure::Refused("the session token has no expiry".to_owned()))?;
    let id = state
        .sessions
        .open(tokens.session_token, expires_at)
        .await
        .map_err(|_| Failure::Unavailable("no randomness".to_owned()))?;
    tracing::info!(actor = %principal.actor.id, issuer = %oidc.issuer, "console sign-in with the provider");
    let body = html! {
        p { "Signed in as " strong { (principal.actor.id) } "." }
        p { a href="/ui" { "Continue to the console" } }
    };
    let mut response = views::page(StatusCode::OK, "Signed in", None, body);
    response
        .headers_mut()
        .insert(header::REFRESH, HeaderValue::from_static("0; url=/ui"));
    let session = set_cookie(SESSION_COOKIE, &id, "/ui", expires_at.saturating_sub(now()));
    append_cookie(&mut response, &session);
    Ok(response)
}

/// The page of a failed sign-in: what went wrong, no session, and a way to try again.
fn failure_page(failure: Failure) -> Response {
    let (status, detail) = match &failure {
        Failure::State => (
            StatusCode::BAD_REQUEST,
            "this sign-in was not started by this browser (its state does not match); start again".to_owned(),
        ),
        Failure::Spent => (
            StatusCode::BAD_REQUEST,
            "this sign-in has expired or was already completed; start again".to_owned(),
        ),
        Failure::Refused(why) => (StatusCode::UNAUTHORIZED, why.clone()),
        Failure::Unavailable(why) => (StatusCode::SERVICE_UNAVAILABLE, why.clone()),
    };
    // Logged without the code, the tokens or the state: only what the page says.
    tracing::warn!(status = status.as_u16(), reason = %detail, "console sign-in with the provider failed");
    views::page(
        status,
        "Sign-in failed",
        None,
        html! {
            p.error role="alert" { (detail) }
            p { a href="/ui/login" { "Back to sign-in" } }
        },
    )
}

/// The state cookie: `Lax`, since it must come back on the provider's cross-site redirect.
fn state_cookie(value: &str, max_age_seconds: u64) -> String {
    format!(
        "{STATE_COOKIE}={value}; Path={STATE_COOKIE_PATH}; Max-Age={max_age_seconds}; HttpOnly; Secure; SameSite=Lax"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_cookie_is_lax_http_only_secure_and_scoped_to_the_callback() {
        let cookie = state_cookie("abc", 600);
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/ui/oidc",
            "Max-Age=600",
        ] {
            assert!(cookie.contains(part), "{cookie}");
        }
    }
}
