//! Console sessions: a random id in an `HttpOnly; Secure; SameSite=Strict` cookie names a
//! server-side record holding the bearer token that signed in, its expiry and a CSRF token.
//!
//! Kept in memory on purpose: a session only wraps a token the user still holds, so losing it
//! (restart, another instance) costs one paste and leaks nothing; storing bearer tokens in the
//! database would widen where they can be read. Behind a load balancer the console needs
//! sticky sessions (or a shared store, left for later).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum::http::header;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use moka::Expiry;
use moka::future::Cache;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// The cookie naming the session.
pub const SESSION_COOKIE: &str = "gatehouse_session";
/// The double-submit cookie of the sign-in form (no session exists yet to bind it to).
pub const LOGIN_CSRF_COOKIE: &str = "gatehouse_login_csrf";
/// Sessions held at most; the oldest are dropped first beyond it.
const MAX_SESSIONS: u64 = 10_000;
/// How long a sign-in form stays usable.
pub const LOGIN_FORM_SECONDS: u64 = 600;

/// One signed-in browser.
pub struct Session {
    /// The bearer token pasted at sign-in; re-verified on every page.
    pub token: SecretString,
    /// Expected in the `csrf` field of every form this session posts.
    pub csrf: String,
    /// The token's `exp`, in seconds since the epoch.
    pub expires_at: u64,
}

/// The session table, keyed by the SHA-256 of the cookie value (the value itself is never
/// kept, so the table cannot be used to forge a cookie).
pub struct Sessions {
    table: Cache<[u8; 32], Arc<Session>>,
}

struct UntilExp;

impl Expiry<[u8; 32], Arc<Session>> for UntilExp {
    fn expire_after_create(&self, _: &[u8; 32], session: &Arc<Session>, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(session.expires_at.saturating_sub(now())))
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            table: Cache::builder()
                .max_capacity(MAX_SESSIONS)
                .expire_after(UntilExp)
                .build(),
        }
    }
}

impl Sessions {
    /// Opens a session for a verified token; answers the cookie value.
    pub async fn open(&self, token: SecretString, expires_at: u64) -> Result<String, getrandom::Error> {
        let id = random_token()?;
        let session = Session {
            token,
            csrf: random_token()?,
            expires_at,
        };
        self.table.insert(table_key(&id), Arc::new(session)).await;
        Ok(id)
    }

    /// The live session a cookie value names.
    pub async fn get(&self, id: &str) -> Option<Arc<Session>> {
        let session = self.table.get(&table_key(id)).await?;
        // moka expires lazily: the `exp` check here is the one that counts.
        (now() < session.expires_at).then_some(session)
    }

    /// Ends a session (sign-out, or its token stopped verifying).
    pub async fn end(&self, id: &str) {
        self.table.invalidate(&table_key(id)).await;
    }
}

/// What a server-side table keys a secret cookie value by (a session id, a sign-in's state):
/// its SHA-256, so the table never holds a value that could be sent back as a cookie.
pub fn table_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// 32 random bytes, URL-safe base64 (a cookie value and a form field alike).
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Compares a presented CSRF token with the expected one in constant time; empty never matches.
pub fn csrf_matches(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// The value of cookie `name` in the request, if sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value: never readable by scripts, never sent cross-site, only under `path`.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age_seconds: u64) -> String {
    format!("{name}={value}; Path={path}; Max-Age={max_age_seconds}; HttpOnly; Secure; SameSite=Strict")
}

/// Adds `cookie` as a `Set-Cookie` header. Cookies are made here from ids and random tokens, so
/// one that is not a valid header value cannot occur; it would be left out, never sent mangled.
pub fn append_cookie(response: &mut axum::response::Response, cookie: &str) {
    if let Ok(value) = axum::http::HeaderValue::from_str(cookie) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, value);
    }
}

/// The `exp` of a token that has just passed verification (so its payload is trusted).
pub fn verified_token_exp(token: &SecretString) -> Option<u64> {
    let claims: serde_json::Value =
        jsonwebtoken::dangerous::insecure_decode_claims(token.expose_secret()).ok()?;
    claims.get("exp").and_then(serde_json::Value::as_u64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[tokio::test]
    async fn a_session_is_found_by_its_cookie_and_ends() {
        let sessions = Sessions::default();
        let id = sessions.open(SecretString::from("t"), now() + 60).await.unwrap();
        assert!(sessions.get(&id).await.is_some());
        assert!(sessions.get("other").await.is_none());
        sessions.end(&id).await;
        assert!(sessions.get(&id).await.is_none());
    }

    #[tokio::test]
    async fn an_expired_token_has_no_session() {
        let sessions = Sessions::default();
        let id = sessions.open(SecretString::from("t"), now()).await.unwrap();
        assert!(sessions.get(&id).await.is_none());
    }

    #[test]
    fn csrf_needs_the_exact_token() {
        assert!(csrf_matches("abc", "abc"));
        assert!(!csrf_matches("abd", "abc"));
        assert!(!csrf_matches("", ""));
        assert!(!csrf_matches("ab", "abc"));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; gatehouse_session=xyz".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), None);
    }
}
