//! Reloading and simulating the policy set: the one place that sequences a reload (validate,
//! audit, swap) and a what-if replay of the decision log against a candidate set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::decide::audit_decision;
use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::{AuditDecision, NewAuditRecord, Transition};
use crate::domain::{Actor, ActorType, Label, PolicyFileName, PolicyText, Principal, ProjectSlug};
use crate::policy::{Action, PolicyEngine, PolicyLoadError, ReplayReport, Resource};
use crate::store::{LogFilter, PageRequest};

/// The most stored decisions one simulation replays, so a request stays bounded.
pub const SIMULATE_MAX_DECISIONS: u32 = 10_000;

/// When the serving set was loaded and why the last reload was refused, if it was.
#[derive(Debug, Clone)]
pub(super) struct PolicyStatus {
    pub(super) loaded_at: DateTime<Utc>,
    pub(super) last_reload_error: Option<String>,
    /// The active bundle this instance could not load (not retried until another is activated).
    pub(super) refused_bundle: Option<String>,
}

impl PolicyStatus {
    pub(super) fn new() -> Self {
        Self {
            loaded_at: Utc::now(),
            last_reload_error: None,
            refused_bundle: None,
        }
    }
}

/// A reload that took effect.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    /// The hash now serving.
    pub hash: String,
    /// The hash that served before.
    pub previous_hash: String,
    /// When the new set took effect.
    pub loaded_at: DateTime<Utc>,
    /// Policy files of the new set.
    pub files: Vec<String>,
    /// Policy ids of the new set.
    pub policy_ids: Vec<String>,
}

/// What a reload did: applied, or refused while the old set keeps serving.
#[derive(Debug, Clone)]
pub enum ReloadOutcome {
    /// The new set serves.
    Applied(ReloadReport),
    /// The files on disk are invalid; nothing changed.
    Refused(PolicyLoadError),
}

/// `POST /v1/policies/simulate`: a candidate set in the body and filters on the decision log.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateInput {
    /// Plain `*.cedar` file name → policy text.
    #[serde(deserialize_with = "crate::domain::policy_files")]
    #[schema(value_type = BTreeMap<String, String>)]
    pub files: BTreeMap<PolicyFileName, PolicyText>,
    /// Only decisions at or after this time.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Only decisions on this project.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub project: Option<ProjectSlug>,
    /// Only decisions on this Cedar action (one line, at most 256 characters).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub action: Option<Label>,
    /// At most this many decisions (default and cap [`SIMULATE_MAX_DECISIONS`]).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// What a simulation found, or why the candidate was refused.
#[derive(Debug, Clone)]
pub enum SimulateOutcome {
    /// The decisions the candidate would change.
    Report(ReplayReport),
    /// The candidate does not validate.
    Refused(PolicyLoadError),
}

/// The actor of a SIGHUP reload. No person or token asked, so it is a machine identity: a
/// service account named for the signal, which no issuer can mint a token for by accident.
pub fn signal_actor() -> Actor {
    Actor {
        actor_type: ActorType::ServiceAccount,
        id: "gatehouse-signal".to_owned(),
    }
}

