//! The platform release catalog against a real registry: platform artifacts are pushed (as
//! one-layer OCI artifacts whose layer is the file), registered and verified like any other
//! artifact, gathered into a release, listed, and downloaded through the gateway with the
//! digest checked while the bytes stream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::registry::{SERVICE, TestRegistry, sha256_digest};
use common::stack::{Stack, stack_with};
use common::{Db, TestApp, token};
use serde_json::{Value, json};

/// The download cap of these tests.
const CAP: u64 = 1024 * 1024;
const CLI_MEDIA_TYPE: &str = "application/vnd.gatehouse.cli.binary.v1";

fn platform_admin() -> String {
    let mut claims = common::user_claims("pat", json!({}));
    claims["platform_roles"] = json!(["platform_admin"]);
    common::sign_es256(&claims)
}

/// A developer with no role anywhere near the platform's project.
fn developer() -> String {
    token("dev", json!({ "team-b": ["viewer"] }))
}

/// Bytes that do not compress or repeat, so a corruption cannot go unnoticed by chance.
fn payload(seed: &str, len: usize) -> Vec<u8> {
    use sha2::Digest as _;
    let mut out = Vec::with_capacity(len + 32);
    let mut block = sha2::Sha256::digest(seed.as_bytes()).to_vec();
    while out.len() < len {
        block = sha2::Sha256::digest(&block).to_vec();
        out.extend_from_slice(&block);
    }
    out.truncate(len);
    out
}

/// A pushed and registered platform artifact.
struct Pushed {
    id: String,
    manifest_digest: String,
    layer_digest: String,
    repository: String,
}

/// Uploads one blob with the monolithic POST + PUT upload.
async fn upload_blob(
    app: &TestApp,
    registry: &TestRegistry,
    repo: &str,
    token: &str,
    bytes: &[u8],
) -> String {
    let digest = sha256_digest(bytes);
    let started = app
        .http
        .post(format!("{}/v2/{repo}/blobs/uploads/", registry.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202, "{}", started.text().await.unwrap());
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("{}{location}", registry.url)
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let done = app
        .http
        .put(format!("{location}{sep}digest={digest}"))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 201, "{}", done.text().await.unwrap());
    digest
}

/// Publish intent for `<platform root>/<name>` and direct upload of a one-layer artifact holding
/// `file`, as a platform admin: answers the intent and the pushed artifact (not yet registered).
async fn push_only(stack: &Stack, name: &str, file: &[u8]) -> (Value, Pushed) {
    let (app, registry) = (&stack.app, &stack.registry);
    let admin = platform_admin();
    let (status, intent) = app
        .post(
            "/v1/projects/platform-team/publish-intents",
            &admin,
            json!({ "app": name, "artifact_kind": "oci", "visibility": "platform", "tag": "v1" }),
        )
        .await;
    assert_eq!(status, 201, "{intent}");
    let repo = intent["repository"].as_str().unwrap().to_owned();
    assert_eq!(repo, format!("gpuaas/platform/{name}"));
    let (user, pass) = (
        intent["credential"]["username"].as_str().unwrap(),
        intent["credential"]["password"].as_str().unwrap(),
    );
    let (status, grant) = common::read(
        app.http
            .get(format!(
                "{}/v1/registry/token?service={SERVICE}&scope=repository:{repo}:push,pull",
                app.base
            ))
            .basic_auth(user, Some(pass))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{grant}");
    let push_token = grant["token"].as_str().unwrap();

    let config = b"{}";
    let config_digest = upload_blob(app, registry, &repo, push_token, config).await;
    let layer_digest = upload_blob(app, registry, &repo, push_token, file).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.gatehouse.cli.v1",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{ "mediaType": CLI_MEDIA_TYPE, "digest": layer_digest, "size": file.len() }],
    }))
    .unwrap();
    let put = app
        .http
        .put(format!("{}/v2/{repo}/manifests/v1", registry.url))
        .bearer_auth(push_token)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201, "{}", put.text().await.unwrap());
    let manifest_digest = sha256_digest(&manifest);

    let pushed = Pushed {
        id: String::new(),
        manifest_digest,
        layer_digest,
        repository: repo,
    };
    (intent, pushed)
}

