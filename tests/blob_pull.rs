//! Blob pull intents: a model-weights blob in the (loopback) artifact store is registered,
//! verified, and pulled with `gatehouse fetch` through a pull intent whose object token the store
//! checks; the download resumes after an interruption, is kept only once its digest verifies,
//! and the token works for its one object and not after expiry. Other sources get a pinned,
//! credential-free reference, and credentials in source URIs never appear in answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Output;

use common::blob_store::{BlobStore, Served};
use common::registry::sha256_digest as sha256;
use common::{Db, TestApp, repo_path, token};
use serde_json::{Value, json};

const KEY: &str = "models/llm/weights.bin";
const AUDIENCE: &str = "gatehouse-artifact-store";

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

/// 200 KiB of weights that are not all one byte.
fn weights() -> Vec<u8> {
    (0..200 * 1024_u32).map(|i| (i * 31 % 251) as u8).collect()
}

/// A store that requires object tokens signed by the gateway's registry token key.
async fn token_store() -> BlobStore {
    BlobStore::start_requiring_tokens(&repo_path("fixtures/registry/token.crt"), AUDIENCE).await
}

/// A gateway that signs object tokens, fetches blob content to verify it, and lets object
/// tokens live `token_ttl` seconds.
async fn gateway(store: &BlobStore, token_ttl: i64) -> TestApp {
    gateway_on(Db::sqlite(), store, token_ttl).await
}

async fn gateway_on(db: Db, store: &BlobStore, token_ttl: i64) -> TestApp {
    let mut config = common::test_config(&db);
    config.artifact_store.url = Some(store.url.clone());
    config.artifact_store.token_ttl_seconds = token_ttl;
    config.registry.token_key_file = Some(repo_path("fixtures/registry/token.key"));
    config.registry.token_cert_file = Some(repo_path("fixtures/registry/token.crt"));
    config.trust.content_fetch.enabled = true;
    config
        .trust
        .required
        .insert("blob".to_owned(), vec!["blob_digest".to_owned()]);
    TestApp::spawn_with(db, config).await
}

/// Registers a blob of `app` at `source`; answers the artifact.
async fn register(app: &TestApp, app_slug: &str, digest: &str, source: Value) -> Value {
    let body = json!({
        "app": app_slug, "artifact_kind": "blob", "artifact_type": "blob.model_weights",
        "digest": digest, "source": source,
    });
    let (status, artifact) = app.post("/v1/projects/team-a/artifacts", &operator(), body).await;
    assert_eq!(status, 201, "{artifact}");
    artifact
}

/// Registers and verifies the store object `key` holding `bytes`; answers the artifact id.
async fn registered_and_verified(app: &TestApp, key: &str, bytes: &[u8]) -> String {
    let slug = key.rsplit('/').next().unwrap().replace('.', "-");
    let source = json!({ "source_type": "artifact_store", "uri": format!("store://{key}"), "size_bytes": bytes.len() });
    let artifact = register(app, &slug, &sha256(bytes), source).await;
    let id = artifact["id"].as_str().unwrap().to_owned();
    let (status, verified) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
        .await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["trust_state"], "verified", "{verified}");
    id
}

async fn pull_intent(app: &TestApp, who: &str, body: Value) -> (u16, Value) {
    app.post("/v1/projects/team-a/pull-intents", who, body).await
}

