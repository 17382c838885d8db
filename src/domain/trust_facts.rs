//! What a passing verification established about an artifact, in the form policies read it:
//! who signed (keyless identities, configured key ids) and what its SLSA provenance says.

use serde::{Deserialize, Serialize};

/// A keyless signer as its Fulcio certificate names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SignerIdentity {
    /// The OIDC issuer (Fulcio's issuer extension).
    pub issuer: String,
    /// The email or URI subject alternative name.
    pub subject: String,
}

/// The facts of an SLSA provenance statement (v1 or v0.2); each is absent when the statement
/// does not state it (or states it in a form that is refused).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// `runDetails.builder.id` (v1) or `builder.id` (v0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_id: Option<String>,
    /// `buildDefinition.buildType` (v1) or `buildType` (v0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
    /// The normalised repository the build's source came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repository: Option<String>,
    /// The git ref built, e.g. `refs/heads/main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    /// The commit built, lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
}

impl Provenance {
    /// Whether it states nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// What every one of `statements` says alike. A field two of them disagree on (or one states
    /// and another does not) is dropped, so a second provenance can only take facts away, never
    /// swap them (fail closed). `None` when there is no statement or nothing is agreed.
    pub fn agreed(statements: impl IntoIterator<Item = Provenance>) -> Option<Provenance> {
        let mut statements = statements.into_iter();
        let mut agreed = statements.next()?;
        for other in statements {
            for (mine, theirs) in [
                (&mut agreed.builder_id, other.builder_id),
                (&mut agreed.build_type, other.build_type),
                (&mut agreed.source_repository, other.source_repository),
                (&mut agreed.source_ref, other.source_ref),
                (&mut agreed.source_commit, other.source_commit),
            ] {
                if *mine != theirs {
                    *mine = None;
                }
            }
        }
        (!agreed.is_empty()).then_some(agreed)
    }
}

/// The facts of an artifact's last passing verification; empty after a failed one, so no stale
/// fact outlives the verdict it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrustFacts {
    /// Keyless signers of passing signatures, attestations and bundles; sorted, each once.
    pub signer_identities: Vec<SignerIdentity>,
    /// Configured keys that signed passing signatures, attestations and bundles; sorted, each once.
    pub signer_key_ids: Vec<String>,
    /// What the passing SLSA provenance attestations agree on.
    pub provenance: Option<Provenance>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stated(builder: &str, repository: Option<&str>) -> Provenance {
        Provenance {
            builder_id: Some(builder.to_owned()),
            source_repository: repository.map(str::to_owned),
            ..Provenance::default()
        }
    }

    #[test]
    fn one_statement_is_taken_whole_and_none_gives_nothing() {
        let one = stated("b", Some("https://git.example/r"));
        assert_eq!(Provenance::agreed([one.clone()]), Some(one));
        assert_eq!(Provenance::agreed([]), None);
        assert_eq!(Provenance::agreed([Provenance::default()]), None);
    }

    #[test]
    fn disagreeing_statements_keep_only_what_they_share() {
        let agreed = Provenance::agreed([
            stated("b", Some("https://git.example/r")),
            stated("b", Some("https://git.example/other")),
        ]);
        assert_eq!(agreed, Some(stated("b", None)));
        // A field one states and another leaves out is not agreed either.
        let agreed = Provenance::agreed([stated("b", Some("https://git.example/r")), stated("b", None)]);
        assert_eq!(agreed, Some(stated("b", None)));
        // Nothing shared: no provenance at all.
        assert_eq!(Provenance::agreed([stated("a", None), stated("b", None)]), None);
    }

    #[test]
    fn facts_read_from_an_empty_or_older_row_are_empty() {
        let facts: TrustFacts = serde_json::from_str("{}").unwrap_or_default();
        assert_eq!(facts, TrustFacts::default());
        assert!(serde_json::from_str::<Provenance>(r#"{"builder": "x"}"#).is_err());
    }
}
