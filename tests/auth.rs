//! Black-box tests of `gatehouse::auth`: real keys from `fixtures/keys`, real signatures, and a
//! real JWKS server on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::auth::{
    AuthConfig, AuthConfigError, AuthError, Authenticator, ClaimNames, IssuerConfig, MintError, MintRequest,
    mint_dev_token,
};
use gatehouse::domain::{ActorType, ProjectSlug, Role};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};

const ES_ISSUER: &str = "https://es.issuer.test";
const RS_ISSUER: &str = "https://rs.issuer.test";
const JWKS_ISSUER: &str = "https://jwks.issuer.test";
const AUDIENCE: &str = "gatehouse";

fn keys_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("fixtures/keys")
}

fn read_key(name: &str) -> Vec<u8> {
    std::fs::read(keys_dir().join(name)).unwrap()
}

fn issuer(
    name: &str,
    algs: &[&str],
    public_key_file: Option<&str>,
    jwks_url: Option<String>,
) -> IssuerConfig {
    IssuerConfig {
        issuer: name.to_owned(),
        audience: AUDIENCE.to_owned(),
        algorithms: algs.iter().map(|a| (*a).to_owned()).collect(),
        public_key_file: public_key_file.map(PathBuf::from),
        jwks_url,
        dev_private_key_file: None,
    }
}

/// An ES256 issuer (with a dev key for minting) and an RS256 issuer, both with PEM keys.
fn static_config() -> AuthConfig {
    let mut es = issuer(ES_ISSUER, &["ES256"], Some("issuer-es256.pub.pem"), None);
    es.dev_private_key_file = Some(PathBuf::from("issuer-es256.key"));
    AuthConfig {
        issuers: vec![
            es,
            issuer(RS_ISSUER, &["RS256"], Some("issuer-rs256.pub.pem"), None),
        ],
        claims: ClaimNames::default(),
    }
}

