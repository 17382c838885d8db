//! Keyless cosign image signatures (cosign `specs/SIGNATURE_SPEC.md`): the Fulcio certificate is
//! the layer's `dev.sigstore.cosign/certificate` annotation (PEM) and the Rekor entry proving
//! when it signed is `dev.sigstore.cosign/bundle`
//! (`{SignedEntryTimestamp, Payload: {body, integratedTime, logIndex, logID}}`). The
//! `dev.sigstore.cosign/chain` annotation is not read: the chain comes from the trusted root.

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::Failure;
use super::bundle::tlog::{self, LogEntry, LoggedSigner};
use super::identity::Identity;
use super::keyless::{Keyless, identity_of};
use super::x509::Cert;

/// Layer annotation holding the signing certificate.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation holding the Rekor bundle.
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// A keyless signer that passed every check before the payload's.
#[derive(Debug)]
pub(super) struct KeylessSigner {
    pub(super) identity: Identity,
    pub(super) authority: String,
    pub(super) log_id: String,
    pub(super) log_index: i64,
    pub(super) integrated_time: i64,
}

/// A keyless layer that failed: the check, how far it got, and the identity it claims if read.
#[derive(Debug)]
pub(super) struct KeylessFailure {
    pub(super) failure: Failure,
    /// Higher got further: configuration, certificate, signature, chain, log, validity, identity.
    pub(super) stage: u8,
    pub(super) identity: Option<Identity>,
}

#[derive(Deserialize)]
struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    set: String,
    #[serde(rename = "Payload")]
    payload: RekorPayload,
}

