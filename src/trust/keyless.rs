//! Keyless (Fulcio certificate) signers: the checks every keyless format shares once the
//! caller has read the leaf certificate and the transparency-log entries proving when it signed.
//! In order: the chain to a configured Fulcio CA, the signing time inside the certificate's
//! validity, and the identity against the configured constraints.

use chrono::DateTime;

use super::Failure;
use super::bundle::TransparencyLogKeys;
use super::identity::{Identities, Identity};
use super::trusted_root::{CertificateAuthority, TrustedRoot};
use super::x509::{CODE_SIGNING, Cert};

/// Everything a keyless signature is checked against, loaded once at start-up.
#[derive(Debug, Clone, Default)]
pub struct Keyless {
    authorities: Vec<CertificateAuthority>,
    identities: Identities,
    /// The transparency logs whose entries prove the signing time.
    pub logs: TransparencyLogKeys,
}

impl Keyless {
    /// The trusted root's CAs and logs, and the compiled identities.
    pub fn new(root: &TrustedRoot, identities: Identities) -> Self {
        Self {
            authorities: root.authorities.clone(),
            identities,
            logs: root.logs.clone(),
        }
    }

    /// Whether any identity is configured: without one no keyless signature can pass.
    pub fn is_configured(&self) -> bool {
        !self.identities.is_empty()
    }

    /// Whether keyless signing is configured, else the failure saying it is not.
    pub fn check_configured(&self) -> Result<(), Failure> {
        if self.is_configured() {
            Ok(())
        } else {
            Err(Failure::new(
                "keyless_configured",
                "the signature is keyless (a Fulcio certificate) but no `trust.keyless_identities` is configured",
            ))
        }
    }

    /// The leaf is a code-signing end-entity certificate issued by a configured Fulcio CA;
    /// answers that CA.
    pub fn check_chain(&self, leaf: &Cert) -> Result<&CertificateAuthority, Failure> {
        let chain = |reason: String| Failure::new("chain", format!("certificate chain: {reason}"));
        if let Some(oid) = leaf.unknown_critical_extension() {
            return Err(chain(format!(
                "the signing certificate has an unknown critical extension `{oid}`"
            )));
        }
        if leaf.basic_constraints().map_err(chain)?.is_some_and(|(ca, _)| ca) {
            return Err(chain("the signing certificate is a CA certificate".to_owned()));
        }
        if !leaf.has_extended_key_usage(CODE_SIGNING).map_err(chain)? {
            return Err(chain(
                "the signing certificate is not for code signing (extended key usage)".to_owned(),
            ));
        }
        if self.authorities.is_empty() {
            return Err(chain(
                "the trusted root lists no Fulcio certificate authority".to_owned(),
            ));
        }
        let mut why = Vec::new();
        for authority in &self.authorities {
            match leaf.check_issued_by(authority.issuer()) {
                Ok(()) => return Ok(authority),
                Err(e) => why.push(format!("`{}`: {e}", authority.name)),
            }
        }
        Err(chain(format!(
            "the signing certificate was not issued by a configured Fulcio certificate authority ({})",
            why.join("; ")
        )))
    }

    /// Every logged signing time is inside the leaf's validity and the CA's.
    pub fn check_signed_at(
        &self,
        leaf: &Cert,
        authority: &CertificateAuthority,
        signed_at: &[i64],
    ) -> Result<(), Failure> {
        let (from, until) = leaf.validity();
        for &at in signed_at {
            if !leaf.valid_at(at) {
                return Err(Failure::new(
                    "validity",
                    format!(
                        "signed at {} (the transparency-log time), outside the signing certificate's validity {} to {}",
                        rfc3339(at),
                        rfc3339(from),
                        rfc3339(until)
                    ),
                ));
            }
            if let Some(reason) = authority.not_valid_at(at) {
                return Err(Failure::new(
                    "validity",
                    format!("signed at {} (the transparency-log time), {reason}", rfc3339(at)),
                ));
            }
        }
        Ok(())
    }

    /// The leaf's identity meets a configured constraint.
    pub fn check_identity(&self, identity: &Identity) -> Result<(), Failure> {
        if self.identities.allows(identity) {
            Ok(())
        } else {
            Err(Failure::new(
                "identity",
                format!("certificate identity {identity} matches no configured keyless identity"),
            ))
        }
    }
}

