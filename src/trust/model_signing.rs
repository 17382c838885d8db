//! OpenSSF model-signing bundles: a sigstore bundle whose DSSE envelope carries an in-toto
//! statement listing every file of a model with its digest. The model's digest (the statement's
//! subject) is sha256 over the file digests in name order, so the bundle is checked against the
//! artifact's declared digest without downloading the weights.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sigstore_verify::types::SignatureContent;

use super::Failure;
use super::verifier::{Artifact, Rejected, SigstoreVerifier, Verified, parse_bundle, sha256_of};
use crate::domain::{Digest, Evidence, EvidenceResult};

/// The predicate type `model_signing` 1.x writes.
pub const MODEL_SIGNING_PREDICATE_V1: &str = "https://model_signing/signature/v1.0";
/// Most files one model manifest may list; a bound on the work a bundle can ask for.
pub const MAX_RESOURCES: usize = 100_000;

/// Whether a sigstore bundle carries a DSSE envelope rather than a message signature over the blob.
pub fn is_dsse_bundle(bundle: &Value) -> bool {
    bundle.get("dsseEnvelope").is_some() && bundle.get("messageSignature").is_none()
}

/// Whether a DSSE bundle's statement says it is a model-signing manifest. Read before the
/// signature is checked, so it only chooses which checks run: both paths verify the signature.
pub fn is_model_signing_bundle(bundle: &Value) -> bool {
    use base64::Engine as _;
    is_dsse_bundle(bundle)
        && bundle
            .pointer("/dsseEnvelope/payload")
            .and_then(Value::as_str)
            .and_then(|payload| base64::engine::general_purpose::STANDARD.decode(payload).ok())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .is_some_and(|statement| statement["predicateType"] == MODEL_SIGNING_PREDICATE_V1)
}

/// Checks a model-signing bundle for `digest`; one `blob_bundle` evidence record naming the
/// signer and the number of files, or the check that failed. The envelope's signature and its
/// statement's subject (the model digest) are checked by the sigstore verifier, keyed or keyless,
/// with its log entries; the file list against that digest is checked here.
pub fn verify_model_signing_bundle(verifier: &SigstoreVerifier, digest: &Digest, bundle: &Value) -> Evidence {
    let mut details = json!({
        "media_type": bundle.get("mediaType"),
        "format": "model_signing",
        "predicate_type": MODEL_SIGNING_PREDICATE_V1,
    });
    let (result, reason) = match check(verifier, digest, bundle) {
        Ok((verified, files)) => {
            let by = verified.describe(&mut details);
            details["check"] = json!("verified");
            details["files"] = json!(files);
            let reason = format!("model-signing bundle for `{digest}` ({files} files) signed by {by}");
            (EvidenceResult::Pass, reason)
        }
        Err(rejected) => {
            rejected.describe(&mut details);
            (EvidenceResult::Fail, rejected.failure.reason)
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

/// The checks in order: the bundle (signature, subject, log), the predicate type, then the file
/// list against the subject digest. Answers the signer and the number of files.
fn check(
    verifier: &SigstoreVerifier,
    digest: &Digest,
    bundle: &Value,
) -> Result<(Verified, usize), Rejected> {
    let parsed = parse_bundle(bundle)?;
    let SignatureContent::DsseEnvelope(envelope) = &parsed.content else {
        return Err(Failure::new("bundle_format", "model-signing bundle has no DSSE envelope").into());
    };
    let verified = verifier.verify(Artifact::Sha256(sha256_of(digest)?), &parsed)?;
    // The signature verified over this payload, so what is read here is what was signed.
    let statement: Value = serde_json::from_slice(envelope.payload.as_bytes())
        .map_err(|_| Failure::new("statement", "payload is not a json statement"))?;
    let predicate_type = statement
        .get("predicateType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if predicate_type != MODEL_SIGNING_PREDICATE_V1 {
        let reason =
            format!("statement predicate type `{predicate_type}` is not `{MODEL_SIGNING_PREDICATE_V1}`");
        return Err(Failure::new("predicate_type", reason).into());
    }
    let files = file_digests(&statement)?;
    let model_digest = model_digest(&files);
    if digest.hex() != model_digest {
        let reason =
            format!("the files listed hash to `sha256:{model_digest}`, not the artifact's `{digest}`");
        return Err(Failure::new("resources_digest", reason).into());
    }
    Ok((verified, files.len()))
}

/// The statement's files as name → raw sha256, refusing duplicates and other algorithms.
fn file_digests(statement: &Value) -> Result<BTreeMap<String, Vec<u8>>, Failure> {
    let resources = statement
        .pointer("/predicate/resources")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Failure::new("resources", "`predicate.resources` must be a non-empty array"))?;
    if resources.len() > MAX_RESOURCES {
        let reason = format!("the model lists more than {MAX_RESOURCES} files");
        return Err(Failure::new("resources", reason));
    }
    let mut files = BTreeMap::new();
    for (i, resource) in resources.iter().enumerate() {
        let text = |name: &str| resource.get(name).and_then(Value::as_str);
        let name =
            text("name").ok_or_else(|| Failure::new("resources", format!("resource {i} has no `name`")))?;
        if text("algorithm") != Some("sha256") {
            let reason = format!("resource `{name}` is not hashed with `sha256`");
            return Err(Failure::new("resources", reason));
        }
        let raw = text("digest")
            .filter(|d| d.len() == 64 && d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .and_then(|d| hex::decode(d).ok())
            .ok_or_else(|| {
                Failure::new(
                    "resources",
                    format!("resource `{name}` digest is not 64 lowercase hex"),
                )
            })?;
        if files.insert(name.to_owned(), raw).is_some() {
            return Err(Failure::new(
                "resources",
                format!("resource `{name}` is listed twice"),
            ));
        }
    }
    Ok(files)
}

/// sha256 over the file digests in name order: the model digest `model_signing` puts in the
/// statement's subject.
fn model_digest(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut hasher = Sha256::new();
    for raw in files.values() {
        hasher.update(raw);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, [u8; 32])]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(n, d)| ((*n).to_owned(), d.to_vec()))
            .collect()
    }

    #[test]
    fn model_digest_is_independent_of_listing_order() {
        let a = files(&[("b.bin", [2; 32]), ("a.json", [1; 32])]);
        let b = files(&[("a.json", [1; 32]), ("b.bin", [2; 32])]);
        assert_eq!(model_digest(&a), model_digest(&b));
        let mut concatenated = vec![1u8; 32];
        concatenated.extend([2u8; 32]);
        assert_eq!(model_digest(&a), hex::encode(Sha256::digest(&concatenated)));
    }

    #[test]
    fn resources_are_refused_when_malformed_or_duplicated() {
        let statement = |resources: Value| json!({ "predicate": { "resources": resources } });
        let reason = |s: Value| file_digests(&s).err().map(|f| f.reason).unwrap_or_default();
        assert!(reason(statement(json!([]))).contains("non-empty array"));
        let good = json!({"name": "w", "algorithm": "sha256", "digest": "ab".repeat(32)});
        assert!(reason(statement(json!([good, good]))).contains("listed twice"));
        let md5 = json!({"name": "w", "algorithm": "md5", "digest": "ab".repeat(16)});
        assert!(reason(statement(json!([md5]))).contains("not hashed with `sha256`"));
        let upper = json!({"name": "w", "algorithm": "sha256", "digest": "AB".repeat(32)});
        assert!(reason(statement(json!([upper]))).contains("64 lowercase hex"));
    }
}
