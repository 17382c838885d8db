//! Policy authoring end to end: hot reload (applied, refused while the old set serves, denied to
//! non-platform callers), simulate over the decision log, and the `policy replay` CI gate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Db, TestApp, token};
use serde_json::{Value, json};

const FREEZE: &str =
    "@id(\"freeze-promotions\")\nforbid (principal, action == Gatehouse::Action::\"promote\", resource);\n";
const BROKEN: &str =
    "@id(\"broken\")\npermit (principal, action, resource)\nwhen { resource.no_such_attribute == 1 };\n";

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

fn platform_admin() -> String {
    let mut claims = common::user_claims("pat", json!({}));
    claims["platform_roles"] = json!(["platform_admin"]);
    common::sign_es256(&claims)
}

/// A copy of the repository's policy files that the test may edit.
fn policy_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// The repository's policy files as a simulate body's `files`.
fn policy_files(extra: Option<(&str, &str)>) -> Value {
    let mut files = serde_json::Map::new();
    for entry in std::fs::read_dir(common::repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(name, json!(std::fs::read_to_string(&path).unwrap()));
        }
    }
    if let Some((name, text)) = extra {
        files.insert(name.to_owned(), json!(text));
    }
    Value::Object(files)
}

async fn spawn(db: Db, policy_dir: &Path) -> TestApp {
    let mut config = common::test_config(&db);
    config.policy_dir = policy_dir.to_path_buf();
    TestApp::spawn_with(db, config).await
}

async fn register(app: &TestApp, seed: &str) -> String {
    app.register_oci("team-a", &operator(), seed).await
}

/// The verdict cache's (hits, misses) so far, from `/metrics`.
async fn decision_cache(app: &TestApp) -> (u64, u64) {
    let metrics = app.metrics().await;
    let count = |result: &str| {
        let series = format!("gatehouse_policy_decision_cache_total{{result=\"{result}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series.as_str()))
            .map_or(0, |n| n.parse().unwrap())
    };
    (count("hit"), count("miss"))
}

/// Reads `path` once, answering how the read's decision used the verdict cache.
async fn read_noting_cache(app: &TestApp, path: &str) -> &'static str {
    let before = decision_cache(app).await;
    let (status, body) = app.get(path, &operator()).await;
    assert_eq!(status, 200, "{body}");
    let after = decision_cache(app).await;
    match (after.0 - before.0, after.1 - before.1) {
        (1, 0) => "hit",
        (0, 1) => "miss",
        other => panic!("one read, cache counts moved by {other:?}"),
    }
}

