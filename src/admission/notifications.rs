//! Registry notification intake: parse, decide `notify` for the registry, queue durably (deduplicated
//! by event id), answer. Applying the events is the worker's job.

use chrono::Utc;
use serde::Serialize;

use super::{Admission, AdmissionError, RequestMeta};
use crate::domain::{Actor, ActorType, RepositoryPath};
use crate::policy::{Action, Caller, RequestContext, Resource};
use crate::registry::parse_notification;

/// The registry principal's name in decisions and audit records.
pub const REGISTRY_PRINCIPAL: &str = "registry";

/// What the webhook did with a delivery.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntakeOutcome {
    /// New events queued.
    pub accepted: usize,
    /// Events already queued before (redeliveries); nothing changed for them.
    pub duplicates: usize,
    /// Events refused by policy or about repositories outside the registry root (decided, not queued).
    pub refused: usize,
}

impl Admission {
    /// Queues a notification delivery; answers once every accepted event is durable.
    pub async fn intake_notifications(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        meta: &RequestMeta,
    ) -> Result<IntakeOutcome, AdmissionError> {
        let events = parse_notification(content_type, body, Utc::now())
            .map_err(|e| AdmissionError::Malformed(e.to_string()))?;
        let actor = Actor {
            actor_type: ActorType::Registry,
            id: REGISTRY_PRINCIPAL.to_owned(),
        };
        let caller = Caller::Registry {
            name: REGISTRY_PRINCIPAL,
        };
        let mut outcome = IntakeOutcome::default();
        let (mut queued, mut decisions) = (Vec::new(), Vec::new());
        for event in events {
            let project = self.project_of_repository(&event.repository);
            let path = event.repository.parse::<RepositoryPath>().ok();
            let (Some(project), Some(path)) = (project, path) else {
                tracing::warn!(repository = %event.repository, "notification about a repository outside the registry root");
                outcome.refused += 1;
                continue;
            };
            let context = RequestContext::default();
            let scope = self.repository_roots().scope_of(&path);
            let resource = Resource::Repository {
                project: &project,
                path: &path,
                scope: &scope,
            };
            let (decision, record) =
                self.evaluate_as(caller, &actor, Action::Notify, resource, context, meta);
            if decision.allowed {
                queued.push(event);
                decisions.push(record);
            } else {
                self.log_decision(record).await?;
                outcome.refused += 1;
            }
        }
        let fresh = self.store.enqueue_registry_events(&queued, &decisions).await?;
        outcome.accepted = fresh.iter().filter(|new| **new).count();
        outcome.duplicates = fresh.len() - outcome.accepted;
        if outcome.accepted > 0 {
            self.events_waiting.notify_one();
        }
        Ok(outcome)
    }
}
