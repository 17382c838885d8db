//! A loopback stand-in for the internal artifact store: serves objects by key over HTTP on a
//! free port, and lets a test replace an object's bytes (tampering) or stop the server (outage).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

type Objects = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// A running store; dropped or [`BlobStore::stop`]ped, it stops answering.
pub struct BlobStore {
    /// Base URL (`http://127.0.0.1:<port>/store`) to configure as `artifact_store.url`.
    pub url: String,
    objects: Objects,
    task: tokio::task::JoinHandle<()>,
}

impl BlobStore {
    /// Starts an empty store.
    pub async fn start() -> Self {
        let objects: Objects = Arc::default();
        let app = Router::new()
            .route("/store/{*key}", get(object))
            .with_state(objects.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/store", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, objects, task }
    }

    /// Puts (or replaces) the object at `key`.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        self.objects
            .lock()
            .unwrap()
            .insert(key.to_owned(), bytes.to_vec());
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

async fn object(State(objects): State<Objects>, Path(key): Path<String>) -> impl IntoResponse {
    match objects.lock().unwrap().get(&key) {
        Some(bytes) => (StatusCode::OK, bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
