//! Attestations cosign stores beside an image: DSSE envelopes as the layers of the manifest at
//! the `sha256-<hex>.att` tag, with the same signer annotations as signatures. Each layer becomes
//! a sigstore bundle checked by the shared verifier: its signature (keyed or keyless), its Rekor
//! entry, and that its in-toto statement names the image.

use chrono::Utc;
use serde_json::{Value, json};

use super::cosign::{
    CosignError, ManifestSource, RegistryRepository, TagRead, fetch_layers, signer_annotations,
};
use super::cosign_layer::{Signed, SignerAnnotations, layer_bundle};
use super::verifier::{Artifact, Rejected, SigstoreVerifier, sha256_of};
use crate::domain::{Digest, Evidence, EvidenceResult};
use crate::registry::RegistryClient;

/// Media type of a DSSE envelope layer.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// Largest envelope read from the registry.
pub const MAX_ENVELOPE_BYTES: u64 = 1024 * 1024;

/// Most attestation layers read for one image.
pub const MAX_ATTESTATION_LAYERS: usize = 32;

/// One `.att` layer: the envelope (`Null` when the layer is not JSON) and who signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttestationLayer {
    /// The DSSE envelope.
    pub envelope: Value,
    /// Certificate and Rekor annotations.
    pub annotations: SignerAnnotations,
}

/// The tag cosign stores attestations for `digest` under.
pub fn attestation_tag(digest: &Digest) -> String {
    format!("{}-{}.att", digest.algorithm(), digest.hex())
}

/// The DSSE layers stored for `digest`; empty when there is no `.att` tag.
pub async fn fetch_attestations(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    token: &str,
) -> Result<Vec<AttestationLayer>, CosignError> {
    let source = RegistryRepository {
        client,
        repository,
        token,
    };
    read_attestations(&source, digest).await
}

/// The DSSE layers `source` holds for `digest` under cosign's `.att` tag.
pub async fn read_attestations(
    source: &dyn ManifestSource,
    digest: &Digest,
) -> Result<Vec<AttestationLayer>, CosignError> {
    let read = TagRead {
        tag: attestation_tag(digest),
        max_layers: MAX_ATTESTATION_LAYERS,
        max_bytes: MAX_ENVELOPE_BYTES,
    };
    let layers = fetch_layers(source, &read, |l| l.media_type == DSSE_MEDIA_TYPE).await?;
    // A layer that is not JSON is still evidence: it becomes a failing attestation record.
    Ok(layers
        .into_iter()
        .map(|(mut layer, bytes)| AttestationLayer {
            envelope: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            annotations: signer_annotations(&mut layer.annotations),
        })
        .collect())
}