impl Admission {
    /// `POST /v1/policies/reload`, decided as `manage_policies` on the platform.
    pub async fn reload_policies_for(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<ReloadOutcome, AdmissionError> {
        let decision = self
            .authorize_read(principal, Action::ManagePolicies, Resource::Platform, meta)
            .await?;
        self.reload_policies(&principal.actor, Some(audit_decision(&decision)), meta)
            .await
    }

    /// Re-reads the schema and policy directory; a valid set is audited then swapped in whole,
    /// an invalid one is audited as refused and the old set keeps serving.
    pub async fn reload_policies(
        &self,
        actor: &Actor,
        decision: Option<AuditDecision>,
        meta: &RequestMeta,
    ) -> Result<ReloadOutcome, AdmissionError> {
        // Held throughout, so a signal and a request never interleave two reloads.
        let mut status = self.policy_status.lock().await;
        let current = self.policy();
        let (schema, dir) = (current.schema_file().to_owned(), current.policy_dir().to_owned());
        let loaded = load_blocking(move || PolicyEngine::load(&schema, &dir)).await?;
        let mut audit = NewAuditRecord {
            decision,
            ..NewAuditRecord::new(actor.clone(), "policy.reload", meta.correlation_id.clone())
        };
        let engine = match loaded {
            Ok(engine) => engine,
            Err(error) => {
                tracing::warn!(%error, "policy reload refused; the serving set is unchanged");
                audit.action = "policy.reload_refused".to_owned();
                audit.transition = Some(Transition {
                    from: current.hash().to_owned(),
                    to: current.hash().to_owned(),
                    reason: Some(error.to_string()),
                });
                status.last_reload_error = Some(error.to_string());
                self.metrics.count_policy_reload("refused");
                self.audit_allowed(&audit).await?;
                self.store.append_audit(audit).await?;
                return Ok(ReloadOutcome::Refused(error));
            }
        };
        audit.transition = Some(Transition {
            from: current.hash().to_owned(),
            to: engine.hash().to_owned(),
            reason: None,
        });
        // Audited before the swap: a reload the trail cannot record does not take effect.
        self.audit_allowed(&audit).await?;
        self.store.append_audit(audit).await?;
        // The other instances on this database converge on what this reload activates.
        self.store
            .activate_policy_bundle(engine.hash(), engine.sources(), &actor.id)
            .await?;
        let report = ReloadReport {
            hash: engine.hash().to_owned(),
            previous_hash: current.hash().to_owned(),
            loaded_at: Utc::now(),
            files: engine.files().to_vec(),
            policy_ids: engine.policy_ids(),
        };
        self.swap_policy(engine);
        status.loaded_at = report.loaded_at;
        status.last_reload_error = None;
        self.metrics.count_policy_reload("applied");
        tracing::info!(hash = %report.hash, previous = %report.previous_hash, "policy set reloaded");
        self.policy().warn_uncovered_actions();
        Ok(ReloadOutcome::Applied(report))
    }

    /// Swaps the serving set in whole: each request took its own snapshot, so none sees a mix.
    pub(super) fn swap_policy(&self, engine: PolicyEngine) {
        // The dry-run channels, provenance trust and decision cache size are configuration, not
        // policy: every set serves with them (and with a cache of its own, empty).
        let current = self.policy();
        let channels = current.dry_run_channels().map(str::to_owned).collect::<Vec<_>>();
        let provenance = Arc::clone(current.provenance_trust());
        let engine = Arc::new(
            engine
                .with_dry_run_channels(channels)
                .with_provenance_trust(provenance)
                .with_decision_cache(current.decision_cache_entries()),
        );
        match self.policy.write() {
            Ok(mut serving) => *serving = engine,
            Err(poisoned) => *poisoned.into_inner() = engine,
        }
        // A policy change re-runs every trust check rather than trusting remembered results.
        self.trust.invalidate_cache();
    }

    /// Why the last reload was refused, if the last reload was refused (for readiness).
    pub async fn last_policy_reload_error(&self) -> Option<String> {
        self.policy_status.lock().await.last_reload_error.clone()
    }

    /// `POST /v1/policies/simulate`: replays stored decisions against a candidate set.
    pub async fn simulate_policies(
        &self,
        principal: &Principal,
        input: SimulateInput,
        meta: &RequestMeta,
    ) -> Result<SimulateOutcome, AdmissionError> {
        self.authorize_read(principal, Action::ManagePolicies, Resource::Platform, meta)
            .await?;
        if input.files.is_empty() {
            return Err(AdmissionError::invalid(
                "files",
                "must hold at least one `*.cedar` file",
            ));
        }
        let limit = match input.limit {
            Some(0) => return Err(AdmissionError::invalid("limit", "must be at least 1")),
            Some(n) => n.min(SIMULATE_MAX_DECISIONS),
            None => SIMULATE_MAX_DECISIONS,
        };
        let schema = self.policy().schema_file().to_owned();
        let files = input.files;
        let candidate = match load_blocking(move || load_candidate(&schema, &files)).await? {
            // Replayed as it would serve here, with this instance's dry-run channels.
            Ok(engine) => engine.with_dry_run_channels(
                self.policy()
                    .dry_run_channels()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            ),
            Err(error) => return Ok(SimulateOutcome::Refused(error)),
        };
        let filter = LogFilter {
            project: input.project.map(|p| p.as_str().to_owned()),
            action: input.action.map(Label::into_string),
            since: input.since,
            ..LogFilter::default()
        };
        let mut report = ReplayReport::new(&candidate);
        let mut page = PageRequest {
            limit: 500.min(limit),
            cursor: None,
        };
        loop {
            let found = self.store.list_decisions(&filter, &page).await?;
            for record in &found.items {
                if report.replayed >= limit as usize {
                    return Ok(SimulateOutcome::Report(report));
                }
                report.add(&candidate, record);
            }
            match found.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(SimulateOutcome::Report(report)),
            }
        }
    }
}

/// Parsing and validating Cedar is CPU work: keep it off the async executor.
pub(super) async fn load_blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AdmissionError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        tracing::error!(%error, "policy loading task failed");
        AdmissionError::Internal
    })
}

/// Writes the candidate files to a directory of their own and loads them like a policy dir.
fn load_candidate(
    schema: &Path,
    files: &BTreeMap<PolicyFileName, PolicyText>,
) -> Result<PolicyEngine, PolicyLoadError> {
    let dir: PathBuf = std::env::temp_dir().join(format!("gatehouse-simulate-{}", uuid::Uuid::now_v7()));
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        files
            .iter()
            .try_for_each(|(name, text)| std::fs::write(dir.join(name.as_str()), text.as_str()))
    });
    let loaded = match written {
        Ok(()) => PolicyEngine::load(schema, &dir),
        Err(error) => Err(PolicyLoadError {
            problems: vec![crate::policy::PolicyProblem {
                file: "(candidate)".to_owned(),
                line: None,
                reason: format!("cannot stage the candidate files: {error}"),
            }],
        }),
    };
    if let Err(error) = std::fs::remove_dir_all(&dir) {
        tracing::warn!(%error, dir = %dir.display(), "cannot remove a simulation's temporary directory");
    }
    loaded
}
