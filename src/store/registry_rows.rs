//! Rows of the intent, token, registry-event and link tables, re-validated into domain types
//! the same way as `rows`: every stored string goes back through its parser.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::rows::{actor, parse};
use super::{ArtifactLinks, StoreError};
use crate::domain::{
    AccessGrant, ArtifactId, EventStatus, IntentKind, IssuedToken, Principal, PublishIntent, PullIntent,
    RegistryAction, RegistryEvent, UnregisteredPush,
};

/// The stored form of an intent kind.
pub(super) fn intent_kind_str(k: IntentKind) -> &'static str {
    match k {
        IntentKind::Publish => "publish",
        IntentKind::Pull => "pull",
        IntentKind::Direct => "direct",
    }
}

fn intent_kind(raw: &str) -> Result<IntentKind, StoreError> {
    match raw {
        "publish" => Ok(IntentKind::Publish),
        "pull" => Ok(IntentKind::Pull),
        "direct" => Ok(IntentKind::Direct),
        other => Err(StoreError::Corrupt(format!("unknown intent kind `{other}`"))),
    }
}

/// The stored form of a registry action.
pub(super) fn action_str(a: RegistryAction) -> &'static str {
    match a {
        RegistryAction::Push => "push",
        RegistryAction::Pull => "pull",
        RegistryAction::Delete => "delete",
        RegistryAction::Mount => "mount",
    }
}

fn action(raw: &str) -> Result<RegistryAction, StoreError> {
    match raw {
        "push" => Ok(RegistryAction::Push),
        "pull" => Ok(RegistryAction::Pull),
        "delete" => Ok(RegistryAction::Delete),
        "mount" => Ok(RegistryAction::Mount),
        other => Err(StoreError::Corrupt(format!("unknown registry action `{other}`"))),
    }
}

/// The stored form of an event status (the claim query matches `'pending'` literally).
pub(super) fn status_str(s: EventStatus) -> &'static str {
    match s {
        EventStatus::Pending => "pending",
        EventStatus::Applied => "applied",
        EventStatus::Ignored => "ignored",
        EventStatus::Failed => "failed",
    }
}

fn status(raw: &str) -> Result<EventStatus, StoreError> {
    match raw {
        "pending" => Ok(EventStatus::Pending),
        "applied" => Ok(EventStatus::Applied),
        "ignored" => Ok(EventStatus::Ignored),
        "failed" => Ok(EventStatus::Failed),
        other => Err(StoreError::Corrupt(format!("unknown event status `{other}`"))),
    }
}

/// Parses an optional stored value.
fn parse_opt<T: std::str::FromStr>(column: &str, raw: Option<&str>) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    raw.map(|v| parse(column, v)).transpose()
}

/// One `publish_intents` row.
#[derive(sqlx::FromRow)]
pub(super) struct PublishIntentRow {
    id: Uuid,
    project: String,
    app: String,
    repository: String,
    artifact_kind: String,
    artifact_type: String,
    tag_hint: Option<String>,
    expected_digest: Option<String>,
    actor_type: String,
    actor_id: String,
    password_sha256: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    artifact_id: Option<Uuid>,
    completed_at: Option<DateTime<Utc>>,
    correlation_id: String,
    principal: Json<Principal>,
}

impl TryFrom<PublishIntentRow> for PublishIntent {
    type Error = StoreError;

    fn try_from(r: PublishIntentRow) -> Result<Self, StoreError> {
        Ok(PublishIntent {
            id: r.id,
            project: parse("project", &r.project)?,
            app: parse("app", &r.app)?,
            repository: parse("repository", &r.repository)?,
            artifact_kind: parse("artifact_kind", &r.artifact_kind)?,
            artifact_type: parse("artifact_type", &r.artifact_type)?,
            tag_hint: r.tag_hint,
            expected_digest: parse_opt("expected_digest", r.expected_digest.as_deref())?,
            actor: actor(&r.actor_type, r.actor_id)?,
            principal: r.principal.0,
            password_sha256: r.password_sha256,
            created_at: r.created_at,
            expires_at: r.expires_at,
            artifact_id: r.artifact_id.map(ArtifactId),
            completed_at: r.completed_at,
            correlation_id: r.correlation_id,
        })
    }
}

