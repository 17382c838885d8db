//! The gateway's summary key (config `vsa.key_file`): signs statements as DSSE envelopes.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::trust::dsse::{IN_TOTO_PAYLOAD_TYPE, pae};

/// Why the summary key cannot be used; never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum VsaKeyError {
    /// The file cannot be read.
    #[error("cannot read `{file}`: {reason}")]
    Read {
        /// The configured path.
        file: String,
        /// The I/O error.
        reason: String,
    },
    /// The file is not a P-256 private key in PEM.
    #[error("`{0}` is not a P-256 private key in PEM (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`)")]
    NotP256(String),
    /// The verifier id is not an absolute URI.
    #[error("`vsa.verifier_id` must be an absolute URI such as `https://gatehouse.example/verifier`")]
    VerifierId,
}

/// Signs verification summaries; one per gateway, loaded at start-up.
pub struct VsaSigner {
    key: SigningKey,
    key_id: String,
    public_pem: String,
    verifier_id: String,
}

impl std::fmt::Debug for VsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key never prints.
        f.debug_struct("VsaSigner")
            .field("key_id", &self.key_id)
            .field("verifier_id", &self.verifier_id)
            .finish_non_exhaustive()
    }
}

impl VsaSigner {
    /// Loads the PEM key at `file` for `verifier_id`.
    pub fn load(file: &Path, verifier_id: &str) -> Result<Self, VsaKeyError> {
        let shown = file.display().to_string();
        let pem = std::fs::read_to_string(file).map_err(|e| VsaKeyError::Read {
            file: shown.clone(),
            reason: e.to_string(),
        })?;
        Self::from_pem(&pem, verifier_id).map_err(|e| match e {
            VsaKeyError::NotP256(_) => VsaKeyError::NotP256(shown),
            other => other,
        })
    }

    /// Builds the signer from PEM text.
    pub fn from_pem(pem: &str, verifier_id: &str) -> Result<Self, VsaKeyError> {
        if !is_absolute_uri(verifier_id) {
            return Err(VsaKeyError::VerifierId);
        }
        let not_p256 = || VsaKeyError::NotP256("key".to_owned());
        let key = match SigningKey::from_pkcs8_pem(pem) {
            Ok(key) => key,
            Err(_) => p256::SecretKey::from_sec1_pem(pem)
                .map(SigningKey::from)
                .map_err(|_| not_p256())?,
        };
        let public = key.verifying_key();
        let der = public.to_public_key_der().map_err(|_| not_p256())?;
        let public_pem = public.to_public_key_pem(LineEnding::LF).map_err(|_| not_p256())?;
        Ok(Self {
            key_id: format!("sha256:{}", hex::encode(Sha256::digest(der.as_bytes()))),
            key,
            public_pem,
            verifier_id: verifier_id.to_owned(),
        })
    }

    /// `sha256:` + hex of the public key's DER SubjectPublicKeyInfo: the envelope's `keyid`,
    /// named the way the gateway names every configured key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public key (PEM SubjectPublicKeyInfo) consumers verify with.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The configured `verifier.id`.
    pub fn verifier_id(&self) -> &str {
        &self.verifier_id
    }

    /// `statement` as a DSSE envelope: ECDSA P-256 SHA-256 (DER signature) over the PAE of its
    /// exact JSON bytes.
    pub fn sign(&self, statement: &Value) -> Value {
        // Serializing a `Value` cannot fail (string keys only).
        let payload = serde_json::to_vec(statement).unwrap_or_default();
        let signature: Signature = self.key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload));
        json!({
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "payload": STANDARD.encode(&payload),
            "signatures": [{
                "keyid": self.key_id,
                "sig": STANDARD.encode(signature.to_der().as_bytes()),
            }],
        })
    }
}

/// `scheme:rest` with an RFC 3986 scheme and something after it.
fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::DecodePublicKey;

    const VERIFIER: &str = "https://gatehouse.example/verifier";

    fn signer() -> VsaSigner {
        let pem = std::fs::read_to_string(crate::repo_path("fixtures/vsa/vsa.key")).unwrap();
        VsaSigner::from_pem(&pem, VERIFIER).unwrap()
    }

    #[test]
    fn the_envelope_signs_the_pae_of_its_payload_with_the_published_key() {
        let signer = signer();
        let statement = json!({ "_type": "https://in-toto.io/Statement/v1", "x": "é" });
        let envelope = signer.sign(&statement);
        assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
        let payload = STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&payload).unwrap(), statement);
        let sig = &envelope["signatures"][0];
        assert_eq!(sig["keyid"], signer.key_id());
        let der = STANDARD.decode(sig["sig"].as_str().unwrap()).unwrap();
        let signature = Signature::from_der(&der).unwrap();
        let public = VerifyingKey::from_public_key_pem(signer.public_pem()).unwrap();
        // The PAE per the DSSE spec, spelled out here rather than through `pae`.
        let mut message = format!("DSSEv1 28 application/vnd.in-toto+json {} ", payload.len()).into_bytes();
        message.extend_from_slice(&payload);
        assert!(public.verify(&message, &signature).is_ok());
        // A flipped payload byte no longer verifies.
        let last = message.len() - 1;
        message[last] ^= 1;
        assert!(public.verify(&message, &signature).is_err());
    }

    #[test]
    fn the_key_id_is_the_sha256_of_the_public_key_der() {
        let signer = signer();
        let public = VerifyingKey::from_public_key_pem(signer.public_pem()).unwrap();
        let der = public.to_public_key_der().unwrap();
        let expected = format!("sha256:{}", hex::encode(Sha256::digest(der.as_bytes())));
        assert_eq!(signer.key_id(), expected);
    }

    #[test]
    fn a_key_that_is_not_p256_or_a_bad_verifier_id_is_refused_without_echoing_the_key() {
        let rsa = std::fs::read_to_string(crate::repo_path("fixtures/keys/issuer-rs256.key")).unwrap();
        let error = VsaSigner::from_pem(&rsa, VERIFIER).unwrap_err().to_string();
        assert!(error.contains("P-256"), "{error}");
        assert!(!error.contains("BEGIN"), "{error}");
        let pem = std::fs::read_to_string(crate::repo_path("fixtures/vsa/vsa.key")).unwrap();
        for bad in ["", "gatehouse", "not a uri: x", "1http://x"] {
            assert!(
                matches!(VsaSigner::from_pem(&pem, bad), Err(VsaKeyError::VerifierId)),
                "{bad}"
            );
        }
        let missing = VsaSigner::load(Path::new("/nonexistent/vsa.key"), VERIFIER).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/vsa.key"));
    }

    #[test]
    fn a_sec1_key_loads_too() {
        let pem = std::fs::read_to_string(crate::repo_path("fixtures/vsa/vsa-sec1.key")).unwrap();
        assert!(VsaSigner::from_pem(&pem, VERIFIER).is_ok());
    }

    #[test]
    fn the_debug_form_shows_no_key_material() {
        let shown = format!("{:?}", signer());
        assert!(
            shown.contains("key_id") && !shown.contains("SigningKey"),
            "{shown}"
        );
    }
}
