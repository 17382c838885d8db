//! Durable verification jobs: registration queues one, a worker runs it off the request path.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ArtifactId, Principal};

/// A queued verification of one artifact, run as the principal that registered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationJob {
    /// Job id (UUIDv7).
    pub id: Uuid,
    /// The artifact to verify.
    pub artifact_id: ArtifactId,
    /// Who the verification is decided as (the registering actor, roles as they were).
    pub principal: Principal,
    /// When it was queued.
    pub enqueued_at: DateTime<Utc>,
    /// Attempts so far.
    pub attempts: i32,
}
