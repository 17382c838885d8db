//! The platform catalog through the HTTP API, on SQLite and PostgreSQL: every family served,
//! contributed entries pending until a platform admin approves them, and unknown or disabled
//! entries failing closed on registration, promotion and the audit trail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "catalog/open_types.rs"]
mod open_types;

use common::{Db, TestApp, auditor_token, digest, sign_es256, token, user_claims};
use gatehouse::catalog::{EntrySchemas, Family, SEED_YAML, Seed};
use serde_json::{Value, json};

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

fn with_platform_roles(sub: &str, roles: &[&str]) -> String {
    let mut claims = user_claims(sub, json!({}));
    claims["platform_roles"] = json!(roles);
    sign_es256(&claims)
}

fn platform_admin() -> String {
    with_platform_roles("ada", &["platform_admin"])
}

/// A product's catalog contributor (the gpuaas team's service).
fn contributor() -> String {
    with_platform_roles("gpuaas-bot", &["catalog_contributor"])
}

fn blob(artifact_type: &str, source_type: &str, seed: &str) -> Value {
    // Each source type has its own URI grammar.
    let source = match source_type {
        "s3" => json!({ "source_type": "s3", "uri": format!("s3://ckpt-bucket/{seed}") }),
        "huggingface" => {
            json!({ "source_type": "huggingface", "uri": format!("hf://acme/{seed}"), "source_ref": "main" })
        }
        other => json!({ "source_type": other, "uri": format!("store://ckpt/{seed}") }),
    };
    json!({
        "app": "trainer", "artifact_kind": "blob", "artifact_type": artifact_type,
        "digest": digest(seed),
        "source": source,
    })
}

async fn register(app: &TestApp, body: Value) -> (u16, Value) {
    app.post("/v1/projects/team-a/artifacts", &operator(), body).await
}

fn assert_unusable(status: u16, body: &Value, family: &str, id: &str, detail: &str) {
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["type"], "urn:gatehouse:problem:catalog-entry-unusable",
        "{body}"
    );
    assert_eq!(body["detail"], detail, "{body}");
    assert_eq!(
        (body["catalog_family"].as_str(), body["catalog_id"].as_str()),
        (Some(family), Some(id))
    );
}

async fn promote(app: &TestApp, id: &str, channel: &str) -> (u16, Value) {
    app.post(
        &format!("/v1/artifacts/{id}/promote"),
        &operator(),
        json!({ "channel": channel }),
    )
    .await
}

