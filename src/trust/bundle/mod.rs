//! Sigstore bundles (protobuf-specs `sigstore_bundle.proto`, JSON form) over a non-OCI blob,
//! keyed or keyless: the `blob_bundle` evidence. Written here rather than taken from the
//! `sigstore` crate, whose verifier neither checks the log entry's signed timestamp nor takes
//! public-key material.

pub(super) mod tlog;

use chrono::Utc;
use serde_json::{Value, json};

use crate::domain::{Digest, Evidence, EvidenceResult};

use super::Failure;
use super::identity::Identity;
use super::keyless::{Keyless, identity_of};
use super::keys::{NamedKey, TrustKeys};
use super::x509::Cert;
use tlog::{LogEntry, LoggedSigner};

pub use tlog::{TransparencyLogKeyError, TransparencyLogKeys};

/// Bundle media types accepted: v0.1 to v0.3, including v0.3's older spelling.
pub const BUNDLE_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
];
/// Most log entries checked per bundle: sigstore writes one.
pub const MAX_TLOG_ENTRIES: usize = 8;

fn failure(check: &'static str, reason: impl Into<String>) -> Failure {
    Failure::new(check, reason)
}

/// What a passing log entry showed.
struct LoggedAt {
    log_id: String,
    log_index: i64,
    integrated_time: i64,
    inclusion_proof: bool,
}

/// Who signed a bundle that passed.
enum SignedBy<'k> {
    Key(&'k NamedKey),
    Certificate { identity: Identity, authority: String },
}

/// The trust a bundle is checked against.
pub struct BundleTrust<'a> {
    /// Configured public keys (keyed bundles).
    pub keys: &'a TrustKeys,
    /// Transparency-log keys (keyed bundles' log entries).
    pub logs: &'a TransparencyLogKeys,
    /// Fulcio CAs, logs and identities (keyless bundles).
    pub keyless: &'a Keyless,
    /// Whether a keyed bundle must carry a log entry (a keyless one always must).
    pub require_tlog: bool,
}

/// Checks a bundle for `digest`; one `blob_bundle` evidence record naming the check that
/// failed, or the signer (key or certificate identity) and log entries when it passes.
pub fn verify_blob_bundle(trust: &BundleTrust<'_>, digest: &Digest, bundle: &Value) -> Evidence {
    let mut details = json!({ "media_type": bundle.get("mediaType") });
    let (result, reason) = match check_bundle(trust, digest, bundle, &mut details) {
        Ok((signer, logged)) => {
            let at = logged
                .iter()
                .map(|l| format!("`{}` at index {}", l.log_id, l.log_index))
                .collect::<Vec<_>>();
            let where_logged = if at.is_empty() {
                "not in a transparency log".to_owned()
            } else {
                format!("logged in {}", at.join(", "))
            };
            let by = match signer {
                SignedBy::Key(key) => format!("key `{}` ({})", key.key_id, key.file_name),
                SignedBy::Certificate { identity, authority } => {
                    format!("{identity} with a certificate from `{authority}`")
                }
            };
            details["check"] = json!("verified");
            (
                EvidenceResult::Pass,
                format!("bundle for `{digest}` signed by {by}, {where_logged}"),
            )
        }
        Err(Failure { check, reason }) => {
            details["check"] = json!(check);
            (EvidenceResult::Fail, reason)
        }
    };
    Evidence {
        evidence_type: "blob_bundle".to_owned(),
        result,
        reason,
        checked_at: Utc::now(),
        details,
    }
}

/// The verification material: a public-key hint, or a signing certificate.
enum Material {
    PublicKey,
    Certificate(Box<Cert>),
}

/// The checks in order: media type, material, digest, then the signer's own checks.
fn check_bundle<'k>(
    trust: &BundleTrust<'k>,
    digest: &Digest,
    bundle: &Value,
    details: &mut Value,
) -> Result<(SignedBy<'k>, Vec<LoggedAt>), Failure> {
    let media_type = bundle.get("mediaType").and_then(Value::as_str).unwrap_or("");
    if !BUNDLE_MEDIA_TYPES.contains(&media_type) {
        let reason = format!("bundle media type `{media_type}` is not a known sigstore bundle version");
        return Err(failure("media_type", reason));
    }
    let material = bundle.get("verificationMaterial").unwrap_or(&Value::Null);
    let kind = check_material(material)?;
    let (digest32, signature) = message_signature(bundle, digest)?;
    let entries = tlog_entries(material)?;
    match kind {
        Material::PublicKey => check_keyed(trust, digest, &digest32, &signature, entries, details),
        Material::Certificate(leaf) => {
            check_keyless(trust, digest, &leaf, &digest32, &signature, entries, details)
        }
    }
}

