//! Keyed sigstore bundles (protobuf-specs `sigstore_bundle.proto`, JSON form) over a non-OCI
//! blob: the `blob_bundle` evidence. Written here rather than taken from the `sigstore` crate,
//! whose verifier neither checks the log entry's signed timestamp nor takes public-key material.

mod tlog;

use chrono::Utc;
use serde_json::{Value, json};

use crate::domain::{Digest, Evidence, EvidenceResult};

use super::keys::{NamedKey, TrustKeys};

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

/// A check that failed: its name (recorded as `details.check`) and the reason shown.
struct Failure {
    check: &'static str,
    reason: String,
}

fn failure(check: &'static str, reason: impl Into<String>) -> Failure {
    Failure {
        check,
        reason: reason.into(),
    }
}

/// What a passing log entry showed.
struct LoggedAt {
    log_id: String,
    log_index: i64,
    integrated_time: i64,
    inclusion_proof: bool,
}

/// Checks a keyed bundle for `digest`; one `blob_bundle` evidence record naming the check
/// that failed, or the key and log entries when it passes. `require_tlog` makes an unlogged
/// bundle a failure.
pub fn verify_blob_bundle(
    keys: &TrustKeys,
    logs: &TransparencyLogKeys,
    digest: &Digest,
    bundle: &Value,
    require_tlog: bool,
) -> Evidence {
    let mut details = json!({ "media_type": bundle.get("mediaType") });
    let (result, reason) = match check_bundle(keys, logs, digest, bundle, require_tlog, &mut details) {
        Ok((key, logged)) => {
            let at = logged
                .iter()
                .map(|l| format!("`{}` at index {}", l.log_id, l.log_index))
                .collect::<Vec<_>>();
            let where_logged = if at.is_empty() {
                "not in a transparency log".to_owned()
            } else {
                format!("logged in {}", at.join(", "))
            };
            let reason = format!(
                "bundle for `{digest}` signed by key `{}` ({}), {where_logged}",
                key.key_id, key.file_name
            );
            details["check"] = json!("verified");
            (EvidenceResult::Pass, reason)
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

/// The checks in order: media type, material, digest, signature, then each log entry.
fn check_bundle<'k>(
    keys: &'k TrustKeys,
    logs: &TransparencyLogKeys,
    digest: &Digest,
    bundle: &Value,
    require_tlog: bool,
    details: &mut Value,
) -> Result<(&'k NamedKey, Vec<LoggedAt>), Failure> {
    let media_type = bundle.get("mediaType").and_then(Value::as_str).unwrap_or("");
    if !BUNDLE_MEDIA_TYPES.contains(&media_type) {
        let reason = format!("bundle media type `{media_type}` is not a known sigstore bundle version");
        return Err(failure("media_type", reason));
    }
    let material = bundle.get("verificationMaterial").unwrap_or(&Value::Null);
    check_material(material)?;
    let (digest32, signature) = message_signature(bundle, digest)?;
    if keys.is_empty() {
        return Err(failure("key_configured", "no public key is configured"));
    }
    let key = keys.verify_prehash_der(&digest32, &signature).ok_or_else(|| {
        failure(
            "signature_verifies",
            "signature does not verify with any configured key",
        )
    })?;
    details["key_id"] = json!(key.key_id);
    details["key_file"] = json!(key.file_name);
    let entries = match material.get("tlogEntries") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(entries)) => entries.as_slice(),
        Some(_) => return Err(failure("tlog_entry", "`tlogEntries` must be an array")),
    };
    if entries.is_empty() && require_tlog {
        return Err(failure(
            "tlog_present",
            "bundle has no transparency-log entry and one is required",
        ));
    }
    if entries.len() > MAX_TLOG_ENTRIES {
        let reason = format!("bundle has more than {MAX_TLOG_ENTRIES} transparency-log entries");
        return Err(failure("tlog_entry", reason));
    }
    // Every entry must hold: a forged entry next to a good one is still a forgery.
    let mut logged = Vec::with_capacity(entries.len());
    for entry in entries {
        logged.push(check_entry(logs, key, digest, &signature, entry)?);
    }
    details["tlog_entries"] = json!(
        logged
            .iter()
            .map(|l| json!({"log_id": l.log_id, "log_index": l.log_index,
                            "integrated_time": l.integrated_time, "inclusion_proof": l.inclusion_proof}))
            .collect::<Vec<_>>()
    );
    Ok((key, logged))
}

/// Keyed bundles carry a public-key hint; certificates mean a keyless bundle.
fn check_material(material: &Value) -> Result<(), Failure> {
    if material.get("publicKey").is_some() {
        return Ok(());
    }
    if material.get("certificate").is_some() || material.get("x509CertificateChain").is_some() {
        return Err(failure(
            "verification_material",
            "keyless bundles (certificate verification material) are not supported yet",
        ));
    }
    Err(failure(
        "verification_material",
        "bundle has no public-key verification material",
    ))
}

/// The signed digest (which must be the artifact's sha256) and the DER signature bytes.
fn message_signature(bundle: &Value, digest: &Digest) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    let Some(message) = bundle.get("messageSignature") else {
        let reason = if bundle.get("dsseEnvelope").is_some() {
            "bundle carries a dsse envelope: model-signing bundles (DSSE over per-file digests) are not supported yet"
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

/// One log entry: a hashedrekord of this digest, signature and key, with a SET by a known log.
fn check_entry(
    logs: &TransparencyLogKeys,
    key: &NamedKey,
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
    if !body_matches(&body, key, digest, signature) {
        return Err(failure(
            "tlog_body",
            "transparency-log entry does not match the bundle",
        ));
    }
    let set = entry
        .pointer("/inclusionPromise/signedEntryTimestamp")
        .and_then(Value::as_str)
        .and_then(tlog::decode_base64)
        .ok_or_else(|| failure("tlog_set", "transparency-log entry has no signed entry timestamp"))?;
    let payload = tlog::set_payload(&body, integrated_time, &log_id, log_index);
    match logs.verify(&log_id, &payload, &set) {
        None => {
            let reason = format!("transparency-log entry names unknown log `{log_id}`");
            return Err(failure("tlog_log_id", reason));
        }
        Some(false) => {
            let reason = "transparency-log entry's signed timestamp does not verify";
            return Err(failure("tlog_set", reason));
        }
        Some(true) => {}
    }
    let inclusion_proof = match entry.get("inclusionProof") {
        None | Some(Value::Null) => false,
        Some(proof) => {
            tlog::check_inclusion_proof(proof, &body).map_err(|r| failure("tlog_inclusion_proof", r))?;
            true
        }
    };
    Ok(LoggedAt {
        log_id,
        log_index,
        integrated_time,
        inclusion_proof,
    })
}

/// The hashedrekord v0.0.1 body names this sha256, this signature and the key that verified.
fn body_matches(body: &[u8], key: &NamedKey, digest: &Digest, signature: &[u8]) -> bool {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str);
    let logged_key = text("/spec/signature/publicKey/content")
        .and_then(tlog::decode_base64)
        .and_then(|pem| String::from_utf8(pem).ok())
        .and_then(|pem| tlog::pem_key_id(&pem));
    let logged_signature = text("/spec/signature/content").and_then(tlog::decode_base64);
    text("/kind") == Some("hashedrekord")
        && text("/spec/data/hash/algorithm") == Some("sha256")
        && digest.algorithm() == "sha256"
        && text("/spec/data/hash/value") == Some(digest.hex())
        && logged_signature.as_deref() == Some(signature)
        && logged_key.as_deref() == Some(key.key_id.as_str())
}

#[cfg(test)]
mod tests;