async fn entry(app: &TestApp, family: &str, id: &str) -> Option<Value> {
    let (status, list) = app.get(&format!("/v1/catalog/{family}"), &operator()).await;
    assert_eq!(status, 200, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
}

async fn audit_actions(app: &TestApp, action: &str) -> Vec<Value> {
    let (status, audit) = app
        .get(&format!("/v1/audit?action={action}"), &auditor_token())
        .await;
    assert_eq!(status, 200, "{audit}");
    audit["items"].as_array().unwrap().clone()
}

/// Every family is served with its entries; a product's contributed entry is pending until a
/// platform admin approves it, and only then usable.
async fn families_and_contributions(app: TestApp) {
    for family in Family::ALL {
        let (status, list) = app.get(&format!("/v1/catalog/{family}"), &operator()).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["family"], family.as_str());
        let items = list["items"].as_array().unwrap();
        assert!(!items.is_empty(), "`{family}` is served empty");
        for item in items {
            for key in ["id", "description", "owner_product", "status", "created_at"] {
                assert!(item[key].is_string(), "{family} entry lacks `{key}`: {item}");
            }
            assert!(
                item["enabled"].is_boolean() && item["fields"].is_object(),
                "{item}"
            );
            assert_eq!(item["usable"], true, "seeded entries are usable: {item}");
        }
    }
    let checkpoint = entry(&app, "artifact_types", "blob.checkpoint").await.unwrap();
    assert_eq!(checkpoint["fields"]["kind"], "blob");
    assert_eq!(checkpoint["fields"]["promotable"], false);
    assert_eq!(
        entry(&app, "evidence_types", "signature").await.unwrap()["fields"]["retention_class"],
        "long"
    );

    // Unknown family → 404.
    let (status, body) = app.get("/v1/catalog/colours", &operator()).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("`colours`"), "{body}");
    let (status, _) = app.post("/v1/catalog/colours", &contributor(), json!({})).await;
    assert_eq!(status, 404);

    // A product contributes a channel: stored pending, served, not usable.
    let canary = json!({
        "id": "canary", "description": "A small slice of production traffic.",
        "owner_product": "gpuaas", "fields": { "rank": 5 },
    });
    let (status, created) = app
        .post("/v1/catalog/channels", &contributor(), canary.clone())
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["status"].as_str(), created["usable"].as_bool()),
        (Some("pending"), Some(false))
    );
    let served = entry(&app, "channels", "canary").await.unwrap();
    assert_eq!(
        (served["status"].as_str(), served["usable"].as_bool()),
        (Some("pending"), Some(false))
    );

    // Pending: promoting to it fails closed, naming the entry.
    let (status, artifact) = register(&app, blob("blob.model_weights", "s3", "canary-weights")).await;
    assert_eq!(status, 201, "{artifact}");
    let id = artifact["id"].as_str().unwrap();
    let (status, verified) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
        .await;
    assert_eq!(
        (status, verified["trust_state"].as_str()),
        (200, Some("verified")),
        "{verified}"
    );
    let (status, body) = promote(&app, id, "dev").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = promote(&app, id, "canary").await;
    assert_unusable(
        status,
        &body,
        "channels",
        "canary",
        "channel `canary` is pending approval in the catalog",
    );

    // Only a platform admin approves: the contributor, a project admin and an auditor may not.
    for who in [
        contributor(),
        token("pia", json!({ "team-a": ["admin"] })),
        auditor_token(),
    ] {
        let (status, body) = app
            .post("/v1/catalog/channels/canary/approve", &who, json!({}))
            .await;
        assert_eq!((status, body["decision"].as_str()), (403, Some("deny")), "{body}");
    }
    // A project admin may not contribute either.
    let (status, _) = app
        .post(
            "/v1/catalog/usage_units",
            &token("pia", json!({ "team-a": ["admin"] })),
            json!({"id": "tpu_hour", "description": "d", "owner_product": "billing",
                   "fields": {"dimension": "tpu", "unit": "hour"}}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, approved) = app
        .post(
            "/v1/catalog/channels/canary/approve",
            &platform_admin(),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(
        (approved["status"].as_str(), approved["usable"].as_bool()),
        (Some("active"), Some(true))
    );
    let (status, body) = promote(&app, id, "canary").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["channels"].as_array().unwrap().contains(&json!("canary")),
        "{body}"
    );
    // Approving twice is a state conflict; approving in the wrong family is unknown.
    let (status, body) = app
        .post(
            "/v1/catalog/channels/canary/approve",
            &platform_admin(),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = app
        .post("/v1/catalog/scopes/canary/approve", &platform_admin(), json!({}))
        .await;
    assert_eq!(status, 404);

    // An id is never reused: not in the same family, not in another, not a seeded one.
    for (family, reused) in [
        ("channels", "canary"),
        ("products", "canary"),
        ("usage_units", "gpu_hour"),
    ] {
        let mut body = json!({"id": reused, "description": "again", "owner_product": "gpuaas",
                              "fields": {"rank": 9}});
        if family == "products" {
            body["fields"] = json!({"owner_domain": "platform-x"});
        } else if family == "usage_units" {
            body["fields"] = json!({"dimension": "gpu", "unit": "hour"});
        }
        let (status, body) = app
            .post(&format!("/v1/catalog/{family}"), &contributor(), body)
            .await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("`{reused}` is already taken")),
            "{body}"
        );
    }

    // Invalid family fields → 422 naming the JSON pointer; nothing stored.
    let bad = json!({
        "id": "blob.dataset", "description": "A training dataset.", "owner_product": "gpuaas",
        "fields": { "kind": "zip", "trust_inputs": [], "promotable": false },
    });
    let (status, body) = app.post("/v1/catalog/artifact_types", &contributor(), bad).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "/fields/kind", "{body}");
    let (status, body) = app
        .post(
            "/v1/catalog/channels",
            &contributor(),
            json!({"id": "beta", "description": "d", "owner_product": "gpuaas", "fields": {}}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("/fields")), "{body}");
    let (status, body) = app
        .post(
            "/v1/catalog/channels",
            &contributor(),
            json!({"id": "beta", "description": "d", "owner_product": "gpuaas",
                   "fields": {"rank": 1}, "status": "active"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("/status")), "{body}");
    assert!(entry(&app, "artifact_types", "blob.dataset").await.is_none());
    assert!(entry(&app, "channels", "beta").await.is_none());

    // Every change is in the audit trail, with the actor, the entry and the deciding policy.
    let contributed = audit_actions(&app, "catalog.contribute").await;
    assert_eq!(contributed.len(), 1, "{contributed:?}");
    assert_eq!(contributed[0]["actor"]["id"], "gpuaas-bot");
    assert_eq!(
        contributed[0]["transition"]["reason"],
        "catalog entry `channels/canary`"
    );
    assert_eq!(
        contributed[0]["decision"]["policy_ids"],
        json!(["catalog-contribute"])
    );
    let approvals = audit_actions(&app, "catalog.approve").await;
    assert_eq!(approvals.len(), 1);
    assert_eq!(
        (
            approvals[0]["transition"]["from"].as_str(),
            approvals[0]["transition"]["to"].as_str()
        ),
        (Some("pending"), Some("active"))
    );
    app.shutdown().await;
}

