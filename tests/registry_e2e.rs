//! The publish and pull paths end to end, as a CI job runs them: a real registry (CNCF
//! distribution) with token auth pointed at the gateway and notifications pointed at its webhook,
//! driven by skopeo.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::registry::{Auth, skopeo_pull, skopeo_push, write_oci_image};
use common::stack::{
    Stack, WEBHOOK_SECRET, artifact_by_digest, creds, eventually, operator, publish_intent, stack_with,
};
use common::{Db, TestApp, digest, read, token};
use serde_json::{Value, json};

async fn stack_on(db: Db, apply_notifications: bool) -> Stack {
    stack_with(db, |config| {
        config.registry.apply_notifications = apply_notifications
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_push_register_verify_promote_pull_on_sqlite() {
    if common::registry::tools_available() {
        publish_push_register_verify_promote_pull(Db::sqlite()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_push_register_verify_promote_pull_on_postgres() {
    if !common::registry::tools_available() {
        return;
    }
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    publish_push_register_verify_promote_pull(Db::Postgres(db)).await;
}

async fn publish_push_register_verify_promote_pull(db: Db) {
    let Stack { app, registry, .. } = stack_on(db, true).await;
    let intent = publish_intent(
        &app,
        "team-a",
        json!({ "app": "trainer", "artifact_kind": "oci", "tag": "v1" }),
    )
    .await;
    let repository = intent["repository"].as_str().unwrap().to_owned();
    assert_eq!(repository, "gpuaas/apps/team-a/trainer");
    assert_eq!(intent["registry"], registry.host);
    assert_eq!(intent["digest_required"], true);
    let (user, pass) = creds(&intent);

    // skopeo pushes with the intent credential; the registry asks the gateway's token endpoint.
    let image = write_oci_image("trainer v1", "v1");
    let pushed = skopeo_push(&image, &registry.host, &repository, &Auth::Creds(&user, &pass))
        .await
        .unwrap_or_else(|e| panic!("push refused: {e}\n{}", registry.logs()));
    assert_eq!(pushed, image.manifest_digest);

    // The registry's notification registers the artifact, decided as the intent's actor.
    let artifact = eventually("the notification to register the push", async || {
        artifact_by_digest(&app, "team-a", &pushed).await
    })
    .await;
    assert_eq!(artifact["created_by"]["id"], "olivia");
    assert_eq!(
        artifact["media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(artifact["trust_state"], "unverified");
    let id = artifact["id"].as_str().unwrap().to_owned();

    // An explicit registration through the same intent is idempotent with it.
    let body = json!({
        "app": "trainer", "artifact_kind": "oci", "digest": pushed,
        "source": { "source_type": "oci_registry", "uri": format!("{}/{repository}", registry.host) },
        "publish_intent_id": intent["id"],
    });
    let (status, again) = app
        .post("/v1/projects/team-a/artifacts", &operator("team-a"), body)
        .await;
    assert_eq!(
        (status, again["id"].as_str()),
        (200, Some(id.as_str())),
        "{again}"
    );

    // Explain follows intent → token → push event → registration.
    let (_, explained) = app
        .get(&format!("/v1/artifacts/{id}/explain"), &operator("team-a"))
        .await;
    let trail = &explained["registry_trail"];
    assert_eq!(trail["publish_intent"]["id"], intent["id"]);
    assert!(
        trail["tokens"].as_array().unwrap().len() >= 2,
        "ready token and skopeo's exchange: {trail}"
    );
    assert_eq!(trail["event"]["digest"], pushed);
    assert_eq!(trail["registry_presence"], "present");
    let register = explained["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["action"] == "register")
        .unwrap();
    assert_eq!(
        register["request"]["context"]["via_registry_notification"], true,
        "{register}"
    );

    // The intent is used up: its credential may still push (signatures need it) until it
    // expires, but a second image is an unregistered push that completes nothing.
    let other = write_oci_image("trainer v2", "v2");
    let second = skopeo_push(&other, &registry.host, &repository, &Auth::Creds(&user, &pass))
        .await
        .unwrap_or_else(|e| panic!("the registry cannot restrict tags: {e}"));
    eventually("the second push to be recorded as unregistered", async || {
        let (_, page) = app
            .get("/v1/projects/team-a/unregistered-pushes", &operator("team-a"))
            .await;
        page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|p| p["digest"] == second).cloned())
    })
    .await;
    assert!(
        artifact_by_digest(&app, "team-a", &second).await.is_none(),
        "a second push through a completed intent became an artifact"
    );

    let (status, _) = app
        .post(
            &format!("/v1/artifacts/{id}/verify"),
            &operator("team-a"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post(
            &format!("/v1/artifacts/{id}/promote"),
            &operator("team-a"),
            json!({"channel": "dev"}),
        )
        .await;
    assert_eq!(status, 200);

    // Pull by digest with a pull intent's credential; that credential cannot push.
    let (status, pull) = app
        .post(
            "/v1/projects/team-a/pull-intents",
            &operator("team-a"),
            json!({ "digest": pushed, "channel": "dev" }),
        )
        .await;
    assert_eq!(status, 201, "{pull}");
    assert_eq!(
        pull["reference"],
        format!("{}/{repository}@{pushed}", registry.host)
    );
    let (puser, ppass) = creds(&pull);
    let dir = skopeo_pull(&registry.host, &repository, &pushed, &Auth::Creds(&puser, &ppass))
        .await
        .unwrap_or_else(|e| panic!("pull refused: {e}"));
    assert!(common::registry::layout_has_blob(&dir, &pushed));
    let err = skopeo_push(&other, &registry.host, &repository, &Auth::Creds(&puser, &ppass))
        .await
        .unwrap_err();
    assert!(
        err.contains("denied") || err.contains("unauthorized") || err.contains("401") || err.contains("403"),
        "{err}"
    );

    // The ready bearer token of the pull intent works for pulling too.
    let ready = pull["credential"]["token"].as_str().unwrap();
    assert!(
        skopeo_pull(&registry.host, &repository, &pushed, &Auth::Token(ready))
            .await
            .is_ok()
    );

    // A prod runtime may not pull what never reached prod.
    let (status, problem) = app
        .post(
            "/v1/projects/team-a/pull-intents",
            &operator("team-a"),
            json!({ "digest": pushed, "channel": "prod" }),
        )
        .await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["policy_ids"], json!(["pull-needs-channel-reached"]));

    // Revoked: no new pull intent, and the credential already handed out now gets an empty grant.
    let admin = token("ada", json!({ "team-a": ["admin"] }));
    let (status, _) = app
        .post(
            &format!("/v1/artifacts/{id}/revoke"),
            &admin,
            json!({ "reason": "leaked key" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = app
        .post(
            "/v1/projects/team-a/pull-intents",
            &operator("team-a"),
            json!({ "artifact_id": id }),
        )
        .await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        skopeo_pull(&registry.host, &repository, &pushed, &Auth::Creds(&puser, &ppass))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_checks_the_registry_and_the_intent() {
    if !common::registry::tools_available() {
        return;
    }
    let Stack { app, registry, .. } = stack_on(Db::sqlite(), true).await;
    let source =
        json!({ "source_type": "oci_registry", "uri": format!("{}/gpuaas/apps/team-a/api", registry.host) });

    // A digest the registry does not have is refused and nothing is stored.
    let never_pushed = digest("never pushed");
    let body = json!({ "app": "api", "artifact_kind": "oci", "digest": never_pushed, "source": source });
    let (status, problem) = app
        .post("/v1/projects/team-a/artifacts", &operator("team-a"), body)
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("digest")),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("registry has no manifest"),
        "{problem}"
    );
    let (_, page) = app
        .get("/v1/projects/team-a/artifacts", &operator("team-a"))
        .await;
    assert_eq!(page["items"], json!([]));

    // A pushed digest is accepted, with the registry's media type and size recorded.
    let intent = publish_intent(
        &app,
        "team-a",
        json!({ "app": "api", "artifact_kind": "oci", "expected_digest": digest("something else") }),
    )
    .await;
    let grant = gatehouse::domain::AccessGrant {
        resource_type: "repository".to_owned(),
        name: "gpuaas/apps/team-a/api".to_owned(),
        actions: vec!["pull".to_owned(), "push".to_owned()],
    };
    let signed = common::registry::fixture_signer()
        .sign("ci", &[grant], Duration::from_secs(60))
        .unwrap();
    let image = write_oci_image("api v1", "v1");
    let pushed = skopeo_push(
        &image,
        &registry.host,
        "gpuaas/apps/team-a/api",
        &Auth::Token(&signed.token),
    )
    .await
    .unwrap();

    // Through an intent that expected another digest: refused, naming the digest.
    let body = json!({
        "app": "api", "artifact_kind": "oci", "digest": pushed, "source": source, "publish_intent_id": intent["id"],
    });
    let (status, problem) = app
        .post("/v1/projects/team-a/artifacts", &operator("team-a"), body)
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("digest")),
        "{problem}"
    );

    let body = json!({ "app": "api", "artifact_kind": "oci", "digest": pushed, "source": source });
    let (status, artifact) = app
        .post("/v1/projects/team-a/artifacts", &operator("team-a"), body)
        .await;
    assert!(status == 201 || status == 200, "{artifact}");
    assert_eq!(
        artifact["media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(artifact["source"]["size_bytes"], image.manifest_size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_enforces_the_intent_scope() {
    if !common::registry::tools_available() {
        return;
    }
    let Stack { app, registry, .. } = stack_on(Db::sqlite(), true).await;
    let intent = publish_intent(
        &app,
        "team-a",
        json!({ "app": "trainer", "artifact_kind": "oci" }),
    )
    .await;
    let (user, pass) = creds(&intent);
    let image = write_oci_image("scoped", "v1");

    // A project-A credential gets nothing for project B's repository: the registry refuses.
    let err = skopeo_push(
        &image,
        &registry.host,
        "gpuaas/apps/team-b/trainer",
        &Auth::Creds(&user, &pass),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("denied") || err.contains("unauthorized") || err.contains("401") || err.contains("403"),
        "{err}"
    );

    // A wrong password is refused at the token endpoint.
    assert!(
        skopeo_push(
            &image,
            &registry.host,
            "gpuaas/apps/team-a/trainer",
            &Auth::Creds(&user, "wrong")
        )
        .await
        .is_err()
    );

    // An expired intent's credential gets no push scope.
    let short = publish_intent(
        &app,
        "team-a",
        json!({ "app": "short", "artifact_kind": "oci", "ttl_seconds": 1 }),
    )
    .await;
    let (suser, spass) = creds(&short);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let url = format!(
        "{}/v1/registry/token?service={}&scope=repository:gpuaas/apps/team-a/short:push,pull",
        app.base,
        common::registry::SERVICE
    );
    let (status, body) = read(
        app.http
            .get(&url)
            .basic_auth(&suser, Some(&spass))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(body["token"].as_str().unwrap());
    assert_eq!(claims["access"], json!([]), "{claims}");
    assert!(
        skopeo_push(
            &image,
            &registry.host,
            "gpuaas/apps/team-a/short",
            &Auth::Creds(&suser, &spass)
        )
        .await
        .is_err()
    );

    // A live intent asked for more than it allows gets exactly the intersection.
    let url = format!(
        "{}/v1/registry/token?service={}&scope=repository:gpuaas/apps/team-a/trainer:push,pull,delete&scope=repository:gpuaas/apps/team-b/x:pull",
        app.base,
        common::registry::SERVICE
    );
    let (status, body) = read(
        app.http
            .get(&url)
            .basic_auth(&user, Some(&pass))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut access = jwt_claims(body["token"].as_str().unwrap())["access"].clone();
    access[0]["actions"]
        .as_array_mut()
        .unwrap()
        .sort_by_key(|a| a.as_str().unwrap().to_owned());
    assert_eq!(
        access,
        json!([{ "type": "repository", "name": "gpuaas/apps/team-a/trainer", "actions": ["pull", "push"] }])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_without_an_intent_is_recorded_not_registered() {
    if !common::registry::tools_available() {
        return;
    }
    let Stack { app, registry, .. } = stack_on(Db::sqlite(), true).await;
    // A push the gateway never authorised through an intent (a token signed out of band).
    let grant = gatehouse::domain::AccessGrant {
        resource_type: "repository".to_owned(),
        name: "gpuaas/apps/team-a/rogue".to_owned(),
        actions: vec!["pull".to_owned(), "push".to_owned()],
    };
    let signed = common::registry::fixture_signer()
        .sign("someone", &[grant], Duration::from_secs(60))
        .unwrap();
    let image = write_oci_image("rogue", "v1");
    let pushed = skopeo_push(
        &image,
        &registry.host,
        "gpuaas/apps/team-a/rogue",
        &Auth::Token(&signed.token),
    )
    .await
    .unwrap();

    let push = eventually("the unregistered push", async || {
        let (_, page) = app
            .get("/v1/projects/team-a/unregistered-pushes", &operator("team-a"))
            .await;
        page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|p| p["digest"] == pushed).cloned())
    })
    .await;
    assert_eq!(push["repository"], "gpuaas/apps/team-a/rogue");
    assert_eq!(push["actor_name"], "someone");
    assert!(
        artifact_by_digest(&app, "team-a", &pushed).await.is_none(),
        "an unintended push became an artifact"
    );
}

fn envelope(id: &str, repository: &str, digest: &str) -> Value {
    json!({ "events": [{
        "id": id,
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "size": 400, "digest": digest, "length": 400,
            "repository": repository, "tag": "v1",
        },
        "request": { "id": "r1", "method": "PUT", "useragent": "test" },
        "actor": { "name": "someone-else" },
        "source": { "addr": "registry:5000" },
    }]})
}

async fn post_webhook(app: &TestApp, secret: &str, body: &Value) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/v1/webhooks/registry", app.base))
        .bearer_auth(secret)
        .header(
            "content-type",
            "application/vnd.docker.distribution.events.v1+json",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    read(response).await
}

async fn count(db_url: &str, sql: &'static str) -> i64 {
    let pool = sqlx::SqlitePool::connect(db_url).await.unwrap();
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_secret_envelope_redelivery_and_restart() {
    if !common::registry::tools_available() {
        return;
    }
    // An ingest-only gateway: it acknowledges notifications but does not apply them.
    let Stack {
        app,
        registry,
        secret_dir: _secret_dir,
    } = stack_on(Db::sqlite(), false).await;
    let intent = publish_intent(&app, "team-a", json!({ "app": "worker", "artifact_kind": "oci" })).await;
    let pushed = digest("notified image");
    let body = envelope("evt-1", "gpuaas/apps/team-a/worker", &pushed);

    let (status, problem) = post_webhook(&app, "not-the-secret", &body).await;
    assert_eq!(
        (status, problem["status"].as_u64()),
        (401, Some(401)),
        "{problem}"
    );
    assert_eq!(
        count(&app.db.url(), "select count(*) from registry_events").await,
        0
    );
    let (status, problem) = post_webhook(&app, WEBHOOK_SECRET, &json!({ "events": "nope" })).await;
    assert_eq!(status, 400, "{problem}");
    let response = app
        .http
        .post(format!("{}/v1/webhooks/registry", app.base))
        .bearer_auth(WEBHOOK_SECRET)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let (status, first) = post_webhook(&app, WEBHOOK_SECRET, &body).await;
    assert_eq!((status, first["accepted"].as_u64()), (202, Some(1)), "{first}");
    let (status, second) = post_webhook(&app, WEBHOOK_SECRET, &body).await;
    assert_eq!(
        (status, second["duplicates"].as_u64()),
        (202, Some(1)),
        "{second}"
    );
    assert_eq!(
        count(&app.db.url(), "select count(*) from registry_events").await,
        1
    );
    assert!(
        artifact_by_digest(&app, "team-a", &pushed).await.is_none(),
        "the ingest-only gateway applied it"
    );

    // The gateway stops after acknowledging; a new one on the same database applies the event.
    let db = app.shutdown().await;
    drop(registry);
    // The new gateway's registry must stay up: the worker reads a pushed OCI manifest to see
    // whether it is a referrer, and an unreachable registry is a retry, not a verdict.
    let Stack {
        app,
        registry: _registry,
        ..
    } = stack_on(db, true).await;
    let artifact = eventually("the queued event to be applied after restart", async || {
        artifact_by_digest(&app, "team-a", &pushed).await
    })
    .await;
    assert_eq!(artifact["created_by"]["id"], "olivia");
    let (_, explained) = app
        .get(
            &format!("/v1/artifacts/{}/explain", artifact["id"].as_str().unwrap()),
            &operator("team-a"),
        )
        .await;
    assert_eq!(explained["registry_trail"]["publish_intent"]["id"], intent["id"]);
    assert_eq!(explained["registry_trail"]["event"]["id"], "evt-1");

    // A signature manifest (cosign tag scheme) is a trust input, never an artifact.
    let mut sig = envelope("evt-sig", "gpuaas/apps/team-a/worker", &digest("signature"));
    sig["events"][0]["target"]["tag"] = json!(format!("sha256-{}.sig", &pushed["sha256:".len()..]));
    let (status, _) = post_webhook(&app, WEBHOOK_SECRET, &sig).await;
    assert_eq!(status, 202);

    // A delete marks the artifact's registry presence.
    let mut delete = envelope("evt-del", "gpuaas/apps/team-a/worker", &pushed);
    delete["events"][0]["action"] = json!("delete");
    let (status, _) = post_webhook(&app, WEBHOOK_SECRET, &delete).await;
    assert_eq!(status, 202);
    let artifact_id = artifact["id"].as_str().unwrap().to_owned();
    eventually("the delete to mark presence", async || {
        let (_, explained) = app
            .get(
                &format!("/v1/artifacts/{artifact_id}/explain"),
                &operator("team-a"),
            )
            .await;
        (explained["registry_trail"]["registry_presence"] == "deleted").then_some(())
    })
    .await;
    assert_eq!(
        count(&app.db.url(), "select count(*) from artifacts").await,
        1,
        "the signature became an artifact"
    );
    assert_eq!(
        count(&app.db.url(), "select count(*) from unregistered_pushes").await,
        0
    );

    // Redelivered after it was applied: nothing changes.
    let audits = count(&app.db.url(), "select count(*) from audit_records").await;
    let (status, again) = post_webhook(&app, WEBHOOK_SECRET, &body).await;
    assert_eq!((status, again["duplicates"].as_u64()), (202, Some(1)), "{again}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        count(&app.db.url(), "select count(*) from audit_records").await,
        audits
    );
    assert_eq!(count(&app.db.url(), "select count(*) from artifacts").await, 1);
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}
