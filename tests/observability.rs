//! Logs and metrics as a platform team consumes them, from the real binary: with
//! `[logging] format = "json"` every line the gateway writes is one JSON object, every request
//! has exactly one access line (method, route template, status, latency, request id, principal,
//! decision) and no token text ever appears; `/metrics` parses with a Prometheus text parser and
//! carries the decision, verification, queue, pool, shed/rate-limit and build series.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

struct Served {
    child: Child,
    base: String,
    stderr: std::sync::mpsc::Receiver<String>,
    stdout: std::thread::JoinHandle<Vec<String>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `gatehouse serve` with JSON logs, the test issuer and a per-principal rate limit of one
/// request per second (burst 1), on SQLite in `dir`.
fn serve(dir: &std::path::Path) -> (Served, Vec<String>) {
    let config = dir.join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}/g.db\"\n\n\
             [logging]\nformat = \"json\"\n\n[http]\nrate_limit_per_second = 1\nrate_limit_burst = 1\n\n\
             [[auth.issuers]]\nissuer = \"{}\"\naudience = \"{}\"\nalgorithms = [\"ES256\"]\npublic_key_file = \"{}\"\n",
            dir.display(),
            common::ES_ISSUER,
            common::AUDIENCE,
            common::repo_path("fixtures/keys/issuer-es256.pub.pem").display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .current_dir(common::repo_path(""))
        // Debug too: every line the gateway could write must be JSON, not just the defaults.
        .env(
            "RUST_LOG",
            "debug,sqlx=warn,hyper=info,reqwest=info,h2=info,rustls=info",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let stdout = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect());
    let mut early = Vec::new();
    let base = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("gatehouse did not start:\n{}", early.join("\n")));
        early.push(line.clone());
        let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if parsed["message"] == "gatehouse listening" {
            break format!("http://{}", parsed["address"].as_str().unwrap());
        }
    };
    let served = Served {
        child,
        base,
        stderr: rx,
        stdout,
    };
    (served, early)
}

/// Stops the gateway with SIGTERM and answers every line it wrote after start-up.
fn stop(mut served: Served) -> (Vec<String>, Vec<String>) {
    let status = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = served.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut stderr = Vec::new();
    while let Ok(line) = served.stderr.recv_timeout(Duration::from_secs(10)) {
        stderr.push(line);
    }
    // `Served` kills on drop, so its stdout reader is swapped out rather than moved.
    let stdout = std::mem::replace(&mut served.stdout, std::thread::spawn(Vec::new));
    (stderr, stdout.join().unwrap())
}

struct Sent {
    request_id: String,
    status: u16,
    body: Value,
}

