//! Checks every call shares: status, a capped body read, a digest check, and the grammars a
//! repository name or tag must follow before it reaches a URL.

use reqwest::{Response, StatusCode};
use sha2::Digest as _;

use super::RegistryClientError;
use crate::domain::Digest;

/// Passes a 200, maps refusals and anything else to errors.
pub(super) fn check_status(response: Response) -> Result<Response, RegistryClientError> {
    match response.status() {
        StatusCode::OK => Ok(response),
        s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(RegistryClientError::Unauthorized(s)),
        s => Err(RegistryClientError::Status(s)),
    }
}

/// The body, refused as soon as it (or its declared length) passes `max_bytes`.
pub(super) async fn read_capped(
    mut response: Response,
    max_bytes: u64,
) -> Result<Vec<u8>, RegistryClientError> {
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
pub(super) fn check_digest(digest: &Digest, bytes: &[u8]) -> Result<(), RegistryClientError> {
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

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The OCI tag grammar (written once, on `domain::Tag`).
pub(super) fn is_tag(tag: &str) -> bool {
    crate::domain::Tag::is_valid(tag)
}

/// Distribution's repository grammar, loosely: lowercase path components of `[a-z0-9._-]`
/// joined by `/`. Anything else could change the URL's meaning.
pub(super) fn is_repository_name(name: &str) -> bool {
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
    use sha2::Digest as _;

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
}
