//! The internal artifact store as the gateway sees it: where `store://<key>` objects live, the
//! short-lived object tokens it accepts, and the redaction of source URIs shown to clients.

mod config;
mod redact;
mod token;

pub use config::ArtifactStoreConfig;
pub use redact::{redact_uri, uri_has_credentials};
pub use token::{ObjectGrant, ObjectTokenClaims, ObjectTokenError, ObjectTokens};

/// Where the store's objects are: `<base>/<key>` for a source URI `store://<key>`.
#[derive(Debug, Clone)]
pub struct StoreLocation {
    base: reqwest::Url,
}

impl StoreLocation {
    /// The store at `url` (a trailing slash is added so keys resolve beneath it).
    pub fn new(url: &str) -> Result<Self, String> {
        let with_slash = if url.ends_with('/') {
            url.to_owned()
        } else {
            format!("{url}/")
        };
        let base = reqwest::Url::parse(&with_slash)
            .map_err(|e| format!("`artifact_store.url` is not a URL: {e}"))?;
        Ok(Self { base })
    }

    /// The store's base URL (ending in `/`).
    pub fn base(&self) -> &reqwest::Url {
        &self.base
    }

    /// The object key and its URL for a `store://<key>` URI, when the key stays inside the store.
    pub fn object(&self, uri: &str) -> Option<(String, reqwest::Url)> {
        let key = object_key(uri)?;
        let url = self.base.join(key).ok()?;
        Some((key.to_owned(), url))
    }
}

/// The key of a `store://<key>` URI: a relative path that cannot climb out of the store.
pub fn object_key(uri: &str) -> Option<&str> {
    let key = uri.strip_prefix("store://")?;
    let safe = !key.is_empty()
        && !key.starts_with('/')
        && key.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
        && !key.contains(['?', '#', '\\', '%']);
    safe.then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_store() {
        let store = StoreLocation::new("http://127.0.0.1:9/store").unwrap();
        let (key, url) = store.object("store://models/llm/w.bin").unwrap();
        assert_eq!(key, "models/llm/w.bin");
        assert_eq!(url.as_str(), "http://127.0.0.1:9/store/models/llm/w.bin");
        for uri in [
            "store://",
            "store://../x",
            "store:///abs",
            "store://a//b",
            "store://a/./b",
            "store://a?x=1",
            "store://a#f",
            "store://a%2F..%2Fb",
            "https://h/a",
        ] {
            assert!(store.object(uri).is_none(), "{uri}");
        }
    }
}
