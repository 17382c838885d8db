//! Kill -9 while reviews are answered (issue 12: a decision is durable before its answer). Several
//! clients ask `POST /v1/admission/review` (allowed and denied questions), each with its own
//! `X-Request-Id`, which becomes the decision's `correlation_id`. The server is killed after a
//! random number of answers; every answered review must then be in the decision log, once, with
//! the effect it was answered, and the audit chain must still verify. After the last cycle the
//! server restarts on the same database and the log is read back through `GET /v1/decisions`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common::{self, Db, digest, oci_registration, token};
use super::{CYCLES, Checker, audit_verifies, serve, wait_until_ready};

const REVIEWERS: usize = 6;

/// Most answers a cycle waits for before its kill (the kill point is drawn in `1..=MOST`).
const MOST_ANSWERS_BEFORE_KILL: u64 = 400;

/// What the review clients were answered: request id → `allow` or `deny`.
type Answered = Arc<Mutex<Vec<(String, String)>>>;

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

/// A number in `1..=most`, from the operating system's random source.
fn draw(most: u64) -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).unwrap();
    u64::from_le_bytes(bytes) % most + 1
}

/// Registers this cycle's artifact (retrying while the server is not yet taking writes).
async fn register(base: &str, cycle: usize) -> String {
    let http = reqwest::Client::new();
    let body = oci_registration("reviews", &digest(&format!("crash-review-{cycle}")));
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let response = http
            .post(format!("{base}/v1/projects/team-a/artifacts"))
            .bearer_auth(operator())
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, artifact) = common::read(response).await;
        if status == 201 || status == 200 {
            return artifact["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cycle {cycle}: the review artifact could not be registered");
}

/// Reviews until the server dies, recording every answer received in full.
async fn review_until_killed(
    base: String,
    artifact: String,
    client: usize,
    cycle: usize,
    answered: Answered,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let who = operator();
    for n in 0usize.. {
        // `dev` is allowed for a published artifact; `prod` is denied (never promoted there).
        let channel = if (n + client).is_multiple_of(2) {
            "dev"
        } else {
            "prod"
        };
        let request_id = format!("crash-review-{cycle}-{client}-{n}");
        let Ok(response) = http
            .post(format!("{base}/v1/admission/review"))
            .bearer_auth(&who)
            .header("x-request-id", &request_id)
            .json(&json!({ "project": "team-a", "artifact_id": artifact, "action": "deploy", "channel": channel }))
            .send()
            .await
        else {
            return;
        };
        let status = response.status().as_u16();
        let echoed = response
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        // A body cut off by the kill was never answered.
        let Ok(text) = response.text().await else {
            return;
        };
        if status != 200 {
            continue;
        }
        assert_eq!(
            echoed.as_deref(),
            Some(request_id.as_str()),
            "the request id was not kept"
        );
        let answer: Value = serde_json::from_str(&text).unwrap();
        let effect = answer["decision"].as_str().unwrap().to_owned();
        answered.lock().unwrap().push((request_id, effect));
    }
}

/// Every answered review is in the decision log once, with the effect it was answered.
async fn check_answered(url: &str, answered: &[(String, String)], cycle: usize) {
    let mut db = Checker::open(url).await;
    for (request_id, effect) in answered {
        let logged = db.decision_effects(request_id).await;
        assert_eq!(
            logged,
            vec![effect.clone()],
            "cycle {cycle}: answered review {request_id} ({effect}) is not logged once with its effect"
        );
    }
    audit_verifies(url, cycle);
}

/// The decision log as `GET /v1/decisions` shows it: correlation id → effect, every page.
async fn logged_reviews(base: &str) -> HashMap<String, String> {
    let http = reqwest::Client::new();
    let admin = token("ada", json!({ "team-a": ["admin"] }));
    let mut logged = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("project", "team-a"), ("action", "admit"), ("limit", "500")];
        if let Some(c) = &cursor {
            query.push(("cursor", c));
        }
        let url = reqwest::Url::parse_with_params(&format!("{base}/v1/decisions"), &query).unwrap();
        let response = http.get(url).bearer_auth(&admin).send().await.unwrap();
        let (status, page) = common::read(response).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            let id = item["correlation_id"].as_str().unwrap().to_owned();
            let effect = item["effect"].as_str().unwrap().to_owned();
            assert!(
                logged.insert(id.clone(), effect).is_none(),
                "{id} is logged twice"
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return logged,
        }
    }
}

async fn review_kill_cycles(url: String) {
    let answered: Answered = Arc::default();
    for cycle in 0..CYCLES {
        let (mut child, base) = serve(&url);
        wait_until_ready(&base).await;
        let artifact = register(&base, cycle).await;
        let before = answered.lock().unwrap().len() as u64;
        let kill_at = before + draw(MOST_ANSWERS_BEFORE_KILL);
        let clients: Vec<_> = (0..REVIEWERS)
            .map(|c| {
                tokio::spawn(review_until_killed(
                    base.clone(),
                    artifact.clone(),
                    c,
                    cycle,
                    answered.clone(),
                ))
            })
            .collect();
        // The kill point is a count of answers, so it falls wherever the writer happens to be.
        let deadline = Instant::now() + Duration::from_secs(60);
        while (answered.lock().unwrap().len() as u64) < kill_at && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap(); // SIGKILL: no graceful shutdown.
        child.wait().unwrap();
        for client in clients {
            client.await.unwrap();
        }
        let snapshot = answered.lock().unwrap().clone();
        assert!(
            snapshot.len() as u64 > before,
            "cycle {cycle}: no review was answered"
        );
        check_answered(&url, &snapshot, cycle).await;
    }
    // Restarted on the same database, the API shows every answered review with its effect.
    let (mut child, base) = serve(&url);
    wait_until_ready(&base).await;
    let logged = logged_reviews(&base).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let answered = answered.lock().unwrap();
    for (request_id, effect) in answered.iter() {
        assert_eq!(logged.get(request_id), Some(effect), "{request_id} after restart");
    }
    let allowed = answered.iter().filter(|(_, e)| e == "allow").count();
    assert!(
        allowed > 0 && allowed < answered.len(),
        "both effects must be exercised: {allowed} of {} allowed",
        answered.len()
    );
    eprintln!(
        "crash test: {CYCLES} kill -9 cycles under reviews, {} answered reviews ({allowed} allowed) all logged",
        answered.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills a real server ten times under reviews; CI runs it with --ignored"]
async fn kill_9_under_reviews_sqlite() {
    let db = Db::sqlite();
    review_kill_cycles(db.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills a real server ten times under reviews; CI runs it with --ignored"]
async fn kill_9_under_reviews_postgres() {
    if let Some(db) = common::pg::fresh_db().await {
        review_kill_cycles(db.url.clone()).await;
    }
}