/// One `pull_intents` row.
#[derive(sqlx::FromRow)]
pub(super) struct PullIntentRow {
    id: Uuid,
    project: String,
    artifact_id: Uuid,
    repository: String,
    digest: String,
    channel: Option<String>,
    actor_type: String,
    actor_id: String,
    password_sha256: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    correlation_id: String,
    runtime_class: Option<String>,
}

impl TryFrom<PullIntentRow> for PullIntent {
    type Error = StoreError;

    fn try_from(r: PullIntentRow) -> Result<Self, StoreError> {
        Ok(PullIntent {
            id: r.id,
            project: parse("project", &r.project)?,
            artifact_id: ArtifactId(r.artifact_id),
            repository: parse("repository", &r.repository)?,
            digest: parse("digest", &r.digest)?,
            channel: r.channel,
            actor: actor(&r.actor_type, r.actor_id)?,
            password_sha256: r.password_sha256,
            created_at: r.created_at,
            expires_at: r.expires_at,
            correlation_id: r.correlation_id,
            runtime_class: r.runtime_class,
        })
    }
}

/// One `registry_tokens` row.
#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    jti: String,
    intent_id: Option<Uuid>,
    intent_kind: String,
    subject: String,
    access: Json<Vec<AccessGrant>>,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl TryFrom<TokenRow> for IssuedToken {
    type Error = StoreError;

    fn try_from(r: TokenRow) -> Result<Self, StoreError> {
        Ok(IssuedToken {
            jti: r.jti,
            intent_id: r.intent_id,
            intent_kind: intent_kind(&r.intent_kind)?,
            subject: r.subject,
            access: r.access.0,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
        })
    }
}

/// One `registry_events` row.
#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    id: String,
    source: String,
    action: String,
    repository: String,
    digest: Option<String>,
    media_type: Option<String>,
    size: Option<i64>,
    tag: Option<String>,
    actor_name: Option<String>,
    occurred_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    status: String,
    attempts: i32,
    result: Json<serde_json::Value>,
}

impl TryFrom<EventRow> for RegistryEvent {
    type Error = StoreError;

    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(RegistryEvent {
            id: r.id,
            source: r.source,
            action: action(&r.action)?,
            repository: r.repository.into(),
            digest: parse_opt("digest", r.digest.as_deref())?,
            media_type: r.media_type,
            size: r.size,
            tag: r.tag,
            actor_name: r.actor_name,
            occurred_at: r.occurred_at,
            received_at: r.received_at,
            status: status(&r.status)?,
            attempts: r.attempts,
            result: r.result.0,
        })
    }
}

/// One `unregistered_pushes` row.
#[derive(sqlx::FromRow)]
pub(super) struct PushRow {
    id: Uuid,
    event_id: String,
    project: Option<String>,
    repository: String,
    digest: String,
    tag: Option<String>,
    actor_name: Option<String>,
    received_at: DateTime<Utc>,
}

impl TryFrom<PushRow> for UnregisteredPush {
    type Error = StoreError;

    fn try_from(r: PushRow) -> Result<Self, StoreError> {
        Ok(UnregisteredPush {
            id: r.id,
            event_id: r.event_id,
            project: parse_opt("project", r.project.as_deref())?,
            repository: r.repository.into(),
            digest: parse("digest", &r.digest)?,
            tag: r.tag,
            actor_name: r.actor_name,
            received_at: r.received_at,
        })
    }
}

/// One `artifact_links` row.
#[derive(sqlx::FromRow)]
pub(super) struct LinksRow {
    publish_intent_id: Option<Uuid>,
    event_id: Option<String>,
    registry_presence: Option<String>,
    presence_event_id: Option<String>,
}

impl From<LinksRow> for ArtifactLinks {
    fn from(r: LinksRow) -> Self {
        ArtifactLinks {
            publish_intent_id: r.publish_intent_id,
            event_id: r.event_id,
            registry_presence: r.registry_presence,
            presence_event_id: r.presence_event_id,
        }
    }
}
