//! Cosign-format image signatures for tests, written from the cosign signature spec
//! (sigstore/cosign `specs/SIGNATURE_SPEC.md`) and deliberately separate from the verifier under
//! test: it builds the simple-signing payload, signs it with a PKCS#8 P-256 key (DER ECDSA over
//! SHA-256), lays it out as an OCI image and pushes it with skopeo to `sha256-<hex>.sig`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey as _;
use serde_json::{Value, json};

use super::registry::{Auth, OciImage, sha256_digest, skopeo_push};

/// Layer media type of a simple-signing payload.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation carrying the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// The cosign tag for an image digest: `sha256:<hex>` → `sha256-<hex>.sig`.
pub fn sig_tag(image_digest: &str) -> String {
    format!("{}.sig", image_digest.replacen(':', "-", 1))
}

/// The simple-signing payload cosign writes for `docker_reference` at `manifest_digest`.
pub fn simple_signing_payload(docker_reference: &str, manifest_digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {
            "identity": { "docker-reference": docker_reference },
            "image": { "docker-manifest-digest": manifest_digest },
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
    .unwrap()
}

/// Base64 of the DER ECDSA P-256 signature over `bytes` with the PKCS#8 PEM key at `key_pem`.
pub fn sign(key_pem: &Path, bytes: &[u8]) -> String {
    let pem = std::fs::read_to_string(key_pem).unwrap();
    let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
    let signature: Signature = key.sign(bytes);
    STANDARD.encode(signature.to_der().as_bytes())
}

/// Signs `image_digest` with the key at `signing_key_pem` and pushes the signature to the image's
/// `.sig` tag; `payload_digest_override` puts another digest in the signed payload. Answers the
/// signature manifest's digest or skopeo's error text.
pub async fn sign_and_push(
    registry_host: &str,
    repository: &str,
    image_digest: &str,
    signing_key_pem: &Path,
    auth: &Auth<'_>,
    payload_digest_override: Option<&str>,
) -> Result<String, String> {
    let payload = simple_signing_payload(
        &format!("{registry_host}/{repository}"),
        payload_digest_override.unwrap_or(image_digest),
    );
    let signature = sign(signing_key_pem, &payload);
    push_signature(
        registry_host,
        repository,
        image_digest,
        &payload,
        &signature,
        auth,
    )
    .await
}

/// Pushes one signature layer (`payload` with `signature_b64` as its annotation) to the `.sig`
/// tag of `image_digest`, whether or not the signature is over these bytes.
pub async fn push_signature(
    registry_host: &str,
    repository: &str,
    image_digest: &str,
    payload: &[u8],
    signature_b64: &str,
    auth: &Auth<'_>,
) -> Result<String, String> {
    let image = signature_layout(image_digest, payload, signature_b64);
    skopeo_push(&image, registry_host, repository, auth).await
}

/// An OCI layout holding the signature manifest: an empty config and the payload as its one layer.
pub fn signature_layout(image_digest: &str, payload: &[u8], signature_b64: &str) -> OciImage {
    single_layer_layout(
        &sig_tag(image_digest),
        SIMPLE_SIGNING,
        payload,
        json!({ SIGNATURE_ANNOTATION: signature_b64 }),
    )
}

/// An OCI layout with one manifest under `tag`: an empty config and `payload` as its one layer.
pub fn single_layer_layout(tag: &str, media_type: &str, payload: &[u8], annotations: Value) -> OciImage {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> String {
        let digest = sha256_digest(bytes);
        std::fs::write(blobs.join(&digest["sha256:".len()..]), bytes).unwrap();
        digest
    };
    let config = b"{}";
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": put(config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": media_type,
            "digest": put(payload),
            "size": payload.len(),
            "annotations": annotations,
        }],
    }))
    .unwrap();
    let manifest_digest = put(&manifest);
    let tag = tag.to_owned();
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": tag },
        }],
    });
    std::fs::write(dir.path().join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(
        dir.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    OciImage {
        dir,
        tag,
        manifest_digest,
        manifest_size: manifest.len(),
    }
}

/// A DSSE envelope (signed over the spec's PAE with the PKCS#8 key at `key_pem`) carrying an
/// in-toto v1 statement about `subject_digest` with `predicate_type`.
pub fn dsse_envelope(key_pem: &Path, subject_digest: &str, predicate_type: &str) -> Value {
    let (algorithm, hex) = subject_digest.split_once(':').unwrap();
    let statement = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": "image", "digest": { algorithm: hex } }],
        "predicateType": predicate_type,
        "predicate": { "runDetails": { "builder": { "id": "https://ci.example/builder" } } },
    }))
    .unwrap();
    let payload_type = "application/vnd.in-toto+json";
    let mut pae = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        statement.len()
    )
    .into_bytes();
    pae.extend_from_slice(&statement);
    json!({
        "payloadType": payload_type,
        "payload": STANDARD.encode(&statement),
        "signatures": [{ "keyid": "", "sig": sign(key_pem, &pae) }],
    })
}

/// Pushes `envelope` as the one layer of the `.att` tag of `image_digest`, as cosign stores
/// attestations.
pub async fn push_attestation(
    registry_host: &str,
    repository: &str,
    image_digest: &str,
    envelope: &Value,
    auth: &Auth<'_>,
) -> Result<String, String> {
    let tag = format!("{}.att", image_digest.replacen(':', "-", 1));
    let bytes = serde_json::to_vec(envelope).unwrap();
    let image = single_layer_layout(&tag, "application/vnd.dsse.envelope.v1+json", &bytes, json!({}));
    skopeo_push(&image, registry_host, repository, auth).await
}

/// A keyless cosign signature layer: the payload, its signature and the annotations cosign adds
/// when signing with a Fulcio certificate.
pub struct KeylessSignature {
    /// The simple-signing payload.
    pub payload: Vec<u8>,
    /// Base64 DER signature over the payload.
    pub signature_b64: String,
    /// `dev.sigstore.cosign/certificate`: the leaf PEM.
    pub certificate_pem: String,
    /// `dev.sigstore.cosign/chain`: the intermediate and root PEMs.
    pub chain_pem: String,
    /// `dev.sigstore.cosign/bundle`: the Rekor SET and entry.
    pub rekor_bundle: String,
}

/// Pushes `signature` as the one layer of the `.sig` tag of `image_digest`.
pub async fn push_keyless_signature(
    registry_host: &str,
    repository: &str,
    image_digest: &str,
    signature: &KeylessSignature,
    auth: &Auth<'_>,
) -> Result<String, String> {
    let annotations = json!({
        SIGNATURE_ANNOTATION: signature.signature_b64,
        "dev.sigstore.cosign/certificate": signature.certificate_pem,
        "dev.sigstore.cosign/chain": signature.chain_pem,
        "dev.sigstore.cosign/bundle": signature.rekor_bundle,
    });
    let image = single_layer_layout(
        &sig_tag(image_digest),
        SIMPLE_SIGNING,
        &signature.payload,
        annotations,
    );
    skopeo_push(&image, registry_host, repository, auth).await
}
