#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Keyed sigstore bundles over non-OCI blobs, made by `common::sigstore_fixtures` (written from
//! the specs, apart from the verifier): what passes, and that each forgery fails on its check.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse::domain::{Digest, Evidence, EvidenceResult};
use gatehouse::trust::Keyless;
use gatehouse::trust::TrustKeys;
use gatehouse::trust::bundle::{BundleTrust, TransparencyLogKeys, verify_blob_bundle};
use serde_json::{Value, json};

use common::sigstore_fixtures::{self as fx, KeyedBundle};

const BLOB: &[u8] = b"model weights, or any other blob\n";

fn trust_keys() -> TrustKeys {
    TrustKeys::load(&[common::repo_path("fixtures/cosign/cosign.pub")]).unwrap()
}

fn logs_of(made: &KeyedBundle) -> TransparencyLogKeys {
    TransparencyLogKeys::from_pems([("rekor.pub", made.log_public_pem.as_str())]).unwrap()
}

fn made() -> KeyedBundle {
    fx::keyed_bundle(BLOB, &fx::log_key("rekor"))
}

/// A keyed check: no keyless identity is configured.
fn keyed(
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

fn verify(made: &KeyedBundle, bundle: &Value, require_tlog: bool) -> Evidence {
    let digest: Digest = made.digest.parse().unwrap();
    keyed(&trust_keys(), &logs_of(made), &digest, bundle, require_tlog)
}

fn fails_on(evidence: &Evidence, check: &str, reason: &str) {
    assert_eq!(evidence.result, EvidenceResult::Fail, "{}", evidence.reason);
    assert_eq!(evidence.details["check"], json!(check), "{}", evidence.reason);
    assert!(evidence.reason.contains(reason), "{}", evidence.reason);
}

#[test]
fn a_valid_bundle_passes_naming_the_key_and_the_log_entry() {
    let made = made();
    let evidence = verify(&made, &made.bundle, true);
    assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    assert_eq!(evidence.evidence_type, "blob_bundle");
    let key_id = trust_keys().keys()[0].key_id.clone();
    assert_eq!(evidence.details["key_id"], json!(key_id));
    assert_eq!(evidence.details["key_file"], json!("cosign.pub"));
    let entry = &evidence.details["tlog_entries"][0];
    assert_eq!(entry["log_id"], json!(made.log_id_hex));
    assert_eq!(entry["log_index"], json!(fx::LOG_INDEX));
    assert_eq!(entry["integrated_time"], json!(fx::INTEGRATED_TIME));
    assert_eq!(entry["inclusion_proof"], json!(true));
    assert!(evidence.reason.contains(&key_id), "{}", evidence.reason);
}

#[test]
fn every_bundle_version_and_numeric_int64s_pass() {
    let made = made();
    for media_type in [
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
    ] {
        let mut bundle = made.bundle.clone();
        bundle["mediaType"] = json!(media_type);
        let entry = &mut bundle["verificationMaterial"]["tlogEntries"][0];
        entry["logIndex"] = json!(fx::LOG_INDEX);
        entry["integratedTime"] = json!(fx::INTEGRATED_TIME);
        let evidence = verify(&made, &bundle, true);
        assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    }
}

#[test]
fn a_bundle_for_other_bytes_fails_naming_the_digest_check() {
    let made = made();
    let other = fx::keyed_bundle(b"other bytes", &fx::log_key("rekor"));
    let evidence = verify(&made, &other.bundle, true);
    let reason = format!(
        "bundle digest `{}` differs from the artifact's `{}`",
        other.digest, made.digest
    );
    fails_on(&evidence, "message_digest", &reason);
}

#[test]
fn a_tampered_signature_fails_on_the_signature_check() {
    let made = made();
    let mut bundle = made.bundle.clone();
    let sig = STANDARD
        .decode(bundle["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    let mut forged = sig.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    bundle["messageSignature"]["signature"] = json!(STANDARD.encode(forged));
    fails_on(
        &verify(&made, &bundle, true),
        "signature_verifies",
        "signature does not verify with any configured key",
    );
    // A signature by a key that is not configured fails the same way.
    let other = TrustKeys::load(&[common::repo_path("fixtures/cosign/other.pub")]).unwrap();
    let digest: Digest = made.digest.parse().unwrap();
    let evidence = keyed(&other, &logs_of(&made), &digest, &made.bundle, true);
    fails_on(&evidence, "signature_verifies", "does not verify");
}

fn entry_mut(bundle: &mut Value) -> &mut Value {
    &mut bundle["verificationMaterial"]["tlogEntries"][0]
}

#[test]
fn a_tampered_log_entry_fails_on_the_signed_timestamp() {
    let made = made();
    let set_fails = "transparency-log entry's signed timestamp does not verify";
    for (field, value) in [
        ("integratedTime", json!((fx::INTEGRATED_TIME + 1).to_string())),
        ("logIndex", json!((fx::LOG_INDEX + 1).to_string())),
    ] {
        let mut bundle = made.bundle.clone();
        entry_mut(&mut bundle)[field] = value;
        fails_on(&verify(&made, &bundle, true), "tlog_set", set_fails);
    }
    // A body that still names this digest, signature and key but is not what the log signed.
    let mut bundle = made.bundle.clone();
    let body = STANDARD
        .decode(entry_mut(&mut bundle)["canonicalizedBody"].as_str().unwrap())
        .unwrap();
    let mut body: Value = serde_json::from_slice(&body).unwrap();
    body["apiVersion"] = json!("0.0.2");
    entry_mut(&mut bundle)["canonicalizedBody"] = json!(STANDARD.encode(body.to_string()));
    fails_on(&verify(&made, &bundle, true), "tlog_set", set_fails);
    // A SET by another log's key, claiming to be this log.
    let forger = fx::keyed_bundle(BLOB, &fx::log_key("forger"));
    let mut bundle = made.bundle.clone();
    entry_mut(&mut bundle)["inclusionPromise"] =
        forger.bundle["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"].clone();
    fails_on(&verify(&made, &bundle, true), "tlog_set", set_fails);
}

#[test]
fn a_log_entry_for_another_blob_does_not_match_the_bundle() {
    let made = made();
    let other = fx::keyed_bundle(b"other bytes", &fx::log_key("rekor"));
    let mut bundle = made.bundle.clone();
    bundle["verificationMaterial"] = other.bundle["verificationMaterial"].clone();
    fails_on(
        &verify(&made, &bundle, true),
        "tlog_body",
        "transparency-log entry does not match the bundle",
    );
}

#[test]
fn an_unknown_log_id_fails() {
    let made = made();
    let forger = fx::keyed_bundle(BLOB, &fx::log_key("unknown log"));
    let evidence = verify(&made, &forger.bundle, true);
    let reason = format!("transparency-log entry names unknown log `{}`", forger.log_id_hex);
    fails_on(&evidence, "tlog_log_id", &reason);
}

#[test]
fn a_wrong_inclusion_proof_fails() {
    let made = made();
    let mut bundle = made.bundle.clone();
    entry_mut(&mut bundle)["inclusionProof"]["hashes"][0] = json!(STANDARD.encode([0u8; 32]));
    fails_on(
        &verify(&made, &bundle, true),
        "tlog_inclusion_proof",
        "does not lead to its root hash",
    );
}

#[test]
fn no_log_entry_fails_only_when_one_is_required() {
    let made = made();
    let mut bundle = made.bundle.clone();
    bundle["verificationMaterial"]["tlogEntries"] = json!([]);
    fails_on(
        &verify(&made, &bundle, true),
        "tlog_present",
        "no transparency-log entry and one is required",
    );
    let evidence = verify(&made, &bundle, false);
    assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    assert!(
        evidence.reason.contains("not in a transparency log"),
        "{}",
        evidence.reason
    );
}

#[test]
fn a_trusted_root_built_here_loads_its_log_keys() {
    let made = made();
    let logs = TransparencyLogKeys::from_trusted_root_json(&made.trusted_root).unwrap();
    assert_eq!(logs.log_ids().collect::<Vec<_>>(), [made.log_id_hex.as_str()]);
    let digest: Digest = made.digest.parse().unwrap();
    let evidence = keyed(&trust_keys(), &logs, &digest, &made.bundle, true);
    assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    let err = TransparencyLogKeys::from_trusted_root_json(&json!({"tlogs": 3})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed trusted root: `tlogs` must be an array"
    );
}
