//! The one place sigstore material is verified: a `sigstore_verify::Verifier` built once from the
//! trusted root, the configured managed keys, and the keyless identities. Every format the gateway
//! reads (blob bundles, referrer bundles, model-signing bundles, cosign's `.sig`/`.att` layers)
//! becomes a `sigstore_types::Bundle` and comes here; failures carry the agreed check names.

mod checks;
mod outcome;
mod parse;
mod root;
mod unlogged;

use serde_json::{Value, json};
use sigstore_verify::types::bundle::VerificationMaterialContent;
use sigstore_verify::types::{Bundle, DerPublicKey, Sha256Hash, SignatureContent, Statement};
use sigstore_verify::{Error, PublicKeyVerificationPolicy, VerificationPolicy, Verifier};

pub use checks::check_of;
pub use outcome::{Artifact, Logged, Rejected, Signer, Verified};
pub use parse::{BUNDLE_MEDIA_TYPES, parse_bundle, sha256_of};
pub use root::{LoadedRoot, TrustedRootError};

use super::Failure;
use super::identity::{Identities, Identity};
use super::keys::{NamedKey, TrustKeys};

/// The verifier and what it authorizes, built once at start-up.
pub struct SigstoreVerifier {
    verifier: Verifier,
    /// Ids of the trusted root's transparency logs, to name an entry from another log.
    log_ids: Vec<Vec<u8>>,
    keys: TrustKeys,
    identities: Identities,
    require_tlog: bool,
}

impl SigstoreVerifier {
    /// A verifier over `root` that authorizes `keys` and `identities`; the crate refusing the root
    /// is an error (start-up stops on it).
    pub fn new(
        root: &LoadedRoot,
        keys: TrustKeys,
        identities: Identities,
        require_tlog: bool,
    ) -> Result<Self, Error> {
        Ok(Self {
            verifier: Verifier::new(&root.root)?,
            log_ids: root
                .root
                .tlogs
                .iter()
                .map(|log| log.log_id.key_id.as_bytes().to_vec())
                .collect(),
            keys,
            identities,
            require_tlog,
        })
    }

    /// The configured managed keys (also used for bare DSSE envelopes).
    pub fn keys(&self) -> &TrustKeys {
        &self.keys
    }

    /// Whether keyless signatures can pass (some identity is configured).
    pub fn keyless_configured(&self) -> bool {
        !self.identities.is_empty()
    }

