#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Keyed sigstore bundles over non-OCI blobs, made by `common::sigstore_fixtures` (written from
//! the specs, apart from the verifier): what passes, and that each forgery fails on its check.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse::domain::{Digest, Evidence, EvidenceResult};
use gatehouse::trust::bundle::verify_blob_bundle;
use gatehouse::trust::identity::Identities;
use gatehouse::trust::{LoadedRoot, SigstoreVerifier, TrustKeys};
use serde_json::{Value, json};

use common::sigstore_fixtures::{self as fx, KeyedBundle};

const BLOB: &[u8] = b"model weights, or any other blob\n";

fn trust_keys() -> TrustKeys {
    TrustKeys::load(&[common::repo_path("fixtures/cosign/cosign.pub")]).unwrap()
}

/// The verifier over `root` (a `trusted_root.json` written to a file, as an operator would).
fn verifier_over(root: &Value, keys: TrustKeys, require_tlog: bool) -> SigstoreVerifier {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trusted_root.json");
    std::fs::write(&file, root.to_string()).unwrap();
    let root = LoadedRoot::load(&file).unwrap();
    SigstoreVerifier::new(&root, keys, Identities::default(), require_tlog).unwrap()
}

fn made() -> KeyedBundle {
    fx::keyed_bundle(BLOB, &fx::log_key("rekor"))
}

/// A keyed check: no keyless identity is configured.
fn keyed(keys: TrustKeys, made: &KeyedBundle, bundle: &Value, require_tlog: bool) -> Evidence {
    let digest: Digest = made.digest.parse().unwrap();
    verify_blob_bundle(&verifier_over(&made.trusted_root, keys, require_tlog), &digest, bundle)
}

fn verify(made: &KeyedBundle, bundle: &Value, require_tlog: bool) -> Evidence {
    keyed(trust_keys(), made, bundle, require_tlog)
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
    assert_eq!(evidence.details["tlog"], json!("verified"));
    assert_eq!(evidence.details["check"], json!("verified"));
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
    fails_on(&evidence, "digest", "does not match artifact hash");
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
        "signature",
        "signature does not verify with any configured key",
    );
    // A signature by a key that is not configured fails the same way.
    let other = TrustKeys::load(&[common::repo_path("fixtures/cosign/other.pub")]).unwrap();
    let evidence = keyed(other, &made, &made.bundle, true);
    fails_on(&evidence, "signature", "does not verify");
}

fn entry_mut(bundle: &mut Value) -> &mut Value {
    &mut bundle["verificationMaterial"]["tlogEntries"][0]
}

#[test]
fn a_tampered_log_entry_fails_on_the_signed_timestamp() {
    let made = made();
    let set_fails = "SET verification failed";
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
    fails_on(
        &verify(&made, &bundle, true),
        "tlog_inclusion_proof",
        "inclusion proof",
    );
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
    fails_on(&verify(&made, &bundle, true), "tlog_entry", "not for this signature");
}

#[test]
fn an_unknown_log_id_fails() {
    let made = made();
    let forger = fx::keyed_bundle(BLOB, &fx::log_key("unknown log"));
    let evidence = verify(&made, &forger.bundle, true);
    let reason = format!(
        "names log `{}`, which the trusted root does not list",
        forger.log_id_hex
    );
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
        "inclusion proof verification failed",
    );
}

/// The checkpoint (signed note) the inclusion proof's root rests on.
fn checkpoint_of(bundle: &mut Value) -> &mut Value {
    &mut entry_mut(bundle)["inclusionProof"]["checkpoint"]["envelope"]
}

#[test]
fn a_forged_checkpoint_fails_on_the_checkpoint() {
    let made = made();
    let root = || -> [u8; 32] {
        let proof = &made.bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
        STANDARD
            .decode(proof["rootHash"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    // Signed by another key that claims this log's key hint.
    let mut bundle = made.bundle.clone();
    let forged = fx::checkpoint(&fx::log_key("forger"), fx::TREE_SIZE, &root());
    let hint = &fx::checkpoint(&fx::log_key("rekor"), fx::TREE_SIZE, &root());
    let (forged_body, forged_sig) = forged.rsplit_once(' ').unwrap();
    let (_, real_sig) = hint.rsplit_once(' ').unwrap();
    let mut raw = STANDARD.decode(forged_sig.trim()).unwrap();
    raw[..4].copy_from_slice(&STANDARD.decode(real_sig.trim()).unwrap()[..4]);
    *checkpoint_of(&mut bundle) = json!(format!("{forged_body} {}\n", STANDARD.encode(raw)));
    fails_on(
        &verify(&made, &bundle, true),
        "checkpoint",
        "No valid Rekor signature found on checkpoint",
    );
    // A root hash the proof does not lead to, correctly signed.
    let mut bundle = made.bundle.clone();
    *checkpoint_of(&mut bundle) = json!(fx::checkpoint(&fx::log_key("rekor"), fx::TREE_SIZE, &[7; 32]));
    fails_on(&verify(&made, &bundle, true), "checkpoint", "");
    // A key hint that names no trusted log.
    let mut bundle = made.bundle.clone();
    let note = fx::checkpoint(&fx::log_key("rekor"), fx::TREE_SIZE, &root());
    let (body, sig) = note.rsplit_once(' ').unwrap();
    let mut raw = STANDARD.decode(sig.trim()).unwrap();
    raw[0] ^= 0xff;
    *checkpoint_of(&mut bundle) = json!(format!("{body} {}\n", STANDARD.encode(raw)));
    fails_on(
        &verify(&made, &bundle, true),
        "checkpoint",
        "No matching Rekor key found",
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
        "`trust.require_tlog` requires one",
    );
    let evidence = verify(&made, &bundle, false);
    assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    assert_eq!(evidence.details["tlog"], json!("not_checked"));
    assert!(
        evidence.reason.contains("transparency log not checked"),
        "{}",
        evidence.reason
    );
    // With the log off, a logged bundle passes without its log being consulted.
    let evidence = verify(&made, &made.bundle, false);
    assert_eq!(evidence.details["tlog"], json!("not_checked"));
}

#[test]
fn a_trusted_root_the_verifier_refuses_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("root.json");
    std::fs::write(&file, json!({"tlogs": 3}).to_string()).unwrap();
    let err = LoadedRoot::load(&file).err().unwrap().to_string();
    assert!(err.contains("root.json") && err.contains("not a usable sigstore trusted root"), "{err}");
}
