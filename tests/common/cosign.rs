//! Cosign-format image signatures for tests, written from the cosign signature spec
//! (sigstore/cosign `specs/SIGNATURE_SPEC.md`) and deliberately separate from the verifier under
//! test: it builds the simple-signing payload, signs it with a PKCS#8 P-256 key (DER ECDSA over
//! SHA-256), logs it in the test Rekor (`sigstore_fixtures::log_key("rekor")`: cosign's
//! `dev.sigstore.cosign/bundle` annotation with a SET, as `cosign sign --key` writes by default),
//! lays it out as an OCI image and pushes it with skopeo to `sha256-<hex>.sig`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey as _;
use serde_json::{Value, json};

use sha2::{Digest as _, Sha256};

use super::registry::{Auth, LayoutWriter, OciImage, skopeo_push};
use super::sigstore_fixtures as fx;

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

/// Layer annotation carrying the Rekor entry.
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// The test Rekor keyed signatures made here are logged in.
pub fn test_log() -> SigningKey {
    fx::log_key("rekor")
}

/// Writes a `trusted_root.json` naming the test Rekor into `dir`; answers its path (for
/// `trust.trusted_root_file`).
pub fn write_test_trusted_root(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("trusted_root.json");
    std::fs::write(&file, fx::trusted_root(&test_log()).to_string()).unwrap();
    file
}

/// A `trusted_root.json` naming the test Rekor, in a file that lives as long as the test process
/// (for configs built inside closures that cannot hold a temporary directory).
pub fn test_trusted_root_file() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gatehouse-test-rekor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_test_trusted_root(&dir)
}

/// The PEM of the public half of the PKCS#8 key at `key_pem`.
pub fn public_pem(key_pem: &Path) -> String {
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};
    let key = SigningKey::from_pkcs8_pem(&std::fs::read_to_string(key_pem).unwrap()).unwrap();
    key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()
}

/// Cosign's `dev.sigstore.cosign/bundle` annotation: `body` logged by `log` at the fixtures' time.
pub fn rekor_annotation(log: &SigningKey, body: &[u8]) -> String {
    let set = fx::signed_entry_timestamp(log, body, fx::INTEGRATED_TIME, fx::LOG_INDEX);
    json!({
        "SignedEntryTimestamp": STANDARD.encode(set),
        "Payload": {
            "body": STANDARD.encode(body),
            "integratedTime": fx::INTEGRATED_TIME,
            "logIndex": fx::LOG_INDEX,
            "logID": fx::log_id_hex(log),
        },
    })
    .to_string()
}

/// The annotation for a keyed signature (`signature_b64` over `payload` by the key whose public
/// half is `public_pem`), logged as a `hashedrekord` by `log`.
pub fn keyed_rekor_bundle(log: &SigningKey, public_pem: &str, payload: &[u8], signature_b64: &str) -> String {
    let signature = STANDARD.decode(signature_b64).unwrap();
    let body = fx::hashedrekord_body(&hex::encode(Sha256::digest(payload)), &signature, public_pem);
    rekor_annotation(log, &body)
}

/// The annotation for a DSSE envelope's one signature by `verifier_pem` (a public key or a
/// certificate), logged as a `dsse` v0.0.1 entry by `log`.
pub fn dsse_rekor_bundle(log: &SigningKey, verifier_pem: &str, envelope: &Value) -> String {
    rekor_annotation(log, &fx::dsse_body(envelope, verifier_pem))
}

/// Signs `image_digest` with the key at `signing_key_pem`, logs the signature in the test Rekor,
/// and pushes it to the image's `.sig` tag; `payload_digest_override` puts another digest in the
/// signed payload. Answers the signature manifest's digest or skopeo's error text.
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
    let logged = keyed_rekor_bundle(&test_log(), &public_pem(signing_key_pem), &payload, &signature);
    let annotations = json!({ SIGNATURE_ANNOTATION: signature, REKOR_BUNDLE_ANNOTATION: logged });
    let image = single_layer_layout(&sig_tag(image_digest), SIMPLE_SIGNING, &payload, annotations);
    skopeo_push(&image, registry_host, repository, auth).await
}

/// Pushes one signature layer with exactly `annotations` to the `.sig` tag of `image_digest`.
pub async fn push_signature_with(
    registry_host: &str,
    repository: &str,
    image_digest: &str,
    payload: &[u8],
    annotations: Value,
    auth: &Auth<'_>,
) -> Result<String, String> {
    let image = single_layer_layout(&sig_tag(image_digest), SIMPLE_SIGNING, payload, annotations);
    skopeo_push(&image, registry_host, repository, auth).await
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
    let layout = LayoutWriter::new();
    let config = b"{}";
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": layout.put(config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": media_type,
            "digest": layout.put(payload),
            "size": payload.len(),
            "annotations": annotations,
        }],
    });
    layout.finish(tag, &manifest)
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
/// attestations, logged in the test Rekor as signed by the key at `key_pem` (`None`: unlogged).
pub async fn push_attestation(
    registry_host: &str,
    repository: &str,
    image_digest: &str,
    envelope: &Value,
    logged_by: Option<&Path>,
    auth: &Auth<'_>,
) -> Result<String, String> {
    let tag = format!("{}.att", image_digest.replacen(':', "-", 1));
    let bytes = serde_json::to_vec(envelope).unwrap();
    let annotations = match logged_by {
        Some(key) => {
            json!({ REKOR_BUNDLE_ANNOTATION: dsse_rekor_bundle(&test_log(), &public_pem(key), envelope) })
        }
        None => json!({}),
    };
    let image = single_layer_layout(&tag, "application/vnd.dsse.envelope.v1+json", &bytes, annotations);
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
