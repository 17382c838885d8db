//! Changes to the catalog through the API: products contribute entries (pending), platform
//! admins approve, enable and disable them. Each is decided by Cedar and audited with the change.

use std::sync::OnceLock;

use chrono::Utc;
use serde_json::Value;

use super::{CatalogChangeInput, CatalogEntryView, entry_resource, family_of};
use crate::admission::{Admission, AdmissionError, RequestMeta};
use crate::audit::{NewAuditRecord, Transition};
use crate::catalog::{CatalogEntry, EntrySchemas, EntryStatus, Family};
use crate::domain::{ContributedName, Lookup, Principal, Reason};
use crate::policy::{Action, RequestContext};
use crate::store::StoreError;

impl Admission {
    /// `POST /v1/catalog/{family}`: a product proposes an entry; it is stored `pending`.
    pub async fn contribute_catalog_entry(
        &self,
        principal: &Principal,
        family: &Lookup<Family>,
        body: Value,
        meta: &RequestMeta,
    ) -> Result<CatalogEntryView, AdmissionError> {
        let family = family_of(family)?;
        if body.get("status").is_some() {
            return Err(AdmissionError::invalid(
                "/status",
                "is not set by a contributor: an entry is pending until a platform admin approves it",
            ));
        }
        let schemas = entry_schemas().map_err(|e| {
            tracing::error!(error = %e, "the compiled-in catalog entry schema is invalid");
            AdmissionError::Internal
        })?;
        let spec = schemas
            .validate(family, &body)
            .map_err(|e| AdmissionError::invalid(e.pointer, e.reason))?;
        let now = Utc::now();
        let entry = CatalogEntry {
            id: spec.id,
            family,
            description: spec.description,
            owner_product: spec.owner_product,
            enabled: spec.enabled,
            status: EntryStatus::Pending,
            fields: spec.fields,
            created_by: principal.actor.id.clone(),
            created_at: now,
            updated_at: now,
        };
        let allowed = self
            .authorize(
                principal,
                Action::ContributeCatalogEntry,
                entry_resource(&entry),
                RequestContext::default(),
                meta,
            )
            .await?;
        let taken = || id_taken(&entry.id);
        if self.catalog().await.get(&entry.id).is_some() {
            return Err(taken());
        }
        let mut audit = catalog_audit(
            principal,
            "catalog.contribute",
            &entry,
            "none",
            "pending",
            None,
            meta,
        );
        audit.decision = Some(allowed.audit_decision());
        self.audit_allowed(&audit).await?;
        match self
            .store
            .insert_catalog_entry(&entry, audit, &allowed.record)
            .await
        {
            Ok(()) => {}
            // Taken by a concurrent request, or by another instance since the last refresh.
            Err(StoreError::Conflict) => return Err(taken()),
            Err(other) => return Err(other.into()),
        }
        self.refresh_after_change().await;
        Ok(entry.into())
    }

    /// `POST /v1/catalog/{family}/{id}/approve`: a pending entry becomes usable.
    pub async fn approve_catalog_entry(
        &self,
        principal: &Principal,
        family: &Lookup<Family>,
        id: &Lookup<ContributedName>,
        meta: &RequestMeta,
    ) -> Result<CatalogEntryView, AdmissionError> {
        self.change_catalog_entry(principal, family, id, Change::Approve, None, meta)
            .await
    }

    /// `POST /v1/catalog/{family}/{id}/enable` and `…/disable`.
    pub async fn set_catalog_entry_enabled(
        &self,
        principal: &Principal,
        family: &Lookup<Family>,
        id: &Lookup<ContributedName>,
        enabled: bool,
        input: CatalogChangeInput,
        meta: &RequestMeta,
    ) -> Result<CatalogEntryView, AdmissionError> {
        let change = if enabled { Change::Enable } else { Change::Disable };
        self.change_catalog_entry(
            principal,
            family,
            id,
            change,
            input.reason.map(Reason::into_string),
            meta,
        )
        .await
    }

