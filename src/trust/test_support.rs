//! The test Fulcio and sigstore fixtures of `tests/common`, shared with the unit tests here so
//! the certificates, log entries and trusted roots under test are made apart from the verifier.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// A path inside the repository.
pub fn repo_path(rel: &str) -> std::path::PathBuf {
    crate::repo_path(rel)
}

#[path = "../../tests/common/fulcio.rs"]
pub mod fulcio;
#[path = "../../tests/common/sigstore_fixtures.rs"]
pub mod sigstore_fixtures;
