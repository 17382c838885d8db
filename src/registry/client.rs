//! A small client for the registry API: does the registry hold this manifest, what is it, the
//! bytes of a manifest or blob, checked against their digest, and the manifests that refer to
//! one (OCI 1.1 referrers).
//!
//! Plain reqwest rather than oci-client: we need one HEAD request with a token we mint
//! ourselves, and reqwest is already in the tree; oci-client would bring its own auth flow
//! (token fetching from the realm) that the gateway, being the realm, must not go through.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;
use sha2::Digest as _;

use crate::domain::Digest;

use super::notification::MANIFEST_MEDIA_TYPES;

/// Deadline for one registry call unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// A streamed blob gets this long, plus a second per [`STREAM_MIN_BYTES_PER_SECOND`] bytes it may carry.
const STREAM_DEADLINE_BASE: Duration = Duration::from_secs(30);
/// The slowest transfer a streamed blob is allowed (1 MiB/s).
const STREAM_MIN_BYTES_PER_SECOND: u64 = 1024 * 1024;

/// Largest manifest we read: distribution itself refuses manifests above 4 MiB.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Media type of an OCI image index: the referrers API's answer, and the referrers tag schema's.
pub const IMAGE_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// Most referrers (of the types asked for) one answer may list; more is refused, not truncated,
/// so what was checked never depends on the registry's ordering.
pub const MAX_REFERRERS: usize = 64;

/// One descriptor of a referrers list (distribution-spec 1.1 "Listing Referrers").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Referrer {
    /// The referring manifest's media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// The referring manifest's digest, as listed (parsed by whoever fetches it).
    pub digest: String,
    /// Its size in bytes, as listed.
    #[serde(default)]
    pub size: u64,
    /// What kind of artifact it is (e.g. a sigstore bundle).
    #[serde(rename = "artifactType", default)]
    pub artifact_type: Option<String>,
    /// The referring manifest's annotations, as the registry copied them.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// Talks to one registry's `/v2/` API.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
}

/// What the registry says about a manifest it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    /// The digest, as confirmed by the registry.
    pub digest: Digest,
    /// Its media type (`Content-Type`).
    pub media_type: String,
    /// Its size in bytes (`Content-Length`).
    pub size: u64,
}

/// A manifest's bytes as the registry served them, checked against the digest asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The digest of `bytes` (the one asked for when asked by digest).
    pub digest: Digest,
    /// Its media type (`Content-Type`).
    pub media_type: String,
    /// The manifest exactly as served.
    pub bytes: Vec<u8>,
}

