//! Safe configuration, as an operator meets it starting the real binary: `serve` refuses an
//! issuer with a development private key unless `dev_mode = true` (and then warns), an unknown
//! `GATEHOUSE_…` variable stops start-up naming it, and every section takes overrides.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A config with the ES256 test issuer, carrying its private key as `dev_private_key_file`.
fn dev_issuer_config(dir: &Path, dev_mode: Option<bool>) -> std::path::PathBuf {
    let mut text = String::new();
    if let Some(on) = dev_mode {
        text.push_str(&format!("dev_mode = {on}\n"));
    }
    text.push_str(&format!(
        "database_url = \"sqlite://{}/gatehouse.db\"\nlisten = \"127.0.0.1:0\"\n\n\
         [[auth.issuers]]\nissuer = \"{}\"\naudience = \"{}\"\nalgorithms = [\"ES256\"]\n\
         public_key_file = \"{}\"\ndev_private_key_file = \"{}\"\n",
        dir.display(),
        common::ES_ISSUER,
        common::AUDIENCE,
        common::repo_path("fixtures/keys/issuer-es256.pub.pem").display(),
        common::repo_path("fixtures/keys/issuer-es256.key").display(),
    ));
    let file = dir.join("gatehouse.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// A plain config: no dev issuer.
fn plain_config(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("plain.toml");
    std::fs::write(
        &file,
        format!(
            "database_url = \"sqlite://{}/plain.db\"\nlisten = \"127.0.0.1:0\"\n",
            dir.display()
        ),
    )
    .unwrap();
    file
}

fn gatehouse(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(common::repo_path(""))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Kills the child whatever happens to the test.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a command expected to exit by itself (a refused start); answers exit success and stderr.
/// A command still running after 60 s started when it should not have.
fn run_to_exit(mut command: Command) -> (bool, String) {
    let mut child = Running(command.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the command kept running: it should have refused to start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.success(), stderr)
}

/// Starts `serve` and answers the log lines up to and including "gatehouse listening".
fn start_lines(mut command: Command) -> (Running, Vec<String>) {
    let mut child = Running(command.spawn().unwrap());
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("gatehouse did not start; it logged:\n{}", lines.join("\n")));
        let done = line.contains("gatehouse listening");
        lines.push(line);
        if done {
            return (child, lines);
        }
    }
}

#[test]
fn serve_refuses_a_dev_issuer_without_dev_mode_naming_the_issuer_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for dev_mode in [None, Some(false)] {
        let config = dev_issuer_config(dir.path(), dev_mode);
        let (ok, stderr) = run_to_exit(gatehouse(&config, &["serve"]));
        assert!(!ok, "{stderr}");
        assert!(
            stderr.contains("auth.issuers[0].dev_private_key_file")
                && stderr.contains(common::ES_ISSUER)
                && stderr.contains("fixtures/keys/issuer-es256.key")
                && stderr.contains("dev_mode = true"),
            "{stderr}"
        );
        assert!(!stderr.contains("gatehouse listening"), "{stderr}");
    }
}

#[test]
fn with_dev_mode_serve_starts_and_warns_and_token_minting_never_needed_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dev_issuer_config(dir.path(), None);
    // Minting a development token reads the same issuer and keeps working without dev_mode.
    let (ok, stderr) = run_to_exit(gatehouse(
        &config,
        &["token", "mint", "--issuer", common::ES_ISSUER, "--sub", "dana"],
    ));
    assert!(ok, "{stderr}");

    let config = dev_issuer_config(dir.path(), Some(true));
    let (_served, lines) = start_lines(gatehouse(&config, &["serve"]));
    let warning = lines
        .iter()
        .find(|l| l.contains("WARN") && l.contains("issuer-es256.key"))
        .unwrap_or_else(|| panic!("no dev_mode warning naming the key in:\n{}", lines.join("\n")));
    assert!(warning.contains(common::ES_ISSUER), "{warning}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("dev_mode = true")),
        "{}",
        lines.join("\n")
    );

    // The environment turns it on as well as the file.
    let config = dev_issuer_config(dir.path(), None);
    let mut command = gatehouse(&config, &["serve"]);
    command.env("GATEHOUSE_DEV_MODE", "true");
    let (_served, lines) = start_lines(command);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("issuer-es256.key")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn an_unknown_gatehouse_variable_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path());
    for (name, value) in [
        ("GATEHOUSE_FOO", "1"),
        ("GATEHOUSE_DATABSE_URL", "sqlite://x.db"),
        ("GATEHOUSE_HTTP__MAX_CONECTIONS", "5"),
    ] {
        let mut command = gatehouse(&config, &["serve"]);
        command.env(name, value);
        let (ok, stderr) = run_to_exit(command);
        assert!(!ok, "{stderr}");
        assert!(stderr.contains(&format!("`{name}`")), "{stderr}");
    }
    // Variables that are not configuration by design do not stop it.
    let mut command = gatehouse(&config, &["serve"]);
    command
        .env("GATEHOUSE_TEST_SOMETHING", "x")
        .env("GATEHOUSE_TOKEN", "not-a-config-key")
        .env("GATEHOUSE_BENCH_SECONDS", "1");
    let (_served, _lines) = start_lines(command);
}

#[test]
fn platform_overrides_reach_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path());
    // A value serve cannot use is refused naming the variable: the override is read, not ignored
    // (tests/releases.rs downloads against an overridden cap).
    let mut command = gatehouse(&config, &["serve"]);
    command.env("GATEHOUSE_PLATFORM__DOWNLOAD_MAX_BYTES", "lots");
    let (ok, stderr) = run_to_exit(command);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("`GATEHOUSE_PLATFORM__DOWNLOAD_MAX_BYTES`")
            && stderr.contains("platform.download_max_bytes"),
        "{stderr}"
    );
    let mut command = gatehouse(&config, &["serve"]);
    command.env("GATEHOUSE_PLATFORM__DOWNLOAD_MAX_BYTES", "1024");
    let (_served, _lines) = start_lines(command);
}
