//! PostgreSQL's decision-log batch insert: one statement text with sixteen array parameters,
//! whatever the batch size, so every batch reuses one prepared statement and one generic plan.

use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::StoreError;
use super::rows::actor_type_str;
use super::sql;
use crate::audit::DecisionRecord;

/// Inserts `decisions` in order with a single `insert … select … from unnest(…)`.
pub(super) async fn insert_decisions(
    conn: &mut PgConnection,
    decisions: &[DecisionRecord],
) -> Result<(), StoreError> {
    let n = decisions.len();
    let mut ids = Vec::with_capacity(n);
    let mut decided_at = Vec::with_capacity(n);
    let mut correlation_ids = Vec::with_capacity(n);
    let mut actor_types = Vec::with_capacity(n);
    let mut actor_ids = Vec::with_capacity(n);
    let mut actions = Vec::with_capacity(n);
    let mut projects = Vec::with_capacity(n);
    let mut artifact_ids: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut resources = Vec::with_capacity(n);
    let mut effects = Vec::with_capacity(n);
    let mut policy_ids = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    let mut policy_hashes = Vec::with_capacity(n);
    let mut requests = Vec::with_capacity(n);
    let mut entities = Vec::with_capacity(n);
    for d in decisions {
        ids.push(d.id);
        decided_at.push(d.decided_at);
        correlation_ids.push(d.correlation_id.as_str());
        actor_types.push(actor_type_str(d.actor.actor_type));
        actor_ids.push(d.actor.id.as_str());
        actions.push(d.action.as_str());
        projects.push(d.project.as_deref());
        artifact_ids.push(d.artifact_id.map(|a| a.0));
        resources.push(d.resource.as_str());
        effects.push(d.effect.as_str());
        policy_ids.push(Json(&d.policy_ids));
        reasons.push(Json(&d.reasons));
        errors.push(Json(&d.errors));
        policy_hashes.push(d.policy_hash.as_str());
        requests.push(Json(&d.request));
        entities.push(Json(&d.entities));
    }
    sqlx::query(sql::PG_INSERT_DECISIONS_UNNEST)
        .bind(ids)
        .bind(decided_at)
        .bind(correlation_ids)
        .bind(actor_types)
        .bind(actor_ids)
        .bind(actions)
        .bind(projects)
        .bind(artifact_ids)
        .bind(resources)
        .bind(effects)
        .bind(policy_ids)
        .bind(reasons)
        .bind(errors)
        .bind(policy_hashes)
        .bind(requests)
        .bind(entities)
        .execute(conn)
        .await?;
    Ok(())
}
