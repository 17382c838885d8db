//! Registry notification intake: parse, decide `notify` for the registry, queue durably (deduplicated
//! by event id), answer. Applying the events is the worker's job.

use chrono::Utc;
use serde::Serialize;

use super::{Admission, AdmissionError, RequestMeta};
use crate::domain::{Actor, ActorType, ProjectSlug, RepositoryPath};
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
            let path = event.repository.path().cloned();
            let project = match (self.project_of_repository(event.repository.as_str()), &path) {
                (Some(project), _) => Some(project),
                (None, Some(path)) => self.owner_of_scoped_repository(path, event.received_at).await?,
                (None, None) => None,
            };
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

impl Admission {
    /// The project a tenant or platform repository is being pushed for: its paths name no
    /// project, so the open publish intents for the path tell, when they agree on one.
    async fn owner_of_scoped_repository(
        &self,
        path: &RepositoryPath,
        at: chrono::DateTime<Utc>,
    ) -> Result<Option<ProjectSlug>, AdmissionError> {
        if self.repository_roots().scope_of(path) == crate::domain::Scope::Project {
            return Ok(None);
        }
        let open = self.store.open_publish_intents(path, at).await?;
        let mut owners = open.into_iter().map(|i| i.project);
        let first = owners.next();
        Ok(first.filter(|p| owners.all(|o| &o == p)))
    }
}
