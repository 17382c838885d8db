//! The in-memory catalog the hot path reads: an immutable snapshot behind an `Arc`, swapped
//! whole after every change through the API and refreshed periodically, so a check never hits
//! the database and never sees half an update.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::{CatalogEntry, EntryStatus, Family};

/// Why a privileged path may not use an entry; the message names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such id in the family.
    #[error("{} `{id}` is not in the catalog", family.singular())]
    Unknown {
        /// Family asked for.
        family: Family,
        /// Id asked for.
        id: String,
    },
    /// Contributed but not approved yet.
    #[error("{} `{id}` is pending approval in the catalog", family.singular())]
    Pending {
        /// Family.
        family: Family,
        /// Id.
        id: String,
    },
    /// Switched off by a platform admin.
    #[error("{} `{id}` is disabled in the catalog", family.singular())]
    Disabled {
        /// Family.
        family: Family,
        /// Id.
        id: String,
    },
    /// A tombstone.
    #[error("{} `{id}` is retired in the catalog", family.singular())]
    Retired {
        /// Family.
        family: Family,
        /// Id.
        id: String,
    },
}

impl Refusal {
    /// The entry refused: its family and id.
    pub fn entry(&self) -> (Family, &str) {
        match self {
            Self::Unknown { family, id }
            | Self::Pending { family, id }
            | Self::Disabled { family, id }
            | Self::Retired { family, id } => (*family, id),
        }
    }
}

/// The whole catalog at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    by_id: HashMap<String, CatalogEntry>,
}

impl Snapshot {
    /// Indexes `entries` by id.
    pub fn new(entries: Vec<CatalogEntry>) -> Self {
        Self {
            by_id: entries.into_iter().map(|e| (e.id.clone(), e)).collect(),
        }
    }

    /// One entry by id, whatever its family.
    pub fn get(&self, id: &str) -> Option<&CatalogEntry> {
        self.by_id.get(id)
    }

    /// Whether `id` may be used as a `family` entry now: present in that family, active and
    /// enabled. Anything else is refused, naming the entry.
    pub fn check(&self, family: Family, id: &str) -> Result<&CatalogEntry, Refusal> {
        let id_owned = || id.to_owned();
        let entry = self
            .by_id
            .get(id)
            .filter(|e| e.family == family)
            .ok_or_else(|| Refusal::Unknown {
                family,
                id: id_owned(),
            })?;
        match entry.status {
            EntryStatus::Pending => Err(Refusal::Pending {
                family,
                id: id_owned(),
            }),
            EntryStatus::Retired => Err(Refusal::Retired {
                family,
                id: id_owned(),
            }),
            EntryStatus::Active if !entry.enabled => Err(Refusal::Disabled {
                family,
                id: id_owned(),
            }),
            EntryStatus::Active => Ok(entry),
        }
    }

    /// Where a `[trust.required]` configuration (artifact type or kind → evidence types)
    /// disagrees with the catalog: a key that is no artifact type or kind, or evidence an
    /// artifact type does not list among its `trust_inputs`.
    pub fn trust_mismatches(&self, required: &BTreeMap<String, Vec<String>>) -> Vec<String> {
        let mut found = Vec::new();
        for (key, evidence) in required {
            let types: Vec<&CatalogEntry> = self
                .family(Family::ArtifactTypes)
                .into_iter()
                .filter(|t| t.id == *key || t.fields.get("kind").and_then(|k| k.as_str()) == Some(key))
                .collect();
            if types.is_empty() {
                found.push(format!(
                    "`trust.required.{key}` names no artifact type or kind in the catalog"
                ));
            }
            for t in types {
                let inputs = t.fields.get("trust_inputs").and_then(|i| i.as_array());
                for e in evidence {
                    if !inputs.is_some_and(|i| i.iter().any(|v| v == e.as_str())) {
                        found.push(format!(
                            "`trust.required.{key}` requires `{e}`, which artifact type `{}` does not \
                             list among its catalog trust inputs",
                            t.id
                        ));
                    }
                }
            }
        }
        found
    }

    /// A family's entries, ordered by id.
    pub fn family(&self, family: Family) -> Vec<&CatalogEntry> {
        let mut list: Vec<&CatalogEntry> = self.by_id.values().filter(|e| e.family == family).collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }
}

