//! Sigstore bundles attached to an image as OCI 1.1 referrers (cosign `specs/BUNDLE_SPEC.md`):
//! found through the registry's referrers API, or the referrers tag schema's index where the
//! registry does not serve that API; each bundle is checked against the image digest. A message
//! signature (or cosign's DSSE `sign/v1` statement) is a `signature`, any other DSSE in-toto
//! statement an `attestation`. Fetching is separate from checking, as for cosign's tags.

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Failure;
use super::bundle::{BUNDLE_MEDIA_TYPES, check_bundle};
use super::cosign::CosignError;
use super::dsse;
use super::verifier::SigstoreVerifier;
use crate::domain::{Digest, Evidence, EvidenceResult};
use crate::registry::client::{IMAGE_INDEX_MEDIA_TYPE, referrers_in_index};
use crate::registry::{RegistryClient, RegistryClientError};

/// Largest bundle read: a DSSE payload is capped at 1 MiB, base64 and the material add a third.
pub const MAX_BUNDLE_BYTES: u64 = 2 * 1024 * 1024;
/// The predicate type of cosign's own image signatures in bundle form (`cosign sign` with the
/// new bundle format): a DSSE statement that is a signature, not an attestation.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// How an image's referrers were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The registry's referrers API answered.
    Api,
    /// The registry does not serve the API; the referrers tag schema's index was read.
    TagSchema,
    /// The registry does not serve the API and there is no referrers tag index.
    Unsupported,
}

impl Lookup {
    /// As recorded in evidence `details.referrers`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::TagSchema => "tag_schema",
            Self::Unsupported => "unsupported",
        }
    }
}

/// One sigstore-bundle referrer of the image: its bytes, or why they cannot be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerBundle {
    /// The referring manifest's digest.
    pub manifest: String,
    /// The bundle's bytes, or the failure to record for it.
    pub content: Result<Vec<u8>, Failure>,
}

/// The image's sigstore-bundle referrers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrers {
    /// How they were found.
    pub lookup: Lookup,
    /// Those whose subject is the image.
    pub bundles: Vec<ReferrerBundle>,
    /// Listed, but with another subject (or none): not counted.
    pub other_subject: usize,
}

/// The tag the referrers tag schema keeps an image's referrers index under: `sha256-<hex>`.
pub fn referrers_tag(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm(), digest.hex())
}