/// Why the registry could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RegistryClientError {
    /// The HTTP client could not be built.
    #[error("cannot build the registry client")]
    Build(#[source] reqwest::Error),
    /// The repository name could not be a registry repository (and must not reach a URL).
    #[error("`{0}` is not a valid repository name")]
    BadRepository(String),
    /// The registry did not answer in time or at all.
    #[error("registry unreachable")]
    Unreachable(#[source] reqwest::Error),
    /// The registry refused our token.
    #[error("registry refused the gateway's token ({0})")]
    Unauthorized(StatusCode),
    /// Any other status.
    #[error("registry answered {0}")]
    Status(StatusCode),
    /// The answer lacks a header we need, or holds a bad one.
    #[error("registry answer has a missing or bad `{0}` header")]
    BadHeader(&'static str),
    /// The registry says the content has another digest.
    #[error("registry answered for digest `{0}`, not the one asked for")]
    DigestMismatch(String),
    /// The tag or digest could not be a registry reference (and must not reach a URL).
    #[error("`{0}` is not a valid tag or digest")]
    BadReference(String),
    /// The body is larger than we agreed to read.
    #[error("registry answer is larger than {0} bytes")]
    TooLarge(u64),
    /// A referrers index that is not an OCI image index we can read.
    #[error("registry answered an unreadable referrers index: {0}")]
    BadIndex(String),
    /// The registry redirected somewhere other than itself.
    #[error("registry redirected to another host (`{0}`)")]
    Redirect(String),
}

impl RegistryClient {
    /// A client for the registry at `base_url` (e.g. `http://127.0.0.1:5000`), 10 s per call.
    pub fn new(base_url: &str) -> Result<Self, RegistryClientError> {
        Self::with_timeout(base_url, DEFAULT_TIMEOUT)
    }

    /// A client with a given deadline per call.
    pub fn with_timeout(base_url: &str, timeout: Duration) -> Result<Self, RegistryClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // The registry is configured, not discovered: never follow it elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(RegistryClientError::Build)?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The manifest's media type and size, `None` when the registry does not hold it.
    pub async fn manifest_info(
        &self,
        repository: &str,
        digest: &Digest,
        token: &str,
    ) -> Result<Option<ManifestInfo>, RegistryClientError> {
        if !is_repository_name(repository) {
            return Err(RegistryClientError::BadRepository(repository.to_owned()));
        }
        let url = format!("{}/v2/{repository}/manifests/{digest}", self.base);
        let response = self
            .http
            .head(url)
            .header(ACCEPT, MANIFEST_MEDIA_TYPES.join(", "))
            .bearer_auth(token)
            .send()
            .await
            .map_err(RegistryClientError::Unreachable)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = check_status(response)?;
        let headers = response.headers();
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .ok_or(RegistryClientError::BadHeader(name))
        };
        // Asked by digest, so the registry must confirm that very digest.
        let confirmed = header("docker-content-digest")?;
        if confirmed != digest.as_str() {
            return Err(RegistryClientError::DigestMismatch(confirmed.to_owned()));
        }
        let media_type = header(CONTENT_TYPE.as_str())?.to_owned();
        let size = header(CONTENT_LENGTH.as_str())?
            .parse::<u64>()
            .map_err(|_| RegistryClientError::BadHeader("content-length"))?;
        Ok(Some(ManifestInfo {
            digest: digest.clone(),
            media_type,
            size,
        }))
    }

    /// The manifest at a tag or digest, `None` when the registry does not hold it.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        token: &str,
    ) -> Result<Option<FetchedManifest>, RegistryClientError> {
        if !is_repository_name(repository) {
            return Err(RegistryClientError::BadRepository(repository.to_owned()));
        }
        // By digest, the bytes must hash to it; by tag, they are named by what they hash to.
        let asked: Option<Digest> = if reference.contains(':') {
            let digest = reference
                .parse()
                .map_err(|_| RegistryClientError::BadReference(reference.to_owned()))?;
            Some(digest)
        } else if is_tag(reference) {
            None
        } else {
            return Err(RegistryClientError::BadReference(reference.to_owned()));
        };
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let response = self
            .http
            .get(url)
            .header(ACCEPT, MANIFEST_MEDIA_TYPES.join(", "))
            .bearer_auth(token)
            .send()
            .await
            .map_err(RegistryClientError::Unreachable)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = check_status(response)?;
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .ok_or(RegistryClientError::BadHeader("content-type"))?;
        let bytes = read_capped(response, MAX_MANIFEST_BYTES).await?;
        let digest = match asked {
            Some(asked) => {
                check_digest(&asked, &bytes)?;
                asked
            }
            // A computed `sha256:` digest always parses; the error arm is never taken.
            None => {
                let computed = sha256_hex(&bytes);
                computed
                    .parse()
                    .map_err(|_| RegistryClientError::DigestMismatch(computed))?
            }
        };
        Ok(Some(FetchedManifest {
            digest,
            media_type,
            bytes,
        }))
    }

    /// A blob's bytes, at most `max_bytes`, checked against `digest`.
    pub async fn get_blob(
        &self,
        repository: &str,
        digest: &Digest,
        token: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, RegistryClientError> {
        let response = self.blob_response(repository, digest, token, None).await?;
        let bytes = read_capped(check_status(response)?, max_bytes).await?;
        check_digest(digest, &bytes)?;
        Ok(bytes)
    }

    /// A blob streamed chunk by chunk, at most `max_bytes`, checked against `digest` as it
    /// passes. The last chunk is held back until the digest matches, so a consumer never
    /// receives every byte of a wrong blob: a mismatch ends the stream with an error instead.
    /// Answers the declared length with the stream.
    pub async fn stream_blob(
        &self,
        repository: &str,
        digest: &Digest,
        token: &str,
        max_bytes: u64,
    ) -> Result<
        (
            Option<u64>,
            impl futures_util::Stream<Item = Result<bytes::Bytes, RegistryClientError>> + Send + 'static,
        ),
        RegistryClientError,
    > {
        // A stream of up to `max_bytes` may take longer than one small call: its own deadline.
        let deadline = STREAM_DEADLINE_BASE + Duration::from_secs(max_bytes / STREAM_MIN_BYTES_PER_SECOND);
        let response = check_status(
            self.blob_response(repository, digest, token, Some(deadline))
                .await?,
        )?;
        let declared = response.content_length();
        if declared.is_some_and(|n| n > max_bytes) {
            return Err(RegistryClientError::TooLarge(max_bytes));
        }
        let hasher: Box<dyn sha2::digest::DynDigest + Send> = match digest.algorithm() {
            "sha512" => Box::new(sha2::Sha512::default()),
            _ => Box::new(sha2::Sha256::default()),
        };
        let state = StreamState {
            response: Some(response),
            hasher,
            total: 0,
            held: None,
            digest: digest.clone(),
            max_bytes,
        };
        Ok((declared, futures_util::stream::unfold(state, StreamState::next)))
    }

    /// The answer to a blob GET, following one redirect back to the registry itself; `deadline`
    /// replaces the per-call one for the whole transfer.
    async fn blob_response(
        &self,
        repository: &str,
        digest: &Digest,
        token: &str,
        deadline: Option<Duration>,
    ) -> Result<Response, RegistryClientError> {
        let get = |url: &str| {
            let request = self.http.get(url).bearer_auth(token);
            match deadline {
                Some(deadline) => request.timeout(deadline),
                None => request,
            }
        };
        if !is_repository_name(repository) {
            return Err(RegistryClientError::BadRepository(repository.to_owned()));
        }
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let mut response = get(&url).send().await.map_err(RegistryClientError::Unreachable)?;
        if response.status().is_redirection() {
            // One hop, and only back to the registry itself: the token must not travel further.
            let target = self.same_host_redirect(&url, &response)?;
            response = get(target.as_str())
                .send()
                .await
                .map_err(RegistryClientError::Unreachable)?;
        }
        Ok(response)
    }

    /// The manifests that name `digest` as their subject and have one of `artifact_types` (all
    /// when empty), from `GET /v2/<name>/referrers/<digest>`. `None` when the registry does not
    /// serve the referrers API (404, 400, 405, 501), so the caller falls back to the referrers
    /// tag schema or cosign's tags. Only the first page is read (a `Link` to more is not
    /// followed): a signature missed that way fails closed, it never passes.
    pub async fn referrers(
        &self,
        repository: &str,
        digest: &Digest,
        artifact_types: &[&str],
        token: &str,
    ) -> Result<Option<Vec<Referrer>>, RegistryClientError> {
        if !is_repository_name(repository) {
            return Err(RegistryClientError::BadRepository(repository.to_owned()));
        }
        let url = format!("{}/v2/{repository}/referrers/{digest}", self.base);
        let mut url =
            Url::parse(&url).map_err(|_| RegistryClientError::BadRepository(repository.to_owned()))?;
        // The filter is a hint registries may ignore; the answer is filtered here either way.
        if let [only] = artifact_types {
            url.query_pairs_mut().append_pair("artifactType", only);
        }
        let response = self
            .http
            .get(url)
            .header(ACCEPT, IMAGE_INDEX_MEDIA_TYPE)
            .bearer_auth(token)
            .send()
            .await
            .map_err(RegistryClientError::Unreachable)?;
        if matches!(
            response.status(),
            StatusCode::NOT_FOUND
                | StatusCode::BAD_REQUEST
                | StatusCode::METHOD_NOT_ALLOWED
                | StatusCode::NOT_IMPLEMENTED
        ) {
            return Ok(None);
        }
        let bytes = read_capped(check_status(response)?, MAX_MANIFEST_BYTES).await?;
        referrers_in_index(&bytes, artifact_types).map(Some)
    }

    /// The redirect target when it is on the registry's own scheme, host and port.
    fn same_host_redirect(&self, from: &str, response: &Response) -> Result<Url, RegistryClientError> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(RegistryClientError::BadHeader("location"))?;
        let bad = || RegistryClientError::Redirect(location.to_owned());
        let base = Url::parse(&self.base).map_err(|_| bad())?;
        let target = Url::parse(from)
            .and_then(|u| u.join(location))
            .map_err(|_| bad())?;
        let same = target.scheme() == base.scheme()
            && target.host_str() == base.host_str()
            && target.port_or_known_default() == base.port_or_known_default();
        if same { Ok(target) } else { Err(bad()) }
    }
}

