//! OpenID Connect ID tokens, for the console's sign-in: checked with the same `[[auth.issuers]]`
//! entry as bearer tokens (pinned algorithms, its keys, `iss`, `exp`, leeway) but for the
//! console's client id as audience and the nonce of the sign-in that asked for the token.

use jsonwebtoken::AlgorithmFamily;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::{AuthError, Authenticator, MAX_TOKEN_BYTES, parse_header, unverified_issuer, verify};

/// An ID token need not carry `nbf` (OpenID Connect Core §2); `iss`, `aud` and `exp` it must.
const ID_TOKEN_REQUIRED_CLAIMS: [&str; 3] = ["iss", "aud", "exp"];

impl Authenticator {
    /// Whether `issuer` is one of `[[auth.issuers]]` (the console's OIDC provider must be).
    pub fn has_issuer(&self, issuer: &str) -> bool {
        self.issuers.contains_key(issuer)
    }

    /// Verifies an ID token from `issuer` for `client_id`, carrying `nonce`.
    pub async fn verify_id_token(
        &self,
        issuer: &str,
        token: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<(), AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let header = parse_header(token)?;
        if header.alg.family() == AlgorithmFamily::Hmac {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        if header.crit.is_some() {
            return Err(AuthError::Malformed);
        }
        // The token endpoint of `issuer` answered it, so its `iss` must be that issuer.
        if unverified_issuer(token)? != issuer {
            return Err(AuthError::UnknownIssuer);
        }
        let trusted = self.issuers.get(issuer).ok_or(AuthError::UnknownIssuer)?;
        if !trusted.algorithms.contains(&header.alg) {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        let mut validation = trusted.validation.clone();
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&ID_TOKEN_REQUIRED_CLAIMS);
        let (_, keys) = trusted.candidates(&header).await?;
        let claims = verify(token, &keys, &validation)?;
        match claims.get("nonce") {
            None | Some(Value::Null) => return Err(AuthError::MissingClaim("nonce")),
            Some(Value::String(sent)) if same(sent, nonce) => {}
            Some(_) => return Err(AuthError::InvalidClaim("nonce")),
        }
        // With several audiences the authorized party must be this client (Core §3.1.3.7).
        let several = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
        match claims.get("azp") {
            Some(Value::String(azp)) if azp == client_id => {}
            None if !several => {}
            _ => return Err(AuthError::InvalidClaim("azp")),
        }
        Ok(())
    }
}

/// Constant-time equality; an empty expected value never matches.
fn same(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::auth::{AuthConfig, IssuerConfig};

    const ISSUER: &str = "https://login.test";

    fn authenticator() -> Authenticator {
        let cfg = AuthConfig {
            issuers: vec![IssuerConfig {
                issuer: ISSUER.to_owned(),
                audience: "gatehouse".to_owned(),
                algorithms: vec!["ES256".to_owned()],
                public_key_file: Some("fixtures/keys/issuer-es256.pub.pem".into()),
                jwks_url: None,
                dev_private_key_file: None,
            }],
            ..AuthConfig::default()
        };
        Authenticator::from_config(&cfg, &crate::repo_path("")).unwrap()
    }

    fn sign(claims: &Value, key: &str) -> String {
        let path = &crate::repo_path("").join("fixtures/keys").join(key);
        let key = EncodingKey::from_ec_pem(&std::fs::read(path).unwrap()).unwrap();
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &key).unwrap()
    }

    fn claims() -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        json!({"iss": ISSUER, "aud": "console", "sub": "alice", "exp": now + 300, "iat": now, "nonce": "n-1"})
    }

    async fn check(claims: &Value) -> Result<(), AuthError> {
        let token = sign(claims, "issuer-es256.key");
        authenticator()
            .verify_id_token(ISSUER, &token, "console", "n-1")
            .await
    }

    #[tokio::test]
    async fn an_id_token_for_this_client_and_nonce_verifies() {
        assert_eq!(check(&claims()).await, Ok(()));
        let mut with_azp = claims();
        with_azp["aud"] = json!(["console", "other"]);
        with_azp["azp"] = json!("console");
        assert_eq!(check(&with_azp).await, Ok(()));
    }

    /// A named change to the claims and the refusal it must cause.
    type Case = (&'static str, Box<dyn Fn(&mut Value)>, AuthError);

    #[tokio::test]
    async fn every_check_refuses() {
        let cases: Vec<Case> = vec![
            (
                "nonce",
                Box::new(|c| c["nonce"] = json!("n-2")),
                AuthError::InvalidClaim("nonce"),
            ),
            (
                "no nonce",
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("nonce");
                }),
                AuthError::MissingClaim("nonce"),
            ),
            (
                "audience",
                Box::new(|c| c["aud"] = json!("gatehouse")),
                AuthError::WrongAudience,
            ),
            (
                "expired",
                Box::new(|c| c["exp"] = json!(1000)),
                AuthError::Expired,
            ),
            (
                "issuer",
                Box::new(|c| c["iss"] = json!("https://evil.test")),
                AuthError::UnknownIssuer,
            ),
            (
                "azp",
                Box::new(|c| c["aud"] = json!(["console", "other"])),
                AuthError::InvalidClaim("azp"),
            ),
        ];
        for (name, change, expected) in cases {
            let mut c = claims();
            change(&mut c);
            assert_eq!(check(&c).await, Err(expected), "{name}");
        }
    }

    #[tokio::test]
    async fn another_key_or_algorithm_is_refused() {
        let auth = authenticator();
        let other = sign(&claims(), "other-es256.key");
        assert_eq!(
            auth.verify_id_token(ISSUER, &other, "console", "n-1").await,
            Err(AuthError::InvalidSignature)
        );
        let hmac = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert_eq!(
            auth.verify_id_token(ISSUER, &hmac, "console", "n-1").await,
            Err(AuthError::AlgorithmNotAllowed)
        );
    }
}