/// The referring manifest fields read.
#[derive(Deserialize)]
struct Manifest {
    subject: Option<Subject>,
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
struct Subject {
    digest: String,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
}

/// The sigstore bundles referring to `digest` in `repository`. Registry faults (unreachable,
/// refused, content not matching its digest, an unreadable index) are errors; a referrer whose
/// manifest or bundle is unusable is a failure to record.
pub async fn fetch_referrer_bundles(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    token: &str,
) -> Result<Referrers, CosignError> {
    let (lookup, listed) = match client
        .referrers(repository, digest, &BUNDLE_MEDIA_TYPES, token)
        .await?
    {
        Some(listed) => (Lookup::Api, listed),
        None => match client
            .get_manifest(repository, &referrers_tag(digest), token)
            .await?
        {
            Some(index) if index.media_type == IMAGE_INDEX_MEDIA_TYPE => (
                Lookup::TagSchema,
                referrers_in_index(&index.bytes, &BUNDLE_MEDIA_TYPES)?,
            ),
            _ => (Lookup::Unsupported, Vec::new()),
        },
    };
    let mut found = Referrers {
        lookup,
        bundles: Vec::new(),
        other_subject: 0,
    };
    for referrer in listed {
        let bad = |check, reason: String| ReferrerBundle {
            manifest: referrer.digest.clone(),
            content: Err(Failure::new(check, reason)),
        };
        let Ok(manifest_digest) = referrer.digest.parse::<Digest>() else {
            let reason = format!("referrer `{}` is not a digest", referrer.digest);
            found.bundles.push(bad("referrer_manifest", reason));
            continue;
        };
        // A stale entry (the referrer was deleted) is no evidence either way.
        let Some(fetched) = client
            .get_manifest(repository, manifest_digest.as_str(), token)
            .await?
        else {
            continue;
        };
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&fetched.bytes) else {
            let reason = format!("referrer `{manifest_digest}` is not a readable image manifest");
            found.bundles.push(bad("referrer_manifest", reason));
            continue;
        };
        // Listed for this image but about another: it must not count.
        if manifest
            .subject
            .as_ref()
            .is_none_or(|s| s.digest != digest.as_str())
        {
            found.other_subject += 1;
            continue;
        }
        let Some(layer) = manifest
            .layers
            .iter()
            .find(|l| BUNDLE_MEDIA_TYPES.contains(&l.media_type.as_str()))
        else {
            let reason = format!("referrer `{manifest_digest}` has no sigstore bundle layer");
            found.bundles.push(bad("referrer_manifest", reason));
            continue;
        };
        let Ok(layer_digest) = layer.digest.parse::<Digest>() else {
            let reason = format!("referrer `{manifest_digest}` names a bundle layer that is not a digest");
            found.bundles.push(bad("referrer_manifest", reason));
            continue;
        };
        let content = match client
            .get_blob(repository, &layer_digest, token, MAX_BUNDLE_BYTES)
            .await
        {
            Ok(bytes) => Ok(bytes),
            Err(RegistryClientError::TooLarge(max)) => Err(Failure::new(
                "bundle_size",
                format!("referrer `{manifest_digest}` holds a bundle larger than {max} bytes"),
            )),
            Err(e) => return Err(e.into()),
        };
        found.bundles.push(ReferrerBundle {
            manifest: manifest_digest.to_string(),
            content,
        });
    }
    Ok(found)
}

/// One referrer bundle's check against the image `digest`: a `signature` or an `attestation`
/// evidence record with `details.source` = `referrers` and `details.referrer` naming it.
pub fn verify_referrer_bundle(
    verifier: &SigstoreVerifier,
    digest: &Digest,
    found: &ReferrerBundle,
) -> Evidence {
    let mut evidence = match &found.content {
        Err(failure) => failed("signature", failure.clone()),
        Ok(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Err(_) => failed(
                "signature",
                Failure::new("bundle_format", "referrer bundle is not json"),
            ),
            Ok(bundle) => verify_bundle(verifier, digest, &bundle),
        },
    };
    if !evidence.details.is_object() {
        evidence.details = json!({});
    }
    evidence.details["source"] = json!("referrers");
    evidence.details["referrer"] = json!(found.manifest);
    evidence
}

/// A message signature, or cosign's own DSSE `sign/v1` statement, is a `signature`; any other
/// DSSE statement an `attestation` carrying its predicate type (and SLSA builder id).
fn verify_bundle(verifier: &SigstoreVerifier, digest: &Digest, bundle: &Value) -> Evidence {
    let is_dsse = bundle.get("dsseEnvelope").is_some() && bundle.get("messageSignature").is_none();
    let kind =
        if is_dsse && claimed_predicate(&bundle["dsseEnvelope"]).as_deref() != Some(COSIGN_SIGN_PREDICATE) {
            "attestation"
        } else {
            "signature"
        };
    let mut details = json!({ "media_type": bundle.get("mediaType") });
    let (result, reason) = match check_bundle(verifier, digest, bundle) {
        Ok(outcome) => {
            let by = outcome.verified.describe(&mut details);
            if let (Some(Value::Object(facts)), Some(fields)) = (outcome.statement, details.as_object_mut()) {
                fields.extend(facts);
            }
            details["check"] = json!("verified");
            let what = if kind == "attestation" {
                format!(
                    "attestation `{}`",
                    details["predicate_type"].as_str().unwrap_or_default()
                )
            } else {
                "signed".to_owned()
            };
            (
                EvidenceResult::Pass,
                format!("{what} for `{digest}` by {by} (sigstore bundle)"),
            )
        }
        Err(rejected) => {
            rejected.describe(&mut details);
            (EvidenceResult::Fail, rejected.failure.reason)
        }
    };
    Evidence {
        evidence_type: kind.to_owned(),
        result,
        reason,
        checked_at: Utc::now(),
        details,
    }
}

