//! The CI signing flow end to end, as a CI job runs it: a publish intent, `skopeo copy` of the
//! image with the intent's credential, then cosign's `.sig` and `.att` layouts pushed with the
//! SAME credential. Nobody calls register or verify: the registry's notifications alone register
//! the image and move it to `verified` with the signer's key and the SLSA provenance as evidence.
//!
//! The signature and attestation are made by an independent signer (PyPI `cryptography` and
//! `securesystemslib`, `fixtures/ci-flow/make.py`), over the image `write_oci_image` writes for
//! the committed seed, with cosign's Rekor bundle annotations from a test log whose key is in
//! the committed `trusted_root.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::cosign::{SIMPLE_SIGNING, sig_tag, single_layer_layout};
use common::registry::{Auth, LayoutWriter, OciImage, sha256_digest, skopeo_push, write_oci_image};
use common::stack::{
    Stack, WEBHOOK_SECRET, artifact_by_digest, creds, eventually, operator, promote_to_prod, publish_intent,
    releaser, stack_with,
};
use common::{Db, TestApp, read};
use gatehouse::domain::{ProjectProvenance, ProvenanceTrust};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use serde_json::{Value, json};

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const BUILDER_ID: &str = "https://ci.example.com/builders/gatehouse-ci@v1";
const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The repository the fixture provenance says the image was built from (`make.py`).
const SOURCE_REPOSITORY: &str = "https://git.example.com/team-a/ci-demo";

fn fixture_path(name: &str) -> PathBuf {
    common::repo_path(&format!("fixtures/ci-flow/{name}"))
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap()
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(name)).unwrap()
}

/// The image, its repository and project, as the fixtures were signed for.
struct Subject {
    seed: String,
    tag: String,
    project: String,
    app: String,
    repository: String,
    digest: String,
}

fn subject() -> Subject {
    let s = fixture_json("subject.json");
    let field = |name: &str| s[name].as_str().unwrap().to_owned();
    Subject {
        seed: field("seed"),
        tag: field("tag"),
        project: field("project"),
        app: field("app"),
        repository: field("repository"),
        digest: field("digest"),
    }
}

/// The key id the gateway gives the fixture signing key: `sha256:` + hex of its DER SPKI.
fn signing_key_id() -> String {
    let pem = String::from_utf8(fixture_bytes("cosign.pub.pem")).unwrap();
    let key = p256::PublicKey::from_public_key_pem(&pem).unwrap();
    sha256_digest(key.to_public_key_der().unwrap().as_bytes())
}

/// A gateway that verifies on registration with the fixture key and trusted root, and its registry;
/// prod needs provenance from the fixture's builder and source repository.
async fn ci_stack(db: Db) -> Stack {
    ci_stack_trusting(db, BUILDER_ID).await
}

/// As [`ci_stack`], trusting `builder` as the only builder of `team-a`'s artifacts.
async fn ci_stack_trusting(db: Db, builder: &str) -> Stack {
    stack_with(db, |config| {
        config.trust.verify_on_register = true;
        config.trust.cosign_public_key_files = vec![fixture_path("cosign.pub.pem")];
        config.trust.trusted_root_file = Some(fixture_path("trusted_root.json"));
        config.trust.provenance = ProvenanceTrust {
            builders: vec![builder.to_owned()],
            projects: [(
                "team-a".parse().unwrap(),
                ProjectProvenance {
                    source_repositories: vec![SOURCE_REPOSITORY.to_owned()],
                    builders: None,
                },
            )]
            .into(),
        };
    })
    .await
}

