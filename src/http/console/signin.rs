//! Sign-in with a pasted bearer token (verified as the API verifies one) and sign-out.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use secrecy::SecretString;
use serde::Deserialize;

use super::session::{
    LOGIN_CSRF_COOKIE, LOGIN_FORM_SECONDS, SESSION_COOKIE, append_cookie, cookie, csrf_matches, now,
    random_token, set_cookie, verified_token_exp,
};
use super::{ConsoleError, ConsoleState, Viewer, verify_bearer, views};
use crate::http::extract::ClientAddr;
use crate::http::{ApiError, RateLimiter};

/// The sign-in form's fields.
#[derive(Deserialize)]
pub struct SignIn {
    token: String,
    #[serde(default)]
    csrf: String,
}

/// A form with only the anti-forgery field.
#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// A form body, or the page the API would answer for a body it cannot read.
pub fn form_body<T>(form: Result<Form<T>, FormRejection>) -> Result<T, ConsoleError> {
    form.map(|Form(fields)| fields).map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ConsoleError::Api(ApiError::PayloadTooLarge)
        } else {
            ConsoleError::Api(ApiError::BadRequest(
                "the form could not be read; send it from the console's page".to_owned(),
            ))
        }
    })
}

/// `GET /ui/login`: the form, with a fresh double-submit token in a cookie and a field.
pub async fn form(State(state): State<ConsoleState>) -> Result<Response, ConsoleError> {
    let csrf = random_token().map_err(|_| ConsoleError::Api(ApiError::Internal))?;
    Ok(login_page(&state, StatusCode::OK, &csrf, None))
}

fn login_page(state: &ConsoleState, status: StatusCode, csrf: &str, problem: Option<&str>) -> Response {
    let body = html! {
        @if let Some(problem) = problem {
            p.error role="alert" { (problem) }
        }
        @if let Some(oidc) = &state.oidc {
            // A plain link: starting a sign-in changes nothing a forged request could abuse.
            p.provider { a.button href="/ui/oidc/login" { "Sign in with " (oidc.display_name) } }
            p.hint { "Or paste a bearer token:" }
        }
        form.signin method="post" action="/ui/login" {
            input type="hidden" name="csrf" value=(csrf);
            label for="token" { "Bearer token" }
            textarea id="token" name="token" rows="6" required autocomplete="off" spellcheck="false" {}
            p.hint { "The token you would send to the API. The console keeps it on the server for as long as it is valid." }
            button type="submit" { "Sign in" }
        }
    };
    let mut response = views::page(status, "Sign in", None, body);
    let cookie = set_cookie(LOGIN_CSRF_COOKIE, csrf, "/ui/login", LOGIN_FORM_SECONDS);
    append_cookie(&mut response, &cookie);
    response
}

/// Sign-in form posts a client address may make per minute on average, and at once.
const SIGN_INS_PER_MINUTE: u32 = 30;
const SIGN_INS_BURST: u32 = 20;

/// The limit on sign-in form posts per client address: each post verifies a token (a signature
/// check, perhaps a key-set fetch), so one client guessing or flooding spends its own budget.
pub fn sign_in_limit() -> RateLimiter {
    RateLimiter::per_minute(SIGN_INS_PER_MINUTE, SIGN_INS_BURST)
}

/// `POST /ui/login`: checks the client's limit and the form's token, verifies the bearer
/// token, opens a session.
pub async fn sign_in(
    State(state): State<ConsoleState>,
    client: ClientAddr,
    headers: HeaderMap,
    form: Result<Form<SignIn>, FormRejection>,
) -> Result<Response, ConsoleError> {
    if let Err(retry_after_seconds) = state.sign_ins.admit(&client.limit_key()) {
        state.api.metrics.count_rate_limited();
        return Ok(too_many_sign_ins(retry_after_seconds));
    }
    let fields = form_body(form)?;
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !csrf_matches(&fields.csrf, &expected) {
        return Err(ConsoleError::Csrf);
    }
    let token = fields.token.trim().to_owned();
    match verify_bearer(&token, &state.api).await {
        Ok(_) => {}
        Err(ApiError::Unauthenticated(reason)) => {
            return Ok(login_page(
                &state,
                StatusCode::UNAUTHORIZED,
                &expected,
                Some(&reason),
            ));
        }
        Err(other) => return Err(other.into()),
    }
    let token = SecretString::from(token);
    // Verified just now, so `exp` is present and in the future; the session ends with it.
    let expires_at = verified_token_exp(&token).ok_or(ConsoleError::Api(ApiError::Internal))?;
    let id = state
        .sessions
        .open(token, expires_at)
        .await
        .map_err(|_| ConsoleError::Api(ApiError::Internal))?;
    let mut response = Redirect::to("/ui").into_response();
    let session = set_cookie(SESSION_COOKIE, &id, "/ui", expires_at.saturating_sub(now()));
    let spent = set_cookie(LOGIN_CSRF_COOKIE, "", "/ui/login", 0);
    for cookie in [session, spent] {
        append_cookie(&mut response, &cookie);
    }
    Ok(response)
}

/// 429 as a page, with `Retry-After` as the API sends it.
fn too_many_sign_ins(retry_after_seconds: u64) -> Response {
    let mut response = views::error_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many sign-ins",
        &format!("this address has tried to sign in too often; try again in {retry_after_seconds} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
    response
}

/// `POST /ui/logout`: ends the session (CSRF-checked, so another site cannot sign you out).
pub async fn sign_out(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    viewer: Viewer,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, ConsoleError> {
    let fields = form_body(form)?;
    if !csrf_matches(&fields.csrf, &viewer.session.csrf) {
        return Err(ConsoleError::Csrf);
    }
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        state.sessions.end(&id).await;
    }
    let mut response = Redirect::to("/ui/login").into_response();
    append_cookie(&mut response, &set_cookie(SESSION_COOKIE, "", "/ui", 0));
    Ok(response)
}