/// [`push_only`], then registration by digest and verification.
async fn push_platform_artifact(stack: &Stack, name: &str, file: &[u8]) -> Pushed {
    let (app, registry, admin) = (&stack.app, &stack.registry, platform_admin());
    let (intent, mut pushed) = push_only(stack, name, file).await;
    let (repo, manifest_digest) = (pushed.repository.clone(), pushed.manifest_digest.clone());
    let (status, artifact) = app
        .post(
            "/v1/projects/platform-team/artifacts",
            &admin,
            json!({
                "app": name,
                "artifact_kind": "oci",
                "visibility": "platform",
                "digest": manifest_digest,
                "publish_intent_id": intent["id"],
                "source": { "source_type": "oci_registry", "uri": format!("{}/{repo}@{manifest_digest}", registry.host) },
            }),
        )
        .await;
    // The push notification may have registered it already (through the intent): 200 then.
    assert!(status == 201 || status == 200, "{artifact}");
    assert_eq!(artifact["visibility"], "platform");
    let id = artifact["id"].as_str().unwrap().to_owned();
    let (status, verified) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &admin, json!({}))
        .await;
    assert_eq!(status, 200, "{verified}");
    let (_, read) = app.get(&format!("/v1/artifacts/{id}"), &admin).await;
    assert_eq!(read["trust_state"], "verified", "{read}");
    pushed.id = id;
    pushed
}

async fn download(app: &TestApp, path: &str, who: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{path}", app.base))
        .bearer_auth(who)
        .send()
        .await
        .unwrap()
}

