//! Attestations cosign stores beside an image: DSSE envelopes as the layers of the manifest at
//! the `sha256-<hex>.att` tag. Fetching only; `dsse::verify_attestation` checks each envelope.

use serde_json::Value;

use super::cosign::{CosignError, Manifest};
use crate::domain::Digest;
use crate::registry::RegistryClient;

/// Media type of a DSSE envelope layer.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// Largest envelope read from the registry.
pub const MAX_ENVELOPE_BYTES: u64 = 1024 * 1024;

/// Most attestation layers read for one image.
pub const MAX_ATTESTATION_LAYERS: usize = 32;

/// The tag cosign stores attestations for `digest` under.
pub fn attestation_tag(digest: &Digest) -> String {
    format!("{}-{}.att", digest.algorithm(), digest.hex())
}

/// The DSSE envelopes stored for `digest`; empty when there is no `.att` tag.
pub async fn fetch_attestations(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    token: &str,
) -> Result<Vec<Value>, CosignError> {
    let tag = attestation_tag(digest);
    let Some(manifest) = client.get_manifest(repository, &tag, token).await? else {
        return Ok(Vec::new());
    };
    let bad = |reason: String| CosignError::BadManifest {
        tag: tag.clone(),
        reason,
    };
    let manifest: Manifest = serde_json::from_slice(&manifest.bytes).map_err(|e| bad(e.to_string()))?;
    let layers: Vec<_> = manifest
        .layers
        .iter()
        .filter(|l| l.media_type == DSSE_MEDIA_TYPE)
        .collect();
    if layers.len() > MAX_ATTESTATION_LAYERS {
        return Err(bad(format!(
            "{} attestation layers, more than {MAX_ATTESTATION_LAYERS}",
            layers.len()
        )));
    }
    let mut envelopes = Vec::with_capacity(layers.len());
    for layer in layers {
        let layer_digest: Digest = layer
            .digest
            .parse()
            .map_err(|_| bad(format!("layer digest `{}` is not a digest", layer.digest)))?;
        let bytes = client
            .get_blob(repository, &layer_digest, token, MAX_ENVELOPE_BYTES)
            .await?;
        // A layer that is not JSON is still evidence: it becomes a failing attestation record.
        envelopes.push(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
    }
    Ok(envelopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_follows_cosign() {
        let digest: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(
            attestation_tag(&digest),
            format!("sha256-{}.att", "ab".repeat(32))
        );
    }
}
