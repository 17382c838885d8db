//! A gateway and a real registry wired to each other: the registry's token realm and
//! notification endpoint point at the gateway, the gateway's registry settings at the registry.

use gatehouse::Config;
use serde_json::{Value, json};

use super::registry::{RegistryOptions, TestRegistry};
use super::{Db, TestApp, token};

/// The webhook secret both sides share.
pub const WEBHOOK_SECRET: &str = "webhook-secret-for-tests-0123456789";

/// A gateway and its registry.
pub struct Stack {
    /// The gateway.
    pub app: TestApp,
    /// The registry.
    pub registry: TestRegistry,
    /// Holds the webhook secret file.
    pub secret_dir: tempfile::TempDir,
}

/// Starts a registry and a gateway on `db`; `configure` adjusts the gateway's configuration.
pub async fn stack_with(db: Db, configure: impl FnOnce(&mut Config)) -> Stack {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = format!("http://{}", listener.local_addr().unwrap());
    let registry = TestRegistry::start(&RegistryOptions {
        realm: format!("{gateway}/v1/registry/token"),
        notify_url: format!("{gateway}/v1/webhooks/registry"),
        notify_secret: WEBHOOK_SECRET.to_owned(),
    });
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_file = secret_dir.path().join("webhook.secret");
    std::fs::write(&secret_file, format!("{WEBHOOK_SECRET}\n")).unwrap();
    let app = gateway_on(listener, db, &registry, &secret_file, configure).await;
    Stack {
        app,
        registry,
        secret_dir,
    }
}

/// Starts a gateway wired to an already running `registry` (e.g. after a gateway restart).
pub async fn gateway_for(
    db: Db,
    stack_registry: &TestRegistry,
    configure: impl FnOnce(&mut Config),
) -> (TestApp, tempfile::TempDir) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_file = secret_dir.path().join("webhook.secret");
    std::fs::write(&secret_file, format!("{WEBHOOK_SECRET}\n")).unwrap();
    (
        gateway_on(listener, db, stack_registry, &secret_file, configure).await,
        secret_dir,
    )
}

async fn gateway_on(
    listener: tokio::net::TcpListener,
    db: Db,
    registry: &TestRegistry,
    secret_file: &std::path::Path,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = super::test_config(&db);
    config.registry.url = Some(registry.url.clone());
    config.registry.public_host = Some(registry.host.clone());
    config.registry.service = super::registry::SERVICE.to_owned();
    config.registry.token_issuer = super::registry::ISSUER.to_owned();
    config.registry.token_key_file = Some(super::repo_path("fixtures/registry/token.key"));
    config.registry.token_cert_file = Some(super::repo_path("fixtures/registry/token.crt"));
    config.registry.webhook_secret_file = Some(secret_file.to_owned());
    configure(&mut config);
    TestApp::spawn_on(db, config, listener).await
}

/// An operator of `project`.
pub fn operator(project: &str) -> String {
    token("olivia", json!({ project: ["operator"] }))
}

/// Runs `project`'s pipeline (operator) and releases it to prod (releaser).
pub fn releaser(project: &str) -> String {
    token("rita", json!({ project: ["operator", "releaser"] }))
}

/// Promotes artifact `id` of `project` through dev, test and staging as its releaser (asserting
/// each 200), then answers the prod promotion.
pub async fn promote_to_prod(app: &TestApp, project: &str, id: &str) -> (u16, Value) {
    let path = format!("/v1/artifacts/{id}/promote");
    for channel in ["dev", "test", "staging"] {
        let (status, body) = app
            .post(&path, &releaser(project), json!({ "channel": channel }))
            .await;
        assert_eq!(status, 200, "{channel}: {body}");
    }
    app.post(&path, &releaser(project), json!({ "channel": "prod" }))
        .await
}

/// Creates a publish intent (asserting 201).
pub async fn publish_intent(app: &TestApp, project: &str, body: Value) -> Value {
    let (status, intent) = app
        .post(
            &format!("/v1/projects/{project}/publish-intents"),
            &operator(project),
            body,
        )
        .await;
    assert_eq!(status, 201, "{intent}");
    intent
}

/// The intent credential as (username, password).
pub fn creds(intent: &Value) -> (String, String) {
    let c = &intent["credential"];
    (
        c["username"].as_str().unwrap().to_owned(),
        c["password"].as_str().unwrap().to_owned(),
    )
}

/// Polls until `probe` answers Some, or fails after a deadline.
pub async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..100 {
        if let Some(found) = probe().await {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The project's artifact with `digest`, if registered.
pub async fn artifact_by_digest(app: &TestApp, project: &str, digest: &str) -> Option<Value> {
    let (_, page) = app
        .get(
            &format!("/v1/projects/{project}/artifacts?digest={digest}"),
            &operator(project),
        )
        .await;
    page["items"].as_array().and_then(|items| items.first().cloned())
}
