//! Reading a bundle's JSON into the crate's `Bundle`, and the artifact digest into its hash.

use serde_json::Value;
use sigstore_verify::types::{Bundle, Sha256Hash};

use crate::trust::Failure;

/// The artifact digest as the crate takes it, or the `digest` failure for another algorithm.
pub fn sha256_of(digest: &crate::domain::Digest) -> Result<Sha256Hash, Failure> {
    if digest.algorithm() != "sha256" {
        return Err(Failure::new(
            "digest",
            format!("`{digest}` is not a sha256 digest, which sigstore signatures are over"),
        ));
    }
    Sha256Hash::from_hex(digest.hex()).map_err(|e| Failure::new("digest", e.to_string()))
}

/// Parses a bundle's JSON; an unknown media type and a malformed bundle fail naming their check.
pub fn parse_bundle(bundle: &Value) -> Result<Bundle, Failure> {
    let media_type = bundle.get("mediaType").and_then(Value::as_str).unwrap_or("");
    if !BUNDLE_MEDIA_TYPES.contains(&media_type) {
        return Err(Failure::new(
            "media_type",
            format!("bundle media type `{media_type}` is not a known sigstore bundle version"),
        ));
    }
    let mut bundle = bundle.clone();
    if media_type == BUNDLE_MEDIA_TYPES[0] {
        drop_unsigned_proofs(&mut bundle);
    }
    Bundle::from_json(&bundle.to_string())
        .map_err(|e| Failure::new("bundle_format", format!("malformed sigstore bundle: {e}")))
}

/// v0.1 bundles (sigstore clients before checkpoints, e.g. CPython's 2024 release bundles) carry
/// inclusion proofs without a checkpoint; `sigstore-bundle` 0.15.1 refuses those outright. Such
/// a proof's root is signed by no one, so it proves nothing: it is dropped and the entry stands
/// on its signed entry timestamp, which v0.1 requires and the verifier checks.
fn drop_unsigned_proofs(bundle: &mut Value) {
    let Some(entries) = bundle
        .pointer_mut("/verificationMaterial/tlogEntries")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
        let unsigned = entry.get("inclusionProof").is_some_and(|proof| {
            proof
                .pointer("/checkpoint/envelope")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        });
        if unsigned {
            entry.remove("inclusionProof");
        }
    }
}

/// Bundle media types accepted: v0.1 to v0.3, including v0.3's older spelling.
pub const BUNDLE_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
];
