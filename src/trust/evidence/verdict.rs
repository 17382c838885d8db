//! What one verification found: the evidence, the material it read (for the signed summary) and
//! the verdict those make — which trust move, and the facts policies may read afterwards.

use serde_json::Value;

use crate::domain::{Artifact, Evidence, EvidenceResult, TrustError, TrustFacts, TrustMove};
use crate::trust::dsse::passing_predicate_types;
use crate::trust::evidence_facts::trust_facts;

/// One piece of trust material a verification read, described where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Where it was found, e.g. `registry/repo:sha256-….sig`.
    pub name: String,
    /// Its content.
    pub content: InputContent,
    /// Its media type, where known.
    pub media_type: Option<String>,
}

/// An input's content: bytes as read, or a JSON document (digested in canonical form).
#[derive(Debug, Clone, PartialEq)]
pub enum InputContent {
    /// Bytes exactly as the registry served them.
    Bytes(Vec<u8>),
    /// An envelope or bundle as a JSON document.
    Json(Value),
}

/// The outcome of one verification of an artifact.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Every record, in order: the digest, the source policy, registry material, content,
    /// attachments, then one failing record per required type that was not checked.
    pub evidence: Vec<Evidence>,
    /// The material read, in the order it was read.
    pub inputs: Vec<Input>,
}

impl Verification {
    /// Whether every record passed.
    pub fn passed(&self) -> bool {
        self.evidence.iter().all(|e| e.result == EvidenceResult::Pass)
    }

    /// The trust move the evidence asks for.
    pub fn trust_move(&self) -> TrustMove {
        if self.passed() {
            TrustMove::VerificationPassed
        } else {
            TrustMove::VerificationFailed
        }
    }

    /// The artifact as this verification leaves it: its trust state moved, and what a policy
    /// reads of its trust (signature, passing attestation types, signers and provenance).
    pub fn applied_to(&self, artifact: &Artifact) -> Result<Artifact, TrustError> {
        let passed = self.passed();
        let mut updated = artifact.clone();
        updated.trust_state = artifact.trust_state.apply(self.trust_move())?;
        updated.signature_verified = self
            .evidence
            .iter()
            .any(|e| e.evidence_type == "signature" && e.result == EvidenceResult::Pass);
        updated.attestations = passing_predicate_types(&self.evidence);
        // Signers and provenance only from a verification that passed as a whole: a failed one
        // clears them, so no stale fact stays visible to policies (fail closed).
        updated.trust_facts = if passed {
            trust_facts(&self.evidence)
        } else {
            TrustFacts::default()
        };
        Ok(updated)
    }

    /// The failing checks, for the audit record's transition reason; `None` when all passed.
    pub fn failure_summary(&self) -> Option<String> {
        if self.passed() {
            return None;
        }
        let failed: Vec<String> = self
            .evidence
            .iter()
            .filter(|e| e.result == EvidenceResult::Fail)
            .map(|e| format!("{}: {}", e.evidence_type, e.reason))
            .collect();
        Some(failed.join("; "))
    }
}
