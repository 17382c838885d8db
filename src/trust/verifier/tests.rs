//! The verifier over bundles made by the test Fulcio, CT log and Rekor of `tests/common`.

use serde_json::Value;

use super::*;
use crate::trust::identity::KeylessIdentity;
use crate::trust::test_support::fulcio::{self, LeafSpec, OIDC_ISSUER, TestFulcio, WORKFLOW};
use crate::trust::test_support::sigstore_fixtures as fx;

const BLOB: &[u8] = b"model weights";

fn root_of(json: &Value) -> LoadedRoot {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trusted_root.json");
    std::fs::write(&file, json.to_string()).unwrap();
    LoadedRoot::load(&file).unwrap()
}

fn keys() -> TrustKeys {
    TrustKeys::from_pems([("cosign.pub", fx::signing_public_pem().as_str())]).unwrap()
}

fn allow(subject: &str) -> Identities {
    Identities::compile(&[KeylessIdentity {
        issuer: OIDC_ISSUER.to_owned(),
        subject: Some(subject.to_owned()),
        subject_regex: None,
    }])
    .unwrap()
}

fn sha256_blob() -> Artifact<'static> {
    Artifact::Sha256(sigstore_verify::crypto::sha256(BLOB))
}

fn bundle(json: &Value) -> Bundle {
    parse_bundle(json).unwrap()
}

fn check(result: Result<Verified, Rejected>) -> &'static str {
    match result {
        Ok(_) => "verified",
        Err(rejected) => rejected.failure.check,
    }
}

#[test]
fn a_logged_keyed_bundle_verifies_with_its_entry_checked() {
    let log = fx::log_key("rekor");
    let keyed = fx::keyed_bundle(BLOB, &log);
    let verifier =
        SigstoreVerifier::new(&root_of(&keyed.trusted_root), keys(), Identities::default(), true).unwrap();
    let verified = verifier.verify(sha256_blob(), &bundle(&keyed.bundle)).unwrap();
    assert!(matches!(verified.signer, Signer::Key { ref file_name, .. } if file_name == "cosign.pub"));
    let Logged::Checked(entries) = &verified.logged else {
        panic!("the log was checked")
    };
    assert_eq!(entries[0]["log_id"], keyed.log_id_hex.as_str());
    // Another blob, another log or a forged checkpoint does not.
    let other = verifier.verify(Artifact::Bytes(b"other"), &bundle(&keyed.bundle));
    assert_eq!(check(other), "digest");
    let stranger = SigstoreVerifier::new(
        &root_of(&fx::trusted_root(&fx::log_key("other"))),
        keys(),
        Identities::default(),
        true,
    )
    .unwrap();
    assert_eq!(
        check(stranger.verify(sha256_blob(), &bundle(&keyed.bundle))),
        "tlog_log_id"
    );
    let mut forged = keyed.bundle.clone();
    let entry = &mut forged["verificationMaterial"]["tlogEntries"][0];
    let proof = &entry["inclusionProof"];
    let root: [u8; 32] = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        proof["rootHash"].as_str().unwrap(),
    )
    .unwrap()
    .try_into()
    .unwrap();
    entry["inclusionProof"]["checkpoint"]["envelope"] =
        json!(fx::checkpoint(&fx::log_key("forger"), fx::TREE_SIZE, &root));
    assert_eq!(
        check(verifier.verify(sha256_blob(), &bundle(&forged))),
        "checkpoint"
    );
}

#[test]
fn an_unlogged_keyed_bundle_needs_the_log_off() {
    let log = fx::log_key("rekor");
    let mut keyed = fx::keyed_bundle(BLOB, &log).bundle;
    keyed["verificationMaterial"]["tlogEntries"] = json!([]);
    let root = LoadedRoot::empty().unwrap();
    let strict = SigstoreVerifier::new(&root, keys(), Identities::default(), true).unwrap();
    assert_eq!(
        check(strict.verify(sha256_blob(), &bundle(&keyed))),
        "tlog_present"
    );
    let lax = SigstoreVerifier::new(&root, keys(), Identities::default(), false).unwrap();
    let verified = lax.verify(sha256_blob(), &bundle(&keyed)).unwrap();
    assert_eq!(verified.logged, Logged::NotChecked);
    let mut details = json!({});
    verified.describe(&mut details);
    assert_eq!(details["tlog"], "not_checked");
    assert_eq!(
        check(lax.verify(Artifact::Bytes(b"other"), &bundle(&keyed))),
        "digest"
    );
    let none = SigstoreVerifier::new(&root, TrustKeys::default(), Identities::default(), false).unwrap();
    assert_eq!(
        check(none.verify(sha256_blob(), &bundle(&keyed))),
        "key_configured"
    );
}

#[test]
fn a_keyless_bundle_verifies_for_an_allowed_identity_only() {
    let (ca, log) = (TestFulcio::new("fulcio"), fx::log_key("rekor"));
    let leaf = ca.issue(&LeafSpec::new(OIDC_ISSUER, WORKFLOW));
    let (json, _) = fulcio::keyless_bundle(BLOB, &leaf, &log);
    let root = root_of(&fulcio::trusted_root(&log, &[&ca]));
    let verifier = SigstoreVerifier::new(&root, TrustKeys::default(), allow(WORKFLOW), true).unwrap();
    let verified = verifier.verify(sha256_blob(), &bundle(&json)).unwrap();
    assert_eq!(
        verified.signer,
        Signer::Identity(Identity {
            issuer: OIDC_ISSUER.to_owned(),
            subject: WORKFLOW.to_owned()
        })
    );
    let other = SigstoreVerifier::new(&root, TrustKeys::default(), allow("someone@else.test"), true).unwrap();
    let rejected = other.verify(sha256_blob(), &bundle(&json)).unwrap_err();
    assert_eq!(rejected.failure.check, "identity");
    assert_eq!(rejected.identity.unwrap().subject, WORKFLOW);
    // A certificate from a CA the root does not list, or without an SCT.
    let rogue = TestFulcio::new("rogue").issue(&LeafSpec::new(OIDC_ISSUER, WORKFLOW));
    let (json, _) = fulcio::keyless_bundle(BLOB, &rogue, &log);
    assert_eq!(check(verifier.verify(sha256_blob(), &bundle(&json))), "chain");
    let no_sct = ca.issue(&LeafSpec {
        sct: false,
        ..LeafSpec::new(OIDC_ISSUER, WORKFLOW)
    });
    let (json, _) = fulcio::keyless_bundle(BLOB, &no_sct, &log);
    assert_eq!(check(verifier.verify(sha256_blob(), &bundle(&json))), "sct");
}
