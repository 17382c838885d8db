//! The crash test (issue 13 acceptance): a real `gatehouse serve` is killed with SIGKILL in the
//! middle of concurrent registrations and promotions, ten times on each database. After every
//! cycle: every acknowledged write is there (exactly one promotion per acknowledged promote), no
//! audit record repeats a correlation id and action, and `gatehouse audit verify` passes.
//!
//! `reviews` does the same while decisions are answered (`POST /v1/admission/review`).
//!
//! Ignored by default (it takes about a minute); `.ci/run` runs it with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "crash/reviews.rs"]
mod reviews;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Db, digest, oci_registration, token};
use serde_json::json;
use sqlx::Connection;
use uuid::Uuid;

const CYCLES: usize = 10;
const WRITERS: usize = 4;

/// The environment every `gatehouse` command of the test runs with.
fn gatehouse(database_url: &str) -> Command {
    let issuers = format!(
        r#"[{{ issuer = "{}", audience = "{}", algorithms = ["ES256"], public_key_file = "{}" }}]"#,
        common::ES_ISSUER,
        common::AUDIENCE,
        common::repo_path("fixtures/keys/issuer-es256.pub.pem").display()
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .current_dir(common::repo_path(""))
        .env("RUST_LOG", "info")
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env("GATEHOUSE_AUTH__ISSUERS", issuers)
        // Registration queues a verification job: jobs are killed mid-run too.
        .env("GATEHOUSE_TRUST__VERIFY_ON_REGISTER", "true");
    command
}

/// Starts `gatehouse serve` and answers the child with its base URL.
fn serve(database_url: &str) -> (Child, String) {
    let mut child = gatehouse(database_url)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(at) = line.find("address=") {
            let addr = line[at + "address=".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
            // Keep draining the log so the child never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, format!("http://{addr}"));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("gatehouse did not start");
}

/// Waits (up to 60 s) for `/readyz` to answer 200.
async fn wait_until_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gatehouse never became ready");
}

/// What the clients were told succeeded.
#[derive(Default)]
struct Acknowledged {
    registered: Vec<Uuid>,
    promoted: Vec<Uuid>,
}

/// Registers and promotes until the server dies; records every success it was answered.
async fn write_until_killed(base: String, writer: usize, cycle: usize, acked: Arc<Mutex<Acknowledged>>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let who = token("olivia", json!({ "team-a": ["operator"] }));
    for n in 0.. {
        let body = oci_registration("crash", &digest(&format!("crash-{cycle}-{writer}-{n}")));
        let Ok(response) = http
            .post(format!("{base}/v1/projects/team-a/artifacts"))
            .bearer_auth(&who)
            .json(&body)
            .send()
            .await
        else {
            return;
        };
        let (status, artifact) = common::read(response).await;
        if status != 201 {
            // Not acknowledged (e.g. 503 while the server is still starting): keep writing.
            continue;
        }
        let id: Uuid = artifact["id"].as_str().unwrap().parse().unwrap();
        acked.lock().unwrap().registered.push(id);
        let Ok(response) = http
            .post(format!("{base}/v1/artifacts/{id}/promote"))
            .bearer_auth(&who)
            .json(&json!({ "channel": "dev" }))
            .send()
            .await
        else {
            return;
        };
        // A 409 (the verification job changed it first) is not acknowledged; anything else
        // but 200 is the server going away.
        if common::read(response).await.0 == 200 {
            acked.lock().unwrap().promoted.push(id);
        }
    }
}

/// Counts answered by the database directly (the server is dead while they are checked).
enum Checker {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Checker {
    async fn open(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            Self::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap())
        } else {
            Self::Postgres(sqlx::PgConnection::connect(url).await.unwrap())
        }
    }

    async fn count(&mut self, sql: &'static str, id: Option<Uuid>) -> i64 {
        match self {
            Self::Sqlite(c) => {
                let q = sqlx::query_scalar::<_, i64>(sql);
                let q = if let Some(id) = id { q.bind(id) } else { q };
                q.fetch_one(c).await.unwrap()
            }
            Self::Postgres(c) => {
                let q = sqlx::query_scalar::<_, i64>(sql);
                let q = if let Some(id) = id { q.bind(id) } else { q };
                q.fetch_one(c).await.unwrap()
            }
        }
    }

    /// The effects logged for the request `correlation_id`'s review (`admit`) decisions.
    async fn decision_effects(&mut self, correlation_id: &str) -> Vec<String> {
        const SQL: &str = "select effect from decisions where correlation_id = $1 and action = 'admit'";
        match self {
            Self::Sqlite(c) => sqlx::query_scalar(SQL)
                .bind(correlation_id)
                .fetch_all(c)
                .await
                .unwrap(),
            Self::Postgres(c) => sqlx::query_scalar(SQL)
                .bind(correlation_id)
                .fetch_all(c)
                .await
                .unwrap(),
        }
    }
}

async fn check_after_crash(url: &str, acked: &Acknowledged, cycle: usize) {
    let mut db = Checker::open(url).await;
    for id in &acked.registered {
        let n = db
            .count("select count(*) from artifacts where id = $1", Some(*id))
            .await;
        assert_eq!(n, 1, "cycle {cycle}: acknowledged registration {id} lost");
    }
    for id in &acked.promoted {
        let n = db
            .count(
                "select count(*) from artifact_promotions where artifact_id = $1 and channel = 'dev'",
                Some(*id),
            )
            .await;
        assert_eq!(
            n, 1,
            "cycle {cycle}: acknowledged promotion of {id} lost or doubled"
        );
    }
    let duplicates = db
        .count(
            "select count(*) from (select correlation_id, action from audit_records \
             group by correlation_id, action having count(*) > 1) d",
            None,
        )
        .await;
    assert_eq!(duplicates, 0, "cycle {cycle}: an audit record was written twice");
    audit_verifies(url, cycle);
}

/// `gatehouse audit verify` passes on the database the dead server left.
fn audit_verifies(url: &str, cycle: usize) {
    let output = gatehouse(url).args(["audit", "verify"]).output().unwrap();
    assert!(
        output.status.success(),
        "cycle {cycle}: audit verify failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn kill_cycles(url: String) {
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    for cycle in 0..CYCLES {
        let (mut child, base) = serve(&url);
        wait_until_ready(&base).await;
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(write_until_killed(base.clone(), w, cycle, acked.clone())))
            .collect();
        // Kill only once this cycle has acknowledged a write, after a varying further while, so
        // that writes (and queued verification jobs) are caught at different points.
        let before = acked.lock().unwrap().registered.len();
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.lock().unwrap().registered.len() == before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200 + 100 * cycle as u64)).await;
        child.kill().unwrap(); // SIGKILL: no graceful shutdown.
        child.wait().unwrap();
        for writer in writers {
            writer.await.unwrap();
        }
        let snapshot = {
            let acked = acked.lock().unwrap();
            Acknowledged {
                registered: acked.registered.clone(),
                promoted: acked.promoted.clone(),
            }
        };
        assert!(
            !snapshot.registered.is_empty(),
            "cycle {cycle}: no write was acknowledged"
        );
        check_after_crash(&url, &snapshot, cycle).await;
    }
    let acked = acked.lock().unwrap();
    eprintln!(
        "crash test: {CYCLES} kill -9 cycles, {} acknowledged registrations and {} promotions intact",
        acked.registered.len(),
        acked.promoted.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills a real server ten times (about a minute); CI runs it with --ignored"]
async fn kill_9_under_writes_sqlite() {
    let db = Db::sqlite();
    kill_cycles(db.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills a real server ten times (about a minute); CI runs it with --ignored"]
async fn kill_9_under_writes_postgres() {
    if let Some(db) = common::pg::fresh_db().await {
        kill_cycles(db.url.clone()).await;
    }
}