/// One `attestation` evidence record for a `.att` layer: its predicate type (and SLSA builder
/// id) and signer when it verifies, else the check that failed.
pub fn verify_cosign_attestation(
    verifier: &SigstoreVerifier,
    digest: &Digest,
    layer: &AttestationLayer,
) -> Evidence {
    let mut details = json!({ "source": "attestation_tag", "attestation_tag": attestation_tag(digest) });
    let checked = sha256_of(digest)
        .and_then(|sha256| {
            Ok((
                sha256,
                layer_bundle(&Signed::Envelope(&layer.envelope), &layer.annotations)?,
            ))
        })
        .map_err(Rejected::from)
        .and_then(|(sha256, bundle)| {
            let verified = verifier.verify(Artifact::Sha256(sha256), &bundle)?;
            Ok((verified, super::bundle::dsse_statement(&bundle)))
        });
    let (result, reason) = match checked {
        Ok((verified, statement)) => {
            let by = verified.describe(&mut details);
            if let (Some(Value::Object(facts)), Some(fields)) = (statement, details.as_object_mut()) {
                fields.extend(facts);
            }
            details["check"] = json!("verified");
            let predicate_type = details["predicate_type"].as_str().unwrap_or_default().to_owned();
            (
                EvidenceResult::Pass,
                format!("attestation `{predicate_type}` for `{digest}` signed by {by}"),
            )
        }
        Err(rejected) => {
            rejected.describe(&mut details);
            (EvidenceResult::Fail, rejected.failure.reason)
        }
    };
    Evidence {
        evidence_type: "attestation".to_owned(),
        result,
        reason,
        checked_at: Utc::now(),
        details,
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use p256::ecdsa::Signature;
    use p256::ecdsa::signature::Signer as _;

    use super::*;
    use crate::trust::dsse::{IN_TOTO_PAYLOAD_TYPE, pae};
    use crate::trust::identity::Identities;
    use crate::trust::test_support::sigstore_fixtures as fx;
    use crate::trust::{LoadedRoot, TrustKeys};

    fn image() -> Digest {
        format!("sha256:{}", "ab".repeat(32)).parse().unwrap()
    }

    /// A `.att` layer by the fixture key about [`image`], logged by the test Rekor or not.
    fn layer(logged: bool) -> AttestationLayer {
        let statement = serde_json::to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{ "name": "image", "digest": { "sha256": "ab".repeat(32) } }],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": { "runDetails": { "builder": { "id": "https://builder.test" } } },
        }))
        .unwrap();
        let signature: Signature = fx::signing_key().sign(&pae(IN_TOTO_PAYLOAD_TYPE, &statement));
        let envelope = json!({
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "payload": STANDARD.encode(&statement),
            "signatures": [{ "keyid": "", "sig": STANDARD.encode(signature.to_der().as_bytes()) }],
        });
        let rekor_bundle = logged.then(|| {
            let log = fx::log_key("rekor");
            let body = fx::dsse_body(&envelope, &fx::signing_public_pem());
            let set = fx::signed_entry_timestamp(&log, &body, fx::INTEGRATED_TIME, fx::LOG_INDEX);
            json!({
                "SignedEntryTimestamp": STANDARD.encode(set),
                "Payload": { "body": STANDARD.encode(&body), "integratedTime": fx::INTEGRATED_TIME,
                             "logIndex": fx::LOG_INDEX, "logID": fx::log_id_hex(&log) },
            })
            .to_string()
        });
        AttestationLayer {
            envelope,
            annotations: SignerAnnotations {
                certificate_pem: None,
                rekor_bundle,
            },
        }
    }

    fn verifier(require_tlog: bool) -> SigstoreVerifier {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trusted_root.json");
        std::fs::write(&file, fx::trusted_root(&fx::log_key("rekor")).to_string()).unwrap();
        let keys = TrustKeys::from_pems([("cosign.pub", fx::signing_public_pem().as_str())]).unwrap();
        SigstoreVerifier::new(
            &LoadedRoot::load(&file).unwrap(),
            keys,
            Identities::default(),
            require_tlog,
        )
        .unwrap()
    }

    #[test]
    fn a_keyed_attestation_needs_its_log_entry_unless_the_log_is_off() {
        let logged = verify_cosign_attestation(&verifier(true), &image(), &layer(true));
        assert_eq!(logged.result, EvidenceResult::Pass, "{}", logged.reason);
        assert_eq!(logged.details["tlog"], "verified");
        assert_eq!(logged.details["builder_id"], "https://builder.test");
        assert_eq!(logged.details["source"], "attestation_tag");
        let unlogged = verify_cosign_attestation(&verifier(true), &image(), &layer(false));
        assert_eq!(unlogged.details["check"], "tlog_present", "{}", unlogged.reason);
        let lax = verify_cosign_attestation(&verifier(false), &image(), &layer(false));
        assert_eq!(lax.result, EvidenceResult::Pass, "{}", lax.reason);
        assert_eq!(lax.details["tlog"], "not_checked");
        assert_eq!(lax.details["predicate_type"], "https://slsa.dev/provenance/v1");
    }

    #[test]
    fn the_tag_follows_cosign() {
        let digest: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(
            attestation_tag(&digest),
            format!("sha256-{}.att", "ab".repeat(32))
        );
    }
}
