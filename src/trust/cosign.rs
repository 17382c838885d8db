//! Cosign image signatures (sigstore/cosign `specs/SIGNATURE_SPEC.md`): found under the
//! `<alg>-<hex>.sig` tag, one simple-signing payload per layer, the base64 DER ECDSA signature
//! over the payload bytes in the layer's `dev.cosignproject.cosign/signature` annotation. Each
//! layer becomes a sigstore bundle (`cosign_layer`) checked by the shared verifier: keyed with a
//! configured key or keyless with a Fulcio certificate, with its Rekor entry either way.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::domain::{Digest, Evidence, EvidenceResult};
use crate::registry::{RegistryClient, RegistryClientError};

use super::cosign_layer::{
    CERTIFICATE_ANNOTATION, REKOR_BUNDLE_ANNOTATION, Signed, SignerAnnotations, layer_bundle,
};
use super::verifier::{Artifact, Rejected, SigstoreVerifier, Verified};

/// Media type of a cosign simple-signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of a cosign image signature payload.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";
/// Largest payload we fetch: real ones are a few hundred bytes.
pub const MAX_PAYLOAD_BYTES: u64 = 64 * 1024;
/// Most signature layers we fetch for one image, so one manifest cannot make us fetch without end.
pub const MAX_SIGNATURE_LAYERS: usize = 32;

/// One signature as stored: the payload bytes and the signature over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// The signed bytes, exactly as fetched.
    pub payload: Vec<u8>,
    /// The `dev.cosignproject.cosign/signature` annotation (base64 DER ECDSA).
    pub signature_b64: String,
    /// The layer's media type.
    pub media_type: String,
    /// The signer's certificate and Rekor entry annotations.
    pub annotations: SignerAnnotations,
}

/// Why signatures could not be fetched (the registry, not the signature, is at fault).
#[derive(Debug, thiserror::Error)]
pub enum CosignError {
    /// The registry call failed.
    #[error(transparent)]
    Registry(#[from] RegistryClientError),
    /// An OCI image layout on disk could not be read.
    #[error("{0}")]
    Layout(String),
    /// The signature manifest is not an image manifest we can read.
    #[error("the signature manifest `{tag}` is unreadable: {reason}")]
    BadManifest {
        /// The `.sig` tag.
        tag: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The tag cosign stores an image's signatures under: `sha256:abc` → `sha256-abc.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm(), digest.hex())
}

/// The manifest fields cosign's tags rely on.
#[derive(Deserialize)]
pub(super) struct Manifest {
    #[serde(default)]
    pub(super) layers: Vec<Descriptor>,
}

/// One layer of a cosign manifest.
#[derive(Deserialize)]
pub(super) struct Descriptor {
    #[serde(rename = "mediaType")]
    pub(super) media_type: String,
    pub(super) digest: String,
    #[serde(default)]
    pub(super) annotations: HashMap<String, String>,
}

/// Where cosign's tags are read from: a registry repository, or an OCI image layout on disk
/// (`gatehouse verify`). Content read by digest is checked against it by the source.
#[async_trait::async_trait]
pub trait ManifestSource: Send + Sync {
    /// The manifest at a tag or digest; `None` when there is none.
    async fn manifest(&self, reference: &str) -> Result<Option<Vec<u8>>, CosignError>;
    /// A blob, at most `max_bytes`, checked against `digest`.
    async fn blob(&self, digest: &Digest, max_bytes: u64) -> Result<Vec<u8>, CosignError>;
}

/// One repository of a registry, read with a bearer token.
pub struct RegistryRepository<'a> {
    /// The registry.
    pub client: &'a RegistryClient,
    /// The repository path.
    pub repository: &'a str,
    /// The bearer token to read with.
    pub token: &'a str,
}

#[async_trait::async_trait]
impl ManifestSource for RegistryRepository<'_> {
    async fn manifest(&self, reference: &str) -> Result<Option<Vec<u8>>, CosignError> {
        let found = self
            .client
            .get_manifest(self.repository, reference, self.token)
            .await?;
        Ok(found.map(|m| m.bytes))
    }

