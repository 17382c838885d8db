//! A real CNCF distribution registry for tests (Debian `docker-registry`), a token realm and a
//! notification recorder on loopback, and an OCI image writer plus skopeo wrappers.
//!
//! Under `CI=true` a missing `docker-registry` or `skopeo` is a failure; elsewhere the test is
//! skipped with a notice.
//!
//! Free port: the registry is configured with `http.addr: 127.0.0.1:0`, binds a port itself and
//! logs `listening on 127.0.0.1:<port>` (distribution 2.8.2 logs the bound address); the harness
//! reads that line from its stderr. No port is ever bound, dropped and reused.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use gatehouse::domain::AccessGrant;
use gatehouse::registry::{TokenSigner, intersect, parse_scopes, token_response};
use serde_json::json;
use sha2::Digest as _;

/// The registry's `auth.token.service`, and so the tokens' `aud`.
pub const SERVICE: &str = "gatehouse-registry-test";
/// The tokens' `iss`.
pub const ISSUER: &str = "gatehouse-test";

fn on_path(binary: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|candidate| candidate.is_file())
    })
}

/// `true` when `docker-registry` and `skopeo` are installed; otherwise fails under CI or
/// prints a skip notice.
pub fn tools_available() -> bool {
    let missing: Vec<&str> = ["docker-registry", "skopeo"]
        .into_iter()
        .filter(|b| on_path(b).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    super::skip::missing(&format!("{missing:?} not installed"), "the real-registry tests");
    false
}

/// The fixture signer the test registry trusts.
pub fn fixture_signer() -> TokenSigner {
    signer_from("token")
}

/// A signer whose key the registry does not trust.
pub fn untrusted_signer() -> TokenSigner {
    signer_from("other")
}

fn signer_from(stem: &str) -> TokenSigner {
    TokenSigner::from_files(
        &super::repo_path(&format!("fixtures/registry/{stem}.key")),
        &super::repo_path(&format!("fixtures/registry/{stem}.crt")),
        ISSUER.to_owned(),
        SERVICE.to_owned(),
    )
    .unwrap()
}

/// How to configure the registry.
pub struct RegistryOptions {
    /// Token realm URL.
    pub realm: String,
    /// Notification endpoint URL.
    pub notify_url: String,
    /// Secret sent as `Authorization: Bearer <secret>` with notifications.
    pub notify_secret: String,
}

/// A running `docker-registry serve`, killed on drop.
pub struct TestRegistry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts a registry with token auth and notifications as given.
    pub fn start(options: &RegistryOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            r#"version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  secret: gatehouse-test-http-secret
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {bundle}
notifications:
  endpoints:
    - name: gatehouse
      url: {notify}
      headers:
        Authorization: [Bearer {secret}]
      timeout: 2s
      threshold: 3
      backoff: 1s
"#,
            root = dir.path().join("data").display(),
            realm = options.realm,
            service = SERVICE,
            issuer = ISSUER,
            bundle = super::repo_path("fixtures/registry/token.crt").display(),
            notify = options.notify_url,
            secret = options.notify_secret,
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        // Keep draining stderr for the registry's lifetime so its writes never block.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = listening_addr(&line) {
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "registry did not report its address; log:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        Self {
            host: addr.to_string(),
            url: format!("http://{addr}"),
            child,
            logs,
            _dir: dir,
        }
    }

    /// The registry's storage directory on disk (tests corrupt blobs there).
    pub fn storage_dir(&self) -> PathBuf {
        self._dir.path().join("data")
    }

    /// The registry's log so far (for failure messages).
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in distribution's `msg="listening on 127.0.0.1:43735"` log line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on ")?;
    let addr: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    addr.parse().ok()
}

/// Serves a router on a port the listener picks itself; answers its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// One credential the token realm knows.
pub struct Credential {
    /// Basic auth password.
    pub password: String,
    /// Token `sub`.
    pub subject: String,
    /// What it may be granted at most.
    pub allowed: Vec<AccessGrant>,
}

struct RealmState {
    signer: TokenSigner,
    users: HashMap<String, Credential>,
}