/// A CI job's whole push: the image, then cosign's `.sig` and `.att` with the intent's credential;
/// answers the artifact once the notifications alone verified it with its provenance.
async fn push_signed_image(app: &TestApp, registry_host: &str) -> Value {
    let subject = subject();
    let intent = publish_intent(
        app,
        &subject.project,
        json!({ "app": subject.app, "artifact_kind": "oci", "tag": subject.tag }),
    )
    .await;
    let repository = intent["repository"].as_str().unwrap().to_owned();
    let (user, pass) = creds(&intent);
    let auth = Auth::Creds(&user, &pass);
    let image = write_oci_image(&subject.seed, &subject.tag);
    let pushed = skopeo_push(&image, registry_host, &repository, &auth)
        .await
        .unwrap();
    for layout in [signature_layout(&pushed), attestation_layout(&pushed)] {
        skopeo_push(&layout, registry_host, &repository, &auth)
            .await
            .unwrap();
    }
    eventually("the notifications to verify the image", async || {
        let artifact = artifact_by_digest(app, &subject.project, &pushed).await?;
        (artifact["trust_state"] == "verified" && artifact["provenance"]["builder_id"] == BUILDER_ID)
            .then_some(artifact)
    })
    .await
}

/// The annotations of a fixture layer, as cosign writes them.
fn annotations(name: &str) -> Value {
    fixture_json(name)
}

/// cosign's `.sig` layout for `digest`, holding the fixture signature layer.
fn signature_layout(digest: &str) -> OciImage {
    single_layer_layout(
        &sig_tag(digest),
        SIMPLE_SIGNING,
        &fixture_bytes("signature.payload.json"),
        annotations("signature.annotations.json"),
    )
}

/// cosign's `.att` layout for `digest`, holding the fixture DSSE attestation layer.
fn attestation_layout(digest: &str) -> OciImage {
    single_layer_layout(
        &format!("{}.att", digest.replacen(':', "-", 1)),
        DSSE_MEDIA_TYPE,
        &fixture_bytes("attestation.envelope.json"),
        annotations("attestation.annotations.json"),
    )
}

/// An OCI 1.1 referrer (an SBOM-like artifact) whose `subject` is `subject_digest`, under `tag`.
fn referrer_layout(subject_digest: &str, tag: &str) -> OciImage {
    let layout = LayoutWriter::new();
    let config = b"{}";
    let layer = format!("sbom of {subject_digest}").into_bytes();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.sbom+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": layout.put(config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.example.sbom+json",
            "digest": layout.put(&layer),
            "size": layer.len(),
        }],
        "subject": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": subject_digest,
            "size": 1,
        },
    });
    layout.finish(tag, &manifest)
}

/// Every push event the gateway stored, oldest first: (tag, digest, status, result).
async fn stored_events(db: &Db) -> Vec<(Option<String>, Option<String>, String, Value)> {
    type Row = (Option<String>, Option<String>, String, String);
    let rows: Vec<Row> = match db {
        Db::Sqlite(_) => {
            let pool = sqlx::SqlitePool::connect(&db.url()).await.unwrap();
            let rows = sqlx::query_as(
                "select tag, digest, status, result from registry_events where action = 'push' order by received_at, id",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            rows
        }
        Db::Postgres(_) => {
            let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
            let rows = sqlx::query_as(
                "select tag, digest, status, result::text from registry_events where action = 'push' order by received_at, id",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            rows
        }
    };
    rows.into_iter()
        .map(|(tag, digest, status, result)| (tag, digest, status, serde_json::from_str(&result).unwrap()))
        .collect()
}

/// The event of the manifest pushed as `digest` under `tag`, once the worker has applied it
/// (one manifest may be pushed under several tags: cosign's layouts do not name their subject).
async fn applied_event(app: &TestApp, digest: &str, tag: &str) -> Value {
    eventually(
        &format!("the event of {digest} ({tag}) to be applied"),
        async || {
            stored_events(&app.db)
                .await
                .into_iter()
                .find(|(t, d, status, _)| {
                    d.as_deref() == Some(digest) && t.as_deref() == Some(tag) && status != "pending"
                })
                .map(|(_, _, status, result)| json!({ "status": status, "result": result }))
        },
    )
    .await
}

async fn unregistered_push(app: &TestApp, project: &str, digest: &str) -> Value {
    eventually(&format!("an unregistered push of {digest}"), async || {
        let (_, page) = app
            .get(
                &format!("/v1/projects/{project}/unregistered-pushes"),
                &operator(project),
            )
            .await;
        page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|p| p["digest"] == digest).cloned())
    })
    .await
}

