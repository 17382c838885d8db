//! Attestations cosign stores beside an image: DSSE envelopes as the layers of the manifest at
//! the `sha256-<hex>.att` tag. Fetching only; `dsse::verify_attestation` checks each envelope.

use serde_json::Value;

use super::cosign::{CosignError, TagRead, fetch_layers};
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
    let read = TagRead {
        tag: attestation_tag(digest),
        max_layers: MAX_ATTESTATION_LAYERS,
        max_bytes: MAX_ENVELOPE_BYTES,
    };
    let layers = fetch_layers(client, repository, token, &read, |l| {
        l.media_type == DSSE_MEDIA_TYPE
    })
    .await?;
    // A layer that is not JSON is still evidence: it becomes a failing attestation record.
    Ok(layers
        .into_iter()
        .map(|(_, bytes)| serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        .collect())
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
