//! TLS on the listener: HTTPS only once `[tls]` is set, client certificates verified against
//! `client_ca_file` (optional by default, or required), handshakes bounded and capped like
//! request heads, and unusable files refused at start-up naming their key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::tls::{Pki, over_https};
use common::{Db, TestApp, read, test_config};
use gatehouse::http::ClientAuth;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

async fn spawn_tls(pki: &Pki, edit: impl FnOnce(&mut gatehouse::Config)) -> TestApp {
    let db = Db::sqlite();
    let mut config = test_config(&db);
    config.tls = pki.tls_config(false);
    edit(&mut config);
    TestApp::spawn_with(db, config).await
}

async fn healthz(client: &reqwest::Client, base: &str) -> Result<u16, reqwest::Error> {
    Ok(client
        .get(format!("{base}/healthz"))
        .send()
        .await?
        .status()
        .as_u16())
}

#[tokio::test]
async fn the_listener_speaks_https_only() {
    let pki = Pki::new("test CA");
    let app = spawn_tls(&pki, |_| {}).await;
    let plain_base = app.base.clone();
    let app = over_https(app, pki.client(None));
    assert_eq!(healthz(&app.http, &app.base).await.unwrap(), 200);
    let (status, body) = read(
        app.http
            .get(format!("{}/v1/registry", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["type"], "urn:gatehouse:problem:unauthenticated");

    // Plain HTTP to the TLS port gets no HTTP answer at all.
    let plain = reqwest::Client::new();
    assert!(healthz(&plain, &plain_base).await.is_err());
    // A client that does not trust the gateway's CA refuses the connection.
    let other = Pki::new("another CA");
    assert!(healthz(&other.client(None), &app.base).await.is_err());
    // The server still serves after those failed handshakes.
    assert_eq!(healthz(&app.http, &app.base).await.unwrap(), 200);
}

#[tokio::test]
async fn client_certificates_are_verified_and_optional_by_default() {
    let mut pki = Pki::new("test CA");
    let app = spawn_tls(&pki, |c| c.tls = pki.tls_config(true)).await;
    let (cert, key) = pki.leaf("ci-runner", Vec::new());
    let with_cert = pki.client(Some((&cert, &key)));
    assert_eq!(healthz(&with_cert, &https(&app)).await.unwrap(), 200);
    let without = pki.client(None);
    assert_eq!(healthz(&without, &https(&app)).await.unwrap(), 200);

    // A certificate from a CA the gateway does not trust fails the handshake.
    let mut stranger = Pki::new("stranger CA");
    let (cert, key) = stranger.leaf("kube-apiserver", Vec::new());
    let forged = pki.client(Some((&cert, &key)));
    assert!(healthz(&forged, &https(&app)).await.is_err());
}

#[tokio::test]
async fn a_required_client_certificate_refuses_clients_without_one() {
    let mut pki = Pki::new("test CA");
    let app = spawn_tls(&pki, |c| {
        c.tls = pki.tls_config(true);
        c.tls.client_auth = ClientAuth::Required;
    })
    .await;
    assert!(healthz(&pki.client(None), &https(&app)).await.is_err());
    let (cert, key) = pki.leaf("ci-runner", Vec::new());
    assert_eq!(
        healthz(&pki.client(Some((&cert, &key))), &https(&app))
            .await
            .unwrap(),
        200
    );
}

#[tokio::test]
async fn a_stalled_handshake_is_closed_at_the_header_timeout_and_holds_a_connection_slot() {
    let pki = Pki::new("test CA");
    let app = spawn_tls(&pki, |c| {
        c.http.header_read_timeout_seconds = 1;
        c.http.max_connections = 1;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Connects and never starts the handshake: it takes the only slot until the timeout.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf))
        .await
        .expect("a connection that never handshakes was not closed");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    // The slot is free again: a real client is served.
    assert_eq!(healthz(&pki.client(None), &https(&app)).await.unwrap(), 200);
}

#[tokio::test]
async fn unusable_tls_files_stop_start_up_naming_the_key() {
    let pki = Pki::new("test CA");
    let other = Pki::new("other CA");
    let cases: Vec<(gatehouse::http::TlsConfig, &str)> = vec![
        // A key that is not the certificate's.
        (
            gatehouse::http::TlsConfig {
                key_file: Some(other.server_key.clone()),
                ..pki.tls_config(false)
            },
            "tls.key_file",
        ),
        // A key file that holds a certificate.
        (
            gatehouse::http::TlsConfig {
                key_file: Some(pki.server_cert.clone()),
                ..pki.tls_config(false)
            },
            "tls.key_file",
        ),
        (
            gatehouse::http::TlsConfig {
                cert_file: Some(pki.dir.path().join("missing.crt")),
                ..pki.tls_config(false)
            },
            "tls.cert_file",
        ),
        (
            gatehouse::http::TlsConfig {
                client_ca_file: Some(pki.server_key.clone()),
                ..pki.tls_config(false)
            },
            "tls.client_ca_file",
        ),
    ];
    for (tls, key) in cases {
        let db = Db::sqlite();
        let mut config = test_config(&db);
        config.tls = tls;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let error = match gatehouse::Application::build_on(config, listener).await {
            Ok(_) => panic!("started with a bad `{key}`"),
            Err(error) => format!("{error:#}"),
        };
        assert!(error.contains(&format!("`{key}`")), "{key}: {error}");
        // Nothing secret is echoed: the key's PEM never reaches the message.
        assert!(!error.contains("PRIVATE KEY"), "{error}");
    }
}

#[test]
fn tls_keys_that_belong_together_are_checked_when_the_config_loads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(&file, "[tls]\ncert_file = \"server.crt\"\n").unwrap();
    let error = gatehouse::Config::load_with_env(Some(&file), &[])
        .unwrap_err()
        .to_string();
    assert!(error.contains("`tls.key_file`"), "{error}");
    std::fs::write(
        &file,
        "[tls]\ncert_file = \"a\"\nkey_file = \"b\"\nclient_auth = \"required\"\n",
    )
    .unwrap();
    let error = gatehouse::Config::load_with_env(Some(&file), &[])
        .unwrap_err()
        .to_string();
    assert!(error.contains("`tls.client_auth`"), "{error}");
}

fn https(app: &TestApp) -> String {
    app.base.replacen("http://", "https://", 1)
}
