//! Fail fast and recover: a gateway on a PostgreSQL server this test starts itself (initdb and
//! pg_ctl, on a Unix socket in a temporary directory, so no TCP port is involved). While the
//! server is down, database-backed requests and `/readyz` answer 503 within 2 s; once it is
//! back, they succeed within 2 s, without restarting the gateway.
//!
//! Under `CI=true` missing PostgreSQL server binaries are a failure; elsewhere the test is
//! skipped with a notice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Db, TestApp, digest, oci_registration, token};
use serde_json::json;

/// The newest installed PostgreSQL server's `bin` directory.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

/// Runs a server binary as the `postgres` user when this test runs as root (PostgreSQL refuses
/// to run as root).
fn as_server_user(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A throwaway PostgreSQL cluster; stopped when dropped.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn init(bin: PathBuf) -> Self {
        let dir = tempfile::Builder::new().prefix("gh-pg").tempdir().unwrap();
        // The server user must own the directory (and reach it, for the socket).
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status();
        let cluster = Self { bin, dir };
        let out = as_server_user(&cluster.bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(cluster.data())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    fn pg_ctl(&self, args: &[&str]) {
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c fsync=off",
            self.dir.path().display()
        );
        let out = as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("server.log"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(&self) {
        self.pg_ctl(&["-w", "-t", "30", "start"]);
    }

    fn stop_now(&self) {
        self.pg_ctl(&["-w", "-m", "immediate", "stop"]);
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@localhost/postgres?host={}",
            self.dir.path().display()
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// Polls `probe` every 100 ms until it answers `want`, for at most `within`.
async fn answers_within(within: Duration, want: u16, mut probe: impl AsyncFnMut() -> u16) -> Duration {
    let started = Instant::now();
    loop {
        let status = probe().await;
        if status == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "still {status} (waiting for {want}) after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn requests_fail_fast_while_postgres_is_down_and_recover_when_it_is_back() {
    let Some(bin) = server_bin() else {
        common::skip::missing(
            "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql",
            "the outage test",
        );
        return;
    };
    let cluster = Cluster::init(bin);
    cluster.start();
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.database_url = cluster.url();
    let app = TestApp::spawn_with(db, config).await;
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    let (status, artifact) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator,
            oci_registration("trainer", &digest("outage")),
        )
        .await;
    assert_eq!(status, 201, "{artifact}");
    let path = format!("/v1/artifacts/{}", artifact["id"].as_str().unwrap());
    let http = &app.http;
    let base = app.base.clone();

    cluster.stop_now();
    let started = Instant::now();
    let response = http
        .get(format!("{base}{path}"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(took < Duration::from_secs(2), "a request took {took:?} to fail");
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    for probe in ["/readyz", "/metrics"] {
        let started = Instant::now();
        let status = http.get(format!("{base}{probe}")).send().await.unwrap().status();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{probe} took {took:?}");
        let want = if probe == "/readyz" { 503 } else { 200 };
        assert_eq!(status.as_u16(), want, "{probe} while the database is down");
    }
    let (status, _) = app.get(&path, &operator).await;
    assert_eq!(status, 503, "a second request did not fail fast either");

    // An outage is never read as a missing artifact (404), a refused input (422) or an internal
    // error (500): review (by id and by digest), register and promote all answer 503.
    let id = artifact["id"].as_str().unwrap();
    let calls = [
        (
            "/v1/admission/review".to_owned(),
            json!({ "project": "team-a", "artifact_id": id, "action": "deploy", "channel": "dev" }),
        ),
        (
            "/v1/admission/review".to_owned(),
            json!({ "project": "team-a", "digest": digest("outage"), "action": "deploy", "channel": "dev" }),
        ),
        (
            "/v1/projects/team-a/artifacts".to_owned(),
            oci_registration("trainer", &digest("outage-2")),
        ),
        (format!("/v1/artifacts/{id}/promote"), json!({ "channel": "dev" })),
    ];
    for (call, body) in calls {
        let (status, problem) = app.post(&call, &operator, body).await;
        assert_eq!(status, 503, "{call} while the database is down: {problem}");
        assert_eq!(problem["status"], 503, "{call}: not problem+json: {problem}");
    }

    cluster.start();
    answers_within(Duration::from_secs(2), 200, async || {
        http.get(format!("{base}{path}"))
            .bearer_auth(&operator)
            .send()
            .await
            .map_or(0, |r| r.status().as_u16())
    })
    .await;
    answers_within(Duration::from_secs(2), 200, async || {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16())
    })
    .await;
    app.shutdown().await;
}