async fn reload_flow(db: Db) {
    let dir = policy_copy();
    let app = spawn(db, dir.path()).await;
    let admin = platform_admin();
    // The same read twice: evaluated, then served from the serving set's verdict cache.
    let read = format!("/v1/artifacts/{}", register(&app, "cached-read").await);
    assert_eq!(read_noting_cache(&app, &read).await, "miss");
    assert_eq!(read_noting_cache(&app, &read).await, "hit");
    let (status, set) = app.get("/v1/policies", &admin).await;
    assert_eq!(status, 200, "{set}");
    let first = set["hash"].as_str().unwrap().to_owned();

    let (status, body) = app.post("/v1/policies/reload", &operator(), json!({})).await;
    assert_eq!(status, 403, "{body}");

    std::fs::write(dir.path().join("freeze.cedar"), FREEZE).unwrap();
    let (status, body) = app.post("/v1/policies/reload", &admin, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let second = body["hash"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(body["previous_hash"], first.as_str());
    assert!(body["files"].as_array().unwrap().contains(&json!("freeze.cedar")));
    assert!(
        body["policy_ids"]
            .as_array()
            .unwrap()
            .contains(&json!("freeze-promotions"))
    );
    let (_, set) = app.get("/v1/policies", &admin).await;
    assert_eq!(
        (set["hash"].as_str(), &set["last_reload_error"]),
        (Some(second.as_str()), &Value::Null)
    );
    let (status, audit) = app.get("/v1/audit?action=policy.reload", &admin).await;
    assert_eq!(status, 200, "{audit}");
    let record = &audit["items"][0];
    assert_eq!(record["transition"]["from"], first.as_str(), "{audit}");
    assert_eq!(record["transition"]["to"], second.as_str(), "{audit}");
    assert_eq!(record["actor"]["id"], "pat");

    // The reloaded set has a cache of its own: the identical read is evaluated by it afresh.
    assert_eq!(read_noting_cache(&app, &read).await, "miss");
    assert_eq!(read_noting_cache(&app, &read).await, "hit");

    register(&app, "after-reload").await;
    let (_, decisions) = app.get("/v1/decisions?action=register", &admin).await;
    let last = decisions["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["policy_hash"], second.as_str(), "{decisions}");

    // A broken edit is refused with file and line; the last good set keeps deciding.
    std::fs::write(dir.path().join("broken.cedar"), BROKEN).unwrap();
    let (status, body) = app.post("/v1/policies/reload", &admin, json!({})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["serving_hash"], second.as_str());
    let problem = &body["problems"][0];
    assert_eq!(problem["file"], "broken.cedar", "{body}");
    assert!(problem["line"].as_u64().is_some(), "{body}");
    assert!(
        problem["reason"].as_str().unwrap().contains("no_such_attribute"),
        "{body}"
    );
    let (_, set) = app.get("/v1/policies", &admin).await;
    assert_eq!(set["hash"], second.as_str());
    assert!(
        set["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("broken.cedar"),
        "{set}"
    );
    let ready: Value = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ready["last_policy_reload_error"]
            .as_str()
            .unwrap()
            .contains("broken.cedar")
    );
    register(&app, "after-refusal").await;
    let (_, decisions) = app.get("/v1/decisions?action=register", &admin).await;
    let last = decisions["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["policy_hash"], second.as_str());
    let (_, audit) = app.get("/v1/audit?action=policy.reload_refused", &admin).await;
    assert_eq!(
        audit["items"][0]["transition"]["from"],
        second.as_str(),
        "{audit}"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("gatehouse_policy_reloads_total{outcome=\"applied\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gatehouse_policy_reloads_total{outcome=\"refused\"} 1"),
        "{metrics}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn reload_on_sqlite() {
    reload_flow(Db::sqlite()).await;
}

#[tokio::test]
async fn reload_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    reload_flow(Db::Postgres(db)).await;
}

/// A gateway whose decision log holds one allowed promotion to `dev`; answers its database.
async fn log_with_a_promotion() -> (TestApp, String) {
    let app = TestApp::spawn(Db::sqlite()).await;
    let id = register(&app, "promoted").await;
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/promote"),
            &operator(),
            json!({ "channel": "dev" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (app, id)
}

#[tokio::test]
async fn simulate_lists_the_decisions_a_candidate_would_change() {
    let (app, id) = log_with_a_promotion().await;
    let admin = platform_admin();
    let body = json!({ "files": policy_files(Some(("freeze.cedar", FREEZE))), "action": "promote" });
    let (status, report) = app.post("/v1/policies/simulate", &admin, body).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["replayed"].as_u64(), report["changed"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let change = &report["changes"][0];
    assert_eq!(
        (change["old_effect"].as_str(), change["new_effect"].as_str()),
        (Some("allow"), Some("deny"))
    );
    assert_eq!(change["new_policy_ids"], json!(["freeze-promotions"]));
    assert_eq!(change["project"], "team-a");
    assert!(change["resource"].as_str().unwrap().contains(&id));

    let (status, report) = app
        .post(
            "/v1/policies/simulate",
            &admin,
            json!({ "files": policy_files(None) }),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert!(report["replayed"].as_u64().unwrap() >= 3, "{report}");
    assert_eq!(report["changed"], 0, "{report}");

    let body = json!({ "files": { "../escape.cedar": FREEZE } });
    let (status, problem) = app.post("/v1/policies/simulate", &admin, body).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("files")),
        "{problem}"
    );
    let body = json!({ "files": policy_files(Some(("broken.cedar", BROKEN))) });
    let (status, problem) = app.post("/v1/policies/simulate", &admin, body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["problems"][0]["file"], "broken.cedar", "{problem}");
    let (status, _) = app
        .post(
            "/v1/policies/simulate",
            &operator(),
            json!({ "files": policy_files(None) }),
        )
        .await;
    assert_eq!(status, 403);
    app.shutdown().await;
}

fn replay(db_url: &str, candidate: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["policy", "replay", "--candidate", candidate.to_str().unwrap()];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(&args)
        .current_dir(common::repo_path(""))
        .env("RUST_LOG", "error")
        .env("GATEHOUSE_DATABASE_URL", db_url)
        .output()
        .unwrap()
}

#[tokio::test]
async fn replay_cli_gates_on_whether_anything_would_change() {
    let (app, id) = log_with_a_promotion().await;
    let db = app.shutdown().await;
    let url = db.url();
    let frozen = policy_copy();
    std::fs::write(frozen.path().join("freeze.cedar"), FREEZE).unwrap();

    let out = replay(&url, frozen.path(), &["--since", "2000-01-01T00:00:00Z"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("allow -> deny") && table.contains("freeze-promotions"),
        "{table}"
    );
    assert!(table.contains(&id) && table.contains("olivia"), "{table}");

    let out = replay(
        &url,
        frozen.path(),
        &["--json", "--project", "team-a", "--action", "promote"],
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["changed"], 1, "{report}");
    assert_eq!(report["changes"][0]["old_effect"], "allow");

    let out = replay(&url, &common::repo_path("policies"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    std::fs::write(frozen.path().join("broken.cedar"), BROKEN).unwrap();
    let out = replay(&url, frozen.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.cedar:"));
}
