//! Server limits and strict edges, as a client sees them: slow or idle connections are closed,
//! load above the in-flight limit is shed with 503, a principal over its rate gets 429, the
//! connection cap holds, and every error is problem+json carrying the request id.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Db, TestApp, digest, oci_registration, read, token};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

async fn spawn(configure: impl FnOnce(&mut gatehouse::Config)) -> TestApp {
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    configure(&mut config);
    TestApp::spawn_with(db, config).await
}

/// Reads until the peer closes (or `limit` passes); answers what was read.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let until = Instant::now() + limit;
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Status and JSON body of a raw HTTP/1.1 response.
fn parse_raw(bytes: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (
        status,
        head.to_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// A problem+json answer with the request id in body and header.
async fn expect_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    let header_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (_, body) = read(response).await;
    assert_eq!(content_type, "application/problem+json", "{status}: {body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:gatehouse:problem:"),
        "{body}"
    );
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
    assert_eq!(body["request_id"], header_id.as_str(), "{body}");
    assert!(!header_id.is_empty());
    body
}

#[tokio::test]
async fn slow_request_heads_are_closed_at_the_header_timeout() {
    let app = spawn(|c| c.http.header_read_timeout_seconds = 1).await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\nUser-Agent: slowloris\r\n\r\n";
    let mut closed_after = None;
    // One byte every 300 ms: the whole head would take about 20 s.
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(Ok(n)) => panic!(
                "a slow head got an answer: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(_) => {}
        }
    }
    let closed_after = closed_after.expect("the slow connection was never closed");
    assert!(
        closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(5),
        "closed after {closed_after:?}"
    );

    // A connection that never sends is closed too, and the server still answers.
    let mut silent = TcpStream::connect(addr(&app)).await.unwrap();
    assert_eq!(
        read_until_closed(&mut silent, Duration::from_secs(5)).await,
        Some(Vec::new())
    );
    let (status, _) = read(
        app.http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let app = spawn(|c| c.http.keep_alive_idle_timeout_seconds = 1).await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Kept alive after the answer, closed once idle for the timeout.
    let rest = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(rest, Some(Vec::new()), "the idle connection stayed open");
}