    async fn blob(&self, digest: &Digest, max_bytes: u64) -> Result<Vec<u8>, CosignError> {
        Ok(self
            .client
            .get_blob(self.repository, digest, self.token, max_bytes)
            .await?)
    }
}

/// The signature layers stored for `digest`; empty when there is no `.sig` tag.
pub async fn fetch_signatures(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    token: &str,
) -> Result<Vec<SignatureLayer>, CosignError> {
    let source = RegistryRepository {
        client,
        repository,
        token,
    };
    read_signatures(&source, digest).await
}

/// The signature layers `source` holds for `digest` under cosign's `.sig` tag.
pub async fn read_signatures(
    source: &dyn ManifestSource,
    digest: &Digest,
) -> Result<Vec<SignatureLayer>, CosignError> {
    // Layers without a signature annotation are not signatures (cosign may add others).
    let is_signature = |l: &Descriptor| {
        l.media_type == SIMPLE_SIGNING_MEDIA_TYPE && l.annotations.contains_key(SIGNATURE_ANNOTATION)
    };
    let read = TagRead {
        tag: signature_tag(digest),
        max_layers: MAX_SIGNATURE_LAYERS,
        max_bytes: MAX_PAYLOAD_BYTES,
    };
    let layers = fetch_layers(source, &read, is_signature).await?;
    Ok(layers
        .into_iter()
        .map(|(mut layer, payload)| SignatureLayer {
            payload,
            signature_b64: layer.annotations.remove(SIGNATURE_ANNOTATION).unwrap_or_default(),
            annotations: signer_annotations(&mut layer.annotations),
            media_type: layer.media_type,
        })
        .collect())
}

/// The certificate and Rekor annotations of a layer.
pub(super) fn signer_annotations(annotations: &mut HashMap<String, String>) -> SignerAnnotations {
    SignerAnnotations {
        certificate_pem: annotations.remove(CERTIFICATE_ANNOTATION),
        rekor_bundle: annotations.remove(REKOR_BUNDLE_ANNOTATION),
    }
}

/// Which cosign tag to read, and how much of it.
pub(super) struct TagRead {
    /// The tag (`sha256-<hex>.sig`, `.att`).
    pub(super) tag: String,
    /// Most layers read; more is a malformed manifest.
    pub(super) max_layers: usize,
    /// Largest layer read.
    pub(super) max_bytes: u64,
}

/// The layers of the manifest at `read.tag` that `keep` selects, each with its bytes (size-capped
/// and checked against its digest); empty when the tag does not exist.
pub(super) async fn fetch_layers(
    source: &dyn ManifestSource,
    read: &TagRead,
    keep: impl Fn(&Descriptor) -> bool,
) -> Result<Vec<(Descriptor, Vec<u8>)>, CosignError> {
    let Some(manifest) = source.manifest(&read.tag).await? else {
        return Ok(Vec::new());
    };
    let bad = |reason: String| CosignError::BadManifest {
        tag: read.tag.clone(),
        reason,
    };
    let manifest: Manifest = serde_json::from_slice(&manifest).map_err(|e| bad(e.to_string()))?;
    let selected: Vec<Descriptor> = manifest.layers.into_iter().filter(|l| keep(l)).collect();
    if selected.len() > read.max_layers {
        return Err(bad(format!(
            "{} layers, more than {}",
            selected.len(),
            read.max_layers
        )));
    }
    let mut out = Vec::with_capacity(selected.len());
    for layer in selected {
        let layer_digest: Digest = layer
            .digest
            .parse()
            .map_err(|_| bad(format!("layer digest `{}` is not a digest", layer.digest)))?;
        let bytes = source.blob(&layer_digest, read.max_bytes).await?;
        out.push((layer, bytes));
    }
    Ok(out)
}

/// The simple-signing fields we rely on; `identity` is ignored, as the spec says.
#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// How far one layer got towards passing.
enum Outcome {
    NotSimpleSigningLayer(String),
    BadEncoding,
    Failed(Rejected),
    NotCosignDocument(Verified),
    OtherDigest(Verified, String),
    Verified(Verified),
}

