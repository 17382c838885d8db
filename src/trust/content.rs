//! Content fetch: for blob sources the gateway can reach, download the bytes and compare their
//! hash (and size, when declared) with the registered digest — the `blob_digest` evidence.
//!
//! Only configured places are fetched from: the internal artifact store and an allowlist of
//! https hosts. A registrant's URI never makes the gateway reach anywhere else (no SSRF), and a
//! redirect is never followed.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256, Sha512};

use super::ContentFetchConfig;
use crate::artifact_store::{ObjectGrant, ObjectTokens, StoreLocation};
use crate::domain::{Digest, Evidence, EvidenceResult, SourceType};

/// Why content could not be judged at all: the source is down, so the verification is retried
/// rather than failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchUnavailable {
    /// Connection refused, reset, timed out, or the server answered 5xx/429.
    #[error("content source is unavailable: {0}")]
    Source(String),
}

/// Fetches blob content from the configured places and hashes it.
#[derive(Debug, Clone)]
pub struct ContentFetcher {
    client: reqwest::Client,
    artifact_store: Option<StoreLocation>,
    https_hosts: Vec<String>,
    max_bytes: u64,
    object_tokens: Option<ObjectTokens>,
}

/// A hasher for the digest's algorithm.
pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub(crate) fn for_digest(digest: &Digest) -> Option<Self> {
        match digest.algorithm() {
            "sha256" => Some(Self::Sha256(Sha256::new())),
            "sha512" => Some(Self::Sha512(Sha512::new())),
            _ => None,
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(bytes),
            Self::Sha512(h) => h.update(bytes),
        }
    }

    pub(crate) fn hex(self) -> String {
        match self {
            Self::Sha256(h) => hex::encode(h.finalize()),
            Self::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

impl ContentFetcher {
    /// A fetcher for `config`, or `None` when content fetch is off. `artifact_store_url` is the
    /// internal store `store://<key>` URIs resolve against.
    pub fn new(
        config: &ContentFetchConfig,
        artifact_store_url: Option<&str>,
    ) -> Result<Option<Self>, String> {
        if !config.enabled {
            return Ok(None);
        }
        let artifact_store = artifact_store_url.map(StoreLocation::new).transpose()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(config.timeout_seconds.max(1)))
            .build()
            .map_err(|e| format!("cannot build the content fetch client: {e}"))?;
        Ok(Some(Self {
            client,
            artifact_store,
            https_hosts: config
                .https_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            max_bytes: config.max_bytes,
            object_tokens: None,
        }))
    }

    /// Presents an object token, signed by `tokens`, with every artifact-store fetch.
    #[must_use]
    pub fn with_object_tokens(mut self, tokens: Option<ObjectTokens>) -> Self {
        self.object_tokens = tokens;
        self
    }

    /// A bearer token for `url` when it is an artifact-store object and tokens are configured.
    fn object_token(&self, url: &reqwest::Url, digest: &Digest) -> Option<String> {
        let tokens = self.object_tokens.as_ref()?;
        let key = url
            .as_str()
            .strip_prefix(self.artifact_store.as_ref()?.base().as_str())?;
        let grant = ObjectGrant {
            key: key.to_owned(),
            digest: digest.to_string(),
        };
        match tokens.sign_for_ttl("gatehouse:content-fetch", grant) {
            Ok(signed) => Some(signed.token),
            Err(e) => {
                tracing::warn!(error = %e, "cannot sign an object token for content fetch");
                None
            }
        }
    }

    /// The URL to fetch `uri` from, read as a location of the built-in source type `protocol`
    /// (a contributed source type's catalog protocol), when it is one the gateway may reach.
    pub fn url_for(&self, protocol: &SourceType, uri: &str) -> Option<reqwest::Url> {
        match protocol {
            // Keys are relative paths inside the store: nothing that climbs out of it.
            SourceType::ArtifactStore => self.artifact_store.as_ref()?.object(uri).map(|(_, url)| url),
            SourceType::Https => {
                let url = reqwest::Url::parse(uri).ok()?;
                let host = url.host_str()?.to_ascii_lowercase();
                let host_port = url.port().map(|p| format!("{host}:{p}"));
                let allowed = url.scheme() == "https"
                    && url.username().is_empty()
                    && url.password().is_none()
                    && self
                        .https_hosts
                        .iter()
                        .any(|h| *h == host || Some(h) == host_port.as_ref());
                allowed.then_some(url)
            }
            _ => None,
        }
    }

    /// Downloads `url` and compares its hash with `digest` (and its length with the declared
    /// size): one `blob_digest` evidence record. A source that is down is `Err`, not a verdict.
    pub async fn check(
        &self,
        url: reqwest::Url,
        digest: &Digest,
        declared_size: Option<i64>,
    ) -> Result<Evidence, FetchUnavailable> {
        let shown = redacted(&url);
        let mut details = json!({ "method": "content_hash", "url": shown });
        let outcome = self.hash(url, digest, declared_size, &mut details).await?;
        let (result, reason) = match outcome {
            Ok(()) => {
                details["check"] = json!("verified");
                (
                    EvidenceResult::Pass,
                    format!("content fetched from `{shown}` hashes to `{digest}`"),
                )
            }
            Err((check, reason)) => {
                details["check"] = json!(check);
                (EvidenceResult::Fail, reason)
            }
        };
        Ok(Evidence {
            evidence_type: "blob_digest".to_owned(),
            result,
            reason,
            checked_at: Utc::now(),
            details,
        })
    }

    /// The download itself: `Ok(Err((check, reason)))` is a verdict against the content.
    async fn hash(
        &self,
        url: reqwest::Url,
        digest: &Digest,
        declared_size: Option<i64>,
        details: &mut Value,
    ) -> Result<Result<(), (&'static str, String)>, FetchUnavailable> {
        let Some(mut hasher) = Hasher::for_digest(digest) else {
            let reason = format!(
                "digest algorithm `{}` cannot be checked by content",
                digest.algorithm()
            );
            return Ok(Err(("algorithm", reason)));
        };
        let mut request = self.client.get(url.clone());
        if let Some(token) = self.object_token(&url, digest) {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await.map_err(unavailable)?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(FetchUnavailable::Source(format!("status {status}")));
        }
        if !status.is_success() {
            return Ok(Err(("fetch", format!("the source answered {status}"))));
        }
        let mut read: u64 = 0;
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            read += chunk.len() as u64;
            if read > self.max_bytes {
                let reason = format!(
                    "the content is larger than the {} bytes fetch limit",
                    self.max_bytes
                );
                return Ok(Err(("size_limit", reason)));
            }
            hasher.update(&chunk);
        }
        details["bytes"] = json!(read);
        if let Some(declared) = declared_size
            && u64::try_from(declared).ok() != Some(read)
        {
            return Ok(Err((
                "size",
                format!("the content is {read} bytes, not the declared {declared}"),
            )));
        }
        let got = hasher.hex();
        if got != digest.hex() {
            let reason = format!(
                "the content hashes to `{}:{got}`, not the registered `{digest}`",
                digest.algorithm()
            );
            return Ok(Err(("content_digest", reason)));
        }
        Ok(Ok(()))
    }
}

