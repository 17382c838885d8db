//! Object tokens: ES256 JWTs the internal artifact store accepts for exactly one object.
//!
//! Claims: `iss` (the gateway), `sub` (who may read), `aud` (the store), `exp`/`nbf`/`iat`,
//! `jti`, and `object: {key, digest}` — the store serves the key only to a token naming it, and
//! the digest tells it (and an auditor) which content was granted. The algorithm is ES256 and
//! nothing else; the store verifies with the certificate or public key of the signing key.

use std::path::Path;

use chrono::{DateTime, SubsecRound as _, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::registry::SignedToken;

/// The one object a token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectGrant {
    /// The key inside the store (`store://<key>`).
    pub key: String,
    /// The digest the object must have.
    pub digest: String,
}

/// The claims of an object token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectTokenClaims {
    /// The gateway.
    pub iss: String,
    /// Who the token was issued to (an actor id, or the gateway itself for content fetch).
    pub sub: String,
    /// The store (`artifact_store.audience`).
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Not before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id (UUIDv7).
    pub jti: String,
    /// The pull intent it was issued for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Uuid>,
    /// The granted object.
    pub object: ObjectGrant,
}

/// Why object tokens cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ObjectTokenError {
    /// The key file could not be read.
    #[error("cannot read `{0}`")]
    Read(String, #[source] std::io::Error),
    /// The key is not a PKCS#8 EC P-256 key.
    #[error("`{0}` is not a PKCS#8 EC private key in PEM")]
    BadKey(String),
    /// The expiry is not after the issue time.
    #[error("an object token must expire after it is issued")]
    Expired,
    /// Signing failed.
    #[error("cannot sign an object token")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// Signs object tokens with one ES256 key.
#[derive(Clone)]
pub struct ObjectTokens {
    key: EncodingKey,
    issuer: String,
    audience: String,
    ttl: chrono::Duration,
}

impl std::fmt::Debug for ObjectTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never prints.
        f.debug_struct("ObjectTokens")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl ObjectTokens {
    /// Loads the signing key (PKCS#8 EC P-256 PEM).
    pub fn from_key_file(
        key_pem: &Path,
        issuer: String,
        audience: String,
        ttl_seconds: i64,
    ) -> Result<Self, ObjectTokenError> {
        let name = key_pem.display().to_string();
        let bytes = std::fs::read(key_pem).map_err(|e| ObjectTokenError::Read(name.clone(), e))?;
        let key = EncodingKey::from_ec_pem(&bytes).map_err(|_| ObjectTokenError::BadKey(name))?;
        Ok(Self {
            key,
            issuer,
            audience,
            ttl: chrono::Duration::seconds(ttl_seconds.max(1)),
        })
    }

    /// The longest a token lives.
    pub fn ttl(&self) -> chrono::Duration {
        self.ttl
    }

    /// The `aud` tokens carry.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// A token for `subject` to read `key` (which must hash to `digest`) until `expires_at`.
    pub fn sign(
        &self,
        subject: &str,
        object: ObjectGrant,
        intent: Option<Uuid>,
        expires_at: DateTime<Utc>,
    ) -> Result<SignedToken, ObjectTokenError> {
        // Whole seconds, so the recorded times equal the claims.
        let issued_at = Utc::now().trunc_subsecs(0);
        let expires_at = expires_at.trunc_subsecs(0);
        if expires_at <= issued_at {
            return Err(ObjectTokenError::Expired);
        }
        let jti = Uuid::now_v7().to_string();
        let claims = ObjectTokenClaims {
            iss: self.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.audience.clone(),
            exp: expires_at.timestamp(),
            nbf: issued_at.timestamp(),
            iat: issued_at.timestamp(),
            jti: jti.clone(),
            intent,
            object,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key)
            .map_err(ObjectTokenError::Sign)?;
        Ok(SignedToken {
            token,
            jti,
            issued_at,
            expires_at,
        })
    }

    /// A token for `subject` and `object` that lives the configured time.
    pub fn sign_for_ttl(&self, subject: &str, object: ObjectGrant) -> Result<SignedToken, ObjectTokenError> {
        self.sign(subject, object, None, Utc::now() + self.ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Digest;
    use jsonwebtoken::{DecodingKey, Validation};
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        crate::repo_path("").join("fixtures/registry").join(name)
    }

    fn tokens() -> ObjectTokens {
        ObjectTokens::from_key_file(
            &fixture("token.key"),
            "gatehouse".to_owned(),
            "artifact-store".to_owned(),
            300,
        )
        .unwrap()
    }

    #[test]
    fn tokens_name_one_object_and_verify_with_the_certificate() {
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let grant = ObjectGrant {
            key: "models/w.bin".to_owned(),
            digest: digest.to_string(),
        };
        let intent = Uuid::now_v7();
        let signed = tokens()
            .sign(
                "user:olivia",
                grant.clone(),
                Some(intent),
                Utc::now() + chrono::Duration::seconds(60),
            )
            .unwrap();
        let public = DecodingKey::from_ec_pem(&std::fs::read(fixture("token.crt")).unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["artifact-store"]);
        validation.set_issuer(&["gatehouse"]);
        let claims = jsonwebtoken::decode::<ObjectTokenClaims>(&signed.token, &public, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims.object, grant);
        assert_eq!(claims.sub, "user:olivia");
        assert_eq!(claims.intent, Some(intent));
        assert_eq!(claims.exp, signed.expires_at.timestamp());
        assert_eq!(claims.jti, signed.jti);

        let mut other_audience = Validation::new(Algorithm::ES256);
        other_audience.set_audience(&["gatehouse-registry"]);
        assert!(jsonwebtoken::decode::<ObjectTokenClaims>(&signed.token, &public, &other_audience).is_err());
    }

    #[test]
    fn an_expiry_in_the_past_is_refused_and_bad_keys_are_named() {
        let grant = ObjectGrant {
            key: "k".to_owned(),
            digest: "d".to_owned(),
        };
        assert!(matches!(
            tokens().sign("s", grant, None, Utc::now() - chrono::Duration::seconds(1)),
            Err(ObjectTokenError::Expired)
        ));
        let err = ObjectTokens::from_key_file(&fixture("token.crt"), "i".into(), "a".into(), 60).unwrap_err();
        assert!(err.to_string().contains("token.crt"), "{err}");
    }
}
