//! The Kubernetes validating admission webhook over TLS, on SQLite and on PostgreSQL: real-shaped
//! `AdmissionReview`s (Pod, Deployment, CronJob) with images by tag, by an unregistered digest,
//! by a revoked, an unverified and an allowed digest, from the wrong repository; an unmapped
//! namespace, an unknown kind, a dry run, DELETE; the bearer token and the client certificate;
//! and every image decision in the decision log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::tls::{Pki, over_https};
use common::{Db, TestApp, auditor_token, digest, oci_registration, read, test_config, token};
use gatehouse::k8s::{KubernetesConfig, NamespaceMapping};
use serde_json::{Value, json};

const TOKEN: &str = "k8s-webhook-token-0123456789";
const CERT_NAME: &str = "kube-apiserver-client";
const REGISTRY: &str = "registry.local";
/// The gateway's registry host as an operator may spell it: host names are case-insensitive,
/// and image references arrive lower-cased, so `REGISTRY` images must still match it.
const CONFIGURED_REGISTRY_HOST: &str = "Registry.Local";

struct Webhook {
    app: TestApp,
    /// Presents the client certificate named in `client_cert_names`.
    cert_client: reqwest::Client,
    /// Presents a certificate from the same CA with another name.
    other_cert_client: reqwest::Client,
    _pki: Pki,
}

async fn spawn(db: Db) -> Webhook {
    let mut pki = Pki::new("cluster CA");
    let token_file = pki.dir.path().join("webhook.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut config = test_config(&db);
    config.tls = pki.tls_config(true);
    config.registry.public_host = Some(CONFIGURED_REGISTRY_HOST.to_owned());
    let mapping = |namespace: &str, channel: &str, runtime_class: Option<&str>| NamespaceMapping {
        namespace: namespace.to_owned(),
        project: "team-a".parse().unwrap(),
        channel: channel.parse().unwrap(),
        runtime_class: runtime_class.map(str::to_owned),
    };
    config.kubernetes = KubernetesConfig {
        token_file: Some(token_file),
        client_cert_names: vec![CERT_NAME.to_owned()],
        namespaces: vec![
            mapping("team-a-dev", "dev", Some("k8s-gpu")),
            mapping("team-a-prod", "prod", None),
        ],
    };
    let (cert, key) = pki.leaf(CERT_NAME, Vec::new());
    let cert_client = pki.client(Some((&cert, &key)));
    let (cert, key) = pki.leaf("someone-else", Vec::new());
    let other_cert_client = pki.client(Some((&cert, &key)));
    let app = over_https(TestApp::spawn_with(db, config).await, pki.client(None));
    Webhook {
        app,
        cert_client,
        other_cert_client,
        _pki: pki,
    }
}

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

fn admin() -> String {
    token("ada", json!({ "team-a": ["admin"] }))
}

/// Registers `app` under `seed`'s digest; `verify` and `revoke` move its trust.
async fn artifact(app: &TestApp, name: &str, seed: &str, verify: bool, revoke: bool) -> String {
    let (status, body) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator(),
            oci_registration(name, &digest(seed)),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    if verify {
        let (status, body) = app
            .post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
            .await;
        assert_eq!(
            (status, body["trust_state"].as_str()),
            (200, Some("verified")),
            "{body}"
        );
    }
    if revoke {
        let (status, body) = app
            .post(
                &format!("/v1/artifacts/{id}/revoke"),
                &admin(),
                json!({ "reason": "key compromise" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    id
}

/// The image of `name`'s registered digest, as its source names it.
fn image(name: &str, seed: &str) -> String {
    format!("{REGISTRY}/gpuaas/apps/{name}@{}", digest(seed))
}

fn containers(images: &[&str]) -> Value {
    images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({ "name": format!("c{i}"), "image": image, "resources": {} }))
        .collect()
}

fn pod_spec(images: &[&str], init: &[&str]) -> Value {
    json!({
        "containers": containers(images),
        "initContainers": containers(init),
        "restartPolicy": "Always",
        "runtimeClassName": "k8s-gpu",
    })
}

fn pod(images: &[&str], init: &[&str]) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "web", "namespace": "team-a-dev", "labels": { "app": "web" } },
        "spec": pod_spec(images, init),
    })
}