/// Runs the real `gatehouse fetch` binary.
async fn fetch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.arg("fetch")
        .args(args)
        .current_dir(common::repo_path(""))
        .env_remove("GATEHOUSE_TOKEN")
        .env("RUST_LOG", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn served_for(store: &BlobStore, key: &str) -> Vec<Served> {
    store.served().into_iter().filter(|s| s.key == key).collect()
}

fn partial(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    name.into()
}

#[tokio::test]
async fn a_verified_blob_is_pulled_with_resume_and_a_tampered_one_leaves_no_file() {
    let store = token_store().await;
    let bytes = weights();
    store.put(KEY, &bytes);
    let app = gateway(&store, 300).await;
    // Verification itself fetched the object: the gateway presented an object token too.
    let id = registered_and_verified(&app, KEY, &bytes).await;
    assert_eq!(served_for(&store, KEY)[0].status, 200);

    let (status, intent) = pull_intent(&app, &operator(), json!({ "artifact_id": id })).await;
    assert_eq!(status, 201, "{intent}");
    assert_eq!(intent["artifact_kind"], "blob", "{intent}");
    assert_eq!(intent["digest"], sha256(&bytes), "{intent}");
    assert_eq!(intent["size_bytes"], json!(bytes.len()), "{intent}");
    assert_eq!(intent["source_type"], "artifact_store", "{intent}");
    assert_eq!(intent["reference"], format!("store://{KEY}"), "{intent}");
    assert_eq!(intent["url"], format!("{}/{KEY}", store.url), "{intent}");
    assert_eq!(intent["credential"]["scheme"], "Bearer", "{intent}");
    assert_eq!(
        intent["credential"]["expires_at"], intent["expires_at"],
        "{intent}"
    );
    let intent_id = intent["id"].as_str().unwrap().to_owned();

    // Audited like an image's pull intent.
    let (_, explained) = app.get(&format!("/v1/artifacts/{id}/explain"), &operator()).await;
    let actions: Vec<&str> = explained["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"app_artifact.pull_intent"), "{actions:?}");

    // The first response breaks after 50 000 bytes; fetch resumes with a range request.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("weights.bin");
    store.cut_next_response_after(50_000);
    let before = served_for(&store, KEY).len();
    let run = fetch(
        &[&intent_id, "--url", &app.base, "-o", out.to_str().unwrap()],
        &[("GATEHOUSE_TOKEN", &operator())],
    )
    .await;
    assert!(run.status.success(), "{}", stderr(&run));
    let on_disk = std::fs::read(&out).unwrap();
    assert_eq!(sha256(&on_disk), sha256(&bytes));
    assert_eq!(on_disk, bytes);
    assert!(!partial(&out).exists());
    let requests = served_for(&store, KEY)[before..].to_vec();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!((requests[0].status, requests[0].range.as_deref()), (200, None));
    assert_eq!(
        (requests[1].status, requests[1].range.as_deref()),
        (206, Some("bytes=50000-"))
    );

    // A partial file left by an earlier run is resumed, not downloaded again.
    let again = dir.path().join("again.bin");
    std::fs::write(partial(&again), &bytes[..1000]).unwrap();
    let run = fetch(
        &[
            &intent_id,
            "--url",
            &app.base,
            "--token",
            &operator(),
            "-o",
            again.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
    let last = served_for(&store, KEY).pop().unwrap();
    assert_eq!((last.status, last.range.as_deref()), (206, Some("bytes=1000-")));

    // The store's object changes under the same key: the fetch fails and keeps nothing.
    store.tamper(KEY);
    let tampered = dir.path().join("tampered.bin");
    let run = fetch(
        &[
            &intent_id,
            "--url",
            &app.base,
            "--token",
            &operator(),
            "-o",
            tampered.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(!run.status.success());
    let err = stderr(&run);
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(err.contains(&format!("expected `{}`", sha256(&bytes))), "{err}");
    assert!(err.contains("got `sha256:"), "{err}");
    assert!(!tampered.exists());
    assert!(!partial(&tampered).exists());
    app.shutdown().await;
}

#[tokio::test]
async fn the_credential_works_for_its_object_only_and_not_after_expiry() {
    let store = token_store().await;
    let bytes = weights();
    store.put(KEY, &bytes);
    store.put("models/other.bin", b"another team's weights");
    let app = gateway(&store, 2).await;
    let id = registered_and_verified(&app, KEY, &bytes).await;
    let (status, intent) = pull_intent(&app, &operator(), json!({ "artifact_id": id })).await;
    assert_eq!(status, 201, "{intent}");
    let credential = intent["credential"]["token"].as_str().unwrap().to_owned();
    let get = |key: &str, bearer: Option<&str>| {
        let mut request = reqwest::Client::new().get(format!("{}/{key}", store.url));
        if let Some(t) = bearer {
            request = request.bearer_auth(t);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(KEY, Some(&credential)).await, 200);
    assert_eq!(get("models/other.bin", Some(&credential)).await, 403);
    assert_eq!(get(KEY, None).await, 401);
    assert_eq!(get(KEY, Some("not-a-token")).await, 401);

    // The intent lives no longer than its token.
    let expires = chrono::DateTime::parse_from_rfc3339(intent["expires_at"].as_str().unwrap()).unwrap();
    assert!(
        expires <= chrono::Utc::now() + chrono::Duration::seconds(3),
        "{intent}"
    );

    // Another project member reads the intent but gets no credential; another project not at all.
    let intent_path = format!("/v1/pull-intents/{}", intent["id"].as_str().unwrap());
    let viewer = token("vera", json!({ "team-a": ["viewer"] }));
    let (status, read) = app.get(&intent_path, &viewer).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["credential"], Value::Null, "{read}");
    assert_eq!(read["digest"], intent["digest"], "{read}");
    let outsider = token("mallory", json!({ "team-b": ["admin"] }));
    // As unknown as a missing intent: a 403 would confirm it exists.
    let (status, problem) = app.get(&intent_path, &outsider).await;
    assert_eq!(status, 404, "{problem}");
    let (status, _) = app
        .get(
            "/v1/pull-intents/0190c0de-0000-7000-8000-000000000000",
            &operator(),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/v1/pull-intents/not-a-uuid", &operator()).await;
    assert_eq!(status, 404);

    // The asker may read the intent again and gets the same object's token while it lives.
    let (status, read) = app.get(&intent_path, &operator()).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["credential"]["expires_at"], intent["expires_at"], "{read}");

    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(get(KEY, Some(&credential)).await, 401);
    let (_, read) = app.get(&intent_path, &operator()).await;
    assert_eq!(read["credential"], Value::Null, "{read}");

    // `gatehouse fetch` of an expired intent fails clearly and leaves nothing.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("late.bin");
    let run = fetch(
        &[
            intent["id"].as_str().unwrap(),
            "--url",
            &app.base,
            "--token",
            &operator(),
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("refused the download (401"),
        "{}",
        stderr(&run)
    );
    assert!(!out.exists() && !partial(&out).exists());
    app.shutdown().await;
}

#[tokio::test]
async fn revoked_retired_and_policy_denied_blobs_get_no_pull_intent_on_sqlite() {
    refusals(Db::sqlite()).await;
}

#[tokio::test]
async fn revoked_retired_and_policy_denied_blobs_get_no_pull_intent_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    refusals(Db::Postgres(db)).await;
}

async fn refusals(db: Db) {
    let store = token_store().await;
    let bytes = weights();
    store.put(KEY, &bytes);
    store.put("models/old.bin", b"retired weights");
    let app = gateway_on(db, &store, 300).await;
    let id = registered_and_verified(&app, KEY, &bytes).await;

    // Policy: a pull for `prod` needs the artifact there; a viewer may not pull at all.
    let (status, problem) =
        pull_intent(&app, &operator(), json!({ "artifact_id": id, "channel": "prod" })).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(
        problem["policy_ids"],
        json!(["pull-needs-channel-reached"]),
        "{problem}"
    );
    let viewer = token("vera", json!({ "team-a": ["viewer"] }));
    let (status, problem) = pull_intent(&app, &viewer, json!({ "digest": sha256(&bytes) })).await;
    assert_eq!(status, 403, "{problem}");

    let (status, intent) = pull_intent(&app, &operator(), json!({ "digest": sha256(&bytes) })).await;
    assert_eq!(status, 201, "{intent}");

    // Revoked: refused as an image's pull intent is, and the earlier intent gives no new token.
    let admin = token("ada", json!({ "team-a": ["admin"] }));
    let (status, revoked) = app
        .post(
            &format!("/v1/artifacts/{id}/revoke"),
            &admin,
            json!({ "reason": "poisoned weights" }),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    let (status, problem) = pull_intent(&app, &operator(), json!({ "artifact_id": id })).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(
        problem["policy_ids"],
        json!(["no-use-revoked-or-retired"]),
        "{problem}"
    );
    let (status, read) = app
        .get(
            &format!("/v1/pull-intents/{}", intent["id"].as_str().unwrap()),
            &operator(),
        )
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["credential"], Value::Null, "{read}");

    // Retired: the same.
    let old = registered_and_verified(&app, "models/old.bin", b"retired weights").await;
    let (status, retired) = app
        .post(&format!("/v1/artifacts/{old}/retire"), &admin, json!({}))
        .await;
    assert_eq!(status, 200, "{retired}");
    let (status, problem) = pull_intent(&app, &operator(), json!({ "artifact_id": old })).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(
        problem["policy_ids"],
        json!(["no-use-revoked-or-retired"]),
        "{problem}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn other_sources_get_a_pinned_reference_and_credentials_in_uris_are_never_shown() {
    let store = token_store().await;
    let app = gateway(&store, 300).await;
    let secret_uri = "https://reader:hunter2@models.example.com/w.bin?X-Amz-Signature=abc123sig&rev=7";
    let signed = register(
        &app,
        "signed",
        &common::digest("signed"),
        json!({ "source_type": "https", "uri": secret_uri, "size_bytes": 10 }),
    )
    .await;
    let shown = "https://models.example.com/w.bin?X-Amz-Signature=REDACTED&rev=7";
    assert_eq!(signed["source"]["uri"], shown, "{signed}");
    let no_secret = |v: &Value| {
        let text = v.to_string();
        assert!(!text.contains("hunter2") && !text.contains("abc123sig"), "{text}");
    };
    no_secret(&signed);
    let id = signed["id"].as_str().unwrap();
    let (_, read) = app.get(&format!("/v1/artifacts/{id}"), &operator()).await;
    assert_eq!(read["source"]["uri"], shown, "{read}");
    let (_, listed) = app.get("/v1/projects/team-a/artifacts", &operator()).await;
    no_secret(&listed);
    let (_, explained) = app.get(&format!("/v1/artifacts/{id}/explain"), &operator()).await;
    no_secret(&explained);

    let (status, intent) = pull_intent(&app, &operator(), json!({ "artifact_id": id })).await;
    assert_eq!(status, 201, "{intent}");
    no_secret(&intent);
    assert_eq!(intent["reference"], shown, "{intent}");
    assert_eq!(intent["reference_redacted"], true, "{intent}");
    assert_eq!(intent["url"], Value::Null, "{intent}");
    assert_eq!(intent["credential"], Value::Null, "{intent}");
    let (status, read) = app
        .get(
            &format!("/v1/pull-intents/{}", intent["id"].as_str().unwrap()),
            &operator(),
        )
        .await;
    assert_eq!(status, 200, "{read}");
    no_secret(&read);

    // A public https source: its URL and the digest, no credential.
    let public = register(
        &app,
        "public",
        &common::digest("public"),
        json!({ "source_type": "https", "uri": "https://models.example.com/public.bin" }),
    )
    .await;
    let (status, intent) = pull_intent(&app, &operator(), json!({ "artifact_id": public["id"] })).await;
    assert_eq!(status, 201, "{intent}");
    assert_eq!(intent["url"], "https://models.example.com/public.bin", "{intent}");
    assert_eq!(intent["reference_redacted"], false, "{intent}");
    assert_eq!(intent["credential"], Value::Null, "{intent}");
    assert_eq!(intent["digest"], common::digest("public"), "{intent}");

    // Hugging Face: the reference pinned to its revision.
    let revision = "0123456789abcdef0123456789abcdef01234567";
    let hf = register(
        &app,
        "hf",
        &common::digest("hf"),
        json!({ "source_type": "huggingface", "uri": "hf://org/llm/model.safetensors", "source_ref": revision }),
    )
    .await;
    let (status, intent) = pull_intent(&app, &operator(), json!({ "artifact_id": hf["id"] })).await;
    assert_eq!(status, 201, "{intent}");
    assert_eq!(intent["reference"], "hf://org/llm/model.safetensors", "{intent}");
    assert_eq!(intent["source_ref"], revision, "{intent}");
    assert_eq!(intent["credential"], Value::Null, "{intent}");

    // An OCI intent read back never shows its registry password again.
    let (status, oci) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator(),
            common::oci_registration("web", &common::digest("web")),
        )
        .await;
    assert_eq!(status, 201, "{oci}");
    let (status, intent) = pull_intent(&app, &operator(), json!({ "artifact_id": oci["id"] })).await;
    assert_eq!(status, 201, "{intent}");
    assert_eq!(intent["artifact_kind"], "oci", "{intent}");
    assert!(intent["credential"]["password"].is_string(), "{intent}");
    let (status, read) = app
        .get(
            &format!("/v1/pull-intents/{}", intent["id"].as_str().unwrap()),
            &operator(),
        )
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["reference"], intent["reference"], "{read}");
    assert!(read.get("credential").is_none(), "{read}");

    // The stored artifact keeps the URI as registered, for audit and retrieval.
    let db = app.shutdown().await;
    let stored = gatehouse::store::connect(&db.url()).await.unwrap();
    let artifact = stored
        .get_artifact(gatehouse::domain::ArtifactId(uuid::Uuid::parse_str(id).unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(artifact.source.uri, secret_uri);
}

#[tokio::test]
async fn a_plain_url_is_fetched_against_a_given_digest() {
    let store = BlobStore::start().await;
    store.put("public/tool.tar", b"a public tarball");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tool.tar");
    let url = format!("{}/public/tool.tar", store.url);
    let digest = sha256(b"a public tarball");
    let run = fetch(&[&url, "--digest", &digest, "-o", out.to_str().unwrap()], &[]).await;
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(std::fs::read(&out).unwrap(), b"a public tarball");

    let wrong = dir.path().join("wrong.tar");
    let run = fetch(
        &[
            &url,
            "--digest",
            &common::digest("other"),
            "-o",
            wrong.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(!run.status.success());
    assert!(stderr(&run).contains("digest mismatch"), "{}", stderr(&run));
    assert!(!wrong.exists() && !partial(&wrong).exists());

    let run = fetch(&[&url, "-o", wrong.to_str().unwrap()], &[]).await;
    assert!(!run.status.success());
    assert!(stderr(&run).contains("--digest"), "{}", stderr(&run));
    let run = fetch(&["0190c0de-0000-7000-8000-000000000000"], &[]).await;
    assert!(!run.status.success());
    assert!(stderr(&run).contains("GATEHOUSE_TOKEN"), "{}", stderr(&run));
}

#[tokio::test]
async fn without_an_artifact_store_no_intent_is_recorded() {
    // No `artifact_store.url` and no token key: a store blob cannot get a credential.
    let app = TestApp::spawn(Db::sqlite()).await;
    let source = json!({ "source_type": "artifact_store", "uri": format!("store://{KEY}") });
    let artifact = register(&app, "llm", &common::digest("llm"), source).await;
    let id = artifact["id"].as_str().unwrap();
    let (status, problem) = pull_intent(&app, &operator(), json!({ "artifact_id": id })).await;
    assert_eq!(status, 503, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("artifact_store.url"),
        "{problem}"
    );
    let (_, explained) = app.get(&format!("/v1/artifacts/{id}/explain"), &operator()).await;
    let audited = explained["audit"].as_array().unwrap();
    assert!(
        audited.iter().all(|a| a["action"] != "app_artifact.pull_intent"),
        "{explained}"
    );
    app.shutdown().await;
}