fn authenticator(cfg: &AuthConfig) -> Authenticator {
    Authenticator::from_config(cfg, &keys_dir()).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(iss: &str) -> Value {
    json!({
        "iss": iss,
        "aud": AUDIENCE,
        "iat": now(),
        "nbf": now() - 10,
        "exp": now() + 300,
        "sub": "alice",
        "projects": {"team-a": ["admin", "releaser", "owner"], "team-b": ["viewer"]},
        "platform_roles": ["security_admin"],
    })
}

fn sign_with(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn sign_es(key_file: &str, kid: Option<&str>, claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(&read_key(key_file)).unwrap();
    sign_with(Algorithm::ES256, &key, kid, claims)
}

fn sign_rs(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(&read_key("issuer-rs256.key")).unwrap();
    sign_with(Algorithm::RS256, &key, None, claims)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn slug(s: &str) -> ProjectSlug {
    s.parse().unwrap()
}

#[tokio::test]
async fn valid_es256_token_maps_roles() {
    let auth = authenticator(&static_config());
    let p = auth
        .authenticate(&sign_es("issuer-es256.key", None, &claims(ES_ISSUER)))
        .await
        .unwrap();
    assert_eq!(p.actor.id, "alice");
    assert_eq!(p.actor.actor_type, ActorType::User);
    assert_eq!(p.issuer, ES_ISSUER);
    // `owner` is not a role: ignored, never widened.
    assert_eq!(
        p.project_roles[&slug("team-a")],
        BTreeSet::from([Role::Admin, Role::Releaser])
    );
    assert_eq!(p.project_roles[&slug("team-b")], BTreeSet::from([Role::Viewer]));
    assert_eq!(p.platform_roles, BTreeSet::from(["security_admin".to_owned()]));
}

#[tokio::test]
async fn valid_rs256_token_with_ci_claims() {
    let auth = authenticator(&static_config());
    let mut c = claims(RS_ISSUER);
    c["act_type"] = json!("service_account");
    c["repository"] = json!("org/repo");
    c["ref"] = json!("refs/heads/main");
    c["workflow"] = json!("release.yml");
    let p = auth.authenticate(&sign_rs(&c)).await.unwrap();
    assert_eq!(p.actor.actor_type, ActorType::ServiceAccount);
    assert_eq!(p.issuer, RS_ISSUER);
    assert_eq!(p.ci.repository.as_deref(), Some("org/repo"));
    assert_eq!(p.ci.git_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(p.ci.workflow.as_deref(), Some("release.yml"));
}

#[tokio::test]
async fn alg_none_is_refused() {
    let auth = authenticator(&static_config());
    for alg in ["none", "None", "NONE"] {
        let token = format!(
            "{}.{}.",
            b64(&json!({"alg": alg, "typ": "JWT"})),
            b64(&claims(ES_ISSUER))
        );
        // jsonwebtoken itself cannot even parse such a header...
        assert!(jsonwebtoken::decode_header(&token).is_err());
        // ...and the authenticator reports it as a refused algorithm.
        assert_eq!(
            auth.authenticate(&token).await,
            Err(AuthError::AlgorithmNotAllowed),
            "{alg}"
        );
    }
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let auth = authenticator(&static_config());
    let confused = EncodingKey::from_secret(&read_key("issuer-rs256.pub.pem"));
    for iss in [RS_ISSUER, ES_ISSUER] {
        let token = sign_with(Algorithm::HS256, &confused, None, &claims(iss));
        assert_eq!(
            auth.authenticate(&token).await,
            Err(AuthError::AlgorithmNotAllowed)
        );
    }
}

#[tokio::test]
async fn forged_signature_is_refused() {
    let auth = authenticator(&static_config());
    let token = sign_es("other-es256.key", None, &claims(ES_ISSUER));
    assert_eq!(auth.authenticate(&token).await, Err(AuthError::InvalidSignature));

    // A genuine signature over different claims does not carry over either.
    let good = sign_es("issuer-es256.key", None, &claims(ES_ISSUER));
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut tampered = claims(ES_ISSUER);
    tampered["platform_roles"] = json!(["platform_admin"]);
    let payload = b64(&tampered);
    parts[1] = &payload;
    assert_eq!(
        auth.authenticate(&parts.join(".")).await,
        Err(AuthError::InvalidSignature)
    );
}

// ---- the cache of verified tokens ------------------------------------------------------

#[tokio::test]
async fn a_token_is_verified_once_then_answered_from_the_cache() {
    let auth = authenticator(&static_config());
    let token = sign_es("issuer-es256.key", None, &claims(ES_ISSUER));
    let first = auth.authenticate(&token).await.unwrap();
    assert_eq!(auth.signature_checks(), 1);
    for _ in 0..3 {
        assert_eq!(auth.authenticate(&token).await.unwrap(), first);
    }
    assert_eq!(auth.signature_checks(), 1, "a cached token is not verified again");
    // Another token of the same subject is its own entry.
    auth.authenticate(&sign_rs(&claims(RS_ISSUER))).await.unwrap();
    assert_eq!(auth.signature_checks(), 2);
}

#[tokio::test]
async fn a_forged_signature_over_cached_claims_is_refused() {
    let auth = authenticator(&static_config());
    let c = claims(ES_ISSUER);
    let good = sign_es("issuer-es256.key", None, &c);
    auth.authenticate(&good).await.unwrap();
    // The same header and claims, signed by another key: a different token, so a cache miss
    // that fails verification; and it is not remembered as good either.
    let forged = sign_es("other-es256.key", None, &c);
    assert_eq!(
        forged.rsplit_once('.').unwrap().0,
        good.rsplit_once('.').unwrap().0
    );
    for _ in 0..2 {
        assert_eq!(auth.authenticate(&forged).await, Err(AuthError::InvalidSignature));
    }
    assert_eq!(auth.signature_checks(), 3);
    auth.authenticate(&good).await.unwrap();
    assert_eq!(auth.signature_checks(), 3);
}

#[tokio::test]
async fn a_token_past_its_exp_is_never_served_from_the_cache() {
    let auth = authenticator(&static_config());
    // Expired moments ago: accepted within the leeway, but never remembered past its `exp`.
    let mut c = claims(ES_ISSUER);
    c["exp"] = json!(now() - 5);
    let token = sign_es("issuer-es256.key", None, &c);
    auth.authenticate(&token).await.unwrap();
    auth.authenticate(&token).await.unwrap();
    assert_eq!(auth.signature_checks(), 2, "each use past exp is verified again");
    // A refused token is not remembered either: refused again, verified again.
    c["exp"] = json!(now() - 120);
    let expired = sign_es("issuer-es256.key", None, &c);
    for _ in 0..2 {
        assert_eq!(auth.authenticate(&expired).await, Err(AuthError::Expired));
    }
    assert_eq!(auth.signature_checks(), 4);
}

#[tokio::test]
async fn time_and_audience_are_checked() {
    let auth = authenticator(&static_config());
    let cases = [
        ("exp", json!(now() - 120), AuthError::Expired),
        ("nbf", json!(now() + 120), AuthError::NotYetValid),
        ("aud", json!("someone-else"), AuthError::WrongAudience),
    ];
    for (claim, value, expected) in cases {
        let mut c = claims(ES_ISSUER);
        c[claim] = value;
        let token = sign_es("issuer-es256.key", None, &c);
        assert_eq!(auth.authenticate(&token).await, Err(expected), "{claim}");
    }
    // Inside the leeway a token that expired moments ago still passes.
    let mut c = claims(ES_ISSUER);
    c["exp"] = json!(now() - 5);
    assert!(
        auth.authenticate(&sign_es("issuer-es256.key", None, &c))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn required_claims_are_required() {
    let auth = authenticator(&static_config());
    for claim in ["sub", "exp", "nbf", "aud", "iss"] {
        let mut c = claims(ES_ISSUER);
        c.as_object_mut().unwrap().remove(claim);
        let token = sign_es("issuer-es256.key", None, &c);
        assert_eq!(
            auth.authenticate(&token).await,
            Err(AuthError::MissingClaim(claim)),
            "{claim}"
        );
    }
    let mut c = claims(ES_ISSUER);
    c["projects"] = json!({"Not A Slug": ["admin"]});
    let token = sign_es("issuer-es256.key", None, &c);
    assert_eq!(
        auth.authenticate(&token).await,
        Err(AuthError::InvalidClaim("projects"))
    );
}

#[tokio::test]
async fn unknown_issuer_and_garbage_are_refused() {
    let auth = authenticator(&static_config());
    let token = sign_es("issuer-es256.key", None, &claims("https://elsewhere.test"));
    assert_eq!(auth.authenticate(&token).await, Err(AuthError::UnknownIssuer));
    for garbage in ["", "garbage", "a.b.c", "a.b.c.d.e", "....", &"x".repeat(40_000)] {
        assert_eq!(
            auth.authenticate(garbage).await,
            Err(AuthError::Malformed),
            "{garbage:.20}"
        );
    }
}

#[tokio::test]
async fn rs256_token_for_an_es256_issuer_is_refused() {
    let auth = authenticator(&static_config());
    let token = sign_rs(&claims(ES_ISSUER));
    assert_eq!(
        auth.authenticate(&token).await,
        Err(AuthError::AlgorithmNotAllowed)
    );
}

#[tokio::test]
async fn errors_are_client_safe() {
    let auth = authenticator(&static_config());
    let token = sign_es("other-es256.key", None, &claims(ES_ISSUER));
    let err = auth.authenticate(&token).await.unwrap_err();
    let text = err.to_string();
    assert!(!text.contains(&token) && !text.contains("alice"), "{text}");
    assert!(!err.is_unavailable());
    assert!(AuthError::KeyUnavailable.is_unavailable());
}

// ---- JWKS -------------------------------------------------------------------------------

struct JwksServer {
    url: String,
    fetches: Arc<AtomicUsize>,
}

/// Serves the ES256 public key as a JWK set with `kid = "k1"` on a real loopback port and
/// counts the fetches.
async fn jwks_server() -> JwksServer {
    let public = DecodingKey::from_ec_pem(&read_key("issuer-es256.pub.pem")).unwrap();
    let mut jwk = Jwk::from_decoding_key(&public, Some(Algorithm::ES256)).unwrap();
    jwk.common.key_id = Some("k1".to_owned());
    let set = Arc::new(serde_json::to_value(JwkSet { keys: vec![jwk] }).unwrap());
    let fetches = Arc::new(AtomicUsize::new(0));

    async fn serve_jwks(State((set, fetches)): State<(Arc<Value>, Arc<AtomicUsize>)>) -> Json<Value> {
        fetches.fetch_add(1, Ordering::SeqCst);
        Json((*set).clone())
    }
    let app = Router::new()
        .route("/jwks.json", get(serve_jwks))
        .route(
            "/broken.json",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .with_state((set, fetches.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    JwksServer {
        url: format!("http://{addr}"),
        fetches,
    }
}

fn jwks_config(url: String) -> AuthConfig {
    AuthConfig {
        issuers: vec![issuer(JWKS_ISSUER, &["ES256"], None, Some(url))],
        claims: ClaimNames::default(),
    }
}

#[tokio::test]
async fn jwks_key_is_chosen_by_kid_and_cached() {
    let server = jwks_server().await;
    let auth = authenticator(&jwks_config(format!("{}/jwks.json", server.url)));
    let token = sign_es("issuer-es256.key", Some("k1"), &claims(JWKS_ISSUER));

    let p = auth.authenticate(&token).await.unwrap();
    assert_eq!(p.issuer, JWKS_ISSUER);
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
    auth.authenticate(&token).await.unwrap();
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "second call must use the cache"
    );

    // No kid: every key of the right algorithm is tried.
    auth.authenticate(&sign_es("issuer-es256.key", None, &claims(JWKS_ISSUER)))
        .await
        .unwrap();
    // A forged token with the right kid still fails on the signature.
    let forged = sign_es("other-es256.key", Some("k1"), &claims(JWKS_ISSUER));
    assert_eq!(auth.authenticate(&forged).await, Err(AuthError::InvalidSignature));
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unknown_kid_refetches_at_most_once_per_interval() {
    let server = jwks_server().await;
    let auth = authenticator(&jwks_config(format!("{}/jwks.json", server.url)));
    auth.authenticate(&sign_es("issuer-es256.key", Some("k1"), &claims(JWKS_ISSUER)))
        .await
        .unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);

    let rotated = sign_es("issuer-es256.key", Some("k2"), &claims(JWKS_ISSUER));
    assert_eq!(
        auth.authenticate(&rotated).await,
        Err(AuthError::InvalidSignature)
    );
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        2,
        "an unknown kid refetches once"
    );
    let other = sign_es("issuer-es256.key", Some("k3"), &claims(JWKS_ISSUER));
    assert_eq!(auth.authenticate(&other).await, Err(AuthError::InvalidSignature));
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        2,
        "refetches are rate limited"
    );
}

#[tokio::test]
async fn a_jwks_rotation_ends_the_cached_tokens_of_the_removed_key() {
    // The issuer's set: first its key as `k1`; after rotation only the other key, as `k2`.
    let jwk = |key_file: &str, kid: &str| {
        let key = EncodingKey::from_ec_pem(&read_key(key_file)).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        serde_json::to_value(JwkSet { keys: vec![jwk] }).unwrap()
    };
    let set = Arc::new(std::sync::Mutex::new(jwk("issuer-es256.key", "k1")));
    let app = Router::new()
        .route(
            "/jwks.json",
            get(|State(set): State<Arc<std::sync::Mutex<Value>>>| async move {
                Json(set.lock().unwrap().clone())
            }),
        )
        .with_state(set.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let auth = authenticator(&jwks_config(format!("http://{addr}/jwks.json")));

    let old = sign_es("issuer-es256.key", Some("k1"), &claims(JWKS_ISSUER));
    auth.authenticate(&old).await.unwrap();
    auth.authenticate(&old).await.unwrap();
    assert_eq!(auth.signature_checks(), 1);

    *set.lock().unwrap() = jwk("other-es256.key", "k2");
    // A token with the new kid makes the gateway fetch the rotated set …
    let new = sign_es("other-es256.key", Some("k2"), &claims(JWKS_ISSUER));
    auth.authenticate(&new).await.unwrap();
    // … after which the token of the removed key is checked again, and refused.
    assert_eq!(auth.authenticate(&old).await, Err(AuthError::InvalidSignature));
    assert_eq!(auth.signature_checks(), 3);
}

#[tokio::test]
async fn unreachable_jwks_is_key_unavailable() {
    // A port that accepts and immediately closes every connection: nothing answers HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let token = sign_es("issuer-es256.key", Some("k1"), &claims(JWKS_ISSUER));
    let auth = authenticator(&jwks_config(format!("http://{addr}/jwks.json")));
    let err = auth.authenticate(&token).await.unwrap_err();
    assert_eq!(err, AuthError::KeyUnavailable);
    assert!(err.is_unavailable());

    // An endpoint that answers 500 is just as unavailable.
    let server = jwks_server().await;
    let auth = authenticator(&jwks_config(format!("{}/broken.json", server.url)));
    assert_eq!(auth.authenticate(&token).await, Err(AuthError::KeyUnavailable));
}

// ---- configuration ----------------------------------------------------------------------

fn config_error(issuer_cfg: IssuerConfig) -> String {
    let cfg = AuthConfig {
        issuers: vec![issuer_cfg],
        claims: ClaimNames::default(),
    };
    Authenticator::from_config(&cfg, &keys_dir())
        .unwrap_err()
        .to_string()
}

#[test]
fn config_errors_name_the_issuer_and_the_key() {
    let missing = config_error(issuer(ES_ISSUER, &["ES256"], Some("no-such.pem"), None));
    assert!(
        missing.starts_with("auth.issuers[0].public_key_file `no-such.pem`"),
        "{missing}"
    );
    assert!(missing.contains(ES_ISSUER), "{missing}");

    let hs = config_error(issuer(ES_ISSUER, &["HS256"], Some("issuer-es256.pub.pem"), None));
    assert!(
        hs.contains("auth.issuers[0].algorithms") && hs.contains("`HS256` is refused"),
        "{hs}"
    );
    let none = config_error(issuer(ES_ISSUER, &["none"], Some("issuer-es256.pub.pem"), None));
    assert!(none.contains("`none` is refused"), "{none}");
    let empty = config_error(issuer(ES_ISSUER, &[], Some("issuer-es256.pub.pem"), None));
    assert!(empty.contains("at least one algorithm"), "{empty}");
    let mixed = config_error(issuer(
        ES_ISSUER,
        &["ES256", "RS256"],
        Some("issuer-es256.pub.pem"),
        None,
    ));
    assert!(mixed.contains("different key types"), "{mixed}");

    let both = config_error(issuer(
        ES_ISSUER,
        &["ES256"],
        Some("issuer-es256.pub.pem"),
        Some("https://issuer.test/jwks".to_owned()),
    ));
    assert!(
        both.contains("only one of `public_key_file` or `jwks_url`"),
        "{both}"
    );
    let neither = config_error(issuer(ES_ISSUER, &["ES256"], None, None));
    assert!(
        neither.contains("one of `public_key_file` or `jwks_url`"),
        "{neither}"
    );

    let wrong_type = config_error(issuer(ES_ISSUER, &["ES256"], Some("issuer-rs256.pub.pem"), None));
    assert!(
        wrong_type.contains("an RSA key does not fit algorithm `ES256`"),
        "{wrong_type}"
    );
    let wrong_type = config_error(issuer(RS_ISSUER, &["RS256"], Some("issuer-es256.pub.pem"), None));
    assert!(
        wrong_type.contains("does not fit algorithm `RS256`"),
        "{wrong_type}"
    );
    let private = config_error(issuer(ES_ISSUER, &["ES256"], Some("issuer-es256.key"), None));
    assert!(private.contains("is a private key"), "{private}");
    let not_pem = config_error(issuer(ES_ISSUER, &["ES256"], Some("README.md"), None));
    assert!(not_pem.contains("not a PEM public key"), "{not_pem}");
    let file_url = config_error(issuer(
        ES_ISSUER,
        &["ES256"],
        None,
        Some("file:///etc/jwks".to_owned()),
    ));
    assert!(
        file_url.contains("auth.issuers[0].jwks_url") && file_url.contains("http(s)"),
        "{file_url}"
    );

    let cfg = AuthConfig {
        issuers: vec![
            issuer(ES_ISSUER, &["ES256"], Some("issuer-es256.pub.pem"), None),
            issuer(ES_ISSUER, &["ES256"], Some("issuer-es256.pub.pem"), None),
        ],
        claims: ClaimNames::default(),
    };
    let dup = Authenticator::from_config(&cfg, &keys_dir()).unwrap_err();
    assert!(
        matches!(dup, AuthConfigError::DuplicateIssuer { index: 1, .. }),
        "{dup}"
    );
}

#[test]
fn config_parses_from_toml_and_refuses_unknown_keys() {
    let cfg: AuthConfig = toml::from_str(
        r#"
        [[issuers]]
        issuer = "https://es.issuer.test"
        audience = "gatehouse"
        algorithms = ["ES256"]
        public_key_file = "issuer-es256.pub.pem"

        [claims]
        subject = "email"
        "#,
    )
    .unwrap();
    assert_eq!(cfg.claims.subject, "email");
    assert_eq!(cfg.claims.projects, "projects");
    authenticator(&cfg);

    let typo = toml::from_str::<AuthConfig>(
        "[[issuers]]\nissuer = \"x\"\naudience = \"y\"\nalgorithms = [\"ES256\"]\npublic_key = \"k\"\n",
    );
    assert!(typo.is_err());
}

// ---- dev minting ------------------------------------------------------------------------

fn mint_request(issuer: &str) -> MintRequest {
    MintRequest {
        issuer: issuer.to_owned(),
        subject: "dev@example.test".to_owned(),
        actor_type: ActorType::ServiceAccount,
        projects: BTreeMap::from([("team-a".to_owned(), vec!["operator".to_owned()])]),
        platform_roles: vec!["platform_admin".to_owned()],
        ttl_seconds: 600,
        audience: None,
    }
}

#[tokio::test]
async fn minted_dev_token_round_trips() {
    let mut cfg = static_config();
    // Custom claim names are honoured on both sides.
    cfg.claims.subject = "email".to_owned();
    cfg.claims.projects = "gh_projects".to_owned();
    let token = mint_dev_token(&cfg, &keys_dir(), &mint_request(ES_ISSUER)).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);

    let p = authenticator(&cfg).authenticate(&token).await.unwrap();
    assert_eq!(p.actor.id, "dev@example.test");
    assert_eq!(p.actor.actor_type, ActorType::ServiceAccount);
    assert_eq!(p.project_roles[&slug("team-a")], BTreeSet::from([Role::Operator]));
    assert!(p.platform_roles.contains("platform_admin"));

    // An audience override is signed in, and checked on the way back.
    let mut req = mint_request(ES_ISSUER);
    req.audience = Some("other-service".to_owned());
    let token = mint_dev_token(&cfg, &keys_dir(), &req).unwrap();
    assert_eq!(
        authenticator(&cfg).authenticate(&token).await,
        Err(AuthError::WrongAudience)
    );
}

#[test]
fn minting_is_refused_without_a_dev_key_or_with_bad_input() {
    let cfg = static_config();
    let err = mint_dev_token(&cfg, &keys_dir(), &mint_request(RS_ISSUER)).unwrap_err();
    assert!(matches!(err, MintError::NoDevKey { index: 1, .. }), "{err}");
    assert!(err.to_string().contains("dev_private_key_file"), "{err}");

    let err = mint_dev_token(&cfg, &keys_dir(), &mint_request("https://nowhere.test")).unwrap_err();
    assert!(matches!(err, MintError::UnknownIssuer(_)), "{err}");

    let mut req = mint_request(ES_ISSUER);
    req.ttl_seconds = 0;
    assert!(matches!(
        mint_dev_token(&cfg, &keys_dir(), &req),
        Err(MintError::Ttl(0))
    ));
    let mut req = mint_request(ES_ISSUER);
    req.projects.insert("team-a".to_owned(), vec!["owner".to_owned()]);
    assert!(matches!(
        mint_dev_token(&cfg, &keys_dir(), &req),
        Err(MintError::Role { .. })
    ));
    let mut req = mint_request(ES_ISSUER);
    req.actor_type = ActorType::Registry;
    assert!(matches!(
        mint_dev_token(&cfg, &keys_dir(), &req),
        Err(MintError::ActorType)
    ));
}
