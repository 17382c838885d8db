//! Many instances, one truth: every reload (and every start) activates its policy set in the
//! database; each instance adopts the active set when told (PostgreSQL LISTEN/NOTIFY) and on a
//! polling interval, so all converge on the most recently activated one and report the hash
//! they serve.

use chrono::Utc;

use super::policies::load_blocking;
use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::{NewAuditRecord, Transition};
use crate::domain::{Actor, ActorType};
use crate::policy::PolicyEngine;
use crate::store::PolicyChangeListener;

/// The actor of adoptions: this instance following the shared set, not a caller.
fn sync_actor() -> Actor {
    Actor {
        actor_type: ActorType::ServiceAccount,
        id: "gatehouse-policy-sync".to_owned(),
    }
}

impl Admission {
    /// A listener woken whenever any instance activates a set, where the database offers one.
    pub async fn listen_policy_changes(
        &self,
    ) -> Result<Option<Box<dyn PolicyChangeListener>>, AdmissionError> {
        Ok(self.store.listen_policy_changes().await?)
    }

    /// Makes the serving set the active one (at start: the newest start or reload wins).
    pub async fn activate_serving_policy(&self) -> Result<(), AdmissionError> {
        let engine = self.policy();
        let active = self.store.active_policy_bundle().await?;
        if active.as_ref().is_some_and(|(hash, _)| hash == engine.hash()) {
            return Ok(());
        }
        Ok(self
            .store
            .activate_policy_bundle(engine.hash(), engine.sources(), "gatehouse-start")
            .await?)
    }

    /// Adopts the active set if it differs from the serving one; answers whether it did. A set
    /// this instance cannot load (another schema) is refused once, loudly, and not retried.
    pub async fn adopt_active_policy(&self) -> Result<bool, AdmissionError> {
        let Some((hash, files)) = self.store.active_policy_bundle().await? else {
            return Ok(false);
        };
        let mut status = self.policy_status.lock().await;
        let current = self.policy();
        if hash == current.hash() || status.refused_bundle.as_deref() == Some(hash.as_str()) {
            return Ok(false);
        }
        let (schema, dir) = (current.schema_file().to_owned(), current.policy_dir().to_owned());
        let loaded = load_blocking(move || PolicyEngine::load_bundle(&schema, &dir, files)).await?;
        let engine = match loaded {
            Ok(engine) if engine.hash() == hash => engine,
            Ok(_) => {
                // Same files, other schema: following it would serve a set nobody validated here.
                tracing::error!(%hash, "the active policy set was made against another schema; not adopted");
                status.refused_bundle = Some(hash);
                return Ok(false);
            }
            Err(error) => {
                tracing::error!(%hash, %error, "the active policy set does not load here; not adopted");
                status.last_reload_error = Some(error.to_string());
                status.refused_bundle = Some(hash);
                self.metrics.count_policy_reload("refused");
                return Ok(false);
            }
        };
        let meta = RequestMeta::internal(format!("policy-sync-{}", uuid::Uuid::now_v7()));
        let audit = NewAuditRecord {
            transition: Some(Transition {
                from: current.hash().to_owned(),
                to: hash.clone(),
                reason: Some("adopted the policy set active in the database".to_owned()),
            }),
            ..NewAuditRecord::new(sync_actor(), "policy.reload", meta.correlation_id)
        };
        self.audit_allowed(&audit).await?;
        self.store.append_audit(audit).await?;
        self.swap_policy(engine);
        status.loaded_at = Utc::now();
        status.last_reload_error = None;
        self.metrics.count_policy_reload("adopted");
        tracing::info!(%hash, previous = %current.hash(), "adopted the active policy set");
        Ok(true)
    }
}