/// The predicate type the (not yet verified) payload claims: it only decides whether a
/// failure is reported as a signature or an attestation, never whether anything passes.
fn claimed_predicate(envelope: &Value) -> Option<String> {
    let payload = envelope.get("payload")?.as_str()?;
    let statement: Value = serde_json::from_slice(&dsse::decode_base64(payload)?).ok()?;
    statement.get("predicateType")?.as_str().map(str::to_owned)
}

fn failed(kind: &str, failure: Failure) -> Evidence {
    Evidence {
        evidence_type: kind.to_owned(),
        result: EvidenceResult::Fail,
        reason: failure.reason,
        checked_at: Utc::now(),
        details: json!({ "check": failure.check }),
    }
}

/// The one `signature` record for an image: it passes when cosign's signature tag or any
/// referrer bundle holds a trusted signature of the digest (as any one cosign layer passing is
/// enough). Otherwise the tag's failure is reported, unless the tag held nothing and a referrer
/// was checked; `details.checked` lists every source's outcome either way.
pub fn combine_signatures(tag: Evidence, lookup: Lookup, referrers: Vec<Evidence>) -> Evidence {
    let outcome = |e: &Evidence| {
        json!({
            "source": e.details.get("source"),
            "referrer": e.details.get("referrer"),
            "result": e.result,
            "check": e.details.get("check"),
        })
    };
    let mut tag = tag;
    tag.details["source"] = json!("signature_tag");
    let checked: Vec<Value> = std::iter::once(&tag).chain(&referrers).map(outcome).collect();
    let tag_found_nothing = tag.details.get("check").and_then(Value::as_str) == Some("signature_found");
    let mut chosen = if tag.result == EvidenceResult::Pass {
        tag
    } else if let Some(pass) = referrers.iter().find(|e| e.result == EvidenceResult::Pass) {
        pass.clone()
    } else if let (true, Some(first)) = (tag_found_nothing, referrers.first()) {
        first.clone()
    } else {
        tag
    };
    if chosen.details.get("check").and_then(Value::as_str) == Some("signature_found") {
        chosen.reason.push_str(match lookup {
            Lookup::Api | Lookup::TagSchema => ", nor any sigstore bundle among its referrers",
            Lookup::Unsupported => {
                "; the registry does not serve OCI referrers and there is no referrers tag index"
            }
        });
    }
    chosen.details["referrers"] = json!(lookup.as_str());
    chosen.details["checked"] = json!(checked);
    chosen
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};
    use sha2::{Digest as _, Sha256};

    use super::*;
    use crate::trust::dsse::{IN_TOTO_PAYLOAD_TYPE, pae};
    use crate::trust::identity::Identities;
    use crate::trust::keys::TrustKeys;
    use crate::trust::verifier::LoadedRoot;

    const MANIFEST: &[u8] = b"image manifest";
    const REFERRER: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn signer() -> SigningKey {
        SigningKey::from_slice(&[5; 32]).unwrap()
    }

    fn keys() -> TrustKeys {
        let pem = signer()
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        TrustKeys::from_pems([("signer.pub", pem.as_str())]).unwrap()
    }

    fn image() -> Digest {
        format!("sha256:{}", hex::encode(Sha256::digest(MANIFEST)))
            .parse()
            .unwrap()
    }

    fn verifier(require_tlog: bool) -> SigstoreVerifier {
        let root = LoadedRoot::empty().unwrap();
        SigstoreVerifier::new(&root, keys(), Identities::default(), require_tlog).unwrap()
    }

    /// Checks `bundle` as a referrer of [`image`], keyed, with or without a required log.
    fn check(bundle: &Value, require_tlog: bool) -> Evidence {
        let trust = verifier(require_tlog);
        let found = ReferrerBundle {
            manifest: REFERRER.to_owned(),
            content: Ok(serde_json::to_vec(bundle).unwrap()),
        };
        verify_referrer_bundle(&trust, &image(), &found)
    }

    /// An unlogged keyed message-signature bundle over [`MANIFEST`].
    fn message_bundle() -> Value {
        let signature: Signature = signer().sign(MANIFEST);
        json!({
            "mediaType": BUNDLE_MEDIA_TYPES[3],
            "verificationMaterial": { "publicKey": { "hint": "" } },
            "messageSignature": {
                "messageDigest": { "algorithm": "SHA2_256", "digest": STANDARD.encode(Sha256::digest(MANIFEST)) },
                "signature": STANDARD.encode(signature.to_der().as_bytes()),
            },
        })
    }

    /// A keyed DSSE bundle with a statement about [`image`].
    fn dsse_bundle(predicate_type: &str) -> Value {
        let statement = serde_json::to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{ "name": "image", "digest": { "sha256": image().hex() } }],
            "predicateType": predicate_type, "predicate": {},
        }))
        .unwrap();
        let signature: Signature = signer().sign(&pae(IN_TOTO_PAYLOAD_TYPE, &statement));
        json!({
            "mediaType": BUNDLE_MEDIA_TYPES[3],
            "verificationMaterial": { "publicKey": { "hint": "" } },
            "dsseEnvelope": {
                "payload": STANDARD.encode(&statement), "payloadType": IN_TOTO_PAYLOAD_TYPE,
                "signatures": [{ "keyid": "", "sig": STANDARD.encode(signature.to_der().as_bytes()) }],
            },
        })
    }

    fn is(evidence: &Evidence, kind: &str, result: EvidenceResult, check: &str) {
        assert_eq!(evidence.evidence_type, kind, "{}", evidence.reason);
        assert_eq!(evidence.result, result, "{}", evidence.reason);
        assert_eq!(evidence.details["check"], json!(check), "{}", evidence.reason);
        assert_eq!(evidence.details["source"], json!("referrers"));
        assert_eq!(evidence.details["referrer"], json!(REFERRER));
    }

    #[test]
    fn a_message_signature_is_a_signature_and_a_dsse_statement_an_attestation() {
        is(&check(&message_bundle(), false), "signature", PASS, "verified");
        let provenance = check(&dsse_bundle("https://slsa.dev/provenance/v1"), false);
        is(&provenance, "attestation", PASS, "verified");
        assert_eq!(
            provenance.details["predicate_type"],
            "https://slsa.dev/provenance/v1"
        );
        // A required log holds for keyed attestations as for signatures.
        is(
            &check(&dsse_bundle("https://spdx.dev/Document"), true),
            "attestation",
            FAIL,
            "tlog_present",
        );
    }

    #[test]
    fn cosigns_own_dsse_signature_counts_as_a_signature_and_fails_when_a_log_is_required() {
        let signed = dsse_bundle(COSIGN_SIGN_PREDICATE);
        is(&check(&signed, false), "signature", PASS, "verified");
        is(&check(&signed, true), "signature", FAIL, "tlog_present");
    }

    #[test]
    fn unusable_referrers_fail_naming_the_check() {
        let mut keyless = dsse_bundle("https://slsa.dev/provenance/v1");
        keyless["verificationMaterial"] = json!({ "certificate": { "rawBytes": "" } });
        is(&check(&keyless, false), "attestation", FAIL, "keyless_configured");
        let mut tampered = dsse_bundle("https://slsa.dev/provenance/v1");
        tampered["dsseEnvelope"]["payload"] = json!(STANDARD.encode(b"{}"));
        is(&check(&tampered, false), "attestation", FAIL, "signature");
        let mut old = message_bundle();
        old["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.9");
        is(&check(&old, false), "signature", FAIL, "media_type");

        let trust = verifier(false);
        let not_json = ReferrerBundle {
            manifest: REFERRER.to_owned(),
            content: Ok(b"<html>".to_vec()),
        };
        is(
            &verify_referrer_bundle(&trust, &image(), &not_json),
            "signature",
            FAIL,
            "bundle_format",
        );
        let too_large = ReferrerBundle {
            manifest: REFERRER.to_owned(),
            content: Err(Failure::new("bundle_size", "too large")),
        };
        is(
            &verify_referrer_bundle(&trust, &image(), &too_large),
            "signature",
            FAIL,
            "bundle_size",
        );
    }

    fn evidence(result: EvidenceResult, check: &str, source: Option<&str>) -> Evidence {
        let mut details = json!({ "check": check });
        if let Some(source) = source {
            details["source"] = json!(source);
            details["referrer"] = json!(format!("sha256:{}", "b".repeat(64)));
        }
        Evidence {
            evidence_type: "signature".to_owned(),
            result,
            reason: format!("{check} reason"),
            checked_at: Utc::now(),
            details,
        }
    }

    const PASS: EvidenceResult = EvidenceResult::Pass;
    const FAIL: EvidenceResult = EvidenceResult::Fail;

    #[test]
    fn either_source_passing_is_a_pass() {
        let tag_pass = evidence(PASS, "signature_verifies", None);
        let bad_referrer = evidence(FAIL, "message_digest", Some("referrers"));
        let combined = combine_signatures(tag_pass, Lookup::Api, vec![bad_referrer.clone()]);
        assert_eq!(combined.result, PASS);
        assert_eq!(combined.details["source"], "signature_tag");
        assert_eq!(combined.details["checked"].as_array().unwrap().len(), 2);

        let nothing = evidence(FAIL, "signature_found", None);
        let good_referrer = evidence(PASS, "verified", Some("referrers"));
        let combined = combine_signatures(nothing, Lookup::Api, vec![bad_referrer, good_referrer]);
        assert_eq!(combined.result, PASS);
        assert_eq!(combined.details["source"], "referrers");
        assert_eq!(combined.details["referrers"], "api");
    }

    #[test]
    fn a_failing_referrer_is_reported_when_the_tag_held_nothing() {
        let nothing = evidence(FAIL, "signature_found", None);
        let bad_referrer = evidence(FAIL, "message_digest", Some("referrers"));
        let combined = combine_signatures(nothing, Lookup::TagSchema, vec![bad_referrer]);
        assert_eq!(combined.result, FAIL);
        assert_eq!(combined.details["check"], "message_digest");
        assert_eq!(combined.details["referrers"], "tag_schema");
        // A tag signature that failed further along is the one reported.
        let tag_fail = evidence(FAIL, "payload_digest", None);
        let bad_referrer = evidence(FAIL, "message_digest", Some("referrers"));
        let combined = combine_signatures(tag_fail, Lookup::Api, vec![bad_referrer]);
        assert_eq!(combined.details["check"], "payload_digest");
    }

    #[test]
    fn nothing_anywhere_says_where_it_looked() {
        let nothing = evidence(FAIL, "signature_found", None);
        let combined = combine_signatures(nothing.clone(), Lookup::Unsupported, Vec::new());
        assert_eq!(combined.result, FAIL);
        assert!(
            combined.reason.contains("does not serve OCI referrers"),
            "{}",
            combined.reason
        );
        assert_eq!(combined.details["referrers"], "unsupported");
        let combined = combine_signatures(nothing, Lookup::Api, Vec::new());
        assert!(
            combined.reason.contains("nor any sigstore bundle"),
            "{}",
            combined.reason
        );
    }

    #[test]
    fn the_referrers_tag_follows_the_distribution_spec() {
        let digest: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(referrers_tag(&digest), format!("sha256-{}", "ab".repeat(32)));
    }
}
