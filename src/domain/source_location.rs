//! The grammar of a source URI, per source type. A URI that does not fit its type is refused,
//! never guessed at:
//!
//! - `oci_registry`: `[oci://]host[:port]/repository[:tag|@digest]` (distribution's grammar:
//!   lower-case path components);
//! - `s3`: `s3://bucket/key`; `gcs`: `gs://bucket/object` (bucket naming rules of each cloud);
//! - `azure_blob`: `https://<account>.blob.core.windows.net/<container>/<blob>[?sas]`;
//! - `https`: `https://host[:port]/path[?query]` — no other scheme, no backslash, no numeric host
//!   spellings other than a dotted quad, and no link-local or cloud metadata host (the gateway
//!   may fetch the URI; those hosts answer with credentials). Loopback and private addresses stay
//!   allowed: mirrors live there, and fetching is separately limited to configured places;
//! - `huggingface`: `hf://[models/|datasets/|spaces/]org/repo[@revision][/path]` or
//!   `https://huggingface.co/org/repo[/…]`, pinned to a revision (`@revision` or `source_ref`);
//! - `artifact_store`: `store://key`, a relative path that cannot climb out of the store;
//! - a contributed source type: the grammar of the built-in `protocol` its catalog entry names
//!   (the caller passes that built-in here), or, naming none, any `scheme://location`.
//!
//! Every URI is one line: no whitespace or control character (CR/LF included). Credentials in
//! user info or a signed query are accepted and redacted wherever the URI is shown.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Digest, SourceType};

/// Longest source URI accepted.
pub const MAX_LOCATION_LEN: usize = 2048;

/// Why a source was refused, and which of its fields (`uri` or `source_ref`) is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRefusal {
    /// `uri` or `source_ref`.
    pub field: &'static str,
    /// What is wrong, in user terms.
    pub reason: String,
}

fn refuse(reason: impl Into<String>) -> SourceRefusal {
    SourceRefusal {
        field: "uri",
        reason: reason.into(),
    }
}

/// Checks `uri` (and `source_ref` where the type needs a revision) against `source_type`.
pub fn check_source(
    source_type: &SourceType,
    uri: &str,
    source_ref: Option<&str>,
) -> Result<(), SourceRefusal> {
    if uri.is_empty() || uri.len() > MAX_LOCATION_LEN {
        return Err(refuse(format!("must be 1 to {MAX_LOCATION_LEN} characters")));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse("must not contain whitespace or control characters"));
    }
    if let Some(r) = source_ref
        && !is_revision(r)
    {
        return Err(SourceRefusal {
            field: "source_ref",
            reason: "must be a revision: 1 to 255 of `A-Z a-z 0-9 . _ - /`".to_owned(),
        });
    }
    match source_type {
        SourceType::OciRegistry => oci_reference(uri),
        SourceType::S3 => bucket_object(uri, "s3://", "an S3 URI `s3://bucket/key`"),
        SourceType::Gcs => bucket_object(uri, "gs://", "a GCS URI `gs://bucket/object`"),
        SourceType::AzureBlob => azure_blob(uri),
        SourceType::Https => https_url(uri).map(|_| ()),
        SourceType::Huggingface => huggingface(uri, source_ref),
        SourceType::ArtifactStore => store_key(uri),
        SourceType::Contributed(_) => any_scheme(uri),
    }
}

/// A contributed source type with no built-in protocol: only the shape `scheme://location` is
/// known (RFC 3986 scheme); the gateway never fetches such a location.
fn any_scheme(uri: &str) -> Result<(), SourceRefusal> {
    let valid = uri.split_once("://").is_some_and(|(scheme, rest)| {
        scheme.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
            && !rest.is_empty()
    });
    if valid {
        Ok(())
    } else {
        Err(refuse("must be a URI `scheme://location`"))
    }
}