fn deployment(images: &[&str]) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "web" },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "web" } },
            "template": { "metadata": { "labels": { "app": "web" } }, "spec": pod_spec(images, &[]) },
        },
    })
}

fn cronjob(images: &[&str]) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": { "name": "nightly" },
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": { "spec": { "template": { "spec": pod_spec(images, &[]) } } },
        },
    })
}

/// A review as the API server sends it.
fn review(
    uid: &str,
    namespace: &str,
    kind: (&str, &str, &str),
    object: Value,
    operation: &str,
    dry_run: bool,
) -> Value {
    let (group, kind, resource) = kind;
    let version = "v1";
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": group, "version": version, "kind": kind },
            "resource": { "group": group, "version": version, "resource": resource },
            "requestKind": { "group": group, "version": version, "kind": kind },
            "requestResource": { "group": group, "version": version, "resource": resource },
            "name": "web",
            "namespace": namespace,
            "operation": operation,
            "userInfo": { "username": "alice", "groups": ["system:authenticated"] },
            "object": object,
            "oldObject": null,
            "dryRun": dry_run,
            "options": { "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions" },
        },
    })
}

const POD: (&str, &str, &str) = ("", "Pod", "pods");
const DEPLOYMENT: (&str, &str, &str) = ("apps", "Deployment", "deployments");
const CRONJOB: (&str, &str, &str) = ("batch", "CronJob", "cronjobs");

async fn post(client: &reqwest::Client, app: &TestApp, bearer: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = client.post(format!("{}/k8s/admission", app.base)).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    read(request.send().await.unwrap()).await
}

/// Posts with the webhook token and checks the answer's envelope and `uid`.
async fn answer(hook: &Webhook, body: &Value) -> Value {
    let (status, answer) = post(&hook.app.http, &hook.app, Some(TOKEN), body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1", "{answer}");
    assert_eq!(answer["kind"], "AdmissionReview", "{answer}");
    assert_eq!(answer["response"]["uid"], body["request"]["uid"], "{answer}");
    answer["response"].clone()
}

fn message(response: &Value) -> &str {
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403, "{response}");
    response["status"]["message"].as_str().unwrap()
}

/// The webhook's decisions about `resource` that the gateway took before asking policy.
async fn gateway_refusals(app: &TestApp, resource: &str) -> Vec<Value> {
    admit_decisions(app, "kube-apiserver")
        .await
        .into_iter()
        .filter(|d| d["resource"] == resource)
        .collect()
}

