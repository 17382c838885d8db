//! Container image references as a pod names them: `[host[:port]/]path[:tag][@digest]`, with the
//! repository normalised the way container runtimes resolve it (`nginx` is
//! `docker.io/library/nginx`), so two spellings of one repository compare equal.

use std::str::FromStr;

use crate::domain::{Digest, RepositoryPath, Tag};

/// Longest reference accepted.
const MAX_REFERENCE_LEN: usize = 1024;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// `host[:port]/path`, normalised (Docker Hub names get `docker.io` and `library/`).
    pub repository: String,
    /// The tag, if the reference has one (ignored for admission: only the digest counts).
    pub tag: Option<String>,
    /// The digest, if the reference pins one.
    pub digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImageReferenceError(String);

fn refuse(reason: impl Into<String>) -> ImageReferenceError {
    ImageReferenceError(reason.into())
}

impl FromStr for ImageReference {
    type Err = ImageReferenceError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.is_empty() || raw.len() > MAX_REFERENCE_LEN {
            return Err(refuse(format!("must be 1 to {MAX_REFERENCE_LEN} characters")));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse("must not contain whitespace or control characters"));
        }
        let (name, digest) = match raw.rsplit_once('@') {
            Some((name, digest)) => (
                name,
                Some(
                    digest
                        .parse::<Digest>()
                        .map_err(|e| refuse(format!("names a digest that is not canonical: {e}")))?,
                ),
            ),
            None => (raw, None),
        };
        // A tag follows the last component's `:`; a `:` before a `/` is the registry's port.
        let (name, tag) = match name.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag.to_owned())),
            _ => (name, None),
        };
        if tag.as_deref().is_some_and(|t| !Tag::is_valid(t)) {
            return Err(refuse("names a tag that is not a valid tag"));
        }
        Ok(Self {
            repository: normalise(name)?,
            tag,
            digest,
        })
    }
}

impl ImageReference {
    /// The repository path on the registry at `host` (as references are normalised), when the
    /// image is pulled from there and its path is a valid repository path.
    pub fn path_on(&self, host: &str) -> Option<RepositoryPath> {
        let path = self.repository.strip_prefix(host)?.strip_prefix('/')?;
        path.parse().ok()
    }

    /// The repository of an OCI source URI (`[oci://]host/path[:tag|@digest]`), normalised like
    /// an image's, or `None` when the URI is not one.
    pub fn repository_of_source(uri: &str) -> Option<String> {
        let reference: Self = uri.strip_prefix("oci://").unwrap_or(uri).parse().ok()?;
        Some(reference.repository)
    }
}

/// `host/path` with Docker's defaults: no host (the first component has no `.` or `:` and is not
/// `localhost`) means Docker Hub, where a one-component path is an official `library/` image.
fn normalise(name: &str) -> Result<String, ImageReferenceError> {
    let (host, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest.to_owned()),
        Some(_) => ("docker.io", name.to_owned()),
        None => ("docker.io", format!("library/{name}")),
    };
    let host = match host.to_ascii_lowercase().as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    };
    // On Docker Hub a one-component path is an official image however the host is spelled:
    // `docker.io/nginx` is `docker.io/library/nginx`, as `nginx` is.
    let path = if host == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
    {
        return Err(refuse("names a registry host that is not `host[:port]`"));
    }
    if path.is_empty() || !path.split('/').all(is_component) {
        return Err(refuse(
            "names a repository whose components are not lower-case `a-z 0-9` joined by `.`, `_` or `-`",
        ));
    }
    Ok(format!("{host}/{path}"))
}

fn is_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_parse_with_docker_defaults() {
        let r: ImageReference = format!("registry.local:5000/gpuaas/apps/a/web:v1@sha256:{HEX}")
            .parse()
            .unwrap();
        assert_eq!(r.repository, "registry.local:5000/gpuaas/apps/a/web");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest.unwrap().to_string(), format!("sha256:{HEX}"));
        let r: ImageReference = "nginx:1.27".parse().unwrap();
        assert_eq!(
            (r.repository.as_str(), r.digest),
            ("docker.io/library/nginx", None)
        );
        for spelling in [
            "docker.io/nginx",
            "index.docker.io/nginx:1",
            "docker.io/library/nginx",
        ] {
            let r: ImageReference = spelling.parse().unwrap();
            assert_eq!(r.repository, "docker.io/library/nginx", "{spelling}");
        }
        let r: ImageReference = "bitnami/redis".parse().unwrap();
        assert_eq!(r.repository, "docker.io/bitnami/redis");
        let r: ImageReference = "localhost/x".parse().unwrap();
        assert_eq!(r.repository, "localhost/x");
        assert_eq!(
            ImageReference::repository_of_source("oci://index.docker.io/library/nginx:1").as_deref(),
            Some("docker.io/library/nginx")
        );
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "",
            "nginx @sha256:x",
            "Registry.local/UPPER",
            "nginx@sha256:short",
            "nginx@md5:0123",
            "a//b",
            "nginx:-bad",
        ] {
            assert!(bad.parse::<ImageReference>().is_err(), "{bad}");
        }
    }
}
