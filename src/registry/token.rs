//! Signing registry bearer tokens that CNCF distribution 2.8 accepts.
//!
//! Distribution's verifier (`registry/auth/token`) looks for the signing key in the JWT header,
//! in this order: `x5c` (a certificate chain it verifies against `rootcertbundle`), `jwk`, then
//! `kid` (a libtrust fingerprint of a key in the bundle). We send `x5c` = the one certificate the
//! registry is given as `rootcertbundle`. `tests/registry_tokens.rs` checks against the real
//! 2.8.2 registry that this is accepted, that a libtrust-fingerprint `kid` alone would be too,
//! and that a header with neither is refused. It then requires `iss` = its configured issuer, `aud` = its service (a single
//! string), and `exp`/`nbf` within 60 s of leeway; `access` lists what is granted.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SubsecRound as _, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use serde_json::json;

use crate::domain::AccessGrant;

/// Signs registry tokens with one ES256 key whose certificate the registry trusts.
pub struct TokenSigner {
    key: EncodingKey,
    cert_der_b64: String,
    issuer: String,
    service: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never prints.
        f.debug_struct("TokenSigner")
            .field("issuer", &self.issuer)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// Why a signer could not be built or a token could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum TokenSignerError {
    /// A key or certificate file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The private key is not a PKCS#8 EC key in PEM.
    #[error("`{0}` is not a PKCS#8 EC private key in PEM")]
    BadKey(String),
    /// The certificate is not one PEM certificate with an EC public key.
    #[error("`{0}` is not a PEM certificate with an EC P-256 public key")]
    BadCert(String),
    /// The certificate vouches for another key, so the registry would refuse every token.
    #[error("the certificate `{cert}` does not match the private key `{key}`")]
    Mismatch {
        /// The key file.
        key: String,
        /// The certificate file.
        cert: String,
    },
    /// The time to live cannot be represented.
    #[error("token time to live is out of range")]
    BadTtl,
    /// Signing failed.
    #[error("cannot sign a registry token")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// A signed registry token and the facts about it the gateway records.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedToken {
    /// The compact JWT.
    pub token: String,
    /// Its `jti` (UUIDv7).
    pub jti: String,
    /// Its `iat`.
    pub issued_at: DateTime<Utc>,
    /// Its `exp`.
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    // INVARIANT: a single string; distribution 2.8 decodes `aud` into a string.
    aud: &'a str,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: &'a str,
    access: &'a [AccessGrant],
}

impl TokenSigner {
    /// Loads the signing key and its certificate, and checks that they belong together.
    pub fn from_files(
        key_pem: &Path,
        cert_pem: &Path,
        issuer: String,
        service: String,
    ) -> Result<Self, TokenSignerError> {
        let key_bytes = read(key_pem)?;
        let cert_bytes = read(cert_pem)?;
        let key_name = key_pem.display().to_string();
        let cert_name = cert_pem.display().to_string();
        let key =
            EncodingKey::from_ec_pem(&key_bytes).map_err(|_| TokenSignerError::BadKey(key_name.clone()))?;
        // jsonwebtoken extracts the public key from a CERTIFICATE PEM, which lets us prove the
        // pair matches by signing a probe, with no X.509 parser added to the tree.
        let public = DecodingKey::from_ec_pem(&cert_bytes)
            .map_err(|_| TokenSignerError::BadCert(cert_name.clone()))?;
        let probe = b"gatehouse registry token key check";
        let signature = jsonwebtoken::crypto::sign(probe, &key, Algorithm::ES256)
            .map_err(|_| TokenSignerError::BadKey(key_name.clone()))?;
        let matches = jsonwebtoken::crypto::verify(&signature, probe, &public, Algorithm::ES256)
            .map_err(|_| TokenSignerError::BadCert(cert_name.clone()))?;
        if !matches {
            return Err(TokenSignerError::Mismatch {
                key: key_name,
                cert: cert_name,
            });
        }
        let cert_der_b64 = single_cert_der_b64(&cert_bytes).ok_or(TokenSignerError::BadCert(cert_name))?;
        Ok(Self {
            key,
            cert_der_b64,
            issuer,
            service,
        })
    }

