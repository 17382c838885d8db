//! Required evidence (`[trust.required]`): a type that must pass but was never checked at all
//! fails the verification too (a check that ran and failed already does).

use chrono::Utc;
use serde_json::Value;

use super::TrustConfig;
use crate::domain::{Evidence, EvidenceResult};

/// A failing record for each evidence type `config` requires of `artifact_type` that `evidence`
/// lacks (the kind read from a built-in type's prefix: for the command line).
pub fn missing_required(config: &TrustConfig, artifact_type: &str, evidence: &[Evidence]) -> Vec<Evidence> {
    let kind = artifact_type.split('.').next().unwrap_or_default();
    missing_required_for_kind(config, artifact_type, kind, evidence)
}

/// Like `missing_required`, for an artifact whose kind is known (a contributed type's kind is
/// its catalog entry's, not its id's prefix).
pub fn missing_required_for_kind(
    config: &TrustConfig,
    artifact_type: &str,
    kind: &str,
    evidence: &[Evidence],
) -> Vec<Evidence> {
    config
        .required_for_kind(artifact_type, kind)
        .into_iter()
        .filter(|required| !evidence.iter().any(|e| &e.evidence_type == required))
        .map(|required| Evidence {
            evidence_type: required.clone(),
            result: EvidenceResult::Fail,
            reason: format!("a passing `{required}` is required for `{artifact_type}` and none was found"),
            checked_at: Utc::now(),
            details: Value::Null,
        })
        .collect()
}
