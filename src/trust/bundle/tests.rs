//! The checks that fail before any log entry is read, and the log entry's shape checks.
//! Whole signed bundles are exercised by `tests/blob_bundles.rs`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use sha2::{Digest as _, Sha256};

use super::*;

const BLOB: &[u8] = b"blob";

fn signer() -> SigningKey {
    SigningKey::from_slice(&[3; 32]).unwrap()
}

fn keys() -> TrustKeys {
    let pem = signer()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    TrustKeys::from_pems([("signer.pub", pem.as_str())]).unwrap()
}

fn digest() -> Digest {
    format!("sha256:{}", hex::encode(Sha256::digest(BLOB)))
        .parse()
        .unwrap()
}

/// An unlogged keyed bundle over [`BLOB`].
fn bundle() -> Value {
    let signature: Signature = signer().sign(BLOB);
    json!({
        "mediaType": BUNDLE_MEDIA_TYPES[3],
        "verificationMaterial": { "publicKey": { "hint": "x" }, "tlogEntries": [] },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": STANDARD.encode(Sha256::digest(BLOB)) },
            "signature": STANDARD.encode(signature.to_der().as_bytes()),
        },
    })
}

/// A keyed check: no keyless identity is configured.
fn verify_keyed(
    keys: &TrustKeys,
    logs: &TransparencyLogKeys,
    digest: &Digest,
    bundle: &Value,
    require_tlog: bool,
) -> Evidence {
    let keyless = Keyless::default();
    let trust = BundleTrust {
        keys,
        logs,
        keyless: &keyless,
        require_tlog,
    };
    verify_blob_bundle(&trust, digest, bundle)
}

fn check(bundle: &Value) -> Evidence {
    verify_keyed(&keys(), &TransparencyLogKeys::default(), &digest(), bundle, false)
}

fn fails_on(evidence: &Evidence, check: &str, reason: &str) {
    assert_eq!(evidence.result, EvidenceResult::Fail, "{}", evidence.reason);
    assert_eq!(evidence.details["check"], json!(check), "{}", evidence.reason);
    assert!(evidence.reason.contains(reason), "{}", evidence.reason);
}

#[test]
fn an_unlogged_bundle_passes_when_the_log_is_not_required() {
    let evidence = check(&bundle());
    assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    assert_eq!(evidence.details["key_file"], json!("signer.pub"));
    assert_eq!(evidence.details["tlog_entries"], json!([]));
}

#[test]
fn unknown_media_types_fail_first() {
    let mut b = bundle();
    b["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.4");
    b["messageSignature"] = Value::Null;
    fails_on(
        &check(&b),
        "media_type",
        "`application/vnd.dev.sigstore.bundle+json;version=0.4`",
    );
    fails_on(&check(&json!("bundle")), "media_type", "bundle media type ``");
}

#[test]
fn unreadable_certificates_and_missing_material_fail_on_the_material() {
    let mut b = bundle();
    b["verificationMaterial"] = json!({ "certificate": { "rawBytes": "AAAA" } });
    fails_on(&check(&b), "certificate", "not a DER X.509 certificate");
    b["verificationMaterial"] = json!({ "x509CertificateChain": { "certificates": [] } });
    fails_on(&check(&b), "certificate", "`rawBytes` must be base64");
    b["verificationMaterial"] = json!({});
    fails_on(
        &check(&b),
        "verification_material",
        "neither public-key nor certificate verification material",
    );
}

#[test]
fn the_message_signature_must_be_a_sha256_digest_of_this_artifact() {
    let mut b = bundle();
    b["dsseEnvelope"] = b["messageSignature"].take();
    b.as_object_mut().unwrap().remove("messageSignature");
    fails_on(&check(&b), "message_signature", "dsse envelope");
    let mut b = bundle();
    b["messageSignature"]["messageDigest"]["algorithm"] = json!("SHA2_384");
    fails_on(&check(&b), "message_digest", "`SHA2_256`");
    b["messageSignature"]["messageDigest"] = json!({ "algorithm": "SHA2_256", "digest": "AAAA" });
    fails_on(&check(&b), "message_digest", "not 32 bytes");
    let sha512: Digest = format!("sha512:{}", "a".repeat(128)).parse().unwrap();
    let evidence = verify_keyed(
        &keys(),
        &TransparencyLogKeys::default(),
        &sha512,
        &bundle(),
        false,
    );
    fails_on(
        &evidence,
        "message_digest",
        "differs from the artifact's `sha512:",
    );
}

#[test]
fn the_signature_needs_a_configured_key_and_base64() {
    let evidence = verify_keyed(
        &TrustKeys::default(),
        &TransparencyLogKeys::default(),
        &digest(),
        &bundle(),
        false,
    );
    fails_on(&evidence, "key_configured", "no public key is configured");
    let mut b = bundle();
    b["messageSignature"]["signature"] = json!("%%%");
    fails_on(&check(&b), "signature_encoding", "not base64");
}

#[test]
fn log_entries_of_other_kinds_or_shapes_fail_on_the_entry() {
    let mut b = bundle();
    b["verificationMaterial"]["tlogEntries"] = json!({});
    fails_on(&check(&b), "tlog_entry", "must be an array");
    b["verificationMaterial"]["tlogEntries"] = json!([{ "kindVersion": { "kind": "dsse" } }]);
    fails_on(&check(&b), "tlog_entry", "kind `dsse` is not supported");
    b["verificationMaterial"]["tlogEntries"] = json!([{ "kindVersion": { "kind": "hashedrekord" } }]);
    fails_on(&check(&b), "tlog_entry", "`canonicalizedBody`");
    let many = vec![json!({}); MAX_TLOG_ENTRIES + 1];
    b["verificationMaterial"]["tlogEntries"] = json!(many);
    fails_on(&check(&b), "tlog_entry", "more than");
}