fn oci_reference(uri: &str) -> Result<(), SourceRefusal> {
    let expected = "an OCI reference `[oci://]registry/repository[:tag|@digest]`";
    let rest = uri.strip_prefix("oci://").unwrap_or(uri);
    let (host, path) = rest
        .split_once('/')
        .ok_or_else(|| refuse(format!("must be {expected}")))?;
    host_and_port(host).map_err(|why| refuse(format!("must be {expected}: the registry {why}")))?;
    let (path, digest) = match path.split_once('@') {
        Some((path, digest)) => (path, Some(digest)),
        None => (path, None),
    };
    if let Some(digest) = digest
        && digest.parse::<Digest>().is_err()
    {
        return Err(refuse("names a digest that is not `sha256:<64 hex>`"));
    }
    // A tag follows the last component's `:`, never a digest's.
    let (path, tag) = match path.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, Some(tag)),
        _ => (path, None),
    };
    if tag.is_some_and(|t| !is_oci_tag(t)) {
        return Err(refuse("names a tag that is not a valid OCI tag"));
    }
    if path.is_empty() || !path.split('/').all(is_oci_component) {
        return Err(refuse(format!(
            "must be {expected}: repository components are lower-case `a-z 0-9` joined by `.`, `_`, `__` or `-`"
        )));
    }
    Ok(())
}

fn is_oci_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
        && !component.contains("..")
        && !component.contains("._")
        && !component.contains("_.")
        && !component.contains("___")
}

fn is_oci_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    bytes.len() <= 128
        && bytes
            .first()
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn bucket_object(uri: &str, scheme: &str, expected: &str) -> Result<(), SourceRefusal> {
    let rest = uri
        .strip_prefix(scheme)
        .ok_or_else(|| refuse(format!("must be {expected}")))?;
    let (bucket, object) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && bucket.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
        && !bucket.contains("..")
        && bucket.parse::<Ipv4Addr>().is_err();
    if !bucket_ok {
        return Err(refuse(format!(
            "must be {expected}: a bucket is 3 to 63 of `a-z 0-9 . - _`, starting and ending with a letter or digit"
        )));
    }
    if object.is_empty() {
        return Err(refuse(format!("must be {expected}: the object key is missing")));
    }
    Ok(())
}

fn azure_blob(uri: &str) -> Result<(), SourceRefusal> {
    let expected = "an Azure blob URL `https://<account>.blob.core.windows.net/<container>/<blob>`";
    let url = https_url(uri).map_err(|e| refuse(format!("must be {expected}: {}", e.reason)))?;
    let account_ok = url.host.strip_suffix(".blob.core.windows.net").is_some_and(|a| {
        (3..=24).contains(&a.len()) && a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if !account_ok {
        return Err(refuse(format!(
            "must be {expected}: the account is 3 to 24 of `a-z 0-9`"
        )));
    }
    let (container, blob) = url
        .path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((url.path, ""));
    let container_ok = (3..=63).contains(&container.len())
        && container.starts_with(|c: char| c.is_ascii_alphanumeric())
        && container.ends_with(|c: char| c.is_ascii_alphanumeric())
        && container
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !container.contains("--");
    if !container_ok || blob.is_empty() {
        return Err(refuse(format!(
            "must be {expected}: a container is 3 to 63 of `a-z 0-9 -` followed by the blob's name"
        )));
    }
    Ok(())
}

/// An `https` URL split where the checks need it.
struct HttpsUrl<'a> {
    host: String,
    path: &'a str,
}

fn https_url(uri: &str) -> Result<HttpsUrl<'_>, SourceRefusal> {
    let rest = uri
        .strip_prefix("https://")
        .ok_or_else(|| refuse("must be an `https://` URL"))?;
    if uri.contains('\\') {
        return Err(refuse("must not contain a backslash"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // User info (a credential) is kept and redacted when shown; the host is what follows it.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host_and_port(host_port).map_err(|why| refuse(format!("the host {why}")))?;
    if is_metadata_or_link_local(&host) {
        return Err(refuse(
            "names a link-local or cloud metadata host, which the gateway never fetches from",
        ));
    }
    let path = tail.split(['?', '#']).next().unwrap_or_default();
    Ok(HttpsUrl { host, path })
}

/// Checks `host[:port]` and answers the host, lower-cased; `Err` says what is wrong with it.
fn host_and_port(authority: &str) -> Result<String, &'static str> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("is not a valid host")?;
        v6.parse::<Ipv6Addr>()
            .map_err(|_| "is not a valid IPv6 address")?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("is not a valid host")?),
        };
        (format!("[{}]", v6.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if !is_dns_name_or_ipv4(host) {
            return Err("is not a DNS name or a dotted-quad IPv4 address");
        }
        (host.to_ascii_lowercase(), port)
    };
    if let Some(port) = port
        && (port.is_empty()
            || port.len() > 5
            || !port.chars().all(|c| c.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err("has an invalid port");
    }
    Ok(host)
}

fn is_dns_name_or_ipv4(host: &str) -> bool {
    if host.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    // An all-digit or hex last label would be a numeric host spelling (`2852039166`, `0xa9.0xfe…`).
    let last_is_name = labels
        .last()
        .is_some_and(|l| !l.chars().all(|c| c.is_ascii_digit()) && !l.to_ascii_lowercase().starts_with("0x"));
    host.len() <= 253 && labels.iter().all(label_ok) && last_is_name
}

/// Link-local addresses (169.254/16, fe80::/10) and the cloud metadata host names.
fn is_metadata_or_link_local(host: &str) -> bool {
    const METADATA_HOSTS: &[&str] = &[
        "metadata",
        "metadata.google.internal",
        "instance-data",
        "instance-data.ec2.internal",
    ];
    if METADATA_HOSTS.contains(&host.trim_end_matches('.')) {
        return true;
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return v4.is_link_local() || v4.is_unspecified();
    }
    if let Some(v6) = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<Ipv6Addr>().ok())
    {
        let mapped_link_local = v6.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local());
        return (v6.segments()[0] & 0xffc0) == 0xfe80 || mapped_link_local || v6.is_unspecified();
    }
    false
}

