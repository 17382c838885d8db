//! The would-deny header: names the dry-run forbids that would have denied an allowed request.

use axum::http::HeaderValue;
use axum::response::Response;

/// The header naming the dry-run forbids that would have denied an allowed request.
pub const WOULD_DENY_HEADER: &str = "gatehouse-would-deny";

/// Names the dry-run forbids on an answer that went through; a refused request was not allowed,
/// whatever an earlier decision of it said.
pub(super) fn tell(response: &mut Response, ids: &[String]) {
    if ids.is_empty() || response.status().is_client_error() || response.status().is_server_error() {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&ids.join(",")) {
        response.headers_mut().insert(WOULD_DENY_HEADER, value);
    }
}
