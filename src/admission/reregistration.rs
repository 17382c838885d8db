//! A repeat registration of a digest already registered in the same repository: identical is an
//! idempotent success; anything the caller sent that differs from the stored artifact is a
//! conflict naming those fields, never silently dropped.

use crate::domain::{Artifact, Digest, SourceType};

/// Which optional registration fields the caller sent (an omitted field never conflicts).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SentFields {
    pub(super) artifact_type: bool,
    pub(super) tag: bool,
    pub(super) media_type: bool,
    pub(super) source_ref: bool,
    pub(super) size_bytes: bool,
    pub(super) content_encoding: bool,
}

/// The fields of `candidate` the caller sent that differ from the stored `existing` artifact,
/// named as in the request body.
pub(super) fn differing_fields(
    sent: SentFields,
    candidate: &Artifact,
    existing: &Artifact,
) -> Vec<&'static str> {
    let (c, e) = (&candidate.source, &existing.source);
    [
        (
            true,
            "artifact_kind",
            candidate.artifact_kind == existing.artifact_kind,
        ),
        (
            sent.artifact_type,
            "artifact_type",
            candidate.artifact_type == existing.artifact_type,
        ),
        (sent.tag, "tag", candidate.tag == existing.tag),
        (
            sent.media_type,
            "media_type",
            candidate.media_type == existing.media_type,
        ),
        (true, "source.source_type", c.source_type == e.source_type),
        (
            true,
            "source.uri",
            same_location(&c.source_type, &c.uri, &e.uri, &existing.digest),
        ),
        (sent.source_ref, "source.source_ref", c.source_ref == e.source_ref),
        (sent.size_bytes, "source.size_bytes", c.size_bytes == e.size_bytes),
        (
            sent.content_encoding,
            "source.content_encoding",
            c.content_encoding == e.content_encoding,
        ),
    ]
    .into_iter()
    .filter(|(was_sent, _, same)| *was_sent && !same)
    .map(|(_, field, _)| field)
    .collect()
}

/// Whether two source URIs name the same place for this digest: an OCI reference may spell the
/// registration's own digest (`host/repo@sha256:…`, as a registry push records it) or an
/// `oci://` prefix, or not.
fn same_location(source_type: &SourceType, a: &str, b: &str, digest: &Digest) -> bool {
    if *source_type != SourceType::OciRegistry {
        return a == b;
    }
    let pinned = format!("@{digest}");
    let plain = |uri: &'_ str| {
        let uri = uri.strip_prefix("oci://").unwrap_or(uri);
        uri.strip_suffix(pinned.as_str()).unwrap_or(uri).to_owned()
    };
    plain(a) == plain(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oci_reference_may_spell_its_own_digest() {
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let oci = &SourceType::OciRegistry;
        assert!(same_location(
            oci,
            "r.local/team/app",
            &format!("r.local/team/app@{digest}"),
            &digest
        ));
        assert!(same_location(
            oci,
            "oci://r.local/team/app",
            "r.local/team/app",
            &digest
        ));
        assert!(!same_location(
            oci,
            "r.local/team/app",
            "r.local/team/other",
            &digest
        ));
        let other = format!("r.local/team/app@sha256:{}", "b".repeat(64));
        assert!(!same_location(oci, "r.local/team/app", &other, &digest));
        assert!(!same_location(&SourceType::S3, "s3://b/k", "s3://b/k2", &digest));
    }
}
