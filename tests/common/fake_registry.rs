//! A loopback registry for ONE image and the sigstore bundles attached to it as OCI 1.1
//! referrers (cosign `specs/BUNDLE_SPEC.md` layout), because the distribution registry packaged
//! here has no referrers API. It serves `/v2/<name>/manifests|blobs|referrers/...`, either with
//! the referrers API or, without it (404, as distribution answers), with the referrers tag
//! schema's index under `sha256-<hex>`. Authentication is not checked: the gateway's pull token
//! is tested against the real registry elsewhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::registry::sha256_digest;

/// OCI media types the fake writes.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The image index media type.
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The empty config of artifacts.
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// How the fake lists referrers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// `GET /v2/<name>/referrers/<digest>` answers the index.
    Api,
    /// That answers 404; the index is the manifest tagged `sha256-<hex>`.
    TagSchema,
}

/// One image, its referrers and every manifest and blob the fake serves.
#[derive(Clone)]
pub struct FakeImage {
    /// The repository, e.g. `gpuaas/apps/team-a/web`.
    pub repository: String,
    /// The image manifest's digest.
    pub digest: String,
    /// The image manifest's bytes (what a message-signature bundle signs).
    pub manifest: Vec<u8>,
    manifests: HashMap<String, (String, Vec<u8>)>,
    blobs: HashMap<String, Vec<u8>>,
    referrers: Vec<Value>,
}

impl FakeImage {
    /// An image in `repository` whose manifest is made from `seed`.
    pub fn new(repository: &str, seed: &str) -> Self {
        let config = serde_json::to_vec(&json!({ "seed": seed })).unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": sha256_digest(&config), "size": config.len() },
            "layers": [],
        }))
        .unwrap();
        let digest = sha256_digest(&manifest);
        let mut image = Self {
            repository: repository.to_owned(),
            digest: digest.clone(),
            manifest: manifest.clone(),
            manifests: HashMap::new(),
            blobs: HashMap::new(),
            referrers: Vec::new(),
        };
        image.manifests.insert(digest, (MANIFEST.to_owned(), manifest));
        image.blobs.insert(sha256_digest(&config), config);
        image
    }

    /// Attaches `bundle` as a referrer of this image (its manifest's subject is the image).
    pub fn attach(&mut self, bundle: &Value) -> String {
        let subject = self.digest.clone();
        self.attach_with_subject(bundle, &subject)
    }

    /// Attaches `bundle` in a manifest whose subject is `subject`, yet lists it for this image
    /// (as a careless registry or a hand-made tag index might).
    pub fn attach_with_subject(&mut self, bundle: &Value, subject: &str) -> String {
        let media_type = bundle["mediaType"].as_str().unwrap().to_owned();
        let bytes = serde_json::to_vec(bundle).unwrap();
        let bundle_digest = sha256_digest(&bytes);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "artifactType": media_type,
            "config": { "mediaType": EMPTY, "digest": sha256_digest(b"{}"), "size": 2 },
            "layers": [{ "mediaType": media_type, "digest": bundle_digest, "size": bytes.len(),
                         "annotations": { "org.opencontainers.image.title":
                                          format!("{}.sigstore.json", bundle_digest.replace(':', "-")) } }],
            "subject": { "mediaType": MANIFEST, "digest": subject, "size": self.manifest.len() },
        }))
        .unwrap();
        let digest = sha256_digest(&manifest);
        self.referrers.push(json!({
            "mediaType": MANIFEST, "digest": digest, "size": manifest.len(), "artifactType": media_type,
        }));
        self.manifests
            .insert(digest.clone(), (MANIFEST.to_owned(), manifest));
        self.blobs.insert(bundle_digest, bytes);
        self.blobs.insert(sha256_digest(b"{}"), b"{}".to_vec());
        digest
    }

    fn index(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": self.referrers }))
            .unwrap()
    }
}

struct Served {
    image: FakeImage,
    listing: Listing,
    requests: Mutex<Vec<String>>,
}

/// A running fake registry.
pub struct FakeRegistry {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// `127.0.0.1:<port>`.
    pub host: String,
    served: Arc<Served>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeRegistry {
    /// Serves `image` and its referrers, listed as `listing` says.
    pub async fn start(image: FakeImage, listing: Listing) -> Self {
        let mut image = image;
        if listing == Listing::TagSchema {
            let tag = image.digest.replacen(':', "-", 1);
            let index = image.index();
            image.manifests.insert(tag, (INDEX.to_owned(), index));
        }
        let served = Arc::new(Served {
            image,
            listing,
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new().fallback(serve).with_state(served.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url: format!("http://{host}"),
            host,
            served,
            task,
        }
    }

    /// Every request path served so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.served.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(served): State<Arc<Served>>, method: Method, uri: Uri) -> Response {
    served
        .requests
        .lock()
        .unwrap()
        .push(format!("{method} {}", uri.path()));
    let image = &served.image;
    let Some(rest) = uri.path().strip_prefix("/v2/") else {
        return not_found();
    };
    if rest.is_empty() {
        return (StatusCode::OK, "{}").into_response();
    }
    let route = ["manifests", "blobs", "referrers"].into_iter().find_map(|kind| {
        rest.rsplit_once(&format!("/{kind}/"))
            .map(|(name, r)| (name, kind, r))
    });
    let Some((name, kind, reference)) = route else {
        return not_found();
    };
    if name != image.repository {
        return not_found();
    }
    match kind {
        "manifests" => match image.manifests.get(reference) {
            Some((media_type, bytes)) => content(media_type, bytes),
            None => not_found(),
        },
        "blobs" => match image.blobs.get(reference) {
            Some(bytes) => content("application/octet-stream", bytes),
            None => not_found(),
        },
        // The API lists this image's referrers (as attached, whatever their subject).
        _ if served.listing == Listing::Api && reference == image.digest => content(INDEX, &image.index()),
        _ if served.listing == Listing::Api => content(
            INDEX,
            &serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": INDEX, "manifests": [] }))
            .unwrap(),
        ),
        _ => not_found(),
    }
}

fn content(media_type: &str, bytes: &[u8]) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, media_type)
        .header("docker-content-digest", sha256_digest(bytes))
        .body(Body::from(bytes.to_vec()))
        .unwrap()
}

/// What distribution answers for an unknown route or content.
fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"errors":[{"code":"NOT_FOUND","message":"not found"}]}"#,
    )
        .into_response()
}
