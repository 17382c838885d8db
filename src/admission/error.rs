//! What the admission service answers when it does not act.

use crate::policy::Decision;
use crate::store::DecisionLogError;
use crate::store::StoreError;

/// Why a request was not carried out; the http layer maps each to a status code.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// Well-formed input that is not valid (422), naming the field.
    #[error("`{field}`: {reason}")]
    Invalid {
        /// The field, as the caller named it.
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// A manifest breaks its schema or a registration rule (422), each fault naming its JSON
    /// pointer.
    #[error("the manifest is invalid")]
    Manifest(Vec<crate::manifest::Fault>),
    /// The request body is malformed (400).
    #[error("{0}")]
    Malformed(String),
    /// The credential presented is not valid (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// A feature the request needs is not configured on this gateway (503).
    #[error("{0}")]
    NotConfigured(String),
    /// Cedar denied the request (403).
    #[error("denied by policy")]
    Denied(Box<Decision>),
    /// No such resource (404).
    #[error("{0}")]
    NotFound(String),
    /// A lifecycle or trust rule forbids the move (409).
    #[error("{0}")]
    Rule(String),
    /// A catalog entry the request relies on is unknown, pending, retired or disabled (409).
    #[error("{0}")]
    Catalog(crate::catalog::Refusal),
    /// The digest is already registered in the repository with other values for these fields,
    /// named as in the request (409).
    #[error("the digest is already registered in this repository with a different {}", .0.join(", "))]
    RegistrationConflict(Vec<String>),
    /// The artifact changed concurrently (409).
    #[error("the artifact was changed by another request; read it again and retry")]
    Conflict,
    /// A dependency (database, decision log) is unavailable (503).
    #[error("a dependency is unavailable")]
    Unavailable,
    /// Stored data is corrupt or an invariant broke (500); details are logged, not shown.
    #[error("internal error")]
    Internal,
}

impl AdmissionError {
    /// A 422 naming `field`.
    pub fn invalid(field: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

impl From<StoreError> for AdmissionError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => Self::Conflict,
            StoreError::NotFound => Self::NotFound("no such artifact".to_owned()),
            StoreError::BadCursor => Self::invalid("cursor", "is not a cursor this server produced"),
            StoreError::Corrupt(detail) => {
                tracing::error!(%detail, "stored data is corrupt");
                Self::Internal
            }
            other => {
                tracing::error!(error = ?other, "database unavailable");
                Self::Unavailable
            }
        }
    }
}

impl From<crate::manifest::ManifestError> for AdmissionError {
    fn from(error: crate::manifest::ManifestError) -> Self {
        match error {
            syntax @ crate::manifest::ManifestError::Syntax { .. } => Self::Malformed(syntax.to_string()),
            crate::manifest::ManifestError::Invalid(faults) => Self::Manifest(faults),
        }
    }
}

impl From<DecisionLogError> for AdmissionError {
    fn from(error: DecisionLogError) -> Self {
        // A decision that cannot be recorded is not acted on: fail closed.
        tracing::error!(%error, "decision log unavailable");
        Self::Unavailable
    }
}

impl From<crate::trust::Unavailable> for AdmissionError {
    fn from(_: crate::trust::Unavailable) -> Self {
        // Logged where the read failed; an unreachable source is "try later", never a verdict.
        Self::Unavailable
    }
}