/// The file of blob `digest` in the registry's filesystem storage.
fn blob_file(registry: &TestRegistry, digest: &str) -> std::path::PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    registry
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_catalog_on_sqlite() {
    if common::registry::tools_available() {
        release_catalog(Db::sqlite()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_catalog_on_postgres() {
    if !common::registry::tools_available() {
        return;
    }
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    release_catalog(Db::Postgres(db)).await;
}

async fn release_catalog(db: Db) {
    let stack = stack_with(db, |config| config.platform.download_max_bytes = CAP).await;
    // Several chunks' worth, under the cap; the SDK bundle is over it.
    let cli_bytes = payload("gatehouse cli linux/amd64", 300 * 1024);
    let sdk_bytes = payload("gatehouse python sdk", (CAP + 1) as usize);
    let cli = push_platform_artifact(&stack, "gatehouse-cli", &cli_bytes).await;
    let sdk = push_platform_artifact(&stack, "sdk-python", &sdk_bytes).await;
    let app = &stack.app;

    let body = json!({
        "version": "1.4.0",
        "artifacts": [
            { "name": "gatehouse-linux-amd64", "artifact_id": cli.id, "os": "linux", "arch": "amd64" },
            { "name": "sdk-python", "artifact_id": sdk.id },
        ],
    });
    let (status, created) = app
        .post("/v1/platform/releases", &platform_admin(), body.clone())
        .await;
    assert_eq!(status, 201, "{created}");

    // The catalog lists it, with channel and date.
    let (status, list) = app.get("/v1/platform/releases", &developer()).await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(
        (&items[0]["version"], &items[0]["channel"]),
        (&json!("1.4.0"), &json!("stable"))
    );
    assert!(items[0]["created_at"].is_string(), "{list}");

    // The manifest names each file by its digest, size and media type.
    let (status, manifest) = app.get("/v1/platform/releases/1.4.0", &developer()).await;
    assert_eq!(status, 200, "{manifest}");
    let file = |name: &str| -> Value {
        manifest["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {manifest}"))
    };
    let cli_entry = file("gatehouse-linux-amd64");
    assert_eq!(cli_entry["digest"], cli.layer_digest);
    assert_eq!(cli_entry["digest"], sha256_digest(&cli_bytes));
    assert_eq!(cli_entry["artifact_digest"], cli.manifest_digest);
    assert_eq!(cli_entry["artifact_id"], cli.id);
    assert_eq!(cli_entry["size"], cli_bytes.len());
    assert_eq!(cli_entry["media_type"], CLI_MEDIA_TYPE);
    assert_eq!(
        (&cli_entry["os"], &cli_entry["arch"]),
        (&json!("linux"), &json!("amd64"))
    );
    assert!(file("sdk-python").get("os").is_none());

    // The convenience download returns exactly the registered bytes.
    let path = "/v1/platform/releases/1.4.0/artifacts/gatehouse-linux-amd64";
    let response = download(app, path, &developer()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], CLI_MEDIA_TYPE);
    assert_eq!(
        response.headers()["docker-content-digest"],
        cli.layer_digest.as_str()
    );
    let got = response.bytes().await.unwrap();
    assert!(got.as_ref() == cli_bytes.as_slice(), "downloaded bytes differ");

    // Above the cap: refused, pointing at the registry reference to pull instead.
    let response = download(
        app,
        "/v1/platform/releases/1.4.0/artifacts/sdk-python",
        &developer(),
    )
    .await;
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: Value = response.json().await.unwrap();
    let reference = format!(
        "{}/{}@{}",
        stack.registry.host, sdk.repository, sdk.manifest_digest
    );
    assert_eq!(problem["reference"], reference, "{problem}");
    assert_eq!(problem["digest"], sdk.layer_digest, "{problem}");
    assert_eq!(problem["status"], 413);
    assert!(
        problem["detail"].as_str().unwrap().contains(&reference),
        "{problem}"
    );
    // Following the pointer, any developer gets a pull credential for exactly that reference.
    assert_eq!(problem["artifact_id"], sdk.id, "{problem}");
    let (status, pull) = app
        .post(
            problem["pull_intents"].as_str().unwrap(),
            &developer(),
            json!({ "artifact_id": sdk.id }),
        )
        .await;
    assert_eq!(status, 201, "{pull}");
    assert_eq!(pull["reference"], reference, "{pull}");

    // Defining a release is audited under its own action.
    let (status, audit) = app
        .get(
            "/v1/audit?action=platform_release.publish",
            &common::auditor_token(),
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["items"][0]["actor"]["id"], "pat", "{audit}");

    // A corrupted blob in the registry (same length, other bytes) aborts the download: the
    // client sees a broken transfer, never a complete wrong file.
    let stored = blob_file(&stack.registry, &cli.layer_digest);
    let mut corrupted = std::fs::read(&stored).unwrap();
    assert_eq!(corrupted, cli_bytes, "the registry stores the layer as pushed");
    let last = corrupted.len() - 1;
    corrupted[last] ^= 0xff;
    std::fs::write(&stored, &corrupted).unwrap();
    let response = download(app, path, &developer()).await;
    assert_eq!(
        response.status(),
        200,
        "headers are sent before the bytes are checked"
    );
    let read = response.bytes().await;
    assert!(
        read.is_err(),
        "a corrupted blob must break the transfer, got {} bytes",
        read.map(|b| b.len()).unwrap_or(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_definitions_are_checked_and_change_nothing_when_refused() {
    if !common::registry::tools_available() {
        return;
    }
    let stack = stack_with(Db::sqlite(), |config| config.platform.download_max_bytes = CAP).await;
    let cli_bytes = payload("cli", 4096);
    let cli = push_platform_artifact(&stack, "gatehouse-cli", &cli_bytes).await;
    let app = &stack.app;
    let release = |artifact_id: &str| json!({ "version": "2.0.0", "artifacts": [{ "name": "cli", "artifact_id": artifact_id }] });

    // Only platform admins and releasers define releases.
    let operator = token("olivia", json!({ "platform-team": ["admin"] }));
    let (status, body) = app
        .post("/v1/platform/releases", &operator, release(&cli.id))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["decision"], "deny");

    // Nor may a project admin push into a platform repository, even its own project's.
    let (status, body) = app
        .post(
            "/v1/projects/platform-team/publish-intents",
            &operator,
            json!({ "app": "gatehouse-cli", "artifact_kind": "oci", "visibility": "platform" }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["policy_ids"],
        json!(["visibility-platform-publish-needs-platform-role"]),
        "{body}"
    );

    // A project artifact cannot be released.
    let (status, project) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &token("olivia", json!({ "team-a": ["operator"] })),
            json!({
                "app": "weights",
                "artifact_kind": "blob",
                "digest": common::digest("weights"),
                "source": { "source_type": "https", "uri": "https://models.example/weights.bin" },
            }),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let project_id = project["id"].as_str().unwrap();

    let cases = [
        (json!({ "version": "../x", "artifacts": [] }), "version"),
        (json!({ "version": "2.0.0", "artifacts": [] }), "artifacts"),
        (release("not-a-uuid"), "artifacts[0].artifact_id"),
        (
            release(&uuid::Uuid::now_v7().to_string()),
            "artifacts[0].artifact_id",
        ),
        (release(project_id), "artifacts[0].artifact_id"),
        (
            json!({ "version": "2.0.0", "artifacts": [
                { "name": "cli", "artifact_id": cli.id },
                { "name": "cli", "artifact_id": cli.id },
            ] }),
            "artifacts[1].name",
        ),
        (
            json!({ "version": "2.0.0", "artifacts": [{ "name": "cli", "artifact_id": cli.id, "os": "linux/x" }] }),
            "artifacts[0].os",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = app
            .post("/v1/platform/releases", &platform_admin(), body.clone())
            .await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let (_, list) = app.get("/v1/platform/releases", &developer()).await;
    assert_eq!(list["items"], json!([]), "{list}");

    // A version is defined once.
    let (status, _) = app
        .post("/v1/platform/releases", &platform_admin(), release(&cli.id))
        .await;
    assert_eq!(status, 201);
    let (status, body) = app
        .post("/v1/platform/releases", &platform_admin(), release(&cli.id))
        .await;
    assert_eq!(status, 409, "{body}");

    // Unknown releases and files are 404s; no token is a 401.
    let (status, _) = app.get("/v1/platform/releases/9.9.9", &developer()).await;
    assert_eq!(status, 404);
    let response = download(app, "/v1/platform/releases/2.0.0/artifacts/nope", &developer()).await;
    assert_eq!(response.status(), 404);
    // A name no release file could carry reads as missing too, not as a malformed request.
    let response = download(app, "/v1/platform/releases/2.0.0/artifacts/a+b", &developer()).await;
    assert_eq!(response.status(), 404);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("has no artifact `a+b`"),
        "{problem}"
    );
    let response = app
        .http
        .get(format!("{}/v1/platform/releases", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_a_platform_repository_registers_from_its_notification() {
    if !common::registry::tools_available() {
        return;
    }
    let stack = stack_with(Db::sqlite(), |_| {}).await;
    let (_, pushed) = push_only(&stack, "gatehouse-cli", &payload("auto", 2048)).await;
    let found = common::stack::eventually("the notification's registration", async || {
        common::stack::artifact_by_digest(&stack.app, "platform-team", &pushed.manifest_digest).await
    })
    .await;
    assert_eq!(found["repository"], pushed.repository);
    assert_eq!(found["visibility"], "platform");
}

/// `GATEHOUSE_PLATFORM__DOWNLOAD_MAX_BYTES` reaches the download: with the override, a file far
/// under the default cap (64 MiB) is refused with 413 naming the overridden cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_download_cap_is_taken_from_the_environment() {
    if !common::registry::tools_available() {
        return;
    }
    let vars = [(
        "GATEHOUSE_PLATFORM__DOWNLOAD_MAX_BYTES".to_owned(),
        "2048".to_owned(),
    )];
    let from_env = gatehouse::Config::load_with_env(None, &vars).unwrap().platform;
    let stack = stack_with(Db::sqlite(), move |config| config.platform = from_env).await;
    let small = payload("small", 1024);
    let large = payload("above the overridden cap", 4096);
    let small = push_platform_artifact(&stack, "gatehouse-cli", &small).await;
    let large = push_platform_artifact(&stack, "sdk-python", &large).await;
    let body = json!({ "version": "3.0.0", "artifacts": [
        { "name": "cli", "artifact_id": small.id },
        { "name": "sdk", "artifact_id": large.id },
    ] });
    let (status, created) = stack
        .app
        .post("/v1/platform/releases", &platform_admin(), body)
        .await;
    assert_eq!(status, 201, "{created}");
    let response = download(
        &stack.app,
        "/v1/platform/releases/3.0.0/artifacts/cli",
        &developer(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = download(
        &stack.app,
        "/v1/platform/releases/3.0.0/artifacts/sdk",
        &developer(),
    )
    .await;
    assert_eq!(response.status(), 413);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["max_bytes"], 2048, "{problem}");
}