/// Disabling the artifact type `blob.checkpoint` makes registering a checkpoint fail closed with
/// a reason naming the entry; re-enabling restores it. Disabled source types and channels too.
async fn disabled_entries_fail_closed(app: TestApp) {
    let (status, body) = register(&app, blob("blob.checkpoint", "s3", "ckpt-1")).await;
    assert_eq!(status, 201, "{body}");

    // Only a platform admin disables.
    let (status, body) = app
        .post(
            "/v1/catalog/artifact_types/blob.checkpoint/disable",
            &contributor(),
            json!({}),
        )
        .await;
    assert_eq!((status, body["decision"].as_str()), (403, Some("deny")), "{body}");
    let (status, disabled) = app
        .post(
            "/v1/catalog/artifact_types/blob.checkpoint/disable",
            &platform_admin(),
            json!({ "reason": "checkpoints move to the new store" }),
        )
        .await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(
        (disabled["enabled"].as_bool(), disabled["usable"].as_bool()),
        (Some(false), Some(false))
    );

    let (status, body) = register(&app, blob("blob.checkpoint", "s3", "ckpt-2")).await;
    assert_unusable(
        status,
        &body,
        "artifact_types",
        "blob.checkpoint",
        "artifact type `blob.checkpoint` is disabled in the catalog",
    );
    // Nothing was stored for the refused registration.
    let (_, listed) = app
        .get(
            &format!("/v1/projects/team-a/artifacts?digest={}", digest("ckpt-2")),
            &operator(),
        )
        .await;
    assert_eq!(listed["items"], json!([]), "{listed}");

    // An admin's decision survives a restart: the seed never re-enables an entry.
    let db = app.shutdown().await;
    let app = TestApp::spawn(db).await;
    let (status, _) = register(&app, blob("blob.checkpoint", "s3", "ckpt-2")).await;
    assert_eq!(status, 409);

    let (status, enabled) = app
        .post(
            "/v1/catalog/artifact_types/blob.checkpoint/enable",
            &platform_admin(),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, enabled["usable"].as_bool()),
        (200, Some(true)),
        "{enabled}"
    );
    let (status, body) = register(&app, blob("blob.checkpoint", "s3", "ckpt-2")).await;
    assert_eq!(status, 201, "{body}");

    // A disabled source type is refused the same way.
    let (status, _) = app
        .post(
            "/v1/catalog/source_types/huggingface/disable",
            &platform_admin(),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = register(&app, blob("blob.model_weights", "huggingface", "hf-1")).await;
    assert_unusable(
        status,
        &body,
        "source_types",
        "huggingface",
        "source type `huggingface` is disabled in the catalog",
    );

    // A disabled channel refuses promotion; the catalog's `promotable: false` refuses it too.
    let (status, artifact) = register(&app, blob("blob.model_weights", "s3", "weights-1")).await;
    assert_eq!(status, 201, "{artifact}");
    let id = artifact["id"].as_str().unwrap();
    let (status, _) = app
        .post("/v1/catalog/channels/dev/disable", &platform_admin(), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/promote"),
            &operator(),
            json!({ "channel": "dev" }),
        )
        .await;
    assert_unusable(
        status,
        &body,
        "channels",
        "dev",
        "channel `dev` is disabled in the catalog",
    );
    let (status, _) = app
        .post("/v1/catalog/channels/dev/enable", &platform_admin(), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/promote"),
            &operator(),
            json!({ "channel": "dev" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let checkpoint = register(&app, blob("blob.checkpoint", "s3", "ckpt-3")).await.1;
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{}/promote", checkpoint["id"].as_str().unwrap()),
            &operator(),
            json!({ "channel": "dev" }),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["detail"],
        "artifact type `blob.checkpoint` is not promotable in the catalog"
    );

    // Disabling and enabling are audited with the admin and the reason.
    let disables = audit_actions(&app, "catalog.disable").await;
    assert_eq!(disables.len(), 3, "{disables:?}");
    assert_eq!(disables[0]["actor"]["id"], "ada");
    assert_eq!(
        disables[0]["transition"]["reason"],
        "catalog entry `artifact_types/blob.checkpoint`: checkpoints move to the new store"
    );
    assert_eq!(audit_actions(&app, "catalog.enable").await.len(), 2);
    app.shutdown().await;
}

/// A deployment that configures a `canary` channel, which the catalog does not know yet.
async fn with_canary(db: Db) -> TestApp {
    let mut config = common::test_config(&db);
    config.channels = ["dev", "canary", "test", "staging", "prod"]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    TestApp::spawn_with(db, config).await
}

#[tokio::test]
async fn families_and_contributions_on_sqlite() {
    families_and_contributions(with_canary(Db::sqlite()).await).await;
}

#[tokio::test]
async fn families_and_contributions_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    families_and_contributions(with_canary(Db::Postgres(db)).await).await;
}

#[tokio::test]
async fn disabled_entries_fail_closed_on_sqlite() {
    disabled_entries_fail_closed(TestApp::spawn(Db::sqlite()).await).await;
}

#[tokio::test]
async fn disabled_entries_fail_closed_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    disabled_entries_fail_closed(TestApp::spawn(Db::Postgres(db)).await).await;
}

