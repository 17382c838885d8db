//! The request deadline: a request that runs past it answers 408 when the client was still
//! sending its body, 503 when the gateway was slow (both problem+json).

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use axum::response::{IntoResponse, Response};

use super::error::ApiError;

tokio::task_local! {
    /// Set while the request body is being read, so a deadline can tell a slow client (408)
    /// from a slow gateway (503).
    static READING_BODY: Cell<bool>;
}

/// Runs `read` (a body read) marked as such for the request deadline.
pub(super) async fn reading_body<F: Future>(read: F) -> F::Output {
    let _ = READING_BODY.try_with(|flag| flag.set(true));
    let output = read.await;
    let _ = READING_BODY.try_with(|flag| flag.set(false));
    output
}

/// Runs `work` where [`reading_body`] and [`within`] can see whether the body is being read.
pub(super) async fn scope<F: Future>(work: F) -> F::Output {
    READING_BODY.scope(Cell::new(false), work).await
}

/// The answer of `handle`, or the deadline's answer when it takes longer than `timeout`.
/// Called inside [`scope`].
pub(super) async fn within(timeout: Duration, handle: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(timeout, handle).await {
        Ok(response) => response,
        Err(_) if READING_BODY.try_with(Cell::get).unwrap_or(false) => ApiError::SlowBody.into_response(),
        Err(_) => ApiError::Timeout.into_response(),
    }
}