/// The descriptors of an OCI image index (a referrers answer, or the index at the referrers
/// tag schema's `<alg>-<hex>` tag) that have one of `artifact_types` (all when empty), at most
/// [`MAX_REFERRERS`].
pub fn referrers_in_index(
    bytes: &[u8],
    artifact_types: &[&str],
) -> Result<Vec<Referrer>, RegistryClientError> {
    #[derive(Deserialize)]
    struct Index {
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        manifests: Vec<Referrer>,
    }
    let index: Index =
        serde_json::from_slice(bytes).map_err(|e| RegistryClientError::BadIndex(e.to_string()))?;
    if let Some(media_type) = index.media_type.filter(|m| m != IMAGE_INDEX_MEDIA_TYPE) {
        return Err(RegistryClientError::BadIndex(format!(
            "media type `{media_type}`, not `{IMAGE_INDEX_MEDIA_TYPE}`"
        )));
    }
    let wanted: Vec<Referrer> = index
        .manifests
        .into_iter()
        .filter(|r| {
            artifact_types.is_empty()
                || r.artifact_type
                    .as_deref()
                    .is_some_and(|t| artifact_types.contains(&t))
        })
        .collect();
    if wanted.len() > MAX_REFERRERS {
        return Err(RegistryClientError::BadIndex(format!(
            "{} referrers, more than {MAX_REFERRERS}",
            wanted.len()
        )));
    }
    Ok(wanted)
}

