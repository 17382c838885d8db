//! Conformance of re-queued verification (a new signature or attestation in the registry asks
//! for its subject to be verified again): each case once, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use common::store_harness::{actor, artifact, conformance, now, register};
use gatehouse::domain::{ArtifactId, ArtifactKind, Principal, Role, VerificationJob};
use gatehouse::store::Store;
use serde_json::json;
use uuid::Uuid;

conformance!(
    plain: [
        case_requeue_queues_once_while_a_job_waits,
        case_a_claimed_job_does_not_stop_a_requeue,
        case_an_expired_lease_counts_as_waiting,
        case_finished_jobs_do_not_stop_a_requeue,
        case_a_waiting_job_of_another_artifact_does_not_count,
    ],
    raw: []
);

const LEASE: TimeDelta = TimeDelta::seconds(30);

fn job(artifact_id: ArtifactId, enqueued_at: DateTime<Utc>) -> VerificationJob {
    VerificationJob {
        id: Uuid::now_v7(),
        artifact_id,
        principal: Principal {
            actor: actor("ci"),
            issuer: "https://issuer.test".into(),
            project_roles: [("team-a".parse().unwrap(), [Role::Operator].into())].into(),
            platform_roles: Default::default(),
            ci: Default::default(),
        },
        enqueued_at,
        attempts: 0,
    }
}

async fn registered(store: &Arc<dyn Store>, n: u32) -> ArtifactId {
    register(store, &artifact("team-a", "trainer", n, ArtifactKind::Oci))
        .await
        .id
}

async fn requeue(store: &Arc<dyn Store>, id: ArtifactId, at: DateTime<Utc>) -> bool {
    store
        .enqueue_verification_unless_waiting(&job(id, at))
        .await
        .unwrap()
}

async fn case_requeue_queues_once_while_a_job_waits(store: Arc<dyn Store>) {
    let id = registered(&store, 1).await;
    let t = now();
    assert!(requeue(&store, id, t).await, "nothing waited: queued");
    assert!(!requeue(&store, id, t).await, "one waits already");
    assert!(!requeue(&store, id, t + TimeDelta::seconds(5)).await);
    assert_eq!(store.pending_verifications().await.unwrap(), 1);
    // The queued job is an ordinary one: claimed as the principal it was queued for.
    let claimed = store.claim_verification(t, LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.artifact_id, id);
    assert_eq!(claimed.principal.actor.id, "ci");
    assert!(store.claim_verification(t, LEASE).await.unwrap().is_none());
}

async fn case_a_claimed_job_does_not_stop_a_requeue(store: Arc<dyn Store>) {
    let id = registered(&store, 2).await;
    let t = now();
    // A job queued the ordinary way (as a registration does), then claimed: it may have read
    // the registry before the new signature arrived.
    store.enqueue_verification(&job(id, t)).await.unwrap();
    let running = store.claim_verification(t, LEASE).await.unwrap().unwrap();
    assert!(requeue(&store, id, t + TimeDelta::seconds(1)).await);
    assert!(!requeue(&store, id, t + TimeDelta::seconds(2)).await);
    assert_eq!(store.pending_verifications().await.unwrap(), 2);
    let next = store
        .claim_verification(t + TimeDelta::seconds(3), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(next.id, running.id);
    assert_eq!(next.artifact_id, id);
}

async fn case_an_expired_lease_counts_as_waiting(store: Arc<dyn Store>) {
    let id = registered(&store, 3).await;
    let t = now() - TimeDelta::minutes(5);
    store.enqueue_verification(&job(id, t)).await.unwrap();
    store.claim_verification(t, LEASE).await.unwrap().unwrap();
    // Its lease ran out: it is up for a retry, which will read the registry afresh.
    assert!(!requeue(&store, id, now()).await);
    assert_eq!(store.pending_verifications().await.unwrap(), 1);
}

async fn case_finished_jobs_do_not_stop_a_requeue(store: Arc<dyn Store>) {
    let id = registered(&store, 4).await;
    let t = now();
    for done in [true, false] {
        assert!(requeue(&store, id, t).await);
        let claimed = store.claim_verification(t, LEASE).await.unwrap().unwrap();
        store
            .finish_verification(claimed.id, done, &json!({}))
            .await
            .unwrap();
    }
    assert_eq!(store.pending_verifications().await.unwrap(), 0);
    assert!(requeue(&store, id, t).await);
    assert_eq!(store.pending_verifications().await.unwrap(), 1);
}

async fn case_a_waiting_job_of_another_artifact_does_not_count(store: Arc<dyn Store>) {
    let (a, b) = (registered(&store, 5).await, registered(&store, 6).await);
    let t = now();
    assert!(requeue(&store, a, t).await);
    assert!(requeue(&store, b, t).await);
    assert!(!requeue(&store, a, t).await);
    assert_eq!(store.pending_verifications().await.unwrap(), 2);
}