/// The shared cache: the current snapshot and when it was loaded.
#[derive(Debug)]
pub struct CatalogCache {
    /// The snapshot and when it was read (`None`: never, so the first use reads it).
    current: RwLock<(Arc<Snapshot>, Option<Instant>)>,
    max_age: Duration,
}

impl CatalogCache {
    /// An empty cache (it refuses everything until first read), considered stale after
    /// `max_age` (other instances on the same database may have changed the catalog).
    pub fn new(max_age: Duration) -> Self {
        Self {
            current: RwLock::new((Arc::new(Snapshot::default()), None)),
            max_age,
        }
    }

    /// The snapshot serving now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard.0),
            // A poisoned lock still holds a whole snapshot; keep serving it.
            Err(poisoned) => Arc::clone(&poisoned.into_inner().0),
        }
    }

    /// Whether the snapshot is older than the refresh interval.
    pub fn is_stale(&self) -> bool {
        match self.current.read() {
            Ok(guard) => guard.1.is_none_or(|at| at.elapsed() >= self.max_age),
            Err(_) => true,
        }
    }

    /// Replaces the snapshot.
    pub fn replace(&self, snapshot: Snapshot) {
        let fresh = (Arc::new(snapshot), Some(Instant::now()));
        match self.current.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::Utc;
    use serde_json::json;

    use super::*;

    fn entry(id: &str, family: Family, status: EntryStatus, enabled: bool) -> CatalogEntry {
        CatalogEntry {
            id: id.into(),
            family,
            description: "d".into(),
            owner_product: "gatehouse".into(),
            enabled,
            status,
            fields: json!({}),
            created_by: "seed".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn only_active_enabled_entries_of_the_right_family_pass() {
        let snap = Snapshot::new(vec![
            entry("policy.reload", Family::AuditActions, EntryStatus::Active, true),
            entry(
                "blob.checkpoint",
                Family::ArtifactTypes,
                EntryStatus::Active,
                false,
            ),
            entry("canary", Family::Channels, EntryStatus::Pending, true),
            entry("old", Family::Channels, EntryStatus::Retired, true),
        ]);
        assert!(snap.check(Family::AuditActions, "policy.reload").is_ok());
        assert_eq!(
            snap.check(Family::AuditActions, "app.unseeded")
                .unwrap_err()
                .to_string(),
            "audit action `app.unseeded` is not in the catalog"
        );
        assert_eq!(
            snap.check(Family::ArtifactTypes, "blob.checkpoint")
                .unwrap_err()
                .to_string(),
            "artifact type `blob.checkpoint` is disabled in the catalog"
        );
        assert!(matches!(
            snap.check(Family::Channels, "canary"),
            Err(Refusal::Pending { .. })
        ));
        assert!(matches!(
            snap.check(Family::Channels, "old"),
            Err(Refusal::Retired { .. })
        ));
        // An id of another family is unknown in this one.
        assert!(matches!(
            snap.check(Family::Channels, "policy.reload"),
            Err(Refusal::Unknown { .. })
        ));
    }

    #[test]
    fn trust_configuration_is_checked_against_the_catalog() {
        let mut image = entry("oci.image", Family::ArtifactTypes, EntryStatus::Active, true);
        image.fields = json!({"kind": "oci", "trust_inputs": ["signature"], "promotable": true});
        let snap = Snapshot::new(vec![image]);
        let required = |k: &str, e: &str| BTreeMap::from([(k.to_owned(), vec![e.to_owned()])]);
        assert!(snap.trust_mismatches(&required("oci", "signature")).is_empty());
        assert!(
            snap.trust_mismatches(&required("oci.image", "signature"))
                .is_empty()
        );
        let bad = snap.trust_mismatches(&required("oci", "blob_bundle"));
        assert!(bad.len() == 1 && bad[0].contains("`oci.image`"), "{bad:?}");
        let bad = snap.trust_mismatches(&required("zip", "signature"));
        assert!(bad[0].contains("names no artifact type"), "{bad:?}");
    }

    #[test]
    fn an_empty_catalog_refuses_everything() {
        let cache = CatalogCache::new(Duration::from_secs(30));
        assert!(cache.is_stale());
        let snapshot = cache.snapshot();
        assert!(snapshot.check(Family::AuditActions, "policy.reload").is_err());
        cache.replace(Snapshot::default());
        assert!(!cache.is_stale());
    }
}
