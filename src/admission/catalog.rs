//! The catalog through the gate: the cached catalog, the fail-closed checks privileged paths
//! make against it, and listing a family. Changes through the API are in `changes`.

mod changes;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::{NewAuditRecord, Transition};
use crate::catalog::{CatalogEntry, Family, Refusal, Snapshot};
use crate::domain::{Actor, Artifact, Lookup, Principal, Reason};
use crate::policy::{Action, Resource};
use crate::store::StoreError;

/// How long an instance trusts its cached catalog before re-reading it: changes made through
/// this instance apply at once; changes made through another instance within this interval.
pub const CATALOG_MAX_AGE: Duration = Duration::from_secs(30);

/// One entry as the API serves it.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogEntryView {
    /// The stored entry.
    #[serde(flatten)]
    pub entry: CatalogEntry,
    /// Whether privileged paths accept it now (active and enabled).
    pub usable: bool,
}

impl From<CatalogEntry> for CatalogEntryView {
    fn from(entry: CatalogEntry) -> Self {
        Self {
            usable: entry.usable(),
            entry,
        }
    }
}

/// A family's entries.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogList {
    /// The family.
    pub family: Family,
    /// Every entry, by id (pending and retired ones included, marked so).
    pub items: Vec<CatalogEntryView>,
    /// Always `null`: a family is served whole.
    pub next_cursor: Option<String>,
}

/// Body of enable and disable.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct CatalogChangeInput {
    /// Why (recorded in the audit trail).
    pub reason: Option<Reason>,
}

/// The family a path names; an unknown name is 404 listing the families.
fn family_of(family: &Lookup<Family>) -> Result<Family, AdmissionError> {
    match family {
        Lookup::Valid(family) => Ok(*family),
        Lookup::Unknown(raw) => {
            let known: Vec<&str> = Family::ALL.iter().map(Family::as_str).collect();
            Err(AdmissionError::NotFound(format!(
                "no catalog family `{raw}`; families: {}",
                known.join(", ")
            )))
        }
    }
}

fn entry_resource(e: &CatalogEntry) -> Resource<'_> {
    Resource::CatalogEntry {
        id: &e.id,
        family: e.family.as_str(),
        owner_product: &e.owner_product,
        status: e.status.as_str(),
    }
}

impl From<Refusal> for AdmissionError {
    fn from(refusal: Refusal) -> Self {
        Self::Catalog(refusal)
    }
}

impl Admission {
    /// The catalog serving now, re-read from the database when older than `CATALOG_MAX_AGE`.
    /// A failed re-read keeps the last snapshot (logged); a first load that fails leaves the
    /// catalog empty, so every check fails closed.
    pub async fn catalog(&self) -> Arc<Snapshot> {
        if self.catalog.is_stale()
            && let Err(error) = self.refresh_catalog().await
        {
            tracing::error!(%error, "cannot re-read the catalog; keeping the cached one");
        }
        self.catalog.snapshot()
    }

    /// Warns about configured channels the catalog does not (yet) allow: promotions to them are
    /// refused until an admin approves or enables them.
    pub async fn warn_unusable_channels(&self) {
        let catalog = self.catalog().await;
        for channel in self.channels.channels() {
            if let Err(refusal) = catalog.check(Family::Channels, channel.as_str()) {
                tracing::warn!(%refusal, "a configured channel is not usable: promotions to it are refused");
            }
        }
    }

    /// Re-reads the catalog from the database and swaps it in.
    pub async fn refresh_catalog(&self) -> Result<(), StoreError> {
        let entries = self.store.catalog_entries().await?;
        self.catalog.replace(Snapshot::new(entries));
        Ok(())
    }

    /// Refuses (409, naming the entry) unless `id` is an active, enabled `family` entry.
    pub(super) async fn require_catalog(&self, family: Family, id: &str) -> Result<(), AdmissionError> {
        self.catalog().await.check(family, id)?;
        Ok(())
    }

    /// The audit writing path's gate: an action id that is not a usable catalog entry is never
    /// written, and so the change it describes is not made.
    pub(super) async fn audit_allowed(&self, audit: &NewAuditRecord) -> Result<(), AdmissionError> {
        self.require_catalog(Family::AuditActions, &audit.action).await
    }

