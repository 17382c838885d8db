//! Intent credentials: random one-time passwords, stored only as hashes, compared in constant
//! time; usernames that name the intent they belong to.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::AdmissionError;
use crate::domain::IntentKind;

/// A credential handed to a client once.
#[derive(Clone, Serialize)]
pub struct Credential {
    /// `publish-<intent id>` or `pull-<intent id>`; valid only at the token endpoint.
    pub username: String,
    /// The one-time password (never stored; only its hash is).
    pub password: String,
    /// A ready registry bearer token for the same grant.
    pub token: String,
    /// When the credential stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log line, even through a debug print.
        f.debug_struct("Credential")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// 256 random bits, base64url.
pub fn new_password() -> Result<String, AdmissionError> {
    let mut bytes = [0_u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a credential");
        AdmissionError::Unavailable
    })?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 hex of a password, the only form stored.
pub fn password_sha256(password: &str) -> String {
    hex::encode(Sha256::digest(password.as_bytes()))
}

/// Whether `password` hashes to `stored_sha256`, compared in constant time.
pub fn password_matches(password: &str, stored_sha256: &str) -> bool {
    password_sha256(password)
        .as_bytes()
        .ct_eq(stored_sha256.as_bytes())
        .into()
}

/// Username of a publish intent's credential.
pub fn publish_username(id: Uuid) -> String {
    format!("publish-{id}")
}

/// Username of a pull intent's credential.
pub fn pull_username(id: Uuid) -> String {
    format!("pull-{id}")
}

/// Which intent a username names, if it names one.
pub fn parse_username(username: &str) -> Option<(IntentKind, Uuid)> {
    if let Some(id) = username.strip_prefix("publish-") {
        return Uuid::parse_str(id).ok().map(|id| (IntentKind::Publish, id));
    }
    let id = username.strip_prefix("pull-")?;
    Uuid::parse_str(id).ok().map(|id| (IntentKind::Pull, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_random_and_checked_by_hash() {
        let a = new_password().unwrap();
        let b = new_password().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let stored = password_sha256(&a);
        assert!(password_matches(&a, &stored));
        assert!(!password_matches(&b, &stored));
        assert!(!password_matches("", &stored));
    }

    #[test]
    fn usernames_name_their_intent() {
        let id = Uuid::now_v7();
        assert_eq!(
            parse_username(&publish_username(id)),
            Some((IntentKind::Publish, id))
        );
        assert_eq!(parse_username(&pull_username(id)), Some((IntentKind::Pull, id)));
        assert_eq!(parse_username("publish-nope"), None);
        assert_eq!(parse_username("admin"), None);
    }
}