/// A token realm like the gateway's: Basic auth, then `intersect(requested, allowed)`.
pub async fn start_token_realm(signer: TokenSigner, users: HashMap<String, Credential>) -> String {
    let state = Arc::new(RealmState { signer, users });
    let base = serve(
        Router::new()
            .route("/token", get(token_handler))
            .with_state(state),
    )
    .await;
    format!("{base}/token")
}

async fn token_handler(
    State(state): State<Arc<RealmState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((user, password)) = basic_auth(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(credential) = state.users.get(&user).filter(|c| c.password == password) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let scopes: Vec<String> = query_pairs(query.as_deref().unwrap_or(""))
        .into_iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v)
        .collect();
    let Ok(requested) = parse_scopes(&scopes) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let access = intersect(&requested, &credential.allowed);
    let signed = state
        .signer
        .sign(&credential.subject, &access, Duration::from_secs(300))
        .unwrap();
    axum::Json(token_response(&signed)).into_response()
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// `application/x-www-form-urlencoded` pairs, keeping repeated keys (axum's `Query` cannot).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One notification request as the recorder saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `Authorization` header.
    pub authorization: Option<String>,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// Body.
    pub body: Vec<u8>,
}

/// A notification endpoint that records every request and answers 200.
pub struct Recorder {
    /// Where to send notifications.
    pub url: String,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    /// Starts recording.
    pub async fn start() -> Self {
        let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let base = serve(
            Router::new()
                .route("/events", post(record))
                .with_state(Arc::clone(&seen)),
        )
        .await;
        Self {
            url: format!("{base}/events"),
            seen,
        }
    }

    /// Everything recorded so far.
    pub fn all(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until some recorded request satisfies `found`, or `None` after `timeout`.
    pub async fn wait_for(&self, timeout: Duration, found: impl Fn(&Recorded) -> bool) -> Option<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(hit) = self.all().into_iter().find(|r| found(r)) {
                return Some(hit);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn record(
    State(seen): State<Arc<Mutex<Vec<Recorded>>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    seen.lock().unwrap().push(Recorded {
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: body.to_vec(),
    });
    StatusCode::OK
}

/// `sha256:<hex>` of bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// A written OCI image layout.
pub struct OciImage {
    /// The layout directory (`oci:<dir>:<tag>`).
    pub dir: tempfile::TempDir,
    /// The tag inside the layout.
    pub tag: String,
    /// Digest of the image manifest.
    pub manifest_digest: String,
    /// Size of the image manifest.
    pub manifest_size: usize,
}

/// An OCI image layout being written: blobs first, then one manifest under a tag.
pub struct LayoutWriter {
    dir: tempfile::TempDir,
}

impl LayoutWriter {
    /// A new, empty layout in a temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        Self { dir }
    }

    /// Stores a blob; answers its digest.
    pub fn put(&self, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let path = self
            .dir
            .path()
            .join("blobs/sha256")
            .join(&digest["sha256:".len()..]);
        std::fs::write(path, bytes).unwrap();
        digest
    }

    /// Stores `manifest` (an OCI image manifest) and names it `tag` in the layout's index.
    pub fn finish(self, tag: &str, manifest: &serde_json::Value) -> OciImage {
        let manifest = serde_json::to_vec(manifest).unwrap();
        let manifest_digest = self.put(&manifest);
        let index = json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest.len(),
                "annotations": { "org.opencontainers.image.ref.name": tag },
            }],
        });
        let root = self.dir.path();
        std::fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        std::fs::write(root.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        OciImage {
            dir: self.dir,
            tag: tag.to_owned(),
            manifest_digest,
            manifest_size: manifest.len(),
        }
    }
}

/// Writes a one-layer OCI image (a gzip layer holding one file whose content is `seed`).
pub fn write_oci_image(seed: &str, tag: &str) -> OciImage {
    let layout = LayoutWriter::new();
    let tar = tar_one_file("hello.txt", seed.as_bytes());
    // Already gzip, so skopeo pushes the bytes as they are and the manifest digest holds.
    let layer = gzip_stored(&tar);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [sha256_digest(&tar)] },
    }))
    .unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": layout.put(&config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layout.put(&layer),
            "size": layer.len(),
        }],
    });
    layout.finish(tag, &manifest)
}

