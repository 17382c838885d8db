//! A small OpenID Connect provider on a free local port, for the console's sign-in tests:
//! discovery, a JWK set, an authorization endpoint that approves at once (redirecting back
//! with a code), and a token endpoint that checks the PKCE verifier against the challenge and
//! answers an ES256 ID token and access token. Knobs make it misbehave on purpose.

#![allow(
    clippy::disallowed_types,
    reason = "a stand-in identity provider, not the gateway: its rejections need not be problem+json"
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::pkcs8::DecodePrivateKey as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{AUDIENCE, repo_path};

/// The client id the console is registered with.
pub const CLIENT_ID: &str = "gatehouse-console";
/// The key id in the JWK set and token headers.
const KID: &str = "provider-1";

/// A running provider.
pub struct Provider {
    /// Its issuer URL (also its base URL).
    pub issuer: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

/// One issued, unredeemed code.
struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
}

struct Shared {
    issuer: String,
    redirect_uri: String,
    key: EncodingKey,
    jwk: Value,
    codes: Mutex<HashMap<String, Grant>>,
    /// The user the authorization endpoint signs in: `sub` and the `projects` claim.
    user: Mutex<(String, Value)>,
    /// Stores a wrong challenge, so the verifier the client sends cannot match.
    corrupt_challenge: AtomicBool,
    /// Puts another nonce into the ID token.
    wrong_nonce: AtomicBool,
    /// Answers the authorization request with `error=access_denied`.
    deny: AtomicBool,
    /// Token requests seen.
    token_requests: AtomicUsize,
}

impl Provider {
    /// Starts a provider whose one client may redirect only to `redirect_uri`.
    pub async fn start(redirect_uri: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let pem = std::fs::read(repo_path("fixtures/keys/other-es256.key")).unwrap();
        let secret = p256::SecretKey::from_pkcs8_pem(std::str::from_utf8(&pem).unwrap()).unwrap();
        let point = secret.public_key().to_encoded_point(false);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": KID,
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        });
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            redirect_uri: redirect_uri.to_owned(),
            key: EncodingKey::from_ec_pem(&pem).unwrap(),
            jwk,
            codes: Mutex::default(),
            user: Mutex::new(("alice".to_owned(), json!({}))),
            corrupt_challenge: AtomicBool::new(false),
            wrong_nonce: AtomicBool::new(false),
            deny: AtomicBool::new(false),
            token_requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { issuer, shared, task }
    }

    /// The `[[auth.issuers]]` entry the gateway trusts this provider with (keys from its JWKS).
    pub fn issuer_config(&self) -> gatehouse::auth::IssuerConfig {
        gatehouse::auth::IssuerConfig {
            issuer: self.issuer.clone(),
            audience: AUDIENCE.to_owned(),
            algorithms: vec!["ES256".to_owned()],
            public_key_file: None,
            jwks_url: Some(format!("{}/jwks", self.issuer)),
            dev_private_key_file: None,
        }
    }

    /// Signs in `sub` with these project roles from now on.
    pub fn sign_in_as(&self, sub: &str, projects: Value) {
        *self.shared.user.lock().unwrap() = (sub.to_owned(), projects);
    }

    /// Makes every new code fail its PKCE check (as if the verifier did not match).
    pub fn corrupt_challenges(&self, on: bool) {
        self.shared.corrupt_challenge.store(on, Ordering::SeqCst);
    }

    /// Puts a nonce other than the one asked for into ID tokens.
    pub fn wrong_nonce(&self, on: bool) {
        self.shared.wrong_nonce.store(on, Ordering::SeqCst);
    }

    /// Answers authorization requests with `access_denied`.
    pub fn deny(&self, on: bool) {
        self.shared.deny.store(on, Ordering::SeqCst);
    }

    /// How many token requests arrived.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let issuer = &shared.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "keys": [shared.jwk] }))
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    nonce: String,
    code_challenge: String,
    code_challenge_method: String,
}

async fn authorize(State(shared): State<Arc<Shared>>, Query(q): Query<AuthorizeQuery>) -> Response {
    // A client the provider does not know, or a redirect it did not register: no redirect.
    if q.client_id != CLIENT_ID || q.redirect_uri != shared.redirect_uri {
        return (StatusCode::BAD_REQUEST, "unknown client or redirect_uri").into_response();
    }
    let back = |query: String| {
        (
            StatusCode::FOUND,
            [(header::LOCATION, format!("{}?{query}", q.redirect_uri))],
        )
            .into_response()
    };
    if shared.deny.load(Ordering::SeqCst) {
        return back(format!(
            "error=access_denied&error_description=The+user+said+no&state={}",
            q.state
        ));
    }
    let valid = q.response_type == "code"
        && q.code_challenge_method == "S256"
        && q.scope.split(' ').any(|s| s == "openid")
        && q.code_challenge.len() == 43;
    if !valid {
        return back(format!("error=invalid_request&state={}", q.state));
    }
    let code = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{}{}", q.state, q.nonce)));
    let challenge = if shared.corrupt_challenge.load(Ordering::SeqCst) {
        URL_SAFE_NO_PAD.encode(Sha256::digest(b"another verifier"))
    } else {
        q.code_challenge.clone()
    };
    shared.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            challenge,
            nonce: q.nonce.clone(),
            redirect_uri: q.redirect_uri.clone(),
        },
    );
    back(format!(
        "code={code}&state={}&iss={}",
        q.state,
        encode(&shared.issuer)
    ))
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
    client_id: String,
}

fn refuse(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

async fn token(State(shared): State<Arc<Shared>>, Form(form): Form<TokenForm>) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    if form.grant_type != "authorization_code" || form.client_id != CLIENT_ID {
        return refuse("invalid_client", "unknown client");
    }
    // A code is redeemed once.
    let Some(grant) = shared.codes.lock().unwrap().remove(&form.code) else {
        return refuse("invalid_grant", "unknown or used code");
    };
    if grant.redirect_uri != form.redirect_uri {
        return refuse("invalid_grant", "redirect_uri differs");
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(form.code_verifier.as_bytes()));
    if computed != grant.challenge {
        return refuse("invalid_grant", "PKCE verification failed");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (sub, projects) = shared.user.lock().unwrap().clone();
    let nonce = if shared.wrong_nonce.load(Ordering::SeqCst) {
        "not-the-nonce".to_owned()
    } else {
        grant.nonce
    };
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KID.to_owned());
    let id_claims = json!({
        "iss": shared.issuer, "aud": CLIENT_ID, "sub": sub, "exp": now + 600, "iat": now,
        "nonce": nonce,
    });
    let access_claims = json!({
        "iss": shared.issuer, "aud": AUDIENCE, "sub": sub, "exp": now + 600, "nbf": now - 5,
        "iat": now, "act_type": "user", "projects": projects,
    });
    let id_token = jsonwebtoken::encode(&header, &id_claims, &shared.key).unwrap();
    let access_token = jsonwebtoken::encode(&header, &access_claims, &shared.key).unwrap();
    Json(json!({
        "token_type": "Bearer",
        "expires_in": 600,
        "id_token": id_token,
        "access_token": access_token,
    }))
    .into_response()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
