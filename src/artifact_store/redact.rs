//! Source URIs can embed credentials (userinfo, pre-signed query strings); answers and log lines
//! show them without, while the stored artifact keeps the URI as registered.

/// Query parameters that carry a credential or a signature over one (S3, GCS, Azure SAS, generic).
const SECRET_PARAMS: &[&str] = &[
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "signature",
    "sig",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "password",
    "secret",
    "auth",
];

/// What a redacted value reads as.
const REDACTED: &str = "REDACTED";

fn is_secret(name: &str) -> bool {
    SECRET_PARAMS.contains(&name.to_ascii_lowercase().as_str())
}

/// Whether `uri` embeds a credential that [`redact_uri`] would hide.
pub fn uri_has_credentials(uri: &str) -> bool {
    redact_uri(uri) != uri
}

/// `uri` with userinfo removed and secret query values replaced by `REDACTED`; other query
/// parameters (a revision, a filename) stay. A URI that does not parse is shown only up to
/// its query, so an unparsable signed URL leaks nothing either.
pub fn redact_uri(uri: &str) -> String {
    let Ok(mut url) = reqwest::Url::parse(uri) else {
        return uri.split(['?', '#']).next().unwrap_or_default().to_owned();
    };
    if url.cannot_be_a_base() {
        return uri.split(['?', '#']).next().unwrap_or_default().to_owned();
    }
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if pairs.iter().any(|(k, _)| is_secret(k)) {
            let mut query = url.query_pairs_mut();
            query.clear();
            for (k, v) in &pairs {
                query.append_pair(k, if is_secret(k) { REDACTED } else { v });
            }
        }
    }
    let shown = url.to_string();
    // Unchanged URIs come back exactly as given (the parser may normalise, e.g. add a slash).
    if shown == uri || reqwest::Url::parse(uri).is_ok_and(|u| u.as_str() == shown) {
        return uri.to_owned();
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden_and_the_rest_kept() {
        assert_eq!(
            redact_uri("https://user:pw@models.example.com/w.bin"),
            "https://models.example.com/w.bin"
        );
        assert_eq!(
            redact_uri(
                "https://b.s3.amazonaws.com/w.bin?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc&X-Amz-Expires=60"
            ),
            "https://b.s3.amazonaws.com/w.bin?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Expires=60"
        );
        assert_eq!(
            redact_uri("https://acct.blob.core.windows.net/c/w.bin?sv=2024&sig=s3cr3t"),
            "https://acct.blob.core.windows.net/c/w.bin?sv=2024&sig=REDACTED"
        );
        assert_eq!(
            redact_uri("https://h.example/w?token=t"),
            "https://h.example/w?token=REDACTED"
        );
        assert!(uri_has_credentials("https://h.example/w?Token=t"));
    }

    #[test]
    fn clean_uris_are_unchanged() {
        for uri in [
            "store://models/llm/w.bin",
            "https://huggingface.co/org/model/resolve/main/w.safetensors?download=true",
            "https://h.example/w.bin",
            "hf://org/model",
        ] {
            assert_eq!(redact_uri(uri), uri);
            assert!(!uri_has_credentials(uri), "{uri}");
        }
    }

    #[test]
    fn unparsable_uris_lose_their_query() {
        assert_eq!(redact_uri("not a url?sig=x"), "not a url");
    }
}