    /// Refuses like `require_catalog`, and records the refusal in the audit trail as
    /// `catalog.refuse` on `audit` (the subject's record: project, artifact…), with the
    /// requested action as the transition's `from`.
    pub(super) async fn require_catalog_audited(
        &self,
        family: Family,
        id: &str,
        requested: &str,
        audit: &NewAuditRecord,
    ) -> Result<(), AdmissionError> {
        match self.catalog().await.check(family, id) {
            Ok(_) => Ok(()),
            Err(refusal) => {
                self.record_catalog_refusal(audit.clone(), requested, &[refusal.to_string()])
                    .await;
                Err(refusal.into())
            }
        }
    }

    /// Refuses (409, naming the entry, audited as `catalog.refuse` on the artifact) unless the
    /// artifact's type and source type are both usable now: a disabled type stops every path
    /// that hands an artifact out or moves it, not only new registrations. `stored` says whether
    /// the artifact exists (a refused registration's record names no artifact id).
    pub(super) async fn require_artifact_entries(
        &self,
        artifact: &Artifact,
        stored: bool,
        actor: &Actor,
        requested: &str,
        correlation_id: &str,
    ) -> Result<(), AdmissionError> {
        let entries = [
            (Family::ArtifactTypes, artifact.artifact_type.as_str()),
            (Family::SourceTypes, artifact.source.source_type.as_str()),
        ];
        // The usual answer, both usable, needs no audit record: it is built only for a refusal
        // (its texts, two through `Display`, were built and dropped on every allowed review).
        let catalog = self.catalog().await;
        if entries
            .iter()
            .all(|&(family, id)| catalog.check(family, id).is_ok())
        {
            return Ok(());
        }
        let audit = NewAuditRecord {
            project: Some(artifact.project.to_string()),
            artifact_id: stored.then_some(artifact.id),
            repository: Some(artifact.repository.to_string()),
            digest: Some(artifact.digest.to_string()),
            artifact_kind: Some(artifact.artifact_kind.to_string()),
            source_type: Some(artifact.source.source_type.to_string()),
            ..NewAuditRecord::new(actor.clone(), "catalog.refuse", correlation_id)
        };
        // Checked again, each refusal audited as before (the catalog may have changed since).
        for (family, id) in entries {
            self.require_catalog_audited(family, id, requested, &audit)
                .await?;
        }
        Ok(())
    }

    /// Writes the `catalog.refuse` audit record of a request refused for `reasons` (each naming
    /// a catalog entry). Best effort, like the webhook's refusals: the refusal stands (and is
    /// logged) when the record cannot be written.
    pub(super) async fn record_catalog_refusal(
        &self,
        mut audit: NewAuditRecord,
        requested: &str,
        reasons: &[String],
    ) {
        audit.action = "catalog.refuse".to_owned();
        audit.decision = None;
        audit.promotion = None;
        audit.transition = Some(Transition {
            from: requested.to_owned(),
            to: "refused".to_owned(),
            reason: Some(reasons.join("; ")),
        });
        let written = match self.audit_allowed(&audit).await {
            Ok(()) => self
                .store
                .append_audit(audit)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = written {
            tracing::warn!(%error, requested, reasons = ?reasons, "could not audit a catalog refusal");
        }
    }

    /// Promotion also needs the artifact's type to be usable and marked promotable.
    pub(super) async fn require_promotable(&self, artifact: &Artifact) -> Result<(), AdmissionError> {
        let snapshot = self.catalog().await;
        let id = artifact.artifact_type.as_str();
        let entry = snapshot.check(Family::ArtifactTypes, id)?;
        if entry.fields.get("promotable") != Some(&Value::Bool(true)) {
            return Err(AdmissionError::Rule(format!(
                "artifact type `{id}` is not promotable in the catalog"
            )));
        }
        Ok(())
    }

    /// `GET /v1/catalog/{family}`.
    pub async fn list_catalog(
        &self,
        principal: &Principal,
        family: &Lookup<Family>,
        meta: &RequestMeta,
    ) -> Result<CatalogList, AdmissionError> {
        let family = family_of(family)?;
        self.authorize_read(principal, Action::Describe, Resource::Platform, meta)
            .await?;
        let snapshot = self.catalog().await;
        let items = snapshot
            .family(family)
            .into_iter()
            .map(|e| CatalogEntryView::from(e.clone()))
            .collect();
        Ok(CatalogList {
            family,
            items,
            next_cursor: None,
        })
    }
}