/// The failing `blob_digest` record of a blob whose source type has no protocol the gateway can
/// fetch with (a contributed source type whose catalog entry names none, or that the catalog no
/// longer knows): its content cannot be checked, so the check fails closed instead of passing.
pub fn unfetchable(source_type: &SourceType) -> Evidence {
    Evidence {
        evidence_type: "blob_digest".to_owned(),
        result: EvidenceResult::Fail,
        reason: format!(
            "source type `{source_type}` names no fetch protocol in the catalog: its content cannot \
             be fetched to check it against the digest"
        ),
        checked_at: Utc::now(),
        details: json!({ "method": "content_hash", "check": "no_protocol", "source_type": source_type }),
    }
}

fn unavailable(e: reqwest::Error) -> FetchUnavailable {
    // Without the URL: a signed query string in it would be a secret in the logs.
    FetchUnavailable::Source(e.without_url().to_string())
}

/// The URL without userinfo or query (either may carry a credential).
fn redacted(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher(hosts: &[&str]) -> ContentFetcher {
        let config = ContentFetchConfig {
            enabled: true,
            https_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            ..ContentFetchConfig::default()
        };
        ContentFetcher::new(&config, Some("http://127.0.0.1:9/store"))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn only_configured_places_are_reachable() {
        let f = fetcher(&["models.example.com", "cdn.example.com:8443"]);
        let url = |t: SourceType, u: &str| f.url_for(&t, u).map(|u| u.to_string());
        assert_eq!(
            url(SourceType::ArtifactStore, "store://models/llm/w.bin").as_deref(),
            Some("http://127.0.0.1:9/store/models/llm/w.bin")
        );
        assert_eq!(
            url(SourceType::Https, "https://models.example.com/w.bin").as_deref(),
            Some("https://models.example.com/w.bin")
        );
        assert!(url(SourceType::Https, "https://cdn.example.com:8443/w").is_some());
        for (t, uri) in [
            (SourceType::ArtifactStore, "store://../etc/passwd"),
            (SourceType::ArtifactStore, "store:///abs"),
            (SourceType::ArtifactStore, "store://a//b"),
            (SourceType::ArtifactStore, "store://a?x=1"),
            (SourceType::ArtifactStore, "http://127.0.0.1:9/store/a"),
            (SourceType::Https, "https://evil.example.com/w.bin"),
            (SourceType::Https, "http://models.example.com/w.bin"),
            (SourceType::Https, "https://user:pw@models.example.com/w.bin"),
            (SourceType::Https, "https://cdn.example.com/w"),
            (SourceType::Huggingface, "https://huggingface.co/a/b"),
            // A contributed type is only ever fetched through its catalog protocol.
            ("minio_eu".parse().unwrap(), "https://models.example.com/w.bin"),
        ] {
            assert_eq!(url(t, uri), None, "{uri}");
        }
    }

    #[test]
    fn off_means_no_fetcher_and_shown_urls_carry_no_credentials() {
        assert!(
            ContentFetcher::new(&ContentFetchConfig::default(), None)
                .unwrap()
                .is_none()
        );
        let url = reqwest::Url::parse("https://u:p@h.example/o?X-Amz-Signature=s#f").unwrap();
        assert_eq!(redacted(&url), "https://h.example/o");
    }
}