/// A blob stream in progress; `response` is `None` once it has ended.
struct StreamState {
    response: Option<Response>,
    hasher: Box<dyn sha2::digest::DynDigest + Send>,
    total: u64,
    held: Option<bytes::Bytes>,
    digest: Digest,
    max_bytes: u64,
}

impl StreamState {
    /// The next chunk to hand out: each chunk is released when the one after it arrives, the
    /// last only once the whole blob hashed to the digest.
    async fn next(mut self) -> Option<(Result<bytes::Bytes, RegistryClientError>, Self)> {
        loop {
            let response = self.response.as_mut()?;
            match response.chunk().await {
                Err(e) => return self.fail(RegistryClientError::Unreachable(e)),
                Ok(Some(chunk)) => {
                    self.total += chunk.len() as u64;
                    if self.total > self.max_bytes {
                        let cap = self.max_bytes;
                        return self.fail(RegistryClientError::TooLarge(cap));
                    }
                    self.hasher.update(&chunk);
                    if let Some(previous) = self.held.replace(chunk) {
                        return Some((Ok(previous), self));
                    }
                }
                Ok(None) => {
                    self.response = None;
                    let hash = std::mem::replace(&mut self.hasher, Box::new(sha2::Sha256::default()));
                    let actual = format!("{}:{}", self.digest.algorithm(), hex::encode(hash.finalize()));
                    if actual != self.digest.as_str() {
                        return Some((Err(RegistryClientError::DigestMismatch(actual)), self));
                    }
                    let last = self.held.take()?;
                    return Some((Ok(last), self));
                }
            }
        }
    }

    fn fail(
        mut self,
        error: RegistryClientError,
    ) -> Option<(Result<bytes::Bytes, RegistryClientError>, Self)> {
        self.response = None;
        self.held = None;
        Some((Err(error), self))
    }
}

/// Passes a 200, maps refusals and anything else to errors.
fn check_status(response: Response) -> Result<Response, RegistryClientError> {
    match response.status() {
        StatusCode::OK => Ok(response),
        s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(RegistryClientError::Unauthorized(s)),
        s => Err(RegistryClientError::Status(s)),
    }
}