async fn send(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    request_id: &str,
) -> Sent {
    let mut request = http
        .request(method, format!("{base}{path}"))
        .header("x-request-id", request_id);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let (status, body) = common::read(request.send().await.unwrap()).await;
    Sent {
        request_id: request_id.to_owned(),
        status,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_have_one_access_line_per_request_and_metrics_parse() {
    let dir = tempfile::tempdir().unwrap();
    let (served, early) = serve(dir.path());
    let base = served.base.clone();
    let http = reqwest::Client::new();
    // One principal per request kind: the rate limit is one request a second each.
    let reader = common::token("reese", json!({ "team-a": ["viewer"] }));
    let operator = common::token("olivia", json!({ "team-a": ["operator"] }));
    let limited = common::token("lim", json!({ "team-a": ["viewer"] }));
    let outsider = common::token("otto", json!({}));
    let bogus = "not-a-jwt-but-secret-looking-0123456789";
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;

    let mut sent = Vec::new();
    // Allowed: describe the registry.
    let allowed = send(
        &http,
        &base,
        get.clone(),
        "/v1/registry",
        Some(&reader),
        None,
        "req-allowed",
    )
    .await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    sent.push(("GET", "/v1/registry", allowed, Some("user:reese"), Some("allow")));
    // Denied: reading the policy set needs a security role.
    let denied = send(
        &http,
        &base,
        get.clone(),
        "/v1/policies",
        Some(&outsider),
        None,
        "req-denied",
    )
    .await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    sent.push(("GET", "/v1/policies", denied, Some("user:otto"), Some("deny")));
    // A route that does not exist: no route template, no principal.
    let missing = send(
        &http,
        &base,
        get.clone(),
        "/v1/no-such-route/123",
        None,
        None,
        "req-missing",
    )
    .await;
    assert_eq!(missing.status, 404);
    sent.push(("GET", "unmatched", missing, None, None));
    // A token that does not verify: 401, and its text is never logged.
    let refused = send(
        &http,
        &base,
        get.clone(),
        "/v1/registry",
        Some(bogus),
        None,
        "req-bogus",
    )
    .await;
    assert_eq!(refused.status, 401);
    sent.push(("GET", "/v1/registry", refused, None, None));
    // Register an artifact and verify it: decisions, and a verification for the metrics.
    let registered = send(
        &http,
        &base,
        post.clone(),
        "/v1/projects/team-a/artifacts",
        Some(&operator),
        Some(json!({
            "app": "weights",
            "artifact_kind": "blob",
            "digest": common::digest("observability weights"),
            "source": { "source_type": "https", "uri": "https://models.example/weights.bin" },
        })),
        "req-register",
    )
    .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let id = registered.body["id"].as_str().unwrap().to_owned();
    sent.push((
        "POST",
        "/v1/projects/{project}/artifacts",
        registered,
        Some("user:olivia"),
        Some("allow"),
    ));
    // The operator's bucket refills at one a second: wait for it rather than race it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let verified = send(
        &http,
        &base,
        post.clone(),
        &format!("/v1/artifacts/{id}/verify"),
        Some(&operator),
        Some(json!({})),
        "req-verify",
    )
    .await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    sent.push((
        "POST",
        "/v1/artifacts/{id}/verify",
        verified,
        Some("user:olivia"),
        Some("allow"),
    ));
    // Rate-limited: the same principal until the bucket is empty (429).
    let mut limited_sent = None;
    for i in 0..20 {
        let s = send(
            &http,
            &base,
            get.clone(),
            "/v1/registry",
            Some(&limited),
            None,
            &format!("req-limit-{i}"),
        )
        .await;
        let status = s.status;
        sent.push(("GET", "/v1/registry", s, Some("user:lim"), None));
        if status == 429 {
            limited_sent = Some(sent.len() - 1);
            break;
        }
        assert_eq!(status, 200);
    }
    let limited_at = limited_sent.expect("the rate limit never answered 429");
    // Health probes are requests too.
    let health = send(&http, &base, get.clone(), "/healthz", None, None, "req-health").await;
    assert_eq!(health.status, 200);
    sent.push(("GET", "/healthz", health, None, None));

    // Metrics parse with a Prometheus text parser and carry the new series.
    let response = http
        .get(format!("{base}/metrics"))
        .header("x-request-id", "req-metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let sample = |name: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
                prometheus_parse::Value::Summary(_) => 0.0,
            })
            .next()
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{text}"))
    };
    assert_eq!(
        sample("gatehouse_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        1.0
    );
    assert!(
        sample(
            "gatehouse_decisions_total",
            &[("action", "describe"), ("effect", "allow")]
        ) >= 1.0
    );
    assert!(sample("gatehouse_decisions_total", &[("effect", "deny")]) >= 1.0);
    assert!(sample("gatehouse_http_requests_rate_limited_total", &[]) >= 1.0);
    assert_eq!(sample("gatehouse_http_requests_shed_total", &[]), 0.0);
    assert!(sample("gatehouse_verifications_total", &[]) >= 1.0);
    assert!(sample("gatehouse_verification_duration_seconds", &[]) >= 1.0);
    assert!(
        sample(
            "gatehouse_http_requests_total",
            &[("route", "/v1/registry"), ("status", "2xx")]
        ) >= 1.0
    );
    for gauge in [
        "gatehouse_notification_queue_depth",
        "gatehouse_notification_queue_oldest_age_seconds",
        "gatehouse_verification_queue_depth",
        "gatehouse_verification_queue_oldest_age_seconds",
    ] {
        assert!(sample(gauge, &[]) >= 0.0);
    }
    assert!(sample("gatehouse_db_pool_size", &[("pool", "primary")]) >= 1.0);
    assert!(sample("gatehouse_db_pool_max", &[("pool", "primary")]) >= 1.0);
    let _ = sample("gatehouse_db_pool_idle", &[("pool", "primary")]);
    let _ = sample("gatehouse_db_pool_in_use", &[("pool", "primary")]);
    // Routes are templates: no artifact id in any label.
    assert!(!text.contains(&id), "{text}");

    let (stderr, stdout) = stop(served);
    let lines: Vec<&String> = early.iter().chain(&stderr).chain(&stdout).collect();
    let mut access: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in &lines {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            parsed["level"].is_string() && parsed["timestamp"].is_string(),
            "{line}"
        );
        // No token, and no part of the Authorization header, in any line.
        for secret in [
            reader.as_str(),
            operator.as_str(),
            limited.as_str(),
            outsider.as_str(),
            bogus,
        ] {
            assert!(!line.contains(secret), "a token was logged: {line}");
        }
        if parsed["target"] == "gatehouse::access" {
            let id = parsed["request_id"].as_str().unwrap().to_owned();
            access.entry(id).or_default().push(parsed);
        }
    }
    let mut expected_ids: Vec<String> = sent.iter().map(|(_, _, s, _, _)| s.request_id.clone()).collect();
    expected_ids.push("req-metrics".to_owned());
    expected_ids.sort();
    assert_eq!(
        access.keys().cloned().collect::<Vec<_>>(),
        expected_ids,
        "one access line per request, none for anything else"
    );
    for (method, route, s, principal, decision) in &sent {
        let lines = &access[&s.request_id];
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["method"], *method, "{line}");
        assert_eq!(line["route"], *route, "{line}");
        assert_eq!(line["status"], s.status, "{line}");
        assert!(line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
        assert_eq!(line["principal"].as_str(), *principal, "{line}");
        if decision.is_some() {
            assert_eq!(line["decision"].as_str(), *decision, "{line}");
        }
        // The matched route, never the raw path with its ids.
        assert!(!line.to_string().contains(&id), "{line}");
    }
    // The rate-limited request names who was limited, and made no decision.
    let limited_line = &access[&sent[limited_at].2.request_id][0];
    assert_eq!(limited_line["status"], 429);
    assert_eq!(limited_line["principal"], "user:lim");
    assert!(limited_line.get("decision").is_none(), "{limited_line}");
    let unmatched = &access["req-missing"][0];
    assert!(unmatched.get("principal").is_none() && unmatched.get("decision").is_none());
    assert_eq!(access["req-metrics"][0]["route"], "/metrics");
}

