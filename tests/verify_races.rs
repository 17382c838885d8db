//! `verify` racing the verification job a registration queues (issue 11, item 5), on SQLite and on
//! PostgreSQL through the real HTTP API: never a 409 for a race with verification itself, the job
//! finished as succeeded (never failed for losing a race), and exactly one `app_artifact.verify`
//! audit record per verification run. A loopback registry whose answers the test can hold back
//! makes each race happen on purpose instead of by luck.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use common::stack::{eventually, operator};
use common::{Db, TestApp, auditor_token, digest};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

// ---------------------------------------------------------------------------------------------
// A registry that has nothing (every lookup is a 404, as distribution answers) and answers only
// once the test opens its gate: a verification that reads it stays in flight until then.

struct Gate {
    open: watch::Sender<bool>,
    delay: Duration,
    requests: Mutex<Vec<String>>,
    arrived: Notify,
}

struct GatedRegistry {
    url: String,
    host: String,
    gate: Arc<Gate>,
    task: tokio::task::JoinHandle<()>,
}

impl GatedRegistry {
    /// A registry that holds every answer until `open`, then answers each after `delay`.
    async fn start(open: bool, delay: Duration) -> Self {
        let gate = Arc::new(Gate {
            open: watch::Sender::new(open),
            delay,
            requests: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        });
        let app = axum::Router::new().fallback(answer).with_state(gate.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{host}"),
            host,
            gate,
            task,
        }
    }

    /// Waits until at least `n` requests naming `digest` have arrived (answered or held).
    async fn wait_for_requests(&self, digest: &str, n: usize) {
        let hex = digest.trim_start_matches("sha256:");
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let arrived = self.gate.arrived.notified();
                if self.requests_naming(hex) >= n {
                    return;
                }
                arrived.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {n} registry requests about {digest}"));
    }

    /// How many requests so far named the digest `hex`.
    fn requests_naming(&self, hex: &str) -> usize {
        self.gate
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|path| path.contains(hex))
            .count()
    }

    /// The request paths that fetched `digest`'s cosign signature tag.
    fn signature_lookups(&self, digest: &str) -> usize {
        let tag = format!("{}.sig", digest.replacen(':', "-", 1));
        self.gate
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|path| path.ends_with(&tag))
            .count()
    }

    fn open(&self) {
        self.gate.open.send_replace(true);
    }
}

