//! Load generator: starts the real gateway in-process on 127.0.0.1:0, registers M artifacts,
//! then drives C concurrent clients for D seconds in two phases and reports requests/s, latency
//! percentiles and errors per endpoint.
//!
//! - `read mix`: `POST /v1/admission/review` (decision-only, waits for the group-committed
//!   decision log) and `GET /v1/artifacts/{id}`.
//! - `write loop`: register a new artifact, verify it, promote it to `dev`.
//!
//! Run with `cargo bench --bench loadgen`. Parameters (environment):
//! `GATEHOUSE_BENCH_ARTIFACTS` (M, 200), `GATEHOUSE_BENCH_CLIENTS` (C, 8),
//! `GATEHOUSE_BENCH_SECONDS` (D per phase, 10), `GATEHOUSE_BENCH_REVIEW_PERCENT` (share of
//! reviews in the read mix, 50), `GATEHOUSE_BENCH_DATABASE_URL` (a PostgreSQL server URL: a fresh
//! database is created on it and dropped afterwards; unset means embedded SQLite in a tempdir),
//! `GATEHOUSE_BENCH_MAX_IN_FLIGHT` (`http.max_requests_in_flight`; unset keeps the default).
//! Requests shed with 503 `overloaded` are reported on a line of their own, not as errors, so
//! the other lines show the latency of the requests admitted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Db, digest, oci_registration, sign_es256, test_config, user_claims};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::oneshot;

struct Params {
    artifacts: usize,
    clients: usize,
    seconds: u64,
    review_percent: u64,
    database_url: Option<String>,
    max_in_flight: Option<usize>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(raw) => raw
            .parse()
            .unwrap_or_else(|_| panic!("{name}=`{raw}` is not a valid value")),
        Err(_) => default,
    }
}

impl Params {
    fn from_env() -> Self {
        Self {
            artifacts: env_or("GATEHOUSE_BENCH_ARTIFACTS", 200_usize).max(1),
            clients: env_or("GATEHOUSE_BENCH_CLIENTS", 8_usize).max(1),
            seconds: env_or("GATEHOUSE_BENCH_SECONDS", 10_u64),
            review_percent: env_or("GATEHOUSE_BENCH_REVIEW_PERCENT", 50_u64).min(100),
            database_url: std::env::var("GATEHOUSE_BENCH_DATABASE_URL").ok(),
            max_in_flight: std::env::var("GATEHOUSE_BENCH_MAX_IN_FLIGHT")
                .ok()
                .map(|raw| raw.parse().expect("GATEHOUSE_BENCH_MAX_IN_FLIGHT is a number")),
        }
    }
}

/// A fresh PostgreSQL database on the server at `admin`, dropped by `drop_now`.
struct FreshPg {
    admin: String,
    name: String,
    url: String,
}

impl FreshPg {
    async fn create(admin: &str) -> Self {
        let mut conn = PgConnection::connect(admin).await.unwrap();
        let name = format!("gh_bench_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(AssertSqlSafe(format!("create database {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        Self {
            url: format!("{base}/{name}"),
            admin: admin.to_owned(),
            name,
        }
    }

    async fn drop_now(self) {
        let mut conn = PgConnection::connect(&self.admin).await.unwrap();
        let sql = format!("drop database if exists {} with (force)", self.name);
        sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    }
}

/// Latencies and failures of one endpoint.
#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

/// Per-client (later merged) results keyed by endpoint label.
#[derive(Default)]
struct Recorder(BTreeMap<&'static str, Stats>);

impl Recorder {
    fn merge(&mut self, other: Recorder) {
        for (label, s) in other.0 {
            let mine = self.0.entry(label).or_default();
            mine.latencies.extend(s.latencies);
            mine.errors += s.errors;
            mine.first_error = mine.first_error.take().or(s.first_error);
        }
    }
}

/// One HTTP client shared by every task (it pools connections), with the base URL and token.
#[derive(Clone)]
struct Gateway {
    http: Client,
    base: String,
    token: String,
}

impl Gateway {
    /// Sends one request, records its latency under `label`; any other status is an error.
    async fn call(
        &self,
        rec: &mut Recorder,
        label: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Option<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(bytes) if status == expected => Ok(bytes),
                    Ok(bytes) => Err(format!("{status}: {}", String::from_utf8_lossy(&bytes))),
                    Err(e) => Err(format!("reading the body: {e}")),
                }
            }
            Err(e) => Err(format!("transport: {e}")),
        };
        let shed = matches!(&outcome, Err(m) if m.starts_with("503") && m.contains("problem:overloaded"));
        let label = if shed { SHED } else { label };
        let stats = rec.0.entry(label).or_default();
        stats.latencies.push(started.elapsed());
        if shed {
            return None;
        }
        match outcome {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
            Err(message) => {
                stats.errors += 1;
                stats.first_error.get_or_insert(message);
                None
            }
        }
    }

    async fn register(&self, rec: &mut Recorder, seed: &str) -> Option<String> {
        let body = oci_registration("trainer", &digest(seed));
        let created = self
            .call(
                rec,
                "POST register",
                Method::POST,
                "/v1/projects/team-a/artifacts",
                Some(body),
                StatusCode::CREATED,
            )
            .await?;
        created["id"].as_str().map(str::to_owned)
    }
}

/// The line shed requests are counted on.
const SHED: &str = "shed: 503 overloaded";

/// Deterministic per-client pseudo-random choices (xorshift64), no extra dependency.
struct Pick(u64);

