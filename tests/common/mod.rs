//! Test harness: a real gateway on a free port (bound by the app itself, never reused), on
//! SQLite or a fresh PostgreSQL database, with tokens signed by the fixture issuer keys.

#![allow(dead_code, reason = "each test binary uses a different part of the harness")]

pub mod blob_store;
pub mod cosign;
pub mod fake_registry;
pub mod fulcio;
pub mod oidc_provider;
pub mod pg;
pub mod registry;
pub mod sigstore_fixtures;
pub mod skip;
pub mod stack;
pub mod store_harness;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;

use gatehouse::Config;
use gatehouse::auth::{AuthConfig, ClaimNames, IssuerConfig};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Issuer ids used by the tests.
pub const ES_ISSUER: &str = "https://es.issuer.test";
/// The RS256 issuer.
pub const RS_ISSUER: &str = "https://rs.issuer.test";
/// Audience both issuers expect.
pub const AUDIENCE: &str = "gatehouse";

/// A path inside the checkout under test. Read when the test runs (cargo sets
/// `CARGO_MANIFEST_DIR` for it), not baked in at compile time: a target directory shared between
/// clones may hand this one a test binary compiled from another, whose path may be gone. Without
/// the variable the path is relative to the working directory, which cargo sets to the same place.
pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join(rel)
}

/// Which database a test app runs on.
pub enum Db {
    /// A SQLite file in its own temporary directory.
    Sqlite(tempfile::TempDir),
    /// A fresh PostgreSQL database, dropped afterwards.
    Postgres(pg::FreshDb),
}

impl Db {
    /// A fresh SQLite database.
    pub fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }

    /// The URL to configure.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("gatehouse.db").display()),
            Self::Postgres(db) => db.url.clone(),
        }
    }
}

/// The configuration every test app starts from.
pub fn test_config(db: &Db) -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: db.url(),
        policy_dir: repo_path("policies"),
        schema_file: repo_path("schemas/gatehouse.cedarschema"),
        auth: test_auth(),
        // Tests that want the background verification job turn it on; the others need the
        // artifact to stay unverified until they verify it themselves.
        trust: gatehouse::config::TrustConfig {
            verify_on_register: false,
            ..Default::default()
        },
        ..Config::default()
    }
}

fn test_auth() -> AuthConfig {
    AuthConfig {
        issuers: vec![
            IssuerConfig {
                issuer: ES_ISSUER.to_owned(),
                audience: AUDIENCE.to_owned(),
                algorithms: vec!["ES256".to_owned()],
                public_key_file: Some(repo_path("fixtures/keys/issuer-es256.pub.pem")),
                jwks_url: None,
                dev_private_key_file: None,
            },
            IssuerConfig {
                issuer: RS_ISSUER.to_owned(),
                audience: AUDIENCE.to_owned(),
                algorithms: vec!["RS256".to_owned()],
                public_key_file: Some(repo_path("fixtures/keys/issuer-rs256.pub.pem")),
                jwks_url: None,
                dev_private_key_file: None,
            },
        ],
        claims: ClaimNames::default(),
    }
}

/// A running gateway.
pub struct TestApp {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub base: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// Keeps the database alive for the app's lifetime.
    pub db: Db,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts a gateway with the default test configuration.
    pub async fn spawn(db: Db) -> Self {
        let config = test_config(&db);
        Self::spawn_with(db, config).await
    }

    /// Starts a gateway with a given configuration.
    pub async fn spawn_with(db: Db, config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        Self::spawn_on(db, config, listener).await
    }

    /// Starts a gateway on a listener the test bound (so a registry can be pointed at it first).
    pub async fn spawn_on(db: Db, config: Config, listener: tokio::net::TcpListener) -> Self {
        let app = gatehouse::Application::build_on(config, listener).await.unwrap();
        let addr = app.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            db,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Stops the gateway gracefully and answers its database (to start another gateway on it).
    pub async fn shutdown(mut self) -> Db {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.unwrap().unwrap();
        }
        self.db
    }

    /// The `/metrics` page as text (no token: the scrape endpoint is open).
    pub async fn metrics(&self) -> String {
        let response = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    }

    /// GET with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    /// Registers the OCI image `trainer` (digest from `seed`, see [`oci_registration`]) in
    /// `project` as `bearer`; answers its id. Anything but 201 fails the test.
    pub async fn register_oci(&self, project: &str, bearer: &str, seed: &str) -> String {
        let (status, body) = self
            .post(
                &format!("/v1/projects/{project}/artifacts"),
                bearer,
                oci_registration("trainer", &digest(seed)),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// POST JSON with a bearer token.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        read(response).await
    }
}

/// Status and JSON body (Null when the body is not JSON).
pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Claims for a user with the given project roles.
pub fn user_claims(sub: &str, projects: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": ES_ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now - 5, "exp": now + 600,
        "act_type": "user", "projects": projects, "platform_roles": [],
    })
}

/// Signs claims with the ES256 fixture key (claims choose the issuer they claim).
pub fn sign_es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(&std::fs::read(repo_path("fixtures/keys/issuer-es256.key")).unwrap())
        .unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &key).unwrap()
}

/// Signs claims with the RS256 fixture key.
pub fn sign_rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(&std::fs::read(repo_path("fixtures/keys/issuer-rs256.key")).unwrap())
        .unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

/// A user token from the ES256 issuer.
pub fn token(sub: &str, projects: Value) -> String {
    sign_es256(&user_claims(sub, projects))
}

/// A platform auditor token (may read audit and decisions across projects).
pub fn auditor_token() -> String {
    let mut claims = user_claims("auditor", json!({}));
    claims["platform_roles"] = json!(["auditor"]);
    sign_es256(&claims)
}

/// A digest made from a seed, so each test registers distinct artifacts.
pub fn digest(seed: &str) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(seed.as_bytes())))
}

/// A registration body for an OCI image of `app`.
pub fn oci_registration(app: &str, digest: &str) -> Value {
    json!({
        "app": app,
        "artifact_kind": "oci",
        "digest": digest,
        "tag": "v1",
        "source": { "source_type": "oci_registry", "uri": format!("registry.local/gpuaas/apps/{app}") },
    })
}