/// A ustar archive holding one regular file.
fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let field = |header: &mut [u8; 512], at: usize, value: &[u8]| {
        header[at..at + value.len()].copy_from_slice(value);
    };
    field(&mut header, 0, name.as_bytes());
    field(&mut header, 100, b"0000644\0");
    field(&mut header, 108, b"0000000\0");
    field(&mut header, 116, b"0000000\0");
    field(&mut header, 124, format!("{:011o}\0", content.len()).as_bytes());
    field(&mut header, 136, b"00000000000\0");
    field(&mut header, 148, b"        ");
    header[156] = b'0';
    field(&mut header, 257, b"ustar\0");
    field(&mut header, 263, b"00");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    field(&mut header, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Gzip with one stored (uncompressed) deflate block: valid gzip without a compressor.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    assert!(data.len() <= 0xffff, "one stored block holds at most 64 KiB");
    let len = u16::try_from(data.len()).unwrap();
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.push(1); // BFINAL, stored
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// How skopeo authenticates to the registry.
pub enum Auth<'a> {
    /// Basic credentials for the token realm.
    Creds(&'a str, &'a str),
    /// A bearer token sent as is.
    Token(&'a str),
}

async fn skopeo(args: &[String], auth_flags: Vec<String>) -> Result<String, String> {
    // A private auth file, so no credentials of the machine's user are read or written.
    let authdir = tempfile::tempdir().unwrap();
    // Async, so the realm and recorder on this test's runtime keep answering while skopeo runs.
    let output = tokio::process::Command::new("skopeo")
        .arg("--insecure-policy")
        .arg("copy")
        .args(["--retry-times", "0"])
        .args(auth_flags)
        .args(args)
        .env("REGISTRY_AUTH_FILE", authdir.path().join("auth.json"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("skopeo took over 120 s")
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn auth_flags(side: &str, auth: &Auth<'_>) -> Vec<String> {
    match auth {
        Auth::Creds(user, pass) => vec![format!("--{side}-creds"), format!("{user}:{pass}")],
        Auth::Token(token) => vec![format!("--{side}-registry-token"), (*token).to_owned()],
    }
}

/// Pushes the image to `<host>/<repo>:<tag>`; answers the pushed manifest digest or skopeo's
/// error text.
pub async fn skopeo_push(
    image: &OciImage,
    host: &str,
    repo: &str,
    auth: &Auth<'_>,
) -> Result<String, String> {
    let digestfile = tempfile::NamedTempFile::new().unwrap();
    skopeo(
        &[
            "--dest-tls-verify=false".to_owned(),
            "--preserve-digests".to_owned(),
            "--digestfile".to_owned(),
            digestfile.path().display().to_string(),
            format!("oci:{}:{}", image.dir.path().display(), image.tag),
            format!("docker://{host}/{repo}:{}", image.tag),
        ],
        auth_flags("dest", auth),
    )
    .await?;
    Ok(std::fs::read_to_string(digestfile.path())
        .unwrap()
        .trim()
        .to_owned())
}

/// Pulls `<host>/<repo>@<digest>` into a fresh OCI layout; answers skopeo's error text on
/// failure.
pub async fn skopeo_pull(host: &str, repo: &str, digest: &str, auth: &Auth<'_>) -> Result<PathBuf, String> {
    let dir = tempfile::tempdir().unwrap().keep();
    skopeo(
        &[
            "--src-tls-verify=false".to_owned(),
            format!("docker://{host}/{repo}@{digest}"),
            format!("oci:{}:pulled", dir.display()),
        ],
        auth_flags("src", auth),
    )
    .await?;
    Ok(dir)
}

/// Whether a pulled layout holds the blob `digest`.
pub fn layout_has_blob(dir: &Path, digest: &str) -> bool {
    dir.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
        .is_file()
}
