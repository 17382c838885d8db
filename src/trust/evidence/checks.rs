//! The checks of one piece of material each, remembered in the verification cache by the exact
//! material checked, and the digest's own check.

use chrono::Utc;
use serde_json::Value;

use super::Verifier;
use crate::domain::{Artifact, Digest, Evidence, EvidenceResult};
use crate::trust::attachment::verify_attachment;
use crate::trust::cosign::{SignatureLayer, verify_signatures};
use crate::trust::cosign_attestations::{AttestationLayer, verify_cosign_attestation};
use crate::trust::referrers::{ReferrerBundle, verify_referrer_bundle};

impl Verifier {
    /// The `.sig` layers' check, remembered by every layer's fields.
    pub(super) async fn checked_signatures(&self, digest: &Digest, layers: &[SignatureLayer]) -> Evidence {
        let material = signature_material(layers);
        self.cache
            .get_or_verify("signature", digest, &material, || {
                verify_signatures(&self.sigstore, digest, layers)
            })
            .await
    }

    /// One attachment's check (a sigstore bundle, a model-signing bundle or a DSSE envelope),
    /// remembered by its exact bytes.
    pub(super) async fn checked_attachment(&self, digest: &Digest, attachment: &Value) -> Evidence {
        let material = serde_json::to_vec(attachment).unwrap_or_default();
        self.cache
            .get_or_verify("attachment", digest, &material, || {
                verify_attachment(&self.sigstore, digest, attachment)
            })
            .await
    }

    /// One cosign `.att` layer's check, remembered by its envelope and annotations.
    pub(super) async fn checked_attestation_layer(
        &self,
        digest: &Digest,
        layer: &AttestationLayer,
    ) -> Evidence {
        let envelope = serde_json::to_vec(&layer.envelope).unwrap_or_default();
        let [certificate, rekor_entry] = layer.annotations.material();
        let material = framed([envelope.as_slice(), certificate, rekor_entry]);
        self.cache
            .get_or_verify("attestation_layer", digest, &material, || {
                verify_cosign_attestation(&self.sigstore, digest, layer)
            })
            .await
    }

    /// One referrer bundle's check, remembered by the referrer and its exact bytes.
    pub(super) async fn checked_referrer(&self, digest: &Digest, bundle: &ReferrerBundle) -> Evidence {
        let content = match &bundle.content {
            Ok(bytes) => bytes.as_slice(),
            Err(failure) => failure.reason.as_bytes(),
        };
        let material = framed([bundle.manifest.as_bytes(), content]);
        self.cache
            .get_or_verify("referrer", digest, &material, || {
                verify_referrer_bundle(&self.sigstore, digest, bundle)
            })
            .await
    }
}

/// The signature layers as one byte string: each field length-prefixed, in order.
fn signature_material(layers: &[SignatureLayer]) -> Vec<u8> {
    framed(layers.iter().flat_map(|layer| {
        let [certificate, rekor_entry] = layer.annotations.material();
        [
            &layer.payload[..],
            layer.signature_b64.as_bytes(),
            layer.media_type.as_bytes(),
            certificate,
            rekor_entry,
        ]
    }))
}

/// The fields one after another, each prefixed by its length, so no two lists frame alike.
fn framed<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut material = Vec::new();
    for field in fields {
        material.extend((field.len() as u64).to_be_bytes());
        material.extend(field);
    }
    material
}

/// The digest must be canonical and the kind and source type explicit; the stored value is
/// re-parsed so a row written around the gateway is caught here.
pub(super) fn digest_evidence(artifact: &Artifact) -> Evidence {
    let canonical = artifact.digest.as_str().parse::<Digest>().is_ok();
    let (result, reason) = if canonical {
        (
            EvidenceResult::Pass,
            format!(
                "digest `{}` is canonical; kind `{}` and source type `{}` are explicit",
                artifact.digest, artifact.artifact_kind, artifact.source.source_type
            ),
        )
    } else {
        (
            EvidenceResult::Fail,
            format!("digest `{}` is not canonical", artifact.digest),
        )
    };
    Evidence {
        evidence_type: "digest_format".to_owned(),
        result,
        reason,
        checked_at: Utc::now(),
        details: serde_json::json!({ "algorithm": artifact.digest.algorithm() }),
    }
}