/// The seed that ships validates, so CI catches a bad edit of `schemas/catalog.yaml`.
#[test]
fn the_shipped_seed_validates() {
    let schemas = EntrySchemas::embedded().unwrap();
    let on_disk = std::fs::read_to_string(common::repo_path("schemas/catalog.yaml")).unwrap();
    assert_eq!(on_disk, SEED_YAML);
    let seed = Seed::parse(&on_disk, &schemas).unwrap();
    assert!(seed.entries.len() > 50);
    let broken = on_disk.replace("fields: { rank: 0 }", "fields: { rank: first }");
    let err = Seed::parse(&broken, &schemas).unwrap_err().to_string();
    assert!(
        err.contains("`channels` entry 0") && err.contains("/fields/rank"),
        "{err}"
    );
}

/// Every audit action id the code writes is seeded: the audit path refuses any other, so a
/// missing one would make an existing flow fail.
#[test]
fn every_audit_action_in_the_code_is_seeded() {
    let schemas = EntrySchemas::embedded().unwrap();
    let seed = Seed::embedded(&schemas).unwrap();
    let seeded: Vec<&str> = seed
        .entries
        .iter()
        .filter(|(f, _)| *f == Family::AuditActions)
        .map(|(_, s)| s.id.as_str())
        .collect();
    let mut found = Vec::new();
    let mut dirs = vec![common::repo_path("src/admission")];
    while let Some(dir) = dirs.pop() {
        for file in std::fs::read_dir(dir).unwrap() {
            let path = file.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for literal in text.split('"').skip(1).step_by(2) {
                let prefixes = [
                    "app_artifact.",
                    "policy.",
                    "catalog.",
                    "app.",
                    "app_version.",
                    "entitlement.",
                ];
                let is_action = prefixes.iter().any(|p| literal.starts_with(p))
                    && literal
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.');
                if is_action {
                    found.push(literal.to_owned());
                }
            }
        }
    }
    assert!(
        found.iter().any(|a| a == "app_artifact.register"),
        "scan found nothing: {found:?}"
    );
    for action in &found {
        assert!(
            seeded.contains(&action.as_str()),
            "audit action `{action}` is not seeded"
        );
    }
}