fn huggingface(uri: &str, source_ref: Option<&str>) -> Result<(), SourceRefusal> {
    let expected =
        "a Hugging Face repository `hf://org/repo[@revision][/path]` or `https://huggingface.co/org/repo`";
    let (path, pinned_in_uri) = if let Some(rest) = uri.strip_prefix("hf://") {
        let rest = ["models/", "datasets/", "spaces/"]
            .iter()
            .find_map(|kind| rest.strip_prefix(kind))
            .unwrap_or(rest);
        let mut parts = rest.splitn(3, '/');
        let (org, repo) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let (repo, revision) = match repo.split_once('@') {
            Some((repo, rev)) => (repo, Some(rev)),
            None => (repo, None),
        };
        if revision.is_some_and(|r| !is_revision(r)) {
            return Err(refuse(format!("must be {expected}: the revision is not valid")));
        }
        ((org, repo), revision.is_some())
    } else {
        let url = https_url(uri).map_err(|e| refuse(format!("must be {expected}: {}", e.reason)))?;
        if url.host != "huggingface.co" {
            return Err(refuse(format!("must be {expected}")));
        }
        let mut parts = url.path.trim_start_matches('/').split('/');
        let (org, repo) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let rest: Vec<&str> = parts.collect();
        // `/resolve/<rev>/…`, `/blob/<rev>/…` and `/tree/<rev>` pin the revision in the URL.
        let pinned = matches!(rest.as_slice(), [kind, rev, ..] if matches!(*kind, "resolve" | "blob" | "tree") && is_revision(rev));
        ((org, repo), pinned)
    };
    let (org, repo) = path;
    if !is_hf_name(org) || !is_hf_name(repo) {
        return Err(refuse(format!(
            "must be {expected}: org and repo are 1 to 96 of `A-Z a-z 0-9 . _ -`"
        )));
    }
    if !pinned_in_uri && source_ref.is_none() {
        return Err(SourceRefusal {
            field: "source_ref",
            reason: "is required for a Hugging Face source: pin the revision (a commit, tag or branch)"
                .to_owned(),
        });
    }
    Ok(())
}

fn is_hf_name(name: &str) -> bool {
    (1..=96).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.contains("..")
}

/// A git revision or ref name as sources pin them: `main`, a commit, `refs/pr/1`, `v1.2`.
pub(super) fn is_revision(r: &str) -> bool {
    (1..=255).contains(&r.len())
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        && !r.starts_with('/')
        && !r.contains("..")
}

fn store_key(uri: &str) -> Result<(), SourceRefusal> {
    let key = uri
        .strip_prefix("store://")
        .ok_or_else(|| refuse("must be an artifact store URI `store://key`"))?;
    let safe = !key.is_empty()
        && key.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
        && !key.contains(['?', '#', '\\', '%']);
    if !safe {
        return Err(refuse(
            "must be `store://key` with a relative key: no empty, `.` or `..` segment, no `?`, `#`, `\\` or `%`",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "source_location_tests.rs"]
mod tests;
