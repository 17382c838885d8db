//! The request id: accepted from `X-Request-Id` when it is short and plain, generated otherwise,
//! held for the whole request and echoed on the answer.

use std::future::Future;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The header carrying the request id in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served on this task (empty outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// The caller's id when it is acceptable, else a new one (UUIDv7, so ids sort by time).
pub(super) fn id_of(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(accept_caller_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Runs `work` with `id` as the current request id.
pub(super) async fn scope<F: Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// Puts the id on the answer.
pub(super) fn echo(response: &mut Response, id: &str) {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
}

/// A caller's id is kept only if it is short and plain, so logs and audit stay clean.
fn accept_caller_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    (plain && (1..=128).contains(&text.len())).then(|| text.to_owned())
}
