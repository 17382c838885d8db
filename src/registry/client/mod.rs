//! A small client for the registry API: does the registry hold this manifest, what is it, the
//! bytes of a manifest or blob, checked against their digest, and the manifests that refer to
//! one (OCI 1.1 referrers). One file per job: `manifests`, `blobs`, `streaming`, `referrers`,
//! and the checks they share in `checks`.
//!
//! Plain reqwest rather than oci-client: we need one HEAD request with a token we mint
//! ourselves, and reqwest is already in the tree; oci-client would bring its own auth flow
//! (token fetching from the realm) that the gateway, being the realm, must not go through.

mod blobs;
mod checks;
mod manifests;
mod referrers;
mod streaming;

use std::time::Duration;

use reqwest::StatusCode;

use crate::domain::Digest;

pub use manifests::ManifestLayer;
pub use referrers::{IMAGE_INDEX_MEDIA_TYPE, MAX_REFERRERS, Referrer, referrers_in_index};

/// Deadline for one registry call unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest manifest we read: distribution itself refuses manifests above 4 MiB.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Talks to one registry's `/v2/` API.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
}

/// What the registry says about a manifest it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    /// The digest, as confirmed by the registry.
    pub digest: Digest,
    /// Its media type (`Content-Type`).
    pub media_type: String,
    /// Its size in bytes (`Content-Length`).
    pub size: u64,
}

/// A manifest's bytes as the registry served them, checked against the digest asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The digest of `bytes` (the one asked for when asked by digest).
    pub digest: Digest,
    /// Its media type (`Content-Type`).
    pub media_type: String,
    /// The manifest exactly as served.
    pub bytes: Vec<u8>,
}

/// Why the registry could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RegistryClientError {
    /// The HTTP client could not be built.
    #[error("cannot build the registry client")]
    Build(#[source] reqwest::Error),
    /// The repository name could not be a registry repository (and must not reach a URL).
    #[error("`{0}` is not a valid repository name")]
    BadRepository(String),
    /// The registry did not answer in time or at all.
    #[error("registry unreachable")]
    Unreachable(#[source] reqwest::Error),
    /// The registry refused our token.
    #[error("registry refused the gateway's token ({0})")]
    Unauthorized(StatusCode),
    /// Any other status.
    #[error("registry answered {0}")]
    Status(StatusCode),
    /// The answer lacks a header we need, or holds a bad one.
    #[error("registry answer has a missing or bad `{0}` header")]
    BadHeader(&'static str),
    /// The registry says the content has another digest.
    #[error("registry answered for digest `{0}`, not the one asked for")]
    DigestMismatch(String),
    /// The tag or digest could not be a registry reference (and must not reach a URL).
    #[error("`{0}` is not a valid tag or digest")]
    BadReference(String),
    /// The body is larger than we agreed to read.
    #[error("registry answer is larger than {0} bytes")]
    TooLarge(u64),
    /// A referrers index that is not an OCI image index we can read.
    #[error("registry answered an unreadable referrers index: {0}")]
    BadIndex(String),
    /// The registry redirected somewhere other than itself.
    #[error("registry redirected to another host (`{0}`)")]
    Redirect(String),
}

impl RegistryClient {
    /// A client for the registry at `base_url` (e.g. `http://127.0.0.1:5000`), 10 s per call.
    pub fn new(base_url: &str) -> Result<Self, RegistryClientError> {
        Self::with_timeout(base_url, DEFAULT_TIMEOUT)
    }

    /// A client with a given deadline per call.
    pub fn with_timeout(base_url: &str, timeout: Duration) -> Result<Self, RegistryClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // The registry is configured, not discovered: never follow it elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(RegistryClientError::Build)?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        })
    }
}
