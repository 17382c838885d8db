//! The verifier over material a test hands it: forged or missing material is failing evidence,
//! a source that cannot be read is a retry (and leaves nothing remembered), never a verdict.

use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};

use super::*;
use crate::domain::{SourceType, TrustFacts, TrustMove, TrustState};
use crate::trust::cosign::{COSIGN_SIGNATURE_TYPE, SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer};
use crate::trust::cosign_attestations::AttestationLayer;
use crate::trust::cosign_layer::SignerAnnotations;
use crate::trust::referrers::{Lookup, Referrers};
use crate::trust::{ContentFetchConfig, CosignError, Identities, LoadedRoot, TrustKeys};

const IMAGE: &str = "registry.test/team-a/trainer";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

/// A verifier trusting `trusted` (keyed, unlogged), requiring `required` of OCI images.
fn verifier(trusted: &SigningKey, required: &[&str], content: Option<ContentFetcher>) -> Verifier {
    let pem = trusted.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let keys = TrustKeys::from_pems([("release.pub", pem.as_str())]).unwrap();
    let root = LoadedRoot::empty().unwrap();
    let sigstore = SigstoreVerifier::new(&root, keys, Identities::default(), false).unwrap();
    let mut config = TrustConfig::default();
    config.required.insert(
        "oci".to_owned(),
        required.iter().map(|r| (*r).to_owned()).collect(),
    );
    Verifier::new(sigstore, content, VerificationCache::new([7; 32]), config)
}

fn artifact(kind: &str, source_type: &str) -> Artifact {
    let artifact_type = if kind == "oci" { "oci.image" } else { "blob.model" };
    serde_json::from_value(json!({
        "id": "01900000-0000-7000-8000-000000000001",
        "project": "team-a",
        "app": "trainer",
        "artifact_kind": kind,
        "artifact_type": artifact_type,
        "repository": "team-a/trainer",
        "visibility": "tenant",
        "tenant": "acme",
        "digest": format!("sha256:{}", "ab".repeat(32)),
        "tag": "v1",
        "media_type": null,
        "source": { "source_type": source_type, "uri": "registry.test/x" },
        "lifecycle_state": "published",
        "trust_state": "unverified",
        "channels": [],
        "signature_verified": false,
        "attestations": [],
        "created_by": { "type": "user", "id": "olivia" },
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
        "version": 1,
    }))
    .unwrap()
}

fn source_policy() -> Evidence {
    Evidence {
        evidence_type: "source_policy".to_owned(),
        result: EvidenceResult::Pass,
        reason: "allowed".to_owned(),
        checked_at: Utc::now(),
        details: Value::Null,
    }
}

/// A cosign `.sig` layer over `artifact`'s digest, signed by `signer`.
fn signature(signer: &SigningKey, artifact: &Artifact) -> SignatureLayer {
    let payload = serde_json::to_vec(&json!({
        "critical": {
            "identity": { "docker-reference": IMAGE },
            "image": { "docker-manifest-digest": artifact.digest.as_str() },
            "type": COSIGN_SIGNATURE_TYPE,
        },
        "optional": null,
    }))
    .unwrap();
    let sig: Signature = signer.sign(&payload);
    SignatureLayer {
        payload,
        signature_b64: STANDARD.encode(sig.to_der().as_bytes()),
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
        annotations: SignerAnnotations::default(),
    }
}

#[derive(Debug, PartialEq)]
enum TestError {
    Unavailable,
    Store,
}

impl From<Unavailable> for TestError {
    fn from(_: Unavailable) -> Self {
        Self::Unavailable
    }
}

/// Registry material a test sets; `down` makes the named read fail as an unreachable registry.
#[derive(Default)]
struct Registry {
    signatures: Vec<SignatureLayer>,
    attestations: Vec<AttestationLayer>,
    signatures_down: bool,
    referrers_down: AtomicBool,
}

fn down() -> CosignError {
    CosignError::Layout("the registry is unreachable".to_owned())
}

#[async_trait::async_trait]
impl RegistryMaterial for &Registry {
    async fn signatures(&self) -> Result<Vec<SignatureLayer>, CosignError> {
        if self.signatures_down {
            return Err(down());
        }
        Ok(self.signatures.clone())
    }

