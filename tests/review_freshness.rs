//! A review answers from the artifact as it is now: a revocation (or a retirement) is seen by
//! the very next review, by id and by digest, on both databases — whatever the review path reads
//! through (SQLite's own read connections, PostgreSQL's pool).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, TestApp, digest, token};
use serde_json::{Value, json};

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

fn admin() -> String {
    token("ada", json!({ "team-a": ["admin"] }))
}

async fn register(app: &TestApp, seed: &str) -> (String, String) {
    let id = app.register_oci("team-a", &operator(), seed).await;
    (id, digest(seed))
}

async fn review(app: &TestApp, by: (&str, &str)) -> Value {
    let mut body = json!({ "project": "team-a", "action": "deploy", "channel": "dev" });
    body[by.0] = json!(by.1);
    let (status, answer) = app.post("/v1/admission/review", &operator(), body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn revoked_then_reviewed(app: TestApp) {
    for (seed, end) in [("fresh-revoke", "revoke"), ("fresh-retire", "retire")] {
        let (id, digest) = register(&app, seed).await;
        // Reviewed many times first, so whatever the read path keeps warm holds this artifact.
        for _ in 0..5 {
            for by in [("artifact_id", id.as_str()), ("digest", digest.as_str())] {
                let answer = review(&app, by).await;
                assert_eq!(answer["decision"], "allow", "before {end}: {answer}");
            }
        }
        let (status, body) = app
            .post(
                &format!("/v1/artifacts/{id}/{end}"),
                &admin(),
                json!({ "reason": "key compromise" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        for by in [("artifact_id", id.as_str()), ("digest", digest.as_str())] {
            let answer = review(&app, by).await;
            assert_eq!(
                answer["decision"], "deny",
                "right after {end}, by {}: {answer}",
                by.0
            );
            assert_eq!(
                answer["policy_ids"],
                json!(["no-use-revoked-or-retired"]),
                "{answer}"
            );
            assert!(answer["artifact"].is_null(), "{answer}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_review_sees_a_revocation_on_sqlite() {
    revoked_then_reviewed(TestApp::spawn(Db::sqlite()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_review_sees_a_revocation_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    revoked_then_reviewed(TestApp::spawn(Db::Postgres(db)).await).await;
}