/// Reads the identity, or fails on the identity check.
pub fn identity_of(leaf: &Cert) -> Result<Identity, Failure> {
    Identity::of(leaf).map_err(|reason| Failure::new("identity", format!("certificate identity: {reason}")))
}

fn rfc3339(unix_seconds: i64) -> String {
    DateTime::from_timestamp(unix_seconds, 0).map_or_else(|| unix_seconds.to_string(), |t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::identity::KeylessIdentity;
    use crate::trust::test_support::fulcio::{self, LeafSpec, OIDC_ISSUER, SIGNED_AT, TestFulcio, WORKFLOW};
    use crate::trust::test_support::sigstore_fixtures as fx;

    fn keyless(fulcio: &TestFulcio) -> Keyless {
        let root = TrustedRoot::from_json(&fulcio::trusted_root(&fx::log_key("rekor"), &[fulcio])).unwrap();
        let identities = Identities::compile(&[KeylessIdentity {
            issuer: OIDC_ISSUER.to_owned(),
            subject: Some(WORKFLOW.to_owned()),
            subject_regex: None,
        }])
        .unwrap();
        Keyless::new(&root, identities)
    }

    #[test]
    fn a_fulcio_leaf_chains_and_is_valid_when_logged_inside_its_window() {
        let ca = TestFulcio::new("a");
        let keyless = keyless(&ca);
        let leaf = Cert::from_der(&ca.issue(&LeafSpec::new(OIDC_ISSUER, WORKFLOW)).der).unwrap();
        let authority = keyless.check_chain(&leaf).unwrap();
        assert_eq!(authority.name, ca.uri());
        keyless.check_signed_at(&leaf, authority, &[SIGNED_AT]).unwrap();
        let identity = identity_of(&leaf).unwrap();
        assert_eq!(
            (identity.issuer.as_str(), identity.subject.as_str()),
            (OIDC_ISSUER, WORKFLOW)
        );
        keyless.check_identity(&identity).unwrap();
        // Both ends of the window are inside it; one second beyond is not.
        let (from, until) = leaf.validity();
        keyless.check_signed_at(&leaf, authority, &[from, until]).unwrap();
        let late = keyless
            .check_signed_at(&leaf, authority, &[SIGNED_AT, until + 1])
            .unwrap_err();
        assert_eq!(late.check, "validity");
        assert!(
            late.reason.contains("2024-01-01T00:09:01+00:00"),
            "{}",
            late.reason
        );
    }

    #[test]
    fn chain_failures_name_the_chain_check() {
        let (ca, rogue) = (TestFulcio::new("a"), TestFulcio::new("rogue"));
        let keyless = keyless(&ca);
        let rogue_leaf = Cert::from_der(&rogue.issue(&LeafSpec::new(OIDC_ISSUER, WORKFLOW)).der).unwrap();
        let failure = keyless.check_chain(&rogue_leaf).unwrap_err();
        assert_eq!(failure.check, "chain");
        assert!(
            failure.reason.contains(&format!("`{}`", ca.uri())),
            "{}",
            failure.reason
        );
        // The intermediate itself is a CA, not a signing certificate.
        let intermediate = Cert::from_der(&ca.intermediate_der).unwrap();
        let failure = keyless.check_chain(&intermediate).unwrap_err();
        assert!(
            failure.reason.contains("is a CA certificate"),
            "{}",
            failure.reason
        );
        let no_cas = Keyless::new(&TrustedRoot::default(), Identities::default());
        let leaf = Cert::from_der(&ca.issue(&LeafSpec::new(OIDC_ISSUER, WORKFLOW)).der).unwrap();
        let failure = no_cas.check_chain(&leaf).unwrap_err();
        assert!(
            failure.reason.contains("lists no Fulcio certificate authority"),
            "{}",
            failure.reason
        );
        assert_eq!(no_cas.check_configured().unwrap_err().check, "keyless_configured");
    }

    #[test]
    fn identity_failures_name_the_identity_check() {
        let ca = TestFulcio::new("a");
        let keyless = keyless(&ca);
        let other = LeafSpec::new(
            OIDC_ISSUER,
            "https://github.com/evil/x/.github/workflows/a.yml@refs/heads/main",
        );
        let identity = identity_of(&Cert::from_der(&ca.issue(&other).der).unwrap()).unwrap();
        let failure = keyless.check_identity(&identity).unwrap_err();
        assert_eq!(failure.check, "identity");
        assert!(failure.reason.contains("github.com/evil"), "{}", failure.reason);
    }
}
