//! The hot statements, named, so `tests/query_plans.rs` can check that each one's plan on both
//! databases uses an index that fits its filter (no full scan, no walk of a whole project).

use super::apps;
use super::sql::{
    ARTIFACT_EXISTS, AUDIT_CHAIN_PAGE, CLAIM_CANDIDATES, CLAIM_EVENT, CLAIM_JOB, CLAIM_JOB_CANDIDATES,
    COMPLETE_PUBLISH_INTENT, COUNT_UNSEALED_AUDIT, DECISION_INPUT_BY_HASH, EVENT_EXISTS, FINISH_EVENT,
    FINISH_JOB, INSERT_ARTIFACT, INSERT_ARTIFACT_RETURNING, INSERT_ATTESTATION, INSERT_AUDIT,
    INSERT_DECISION, INSERT_DECISION_INPUT, INSERT_DECISION_WITH_INPUT_HASH, INSERT_EVENT, INSERT_EVIDENCE,
    INSERT_JOB, INSERT_JOB_UNLESS_WAITING, INSERT_LINKS, INSERT_PROMOTION, INSERT_PUBLISH_INTENT,
    INSERT_PULL_INTENT, INSERT_PUSH, INSERT_SUMMARY, INSERT_TOKEN, INSERT_UNSEALED_AUDIT,
    INSERT_UNSEALED_AUDIT_WITH_DECISION, INSERT_UNSEALED_AUDIT_WITH_TWO_DECISIONS, LAST_AUDIT, LATEST_BUNDLE,
    LATEST_SUMMARY, LIST_ARTIFACTS, LIST_AUDIT, LIST_DECISIONS, LIST_PUSHES, OLDEST_PENDING_EVENT,
    OLDEST_PENDING_JOB, OPEN_PUBLISH_INTENTS, PENDING_EVENTS, PENDING_JOBS, PG_SELECT_ARTIFACTS_BY_DIGESTS,
    PG_SELECT_ARTIFACTS_BY_DIGESTS_IN_PROJECT, PG_SELECT_ARTIFACTS_BY_IDS, QUEUE_LEGACY_UNSEALED_AUDIT,
    RELEASE_EVENT, RELEASE_JOB, SEAL_PENDING_AUDIT, SEALED_AUDIT_BY_ID, SELECT_ARTIFACT_BY_DIGEST,
    SELECT_ARTIFACT_BY_ID, SELECT_ARTIFACT_BY_KEY, SELECT_ATTESTATIONS, SELECT_EVENT, SELECT_EVIDENCE,
    SELECT_LINKS, SELECT_PROMOTIONS, SELECT_PUBLISH_INTENT, SELECT_PULL_INTENT, TOKENS_FOR_INTENT,
    UNSEALED_AUDIT_BY_IDS, UNSEALED_AUDIT_IDS, UPDATE_ARTIFACT, UPSERT_BUNDLE, UPSERT_PRESENCE,
};

/// A listing's base statement with the clauses `listing` appends for one filter combination.
fn listed(base: &str, clauses: &str) -> String {
    format!("{base}{clauses}")
}