    /// The `aud` tokens carry (the registry's `auth.token.service`).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Signs a token for `subject` granting exactly `access`, valid for `ttl`.
    pub fn sign(
        &self,
        subject: &str,
        access: &[AccessGrant],
        ttl: Duration,
    ) -> Result<SignedToken, TokenSignerError> {
        let ttl = chrono::Duration::from_std(ttl).map_err(|_| TokenSignerError::BadTtl)?;
        // Whole seconds, so the recorded times equal the claims.
        let issued_at = Utc::now().trunc_subsecs(0);
        let expires_at = issued_at
            .checked_add_signed(ttl)
            .ok_or(TokenSignerError::BadTtl)?;
        let jti = uuid::Uuid::now_v7().to_string();
        let claims = Claims {
            iss: &self.issuer,
            sub: subject,
            aud: &self.service,
            exp: expires_at.timestamp(),
            nbf: issued_at.timestamp(),
            iat: issued_at.timestamp(),
            jti: &jti,
            access,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(vec![self.cert_der_b64.clone()]);
        let token = jsonwebtoken::encode(&header, &claims, &self.key).map_err(TokenSignerError::Sign)?;
        Ok(SignedToken {
            token,
            jti,
            issued_at,
            expires_at,
        })
    }
}

/// The token endpoint's answer, as the token spec gives it: `token` and its OAuth2 alias
/// `access_token`, `expires_in` seconds and `issued_at` in RFC 3339.
pub fn token_response(signed: &SignedToken) -> serde_json::Value {
    json!({
        "token": signed.token,
        "access_token": signed.token,
        "expires_in": (signed.expires_at - signed.issued_at).num_seconds(),
        "issued_at": signed.issued_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TokenSignerError> {
    std::fs::read(path).map_err(|source| TokenSignerError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The DER of the first PEM certificate, in standard base64 as `x5c` wants it.
fn single_cert_der_b64(pem: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(pem).ok()?;
    let (_, rest) = text.split_once("-----BEGIN CERTIFICATE-----")?;
    let (body, _) = rest.split_once("-----END CERTIFICATE-----")?;
    let compact: String = body.split_whitespace().collect();
    // Decode and re-encode so a corrupt body fails at load, not at the registry.
    let der = STANDARD.decode(compact).ok()?;
    Some(STANDARD.encode(der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        crate::repo_path("").join("fixtures/registry").join(name)
    }

    fn signer() -> TokenSigner {
        TokenSigner::from_files(
            &fixture("token.key"),
            &fixture("token.crt"),
            "gatehouse".to_owned(),
            "gatehouse-registry".to_owned(),
        )
        .unwrap()
    }

    #[test]
    fn signs_the_claims_distribution_needs() {
        let access = [AccessGrant {
            resource_type: "repository".to_owned(),
            name: "a/b".to_owned(),
            actions: vec!["pull".to_owned()],
        }];
        let signed = signer()
            .sign("intent-1", &access, Duration::from_secs(300))
            .unwrap();
        let header = jsonwebtoken::decode_header(&signed.token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.x5c.as_ref().map(Vec::len), Some(1));

        let public = DecodingKey::from_ec_pem(&std::fs::read(fixture("token.crt")).unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.set_audience(&["gatehouse-registry"]);
        validation.set_issuer(&["gatehouse"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(&signed.token, &public, &validation).unwrap();
        let claims = data.claims;
        assert_eq!(claims["sub"], "intent-1");
        assert_eq!(claims["aud"], "gatehouse-registry");
        assert_eq!(claims["jti"], signed.jti.as_str());
        assert_eq!(claims["iat"], signed.issued_at.timestamp());
        assert_eq!(claims["nbf"], signed.issued_at.timestamp());
        assert_eq!(claims["exp"], signed.expires_at.timestamp());
        assert_eq!(claims["access"], serde_json::to_value(access).unwrap());
    }

    #[test]
    fn empty_access_is_an_empty_list_not_null() {
        let signed = signer().sign("s", &[], Duration::from_secs(60)).unwrap();
        let claims: serde_json::Value = jsonwebtoken::dangerous::insecure_decode(&signed.token)
            .unwrap()
            .claims;
        assert_eq!(claims["access"], serde_json::json!([]));
    }

    #[test]
    fn response_has_the_spec_fields() {
        let signed = signer().sign("s", &[], Duration::from_secs(300)).unwrap();
        let body = token_response(&signed);
        assert_eq!(body["token"], signed.token.as_str());
        assert_eq!(body["access_token"], signed.token.as_str());
        assert_eq!(body["expires_in"], 300);
        assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn refuses_a_certificate_for_another_key() {
        let err = TokenSigner::from_files(
            &fixture("token.key"),
            &fixture("other.crt"),
            "i".to_owned(),
            "s".to_owned(),
        )
        .unwrap_err();
        assert!(matches!(err, TokenSignerError::Mismatch { .. }), "{err:?}");
    }

    #[test]
    fn refuses_swapped_and_missing_files() {
        let swapped = TokenSigner::from_files(
            &fixture("token.crt"),
            &fixture("token.key"),
            "i".to_owned(),
            "s".to_owned(),
        );
        assert!(matches!(swapped, Err(TokenSignerError::BadKey(_))));
        let missing = TokenSigner::from_files(
            &fixture("nope.key"),
            &fixture("token.crt"),
            "i".to_owned(),
            "s".to_owned(),
        );
        assert!(matches!(missing, Err(TokenSignerError::Read { .. })));
    }
}
