//! How the catalog completes the open vocabularies: a contributed artifact type takes its kind
//! from its entry, and a contributed source type its location grammar and content fetch from the
//! built-in `protocol` its entry names. Whether an entry may be used at all is `check`'s call.

use super::{Family, Snapshot};
use crate::domain::{ArtifactKind, ContributedName, SourceType};

impl Snapshot {
    /// A contributed artifact type's kind, from its entry's `kind` (whatever its status).
    pub fn artifact_kind_of(&self, name: &ContributedName) -> Option<ArtifactKind> {
        let entry = self
            .get(name.as_str())
            .filter(|e| e.family == Family::ArtifactTypes)?;
        entry.fields.get("kind")?.as_str()?.parse().ok()
    }

    /// The built-in source type whose location grammar and content fetch `source_type` uses:
    /// itself when built in, else the `protocol` of its entry (whatever its status). `None` for
    /// a contributed type naming no protocol or unknown to the catalog: its content is never
    /// fetched, and a content check fails closed.
    pub fn source_protocol(&self, source_type: &SourceType) -> Option<SourceType> {
        let SourceType::Contributed(name) = source_type else {
            return Some(source_type.clone());
        };
        let entry = self
            .get(name.as_str())
            .filter(|e| e.family == Family::SourceTypes)?;
        let protocol: SourceType = entry.fields.get("protocol")?.as_str()?.parse().ok()?;
        // INVARIANT: a protocol is a built-in (the entry schema's enum); checked again here so
        // a contributed type can never stand for another contributed one.
        protocol.is_builtin().then_some(protocol)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::Utc;
    use serde_json::{Value, json};

    use super::*;
    use crate::catalog::{CatalogEntry, EntryStatus};

    fn entry(id: &str, family: Family, fields: Value) -> CatalogEntry {
        CatalogEntry {
            id: id.into(),
            family,
            description: "d".into(),
            owner_product: "gpuaas".into(),
            enabled: true,
            status: EntryStatus::Pending,
            fields,
            created_by: "bot".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn contributed_entries_complete_the_vocabularies() {
        let snap = Snapshot::new(vec![
            entry(
                "oci.wasm",
                Family::ArtifactTypes,
                json!({"kind": "blob", "trust_inputs": [], "promotable": false}),
            ),
            entry(
                "minio",
                Family::SourceTypes,
                json!({"kinds": ["blob"], "protocol": "https"}),
            ),
            entry("tape", Family::SourceTypes, json!({"kinds": ["blob"]})),
            entry(
                "loop",
                Family::SourceTypes,
                json!({"kinds": ["blob"], "protocol": "tape"}),
            ),
            entry("canary", Family::Channels, json!({"rank": 5})),
        ]);
        let name = |s: &str| ContributedName::parse(s).unwrap();
        assert_eq!(snap.artifact_kind_of(&name("oci.wasm")), Some(ArtifactKind::Blob));
        assert_eq!(snap.artifact_kind_of(&name("canary")), None);
        assert_eq!(snap.artifact_kind_of(&name("blob.unknown")), None);
        let source = |s: &str| s.parse::<SourceType>().unwrap();
        assert_eq!(snap.source_protocol(&source("s3")), Some(SourceType::S3));
        assert_eq!(snap.source_protocol(&source("minio")), Some(SourceType::Https));
        for none in ["tape", "loop", "canary", "unknown_store"] {
            assert_eq!(snap.source_protocol(&source(none)), None, "{none}");
        }
    }
}