/// A keyed bundle: the signature verifies with a configured key; its log entries, if any.
fn check_keyed<'k>(
    trust: &BundleTrust<'k>,
    digest: &Digest,
    digest32: &[u8],
    signature: &[u8],
    entries: &[Value],
    details: &mut Value,
) -> Result<(SignedBy<'k>, Vec<LoggedAt>), Failure> {
    if trust.keys.is_empty() {
        return Err(failure("key_configured", "no public key is configured"));
    }
    let key = trust
        .keys
        .verify_prehash_der(digest32, signature)
        .ok_or_else(|| {
            failure(
                "signature_verifies",
                "signature does not verify with any configured key",
            )
        })?;
    details["key_id"] = json!(key.key_id);
    details["key_file"] = json!(key.file_name);
    if entries.is_empty() && trust.require_tlog {
        return Err(failure(
            "tlog_present",
            "bundle has no transparency-log entry and one is required",
        ));
    }
    let signer = LoggedSigner::Key(&key.key_id);
    let logged = check_entries(trust.logs, &signer, digest, signature, entries, details)?;
    Ok((SignedBy::Key(key), logged))
}

/// A keyless bundle: the signature verifies with the certificate's key, the certificate chains
/// to a configured Fulcio CA, a log entry proves it was signed while the certificate was valid,
/// and its identity is allowed.
fn check_keyless<'k>(
    trust: &BundleTrust<'k>,
    digest: &Digest,
    leaf: &Cert,
    digest32: &[u8],
    signature: &[u8],
    entries: &[Value],
    details: &mut Value,
) -> Result<(SignedBy<'k>, Vec<LoggedAt>), Failure> {
    let keyless = trust.keyless;
    keyless.check_configured()?;
    // Shown even when a later check fails: it says who claims to have signed.
    let identity = identity_of(leaf);
    if let Ok(identity) = &identity {
        details["identity"] = json!(identity);
    }
    let key = leaf
        .public_key()
        .map_err(|e| failure("certificate", format!("signing certificate: {e}")))?;
    if !key.verify_prehash(digest32, signature) {
        return Err(failure(
            "signature_verifies",
            "signature does not verify with the signing certificate's key",
        ));
    }
    let authority = keyless.check_chain(leaf)?;
    details["certificate_authority"] = json!(authority.name);
    if entries.is_empty() {
        return Err(failure(
            "tlog_present",
            "keyless bundle has no transparency-log entry to prove when it was signed",
        ));
    }
    let signer = LoggedSigner::Certificate(leaf.der());
    let logged = check_entries(&keyless.logs, &signer, digest, signature, entries, details)?;
    let times: Vec<i64> = logged.iter().map(|l| l.integrated_time).collect();
    keyless.check_signed_at(leaf, authority, &times)?;
    let identity = identity?;
    keyless.check_identity(&identity)?;
    Ok((
        SignedBy::Certificate {
            identity,
            authority: authority.name.clone(),
        },
        logged,
    ))
}

/// The material's kind: a public-key hint, or a certificate (v0.3 `certificate`, or the leaf
/// first in v0.1/v0.2 `x509CertificateChain`; further certificates are not used, the chain comes
/// from the trusted root).
fn check_material(material: &Value) -> Result<Material, Failure> {
    if material.get("publicKey").is_some() {
        return Ok(Material::PublicKey);
    }
    let raw = material
        .pointer("/certificate/rawBytes")
        .or_else(|| material.pointer("/x509CertificateChain/certificates/0/rawBytes"));
    let has_certificate =
        material.get("certificate").is_some() || material.get("x509CertificateChain").is_some();
    if !has_certificate {
        return Err(failure(
            "verification_material",
            "bundle has neither public-key nor certificate verification material",
        ));
    }
    let der = raw
        .and_then(Value::as_str)
        .and_then(tlog::decode_base64)
        .ok_or_else(|| failure("certificate", "signing certificate `rawBytes` must be base64"))?;
    let leaf =
        Cert::from_der(&der).map_err(|e| failure("certificate", format!("signing certificate: {e}")))?;
    Ok(Material::Certificate(Box::new(leaf)))
}

/// The bundle's `tlogEntries`, at most [`MAX_TLOG_ENTRIES`].
fn tlog_entries(material: &Value) -> Result<&[Value], Failure> {
    let entries = match material.get("tlogEntries") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(entries)) => entries.as_slice(),
        Some(_) => return Err(failure("tlog_entry", "`tlogEntries` must be an array")),
    };
    if entries.len() > MAX_TLOG_ENTRIES {
        let reason = format!("bundle has more than {MAX_TLOG_ENTRIES} transparency-log entries");
        return Err(failure("tlog_entry", reason));
    }
    Ok(entries)
}