#[tokio::test]
async fn over_the_in_flight_limit_requests_are_shed_and_health_still_answers() {
    let app = spawn(|c| c.http.max_requests_in_flight = 1).await;
    // Held in flight: a registration whose body never finishes arriving.
    let mut held = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /v1/projects/team-a/artifacts HTTP/1.1\r\nHost: gatehouse\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"app\":",
        operator()
    );
    held.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let response = app
        .http
        .get(format!("{}/v1/registry", app.base))
        .bearer_auth(operator())
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("retry-after").is_some());
    let problem = expect_problem(response, 503).await;
    assert_eq!(problem["type"], "urn:gatehouse:problem:overloaded");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shedding was not immediate"
    );
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let status = app
            .http
            .get(format!("{}{probe}", app.base))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{probe} while overloaded");
    }

    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = app.get("/v1/registry", &operator()).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_principal_over_its_rate_gets_429_and_others_do_not() {
    let app = spawn(|c| {
        c.http.rate_limit_per_second = 1;
        c.http.rate_limit_burst = 2;
    })
    .await;
    let alice = token("alice", json!({ "team-a": ["viewer"] }));
    let bob = token("bob", json!({ "team-a": ["viewer"] }));
    for _ in 0..2 {
        let (status, body) = app.get("/v1/registry", &alice).await;
        assert_eq!(status, 200, "{body}");
    }
    let response = app
        .http
        .get(format!("{}/v1/registry", app.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "retry-after {retry}");
    let problem = expect_problem(response, 429).await;
    assert_eq!(problem["type"], "urn:gatehouse:problem:rate-limited");
    let (status, body) = app.get("/v1/registry", &bob).await;
    assert_eq!(status, 200, "another principal was limited: {body}");
}

#[tokio::test]
async fn the_connection_cap_holds_and_frees_up() {
    const CAP: usize = 4;
    let app = spawn(|c| {
        c.http.max_connections = CAP;
        c.http.header_read_timeout_seconds = 60;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..CAP + 4 {
        held.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    // Above the cap the gateway does not accept: this request waits in the backlog.
    let mut queued = TcpStream::connect(addr(&app)).await.unwrap();
    queued
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(700), queued.read(&mut buf)).await;
    assert!(early.is_err(), "a connection above the cap was served");

    drop(held);
    let answer = read_until_closed(&mut queued, Duration::from_secs(10))
        .await
        .expect("the queued request was not served once the cap freed up");
    assert_eq!(parse_raw(&answer).0, 200);
    let (status, _) = read(
        app.http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_slow_request_body_is_408_problem_json() {
    let app = spawn(|c| c.http.request_timeout_seconds = 1).await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /v1/projects/team-a/artifacts HTTP/1.1\r\nHost: gatehouse\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\nX-Request-Id: slow-body-1\r\n\r\n{{\"app\":",
        operator()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("no answer to a slow body");
    let (status, head, body) = parse_raw(&answer);
    assert_eq!(status, 408, "{head}");
    assert!(head.contains("content-type: application/problem+json"), "{head}");
    assert_eq!(body["status"], 408);
    assert_eq!(body["request_id"], "slow-body-1");
}

#[tokio::test]
async fn json_bodies_need_the_json_media_type() {
    let app = spawn(|_| {}).await;
    let url = format!("{}/v1/projects/team-a/artifacts", app.base);
    let body = oci_registration("trainer", &digest("media")).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = app.http.post(&url).bearer_auth(operator()).body(body.clone());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let problem = expect_problem(request.send().await.unwrap(), 415).await;
        assert_eq!(problem["type"], "urn:gatehouse:problem:unsupported-media-type");
    }
    let response = app
        .http
        .post(&url)
        .bearer_auth(operator())
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, artifact) = read(response).await;
    assert_eq!(status, 201, "{artifact}");
    // App manifests take JSON or YAML, but only when they say which.
    let response = app
        .http
        .post(format!("{}/v1/apps", app.base))
        .bearer_auth(operator())
        .body("{\"app\": {}, \"version\": {}}")
        .send()
        .await
        .unwrap();
    expect_problem(response, 415).await;
    // An empty body needs no media type (`verify` with nothing to add).
    let id = artifact["id"].as_str().unwrap();
    let response = app
        .http
        .post(format!("{}/v1/artifacts/{id}/verify", app.base))
        .bearer_auth(operator())
        .send()
        .await
        .unwrap();
    assert_ne!(response.status().as_u16(), 415);
}

#[tokio::test]
async fn the_registry_webhook_keeps_its_own_media_type() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "webhook-secret-for-edge-tests-0123";
    std::fs::write(dir.path().join("secret"), secret).unwrap();
    let app = spawn(|c| {
        c.registry.webhook_secret_file = Some(dir.path().join("secret"));
        c.http.body_limit_bytes = 4096;
    })
    .await;
    let url = format!("{}/v1/webhooks/registry", app.base);
    let response = app
        .http
        .post(&url)
        .bearer_auth(secret)
        .header(
            "content-type",
            "application/vnd.docker.distribution.events.v1+json",
        )
        .body(r#"{"events":[]}"#)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let response = app
        .http
        .post(&url)
        .bearer_auth(secret)
        .header(
            "content-type",
            "application/vnd.docker.distribution.events.v1+json",
        )
        .body(format!(r#"{{"events":[],"padding":"{}"}}"#, "x".repeat(10_000)))
        .send()
        .await
        .unwrap();
    expect_problem(response, 413).await;
}

#[tokio::test]
async fn only_canonical_ids_name_a_resource() {
    let app = spawn(|_| {}).await;
    let (status, artifact) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator(),
            oci_registration("trainer", &digest("ids")),
        )
        .await;
    assert_eq!(status, 201, "{artifact}");
    let id = artifact["id"].as_str().unwrap().to_owned();
    let uuid = uuid::Uuid::parse_str(&id).unwrap();
    let (status, _) = app.get(&format!("/v1/artifacts/{id}"), &operator()).await;
    assert_eq!(status, 200);
    for spelling in [
        id.to_uppercase(),
        uuid.simple().to_string(),
        uuid.braced().to_string(),
        uuid.urn().to_string(),
        format!("{id}%20"),
    ] {
        for path in [
            format!("/v1/artifacts/{spelling}"),
            format!("/v1/artifacts/{spelling}/explain"),
        ] {
            let response = app
                .http
                .get(format!("{}{path}", app.base))
                .bearer_auth(operator())
                .send()
                .await
                .unwrap();
            let problem = expect_problem(response, 404).await;
            assert_eq!(problem["type"], "urn:gatehouse:problem:not-found", "{path}");
        }
    }
    let response = app
        .http
        .post(format!("{}/v1/artifacts/{}/promote", app.base, id.to_uppercase()))
        .bearer_auth(operator())
        .json(&json!({ "channel": "dev" }))
        .send()
        .await
        .unwrap();
    expect_problem(response, 404).await;
    // Ids in bodies and queries: only the canonical spelling, else 422 naming the field.
    let response = app
        .http
        .post(format!("{}/v1/admission/review", app.base))
        .bearer_auth(operator())
        .json(&json!({ "project": "team-a", "artifact_id": id.to_uppercase(), "action": "deploy" }))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 422).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("artifact_id"),
        "{problem}"
    );
    let response = app
        .http
        .get(format!("{}/v1/decisions?artifact_id={}", app.base, uuid.simple()))
        .bearer_auth(operator())
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 422).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("artifact_id"),
        "{problem}"
    );
    // A control character escaped into a path segment is refused like any text field.
    for path in ["/v1/artifacts/%00", "/v1/projects/team-a%01/artifacts"] {
        let response = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(operator())
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, 422).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("`path`"),
            "{path}: {problem}"
        );
    }
}