/// The queue figures come from the database on both backends: a verification job left pending
/// (no worker here) shows as depth 1 with an age, and the pool is reported.
async fn queue_and_pool_series(db: common::Db) {
    let mut config = common::test_config(&db);
    config.trust.verify_on_register = true;
    config.registry.apply_notifications = false;
    let app = common::TestApp::spawn_with(db, config).await;
    let operator = common::token("olivia", json!({ "team-a": ["operator"] }));
    let (status, body) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator,
            json!({
                "app": "weights",
                "artifact_kind": "blob",
                "digest": common::digest("queued weights"),
                "source": { "source_type": "https", "uri": "https://models.example/weights.bin" },
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let text = app.metrics().await;
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let gauge = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => panic!("{name} is not a gauge"),
            })
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    assert_eq!(gauge("gatehouse_verification_queue_depth"), 1.0, "{text}");
    assert!(gauge("gatehouse_verification_queue_oldest_age_seconds") >= 0.0);
    assert_eq!(gauge("gatehouse_notification_queue_depth"), 0.0, "{text}");
    assert!(gauge("gatehouse_db_pool_max") >= 1.0, "{text}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_and_pool_series_on_sqlite() {
    queue_and_pool_series(common::Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_and_pool_series_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    queue_and_pool_series(common::Db::Postgres(db)).await;
}
