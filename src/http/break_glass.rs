//! The break-glass justification a request may carry, held for the whole request so the
//! admission service can record it with the decision.

use std::future::Future;

use axum::extract::Request;

tokio::task_local! {
    static BREAK_GLASS: Option<String>;
}

/// The header carrying a break-glass justification.
pub const BREAK_GLASS_HEADER: &str = "gatehouse-break-glass";

/// The break-glass justification of the request being served, if it sent one.
pub fn current_break_glass() -> Option<String> {
    BREAK_GLASS.try_with(Clone::clone).ok().flatten()
}

/// The request's justification, trimmed; a blank one is none.
pub(super) fn justification(request: &Request) -> Option<String> {
    request
        .headers()
        .get(BREAK_GLASS_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Runs `work` with `justification` as the current one.
pub(super) async fn scope<F: Future>(justification: Option<String>, work: F) -> F::Output {
    BREAK_GLASS.scope(justification, work).await
}
