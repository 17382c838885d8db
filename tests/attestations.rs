//! The attestation verifier against envelopes made by PyPI securesystemslib
//! (`fixtures/attestations/make.py`), not by the code under test.

#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns: a failed unwrap is the assertion"
)]

use std::path::PathBuf;

use gatehouse::domain::{Digest, Evidence, EvidenceResult};
use gatehouse::trust::dsse::{SignatureKeys, passing_predicate_types, verify_attestation};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use sha2::{Digest as _, Sha256};

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const SPDX: &str = "https://spdx.dev/Document";
const BUILDER: &str = "https://github.com/actions/runner";

/// The fixture's public key, named the way configured keys are: `sha256:<hex of DER SPKI>`.
struct FixtureKey {
    key: VerifyingKey,
    key_id: String,
}

impl FixtureKey {
    fn load() -> Self {
        let pem = std::fs::read_to_string(fixture("attest.pub.pem")).unwrap();
        let key = VerifyingKey::from_public_key_pem(&pem).unwrap();
        let der = key.to_public_key_der().unwrap();
        let key_id = format!("sha256:{}", hex::encode(Sha256::digest(der.as_bytes())));
        Self { key, key_id }
    }
}

impl SignatureKeys for FixtureKey {
    fn verify(&self, message: &[u8], sig: &[u8]) -> Option<String> {
        // securesystemslib's ecdsa-sha2-nistp256 signs with pyca/cryptography: DER signatures.
        let sig = Signature::from_der(sig).ok()?;
        self.key.verify(message, &sig).ok().map(|()| self.key_id.clone())
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("fixtures/attestations")
        .join(name)
}

/// The attested artifact: the bytes `gatehouse attested artifact`.
fn artifact() -> Digest {
    let hex = hex::encode(Sha256::digest(b"gatehouse attested artifact"));
    format!("sha256:{hex}").parse().unwrap()
}

fn verify(name: &str) -> Evidence {
    let envelope: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap();
    verify_attestation(&FixtureKey::load(), &artifact(), &envelope)
}

#[test]
fn slsa_provenance_v1_passes_with_predicate_type_builder_and_key() {
    let evidence = verify("slsa-provenance-v1.dsse.json");
    assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    assert_eq!(evidence.evidence_type, "attestation");
    assert_eq!(evidence.details["predicate_type"], SLSA_V1);
    assert_eq!(evidence.details["builder_id"], BUILDER);
    assert_eq!(evidence.details["key_id"], FixtureKey::load().key_id.as_str());
}

#[test]
fn slsa_provenance_v02_in_a_v01_statement_passes_with_builder() {
    let evidence = verify("slsa-provenance-v02.dsse.json");
    assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    assert_eq!(
        evidence.details["predicate_type"],
        "https://slsa.dev/provenance/v0.2"
    );
    assert_eq!(evidence.details["builder_id"], BUILDER);
}

#[test]
fn the_signers_keyid_hint_matches_our_key_id_convention() {
    let envelope: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("slsa-provenance-v1.dsse.json")).unwrap()).unwrap();
    assert_eq!(
        envelope["signatures"][0]["keyid"],
        FixtureKey::load().key_id.as_str()
    );
}

#[test]
fn sbom_passes_with_its_predicate_type_and_no_builder() {
    let evidence = verify("sbom-spdx.dsse.json");
    assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    assert_eq!(evidence.details["predicate_type"], SPDX);
    assert!(evidence.details.get("builder_id").is_none());
}

#[test]
fn wrong_subject_fails_naming_the_digest() {
    let evidence = verify("wrong-subject.dsse.json");
    assert_eq!(evidence.result, EvidenceResult::Fail);
    assert_eq!(
        evidence.reason,
        format!(
            "statement subject digests do not include `{}`",
            artifact().as_str()
        )
    );
}

#[test]
fn tampered_payload_and_unknown_key_fail_on_the_signature() {
    for name in ["tampered.dsse.json", "other-key.dsse.json"] {
        let evidence = verify(name);
        assert_eq!(evidence.result, EvidenceResult::Fail, "{name}");
        assert_eq!(
            evidence.reason, "signature does not verify with any configured key",
            "{name}"
        );
    }
}

#[test]
fn passing_predicate_types_over_a_mix_of_fixtures() {
    let evidence: Vec<Evidence> = [
        "sbom-spdx.dsse.json",
        "slsa-provenance-v1.dsse.json",
        "wrong-subject.dsse.json",
        "tampered.dsse.json",
        "other-key.dsse.json",
        "slsa-provenance-v1.dsse.json",
    ]
    .into_iter()
    .map(verify)
    .collect();
    assert_eq!(passing_predicate_types(&evidence), [SLSA_V1, SPDX]);
    // Only failures: no attestation counts, so a policy demanding provenance denies.
    assert!(passing_predicate_types(&evidence[2..5]).is_empty());
}
