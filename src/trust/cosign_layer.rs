//! Cosign's OCI layout as sigstore bundles. A `.sig` or `.att` layer carries the signed content
//! (a simple-signing payload with its signature annotation, or a DSSE envelope), the Fulcio
//! certificate of a keyless signer (`dev.sigstore.cosign/certificate`) and the Rekor entry
//! (`dev.sigstore.cosign/bundle`: `{SignedEntryTimestamp, Payload: {body, integratedTime,
//! logIndex, logID}}`). That is exactly a v0.1 bundle with an inclusion promise, so each layer is
//! rewritten as one and verified like any other bundle. The `dev.sigstore.cosign/chain`
//! annotation is not read: the chain comes from the trusted root.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use sigstore_verify::types::{Bundle, DerCertificate};

use super::Failure;

/// Layer annotation holding the signing certificate.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation holding the Rekor bundle.
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
const BUNDLE_V01: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";

/// What a layer signed.
pub enum Signed<'a> {
    /// A simple-signing payload and the signature over its bytes.
    Payload {
        /// The payload bytes as fetched.
        payload: &'a [u8],
        /// The DER signature.
        signature: &'a [u8],
    },
    /// A DSSE envelope (its signature inside).
    Envelope(&'a Value),
}

/// The annotations that say who signed and where it was logged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignerAnnotations {
    /// `dev.sigstore.cosign/certificate`: the Fulcio certificate (PEM) of a keyless signer.
    pub certificate_pem: Option<String>,
    /// `dev.sigstore.cosign/bundle`: the Rekor entry.
    pub rekor_bundle: Option<String>,
}

impl SignerAnnotations {
    /// The certificate and the Rekor entry as bytes (empty when absent), for cache keys.
    pub fn material(&self) -> [&[u8]; 2] {
        [
            self.certificate_pem.as_deref().unwrap_or_default().as_bytes(),
            self.rekor_bundle.as_deref().unwrap_or_default().as_bytes(),
        ]
    }
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
    log_index: u64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// The v0.1 bundle a layer amounts to.
pub fn layer_bundle(signed: &Signed<'_>, annotations: &SignerAnnotations) -> Result<Bundle, Failure> {
    let mut material = match &annotations.certificate_pem {
        Some(pem) => {
            let der = DerCertificate::from_pem(pem)
                .map_err(|e| Failure::new("certificate", format!("signing certificate: {e}")))?;
            json!({ "x509CertificateChain": { "certificates": [{ "rawBytes": STANDARD.encode(der.as_bytes()) }] } })
        }
        None => json!({ "publicKey": { "hint": "" } }),
    };
    material["tlogEntries"] = match &annotations.rekor_bundle {
        Some(text) => json!([log_entry(text)?]),
        None => json!([]),
    };
    let mut bundle = json!({ "mediaType": BUNDLE_V01, "verificationMaterial": material });
    match signed {
        Signed::Payload { payload, signature } => {
            bundle["messageSignature"] = json!({
                "messageDigest": {
                    "algorithm": "SHA2_256",
                    "digest": STANDARD.encode(sigstore_verify::crypto::sha256(payload).as_bytes()),
                },
                "signature": STANDARD.encode(signature),
            });
        }
        Signed::Envelope(envelope) => bundle["dsseEnvelope"] = (*envelope).clone(),
    }
    Bundle::from_json(&bundle.to_string()).map_err(|e| {
        Failure::new(
            "bundle_format",
            format!("the signature layer is not a usable bundle: {e}"),
        )
    })
}

/// The bundle `tlogEntries[]` item for cosign's Rekor annotation; the entry kind is the body's.
fn log_entry(annotation: &str) -> Result<Value, Failure> {
    let malformed = |what: String| {
        Failure::new(
            "tlog_entry",
            format!("malformed `{REKOR_BUNDLE_ANNOTATION}` annotation: {what}"),
        )
    };
    let rekor: RekorBundle = serde_json::from_str(annotation).map_err(|e| malformed(e.to_string()))?;
    let body = STANDARD
        .decode(&rekor.payload.body)
        .map_err(|_| malformed("`Payload.body` must be base64".to_owned()))?;
    let body: Value =
        serde_json::from_slice(&body).map_err(|_| malformed("`Payload.body` is not json".to_owned()))?;
    let log_id = hex::decode(&rekor.payload.log_id)
        .map_err(|_| malformed("`Payload.logID` must be hex".to_owned()))?;
    Ok(json!({
        "logIndex": rekor.payload.log_index.to_string(),
        "logId": { "keyId": STANDARD.encode(log_id) },
        "kindVersion": { "kind": body.get("kind"), "version": body.get("apiVersion") },
        "integratedTime": rekor.payload.integrated_time.to_string(),
        "inclusionPromise": { "signedEntryTimestamp": rekor.set },
        "canonicalizedBody": rekor.payload.body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_rekor_annotations_fail_on_the_entry() {
        let payload = Signed::Payload {
            payload: b"{}",
            signature: b"sig",
        };
        for annotation in [
            "{}",
            r#"{"SignedEntryTimestamp":"","Payload":{"body":"%","integratedTime":1,"logIndex":1,"logID":"00"}}"#,
        ] {
            let annotations = SignerAnnotations {
                certificate_pem: None,
                rekor_bundle: Some(annotation.to_owned()),
            };
            let failure = layer_bundle(&payload, &annotations).unwrap_err();
            assert_eq!(failure.check, "tlog_entry", "{}", failure.reason);
        }
        let not_a_certificate = SignerAnnotations {
            certificate_pem: Some("junk".to_owned()),
            rekor_bundle: None,
        };
        assert_eq!(
            layer_bundle(&payload, &not_a_certificate).unwrap_err().check,
            "certificate"
        );
    }

    #[test]
    fn a_keyed_layer_without_an_entry_is_a_public_key_bundle_without_entries() {
        let payload = Signed::Payload {
            payload: b"{}",
            signature: b"sig",
        };
        let bundle = layer_bundle(&payload, &SignerAnnotations::default()).unwrap();
        assert!(bundle.verification_material.tlog_entries.is_empty());
    }
}