    async fn change_catalog_entry(
        &self,
        principal: &Principal,
        family: &Lookup<Family>,
        id: &Lookup<ContributedName>,
        change: Change,
        reason: Option<String>,
        meta: &RequestMeta,
    ) -> Result<CatalogEntryView, AdmissionError> {
        let family = family_of(family)?;
        // Read fresh: an admin acts on the stored entry, not on a cached copy.
        self.refresh_catalog().await?;
        let snapshot = self.catalog.snapshot();
        // Every stored id has the catalog id grammar (seeded and contributed entries are
        // validated by the entry schema): one that lacks it names no entry.
        let stored = match id {
            Lookup::Valid(id) => snapshot.get(id.as_str()),
            Lookup::Unknown(_) => None,
        };
        let before = stored
            .filter(|e| e.family == family)
            .cloned()
            .ok_or_else(|| AdmissionError::NotFound(format!("no `{family}` catalog entry `{id}`")))?;
        let action = match change {
            Change::Approve => Action::ApproveCatalogEntry,
            Change::Enable | Change::Disable => Action::ManageCatalog,
        };
        let allowed = self
            .authorize(
                principal,
                action,
                entry_resource(&before),
                RequestContext::default(),
                meta,
            )
            .await?;
        let (after, from, to) = change.apply(&before)?;
        let mut audit = catalog_audit(principal, change.audit_action(), &before, from, to, reason, meta);
        audit.decision = Some(allowed.audit_decision());
        self.audit_allowed(&audit).await?;
        let after = CatalogEntry {
            updated_at: Utc::now(),
            ..after
        };
        match self
            .store
            .update_catalog_entry(&before, &after, audit, &allowed.record)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(AdmissionError::Rule(format!(
                    "catalog entry `{id}` was changed by another request; read it again and retry"
                )));
            }
            Err(other) => return Err(other.into()),
        }
        self.refresh_after_change().await;
        Ok(after.into())
    }

    /// Every change through the API is visible to the next request on this instance.
    async fn refresh_after_change(&self) {
        if let Err(error) = self.refresh_catalog().await {
            tracing::error!(%error, "cannot re-read the catalog after a change");
        }
    }
}

/// The family schemas, compiled once.
fn entry_schemas() -> Result<&'static EntrySchemas, &'static str> {
    static SCHEMAS: OnceLock<Result<EntrySchemas, String>> = OnceLock::new();
    SCHEMAS
        .get_or_init(EntrySchemas::embedded)
        .as_ref()
        .map_err(String::as_str)
}

fn id_taken(id: &str) -> AdmissionError {
    AdmissionError::Rule(format!(
        "catalog id `{id}` is already taken (ids are never reused, even once retired): choose a new id"
    ))
}

/// An admin's move on one entry.
#[derive(Debug, Clone, Copy)]
enum Change {
    Approve,
    Enable,
    Disable,
}

impl Change {
    fn audit_action(self) -> &'static str {
        match self {
            Self::Approve => "catalog.approve",
            Self::Enable => "catalog.enable",
            Self::Disable => "catalog.disable",
        }
    }

    /// The entry after the move, with the audit transition, or why the entry's state refuses it.
    fn apply(self, e: &CatalogEntry) -> Result<(CatalogEntry, &'static str, &'static str), AdmissionError> {
        if e.status == EntryStatus::Retired {
            return Err(AdmissionError::Rule(format!(
                "{} `{}` is retired: a tombstone accepts no change",
                e.family.singular(),
                e.id
            )));
        }
        let on_off = |b: bool| if b { "enabled" } else { "disabled" };
        match self {
            Self::Approve if e.status != EntryStatus::Pending => Err(AdmissionError::Rule(format!(
                "{} `{}` is not pending approval",
                e.family.singular(),
                e.id
            ))),
            Self::Approve => Ok((
                CatalogEntry {
                    status: EntryStatus::Active,
                    ..e.clone()
                },
                "pending",
                "active",
            )),
            Self::Enable | Self::Disable => {
                let enabled = matches!(self, Self::Enable);
                Ok((
                    CatalogEntry { enabled, ..e.clone() },
                    on_off(e.enabled),
                    on_off(enabled),
                ))
            }
        }
    }
}

/// The audit record of a catalog change; the entry is named in the transition's reason.
fn catalog_audit(
    principal: &Principal,
    action: &str,
    entry: &CatalogEntry,
    from: &str,
    to: &str,
    reason: Option<String>,
    meta: &RequestMeta,
) -> NewAuditRecord {
    let subject = format!("catalog entry `{}/{}`", entry.family, entry.id);
    NewAuditRecord {
        transition: Some(Transition {
            from: from.to_owned(),
            to: to.to_owned(),
            reason: Some(match reason {
                Some(r) => format!("{subject}: {r}"),
                None => subject,
            }),
        }),
        ..NewAuditRecord::new(principal.actor.clone(), action, meta.correlation_id.clone())
    }
}