async fn artifact_count(app: &TestApp, project: &str) -> usize {
    let (status, page) = app
        .get(&format!("/v1/projects/{project}/artifacts"), &operator(project))
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().len()
}

/// The `access` claim of the registry token the gateway issues `user` for push and pull.
async fn granted_access(app: &TestApp, repository: &str, user: &str, pass: &str) -> Value {
    let url = format!(
        "{}/v1/registry/token?service={}&scope=repository:{repository}:push,pull",
        app.base,
        common::registry::SERVICE
    );
    let (status, body) = read(
        app.http
            .get(&url)
            .basic_auth(user, Some(pass))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let mut access = claims["access"].clone();
    let first_actions = access
        .get_mut(0)
        .and_then(|grant| grant.get_mut("actions"))
        .and_then(Value::as_array_mut);
    if let Some(actions) = first_actions {
        actions.sort_by_key(|a| a.as_str().unwrap().to_owned());
    }
    access
}

fn refused(err: &str) -> bool {
    err.contains("denied") || err.contains("unauthorized") || err.contains("401") || err.contains("403")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intent_credential_signs_and_the_notification_verifies_on_sqlite() {
    if common::registry::tools_available() {
        signing_flow(Db::sqlite()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intent_credential_signs_and_the_notification_verifies_on_postgres() {
    if !common::registry::tools_available() {
        return;
    }
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    signing_flow(Db::Postgres(db)).await;
}

async fn signing_flow(db: Db) {
    let subject = subject();
    let Stack { app, registry, .. } = ci_stack(db).await;
    let project = subject.project.as_str();
    let intent = publish_intent(
        &app,
        project,
        json!({ "app": subject.app, "artifact_kind": "oci", "tag": subject.tag }),
    )
    .await;
    let repository = intent["repository"].as_str().unwrap().to_owned();
    assert_eq!(repository, subject.repository);
    let (user, pass) = creds(&intent);
    let auth = Auth::Creds(&user, &pass);

    // The image the fixtures were signed for: `write_oci_image` is deterministic for a seed.
    let image = write_oci_image(&subject.seed, &subject.tag);
    assert_eq!(
        image.manifest_digest, subject.digest,
        "write_oci_image no longer writes the signed image: put the new digest in \
         fixtures/ci-flow/subject.json and rerun fixtures/ci-flow/make.py"
    );
    let pushed = skopeo_push(&image, &registry.host, &repository, &auth)
        .await
        .unwrap_or_else(|e| panic!("image push refused: {e}\n{}", registry.logs()));
    assert_eq!(pushed, subject.digest);

    // Right after, as `cosign sign` and `cosign attest` would: the same credential, cosign's tags.
    let signature = signature_layout(&pushed);
    let signature_digest = skopeo_push(&signature, &registry.host, &repository, &auth)
        .await
        .unwrap_or_else(|e| panic!("the intent credential may push the signature: {e}"));
    let attestation = attestation_layout(&pushed);
    let attestation_digest = skopeo_push(&attestation, &registry.host, &repository, &auth)
        .await
        .unwrap_or_else(|e| panic!("the intent credential may push the attestation: {e}"));

    // No registration call and no verify call: the notifications alone.
    let artifact = eventually(
        "the notifications to verify the image with its provenance",
        async || {
            let artifact = artifact_by_digest(&app, project, &pushed).await?;
            let has_provenance = artifact["attestations"]
                .as_array()
                .is_some_and(|types| types.contains(&json!(SLSA_V1)));
            (artifact["trust_state"] == "verified" && has_provenance).then_some(artifact)
        },
    )
    .await;
    assert_eq!(artifact["signature_verified"], true, "{artifact}");
    assert_eq!(artifact["created_by"]["id"], "olivia");
    let id = artifact["id"].as_str().unwrap().to_owned();

    let (status, body) = app.get(&format!("/v1/artifacts/{id}"), &operator(project)).await;
    assert_eq!(status, 200, "{body}");
    let evidence = body["evidence"].as_array().unwrap();
    let key_id = signing_key_id();
    let signed = evidence
        .iter()
        .find(|e| e["type"] == "signature" && e["result"] == "pass")
        .unwrap_or_else(|| panic!("no passing signature: {body}"));
    assert_eq!(signed["details"]["key_id"], key_id, "{signed}");
    let provenance = evidence
        .iter()
        .find(|e| e["type"] == "attestation" && e["result"] == "pass")
        .unwrap_or_else(|| panic!("no passing attestation: {body}"));
    assert_eq!(provenance["details"]["predicate_type"], SLSA_V1);
    assert_eq!(provenance["details"]["builder_id"], BUILDER_ID);
    assert_eq!(provenance["details"]["key_id"], key_id);

    // The signature and attestation were trust inputs, never artifacts, and each asked for the
    // image to be verified again.
    assert_eq!(artifact_count(&app, project).await, 1);
    for (layout, digest, kind) in [
        (&signature, &signature_digest, "cosign_signature"),
        (&attestation, &attestation_digest, "cosign_attestation"),
    ] {
        let event = applied_event(&app, digest, &layout.tag).await;
        assert_eq!(event["status"], "applied", "{event}");
        assert_eq!(event["result"]["trust_input_for"], id.as_str(), "{event}");
        assert_eq!(event["result"]["kind"], kind, "{event}");
        assert_eq!(event["result"]["subject"], pushed.as_str(), "{event}");
        assert!(event["result"]["requeued"].is_boolean(), "{event}");
    }

    // The completed intent's credential still pushes to its repository until it expires…
    assert_eq!(
        granted_access(&app, &repository, &user, &pass).await,
        json!([{ "type": "repository", "name": repository, "actions": ["pull", "push"] }])
    );

    // …but another image under another tag is an unregistered push that completes nothing.
    let other = write_oci_image("gatehouse ci signing flow, not signed", "v2");
    let other_digest = skopeo_push(&other, &registry.host, &repository, &auth)
        .await
        .unwrap_or_else(|e| panic!("the registry cannot restrict tags: {e}"));
    let recorded = unregistered_push(&app, project, &other_digest).await;
    assert_eq!(recorded["repository"], repository.as_str());
    assert_eq!(recorded["actor_name"], user.as_str());
    assert_eq!(recorded["tag"], "v2");
    let event = applied_event(&app, &other_digest, "v2").await;
    assert!(
        event["result"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("already completed")),
        "{event}"
    );

    // So are a signature of another digest and a referrer of another subject.
    let foreign_signature_layout = signature_layout(&other_digest);
    let foreign_signature = skopeo_push(&foreign_signature_layout, &registry.host, &repository, &auth)
        .await
        .unwrap();
    let foreign_referrer = skopeo_push(
        &referrer_layout(&other_digest, "sbom-other"),
        &registry.host,
        &repository,
        &auth,
    )
    .await
    .unwrap();
    for (digest, tag) in [
        (&foreign_signature, foreign_signature_layout.tag.as_str()),
        (&foreign_referrer, "sbom-other"),
    ] {
        unregistered_push(&app, project, digest).await;
        let event = applied_event(&app, digest, tag).await;
        let reason = event["result"]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(&other_digest) && reason.contains(&pushed),
            "the reason names both digests: {event}"
        );
    }

    // An OCI 1.1 referrer of the image is a trust input like cosign's tags: the gateway reads
    // its `subject` from the registry (notifications do not carry it).
    let referrer = skopeo_push(
        &referrer_layout(&pushed, "sbom"),
        &registry.host,
        &repository,
        &auth,
    )
    .await
    .unwrap();
    let event = applied_event(&app, &referrer, "sbom").await;
    assert_eq!(event["result"]["trust_input_for"], id.as_str(), "{event}");
    assert_eq!(event["result"]["kind"], "referrer", "{event}");

    // Nothing else changed: one artifact, still verified, no trust input recorded as a push.
    assert_eq!(artifact_count(&app, project).await, 1);
    let after = eventually("verification to settle", async || {
        let a = artifact_by_digest(&app, project, &pushed).await?;
        (a["trust_state"] == "verified").then_some(a)
    })
    .await;
    assert_eq!(after["id"], id.as_str());
    let (_, pushes) = app
        .get(
            &format!("/v1/projects/{project}/unregistered-pushes"),
            &operator(project),
        )
        .await;
    let mut recorded: Vec<&str> = pushes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["digest"].as_str().unwrap())
        .collect();
    recorded.sort_unstable();
    let mut expected = vec![
        other_digest.as_str(),
        foreign_signature.as_str(),
        foreign_referrer.as_str(),
    ];
    expected.sort_unstable();
    assert_eq!(recorded, expected);

    // The provenance the notifications verified is what the prod policy reads: the configured
    // builder and the project's source repository let the release through.
    assert_eq!(after["provenance"]["builder_id"], BUILDER_ID, "{after}");
    assert_eq!(
        after["provenance"]["source_repository"], SOURCE_REPOSITORY,
        "{after}"
    );
    let (status, promoted) = promote_to_prod(&app, "team-a", &id).await;
    assert_eq!(status, 200, "{promoted}");
    assert_eq!(promoted["channels"], json!(["dev", "test", "staging", "prod"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prod_is_refused_naming_the_policy_when_another_builder_is_trusted() {
    if !common::registry::tools_available() {
        return;
    }
    let Stack { app, registry, .. } =
        ci_stack_trusting(Db::sqlite(), "https://builders.example.com/other@v1").await;
    let artifact = push_signed_image(&app, &registry.host).await;
    let (status, denied) = promote_to_prod(&app, "team-a", artifact["id"].as_str().unwrap()).await;
    assert_eq!(status, 403, "{denied}");
    assert_eq!(
        denied["policy_ids"],
        json!(["prod-provenance-trusted-builder"]),
        "{denied}"
    );
    // Staging is not gated on the builder: the artifact got there and stays.
    let (_, shown) = app
        .get(
            &format!("/v1/artifacts/{}", artifact["id"].as_str().unwrap()),
            &releaser("team-a"),
        )
        .await;
    assert_eq!(shown["channels"], json!(["dev", "test", "staging"]), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_credential_gets_nothing_once_the_intent_expires() {
    if !common::registry::tools_available() {
        return;
    }
    let Stack { app, registry, .. } = ci_stack(Db::sqlite()).await;
    let ttl = 15;
    let intent = publish_intent(
        &app,
        "team-a",
        json!({ "app": "short-lived", "artifact_kind": "oci", "tag": "v1", "ttl_seconds": ttl }),
    )
    .await;
    let repository = intent["repository"].as_str().unwrap().to_owned();
    let (user, pass) = creds(&intent);
    let image = write_oci_image("gatehouse ci signing flow, short-lived", "v1");
    let pushed = skopeo_push(&image, &registry.host, &repository, &Auth::Creds(&user, &pass))
        .await
        .unwrap_or_else(|e| panic!("push refused: {e}"));
    eventually("the push to be registered", async || {
        artifact_by_digest(&app, "team-a", &pushed).await
    })
    .await;
    // Completed and still live: push and pull.
    assert_eq!(
        granted_access(&app, &repository, &user, &pass).await,
        json!([{ "type": "repository", "name": repository, "actions": ["pull", "push"] }])
    );

    let expires_at: chrono::DateTime<chrono::Utc> = intent["expires_at"].as_str().unwrap().parse().unwrap();
    let left = (expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_secs(1)).await;

    // Expired: an empty grant, so the registry refuses the signature push.
    assert_eq!(granted_access(&app, &repository, &user, &pass).await, json!([]));
    let err = skopeo_push(
        &signature_layout(&pushed),
        &registry.host,
        &repository,
        &Auth::Creds(&user, &pass),
    )
    .await
    .unwrap_err();
    assert!(refused(&err), "{err}");
}

/// A push token signed out of band (a release bot), not through a publish intent.
fn bot_token(repository: &str) -> String {
    let grant = gatehouse::domain::AccessGrant {
        resource_type: "repository".to_owned(),
        name: repository.to_owned(),
        actions: vec!["pull".to_owned(), "push".to_owned()],
    };
    common::registry::fixture_signer()
        .sign("release-bot", &[grant], Duration::from_secs(120))
        .unwrap()
        .token
}

async fn trust_state_becomes(app: &TestApp, project: &str, digest: &str, state: &str) -> Value {
    eventually(&format!("{digest} to become {state}"), async || {
        let artifact = artifact_by_digest(app, project, digest).await?;
        (artifact["trust_state"] == state).then_some(artifact)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_pushed_later_by_anyone_the_registry_lets_push_reverifies() {
    if !common::registry::tools_available() {
        return;
    }
    let subject = subject();
    let Stack { app, registry, .. } = ci_stack(Db::sqlite()).await;
    let intent = publish_intent(
        &app,
        "team-a",
        json!({ "app": "signed-later", "artifact_kind": "oci", "tag": "v1" }),
    )
    .await;
    let repository = intent["repository"].as_str().unwrap().to_owned();
    let (user, pass) = creds(&intent);
    let image = write_oci_image(&subject.seed, &subject.tag);
    let pushed = skopeo_push(&image, &registry.host, &repository, &Auth::Creds(&user, &pass))
        .await
        .unwrap();

    // Registered and verified by the queued job: unsigned, so it fails.
    let artifact = trust_state_becomes(&app, "team-a", &pushed, "failed_verification").await;
    let id = artifact["id"].as_str().unwrap().to_owned();

    // A release bot (not an intent) signs it later: its notification alone re-verifies it.
    let bot = bot_token(&repository);
    let signature = signature_layout(&pushed);
    let signature_digest = skopeo_push(&signature, &registry.host, &repository, &Auth::Token(&bot))
        .await
        .unwrap();
    let verified = trust_state_becomes(&app, "team-a", &pushed, "verified").await;
    assert_eq!(verified["signature_verified"], true, "{verified}");
    let event = applied_event(&app, &signature_digest, &signature.tag).await;
    assert_eq!(event["result"]["trust_input_for"], id.as_str(), "{event}");
    assert_eq!(event["result"]["requeued"], true, "{event}");

    // A signature of a digest nobody registered is ignored: neither an artifact nor a push record.
    let unknown = common::digest("never registered");
    let stray = signature_layout(&unknown);
    let stray_digest = skopeo_push(&stray, &registry.host, &repository, &Auth::Token(&bot))
        .await
        .unwrap();
    let event = applied_event(&app, &stray_digest, &stray.tag).await;
    assert_eq!(event["status"], "ignored", "{event}");
    assert_eq!(artifact_count(&app, "team-a").await, 1);
    let (_, pushes) = app
        .get("/v1/projects/team-a/unregistered-pushes", &operator("team-a"))
        .await;
    assert_eq!(pushes["items"], json!([]), "{pushes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_ahead_of_its_image_waits_for_the_intent_to_register_it() {
    if !common::registry::tools_available() {
        return;
    }
    let Stack { app, .. } = ci_stack(Db::sqlite()).await;
    let intent = publish_intent(
        &app,
        "team-a",
        json!({ "app": "racing", "artifact_kind": "oci", "tag": "v1" }),
    )
    .await;
    let repository = intent["repository"].as_str().unwrap();
    let (user, _) = creds(&intent);
    // The `.sig` notification is applied before the image's (another worker took that one, or
    // it met an outage): the intent has registered nothing yet, so it is neither allowed nor
    // refused — it goes back to the queue.
    let image_digest = common::digest("the image still on its way");
    let tag = sig_tag(&image_digest);
    let body = json!({ "events": [{
        "id": "evt-early-sig",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "size": 400, "digest": common::digest("signature manifest"), "length": 400,
            "repository": repository, "tag": tag,
        },
        "actor": { "name": user },
    }]});
    let response = app
        .http
        .post(format!("{}/v1/webhooks/registry", app.base))
        .bearer_auth(WEBHOOK_SECRET)
        .header(
            "content-type",
            "application/vnd.docker.distribution.events.v1+json",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let (status, result) = eventually("the early signature to be deferred", async || {
        stored_events(&app.db)
            .await
            .into_iter()
            .find(|(t, _, _, result)| t.as_deref() == Some(tag.as_str()) && result.get("deferred").is_some())
            .map(|(_, _, status, result)| (status, result))
    })
    .await;
    assert_eq!(status, "pending", "{result}");
    let (_, pushes) = app
        .get("/v1/projects/team-a/unregistered-pushes", &operator("team-a"))
        .await;
    assert_eq!(pushes["items"], json!([]), "{pushes}");
}

/// The committed layers carry transparency-log entries for exactly their own signatures, signed
/// by the log in the committed trusted root: they keep verifying once keyed signatures require a
/// log entry (`trust.require_tlog`). Checked here from the files alone, not by the gateway.
#[test]
fn the_fixture_layers_carry_valid_log_entries_for_their_own_signatures() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::{Signature, VerifyingKey};

    let root = fixture_json("trusted_root.json");
    let log = &root["tlogs"][0];
    let log_der = STANDARD
        .decode(log["publicKey"]["rawBytes"].as_str().unwrap())
        .unwrap();
    let log_key = VerifyingKey::from_public_key_der(&log_der).unwrap();
    let log_id = sha256_digest(&log_der)["sha256:".len()..].to_owned();
    assert_eq!(
        STANDARD.decode(log["logId"]["keyId"].as_str().unwrap()).unwrap(),
        hex::decode(&log_id).unwrap()
    );
    let signing_pem = fixture_bytes("cosign.pub.pem");
    let hex_of = |bytes: &[u8]| sha256_digest(bytes)["sha256:".len()..].to_owned();

    for (layer, annotations) in [
        ("signature.payload.json", "signature.annotations.json"),
        ("attestation.envelope.json", "attestation.annotations.json"),
    ] {
        let layer = fixture_bytes(layer);
        let annotations = fixture_json(annotations);
        let bundle: Value =
            serde_json::from_str(annotations["dev.sigstore.cosign/bundle"].as_str().unwrap()).unwrap();
        let payload = &bundle["Payload"];
        assert_eq!(payload["logID"], log_id.as_str());
        let body_b64 = payload["body"].as_str().unwrap();
        let set_payload = format!(
            r#"{{"body":"{body_b64}","integratedTime":{},"logID":"{log_id}","logIndex":{}}}"#,
            payload["integratedTime"], payload["logIndex"]
        );
        let set = STANDARD
            .decode(bundle["SignedEntryTimestamp"].as_str().unwrap())
            .unwrap();
        log_key
            .verify(set_payload.as_bytes(), &Signature::from_der(&set).unwrap())
            .unwrap();

        let body: Value = serde_json::from_slice(&STANDARD.decode(body_b64).unwrap()).unwrap();
        let logged_key = |pointer: &str| {
            STANDARD
                .decode(body.pointer(pointer).unwrap().as_str().unwrap())
                .unwrap()
        };
        match body["kind"].as_str().unwrap() {
            "hashedrekord" => {
                assert_eq!(body["spec"]["data"]["hash"]["value"], hex_of(&layer));
                assert_eq!(logged_key("/spec/signature/publicKey/content"), signing_pem);
                let signature = annotations["dev.cosignproject.cosign/signature"]
                    .as_str()
                    .unwrap();
                assert_eq!(body["spec"]["signature"]["content"], signature);
            }
            "intoto" => {
                let content = &body["spec"]["content"];
                assert_eq!(body["apiVersion"], "0.0.2");
                assert_eq!(content["hash"]["value"], hex_of(&layer));
                let envelope: Value = serde_json::from_slice(&layer).unwrap();
                let statement = STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap();
                assert_eq!(content["payloadHash"]["value"], hex_of(&statement));
                let logged = &content["envelope"]["signatures"][0];
                assert_eq!(
                    logged_key("/spec/content/envelope/signatures/0/publicKey"),
                    signing_pem
                );
                let sig = STANDARD.decode(logged["sig"].as_str().unwrap()).unwrap();
                assert_eq!(sig, envelope["signatures"][0]["sig"].as_str().unwrap().as_bytes());
            }
            other => panic!("unexpected entry kind `{other}`"),
        }
    }
}