/// The body, refused as soon as it (or its declared length) passes `max_bytes`.
async fn read_capped(mut response: Response, max_bytes: u64) -> Result<Vec<u8>, RegistryClientError> {
    if response.content_length().is_some_and(|n| n > max_bytes) {
        return Err(RegistryClientError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(RegistryClientError::Unreachable)? {
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(RegistryClientError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Errs unless `bytes` hash to `digest` under its own algorithm.
fn check_digest(digest: &Digest, bytes: &[u8]) -> Result<(), RegistryClientError> {
    let actual = match digest.algorithm() {
        "sha512" => format!("sha512:{}", hex::encode(sha2::Sha512::digest(bytes))),
        _ => sha256_hex(bytes),
    };
    if actual == digest.as_str() {
        Ok(())
    } else {
        Err(RegistryClientError::DigestMismatch(actual))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The OCI tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Distribution's repository grammar, loosely: lowercase path components of `[a-z0-9._-]`
/// joined by `/`. Anything else could change the URL's meaning.
fn is_repository_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_that_could_bend_the_url_are_refused() {
        assert!(is_repository_name("gpuaas/apps/demo/web"));
        assert!(is_repository_name("a.b/c_d-e"));
        for bad in ["", "a//b", "../x", "a/./b", "A/b", "a?b", "a#b", "a b", "a/b/"] {
            assert!(!is_repository_name(bad), "`{bad}`");
        }
    }

    #[test]
    fn tags_that_could_bend_the_url_are_refused() {
        assert!(is_tag("v1"));
        assert!(is_tag(&format!("sha256-{}.sig", "a".repeat(64))));
        for bad in ["", ".x", "-x", "a/b", "a?b", "a b", &"a".repeat(129)] {
            assert!(!is_tag(bad), "`{bad}`");
        }
    }

    #[test]
    fn content_is_checked_against_its_own_algorithm() {
        let sha256: Digest = sha256_hex(b"abc").parse().unwrap();
        assert!(check_digest(&sha256, b"abc").is_ok());
        let err = check_digest(&sha256, b"abd").unwrap_err();
        assert!(matches!(err, RegistryClientError::DigestMismatch(d) if d == sha256_hex(b"abd")));
        let sha512: Digest = format!("sha512:{}", hex::encode(sha2::Sha512::digest(b"abc")))
            .parse()
            .unwrap();
        assert!(check_digest(&sha512, b"abc").is_ok());
        assert!(check_digest(&sha512, b"abd").is_err());
    }

    #[test]
    fn a_referrers_index_is_filtered_by_artifact_type_and_bounded() {
        let descriptor = |t: &str| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "digest": sha256_hex(t.as_bytes()), "size": 1, "artifactType": t})
        };
        let index = |items: Vec<serde_json::Value>| {
            serde_json::to_vec(
                &serde_json::json!({"schemaVersion": 2, "mediaType": IMAGE_INDEX_MEDIA_TYPE,
                                                   "manifests": items}),
            )
            .unwrap()
        };
        let bytes = index(vec![
            descriptor("a"),
            descriptor("b"),
            serde_json::json!({"digest": "x"}),
        ]);
        let only_a = referrers_in_index(&bytes, &["a"]).unwrap();
        assert_eq!(only_a.len(), 1);
        assert_eq!(only_a[0].artifact_type.as_deref(), Some("a"));
        assert_eq!(referrers_in_index(&bytes, &[]).unwrap().len(), 3);
        let many = index((0..=MAX_REFERRERS).map(|_| descriptor("a")).collect());
        assert!(matches!(
            referrers_in_index(&many, &["a"]),
            Err(RegistryClientError::BadIndex(_))
        ));
        // Too many of another type is no reason to refuse the ones asked for.
        assert_eq!(referrers_in_index(&many, &["b"]).unwrap().len(), 0);
        let manifest = br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}"#;
        assert!(matches!(
            referrers_in_index(manifest, &[]),
            Err(RegistryClientError::BadIndex(_))
        ));
        assert!(matches!(
            referrers_in_index(b"not json", &[]),
            Err(RegistryClientError::BadIndex(_))
        ));
    }

    #[tokio::test]
    async fn unreachable_registry_is_an_error_not_none() {
        // Port 9 on loopback (discard) is closed here; the call must fail, never answer None.
        let client = RegistryClient::with_timeout("http://127.0.0.1:9", Duration::from_secs(2)).unwrap();
        let digest: Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
        let err = client.manifest_info("a/b", &digest, "t").await.unwrap_err();
        assert!(matches!(err, RegistryClientError::Unreachable(_)), "{err:?}");
    }

    /// Serves one blob GET with a chunked body (so no length is declared up front).
    async fn serve_chunked(body: Vec<u8>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let mut out =
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
            for chunk in body.chunks(1000) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            let _ = socket.write_all(&out).await;
        });
        format!("http://{addr}")
    }

    /// The bytes handed out before the stream ended, and how it ended.
    async fn drain(body: Vec<u8>, digest: &Digest, max_bytes: u64) -> (Vec<u8>, Option<RegistryClientError>) {
        use futures_util::StreamExt as _;
        let client = RegistryClient::new(&serve_chunked(body).await).unwrap();
        let (_, stream) = client
            .stream_blob("gpuaas/platform/cli", digest, "token", max_bytes)
            .await
            .unwrap();
        let mut stream = std::pin::pin!(stream);
        let mut got = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => got.extend_from_slice(&chunk),
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    #[tokio::test]
    async fn a_streamed_blob_is_handed_out_whole_only_when_its_digest_matches() {
        let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let digest: Digest = sha256_hex(&body).parse().unwrap();
        let (got, error) = drain(body.clone(), &digest, 10_000).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(got, body);

        // Another digest: the last chunk is never released, and the stream ends in an error.
        let other: Digest = sha256_hex(b"other").parse().unwrap();
        let (got, error) = drain(body.clone(), &other, 10_000).await;
        assert!(
            matches!(error, Some(RegistryClientError::DigestMismatch(_))),
            "{error:?}"
        );
        assert!(got.len() < body.len() && body.starts_with(&got));

        // Past the cap while streaming (no declared length to refuse up front).
        let (got, error) = drain(body, &digest, 2500).await;
        assert!(
            matches!(error, Some(RegistryClientError::TooLarge(2500))),
            "{error:?}"
        );
        assert!(got.len() <= 2500);
    }
}