impl Outcome {
    /// Higher is closer to a pass: the failure reported is the one that got furthest.
    fn rank(&self) -> u8 {
        match self {
            Self::NotSimpleSigningLayer(_) => 0,
            Self::BadEncoding => 10,
            Self::Failed(rejected) => match rejected.failure.check {
                "key_configured" | "keyless_configured" => 15,
                "signature" => 20,
                "identity" => 35,
                _ => 30,
            },
            Self::NotCosignDocument(_) => 40,
            Self::OtherDigest(..) => 45,
            Self::Verified(_) => 50,
        }
    }
}

fn check_layer(verifier: &SigstoreVerifier, digest: &Digest, layer: &SignatureLayer) -> Outcome {
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
        return Outcome::NotSimpleSigningLayer(layer.media_type.clone());
    }
    let Ok(signature) = STANDARD.decode(layer.signature_b64.trim()) else {
        return Outcome::BadEncoding;
    };
    let signed = Signed::Payload {
        payload: &layer.payload,
        signature: &signature,
    };
    let verified = match layer_bundle(&signed, &layer.annotations)
        .map_err(Rejected::from)
        .and_then(|bundle| verifier.verify(Artifact::Bytes(&layer.payload), &bundle))
    {
        Ok(verified) => verified,
        Err(rejected) => return Outcome::Failed(rejected),
    };
    // Only a payload a trusted signer signed is read at all.
    match serde_json::from_slice::<SimpleSigning>(&layer.payload) {
        Ok(doc) if doc.critical.kind == COSIGN_SIGNATURE_TYPE => {
            let signed = doc.critical.image.docker_manifest_digest;
            if signed == digest.as_str() {
                Outcome::Verified(verified)
            } else {
                Outcome::OtherDigest(verified, signed)
            }
        }
        _ => Outcome::NotCosignDocument(verified),
    }
}

/// One `signature` evidence record: pass when any layer is a trusted signature of `digest`, by
/// a configured key or a keyless signer with an allowed identity, logged as configured.
pub fn verify_signatures(
    verifier: &SigstoreVerifier,
    digest: &Digest,
    layers: &[SignatureLayer],
) -> Evidence {
    let tag = signature_tag(digest);
    let mut details = json!({ "signature_tag": tag, "layers_checked": layers.len() });
    let best = layers
        .iter()
        .map(|l| check_layer(verifier, digest, l))
        .max_by_key(Outcome::rank);
    let fail = EvidenceResult::Fail;
    let (result, check, reason) = match best {
        _ if !verifier.is_configured() => (
            fail,
            "key_configured",
            "no cosign public key is configured, nor any keyless identity".to_owned(),
        ),
        None => (
            fail,
            "signature_found",
            format!("no signature found for `{digest}` (no signed layer under the `{tag}` tag)"),
        ),
        Some(Outcome::NotSimpleSigningLayer(media_type)) => (
            fail,
            "layer_media_type",
            format!("signature layer has media type `{media_type}`, not `{SIMPLE_SIGNING_MEDIA_TYPE}`"),
        ),
        Some(Outcome::BadEncoding) => (
            fail,
            "signature_encoding",
            "signature annotation is not base64".to_owned(),
        ),
        Some(Outcome::Failed(rejected)) => {
            rejected.describe(&mut details);
            (fail, rejected.failure.check, rejected.failure.reason)
        }
        Some(Outcome::NotCosignDocument(verified)) => {
            verified.describe(&mut details);
            let reason = "signed payload is not a cosign simple-signing document".to_owned();
            (fail, "payload_format", reason)
        }
        Some(Outcome::OtherDigest(verified, signed)) => {
            verified.describe(&mut details);
            let reason = format!("signed payload names digest `{signed}`, not `{digest}`");
            details["signed_digest"] = json!(signed);
            (fail, "payload_digest", reason)
        }
        Some(Outcome::Verified(verified)) => {
            let by = verified.describe(&mut details);
            let reason = format!("signed for `{digest}` by {by}");
            (EvidenceResult::Pass, "verified", reason)
        }
    };
    details["check"] = json!(check);
    Evidence {
        evidence_type: "signature".to_owned(),
        result,
        reason,
        checked_at: Utc::now(),
        details,
    }
}