/// Seeding refuses a seed that would change what a published id means, and writes nothing;
/// a compatible edit updates descriptions and retires ids, keeping admins' enabled flags.
async fn seeding_on(url: &str) {
    let store = gatehouse::store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let schemas = EntrySchemas::embedded().unwrap();
    gatehouse::store::seed_catalog(&*store, &Seed::embedded(&schemas).unwrap())
        .await
        .unwrap();
    let before = store.catalog_entries().await.unwrap();
    let changed = SEED_YAML.replace(
        "fields: { kind: blob, trust_inputs: [attestation, blob_bundle], promotable: false }",
        "fields: { kind: oci, trust_inputs: [signature], promotable: false }",
    ) + "  - id: brand_new\n    description: d\n    owner_product: gatehouse\n    fields: { rank: 9 }\n";
    let err = gatehouse::store::seed_catalog(&*store, &Seed::parse(&changed, &schemas).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("artifact type `blob.checkpoint` has `kind` \"blob\""),
        "{err}"
    );
    assert_eq!(store.catalog_entries().await.unwrap(), before);

    let edited = SEED_YAML
        .replace("description: One GPU allocated for one hour.", "description: One GPU for one hour.")
        .replace(
            "  - id: registry_egress_gib\n    description: One GiB pulled from the artifact registry.\n    owner_product: billing\n    enabled: true\n",
            "  - id: registry_egress_gib\n    description: One GiB pulled from the artifact registry.\n    owner_product: billing\n    enabled: true\n    status: retired\n",
        )
        + "  - id: brand_new\n    description: d\n    owner_product: gatehouse\n    fields: { rank: 9 }\n";
    let plan = gatehouse::store::seed_catalog(&*store, &Seed::parse(&edited, &schemas).unwrap())
        .await
        .unwrap();
    assert_eq!((plan.inserts.len(), plan.updates.len()), (1, 2), "{plan:?}");
    let after = store.catalog_entries().await.unwrap();
    let find = |id: &str| after.iter().find(|e| e.id == id).unwrap().clone();
    assert_eq!(find("gpu_hour").description, "One GPU for one hour.");
    assert!(!find("registry_egress_gib").usable());
    assert!(find("brand_new").usable());
    // Retired for good: the next seed that forgets the tombstone is refused.
    let err = gatehouse::store::seed_catalog(&*store, &Seed::embedded(&schemas).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("`registry_egress_gib` is retired"), "{err}");
}

#[tokio::test]
async fn seeding_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    seeding_on(&format!("sqlite://{}", dir.path().join("c.db").display())).await;
}

#[tokio::test]
async fn seeding_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    seeding_on(&db.url).await;
}

/// `gatehouse migrate` seeds the catalog (and running it again changes nothing).
#[tokio::test]
async fn migrate_seeds_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    for _ in 0..2 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("migrate")
            .env("GATEHOUSE_DATABASE_URL", &url)
            .current_dir(common::repo_path(""))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let store = gatehouse::store::connect(&url).await.unwrap();
    let entries = store.catalog_entries().await.unwrap();
    let seed = Seed::embedded(&EntrySchemas::embedded().unwrap()).unwrap();
    assert_eq!(entries.len(), seed.entries.len());
    assert!(entries.iter().all(|e| e.usable() && e.created_by == "seed"));
}

/// The OpenAPI document names every catalog route.
#[tokio::test]
async fn openapi_documents_the_catalog_routes() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let response = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    let (status, doc) = common::read(response).await;
    assert_eq!(status, 200);
    for path in [
        "/v1/catalog/{family}",
        "/v1/catalog/{family}/{id}/approve",
        "/v1/catalog/{family}/{id}/enable",
        "/v1/catalog/{family}/{id}/disable",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    assert!(doc["paths"]["/v1/catalog/{family}"]["post"].is_object());
    app.shutdown().await;
}

/// A publish intent for a disabled artifact type is refused the same way.
#[tokio::test]
async fn publish_intents_check_the_artifact_type() {
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.registry.token_key_file = Some(common::repo_path("fixtures/registry/token.key"));
    config.registry.token_cert_file = Some(common::repo_path("fixtures/registry/token.crt"));
    let app = TestApp::spawn_with(db, config).await;
    let (status, _) = app
        .post(
            "/v1/catalog/artifact_types/oci.helm_chart/disable",
            &platform_admin(),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let intent = |artifact_type: &str| json!({ "app": "web", "artifact_kind": "oci", "artifact_type": artifact_type, "tag": "v1" });
    let path = "/v1/projects/team-a/publish-intents";
    let (status, body) = app.post(path, &operator(), intent("oci.helm_chart")).await;
    assert_unusable(
        status,
        &body,
        "artifact_types",
        "oci.helm_chart",
        "artifact type `oci.helm_chart` is disabled in the catalog",
    );
    let (status, body) = app.post(path, &operator(), intent("oci.image")).await;
    assert_eq!(status, 201, "{body}");
    app.shutdown().await;
}
