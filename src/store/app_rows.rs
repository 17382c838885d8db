//! App, version, link and entitlement rows, re-validated into domain types when read.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::StoreError;
use super::rows::{actor, parse};
use crate::domain::{App, AppVersion, ArtifactId, Entitlement, LinkedArtifact};

/// One `apps` row.
#[derive(sqlx::FromRow)]
pub(super) struct AppRow {
    slug: String,
    project: String,
    display_name: String,
    manifest: Json<serde_json::Value>,
    created_by_type: String,
    created_by_id: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<AppRow> for App {
    type Error = StoreError;

    fn try_from(r: AppRow) -> Result<Self, StoreError> {
        Ok(App {
            slug: parse("slug", &r.slug)?,
            project: parse("project", &r.project)?,
            display_name: r.display_name,
            manifest: r.manifest.0,
            created_by: actor(&r.created_by_type, r.created_by_id)?,
            created_at: r.created_at,
        })
    }
}

/// One `app_versions` row (its links are read separately).
#[derive(sqlx::FromRow)]
pub(super) struct VersionRow {
    pub(super) id: Uuid,
    app: String,
    version: String,
    status: String,
    manifest: Json<serde_json::Value>,
    manifest_digest: String,
    created_by_type: String,
    created_by_id: String,
    created_at: DateTime<Utc>,
    published_by_type: Option<String>,
    published_by_id: Option<String>,
    published_at: Option<DateTime<Utc>>,
}

impl VersionRow {
    /// The version with its links.
    pub(super) fn into_version(self, artifacts: Vec<LinkedArtifact>) -> Result<AppVersion, StoreError> {
        let published_by = match (self.published_by_type, self.published_by_id) {
            (Some(t), Some(id)) => Some(actor(&t, id)?),
            _ => None,
        };
        Ok(AppVersion {
            id: self.id,
            app: parse("app", &self.app)?,
            version: parse("version", &self.version)?,
            status: parse("status", &self.status)?,
            manifest: self.manifest.0,
            manifest_digest: self.manifest_digest,
            artifacts,
            created_by: actor(&self.created_by_type, self.created_by_id)?,
            created_at: self.created_at,
            published_by,
            published_at: self.published_at,
        })
    }
}

/// One `app_version_artifacts` row.
#[derive(sqlx::FromRow)]
pub(super) struct LinkRow {
    name: String,
    artifact_id: Uuid,
    digest: String,
}

impl TryFrom<LinkRow> for LinkedArtifact {
    type Error = StoreError;

    fn try_from(r: LinkRow) -> Result<Self, StoreError> {
        Ok(LinkedArtifact {
            name: r.name,
            artifact_id: ArtifactId(r.artifact_id),
            digest: parse("digest", &r.digest)?,
        })
    }
}

/// One `entitlements` row.
#[derive(sqlx::FromRow)]
pub(super) struct EntitlementRow {
    project: String,
    app: String,
    granted_by_type: String,
    granted_by_id: String,
    granted_at: DateTime<Utc>,
}

impl TryFrom<EntitlementRow> for Entitlement {
    type Error = StoreError;

    fn try_from(r: EntitlementRow) -> Result<Self, StoreError> {
        Ok(Entitlement {
            project: parse("project", &r.project)?,
            app: parse("app", &r.app)?,
            granted_by: actor(&r.granted_by_type, r.granted_by_id)?,
            granted_at: r.granted_at,
        })
    }
}