/// Every entry must hold: a forged entry next to a good one is still a forgery.
fn check_entries(
    logs: &TransparencyLogKeys,
    signer: &LoggedSigner<'_>,
    digest: &Digest,
    signature: &[u8],
    entries: &[Value],
    details: &mut Value,
) -> Result<Vec<LoggedAt>, Failure> {
    let mut logged = Vec::with_capacity(entries.len());
    for entry in entries {
        logged.push(check_entry(logs, signer, digest, signature, entry)?);
    }
    details["tlog_entries"] = json!(
        logged
            .iter()
            .map(|l| json!({"log_id": l.log_id, "log_index": l.log_index,
                            "integrated_time": l.integrated_time, "inclusion_proof": l.inclusion_proof}))
            .collect::<Vec<_>>()
    );
    Ok(logged)
}

/// The signed digest (which must be the artifact's sha256) and the DER signature bytes.
fn message_signature(bundle: &Value, digest: &Digest) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    // DSSE bundles (model signing) are routed to `trust::model_signing` before this point.
    let Some(message) = bundle.get("messageSignature") else {
        let reason = if bundle.get("dsseEnvelope").is_some() {
            "bundle carries a dsse envelope rather than a message signature"
        } else {
            "bundle has no `messageSignature`"
        };
        return Err(failure("message_signature", reason));
    };
    let algorithm = message
        .pointer("/messageDigest/algorithm")
        .and_then(Value::as_str);
    if algorithm != Some("SHA2_256") {
        let reason = "bundle message digest must be `SHA2_256`";
        return Err(failure("message_digest", reason));
    }
    let signed = message
        .pointer("/messageDigest/digest")
        .and_then(Value::as_str)
        .and_then(tlog::decode_base64)
        .filter(|d| d.len() == 32)
        .ok_or_else(|| {
            failure(
                "message_digest",
                "bundle message digest is not 32 bytes of base64",
            )
        })?;
    let signed_hex = hex::encode(&signed);
    if digest.algorithm() != "sha256" || digest.hex() != signed_hex {
        let reason = format!("bundle digest `sha256:{signed_hex}` differs from the artifact's `{digest}`");
        return Err(failure("message_digest", reason));
    }
    let signature = message
        .get("signature")
        .and_then(Value::as_str)
        .and_then(tlog::decode_base64)
        .ok_or_else(|| failure("signature_encoding", "bundle signature is not base64"))?;
    Ok((signed, signature))
}

/// One log entry: a hashedrekord of this digest, signature and signer, with a SET by a known
/// log, and an inclusion proof that leads to its root when there is one.
fn check_entry(
    logs: &TransparencyLogKeys,
    signer: &LoggedSigner<'_>,
    digest: &Digest,
    signature: &[u8],
    entry: &Value,
) -> Result<LoggedAt, Failure> {
    let malformed = |what: &str| failure("tlog_entry", format!("malformed transparency-log entry: {what}"));
    let kind = entry.pointer("/kindVersion/kind").and_then(Value::as_str);
    if kind != Some("hashedrekord") {
        let kind = kind.unwrap_or("");
        return Err(failure(
            "tlog_entry",
            format!("transparency-log entry kind `{kind}` is not supported, only `hashedrekord`"),
        ));
    }
    let body = entry
        .get("canonicalizedBody")
        .and_then(Value::as_str)
        .and_then(tlog::decode_base64)
        .ok_or_else(|| malformed("`canonicalizedBody` must be base64"))?;
    let log_index = tlog::int_at(entry, "/logIndex").ok_or_else(|| malformed("`logIndex`"))?;
    let integrated_time =
        tlog::int_at(entry, "/integratedTime").ok_or_else(|| malformed("`integratedTime`"))?;
    let log_id = entry
        .pointer("/logId/keyId")
        .and_then(Value::as_str)
        .and_then(tlog::decode_base64)
        .map(hex::encode)
        .ok_or_else(|| malformed("`logId.keyId` must be base64"))?;
    let set = entry
        .pointer("/inclusionPromise/signedEntryTimestamp")
        .and_then(Value::as_str)
        .and_then(tlog::decode_base64);
    let read = LogEntry {
        body,
        integrated_time,
        log_id,
        log_index,
        set,
    };
    // The artifact is the blob, so the entry hashes the artifact's own sha256.
    tlog::check_logged(logs, &read, signer, digest.hex(), signature, "bundle")?;
    let inclusion_proof = match entry.get("inclusionProof") {
        None | Some(Value::Null) => false,
        Some(proof) => {
            tlog::check_inclusion_proof(proof, &read.body).map_err(|r| failure("tlog_inclusion_proof", r))?;
            true
        }
    };
    Ok(LoggedAt {
        log_id: read.log_id,
        log_index,
        integrated_time,
        inclusion_proof,
    })
}

#[cfg(test)]
mod tests;