impl Drop for GatedRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(gate): State<Arc<Gate>>, uri: Uri) -> Response {
    gate.requests.lock().unwrap().push(uri.path().to_owned());
    gate.arrived.notify_waiters();
    let mut open = gate.open.subscribe();
    let _ = open.wait_for(|open| *open).await;
    tokio::time::sleep(gate.delay).await;
    if uri.path() == "/v2/" {
        return (StatusCode::OK, "{}").into_response();
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Gateways

/// A gateway reading `registry` for signatures (a key is configured, so it always looks), with
/// registration queueing a verification job; `worker` says whether this instance runs jobs.
async fn gateway(db: Db, registry: &GatedRegistry, worker: bool) -> TestApp {
    let url = db.url();
    gateway_at(db, url, registry, worker).await
}

/// Like `gateway`, on the database at `url` (`db` only holds what must outlive the gateway).
async fn gateway_at(db: Db, url: String, registry: &GatedRegistry, worker: bool) -> TestApp {
    let mut config = common::test_config(&db);
    config.database_url = url;
    config.registry.url = Some(registry.url.clone());
    config.registry.public_host = Some(registry.host.clone());
    config.registry.service = common::registry::SERVICE.to_owned();
    config.registry.token_issuer = common::registry::ISSUER.to_owned();
    config.registry.token_key_file = Some(common::repo_path("fixtures/registry/token.key"));
    config.registry.token_cert_file = Some(common::repo_path("fixtures/registry/token.crt"));
    // Registration must not read the registry: only verification does, so the gate holds
    // exactly the verifications.
    config.registry.verify_manifest_on_register = Some(false);
    config.registry.apply_notifications = worker;
    config.trust.cosign_public_key_files = vec![common::repo_path("fixtures/cosign/cosign.pub")];
    config.trust.verify_on_register = true;
    TestApp::spawn_with(db, config).await
}

async fn postgres() -> Option<Db> {
    common::pg::fresh_db().await.map(Db::Postgres)
}

// ---------------------------------------------------------------------------------------------
// Calls and what they left behind

/// Registers an image of `app` made from `seed`; answers (id, digest).
async fn register(app: &TestApp, seed: &str) -> (String, String) {
    let id = app.register_oci("team-a", &operator("team-a"), seed).await;
    (id, digest(seed))
}

/// `POST /v1/artifacts/{id}/verify` with our own request id (it becomes the audit correlation).
async fn verify(app: &TestApp, id: &str, request_id: &str) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/v1/artifacts/{id}/verify", app.base))
        .bearer_auth(operator("team-a"))
        .header("x-request-id", request_id)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    common::read(response).await
}

/// Asserts a verify answer is a 200 with a trust state, never a 409.
fn assert_verified_answer(status: u16, body: &Value) {
    assert_ne!(
        status, 409,
        "a race with verification itself must not conflict: {body}"
    );
    assert_eq!(status, 200, "{body}");
    let state = body["trust_state"].as_str().unwrap_or_default();
    assert!(
        ["verified", "failed_verification"].contains(&state),
        "a trust state after verification: {body}"
    );
}

/// The artifact's audit records of `action`, in chain order.
async fn audit(app: &TestApp, id: &str, action: &str) -> Vec<Value> {
    let (status, page) = app
        .get(
            &format!("/v1/audit?artifact_id={id}&action={action}&limit=500"),
            &auditor_token(),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// The verify records a job wrote (correlation `verification-job:<id>`).
fn job_records(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| {
            r["correlation_id"]
                .as_str()
                .unwrap()
                .starts_with("verification-job:")
        })
        .collect()
}

/// Every verification job of the database as (artifact id, status, attempts).
async fn jobs(url: &str) -> Vec<(String, String, i32)> {
    let sql = "select artifact_id, status, attempts from verification_jobs order by enqueued_at";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let rows: Vec<(uuid::Uuid, String, i32)> = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows.into_iter().map(|(a, s, n)| (a.to_string(), s, n)).collect()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let rows: Vec<(uuid::Uuid, String, i32)> = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows.into_iter().map(|(a, s, n)| (a.to_string(), s, n)).collect()
    }
}

/// Audit records committed but not yet given their place in the chain (PostgreSQL seals them
/// right after the commit that finished the job; SQLite seals inside it).
async fn unsealed_audit_records(url: &str) -> i64 {
    if url.starts_with("sqlite:") {
        return 0;
    }
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("select count(*) from audit_pending")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

/// Waits until no job is pending and every audit record they wrote is sealed; answers the jobs.
async fn jobs_settled(url: &str) -> Vec<(String, String, i32)> {
    eventually("every verification job to finish", async || {
        let all = jobs(url).await;
        let finished = all.iter().all(|(_, status, _)| status != "pending");
        (finished && unsealed_audit_records(url).await == 0).then_some(all)
    })
    .await
}

/// Asserts the artifact's single job finished as succeeded.
fn assert_job_succeeded(all: &[(String, String, i32)], id: &str) {
    let mine: Vec<_> = all.iter().filter(|(a, _, _)| a == id).collect();
    assert_eq!(mine.len(), 1, "one job per registration: {all:?}");
    assert_eq!(mine[0].1, "done", "the job succeeded, not failed: {all:?}");
}

// ---------------------------------------------------------------------------------------------
// Acceptance: verify immediately after registration, 50 times in a row

async fn verify_after_registration_fifty_times(db: Db) {
    let registry = GatedRegistry::start(true, Duration::from_millis(30)).await;
    let app = gateway(db, &registry, true).await;
    let mut registered = Vec::new();
    for i in 0..50 {
        let (id, _) = register(&app, &format!("fifty-{i}")).await;
        let request_id = format!("ci-verify-{i}");
        let (status, body) = verify(&app, &id, &request_id).await;
        assert_verified_answer(status, &body);
        registered.push((id, request_id));
    }
    let url = app.db.url();
    let all = jobs_settled(&url).await;
    for (id, request_id) in &registered {
        assert_job_succeeded(&all, id);
        let records = audit(&app, id, "app_artifact.verify").await;
        // Two runs, two records: the request's and the job's, never a duplicate of either.
        let from_request: Vec<_> = records
            .iter()
            .filter(|r| r["correlation_id"] == request_id.as_str())
            .collect();
        assert_eq!(from_request.len(), 1, "{records:?}");
        assert_eq!(job_records(&records).len(), 1, "{records:?}");
        assert_eq!(records.len(), 2, "{records:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_after_registration_fifty_times_sqlite() {
    verify_after_registration_fifty_times(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_after_registration_fifty_times_postgres() {
    if let Some(db) = postgres().await {
        verify_after_registration_fifty_times(db).await;
    }
}

// ---------------------------------------------------------------------------------------------
// A verify call made while the job is in flight waits for it and runs on the fresh version

async fn verify_while_the_job_runs(db: Db) {
    let registry = GatedRegistry::start(false, Duration::ZERO).await;
    let app = gateway(db, &registry, true).await;
    let (id, digest) = register(&app, "while-the-job-runs").await;
    // The job has loaded the artifact and is reading the registry.
    registry.wait_for_requests(&digest, 1).await;
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let (app, id) = (&app, &id);
            async move { verify(app, id, &format!("concurrent-{i}")).await }
        })
        .collect();
    let answers = futures_util::future::join_all(calls);
    let opener = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        registry.open();
    };
    let (answers, ()) = tokio::join!(answers, opener);
    for (status, body) in &answers {
        assert_verified_answer(*status, body);
    }
    let all = jobs_settled(&app.db.url()).await;
    assert_job_succeeded(&all, &id);
    let records = audit(&app, &id, "app_artifact.verify").await;
    assert_eq!(job_records(&records).len(), 1, "{records:?}");
    assert_eq!(
        records.len(),
        9,
        "one record per run, 8 calls and the job: {records:?}"
    );
    // Each run started from the state the previous one left: none was lost to a stale read.
    for pair in records.windows(2) {
        assert_eq!(
            pair[1]["transition"]["from"], pair[0]["transition"]["to"],
            "{records:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_while_the_job_runs_sqlite() {
    verify_while_the_job_runs(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_while_the_job_runs_postgres() {
    if let Some(db) = postgres().await {
        verify_while_the_job_runs(db).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrent verify calls on one artifact

async fn concurrent_verify_calls(db: Db) {
    let registry = GatedRegistry::start(false, Duration::from_millis(2)).await;
    let app = gateway(db, &registry, false).await;
    let (id, digest) = register(&app, "eight-at-once").await;
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let (app, id) = (&app, &id);
            async move { verify(app, id, &format!("at-once-{i}")).await }
        })
        .collect();
    let opener = async {
        // Every call is in flight before any is answered.
        registry.wait_for_requests(&digest, 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        registry.open();
    };
    let (answers, ()) = tokio::join!(futures_util::future::join_all(calls), opener);
    for (status, body) in &answers {
        assert_verified_answer(*status, body);
    }
    let records = audit(&app, &id, "app_artifact.verify").await;
    assert_eq!(records.len(), 8, "one record per call: {records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_verify_calls_sqlite() {
    concurrent_verify_calls(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_verify_calls_postgres() {
    if let Some(db) = postgres().await {
        concurrent_verify_calls(db).await;
    }
}

// ---------------------------------------------------------------------------------------------
// A job whose commit loses the race is re-run on the fresh version and succeeds

async fn job_losing_the_commit_race(db: Db) {
    let registry = GatedRegistry::start(false, Duration::ZERO).await;
    let app = gateway(db, &registry, true).await;
    let (id, digest) = register(&app, "job-loses-the-race").await;
    registry.wait_for_requests(&digest, 1).await;
    // The job read version 1; a lifecycle change commits version 2 under it.
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/deprecate"),
            &operator("team-a"),
            json!({ "reason": "superseded" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let lookups_before = registry.signature_lookups(&digest);
    registry.open();
    let all = jobs_settled(&app.db.url()).await;
    assert_job_succeeded(&all, &id);
    // The losing run read the registry, then the re-run on the fresh version read it again.
    assert!(
        registry.signature_lookups(&digest) > lookups_before,
        "the job re-ran its checks"
    );
    let verified = job_records(&audit(&app, &id, "app_artifact.verify").await)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(verified.len(), 1, "{verified:?}");
    let deprecated = audit(&app, &id, "app_artifact.deprecate").await;
    assert_eq!(deprecated.len(), 1, "{deprecated:?}");
    assert!(verified[0]["seq"].as_i64() > deprecated[0]["seq"].as_i64());
    let (_, artifact) = app.get(&format!("/v1/artifacts/{id}"), &operator("team-a")).await;
    assert_eq!(
        artifact["lifecycle_state"], "deprecated",
        "the re-run kept the change: {artifact}"
    );
    assert_eq!(
        artifact["trust_state"], verified[0]["transition"]["to"],
        "{artifact}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_losing_the_commit_race_sqlite() {
    job_losing_the_commit_race(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_losing_the_commit_race_postgres() {
    if let Some(db) = postgres().await {
        job_losing_the_commit_race(db).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Two gateway processes on one database: the version check, not a lock in one process

async fn two_gateways_on_one_database(db: Db) {
    let registry = GatedRegistry::start(false, Duration::ZERO).await;
    let first = gateway(db, &registry, true).await;
    // A second instance on the same database that runs no jobs of its own.
    let second = gateway_at(Db::sqlite(), first.db.url(), &registry, false).await;
    let (id, digest) = register(&first, "two-gateways").await;
    // The first gateway's job is in flight; the second gateway's call joins it at the gate, both
    // having read the same version: whichever commits second must re-run.
    registry.wait_for_requests(&digest, 1).await;
    let call = verify(&second, &id, "other-instance");
    let opener = async {
        registry.wait_for_requests(&digest, 2).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        registry.open();
    };
    let ((status, body), ()) = tokio::join!(call, opener);
    assert_verified_answer(status, &body);
    let all = jobs_settled(&first.db.url()).await;
    assert_job_succeeded(&all, &id);
    let records = audit(&first, &id, "app_artifact.verify").await;
    assert_eq!(job_records(&records).len(), 1, "{records:?}");
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        records[1]["transition"]["from"], records[0]["transition"]["to"],
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_database_sqlite() {
    two_gateways_on_one_database(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_database_postgres() {
    if let Some(db) = postgres().await {
        two_gateways_on_one_database(db).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Crash safety: a job whose claim lapsed is run once by the next claimer, and a job whose
// verification committed is never claimed again

async fn lapsed_claim_runs_once(db: Db) {
    let registry = GatedRegistry::start(true, Duration::ZERO).await;
    // An instance that registers but runs no jobs; its database, claimed from outside.
    let intake = gateway(db, &registry, false).await;
    let (id, _) = register(&intake, "lapsed-claim").await;
    let url = intake.db.url();
    let store = gatehouse::store::connect(&url).await.unwrap();
    // A worker claims the job with a short lease and dies.
    let claimed = store
        .claim_verification(Utc::now(), chrono::TimeDelta::milliseconds(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.artifact_id.to_string(), id);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let db = intake.shutdown().await;
    // The next instance re-claims it once the lease lapsed and runs it to the end.
    let worker = gateway(db, &registry, true).await;
    let all = jobs_settled(&url).await;
    assert_job_succeeded(&all, &id);
    assert_eq!(all[0].2, 2, "claimed twice: {all:?}");
    // Long after any lease, nothing is left to claim: the commit finished the job with it.
    let later = Utc::now() + chrono::TimeDelta::hours(2);
    let again = store
        .claim_verification(later, chrono::TimeDelta::seconds(60))
        .await
        .unwrap();
    assert!(again.is_none(), "{again:?}");
    let records = audit(&worker, &id, "app_artifact.verify").await;
    assert_eq!(records.len(), 1, "{records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lapsed_claim_runs_once_sqlite() {
    lapsed_claim_runs_once(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lapsed_claim_runs_once_postgres() {
    if let Some(db) = postgres().await {
        lapsed_claim_runs_once(db).await;
    }
}
