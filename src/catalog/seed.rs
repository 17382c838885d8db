//! The seed file: parsed, validated against the family schemas, and planned against what the
//! database already holds so an id never changes meaning.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{CatalogEntry, EntrySchemas, EntrySpec, EntryStatus, Family, InvalidEntry};

/// `schemas/catalog.yaml`, compiled in: the binary always seeds the ids its own code emits.
pub const SEED_YAML: &str = include_str!("../../schemas/catalog.yaml");

/// Why a seed was refused; nothing is written when it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// Not YAML, or not a map of family to list of entries.
    #[error("the catalog seed is not valid YAML of family → entries: {0}")]
    Malformed(String),
    /// A top-level key that names no family.
    #[error("the catalog seed names an unknown family `{0}`")]
    UnknownFamily(String),
    /// An entry breaks its family's schema.
    #[error("catalog seed `{family}` entry {index}: {error}")]
    Invalid {
        /// Family.
        family: Family,
        /// Position in the family's list, from 0.
        index: usize,
        /// Pointer and rule.
        error: InvalidEntry,
    },
    /// The same id twice (ids are unique across families).
    #[error("catalog seed: id `{0}` appears more than once")]
    Duplicate(String),
    /// The seed would change what a published id means.
    #[error("catalog seed: {0}")]
    Incompatible(String),
}

/// A validated seed: every entry with its family.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Entries by family name, each family in file order.
    pub entries: Vec<(Family, EntrySpec)>,
}

impl Seed {
    /// Parses and validates the compiled-in seed.
    pub fn embedded(schemas: &EntrySchemas) -> Result<Self, SeedError> {
        Self::parse(SEED_YAML, schemas)
    }

    /// Parses `yaml` and validates every entry against its family's schema.
    pub fn parse(yaml: &str, schemas: &EntrySchemas) -> Result<Self, SeedError> {
        let doc: BTreeMap<String, Vec<Value>> =
            serde_norway::from_str(yaml).map_err(|e| SeedError::Malformed(e.to_string()))?;
        let mut entries = Vec::new();
        let mut seen = HashMap::new();
        for (name, list) in doc {
            let family = Family::parse(&name).ok_or(SeedError::UnknownFamily(name))?;
            for (index, raw) in list.iter().enumerate() {
                let spec = schemas
                    .validate(family, raw)
                    .map_err(|error| SeedError::Invalid { family, index, error })?;
                if seen.insert(spec.id.clone(), family).is_some() {
                    return Err(SeedError::Duplicate(spec.id));
                }
                entries.push((family, spec));
            }
        }
        Ok(Self { entries })
    }
}

/// What applying a seed changes: new entries, and compatible updates to existing ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeedPlan {
    /// Ids the database does not hold yet.
    pub inserts: Vec<CatalogEntry>,
    /// Existing ids whose description, owner or fields changed, or that the seed retires.
    pub updates: Vec<CatalogEntry>,
}

/// Plans `seed` against `existing`, refusing any change of meaning: a different family, a
/// different identity field (an artifact type's `kind`), or bringing a retired id back.
/// An existing entry's enabled flag is an admin's decision and is never overridden.
pub fn plan_seed(seed: &Seed, existing: &[CatalogEntry], now: DateTime<Utc>) -> Result<SeedPlan, SeedError> {
    let by_id: HashMap<&str, &CatalogEntry> = existing.iter().map(|e| (e.id.as_str(), e)).collect();
    let mut plan = SeedPlan::default();
    for (family, spec) in &seed.entries {
        let Some(stored) = by_id.get(spec.id.as_str()) else {
            plan.inserts.push(CatalogEntry {
                id: spec.id.clone(),
                family: *family,
                description: spec.description.clone(),
                owner_product: spec.owner_product.clone(),
                enabled: spec.enabled,
                status: spec.status(),
                fields: spec.fields.clone(),
                created_by: "seed".to_owned(),
                created_at: now,
                updated_at: now,
            });
            continue;
        };
        check_compatible(*family, spec, stored)?;
        // The seed may retire an id; approval and enabling stay an admin's decision.
        let status = if spec.status() == EntryStatus::Retired {
            EntryStatus::Retired
        } else {
            stored.status
        };
        let updated = CatalogEntry {
            description: spec.description.clone(),
            owner_product: spec.owner_product.clone(),
            fields: spec.fields.clone(),
            status,
            ..(*stored).clone()
        };
        if updated != **stored {
            plan.updates.push(CatalogEntry {
                updated_at: now,
                ..updated
            });
        }
    }
    Ok(plan)
}

