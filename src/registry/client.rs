//! A small client for the registry API: does the registry hold this manifest, and what is it?
//!
//! Plain reqwest rather than oci-client: we need one HEAD request with a token we mint
//! ourselves, and reqwest is already in the tree; oci-client would bring its own auth flow
//! (token fetching from the realm) that the gateway, being the realm, must not go through.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};

use crate::domain::Digest;

use super::notification::MANIFEST_MEDIA_TYPES;

/// Deadline for one registry call unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

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

    /// The manifest's media type and size, `None` when the registry does not hold it.
    pub async fn manifest_info(
        &self,
        repository: &str,
        digest: &Digest,
        token: &str,
    ) -> Result<Option<ManifestInfo>, RegistryClientError> {
        if !is_repository_name(repository) {
            return Err(RegistryClientError::BadRepository(repository.to_owned()));
        }
        let url = format!("{}/v2/{repository}/manifests/{digest}", self.base);
        let response = self
            .http
            .head(url)
            .header(ACCEPT, MANIFEST_MEDIA_TYPES.join(", "))
            .bearer_auth(token)
            .send()
            .await
            .map_err(RegistryClientError::Unreachable)?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                return Err(RegistryClientError::Unauthorized(s));
            }
            s => return Err(RegistryClientError::Status(s)),
        }
        let headers = response.headers();
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .ok_or(RegistryClientError::BadHeader(name))
        };
        // Asked by digest, so the registry must confirm that very digest.
        let confirmed = header("docker-content-digest")?;
        if confirmed != digest.as_str() {
            return Err(RegistryClientError::DigestMismatch(confirmed.to_owned()));
        }
        let media_type = header(CONTENT_TYPE.as_str())?.to_owned();
        let size = header(CONTENT_LENGTH.as_str())?
            .parse::<u64>()
            .map_err(|_| RegistryClientError::BadHeader("content-length"))?;
        Ok(Some(ManifestInfo {
            digest: digest.clone(),
            media_type,
            size,
        }))
    }
}

/// Distribution's repository grammar, loosely: lowercase path components of `[a-z0-9._-]`
/// joined by `/`. Anything else could change the URL's meaning.
fn is_repository_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_that_could_bend_the_url_are_refused() {
        assert!(is_repository_name("gpuaas/apps/demo/web"));
        assert!(is_repository_name("a.b/c_d-e"));
        for bad in ["", "a//b", "../x", "a/./b", "A/b", "a?b", "a#b", "a b", "a/b/"] {
            assert!(!is_repository_name(bad), "`{bad}`");
        }
    }

    #[tokio::test]
    async fn unreachable_registry_is_an_error_not_none() {
        // Port 9 on loopback (discard) is closed here; the call must fail, never answer None.
        let client = RegistryClient::with_timeout("http://127.0.0.1:9", Duration::from_secs(2)).unwrap();
        let digest: Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
        let err = client.manifest_info("a/b", &digest, "t").await.unwrap_err();
        assert!(matches!(err, RegistryClientError::Unreachable(_)), "{err:?}");
    }
}