#[tokio::test]
async fn every_error_class_is_problem_json_with_the_request_id() {
    let app = spawn(|c| {
        c.http.body_limit_bytes = 4096;
        c.http.max_uri_bytes = 1024;
        c.http.max_header_bytes = 4096;
        c.http.max_headers = 40;
    })
    .await;
    let base = &app.base;
    let http = &app.http;

    // 404: unknown route; 405: a known route with another method (and `Allow` kept).
    expect_problem(http.get(format!("{base}/v1/nowhere")).send().await.unwrap(), 404).await;
    let response = http
        .delete(format!("{base}/v1/projects/team-a/artifacts"))
        .bearer_auth(operator())
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("allow").is_some());
    let problem = expect_problem(response, 405).await;
    assert_eq!(problem["type"], "urn:gatehouse:problem:method-not-allowed");

    // 413: a body above the limit.
    let response = http
        .post(format!("{base}/v1/projects/team-a/artifacts"))
        .bearer_auth(operator())
        .json(&json!({ "padding": "x".repeat(10_000) }))
        .send()
        .await
        .unwrap();
    expect_problem(response, 413).await;

    // 414: a request target above the limit.
    let long = format!("{base}/v1/projects/team-a/artifacts?app={}", "a".repeat(2000));
    let problem = expect_problem(http.get(long).send().await.unwrap(), 414).await;
    assert_eq!(problem["type"], "urn:gatehouse:problem:uri-too-long");

    // 431: one header too large, or too many.
    let response = http
        .get(format!("{base}/healthz"))
        .header("x-padding", "p".repeat(8000))
        .send()
        .await
        .unwrap();
    expect_problem(response, 431).await;
    let mut request = http.get(format!("{base}/healthz"));
    for i in 0..60 {
        request = request.header(format!("x-extra-{i}"), "1");
    }
    expect_problem(request.send().await.unwrap(), 431).await;

    // 400: a path segment that is not UTF-8 once decoded.
    let response = http
        .get(format!("{base}/v1/artifacts/%FF%FE"))
        .bearer_auth(operator())
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 400).await;
    assert!(problem["detail"].as_str().unwrap().contains("UTF-8"), "{problem}");

    // Raw non-ASCII bytes in the request line never reach the gateway: the HTTP parser answers
    // a bare 400 and closes (README, "Server limits"). The connection does not linger.
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    stream
        .write_all(b"GET /v1/artifacts/\xff\xfe HTTP/1.1\r\nHost: g\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("a malformed request line kept its connection open");
    assert_eq!(parse_raw(&answer).0, 400);
}
