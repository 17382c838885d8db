//! Manifests: whether the registry holds one (HEAD) and its bytes (GET), checked against the
//! digest asked for or named by the digest they hash to.

use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use super::checks::{check_digest, check_status, is_repository_name, is_tag, read_capped, sha256_hex};
use super::{FetchedManifest, MAX_MANIFEST_BYTES, ManifestInfo, RegistryClient, RegistryClientError};
use crate::domain::Digest;
use crate::registry::notification::MANIFEST_MEDIA_TYPES;

impl RegistryClient {
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
        let Some(response) = self
            .manifest_request(Method::HEAD, repository, digest.as_str(), token)
            .await?
        else {
            return Ok(None);
        };
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

    /// The manifest at a tag or digest, `None` when the registry does not hold it.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        token: &str,
    ) -> Result<Option<FetchedManifest>, RegistryClientError> {
        if !is_repository_name(repository) {
            return Err(RegistryClientError::BadRepository(repository.to_owned()));
        }
        // By digest, the bytes must hash to it; by tag, they are named by what they hash to.
        let asked: Option<Digest> = if reference.contains(':') {
            let digest = reference
                .parse()
                .map_err(|_| RegistryClientError::BadReference(reference.to_owned()))?;
            Some(digest)
        } else if is_tag(reference) {
            None
        } else {
            return Err(RegistryClientError::BadReference(reference.to_owned()));
        };
        let Some(response) = self
            .manifest_request(Method::GET, repository, reference, token)
            .await?
        else {
            return Ok(None);
        };
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .ok_or(RegistryClientError::BadHeader("content-type"))?;
        let bytes = read_capped(response, MAX_MANIFEST_BYTES).await?;
        let digest = match asked {
            Some(asked) => {
                check_digest(&asked, &bytes)?;
                asked
            }
            // A computed `sha256:` digest always parses; the error arm is never taken.
            None => {
                let computed = sha256_hex(&bytes);
                computed
                    .parse()
                    .map_err(|_| RegistryClientError::DigestMismatch(computed))?
            }
        };
        Ok(Some(FetchedManifest {
            digest,
            media_type,
            bytes,
        }))
    }

    /// Asks for the manifest at `reference` with every manifest type accepted: `None` when the
    /// registry does not hold it, an error for any other failure.
    async fn manifest_request(
        &self,
        method: Method,
        repository: &str,
        reference: &str,
        token: &str,
    ) -> Result<Option<reqwest::Response>, RegistryClientError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let response = self
            .http
            .request(method, url)
            .header(ACCEPT, MANIFEST_MEDIA_TYPES.join(", "))
            .bearer_auth(token)
            .send()
            .await
            .map_err(RegistryClientError::Unreachable)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        check_status(response).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn unreachable_registry_is_an_error_not_none() {
        // Port 9 on loopback (discard) is closed here; the call must fail, never answer None.
        let client = RegistryClient::with_timeout("http://127.0.0.1:9", Duration::from_secs(2)).unwrap();
        let digest: Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
        let err = client.manifest_info("a/b", &digest, "t").await.unwrap_err();
        assert!(matches!(err, RegistryClientError::Unreachable(_)), "{err:?}");
    }
}

/// One layer of a manifest as read: each fact is present only when it is well-formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestLayer {
    /// `digest`, when canonical.
    pub digest: Option<Digest>,
    /// `size`, when an integer.
    pub size: Option<i64>,
    /// `mediaType`, when a string.
    pub media_type: Option<String>,
}

impl FetchedManifest {
    /// The manifest's layers (none when it has no `layers` array); `None` when it is not JSON.
    pub fn layers(&self) -> Option<Vec<ManifestLayer>> {
        let manifest: serde_json::Value = serde_json::from_slice(&self.bytes).ok()?;
        let layers = manifest["layers"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        Some(
            layers
                .iter()
                .map(|layer| ManifestLayer {
                    digest: layer["digest"].as_str().and_then(|d| d.parse().ok()),
                    size: layer["size"].as_i64(),
                    media_type: layer["mediaType"].as_str().map(str::to_owned),
                })
                .collect(),
        )
    }
}
