//! The artifact's trust facts, read from the PASSING evidence of one verification: who signed
//! (`details.identity` or `details.key_id`) and what its SLSA provenance agrees on
//! (`details.provenance`). Failed evidence says nothing here, whatever its details claim.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::domain::{Evidence, EvidenceResult, Provenance, SignerIdentity, TrustFacts};

/// Evidence types whose passing records name a signer.
const SIGNED_EVIDENCE: [&str; 3] = ["signature", "attestation", "blob_bundle"];
/// Evidence types whose passing records may carry a provenance statement.
const STATEMENT_EVIDENCE: [&str; 2] = ["attestation", "blob_bundle"];

/// The trust facts of `evidence`'s passing records.
pub fn trust_facts(evidence: &[Evidence]) -> TrustFacts {
    let passing = || evidence.iter().filter(|e| e.result == EvidenceResult::Pass);
    let signed = || passing().filter(|e| SIGNED_EVIDENCE.contains(&e.evidence_type.as_str()));
    let identities: BTreeSet<SignerIdentity> = signed().filter_map(|e| identity(&e.details)).collect();
    let key_ids: BTreeSet<String> = signed()
        .filter_map(|e| e.details.get("key_id").and_then(Value::as_str))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    let statements = passing()
        .filter(|e| STATEMENT_EVIDENCE.contains(&e.evidence_type.as_str()))
        .filter_map(|e| e.details.get("provenance"))
        .filter_map(|p| serde_json::from_value::<Provenance>(p.clone()).ok());
    TrustFacts {
        signer_identities: identities.into_iter().collect(),
        signer_key_ids: key_ids.into_iter().collect(),
        provenance: Provenance::agreed(statements),
    }
}

/// `details.identity` when it has both an issuer and a subject.
fn identity(details: &Value) -> Option<SignerIdentity> {
    let identity = details.get("identity")?;
    let field = |name| {
        identity
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Some(SignerIdentity {
        issuer: field("issuer")?,
        subject: field("subject")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(evidence_type: &str, result: EvidenceResult, details: Value) -> Evidence {
        Evidence {
            evidence_type: evidence_type.to_owned(),
            result,
            reason: String::new(),
            checked_at: chrono::Utc::now(),
            details,
        }
    }

    fn provenance(builder: &str) -> Value {
        json!({"predicate_type": "https://slsa.dev/provenance/v1", "key_id": "ci-key",
               "provenance": {"builder_id": builder, "source_repository": "https://github.com/octo/web"}})
    }

    #[test]
    fn passing_signers_and_provenance_are_collected_sorted_and_once() {
        let pass = EvidenceResult::Pass;
        let keyless = json!({"identity": {"issuer": "https://issuer", "subject": "ci@example.com"}});
        let facts = trust_facts(&[
            ev("signature", pass, keyless.clone()),
            ev("blob_bundle", pass, keyless),
            ev("attestation", pass, provenance("https://builder")),
            ev("signature", pass, json!({"key_id": "another-key"})),
        ]);
        assert_eq!(
            facts.signer_identities,
            [SignerIdentity {
                issuer: "https://issuer".into(),
                subject: "ci@example.com".into()
            }]
        );
        assert_eq!(facts.signer_key_ids, ["another-key", "ci-key"]);
        let p = facts.provenance.unwrap();
        assert_eq!(p.builder_id.as_deref(), Some("https://builder"));
        assert_eq!(
            p.source_repository.as_deref(),
            Some("https://github.com/octo/web")
        );
    }

    #[test]
    fn failed_or_unrelated_evidence_says_nothing() {
        let fail = EvidenceResult::Fail;
        let claims = json!({"identity": {"issuer": "i", "subject": "s"}, "key_id": "k",
                            "provenance": {"builder_id": "b"}});
        let facts = trust_facts(&[
            ev("signature", fail, claims.clone()),
            ev("attestation", fail, provenance("https://builder")),
            // Only signed evidence names signers, only statements carry provenance.
            ev("source_policy", EvidenceResult::Pass, claims.clone()),
            ev(
                "signature",
                EvidenceResult::Pass,
                json!({"provenance": {"builder_id": "b"}}),
            ),
            // Half an identity is no identity; a malformed provenance is none.
            ev(
                "signature",
                EvidenceResult::Pass,
                json!({"identity": {"issuer": "i"}}),
            ),
            ev(
                "attestation",
                EvidenceResult::Pass,
                json!({"provenance": {"builder_id": 3}}),
            ),
        ]);
        assert_eq!(facts, TrustFacts::default());
        assert_eq!(trust_facts(&[]), TrustFacts::default());
    }

    #[test]
    fn two_provenances_that_disagree_keep_only_what_they_share() {
        let pass = EvidenceResult::Pass;
        let facts = trust_facts(&[
            ev("attestation", pass, provenance("https://builder")),
            ev("attestation", pass, provenance("https://other-builder")),
        ]);
        let p = facts.provenance.unwrap();
        assert_eq!(p.builder_id, None);
        assert_eq!(
            p.source_repository.as_deref(),
            Some("https://github.com/octo/web")
        );
    }
}
