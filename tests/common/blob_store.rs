//! A loopback stand-in for the internal artifact store: serves objects by key over HTTP on a
//! free port, and lets a test replace an object's bytes (tampering) or stop the server (outage).
//!
//! Started with [`BlobStore::start_requiring_tokens`], it behaves like the store the gateway's
//! object tokens are for: every request needs `Authorization: Bearer <object token>`, verified
//! with the gateway's certificate (ES256 only, its own audience, no leeway on `exp`), and the
//! token must name the requested key. It serves `Range: bytes=N-` (206 with `Content-Range`), and
//! can cut its next response after a number of bytes to simulate an interrupted download.

#![allow(
    clippy::disallowed_types,
    reason = "a stand-in object store, not the gateway: its rejections need not be problem+json"
)]
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// How requests are checked.
struct TokenCheck {
    key: DecodingKey,
    audience: String,
}

/// One request the store answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The object key asked for.
    pub key: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    objects: Mutex<HashMap<String, Vec<u8>>>,
    tokens: Option<TokenCheck>,
    cut_next_after: Mutex<Option<usize>>,
    served: Mutex<Vec<Served>>,
}

/// A running store; dropped or [`BlobStore::stop`]ped, it stops answering.
pub struct BlobStore {
    /// Base URL (`http://127.0.0.1:<port>/store`) to configure as `artifact_store.url`.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl BlobStore {
    /// Starts an empty store that serves anyone.
    pub async fn start() -> Self {
        Self::serve(Shared::default()).await
    }

    /// Starts an empty store that serves only holders of an object token signed by the key of
    /// the certificate `cert_pem`, with `aud` = `audience`, naming the requested key.
    pub async fn start_requiring_tokens(cert_pem: &FsPath, audience: &str) -> Self {
        let pem = std::fs::read(cert_pem).unwrap();
        Self::serve(Shared {
            tokens: Some(TokenCheck {
                key: DecodingKey::from_ec_pem(&pem).unwrap(),
                audience: audience.to_owned(),
            }),
            ..Shared::default()
        })
        .await
    }

    async fn serve(shared: Shared) -> Self {
        let shared = Arc::new(shared);
        let app = Router::new()
            .route("/store/{*key}", get(object))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/store", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, shared, task }
    }

    /// Puts (or replaces) the object at `key`.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        self.shared
            .objects
            .lock()
            .unwrap()
            .insert(key.to_owned(), bytes.to_vec());
    }

    /// Flips the last byte of the object at `key` (same size, other content).
    pub fn tamper(&self, key: &str) {
        let mut objects = self.shared.objects.lock().unwrap();
        let bytes = objects.get_mut(key).unwrap();
        let last = bytes.last_mut().unwrap();
        *last ^= 0xff;
    }

    /// The next successful response sends `bytes` bytes of its body, then breaks the connection.
    pub fn cut_next_response_after(&self, bytes: usize) {
        *self.shared.cut_next_after.lock().unwrap() = Some(bytes);
    }

    /// The requests answered so far, in order.
    pub fn served(&self) -> Vec<Served> {
        self.shared.served.lock().unwrap().clone()
    }

    /// Stops answering: connections are refused from now on.
    pub async fn stop(self) {
        self.task.abort();
        // Wait until the listener is closed, so the next connection is refused.
        while !self.task.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

impl Drop for BlobStore {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn object(State(shared): State<Arc<Shared>>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = answer(&shared, &key, range.as_deref(), &headers);
    shared.served.lock().unwrap().push(Served {
        key,
        range,
        status: response.status().as_u16(),
    });
    response
}

fn answer(shared: &Shared, key: &str, range: Option<&str>, headers: &HeaderMap) -> Response {
    if let Some(check) = &shared.tokens
        && let Err(status) = authorize(check, key, headers)
    {
        return status.into_response();
    }
    let Some(bytes) = shared.objects.lock().unwrap().get(key).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let total = bytes.len();
    let (status, start) = match range {
        None => (StatusCode::OK, 0),
        Some(range) => {
            let start = range
                .strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok());
            match start {
                Some(start) if start < total => (StatusCode::PARTIAL_CONTENT, start),
                _ => {
                    return (
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        [(header::CONTENT_RANGE, format!("bytes */{total}"))],
                    )
                        .into_response();
                }
            }
        }
    };
    let body = bytes[start..].to_vec();
    let length = body.len();
    let cut = shared.cut_next_after.lock().unwrap().take();
    let body = match cut {
        // The announced length stays the whole body; the connection breaks after `n` bytes.
        Some(n) if n < length => {
            use futures_util::StreamExt as _;
            let sent = Bytes::from(body[..n].to_vec());
            let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(sent) });
            // The pause lets the sent bytes reach the client before the connection breaks.
            let broken = futures_util::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                Err(std::io::Error::other("store cut the response"))
            });
            Body::from_stream(first.chain(broken))
        }
        _ => Body::from(body),
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, length)
        .header(header::ACCEPT_RANGES, "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{total}", total - 1),
        );
    }
    response.body(body).unwrap()
}

/// The bearer token must verify (ES256, this store's audience, unexpired) and name `key`.
fn authorize(check: &TokenCheck, key: &str, headers: &HeaderMap) -> Result<(), StatusCode> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[&check.audience]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &check.key, &validation)
        .map_err(|_| StatusCode::UNAUTHORIZED)?
        .claims;
    if claims["object"]["key"].as_str() == Some(key) {
        Ok(())
    } else {
        Err(StatusCode::FORBIDDEN)
    }
}