/// Every statement on a request's or a worker's hot path, by a stable name. The listings are
/// the combinations `listing` builds for the filters clients use, with the cursor and limit
/// it appends (`$N` numbered in the order it binds them).
#[doc(hidden)]
pub fn hot_queries() -> Vec<(&'static str, String)> {
    let mut q: Vec<(&'static str, String)> = [
        ("artifact_insert", INSERT_ARTIFACT),
        ("artifact_insert_returning", INSERT_ARTIFACT_RETURNING),
        ("artifact_by_id", SELECT_ARTIFACT_BY_ID),
        ("artifact_by_key", SELECT_ARTIFACT_BY_KEY),
        ("artifact_by_digest", SELECT_ARTIFACT_BY_DIGEST),
        ("artifacts_by_ids_coalesced", PG_SELECT_ARTIFACTS_BY_IDS),
        ("artifacts_by_digests_coalesced", PG_SELECT_ARTIFACTS_BY_DIGESTS),
        (
            "artifacts_by_digests_in_project_coalesced",
            PG_SELECT_ARTIFACTS_BY_DIGESTS_IN_PROJECT,
        ),
        ("artifact_update", UPDATE_ARTIFACT),
        ("artifact_exists", ARTIFACT_EXISTS),
        ("evidence_insert", INSERT_EVIDENCE),
        ("evidence_of_artifact", SELECT_EVIDENCE),
        ("promotion_insert", INSERT_PROMOTION),
        ("promotions_of_artifact", SELECT_PROMOTIONS),
        ("audit_chain_head", LAST_AUDIT),
        ("audit_insert", INSERT_AUDIT),
        ("audit_chain_page", AUDIT_CHAIN_PAGE),
        ("audit_unsealed_insert", INSERT_UNSEALED_AUDIT),
        (
            "audit_unsealed_with_decision_insert",
            INSERT_UNSEALED_AUDIT_WITH_DECISION,
        ),
        (
            "audit_unsealed_with_two_decisions_insert",
            INSERT_UNSEALED_AUDIT_WITH_TWO_DECISIONS,
        ),
        ("audit_unsealed_ids", UNSEALED_AUDIT_IDS),
        ("audit_unsealed_by_ids", UNSEALED_AUDIT_BY_IDS),
        ("audit_seal_pending", SEAL_PENDING_AUDIT),
        ("audit_queue_legacy_unsealed", QUEUE_LEGACY_UNSEALED_AUDIT),
        ("audit_unsealed_count", COUNT_UNSEALED_AUDIT),
        ("audit_sealed_by_id", SEALED_AUDIT_BY_ID),
        ("decision_insert", INSERT_DECISION),
        ("decision_input_insert", INSERT_DECISION_INPUT),
        ("decision_insert_with_input_hash", INSERT_DECISION_WITH_INPUT_HASH),
        ("decision_input_by_hash", DECISION_INPUT_BY_HASH),
        ("publish_intent_insert", INSERT_PUBLISH_INTENT),
        ("publish_intent_by_id", SELECT_PUBLISH_INTENT),
        ("publish_intents_open", OPEN_PUBLISH_INTENTS),
        ("publish_intent_complete", COMPLETE_PUBLISH_INTENT),
        ("pull_intent_insert", INSERT_PULL_INTENT),
        ("pull_intent_by_id", SELECT_PULL_INTENT),
        ("token_insert", INSERT_TOKEN),
        ("tokens_of_intent", TOKENS_FOR_INTENT),
        ("event_insert", INSERT_EVENT),
        ("event_by_id", SELECT_EVENT),
        ("event_claim_candidates", CLAIM_CANDIDATES),
        ("event_claim", CLAIM_EVENT),
        ("event_finish", FINISH_EVENT),
        ("event_release", RELEASE_EVENT),
        ("event_exists", EVENT_EXISTS),
        ("events_pending", PENDING_EVENTS),
        ("event_oldest_pending", OLDEST_PENDING_EVENT),
        ("push_insert", INSERT_PUSH),
        ("links_insert", INSERT_LINKS),
        ("presence_upsert", UPSERT_PRESENCE),
        ("links_of_artifact", SELECT_LINKS),
        ("job_insert", INSERT_JOB),
        ("job_insert_unless_waiting", INSERT_JOB_UNLESS_WAITING),
        ("job_claim_candidates", CLAIM_JOB_CANDIDATES),
        ("job_claim", CLAIM_JOB),
        ("job_finish", FINISH_JOB),
        ("job_release", RELEASE_JOB),
        ("jobs_pending", PENDING_JOBS),
        ("job_oldest_pending", OLDEST_PENDING_JOB),
        ("attestation_insert", INSERT_ATTESTATION),
        ("attestations_of_artifact", SELECT_ATTESTATIONS),
        ("summary_insert", INSERT_SUMMARY),
        ("summary_latest", LATEST_SUMMARY),
        ("bundle_upsert", UPSERT_BUNDLE),
        ("bundle_latest", LATEST_BUNDLE),
        ("app_insert", apps::INSERT_APP),
        ("app_by_slug", apps::SELECT_APP),
        ("apps_page", apps::LIST_APPS),
        ("app_version_insert", apps::INSERT_VERSION),
        ("app_version", apps::SELECT_VERSION),
        ("app_versions_of_app", apps::LIST_VERSIONS),
        ("app_version_link_insert", apps::INSERT_LINK),
        ("app_version_links", apps::SELECT_LINKS),
        ("app_version_publish", apps::PUBLISH_VERSION),
        ("entitlement_insert", apps::INSERT_ENTITLEMENT),
        ("entitlement", apps::SELECT_ENTITLEMENT),
        ("entitlements_of_project", apps::LIST_ENTITLEMENTS),
        ("entitlements_of_app", apps::APP_ENTITLEMENTS),
    ]
    .into_iter()
    .map(|(name, sql)| (name, sql.to_owned()))
    .collect();
    q.extend([
        (
            "artifacts_first_page",
            listed(LIST_ARTIFACTS, " order by id limit $1"),
        ),
        (
            "artifacts_next_page",
            listed(LIST_ARTIFACTS, " and id > $1 order by id limit $2"),
        ),
        (
            "artifacts_of_project",
            listed(LIST_ARTIFACTS, " and project = $1 order by id limit $2"),
        ),
        (
            "artifacts_of_project_next_page",
            listed(
                LIST_ARTIFACTS,
                " and project = $1 and id > $2 order by id limit $3",
            ),
        ),
        (
            "artifacts_of_project_in_state",
            listed(
                LIST_ARTIFACTS,
                " and project = $1 and lifecycle_state = $2 and trust_state = $3 order by id limit $4",
            ),
        ),
        (
            "artifacts_of_app",
            listed(
                LIST_ARTIFACTS,
                " and project = $1 and app = $2 order by id limit $3",
            ),
        ),
        (
            "artifacts_of_project_with_digest",
            listed(
                LIST_ARTIFACTS,
                " and project = $1 and digest = $2 order by id limit $3",
            ),
        ),
        (
            "artifacts_with_digest",
            listed(LIST_ARTIFACTS, " and digest = $1 order by id limit $2"),
        ),
        ("audit_first_page", listed(LIST_AUDIT, " order by seq limit $1")),
        (
            "audit_next_page",
            listed(LIST_AUDIT, " and seq > $1 order by seq limit $2"),
        ),
        (
            "audit_of_project",
            listed(LIST_AUDIT, " and project = $1 order by seq limit $2"),
        ),
        (
            "audit_of_artifact",
            listed(LIST_AUDIT, " and artifact_id = $1 order by seq limit $2"),
        ),
        (
            "audit_of_actor",
            listed(LIST_AUDIT, " and actor_id = $1 order by seq limit $2"),
        ),
        (
            "audit_of_action",
            listed(LIST_AUDIT, " and action = $1 order by seq limit $2"),
        ),
        (
            "audit_in_window",
            listed(
                LIST_AUDIT,
                " and occurred_at >= $1 and occurred_at < $2 order by seq limit $3",
            ),
        ),
        (
            "audit_of_project_in_window",
            listed(
                LIST_AUDIT,
                " and project = $1 and occurred_at >= $2 and occurred_at < $3 order by seq limit $4",
            ),
        ),
        (
            "decisions_first_page",
            listed(LIST_DECISIONS, " order by id limit $1"),
        ),
        (
            "decisions_next_page",
            listed(LIST_DECISIONS, " and id > $1 order by id limit $2"),
        ),
        (
            "decisions_of_project",
            listed(LIST_DECISIONS, " and project = $1 order by id limit $2"),
        ),
        (
            "decisions_of_artifact",
            listed(LIST_DECISIONS, " and artifact_id = $1 order by id limit $2"),
        ),
        (
            "decisions_of_actor",
            listed(LIST_DECISIONS, " and actor_id = $1 order by id limit $2"),
        ),
        (
            "decisions_in_window",
            listed(
                LIST_DECISIONS,
                " and decided_at >= $1 and decided_at < $2 order by id limit $3",
            ),
        ),
        (
            "decisions_of_project_in_window",
            listed(
                LIST_DECISIONS,
                " and project = $1 and decided_at >= $2 and decided_at < $3 order by id limit $4",
            ),
        ),
        (
            "pushes_of_project",
            listed(LIST_PUSHES, " and project = $1 order by id limit $2"),
        ),
    ]);
    q
}