    /// Whether anything can pass: a key or an identity.
    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty() || self.keyless_configured()
    }

    /// Whether keyed signatures need a log entry.
    pub fn require_tlog(&self) -> bool {
        self.require_tlog
    }

    /// Verifies `bundle` over `artifact`: keyed with a configured key, or keyless by an allowed
    /// identity.
    pub fn verify(&self, artifact: Artifact<'_>, bundle: &Bundle) -> Result<Verified, Rejected> {
        match &bundle.verification_material.content {
            VerificationMaterialContent::PublicKey(_) => self.verify_keyed(artifact, bundle),
            VerificationMaterialContent::Certificate(_)
            | VerificationMaterialContent::X509CertificateChain { .. } => {
                self.verify_keyless(artifact, bundle)
            }
            _ => Err(Failure::new(
                "bundle_format",
                "bundle has neither public-key nor certificate verification material",
            )
            .into()),
        }
    }

    fn verify_keyed(&self, artifact: Artifact<'_>, bundle: &Bundle) -> Result<Verified, Rejected> {
        if self.keys.is_empty() {
            return Err(Failure::new("key_configured", "no public key is configured").into());
        }
        if bundle.verification_material.tlog_entries.is_empty() {
            if self.require_tlog {
                return Err(Failure::new(
                    "tlog_present",
                    "the signature has no transparency-log entry and `trust.require_tlog` requires one",
                )
                .into());
            }
            // The crate refuses a bundle with neither a log entry nor a timestamp even when
            // told to skip the log, so an unlogged keyed signature is checked with its primitives.
            let key = unlogged::verify(&self.keys, artifact, bundle)?;
            return Ok(Verified {
                signer: signer_of(key),
                logged: Logged::NotChecked,
            });
        }
        let mut refused = None;
        for key in self.keys.keys() {
            let policy = PublicKeyVerificationPolicy::new(DerPublicKey::new(key.spki_der.clone()));
            let policy = if self.require_tlog {
                policy
            } else {
                policy.skip_tlog_unsafe()
            };
            match self.verifier.verify(artifact, bundle, &policy) {
                Ok(_) => {
                    let logged = if self.require_tlog {
                        Logged::Checked(entries_of(bundle))
                    } else {
                        Logged::NotChecked
                    };
                    return Ok(Verified {
                        signer: signer_of(key),
                        logged,
                    });
                }
                // Another configured key may be the one that signed.
                Err(Error::SignatureInvalid(_)) => {}
                Err(error) => {
                    refused.get_or_insert(error);
                }
            }
        }
        Err(match refused {
            Some(error) => self.failure_of(&error, artifact, bundle).into(),
            None => match unconfigured_hint(&self.keys, bundle) {
                Some(hint) => Failure::new(
                    "key_configured",
                    format!("signed by key `{hint}`, which is not a configured key"),
                )
                .into(),
                None => Failure::new("signature", "signature does not verify with any configured key").into(),
            },
        })
    }

    fn verify_keyless(&self, artifact: Artifact<'_>, bundle: &Bundle) -> Result<Verified, Rejected> {
        let claimed = claimed_identity(bundle);
        let rejected = |failure: Failure| Rejected {
            failure,
            identity: claimed.clone(),
        };
        if !self.keyless_configured() {
            return Err(rejected(Failure::new(
                "keyless_configured",
                "the signature is keyless (a Fulcio certificate) but no `trust.keyless_identities` is configured",
            )));
        }
        if bundle.verification_material.tlog_entries.is_empty() {
            return Err(rejected(Failure::new(
                "tlog_present",
                "keyless signature has no transparency-log entry",
            )));
        }
        // Identities are matched here (exact or anchored regex), which the crate cannot do.
        let result = self
            .verifier
            .verify(artifact, bundle, &VerificationPolicy::any_identity())
            .map_err(|e| rejected(self.failure_of(&e, artifact, bundle)))?;
        let (Some(subject), Some(issuer)) = (result.identity(), result.issuer()) else {
            return Err(rejected(Failure::new(
                "identity",
                "the signing certificate names no OIDC issuer or no email or URI subject",
            )));
        };
        let identity = Identity {
            issuer: issuer.to_owned(),
            subject: subject.as_str().to_owned(),
        };
        if !self.identities.allows(&identity) {
            return Err(rejected(Failure::new(
                "identity",
                format!("certificate identity {identity} matches no configured keyless identity"),
            )));
        }
        Ok(Verified {
            signer: Signer::Identity(identity),
            logged: Logged::Checked(entries_of(bundle)),
        })
    }

    /// The check a crate error failed. A SET or checkpoint that no trusted log key verifies
    /// because the entry names a log the root does not list is reported as that; an artifact
    /// mismatch when the signed content does name the artifact can only be the log entry's.
    fn failure_of(&self, error: &Error, artifact: Artifact<'_>, bundle: &Bundle) -> Failure {
        let mut check = check_of(error);
        // The chain is checked at the logged signing time, so a leaf that was not valid then
        // fails there first; that is the certificate's validity, not its issuer.
        if check == "chain" && signed_outside_validity(bundle) {
            return Failure::new(
                "validity",
                format!("signed outside the signing certificate's validity: {error}"),
            );
        }
        if check == "digest" && content_names(bundle, &artifact.sha256()) {
            return Failure::new(
                "tlog_entry",
                format!("the transparency-log entry is not for this signature: {error}"),
            );
        }
        if let (SignatureContent::MessageSignature(message), "digest") = (&bundle.content, check)
            && let Some(declared) = &message.message_digest
        {
            return Failure::new(
                check,
                format!(
                    "bundle digest `sha256:{}` differs from the artifact's `sha256:{}`",
                    hex::encode(declared.digest.as_bytes()),
                    artifact.sha256().to_hex()
                ),
            );
        }
        let unknown_log = bundle
            .verification_material
            .tlog_entries
            .iter()
            .find(|e| !self.log_ids.iter().any(|id| id == e.log_id.key_id.as_bytes()));
        if let ("tlog_set" | "checkpoint", Some(entry)) = (check, unknown_log) {
            check = "tlog_log_id";
            let log_id = hex::encode(entry.log_id.key_id.as_bytes());
            return Failure::new(
                check,
                format!("transparency-log entry names log `{log_id}`, which the trusted root does not list"),
            );
        }
        Failure::new(check, error.to_string())
    }
}