#[derive(Deserialize)]
struct RekorPayload {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// Checks a layer's keyless material: `signature` over `payload` by the certificate in
/// `certificate_pem`, chained to a configured CA, logged while the certificate was valid, by an
/// allowed identity.
pub(super) fn check(
    keyless: &Keyless,
    payload: &[u8],
    signature: &[u8],
    certificate_pem: &str,
    rekor_bundle: Option<&str>,
) -> Result<KeylessSigner, KeylessFailure> {
    let failed = |stage: u8, identity: Option<&Identity>| {
        let identity = identity.cloned();
        move |failure: Failure| KeylessFailure {
            failure,
            stage,
            identity,
        }
    };
    keyless.check_configured().map_err(failed(0, None))?;
    let leaf = Cert::from_pem(certificate_pem)
        .map_err(|e| Failure::new("certificate", format!("signing certificate: {e}")))
        .map_err(failed(1, None))?;
    // Read first so a failure can say who claims to have signed.
    let claimed = identity_of(&leaf);
    let (authority, entry) = proven(keyless, &leaf, payload, signature, rekor_bundle)
        .map_err(|(stage, failure)| failed(stage, claimed.as_ref().ok())(failure))?;
    let identity = claimed.map_err(failed(6, None))?;
    keyless
        .check_identity(&identity)
        .map_err(failed(6, Some(&identity)))?;
    Ok(KeylessSigner {
        identity,
        authority,
        log_id: entry.log_id,
        log_index: entry.log_index,
        integrated_time: entry.integrated_time,
    })
}

/// The checks between the certificate and the identity, each failure with its stage: the
/// signature, the chain (answering the CA's name), the log entry, the validity at its time.
fn proven(
    keyless: &Keyless,
    leaf: &Cert,
    payload: &[u8],
    signature: &[u8],
    rekor_bundle: Option<&str>,
) -> Result<(String, LogEntry), (u8, Failure)> {
    let key = leaf.public_key().map_err(|e| {
        (
            1,
            Failure::new("certificate", format!("signing certificate: {e}")),
        )
    })?;
    if !key.verify_message(payload, signature) {
        let reason = "signature does not verify with the signing certificate's key";
        return Err((2, Failure::new("signature_verifies", reason)));
    }
    let authority = keyless.check_chain(leaf).map_err(|f| (3, f))?;
    let entry = logged_entry(rekor_bundle).map_err(|f| (4, f))?;
    let hash_hex = hex::encode(Sha256::digest(payload));
    let signer = LoggedSigner::Certificate(leaf.der());
    tlog::check_logged(&keyless.logs, &entry, &signer, &hash_hex, signature, "signature")
        .map_err(|f| (4, f))?;
    keyless
        .check_signed_at(leaf, authority, &[entry.integrated_time])
        .map_err(|f| (5, f))?;
    Ok((authority.name.clone(), entry))
}

/// The Rekor entry of the `dev.sigstore.cosign/bundle` annotation; there must be one, as only
/// the log proves when a short-lived certificate signed.
fn logged_entry(rekor_bundle: Option<&str>) -> Result<LogEntry, Failure> {
    let Some(text) = rekor_bundle else {
        return Err(Failure::new(
            "tlog_present",
            format!(
                "keyless signature has no transparency-log entry (`{REKOR_BUNDLE_ANNOTATION}` annotation)"
            ),
        ));
    };
    let malformed = |what: &str| {
        Failure::new(
            "tlog_entry",
            format!("malformed `{REKOR_BUNDLE_ANNOTATION}` annotation: {what}"),
        )
    };
    let bundle: RekorBundle = serde_json::from_str(text).map_err(|e| malformed(&e.to_string()))?;
    let body = tlog::decode_base64(&bundle.payload.body)
        .ok_or_else(|| malformed("`Payload.body` must be base64"))?;
    let set =
        tlog::decode_base64(&bundle.set).ok_or_else(|| malformed("`SignedEntryTimestamp` must be base64"))?;
    Ok(LogEntry {
        body,
        integrated_time: bundle.payload.integrated_time,
        log_id: bundle.payload.log_id,
        log_index: bundle.payload.log_index,
        set: Some(set),
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use p256::ecdsa::SigningKey;
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::{Digest, Evidence, EvidenceResult};
    use crate::trust::cosign::{SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer, verify_signatures};
    use crate::trust::identity::{Identities, KeylessIdentity};
    use crate::trust::test_support::fulcio::{self, LeafSpec, OIDC_ISSUER, SIGNED_AT, TestFulcio, WORKFLOW};
    use crate::trust::test_support::sigstore_fixtures as fx;
    use crate::trust::{TrustKeys, TrustedRoot};

    fn digest(fill: char) -> Digest {
        format!("sha256:{}", fill.to_string().repeat(64)).parse().unwrap()
    }

    fn payload(signed: &Digest) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "critical": {
                "identity": { "docker-reference": "127.0.0.1:5000/a/b" },
                "image": { "docker-manifest-digest": signed.as_str() },
                "type": "cosign container image signature",
            },
            "optional": null,
        }))
        .unwrap()
    }

    fn exact(issuer: &str, subject: &str) -> KeylessIdentity {
        KeylessIdentity {
            issuer: issuer.to_owned(),
            subject: Some(subject.to_owned()),
            subject_regex: None,
        }
    }

    struct World {
        fulcio: TestFulcio,
        log: SigningKey,
    }

    impl World {
        fn new() -> Self {
            Self {
                fulcio: TestFulcio::new("fulcio"),
                log: fx::log_key("rekor"),
            }
        }

        fn keyless(&self, identities: &[KeylessIdentity]) -> Keyless {
            let root = TrustedRoot::from_json(&fulcio::trusted_root(&self.log, &[&self.fulcio])).unwrap();
            Keyless::new(&root, Identities::compile(identities).unwrap())
        }

        /// A keyless layer for `signed` by a leaf as `spec` says, logged at `logged_at`.
        fn layer(&self, spec: &LeafSpec, signed: &Digest, logged_at: i64) -> SignatureLayer {
            let leaf = self.fulcio.issue(spec);
            let payload = payload(signed);
            let signature = leaf.sign(&payload);
            let bundle = fulcio::cosign_rekor_bundle(&self.log, &leaf, &payload, &signature, logged_at);
            SignatureLayer {
                payload,
                signature_b64: STANDARD.encode(&signature),
                media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
                certificate_pem: Some(leaf.pem),
                rekor_bundle: Some(bundle),
            }
        }
    }

    fn spec() -> LeafSpec {
        LeafSpec::new(OIDC_ISSUER, WORKFLOW)
    }

    fn check(keyless: &Keyless, layer: SignatureLayer) -> Evidence {
        verify_signatures(&TrustKeys::default(), keyless, &digest('a'), &[layer])
    }

    fn fails_on(evidence: &Evidence, check: &str, reason: &str) {
        assert_eq!(evidence.result, EvidenceResult::Fail, "{}", evidence.reason);
        assert_eq!(evidence.details["check"], json!(check), "{}", evidence.reason);
        assert!(evidence.reason.contains(reason), "{}", evidence.reason);
    }

    fn identity_json() -> Value {
        json!({ "issuer": OIDC_ISSUER, "subject": WORKFLOW })
    }

    #[test]
    fn a_keyless_signature_by_an_allowed_identity_passes_naming_it() {
        let world = World::new();
        let keyless = world.keyless(&[exact(OIDC_ISSUER, WORKFLOW)]);
        let evidence = check(&keyless, world.layer(&spec(), &digest('a'), SIGNED_AT));
        assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
        assert_eq!(evidence.evidence_type, "signature");
        assert_eq!(evidence.details["identity"], identity_json());
        assert_eq!(
            evidence.details["certificate_authority"],
            json!(world.fulcio.uri())
        );
        assert_eq!(
            evidence.details["tlog_entry"]["integrated_time"],
            json!(SIGNED_AT)
        );
        assert!(evidence.reason.contains(WORKFLOW), "{}", evidence.reason);
        // The legacy issuer extension and a subject regex work as well.
        let legacy = LeafSpec {
            legacy_issuer: true,
            ..spec()
        };
        let by_regex = world.keyless(&[KeylessIdentity {
            issuer: OIDC_ISSUER.to_owned(),
            subject: None,
            subject_regex: Some(r"https://github\.com/acme/.*".to_owned()),
        }]);
        let evidence = check(&by_regex, world.layer(&legacy, &digest('a'), SIGNED_AT));
        assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
        // An email identity too.
        let email = LeafSpec::new("https://accounts.google.com", "dev@acme.test");
        let keyless = world.keyless(&[exact("https://accounts.google.com", "dev@acme.test")]);
        let evidence = check(&keyless, world.layer(&email, &digest('a'), SIGNED_AT));
        assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    }

    #[test]
    fn another_identity_fails_on_the_identity_check_naming_who_signed() {
        let world = World::new();
        let layer = || world.layer(&spec(), &digest('a'), SIGNED_AT);
        for configured in [
            exact(
                OIDC_ISSUER,
                "https://github.com/acme/other/.github/workflows/x.yml@refs/heads/main",
            ),
            exact("https://accounts.google.com", WORKFLOW),
        ] {
            let evidence = check(&world.keyless(&[configured]), layer());
            fails_on(&evidence, "identity", "matches no configured keyless identity");
            assert_eq!(evidence.details["identity"], identity_json());
        }
        // A regex that matches only part of the subject does not match.
        let partial = KeylessIdentity {
            issuer: OIDC_ISSUER.to_owned(),
            subject: None,
            subject_regex: Some("https://github.com/acme".to_owned()),
        };
        fails_on(
            &check(&world.keyless(&[partial]), layer()),
            "identity",
            "matches no",
        );
    }

    #[test]
    fn a_certificate_from_another_ca_or_not_for_code_signing_fails_on_the_chain() {
        let world = World::new();
        let keyless = world.keyless(&[exact(OIDC_ISSUER, WORKFLOW)]);
        let rogue = World {
            fulcio: TestFulcio::new("rogue"),
            log: fx::log_key("rekor"),
        };
        let evidence = check(&keyless, rogue.layer(&spec(), &digest('a'), SIGNED_AT));
        fails_on(
            &evidence,
            "chain",
            "not issued by a configured Fulcio certificate authority",
        );
        // The identity it claims is still shown.
        assert_eq!(evidence.details["identity"], identity_json());
        let not_code_signing = LeafSpec {
            code_signing: false,
            ..spec()
        };
        let evidence = check(&keyless, world.layer(&not_code_signing, &digest('a'), SIGNED_AT));
        fails_on(&evidence, "chain", "not for code signing");
    }

    #[test]
    fn a_signature_logged_outside_the_certificate_validity_fails_on_validity() {
        let world = World::new();
        let keyless = world.keyless(&[exact(OIDC_ISSUER, WORKFLOW)]);
        for logged_at in [SIGNED_AT - 3600, SIGNED_AT + 3600] {
            let evidence = check(&keyless, world.layer(&spec(), &digest('a'), logged_at));
            fails_on(
                &evidence,
                "validity",
                "outside the signing certificate's validity",
            );
        }
        // Before the CA's `validFor` window: the leaf is valid but the CA was not yet trusted.
        let early = LeafSpec {
            not_before: 1_500_000_000,
            not_after: 1_500_000_600,
            ..spec()
        };
        let evidence = check(&keyless, world.layer(&early, &digest('a'), 1_500_000_100));
        fails_on(&evidence, "validity", "certificate authority");
    }

    #[test]
    fn missing_forged_or_unknown_log_entries_fail_on_the_log() {
        let world = World::new();
        let keyless = world.keyless(&[exact(OIDC_ISSUER, WORKFLOW)]);
        let good = || world.layer(&spec(), &digest('a'), SIGNED_AT);
        let mut unlogged = good();
        unlogged.rekor_bundle = None;
        fails_on(
            &check(&keyless, unlogged),
            "tlog_present",
            "no transparency-log entry",
        );
        // A log time moved into the validity window of another certificate: the SET breaks.
        let mut moved = good();
        let mut bundle: Value = serde_json::from_str(moved.rekor_bundle.as_deref().unwrap()).unwrap();
        bundle["Payload"]["integratedTime"] = json!(SIGNED_AT + 1);
        moved.rekor_bundle = Some(bundle.to_string());
        fails_on(
            &check(&keyless, moved),
            "tlog_set",
            "signed timestamp does not verify",
        );
        // The entry of another signature.
        let mut other = good();
        other.rekor_bundle = world.layer(&spec(), &digest('b'), SIGNED_AT).rekor_bundle;
        fails_on(
            &check(&keyless, other),
            "tlog_body",
            "does not match the signature",
        );
        // Logged by a log the trusted root does not list.
        let mut junk = good();
        junk.rekor_bundle = Some("{}".to_owned());
        fails_on(&check(&keyless, junk), "tlog_entry", "malformed");
        let unknown = World {
            fulcio: world.fulcio,
            log: fx::log_key("unknown"),
        };
        let evidence = check(&keyless, unknown.layer(&spec(), &digest('a'), SIGNED_AT));
        fails_on(&evidence, "tlog_log_id", "unknown log");
    }

    #[test]
    fn the_signed_payload_must_name_this_digest() {
        let world = World::new();
        let keyless = world.keyless(&[exact(OIDC_ISSUER, WORKFLOW)]);
        let evidence = check(&keyless, world.layer(&spec(), &digest('e'), SIGNED_AT));
        fails_on(&evidence, "payload_digest", "signed payload names digest");
        assert_eq!(evidence.details["identity"], identity_json());
    }

    #[test]
    fn tampered_signatures_bad_certificates_and_unconfigured_keyless_fail_naming_the_check() {
        let world = World::new();
        let keyless = world.keyless(&[exact(OIDC_ISSUER, WORKFLOW)]);
        let good = || world.layer(&spec(), &digest('a'), SIGNED_AT);
        let mut tampered = good();
        tampered.payload.push(b' ');
        fails_on(
            &check(&keyless, tampered),
            "signature_verifies",
            "signing certificate's key",
        );
        let mut not_pem = good();
        not_pem.certificate_pem = Some("junk".to_owned());
        fails_on(&check(&keyless, not_pem), "certificate", "not a PEM certificate");
        let unconfigured = world.keyless(&[]);
        let evidence = check(&unconfigured, good());
        fails_on(&evidence, "key_configured", "nor any keyless identity");
        let keys = TrustKeys::from_pems([("k.pub", fx::signing_public_pem().as_str())]).unwrap();
        let evidence = verify_signatures(&keys, &unconfigured, &digest('a'), &[good()]);
        fails_on(&evidence, "keyless_configured", "no `trust.keyless_identities`");
    }
}
