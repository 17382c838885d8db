//! The platform catalog: stable ids in families (artifact types, source types, channels, audit
//! actions, …), seeded from `schemas/catalog.yaml`, contributed through the API, and checked on
//! privileged paths so an unknown, pending, retired or disabled entry fails closed.

mod cache;
mod open;
mod schema;
mod seed;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use cache::{CatalogCache, Refusal, Snapshot};
pub use schema::{EntrySchemas, EntrySpec, InvalidEntry};
pub use seed::{SEED_YAML, Seed, SeedError, SeedPlan, plan_seed};

/// One catalog family, as named in `GET /v1/catalog/{family}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Platform products and their owner domains.
    Products,
    /// API, service-account, operator and release scopes.
    Scopes,
    /// Metered usage units.
    UsageUnits,
    /// Action ids written to the audit trail.
    AuditActions,
    /// Evidence types, with their retention class.
    EvidenceTypes,
    /// Notification templates.
    NotificationTemplates,
    /// Artifact types: kind, trust inputs, whether promotable.
    ArtifactTypes,
    /// What an app builder must satisfy.
    SdkContracts,
    /// Where artifact bytes live.
    SourceTypes,
    /// Promotion channels.
    Channels,
    /// App manifest vocabulary: how an app may be operated (`tenant_dedicated`, …).
    OperatingModes,
    /// App manifest vocabulary: where an app's control plane may sit (`project`, …).
    ControlPlaneScopes,
    /// App manifest vocabulary: what runs an app (`k8s-gpu`, …).
    RuntimeBackends,
    /// App manifest vocabulary: credentials an app's runtime is given.
    CredentialClasses,
    /// App manifest vocabulary: how work reaches an app's external worker.
    WorkerDeliveries,
}

impl Family {
    /// Every family, in the order the API documents them.
    pub const ALL: &'static [Family] = &[
        Self::Products,
        Self::Scopes,
        Self::UsageUnits,
        Self::AuditActions,
        Self::EvidenceTypes,
        Self::NotificationTemplates,
        Self::ArtifactTypes,
        Self::SdkContracts,
        Self::SourceTypes,
        Self::Channels,
        Self::OperatingModes,
        Self::ControlPlaneScopes,
        Self::RuntimeBackends,
        Self::CredentialClasses,
        Self::WorkerDeliveries,
    ];

    /// The wire name, e.g. `artifact_types`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Products => "products",
            Self::Scopes => "scopes",
            Self::UsageUnits => "usage_units",
            Self::AuditActions => "audit_actions",
            Self::EvidenceTypes => "evidence_types",
            Self::NotificationTemplates => "notification_templates",
            Self::ArtifactTypes => "artifact_types",
            Self::SdkContracts => "sdk_contracts",
            Self::SourceTypes => "source_types",
            Self::Channels => "channels",
            Self::OperatingModes => "operating_modes",
            Self::ControlPlaneScopes => "control_plane_scopes",
            Self::RuntimeBackends => "runtime_backends",
            Self::CredentialClasses => "credential_classes",
            Self::WorkerDeliveries => "worker_deliveries",
        }
    }

    /// One entry of the family in prose, for refusals: "artifact type `blob.checkpoint` …".
    pub fn singular(&self) -> &'static str {
        match self {
            Self::Products => "product",
            Self::Scopes => "scope",
            Self::UsageUnits => "usage unit",
            Self::AuditActions => "audit action",
            Self::EvidenceTypes => "evidence type",
            Self::NotificationTemplates => "notification template",
            Self::ArtifactTypes => "artifact type",
            Self::SdkContracts => "sdk contract",
            Self::SourceTypes => "source type",
            Self::Channels => "channel",
            Self::OperatingModes => "operating mode",
            Self::ControlPlaneScopes => "control plane scope",
            Self::RuntimeBackends => "runtime backend",
            Self::CredentialClasses => "credential class",
            Self::WorkerDeliveries => "worker delivery",
        }
    }

    /// Parses the wire name; unknown names are `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.as_str() == raw)
    }

    /// The field whose value is part of an entry's meaning and so may never change once
    /// published (an artifact type's `kind`, a source type's `protocol`).
    fn identity_field(&self) -> Option<&'static str> {
        match self {
            Self::ArtifactTypes => Some("kind"),
            // A contributed source type's protocol decides how its locations are read.
            Self::SourceTypes => Some("protocol"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an entry stands; only an `active`, enabled entry is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryStatus {
    /// Approved (or seeded): usable while enabled.
    Active,
    /// Contributed by a product, awaiting a platform admin's approval: served, not usable.
    Pending,
    /// A tombstone: the id stays taken forever and is never usable again.
    Retired,
}

impl EntryStatus {
    /// The wire form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Retired => "retired",
        }
    }

    /// Parses the wire form.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Active, Self::Pending, Self::Retired]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

impl Serialize for EntryStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A stored catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogEntry {
    /// The stable id (unique across every family, never reused).
    pub id: String,
    /// Its family.
    pub family: Family,
    /// What it is.
    pub description: String,
    /// The product that owns it.
    pub owner_product: String,
    /// Whether a platform admin has it switched on.
    pub enabled: bool,
    /// Active, pending or retired.
    pub status: EntryStatus,
    /// The family-specific fields, valid against the family's schema.
    pub fields: serde_json::Value,
    /// Who created it (`seed` for the seed file).
    pub created_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl CatalogEntry {
    /// Whether privileged paths may use it: active and enabled.
    pub fn usable(&self) -> bool {
        self.status == EntryStatus::Active && self.enabled
    }
}

impl Serialize for Family {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a path segment names no catalog family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownFamily;

impl std::fmt::Display for UnknownFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("is not a catalog family")
    }
}

/// A family's wire name (`artifact_types`), as a path names it.
impl std::str::FromStr for Family {
    type Err = UnknownFamily;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw).ok_or(UnknownFamily)
    }
}
