//! Required evidence (`[trust.required]`): a type that must pass but was never checked at all
//! fails the verification too (a check that ran and failed already does).

use chrono::Utc;
use serde_json::Value;

use super::TrustConfig;
use crate::domain::{Evidence, EvidenceResult};

/// A failing record for each evidence type `config` requires of `artifact_type` that `evidence`
/// lacks.
pub fn missing_required(config: &TrustConfig, artifact_type: &str, evidence: &[Evidence]) -> Vec<Evidence> {
    config
        .required_for(artifact_type)
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