async fn admit_decisions(app: &TestApp, actor: &str) -> Vec<Value> {
    let (status, body) = app
        .get(
            &format!("/v1/decisions?action=admit&actor={actor}&limit=500"),
            &auditor_token(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn scenario(db: Db) {
    let hook = spawn(db).await;
    let app = &hook.app;
    let good = artifact(app, "web", "k8s-good", true, false).await;
    let _unverified = artifact(app, "web", "k8s-unverified", false, false).await;
    let revoked = artifact(app, "web", "k8s-revoked", true, true).await;
    let (good_image, unverified_image, revoked_image) = (
        image("web", "k8s-good"),
        image("web", "k8s-unverified"),
        image("web", "k8s-revoked"),
    );
    let unregistered_image = image("web", "k8s-never-registered");

    // A Pod whose every image is allowed; an image repeated in an init container is decided once.
    let allowed = answer(
        &hook,
        &review(
            "uid-pod-ok",
            "team-a-dev",
            POD,
            pod(&[&good_image], &[&good_image]),
            "CREATE",
            false,
        ),
    )
    .await;
    assert_eq!(allowed["allowed"], true, "{allowed}");
    assert!(
        allowed.get("status").is_none() && allowed.get("warnings").is_none(),
        "{allowed}"
    );
    let decisions = admit_decisions(app, "kube-apiserver").await;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    let decision = &decisions[0];
    assert_eq!(decision["effect"], "allow");
    assert_eq!(decision["artifact_id"], good.as_str());
    assert_eq!(
        decision["actor"],
        json!({ "type": "kubernetes_api_server", "id": "kube-apiserver" })
    );
    assert_eq!(decision["policy_ids"], json!(["kubernetes-admit"]));
    let context = &decision["request"]["context"];
    assert_eq!(
        (
            context["channel"].as_str(),
            context["runtime_class"].as_str(),
            context["deploy_action"].as_str()
        ),
        (Some("dev"), Some("k8s-gpu"), Some("deploy")),
        "{decision}"
    );
    assert_eq!(
        decision["request"]["principal"],
        "Gatehouse::KubernetesApiServer::\"kube-apiserver\""
    );

    // A Deployment with one image by tag: refused, naming the image and where it is.
    let denied = answer(
        &hook,
        &review(
            "uid-deploy-tag",
            "team-a-dev",
            DEPLOYMENT,
            deployment(&[&good_image, "registry.local/gpuaas/apps/web:v1"]),
            "CREATE",
            false,
        ),
    )
    .await;
    let text = message(&denied);
    assert!(
        text.contains("image `registry.local/gpuaas/apps/web:v1` (spec.template.spec.containers[1].image) is not referenced by digest"),
        "{text}"
    );
    assert!(
        !text.contains(&good_image),
        "an allowed image is not listed: {text}"
    );
    // The gateway's own refusal (no policy asked) is in the decision log like any decision.
    let by_tag = gateway_refusals(app, "image:registry.local/gpuaas/apps/web:v1").await;
    assert_eq!(by_tag.len(), 1, "{by_tag:?}");
    assert_eq!(by_tag[0]["effect"], "deny");
    assert_eq!(by_tag[0]["project"], "team-a");
    assert_eq!(by_tag[0]["policy_ids"], json!([]));
    assert!(
        by_tag[0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("refused by the gateway before policy evaluation: is not referenced by digest"),
        "{by_tag:?}"
    );

    // A CronJob with an unregistered and a revoked digest: both refused, with the deciding policies.
    let cron = review(
        "uid-cron",
        "team-a-dev",
        CRONJOB,
        cronjob(&[&unregistered_image, &revoked_image]),
        "CREATE",
        false,
    );
    let denied = answer(&hook, &cron).await;
    let text = message(&denied);
    assert!(
        text.contains("Gatehouse denied 2 image(s) for namespace `team-a-dev`"),
        "{text}"
    );
    assert!(
        text.contains(&format!("image `{unregistered_image}` (spec.jobTemplate.spec.template.spec.containers[0].image) is not registered in project `team-a`")),
        "{text}"
    );
    assert!(text.contains(&format!("image `{revoked_image}`")), "{text}");
    assert!(text.contains("`no-use-revoked-or-retired`"), "{text}");
    assert!(text.contains("the artifact is revoked or retired"), "{text}");
    let revoked_denials: Vec<Value> = admit_decisions(app, "kube-apiserver")
        .await
        .into_iter()
        .filter(|d| d["artifact_id"] == revoked.as_str())
        .collect();
    assert_eq!(revoked_denials.len(), 1, "{revoked_denials:?}");
    assert_eq!(revoked_denials[0]["effect"], "deny");
    let ids: Vec<&str> = revoked_denials[0]["policy_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(ids.contains(&"no-use-revoked-or-retired"), "{ids:?}");

    // The same CronJob as a dry run: allowed, each refusal a warning.
    let mut dry = cron.clone();
    dry["request"]["uid"] = json!("uid-cron-dry");
    dry["request"]["dryRun"] = json!(true);
    let dry_answer = answer(&hook, &dry).await;
    assert_eq!(dry_answer["allowed"], true, "{dry_answer}");
    assert!(dry_answer.get("status").is_none(), "{dry_answer}");
    let warnings: Vec<&str> = dry_answer["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .all(|w| w.starts_with("Gatehouse would deny (dry run): image `")),
        "{warnings:?}"
    );
    assert!(warnings[1].contains("no-use-revoked-or-retired"), "{warnings:?}");

    // An unverified artifact is refused by the webhook's own forbid.
    let text = message(
        &answer(
            &hook,
            &review(
                "uid-unverified",
                "team-a-dev",
                POD,
                pod(&[&unverified_image], &[]),
                "CREATE",
                false,
            ),
        )
        .await,
    )
    .to_owned();
    assert!(text.contains("`kubernetes-admit-needs-verified`"), "{text}");

    // Prod runs only what was promoted to prod.
    let text = message(
        &answer(
            &hook,
            &review(
                "uid-prod",
                "team-a-prod",
                POD,
                pod(&[&good_image], &[]),
                "CREATE",
                false,
            ),
        )
        .await,
    )
    .to_owned();
    assert!(text.contains("`admit-prod-needs-prod-channel`"), "{text}");
    assert!(text.contains("channel `prod`"), "{text}");

    // The right digest from another repository is not the registered artifact.
    let elsewhere = format!("evil.example/web@{}", digest("k8s-good"));
    let text = message(
        &answer(
            &hook,
            &review(
                "uid-repo",
                "team-a-dev",
                POD,
                pod(&[&elsewhere], &[]),
                "CREATE",
                false,
            ),
        )
        .await,
    )
    .to_owned();
    assert!(text.contains("is pulled from `evil.example/web`"), "{text}");
    // The gateway's own repository of the artifact is where it lives too.
    let canonical = format!("{REGISTRY}/gpuaas/apps/team-a/web@{}", digest("k8s-good"));
    let ok = answer(
        &hook,
        &review(
            "uid-canonical",
            "team-a-dev",
            POD,
            pod(&[&canonical], &[]),
            "CREATE",
            false,
        ),
    )
    .await;
    assert_eq!(ok["allowed"], true, "{ok}");

    // Fail closed: an unmapped namespace, an unknown kind, a malformed object, CONNECT.
    let text = message(
        &answer(
            &hook,
            &review(
                "uid-ns",
                "default",
                POD,
                pod(&[&good_image], &[]),
                "CREATE",
                false,
            ),
        )
        .await,
    )
    .to_owned();
    assert!(
        text.contains("namespace `default` is not mapped to a project"),
        "{text}"
    );
    let unmapped = gateway_refusals(app, "admission_review:uid-ns").await;
    assert_eq!(unmapped.len(), 1, "{unmapped:?}");
    assert_eq!(unmapped[0]["effect"], "deny");
    assert!(unmapped[0]["project"].is_null(), "{unmapped:?}");
    let config_map = json!({ "apiVersion": "v1", "kind": "ConfigMap", "data": {} });
    let text = message(
        &answer(
            &hook,
            &review(
                "uid-kind",
                "team-a-dev",
                ("", "ConfigMap", "configmaps"),
                config_map,
                "CREATE",
                false,
            ),
        )
        .await,
    )
    .to_owned();
    assert!(
        text.contains("kind `v1/ConfigMap` is not one the webhook reviews"),
        "{text}"
    );
    let text = message(
        &answer(
            &hook,
            &review(
                "uid-bad",
                "team-a-dev",
                POD,
                json!({ "spec": { "containers": [] } }),
                "CREATE",
                true,
            ),
        )
        .await,
    )
    .to_owned();
    assert!(
        text.contains("`spec.containers` must be a non-empty list"),
        "{text}"
    );
    let text = message(
        &answer(
            &hook,
            &review("uid-connect", "team-a-dev", POD, json!({}), "CONNECT", false),
        )
        .await,
    )
    .to_owned();
    assert!(text.contains("operation `CONNECT` is not reviewed"), "{text}");
    // DELETE starts nothing: allowed, without a decision.
    let before = admit_decisions(app, "kube-apiserver").await.len();
    let deleted = answer(
        &hook,
        &review("uid-delete", "team-a-dev", POD, Value::Null, "DELETE", false),
    )
    .await;
    assert_eq!(deleted["allowed"], true, "{deleted}");
    assert_eq!(admit_decisions(app, "kube-apiserver").await.len(), before);

    // The client certificate authenticates as its name, without a token.
    let ok_review = review(
        "uid-cert",
        "team-a-dev",
        POD,
        pod(&[&good_image], &[]),
        "CREATE",
        false,
    );
    let (status, body) = post(&hook.cert_client, app, None, &ok_review).await;
    assert_eq!(
        (status, &body["response"]["allowed"]),
        (200, &json!(true)),
        "{body}"
    );
    let by_cert = admit_decisions(app, CERT_NAME).await;
    assert_eq!(by_cert.len(), 1, "{by_cert:?}");
    assert_eq!(by_cert[0]["actor"]["type"], "kubernetes_api_server");
}

#[tokio::test]
async fn webhook_on_sqlite() {
    scenario(Db::sqlite()).await;
}

#[tokio::test]
async fn webhook_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    scenario(Db::Postgres(db)).await;
}

#[tokio::test]
async fn callers_without_the_token_or_a_named_certificate_are_refused() {
    let hook = spawn(Db::sqlite()).await;
    let app = &hook.app;
    let body = review(
        "uid-auth",
        "team-a-dev",
        POD,
        pod(&["nginx:1"], &[]),
        "CREATE",
        false,
    );
    for (client, bearer) in [
        (&app.http, None),
        (&app.http, Some("not-the-webhook-token")),
        // A user's JWT is not the webhook's credential.
        (&app.http, Some(operator().as_str())),
        // A certificate from the trusted CA, but not a name in `client_cert_names`.
        (&hook.other_cert_client, None),
        // A wrong token is not rescued by a good certificate.
        (&hook.cert_client, Some("not-the-webhook-token")),
    ] {
        let (status, problem) = post(client, app, bearer, &body).await;
        assert_eq!(status, 401, "{bearer:?}: {problem}");
        assert_eq!(
            problem["type"], "urn:gatehouse:problem:unauthenticated",
            "{problem}"
        );
        assert!(problem["request_id"].is_string(), "{problem}");
    }
    // No decision was taken for any of them.
    assert!(admit_decisions(app, "kube-apiserver").await.is_empty());
}

#[tokio::test]
async fn malformed_reviews_are_problem_json() {
    let hook = spawn(Db::sqlite()).await;
    let app = &hook.app;
    let response = app
        .http
        .post(format!("{}/k8s/admission", app.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"apiVersion\": ")
        .send()
        .await
        .unwrap();
    let (status, problem) = read(response).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["type"], "urn:gatehouse:problem:malformed-request");

    let mut old = review(
        "uid-v1beta1",
        "team-a-dev",
        POD,
        pod(&["nginx:1"], &[]),
        "CREATE",
        false,
    );
    old["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let (status, problem) = post(&app.http, app, Some(TOKEN), &old).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("`apiVersion`"),
        "{problem}"
    );

    let mut no_uid = review("", "team-a-dev", POD, pod(&["nginx:1"], &[]), "CREATE", false);
    no_uid["request"]["uid"] = json!("");
    let (status, problem) = post(&app.http, app, Some(TOKEN), &no_uid).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("`request.uid`"),
        "{problem}"
    );
}

#[test]
fn kubernetes_config_names_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(
        &file,
        "[[kubernetes.namespaces]]\nnamespace = \"team-a-prod\"\nproject = \"team-a\"\nchannel = \"qa\"\n",
    )
    .unwrap();
    let error = gatehouse::Config::load_with_env(Some(&file), &[])
        .unwrap_err()
        .to_string();
    assert!(error.contains("`kubernetes.namespaces[0].channel`"), "{error}");
}

#[tokio::test]
async fn a_short_token_file_stops_start_up_naming_the_key() {
    let db = Db::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("short.token");
    std::fs::write(&file, "short").unwrap();
    let mut config = test_config(&db);
    config.kubernetes.token_file = Some(file);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = match gatehouse::Application::build_on(config, listener).await {
        Ok(_) => panic!("started with a short webhook token"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("`kubernetes.token_file`"), "{error}");
    assert!(!error.contains("short\""), "{error}");
}