#[cfg(test)]
mod tests {
    use crate::trust::TrustKeys;
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};

    use super::*;

    /// Keyed and unlogged (`require_tlog` off): logged and keyless layers are tested in
    /// `tests/cosign_signatures.rs` and `tests/keyless.rs`.
    fn verify_signatures(keys: &TrustKeys, digest: &Digest, layers: &[SignatureLayer]) -> Evidence {
        let root = crate::trust::LoadedRoot::empty().unwrap();
        let verifier =
            SigstoreVerifier::new(&root, keys.clone(), crate::trust::Identities::default(), false).unwrap();
        super::verify_signatures(&verifier, digest, layers)
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn keys_of(signers: &[(&str, &SigningKey)]) -> TrustKeys {
        let pems: Vec<(String, String)> = signers
            .iter()
            .map(|(name, k)| {
                (
                    (*name).to_owned(),
                    k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
                )
            })
            .collect();
        TrustKeys::from_pems(pems.iter().map(|(n, p)| (n.as_str(), p.as_str()))).unwrap()
    }

    fn digest(fill: char) -> Digest {
        format!("sha256:{}", fill.to_string().repeat(64)).parse().unwrap()
    }

    fn payload(kind: &str, signed: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "critical": {
                "identity": { "docker-reference": "127.0.0.1:5000/a/b" },
                "image": { "docker-manifest-digest": signed },
                "type": kind,
            },
            "optional": null,
        }))
        .unwrap()
    }

    fn layer(signer: &SigningKey, signed_bytes: &[u8], payload: Vec<u8>) -> SignatureLayer {
        let signature: Signature = signer.sign(signed_bytes);
        SignatureLayer {
            payload,
            signature_b64: STANDARD.encode(signature.to_der().as_bytes()),
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
            annotations: SignerAnnotations::default(),
        }
    }

    fn signed(signer: &SigningKey, payload: Vec<u8>) -> SignatureLayer {
        layer(signer, &payload.clone(), payload)
    }

    fn cosign_payload(d: &Digest) -> Vec<u8> {
        payload(COSIGN_SIGNATURE_TYPE, d.as_str())
    }

    #[test]
    fn signature_tag_follows_the_spec() {
        assert_eq!(
            signature_tag(&digest('a')),
            format!("sha256-{}.sig", "a".repeat(64))
        );
    }

    #[test]
    fn a_trusted_signature_of_this_digest_passes_naming_the_key() {
        let (a, b) = (key(1), key(2));
        let keys = keys_of(&[("a.pub", &a), ("b.pub", &b)]);
        let d = digest('a');
        let evidence = verify_signatures(&keys, &d, &[signed(&b, cosign_payload(&d))]);
        assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
        assert_eq!(evidence.evidence_type, "signature");
        assert_eq!(evidence.details["key_id"], json!(keys.keys()[1].key_id));
        assert_eq!(evidence.details["key_file"], json!("b.pub"));
    }

    #[test]
    fn any_layer_passing_is_enough() {
        let (a, other) = (key(1), key(2));
        let d = digest('a');
        let layers = [signed(&other, cosign_payload(&d)), signed(&a, cosign_payload(&d))];
        let evidence = verify_signatures(&keys_of(&[("a.pub", &a)]), &d, &layers);
        assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    }

    fn fails_with(evidence: &Evidence, check: &str, reason: &str) {
        assert_eq!(evidence.result, EvidenceResult::Fail);
        assert_eq!(evidence.details["check"], json!(check), "{}", evidence.reason);
        assert!(evidence.reason.contains(reason), "{}", evidence.reason);
    }

    #[test]
    fn no_configured_key_fails_before_anything_else() {
        let (a, d) = (key(1), digest('a'));
        let evidence = verify_signatures(&TrustKeys::default(), &d, &[signed(&a, cosign_payload(&d))]);
        fails_with(&evidence, "key_configured", "no cosign public key is configured");
    }

    #[test]
    fn no_layers_is_no_signature_found_naming_digest_and_tag() {
        let d = digest('a');
        let evidence = verify_signatures(&keys_of(&[("a.pub", &key(1))]), &d, &[]);
        fails_with(
            &evidence,
            "signature_found",
            "no signature found for `sha256:aaaa",
        );
        assert!(
            evidence.reason.contains(&signature_tag(&d)),
            "{}",
            evidence.reason
        );
    }

    #[test]
    fn another_key_or_other_bytes_do_not_verify() {
        let (a, other, d) = (key(1), key(2), digest('a'));
        let keys = keys_of(&[("a.pub", &a)]);
        let by_other = verify_signatures(&keys, &d, &[signed(&other, cosign_payload(&d))]);
        fails_with(&by_other, "signature", "does not verify with any configured key");
        let tampered = layer(&a, &payload(COSIGN_SIGNATURE_TYPE, "x"), cosign_payload(&d));
        let evidence = verify_signatures(&keys, &d, &[tampered]);
        fails_with(&evidence, "signature", "does not verify");
    }

    #[test]
    fn a_signature_that_is_not_base64_or_not_der_fails() {
        let (a, d) = (key(1), digest('a'));
        let keys = keys_of(&[("a.pub", &a)]);
        let mut not_b64 = signed(&a, cosign_payload(&d));
        not_b64.signature_b64 = "%%%".to_owned();
        fails_with(
            &verify_signatures(&keys, &d, &[not_b64]),
            "signature_encoding",
            "not base64",
        );
        let mut not_der = signed(&a, cosign_payload(&d));
        not_der.signature_b64 = STANDARD.encode(b"junk");
        fails_with(
            &verify_signatures(&keys, &d, &[not_der]),
            "signature",
            "does not verify",
        );
    }

    #[test]
    fn a_layer_of_another_media_type_fails() {
        let (a, d) = (key(1), digest('a'));
        let mut other = signed(&a, cosign_payload(&d));
        other.media_type = "application/json".to_owned();
        let evidence = verify_signatures(&keys_of(&[("a.pub", &a)]), &d, &[other]);
        fails_with(&evidence, "layer_media_type", "`application/json`");
    }

    #[test]
    fn a_signed_payload_of_another_digest_fails_naming_both() {
        let (a, d, e) = (key(1), digest('a'), digest('e'));
        let evidence = verify_signatures(&keys_of(&[("a.pub", &a)]), &d, &[signed(&a, cosign_payload(&e))]);
        let reason = format!("signed payload names digest `{e}`, not `{d}`");
        fails_with(&evidence, "payload_digest", &reason);
        assert_eq!(evidence.details["key_file"], json!("a.pub"));
        // Not a prefix match, not case-insensitive: exactly the digest.
        let upper = payload(COSIGN_SIGNATURE_TYPE, &d.as_str().to_uppercase());
        let evidence = verify_signatures(&keys_of(&[("a.pub", &a)]), &d, &[signed(&a, upper)]);
        fails_with(&evidence, "payload_digest", "signed payload names digest");
    }

    #[test]
    fn a_signed_document_that_is_not_cosign_simple_signing_fails() {
        let (a, d) = (key(1), digest('a'));
        let keys = keys_of(&[("a.pub", &a)]);
        let wrong_type = signed(&a, payload("atomic container signature", d.as_str()));
        let not_json = signed(&a, b"not json".to_vec());
        let no_image = signed(
            &a,
            br#"{"critical":{"type":"cosign container image signature"}}"#.to_vec(),
        );
        for layer in [wrong_type, not_json, no_image] {
            let evidence = verify_signatures(&keys, &d, &[layer]);
            fails_with(
                &evidence,
                "payload_format",
                "not a cosign simple-signing document",
            );
        }
    }

    #[test]
    fn the_failure_reported_is_the_one_that_got_furthest() {
        let (a, other, d, e) = (key(1), key(2), digest('a'), digest('e'));
        let layers = [signed(&other, cosign_payload(&d)), signed(&a, cosign_payload(&e))];
        let evidence = verify_signatures(&keys_of(&[("a.pub", &a)]), &d, &layers);
        fails_with(&evidence, "payload_digest", "names digest");
    }
}