    async fn referrer_bundles(&self) -> Result<Referrers, CosignError> {
        if self.referrers_down.load(Ordering::SeqCst) {
            return Err(down());
        }
        Ok(Referrers {
            lookup: Lookup::Api,
            bundles: Vec::new(),
            other_subject: 0,
        })
    }

    async fn attestations(&self) -> Result<Vec<AttestationLayer>, CosignError> {
        Ok(self.attestations.clone())
    }
}

#[derive(Default)]
struct TestMaterial {
    registry: Option<Registry>,
    attachments: Vec<Value>,
    attachments_down: bool,
    protocol: Option<SourceType>,
}

#[async_trait::async_trait]
impl Material for TestMaterial {
    type Error = TestError;

    async fn registry(&self) -> Result<Option<Box<dyn RegistryMaterial + '_>>, TestError> {
        Ok(self
            .registry
            .as_ref()
            .map(|r| Box::new(r) as Box<dyn RegistryMaterial + '_>))
    }

    async fn source_protocol(&self, _: &SourceType) -> Option<SourceType> {
        self.protocol.clone()
    }

    async fn attachments(&self) -> Result<Vec<Value>, TestError> {
        if self.attachments_down {
            return Err(TestError::Store);
        }
        Ok(self.attachments.clone())
    }
}

fn types(run: &Verification) -> Vec<(&str, EvidenceResult)> {
    run.evidence
        .iter()
        .map(|e| (e.evidence_type.as_str(), e.result))
        .collect()
}

#[tokio::test]
async fn a_trusted_signature_passes_and_the_verdict_moves_to_verified() {
    let signer = key(1);
    let a = artifact("oci", "oci_registry");
    let material = TestMaterial {
        registry: Some(Registry {
            signatures: vec![signature(&signer, &a)],
            ..Registry::default()
        }),
        ..TestMaterial::default()
    };
    let run = verifier(&signer, &["signature"], None)
        .verify(&a, IMAGE, source_policy(), &material)
        .await
        .unwrap();
    use EvidenceResult::Pass;
    assert_eq!(
        types(&run),
        [
            ("digest_format", Pass),
            ("source_policy", Pass),
            ("signature", Pass)
        ]
    );
    assert!(run.passed() && run.failure_summary().is_none());
    let updated = run.applied_to(&a).unwrap();
    assert_eq!(updated.trust_state, TrustState::Verified);
    assert!(updated.signature_verified);
    let sig_tag = signature_tag(&a.digest);
    assert_eq!(run.inputs.len(), 1);
    assert_eq!(run.inputs[0].name, format!("{IMAGE}:{sig_tag}"));
    assert_eq!(
        run.inputs[0].media_type.as_deref(),
        Some(SIMPLE_SIGNING_MEDIA_TYPE)
    );
}

#[tokio::test]
async fn a_forged_signature_fails_and_clears_every_trust_fact() {
    let a = artifact("oci", "oci_registry");
    let material = TestMaterial {
        registry: Some(Registry {
            // Signed by a key nobody configured.
            signatures: vec![signature(&key(2), &a)],
            ..Registry::default()
        }),
        ..TestMaterial::default()
    };
    let run = verifier(&key(1), &[], None)
        .verify(&a, IMAGE, source_policy(), &material)
        .await
        .unwrap();
    let signature = &run.evidence[2];
    assert_eq!(
        (signature.evidence_type.as_str(), signature.result),
        ("signature", EvidenceResult::Fail)
    );
    assert_eq!(run.trust_move(), TrustMove::VerificationFailed);
    let summary = run.failure_summary().unwrap();
    assert!(summary.starts_with("signature: "), "{summary}");
    let mut stale = a.clone();
    stale.signature_verified = true;
    stale.trust_facts.signer_key_ids = vec!["old".to_owned()];
    let updated = run.applied_to(&stale).unwrap();
    assert_eq!(updated.trust_state, TrustState::FailedVerification);
    assert!(!updated.signature_verified);
    assert_eq!(updated.trust_facts, TrustFacts::default());
}

#[tokio::test]
async fn a_required_signature_with_no_registry_to_read_it_from_fails() {
    let a = artifact("oci", "oci_registry");
    let run = verifier(&key(1), &["signature", "attestation"], None)
        .verify(&a, IMAGE, source_policy(), &TestMaterial::default())
        .await
        .unwrap();
    use EvidenceResult::{Fail, Pass};
    assert_eq!(
        types(&run),
        [
            ("digest_format", Pass),
            ("source_policy", Pass),
            ("signature", Fail),
            ("attestation", Fail),
        ]
    );
    assert!(run.evidence[2].reason.contains("no registry is configured"));
    assert!(run.evidence[3].reason.contains("is required for `oci.image`"));
    assert!(run.inputs.is_empty());
}

#[tokio::test]
async fn a_forged_attachment_fails_and_is_named_as_an_input() {
    let a = artifact("oci", "oci_registry");
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": "x", "digest": { "sha256": a.digest.hex() } }],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    });
    let envelope = json!({
        "payloadType": "application/vnd.in-toto+json",
        "payload": STANDARD.encode(serde_json::to_vec(&statement).unwrap()),
        "signatures": [{ "keyid": "", "sig": STANDARD.encode(b"forged") }],
    });
    let material = TestMaterial {
        attachments: vec![envelope],
        ..TestMaterial::default()
    };
    let run = verifier(&key(1), &[], None)
        .verify(&a, IMAGE, source_policy(), &material)
        .await
        .unwrap();
    let last = run.evidence.last().unwrap();
    assert_eq!(
        (last.evidence_type.as_str(), last.result),
        ("attestation", EvidenceResult::Fail)
    );
    assert!(run.applied_to(&a).unwrap().attestations.is_empty());
    assert_eq!(
        run.inputs[0].name,
        format!("gatehouse:artifacts/{}/attachments/0", a.id)
    );
    assert_eq!(run.inputs[0].media_type.as_deref(), Some(DSSE_MEDIA_TYPE));
}

#[tokio::test]
async fn a_blob_whose_source_names_no_protocol_fails_closed() {
    let a = artifact("blob", "minio_eu");
    let config = ContentFetchConfig {
        enabled: true,
        ..ContentFetchConfig::default()
    };
    let content = ContentFetcher::new(&config, None).unwrap();
    assert!(content.is_some());
    let run = verifier(&key(1), &[], content)
        .verify(&a, IMAGE, source_policy(), &TestMaterial::default())
        .await
        .unwrap();
    let last = run.evidence.last().unwrap();
    assert_eq!(
        (last.evidence_type.as_str(), last.result),
        ("blob_digest", EvidenceResult::Fail)
    );
    assert_eq!(last.details["check"], json!("no_protocol"));
}

#[tokio::test]
async fn an_unreadable_registry_is_a_retry_and_the_next_run_gives_the_verdict() {
    let signer = key(1);
    let a = artifact("oci", "oci_registry");
    let verifier = verifier(&signer, &["signature"], None);
    let material = TestMaterial {
        registry: Some(Registry {
            signatures: vec![signature(&signer, &a)],
            referrers_down: AtomicBool::new(true),
            ..Registry::default()
        }),
        ..TestMaterial::default()
    };
    let outcome = verifier.verify(&a, IMAGE, source_policy(), &material).await;
    assert_eq!(outcome.err(), Some(TestError::Unavailable));
    // The signature check waits for the referrers: nothing was checked or remembered.
    assert_eq!(verifier.cache.counts(), (0, 0));

    if let Some(registry) = &material.registry {
        registry.referrers_down.store(false, Ordering::SeqCst);
    }
    let run = verifier
        .verify(&a, IMAGE, source_policy(), &material)
        .await
        .unwrap();
    assert!(run.passed(), "{:?}", run.failure_summary());
}

#[tokio::test]
async fn unreadable_signatures_or_attachments_are_the_callers_error_not_evidence() {
    let a = artifact("oci", "oci_registry");
    let verifier = verifier(&key(1), &["signature"], None);
    let registry_down = TestMaterial {
        registry: Some(Registry {
            signatures_down: true,
            ..Registry::default()
        }),
        ..TestMaterial::default()
    };
    let outcome = verifier.verify(&a, IMAGE, source_policy(), &registry_down).await;
    assert_eq!(outcome.err(), Some(TestError::Unavailable));
    let store_down = TestMaterial {
        attachments_down: true,
        ..TestMaterial::default()
    };
    let outcome = verifier.verify(&a, IMAGE, source_policy(), &store_down).await;
    assert_eq!(outcome.err(), Some(TestError::Store));
}