/// Whether a logged signing time of the bundle falls outside its certificate's validity.
fn signed_outside_validity(bundle: &Bundle) -> bool {
    let Some(info) = bundle
        .signing_certificate()
        .and_then(|cert| sigstore_verify::crypto::parse_certificate_info(cert).ok())
    else {
        return false;
    };
    bundle
        .verification_material
        .tlog_entries
        .iter()
        .filter_map(|entry| entry.integrated_time)
        .any(|time| time < info.not_before || time > info.not_after)
}

/// Whether the bundle's signed content is about `sha256`: the declared message digest, or a
/// subject of the DSSE statement.
fn content_names(bundle: &Bundle, sha256: &Sha256Hash) -> bool {
    match &bundle.content {
        SignatureContent::MessageSignature(message) => message
            .message_digest
            .as_ref()
            .is_some_and(|declared| declared.digest.as_bytes() == sha256.as_bytes()),
        SignatureContent::DsseEnvelope(envelope) => {
            serde_json::from_slice::<Statement>(envelope.payload.as_bytes())
                .is_ok_and(|s| s.matches_sha256(sha256))
        }
        _ => false,
    }
}

/// The bundle's public-key hint when it names none of the configured keys. The hint is not
/// authenticated, so it only chooses the words of a failure (a signature that does not verify
/// with any configured key fails either way). Hints are the key's SHA-256 fingerprint, as
/// base64 (sigstore clients), hex or our `sha256:<hex>` key id.
fn unconfigured_hint<'b>(keys: &TrustKeys, bundle: &'b Bundle) -> Option<&'b str> {
    use base64::Engine as _;
    let VerificationMaterialContent::PublicKey(key) = &bundle.verification_material.content else {
        return None;
    };
    let hint = key.hint.trim();
    if hint.is_empty() {
        return None;
    }
    let fingerprint = base64::engine::general_purpose::STANDARD
        .decode(hint)
        .ok()
        .filter(|bytes| bytes.len() == 32)
        .map(hex::encode)
        .unwrap_or_else(|| hint.trim_start_matches("sha256:").to_ascii_lowercase());
    let configured = keys
        .keys()
        .iter()
        .any(|k| k.key_id.trim_start_matches("sha256:") == fingerprint);
    (!configured).then_some(hint)
}

fn signer_of(key: &NamedKey) -> Signer {
    Signer::Key {
        key_id: key.key_id.clone(),
        file_name: key.file_name.clone(),
    }
}

/// The identity a bundle's certificate claims, read before (and whatever) the checks say.
fn claimed_identity(bundle: &Bundle) -> Option<Identity> {
    let info = sigstore_verify::crypto::parse_certificate_info(bundle.signing_certificate()?).ok()?;
    Some(Identity {
        issuer: info.issuer?,
        subject: info.identity?.as_str().to_owned(),
    })
}

/// The log entries of a verified bundle, as recorded in evidence.
fn entries_of(bundle: &Bundle) -> Vec<Value> {
    bundle
        .verification_material
        .tlog_entries
        .iter()
        .map(|entry| {
            json!({
                "log_id": hex::encode(entry.log_id.key_id.as_bytes()),
                "log_index": entry.log_index.get(),
                "kind": format!("{}/{}", entry.kind_version.kind(), entry.kind_version.version()),
                "integrated_time": entry.integrated_time.map(|t| t.as_second()),
                "inclusion_proof": entry.inclusion_proof.is_some(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
