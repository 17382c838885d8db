//! The real binary as an operator runs it: `gatehouse serve` on a port of its own choosing,
//! reloading its policies on SIGHUP (keeping the last good set when the new one is invalid) and
//! shutting down cleanly on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

struct Served {
    child: Child,
    base: String,
    lines: mpsc::Receiver<String>,
    /// The lines logged before the address (read while waiting for it).
    early: Vec<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `gatehouse serve` on port 0 and reads the bound address from its log.
fn serve(policy_dir: &std::path::Path, database_url: &str) -> Served {
    serve_syncing_every(policy_dir, database_url, 1)
}

/// Like [`serve`], polling for the active policy set every `sync_seconds`.
fn serve_syncing_every(policy_dir: &std::path::Path, database_url: &str, sync_seconds: u64) -> Served {
    let issuers = format!(
        r#"[{{ issuer = "{}", audience = "{}", algorithms = ["ES256"], public_key_file = "{}" }}]"#,
        common::ES_ISSUER,
        common::AUDIENCE,
        common::repo_path("fixtures/keys/issuer-es256.pub.pem").display()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .current_dir(common::repo_path(""))
        .env("RUST_LOG", "info")
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_DATABASE_URL", database_url)
        .env("GATEHOUSE_POLICY_SYNC_SECONDS", sync_seconds.to_string())
        .env("GATEHOUSE_POLICY_DIR", policy_dir)
        .env("GATEHOUSE_AUTH__ISSUERS", issuers)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Owned by `Served` from here on, so every path (a panic too) kills and waits for it.
    let mut served = Served {
        child,
        base: String::new(),
        lines,
        early: Vec::new(),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while served.base.is_empty() {
        let line = served
            .lines
            .recv_timeout(deadline - std::time::Instant::now())
            .expect("gatehouse did not start");
        served.early.push(line.clone());
        if let Some(at) = line.find("address=") {
            let addr = line[at + "address=".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
            served.base = format!("http://{addr}");
        }
    }
    served
}

fn signal(served: &Served, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn policies(base: &str) -> Value {
    let mut claims = common::user_claims("sam", json!({}));
    claims["platform_roles"] = json!(["security_admin"]);
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/policies"))
        .bearer_auth(common::sign_es256(&claims))
        .send()
        .await
        .unwrap();
    common::read(response).await.1
}

/// Waits (up to 30 s) for a log line of the served process containing `text`.
fn wait_for_log(served: &Served, text: &str) {
    if served.early.iter().any(|l| l.contains(text)) {
        return;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let line = served
            .lines
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_else(|_| panic!("gatehouse never logged `{text}`"));
        if line.contains(text) {
            return;
        }
    }
}

async fn until(what: &str, mut probe: impl AsyncFnMut() -> Option<Value>) -> Value {
    for _ in 0..100 {
        if let Some(found) = probe().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn shipped_policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[tokio::test]
async fn sighup_reloads_policies_and_sigterm_stops_cleanly() {
    let policy_dir = shipped_policies();
    let db_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db_dir.path().join("gh.db").display());
    let mut served = serve(policy_dir.path(), &url);
    let before = policies(&served.base).await;
    let first_hash = before["hash"].as_str().unwrap().to_owned();

    // A valid addition is picked up on SIGHUP.
    std::fs::write(
        policy_dir.path().join("freeze.cedar"),
        "@id(\"freeze-prod\")\n@reason(\"prod is frozen\")\nforbid (principal, action == Gatehouse::Action::\"promote\", resource)\nwhen { context has channel && context.channel == \"prod\" };\n",
    )
    .unwrap();
    signal(&served, "HUP");
    let reloaded = until("the reload", async || {
        let now = policies(&served.base).await;
        (now["hash"] != first_hash.as_str()).then_some(now)
    })
    .await;
    assert!(
        reloaded["policy_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| id == "freeze-prod"),
        "{reloaded}"
    );

    // An invalid edit is refused: the last good set keeps serving and the refusal is shown.
    std::fs::write(
        policy_dir.path().join("broken.cedar"),
        "@id(\"broken\")\npermit (principal, action, resource) when {\n",
    )
    .unwrap();
    signal(&served, "HUP");
    let refused = until("the refusal", async || {
        let now = policies(&served.base).await;
        now["last_reload_error"].is_string().then_some(now)
    })
    .await;
    assert_eq!(refused["hash"], reloaded["hash"]);
    assert!(
        refused["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("broken.cedar"),
        "{refused}"
    );

    signal(&served, "TERM");
    let status = served.child.wait().unwrap();
    assert!(status.success(), "gatehouse exited with {status}");
    let log: Vec<String> = served.lines.try_iter().collect();
    assert!(log.iter().any(|l| l.contains("shutting down")), "{log:?}");
}

#[tokio::test]
async fn two_instances_on_one_database_converge_on_one_policy_set() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    let (dir_a, dir_b) = (shipped_policies(), shipped_policies());
    // Polling once an hour: within the test only PostgreSQL's NOTIFY can wake the other one.
    let a = serve_syncing_every(dir_a.path(), &db.url, 3600);
    let b = serve_syncing_every(dir_b.path(), &db.url, 3600);
    wait_for_log(&b, "listening for policy activations");
    let start = policies(&a.base).await["hash"].as_str().unwrap().to_owned();
    assert_eq!(policies(&b.base).await["hash"], start.as_str());

    // Only instance A's files change and only A is told; B follows the set A activated.
    std::fs::write(
        dir_a.path().join("freeze.cedar"),
        "@id(\"freeze-all\")\nforbid (principal, action == Gatehouse::Action::\"promote\", resource);\n",
    )
    .unwrap();
    signal(&a, "HUP");
    let new_hash = until("A to reload", async || {
        let now = policies(&a.base).await;
        (now["hash"] != start.as_str()).then_some(now["hash"].clone())
    })
    .await;
    let on_b = until("B to adopt A's set", async || {
        let now = policies(&b.base).await;
        (now["hash"] == new_hash).then_some(now)
    })
    .await;
    assert!(
        on_b["policy_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| id == "freeze-all"),
        "{on_b}"
    );
    drop((a, b));
}
