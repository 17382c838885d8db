//! The `gatehouse` binary as an operator runs it: refusing bad policy and config, verifying the
//! audit chain (and naming a tampered record), running policy tests, minting dev tokens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output};

use common::{Db, TestApp, digest, oci_registration, token};
use serde_json::json;

fn gatehouse(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .current_dir(common::repo_path(""))
        .env("RUST_LOG", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn serve_refuses_an_invalid_policy_set_naming_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::repo_path("policies/roles.cedar"),
        dir.path().join("roles.cedar"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.cedar"),
        "@id(\"broken\")\npermit(principal, action, resource)\nwhen { resource.no_such_attribute == 1 };\n",
    )
    .unwrap();
    let dir_text = dir.path().to_str().unwrap();
    let out = gatehouse(
        &["serve"],
        &[
            ("GATEHOUSE_POLICY_DIR", dir_text),
            ("GATEHOUSE_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("broken.cedar:"), "{err}");
    assert!(err.contains("no_such_attribute"), "{err}");

    let out = gatehouse(&["policy", "validate", dir_text], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("broken.cedar:"), "{}", stderr(&out));
}

#[test]
fn validate_warns_for_every_action_no_permit_can_allow_and_strict_fails_on_it() {
    // The shipped set without the roles' permits: `accept_source` (among others) loses its only
    // permits, and only a forbid still names `read`.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("narrow.cedar"),
        concat!(
            "@id(\"readers\")\npermit(principal, action == Gatehouse::Action::\"read\", resource);\n",
            "@id(\"no-verify\")\nforbid(principal, action == Gatehouse::Action::\"verify\", resource);\n",
        ),
    )
    .unwrap();
    let dir_text = dir.path().to_str().unwrap();
    let out = gatehouse(&["policy", "validate", dir_text], &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout(&out).contains("is valid"), "{}", stdout(&out));
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), gatehouse::policy::Action::ALL.len() - 1, "{err}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("`accept_source`") && w.contains("source_policy")),
        "{err}"
    );
    // A forbid allows nothing: `verify` is named; `read` has its permit and is not.
    assert!(warnings.iter().any(|w| w.contains("`verify`")), "{err}");
    assert!(!warnings.iter().any(|w| w.contains("`read`")), "{err}");

    let out = gatehouse(&["policy", "validate", "--strict", dir_text], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("`accept_source`"), "{}", stderr(&out));

    // The shipped set covers every action: no warning, and --strict passes.
    let out = gatehouse(&["policy", "validate", "--strict"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning:"), "{}", stderr(&out));
}

#[test]
fn serve_warns_naming_each_action_no_permit_can_allow() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("readers.cedar"),
        "@id(\"readers\")\npermit(principal, action == Gatehouse::Action::\"read\", resource);\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", data.path().join("g.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .current_dir(common::repo_path(""))
        .env("RUST_LOG", "warn")
        .env("GATEHOUSE_POLICY_DIR", dir.path())
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_DATABASE_URL", &db)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Lines arrive on a channel so a server that never warns fails the test instead of hanging it.
    let stderr = child.stderr.take().unwrap();
    let (lines, arrived) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            if lines.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    let mut seen = String::new();
    while let Ok(line) = arrived.recv_timeout(std::time::Duration::from_secs(60)) {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("accept_source") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        seen.lines().any(|l| l.contains("WARN")
            && l.contains("no permit in the policy set can allow action `accept_source`")),
        "{seen}"
    );
}

#[test]
fn shipped_policies_validate_and_pass_their_tests() {
    let out = gatehouse(&["policy", "validate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("is valid"), "{}", stdout(&out));
    let out = gatehouse(&["policy", "test"], &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn bad_configuration_names_the_key() {
    let out = gatehouse(&["serve"], &[("GATEHOUSE_LISTEN", "nowhere")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("`listen`"), "{}", stderr(&out));
    let out = gatehouse(
        &["serve"],
        &[("GATEHOUSE_DATABASE_URL", "mysql://root:secret@db/x")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("database_url") && !err.contains("secret"), "{err}");
}

#[test]
fn token_mint_needs_a_configured_dev_key() {
    let out = gatehouse(
        &[
            "--config",
            "fixtures/dev/gatehouse.toml",
            "token",
            "mint",
            "--issuer",
            "https://dev.gatehouse.invalid",
            "--sub",
            "alice",
            "--project",
            "team-a=admin",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim().split('.').count(), 3);
    let out = gatehouse(
        &[
            "token",
            "mint",
            "--issuer",
            "https://nobody.example",
            "--sub",
            "alice",
        ],
        &[],
    );
    assert!(!out.status.success());
}

#[tokio::test]
async fn audit_verify_names_an_edited_record() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    for seed in ["one", "two", "three"] {
        let (status, body) = app
            .post(
                "/v1/projects/team-a/artifacts",
                &operator,
                oci_registration("trainer", &digest(seed)),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let url = app.db.url();
    let out = gatehouse(&["audit", "verify"], &[("GATEHOUSE_DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("3 records"), "{}", stdout(&out));

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("update audit_records set project = 'team-z' where seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = gatehouse(&["audit", "verify"], &[("GATEHOUSE_DATABASE_URL", &url)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("seq 2"), "{}", stderr(&out));
}

#[tokio::test]
async fn audit_verify_names_an_edited_record_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    let app = TestApp::spawn(Db::Postgres(db)).await;
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    for seed in ["one", "two"] {
        let (status, _) = app
            .post(
                "/v1/projects/team-a/artifacts",
                &operator,
                oci_registration("trainer", &digest(seed)),
            )
            .await;
        assert_eq!(status, 201);
    }
    let url = app.db.url();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("update audit_records set digest = 'sha256:00' where seq = 1")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = gatehouse(&["audit", "verify"], &[("GATEHOUSE_DATABASE_URL", &url)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("seq 1"), "{}", stderr(&out));
}