impl Pick {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

async fn read_mix(
    gw: Gateway,
    ids: std::sync::Arc<Vec<String>>,
    client: u64,
    until: Instant,
    review_percent: u64,
) -> Recorder {
    let mut rec = Recorder::default();
    let mut pick = Pick(0x9E37_79B9_7F4A_7C15 ^ (client + 1));
    while Instant::now() < until {
        let n = pick.next(ids.len() as u64);
        let Some(id) = usize::try_from(n).ok().and_then(|i| ids.get(i)) else {
            continue;
        };
        if pick.next(100) < review_percent {
            // One review in four asks about prod, which the policy denies: a 200 answer too.
            let channel = if n.is_multiple_of(4) { "prod" } else { "dev" };
            let body =
                json!({ "project": "team-a", "artifact_id": id, "action": "deploy", "channel": channel });
            gw.call(
                &mut rec,
                "POST admission/review",
                Method::POST,
                "/v1/admission/review",
                Some(body),
                StatusCode::OK,
            )
            .await;
        } else {
            gw.call(
                &mut rec,
                "GET artifacts/{id}",
                Method::GET,
                &format!("/v1/artifacts/{id}"),
                None,
                StatusCode::OK,
            )
            .await;
        }
    }
    rec
}

async fn write_loop(gw: Gateway, client: u64, until: Instant) -> Recorder {
    let mut rec = Recorder::default();
    let mut i = 0_u64;
    while Instant::now() < until {
        i += 1;
        let Some(id) = gw.register(&mut rec, &format!("bench-write-{client}-{i}")).await else {
            continue;
        };
        let path = format!("/v1/artifacts/{id}");
        let verified = gw
            .call(
                &mut rec,
                "POST verify",
                Method::POST,
                &format!("{path}/verify"),
                None,
                StatusCode::OK,
            )
            .await;
        if verified.is_some() {
            let body = Some(json!({ "channel": "dev" }));
            gw.call(
                &mut rec,
                "POST promote (dev)",
                Method::POST,
                &format!("{path}/promote"),
                body,
                StatusCode::OK,
            )
            .await;
        }
    }
    rec
}

/// Runs `clients` copies of a phase to completion; returns merged results and wall time.
async fn run_phase<F, Fut>(clients: usize, phase: F) -> (Recorder, Duration)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Recorder> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients as u64).map(|c| tokio::spawn(phase(c))).collect();
    let mut all = Recorder::default();
    for task in tasks {
        all.merge(task.await.unwrap());
    }
    (all, started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let last = sorted.len().saturating_sub(1);
    let rank = ((last as f64) * p).round() as usize;
    sorted.get(rank.min(last)).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn report(title: &str, rec: Recorder, wall: Duration) {
    println!("\n### {title} ({:.1} s)\n", wall.as_secs_f64());
    println!("| endpoint | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut total = 0;
    for (label, mut s) in rec.0 {
        s.latencies.sort_unstable();
        let n = s.latencies.len();
        total += n;
        let rate = n as f64 / wall.as_secs_f64();
        let l = &s.latencies;
        println!(
            "| {label} | {n} | {} | {rate:.1} | {} | {} | {} | {} |",
            s.errors,
            ms(percentile(l, 0.50)),
            ms(percentile(l, 0.90)),
            ms(percentile(l, 0.99)),
            ms(l.last().copied().unwrap_or_default()),
        );
        if let Some(e) = s.first_error {
            println!(
                "\nfirst error on {label}: {}\n",
                e.chars().take(300).collect::<String>()
            );
        }
    }
    println!(
        "| all | {total} | | {:.1} | | | | |",
        total as f64 / wall.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let params = Params::from_env();
    // The SQLite tempdir also stands in as the holder when the database is PostgreSQL.
    let sqlite = Db::sqlite();
    let mut config = test_config(&sqlite);
    let pg = match &params.database_url {
        Some(admin) => Some(FreshPg::create(admin).await),
        None => None,
    };
    if let Some(pg) = &pg {
        config.database_url = pg.url.clone();
    }
    if let Some(limit) = params.max_in_flight {
        config.http.max_requests_in_flight = limit;
    }
    let database = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    println!(
        "gatehouse loadgen: database {database}, artifacts {}, clients {}, {} s per phase, {}% reviews, in-flight limit {}",
        params.artifacts,
        params.clients,
        params.seconds,
        params.review_percent,
        params
            .max_in_flight
            .map_or_else(|| "default".to_owned(), |l| l.to_string())
    );

    let app = gatehouse::Application::build(config).await.unwrap();
    let addr = app.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let mut claims = user_claims("olivia", json!({ "team-a": ["operator"] }));
    claims["exp"] = json!(chrono::Utc::now().timestamp() + 3600 + 2 * params.seconds as i64);
    let gw = Gateway {
        http: Client::new(),
        base: format!("http://{addr}"),
        token: sign_es256(&claims),
    };

    let setup_started = Instant::now();
    let mut setup = Recorder::default();
    let mut ids = Vec::with_capacity(params.artifacts);
    for i in 0..params.artifacts {
        let id = gw.register(&mut setup, &format!("bench-seed-{i}")).await;
        ids.push(id.unwrap_or_else(|| {
            panic!(
                "setup registration failed: {:?}",
                setup.0.values().next().and_then(|s| s.first_error.clone())
            )
        }));
    }
    report("setup: sequential registration", setup, setup_started.elapsed());

    let ids = std::sync::Arc::new(ids);
    let duration = Duration::from_secs(params.seconds);
    let until = Instant::now() + duration;
    let (rec, wall) = run_phase(params.clients, |c| {
        read_mix(
            gw.clone(),
            std::sync::Arc::clone(&ids),
            c,
            until,
            params.review_percent,
        )
    })
    .await;
    report("read mix: admission review + artifact read", rec, wall);

    let until = Instant::now() + duration;
    let (rec, wall) = run_phase(params.clients, |c| write_loop(gw.clone(), c, until)).await;
    report("write loop: register + verify + promote(dev)", rec, wall);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}
