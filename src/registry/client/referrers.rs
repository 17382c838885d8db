//! Referrers: the manifests that name a digest as their subject (OCI 1.1 referrers API), and
//! reading an image index of them.

use std::collections::BTreeMap;

use reqwest::header::ACCEPT;
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::checks::{check_status, is_repository_name, read_capped};
use super::{MAX_MANIFEST_BYTES, RegistryClient, RegistryClientError};
use crate::domain::Digest;

/// Media type of an OCI image index: the referrers API's answer, and the referrers tag schema's.
pub const IMAGE_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// Most referrers (of the types asked for) one answer may list; more is refused, not truncated,
/// so what was checked never depends on the registry's ordering.
pub const MAX_REFERRERS: usize = 64;

/// One descriptor of a referrers list (distribution-spec 1.1 "Listing Referrers").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Referrer {
    /// The referring manifest's media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// The referring manifest's digest, as listed (parsed by whoever fetches it).
    pub digest: String,
    /// Its size in bytes, as listed.
    #[serde(default)]
    pub size: u64,
    /// What kind of artifact it is (e.g. a sigstore bundle).
    #[serde(rename = "artifactType", default)]
    pub artifact_type: Option<String>,
    /// The referring manifest's annotations, as the registry copied them.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl RegistryClient {
    /// The manifests that name `digest` as their subject and have one of `artifact_types` (all
    /// when empty), from `GET /v2/<name>/referrers/<digest>`. `None` when the registry does not
    /// serve the referrers API (404, 400, 405, 501), so the caller falls back to the referrers
    /// tag schema or cosign's tags. Only the first page is read (a `Link` to more is not
    /// followed): a signature missed that way fails closed, it never passes.
    pub async fn referrers(
        &self,
        repository: &str,
        digest: &Digest,
        artifact_types: &[&str],
        token: &str,
    ) -> Result<Option<Vec<Referrer>>, RegistryClientError> {
        if !is_repository_name(repository) {
            return Err(RegistryClientError::BadRepository(repository.to_owned()));
        }
        let url = format!("{}/v2/{repository}/referrers/{digest}", self.base);
        let mut url =
            Url::parse(&url).map_err(|_| RegistryClientError::BadRepository(repository.to_owned()))?;
        // The filter is a hint registries may ignore; the answer is filtered here either way.
        if let [only] = artifact_types {
            url.query_pairs_mut().append_pair("artifactType", only);
        }
        let response = self
            .http
            .get(url)
            .header(ACCEPT, IMAGE_INDEX_MEDIA_TYPE)
            .bearer_auth(token)
            .send()
            .await
            .map_err(RegistryClientError::Unreachable)?;
        if matches!(
            response.status(),
            StatusCode::NOT_FOUND
                | StatusCode::BAD_REQUEST
                | StatusCode::METHOD_NOT_ALLOWED
                | StatusCode::NOT_IMPLEMENTED
        ) {
            return Ok(None);
        }
        let bytes = read_capped(check_status(response)?, MAX_MANIFEST_BYTES).await?;
        referrers_in_index(&bytes, artifact_types).map(Some)
    }
}

/// The descriptors of an OCI image index (a referrers answer, or the index at the referrers
/// tag schema's `<alg>-<hex>` tag) that have one of `artifact_types` (all when empty), at most
/// [`MAX_REFERRERS`].
pub fn referrers_in_index(
    bytes: &[u8],
    artifact_types: &[&str],
) -> Result<Vec<Referrer>, RegistryClientError> {
    #[derive(Deserialize)]
    struct Index {
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        manifests: Vec<Referrer>,
    }
    let index: Index =
        serde_json::from_slice(bytes).map_err(|e| RegistryClientError::BadIndex(e.to_string()))?;
    if let Some(media_type) = index.media_type.filter(|m| m != IMAGE_INDEX_MEDIA_TYPE) {
        return Err(RegistryClientError::BadIndex(format!(
            "media type `{media_type}`, not `{IMAGE_INDEX_MEDIA_TYPE}`"
        )));
    }
    let wanted: Vec<Referrer> = index
        .manifests
        .into_iter()
        .filter(|r| {
            artifact_types.is_empty()
                || r.artifact_type
                    .as_deref()
                    .is_some_and(|t| artifact_types.contains(&t))
        })
        .collect();
    if wanted.len() > MAX_REFERRERS {
        return Err(RegistryClientError::BadIndex(format!(
            "{} referrers, more than {MAX_REFERRERS}",
            wanted.len()
        )));
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::client::checks::sha256_hex;

    #[test]
    fn a_referrers_index_is_filtered_by_artifact_type_and_bounded() {
        let descriptor = |t: &str| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "digest": sha256_hex(t.as_bytes()), "size": 1, "artifactType": t})
        };
        let index = |items: Vec<serde_json::Value>| {
            serde_json::to_vec(
                &serde_json::json!({"schemaVersion": 2, "mediaType": IMAGE_INDEX_MEDIA_TYPE,
                                                   "manifests": items}),
            )
            .unwrap()
        };
        let bytes = index(vec![
            descriptor("a"),
            descriptor("b"),
            serde_json::json!({"digest": "x"}),
        ]);
        let only_a = referrers_in_index(&bytes, &["a"]).unwrap();
        assert_eq!(only_a.len(), 1);
        assert_eq!(only_a[0].artifact_type.as_deref(), Some("a"));
        assert_eq!(referrers_in_index(&bytes, &[]).unwrap().len(), 3);
        let many = index((0..=MAX_REFERRERS).map(|_| descriptor("a")).collect());
        assert!(matches!(
            referrers_in_index(&many, &["a"]),
            Err(RegistryClientError::BadIndex(_))
        ));
        // Too many of another type is no reason to refuse the ones asked for.
        assert_eq!(referrers_in_index(&many, &["b"]).unwrap().len(), 0);
        let manifest = br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}"#;
        assert!(matches!(
            referrers_in_index(manifest, &[]),
            Err(RegistryClientError::BadIndex(_))
        ));
        assert!(matches!(
            referrers_in_index(b"not json", &[]),
            Err(RegistryClientError::BadIndex(_))
        ));
    }
}
