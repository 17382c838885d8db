//! Keyless identities: the OIDC issuer and subject a Fulcio certificate records, and the
//! configured constraints (`[[trust.keyless_identities]]`) one of which it must meet.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// One configured identity: an exact issuer and an exact subject or a subject regex.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeylessIdentity {
    /// The OIDC issuer, compared exactly (`https://token.actions.githubusercontent.com`).
    pub issuer: String,
    /// The certificate subject (email or URI), compared exactly.
    #[serde(default)]
    pub subject: Option<String>,
    /// A regex the whole subject must match (it is anchored at both ends).
    #[serde(default)]
    pub subject_regex: Option<String>,
}

/// The identity a signing certificate names (its OIDC issuer and email or URI subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The OIDC issuer from Fulcio's issuer extension.
    pub issuer: String,
    /// The email or URI subject alternative name.
    pub subject: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` (issuer `{}`)", self.subject, self.issuer)
    }
}

/// A configured identity that cannot be used; `key` is the config key to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key `{key}`: {reason}")]
pub struct IdentityConfigError {
    /// e.g. `trust.keyless_identities[1].subject_regex`.
    pub key: String,
    /// Why.
    pub reason: String,
}

#[derive(Debug, Clone)]
enum Subject {
    Exact(String),
    Pattern(Regex),
}

/// The configured identities, compiled.
#[derive(Debug, Clone, Default)]
pub struct Identities {
    allowed: Vec<(String, Subject)>,
}

impl Identities {
    /// Compiles every constraint; the first unusable one is named by its config key.
    pub fn compile(config: &[KeylessIdentity]) -> Result<Self, IdentityConfigError> {
        let mut allowed = Vec::with_capacity(config.len());
        for (i, identity) in config.iter().enumerate() {
            let error = |field: &str, reason: &str| IdentityConfigError {
                key: format!("trust.keyless_identities[{i}]{field}"),
                reason: reason.to_owned(),
            };
            if identity.issuer.trim().is_empty() {
                return Err(error(".issuer", "must name the OIDC issuer"));
            }
            let subject = match (&identity.subject, &identity.subject_regex) {
                (Some(subject), None) if !subject.is_empty() => Subject::Exact(subject.clone()),
                (None, Some(pattern)) if !pattern.is_empty() => {
                    // Anchored so `.*@example\.com` cannot match `evil@example.com.attacker`.
                    let anchored = format!(r"\A(?:{pattern})\z");
                    let regex = Regex::new(&anchored)
                        .map_err(|e| error(".subject_regex", &format!("not a valid regex: {e}")))?;
                    Subject::Pattern(regex)
                }
                (Some(_), Some(_)) => {
                    return Err(error("", "set `subject` or `subject_regex`, not both"));
                }
                _ => return Err(error("", "needs a non-empty `subject` or `subject_regex`")),
            };
            allowed.push((identity.issuer.clone(), subject));
        }
        Ok(Self { allowed })
    }

    /// Whether no identity is configured (so no keyless signature can pass).
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }

    /// Whether `identity` meets at least one constraint.
    pub fn allows(&self, identity: &Identity) -> bool {
        self.allowed.iter().any(|(issuer, subject)| {
            *issuer == identity.issuer
                && match subject {
                    Subject::Exact(exact) => *exact == identity.subject,
                    Subject::Pattern(regex) => regex.is_match(&identity.subject),
                }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraint(subject: Option<&str>, subject_regex: Option<&str>) -> KeylessIdentity {
        KeylessIdentity {
            issuer: "https://issuer.test".to_owned(),
            subject: subject.map(str::to_owned),
            subject_regex: subject_regex.map(str::to_owned),
        }
    }

    fn id(issuer: &str, subject: &str) -> Identity {
        Identity {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
        }
    }

    #[test]
    fn exact_subjects_and_issuers_match_exactly() {
        let ids = Identities::compile(&[constraint(Some("ci@example.com"), None)]).unwrap();
        assert!(ids.allows(&id("https://issuer.test", "ci@example.com")));
        assert!(!ids.allows(&id("https://issuer.test", "CI@example.com")));
        assert!(!ids.allows(&id("https://issuer.test/", "ci@example.com")));
        assert!(!ids.allows(&id("https://other.test", "ci@example.com")));
    }

    #[test]
    fn regexes_must_match_the_whole_subject() {
        let ids = Identities::compile(&[constraint(None, Some(r"https://github\.com/org/.*"))]).unwrap();
        assert!(ids.allows(&id(
            "https://issuer.test",
            "https://github.com/org/repo/.github/workflows/ci.yml@refs/heads/main"
        )));
        assert!(!ids.allows(&id("https://issuer.test", "x https://github.com/org/repo")));
        // An alternation cannot escape the anchors.
        let ids = Identities::compile(&[constraint(None, Some("a@example.com|b@example.com"))]).unwrap();
        assert!(ids.allows(&id("https://issuer.test", "b@example.com")));
        assert!(!ids.allows(&id("https://issuer.test", "a@example.com.evil")));
        assert!(!ids.allows(&id("https://issuer.test", "evil b@example.com")));
    }

    #[test]
    fn unusable_constraints_name_their_key() {
        let err = |c: KeylessIdentity| Identities::compile(&[constraint(Some("a"), None), c]).unwrap_err();
        let bad_regex = err(constraint(None, Some("(")));
        assert_eq!(bad_regex.key, "trust.keyless_identities[1].subject_regex");
        assert!(bad_regex.reason.contains("not a valid regex"), "{bad_regex}");
        assert_eq!(err(constraint(None, None)).key, "trust.keyless_identities[1]");
        assert!(err(constraint(Some("a"), Some("b"))).reason.contains("not both"));
        assert!(err(constraint(Some(""), None)).reason.contains("non-empty"));
        let mut no_issuer = constraint(Some("a"), None);
        no_issuer.issuer = " ".to_owned();
        assert_eq!(err(no_issuer).key, "trust.keyless_identities[1].issuer");
        assert!(Identities::compile(&[]).unwrap().is_empty());
    }
}
