//! A keyed bundle with no transparency-log entry, accepted only when `trust.require_tlog` is off.
//! `sigstore-verify` 0.15.1 refuses such a bundle outright (its structural check wants a log entry
//! or an RFC 3161 timestamp even under `skip_tlog_unsafe`), so the same checks it would make
//! after the log are made here with its own primitives: the signature with the key, and the
//! binding of the signed content to the artifact.

use sigstore_verify::crypto::{KeyAlgorithm, verify_signature, verify_signature_prehashed};
use sigstore_verify::types::{Bundle, DerPublicKey, SignatureContent, Statement};

use super::Artifact;
use crate::trust::Failure;
use crate::trust::keys::{NamedKey, TrustKeys};

/// The key that signed, once the signed content is shown to be about the artifact.
pub(super) fn verify<'k>(
    keys: &'k TrustKeys,
    artifact: Artifact<'_>,
    bundle: &Bundle,
) -> Result<&'k NamedKey, Failure> {
    let artifact_sha256 = artifact.sha256();
    match &bundle.content {
        SignatureContent::MessageSignature(message) => {
            if let Some(declared) = &message.message_digest
                && declared.digest.as_bytes() != artifact_sha256.as_bytes()
            {
                return Err(Failure::new(
                    "digest",
                    "message digest in bundle does not match artifact hash",
                ));
            }
            signing_key(keys, |key, scheme| match artifact {
                Artifact::Bytes(bytes) => verify_signature(key, bytes, &message.signature, scheme).is_ok(),
                Artifact::Sha256(hash) => {
                    verify_signature_prehashed(key, hash.as_bytes(), &message.signature, scheme).is_ok()
                }
            })
        }
        SignatureContent::DsseEnvelope(envelope) => {
            let pae = envelope.pae();
            let key = signing_key(keys, |key, scheme| {
                verify_signature(key, &pae, &envelope.signature.sig, scheme).is_ok()
            })?;
            if envelope.payload_type != "application/vnd.in-toto+json" {
                return Err(Failure::new(
                    "bundle_format",
                    format!("unsupported DSSE payload type `{}`", envelope.payload_type),
                ));
            }
            let statement: Statement = serde_json::from_slice(envelope.payload.as_bytes()).map_err(|e| {
                Failure::new(
                    "bundle_format",
                    format!("payload is not an in-toto statement: {e}"),
                )
            })?;
            if !statement.matches_sha256(&artifact_sha256) {
                return Err(Failure::new(
                    "digest",
                    "artifact hash does not match any subject in attestation",
                ));
            }
            Ok(key)
        }
        _ => Err(Failure::new(
            "bundle_format",
            "unsupported bundle signature content",
        )),
    }
}

/// The first configured key under which `verifies` holds, with the key's own scheme.
fn signing_key<'k>(
    keys: &'k TrustKeys,
    verifies: impl Fn(&DerPublicKey, sigstore_verify::crypto::SigningScheme) -> bool,
) -> Result<&'k NamedKey, Failure> {
    keys.keys()
        .iter()
        .find(|named| {
            let key = DerPublicKey::new(named.spki_der.clone());
            KeyAlgorithm::from_spki(&key)
                .is_ok_and(|algorithm| verifies(&key, algorithm.default_signing_scheme()))
        })
        .ok_or_else(|| Failure::new("signature", "signature does not verify with any configured key"))
}

#[cfg(test)]
mod tests {
    use sigstore_verify::crypto::sha256;

    use super::*;

    #[test]
    fn the_digest_is_hashed_from_bytes() {
        let hash = sha256(b"payload");
        assert_eq!(Artifact::Bytes(b"payload").sha256(), hash);
        assert_eq!(Artifact::Sha256(hash).sha256(), hash);
    }
}