fn check_compatible(family: Family, spec: &EntrySpec, stored: &CatalogEntry) -> Result<(), SeedError> {
    let id = &spec.id;
    if stored.family != family {
        return Err(SeedError::Incompatible(format!(
            "id `{id}` is published in `{}`; it cannot move to `{family}` (ids are never reused: \
             choose a new id)",
            stored.family
        )));
    }
    if stored.status == EntryStatus::Retired && spec.status() != EntryStatus::Retired {
        return Err(SeedError::Incompatible(format!(
            "id `{id}` is retired; a retired id is never used again (choose a new id)"
        )));
    }
    if let Some(field) = family.identity_field() {
        let (old, new) = (stored.fields.get(field), spec.fields.get(field));
        if old != new {
            return Err(SeedError::Incompatible(format!(
                "{} `{id}` has `{field}` {}; changing it to {} would change what the id means \
                 (choose a new id)",
                family.singular(),
                old.map_or_else(|| "unset".to_owned(), Value::to_string),
                new.map_or_else(|| "unset".to_owned(), Value::to_string),
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::{ArtifactType, SourceType};

    fn seed() -> Seed {
        Seed::embedded(&EntrySchemas::embedded().unwrap()).unwrap()
    }

    fn stored(seed: &Seed) -> Vec<CatalogEntry> {
        plan_seed(seed, &[], Utc::now()).unwrap().inserts
    }

    #[test]
    fn the_seed_file_validates_and_covers_every_family() {
        let seed = seed();
        for family in Family::ALL {
            assert!(
                seed.entries.iter().any(|(f, _)| f == family),
                "the seed has no `{family}` entry"
            );
        }
    }

    #[test]
    fn the_seed_agrees_with_the_types_the_code_knows() {
        let seed = seed();
        let find = |family: Family, id: &str| {
            seed.entries
                .iter()
                .find(|(f, s)| *f == family && s.id == id)
                .map(|(_, s)| s.clone())
        };
        for t in ArtifactType::BUILTIN {
            let spec = find(Family::ArtifactTypes, t.as_str())
                .unwrap_or_else(|| panic!("artifact type `{}` is not seeded", t.as_str()));
            let kind = t.builtin_kind().map(|k| k.as_str());
            assert_eq!(spec.fields["kind"].as_str(), kind, "{}", t.as_str());
        }
        for s in SourceType::BUILTIN {
            let spec = find(Family::SourceTypes, s.as_str());
            assert!(spec.is_some(), "{}", s.as_str());
            // A built-in is its own protocol; only contributed types name one.
            assert!(spec.is_some_and(|spec| spec.fields.get("protocol").is_none()));
        }
        for c in ["dev", "test", "staging", "prod"] {
            assert!(find(Family::Channels, c).is_some(), "{c}");
        }
        for e in crate::trust::REQUIRABLE_EVIDENCE {
            assert!(find(Family::EvidenceTypes, e).is_some(), "{e}");
        }
        // Cross-family references resolve: owners are products, template events audit actions.
        for (family, spec) in &seed.entries {
            assert!(
                find(Family::Products, &spec.owner_product).is_some(),
                "{family} `{}`",
                spec.id
            );
            if *family == Family::NotificationTemplates {
                let event = spec.fields["event"].as_str().unwrap();
                assert!(find(Family::AuditActions, event).is_some(), "{event}");
            }
        }
    }

    #[test]
    fn reseeding_changes_nothing_and_keeps_admin_decisions() {
        let seed = seed();
        let mut existing = stored(&seed);
        existing[0].enabled = false;
        let plan = plan_seed(&seed, &existing, Utc::now()).unwrap();
        assert_eq!(plan, SeedPlan::default());
    }

    #[test]
    fn an_id_never_changes_family_or_kind_and_a_retired_id_stays_retired() {
        let schemas = EntrySchemas::embedded().unwrap();
        let seed = seed();
        let existing = stored(&seed);
        let moved =
            SEED_YAML.replace("  - id: gpu_hour\n", "  - id: gpu_hour_x\n") + "\nproducts_extra_marker: []\n";
        assert!(Seed::parse(&moved, &schemas).is_err(), "unknown family accepted");

        let kind_changed = SEED_YAML.replace(
            "fields: { kind: blob, trust_inputs: [attestation, blob_bundle], promotable: false }",
            "fields: { kind: oci, trust_inputs: [signature], promotable: false }",
        );
        let err = plan_seed(
            &Seed::parse(&kind_changed, &schemas).unwrap(),
            &existing,
            Utc::now(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("`blob.checkpoint`"), "{err}");

        let mut retired = existing.clone();
        let i = retired.iter().position(|e| e.id == "gpu_hour").unwrap();
        retired[i].status = EntryStatus::Retired;
        let err = plan_seed(&seed, &retired, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("`gpu_hour` is retired"), "{err}");

        let mut other_family = existing;
        other_family[i].family = Family::Products;
        let err = plan_seed(&seed, &other_family, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("cannot move"), "{err}");
    }
}
