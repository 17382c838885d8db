//! Conformance of verification jobs in the store: a job's verification (state change, evidence,
//! audit and decision records) commits with the job's completion in one transaction, so however
//! often a job is claimed its verification is recorded exactly once. Each case once, on SQLite
//! and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use common::store_harness::{
    actor, artifact, audit_count, audit_for, conformance, decision, decision_count, now, register,
};
use gatehouse::domain::{
    Artifact, ArtifactKind, Evidence, EvidenceResult, LifecycleState, Principal, Role, TrustState,
    VerificationJob,
};
use gatehouse::store::{ArtifactChange, NewSummary, Store, StoreError};
use serde_json::json;
use uuid::Uuid;

conformance!(
    plain: [
        case_a_job_commit_writes_the_verification_and_finishes_the_job,
        case_a_lapsed_claim_commits_nothing_after_the_next_claim_committed,
        case_two_claimers_committing_at_once_record_once,
        case_a_job_commit_on_a_changed_artifact_writes_nothing_and_keeps_the_job,
        case_a_finished_job_is_never_committed,
        case_the_latest_summary_of_an_artifact_is_served,
    ],
    raw: []
);

// ---------------------------------------------------------------------------------------------
// Fixtures

const LEASE: TimeDelta = TimeDelta::seconds(60);

/// A registered artifact and a queued job to verify it.
async fn queued(store: &Arc<dyn Store>, n: u32) -> (Artifact, VerificationJob) {
    let a = register(store, &artifact("team-a", "trainer", n, ArtifactKind::Oci)).await;
    let job = VerificationJob {
        id: Uuid::now_v7(),
        artifact_id: a.id,
        principal: Principal {
            actor: actor("ci"),
            issuer: "https://issuer.test".into(),
            project_roles: [("team-a".parse().unwrap(), [Role::Operator].into())].into(),
            platform_roles: Default::default(),
            ci: Default::default(),
        },
        enqueued_at: now(),
        attempts: 0,
    };
    store.enqueue_verification(&job).await.unwrap();
    (a, job)
}

/// The change a passing verification of `a` (as read) makes.
fn verified(a: &Artifact) -> ArtifactChange {
    let mut next = a.clone();
    next.trust_state = TrustState::Verified;
    next.updated_at = now();
    ArtifactChange {
        artifact: next,
        promotion: None,
        evidence: vec![Evidence {
            evidence_type: "digest_format".into(),
            result: EvidenceResult::Pass,
            reason: "canonical".into(),
            checked_at: now(),
            details: json!({ "check": "verified" }),
        }],
        summary: Some(summary(a, "PASSED")),
    }
}

/// A stand-in signed summary naming `a` and `result` (the store keeps it as given).
fn summary(a: &Artifact, result: &str) -> NewSummary {
    NewSummary {
        id: Uuid::now_v7(),
        passed: result == "PASSED",
        created_at: now(),
        envelope: json!({ "payloadType": "application/vnd.in-toto+json", "artifact": a.id.to_string(), "result": result }),
    }
}

/// Commits `change` as the verification of `job`.
async fn commit(
    store: &Arc<dyn Store>,
    job: &VerificationJob,
    change: &ArtifactChange,
) -> Result<Option<Artifact>, StoreError> {
    store
        .commit_verification(
            job.id,
            change,
            audit_for(Some(&change.artifact), "app_artifact.verify", "ci"),
            &[decision("verify", "team-a", "allow", now())],
            &json!({ "trust_state": "verified" }),
        )
        .await
}

/// Nothing to claim, however late.
async fn assert_nothing_to_claim(store: &Arc<dyn Store>) {
    let later = Utc::now() + TimeDelta::days(1);
    let claimed = store.claim_verification(later, LEASE).await.unwrap();
    assert!(claimed.is_none(), "{claimed:?}");
}

// ---------------------------------------------------------------------------------------------
// Cases

async fn case_a_job_commit_writes_the_verification_and_finishes_the_job(store: Arc<dyn Store>) {
    let (a, job) = queued(&store, 1).await;
    let (audits, decisions) = (audit_count(&store).await, decision_count(&store).await);
    let claimed = store
        .claim_verification(Utc::now(), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, job.id);

    let stored = commit(&store, &claimed, &verified(&a)).await.unwrap().unwrap();
    assert_eq!(stored.trust_state, TrustState::Verified);
    assert_eq!(stored.version, a.version + 1);
    assert_eq!(audit_count(&store).await, audits + 1);
    assert_eq!(decision_count(&store).await, decisions + 1);
    assert_eq!(store.evidence(a.id).await.unwrap().len(), 1);
    let served = store.latest_summary(a.id).await.unwrap().unwrap();
    assert!(served.passed);
    assert_eq!(served.envelope["artifact"], a.id.to_string());
    // The commit finished the job: a crash after it leaves nothing to run again.
    assert_eq!(store.pending_verifications().await.unwrap(), 0);
    assert_nothing_to_claim(&store).await;
}

async fn case_a_lapsed_claim_commits_nothing_after_the_next_claim_committed(store: Arc<dyn Store>) {
    let (a, job) = queued(&store, 1).await;
    let t0 = Utc::now();
    // The first worker's lease lapses (it stalled or crashed) and a second worker re-claims.
    let first = store
        .claim_verification(t0, TimeDelta::milliseconds(1))
        .await
        .unwrap()
        .unwrap();
    let second = store
        .claim_verification(t0 + TimeDelta::seconds(1), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.id, second.id), (job.id, job.id));
    assert_eq!(second.attempts, 2);
    let audits = audit_count(&store).await;

    commit(&store, &second, &verified(&a)).await.unwrap().unwrap();
    // The stalled worker comes back with a verification of the version it read.
    let late = commit(&store, &first, &verified(&a)).await.unwrap();
    assert!(late.is_none(), "{late:?}");
    assert_eq!(audit_count(&store).await, audits + 1, "one record for the job");
    assert_eq!(store.evidence(a.id).await.unwrap().len(), 1);
    assert_eq!(
        store.get_artifact(a.id).await.unwrap().unwrap().version,
        a.version + 1
    );
    assert_nothing_to_claim(&store).await;
}

async fn case_two_claimers_committing_at_once_record_once(store: Arc<dyn Store>) {
    let (a, job) = queued(&store, 1).await;
    let audits = audit_count(&store).await;
    let t0 = Utc::now();
    let first = store
        .claim_verification(t0, TimeDelta::milliseconds(1))
        .await
        .unwrap()
        .unwrap();
    let second = store
        .claim_verification(t0 + TimeDelta::seconds(1), LEASE)
        .await
        .unwrap()
        .unwrap();
    let (c1, c2) = (verified(&a), verified(&a));
    let (r1, r2) = tokio::join!(commit(&store, &first, &c1), commit(&store, &second, &c2));
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    // The job's row decides before the artifact's version does: the loser finds the job
    // finished (nothing to do), not a conflict to retry.
    assert_eq!(
        [&r1, &r2].iter().filter(|r| r.is_some()).count(),
        1,
        "{r1:?} {r2:?} for {job:?}"
    );
    assert_eq!(audit_count(&store).await, audits + 1);
    assert_nothing_to_claim(&store).await;
}

async fn case_a_job_commit_on_a_changed_artifact_writes_nothing_and_keeps_the_job(store: Arc<dyn Store>) {
    let (a, job) = queued(&store, 1).await;
    let claimed = store
        .claim_verification(Utc::now(), LEASE)
        .await
        .unwrap()
        .unwrap();
    // Another writer commits while the job runs its checks.
    let mut deprecated = a.clone();
    deprecated.lifecycle_state = LifecycleState::Deprecated;
    let deprecation = ArtifactChange {
        artifact: deprecated,
        promotion: None,
        evidence: vec![],
        summary: None,
    };
    let fresh = store
        .apply_change(
            &deprecation,
            audit_for(Some(&a), "app_artifact.deprecate", "ops"),
            &[decision("deprecate", "team-a", "allow", now())],
        )
        .await
        .unwrap();
    let (audits, decisions) = (audit_count(&store).await, decision_count(&store).await);

    let err = commit(&store, &claimed, &verified(&a)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(audit_count(&store).await, audits);
    assert_eq!(decision_count(&store).await, decisions);
    assert!(store.evidence(a.id).await.unwrap().is_empty());
    assert!(
        store.latest_summary(a.id).await.unwrap().is_none(),
        "a lost run keeps no summary"
    );
    // Losing the race is not the job's end: it is still pending, and a re-run on the fresh
    // version commits and finishes it.
    assert_eq!(store.pending_verifications().await.unwrap(), 1);
    let stored = commit(&store, &claimed, &verified(&fresh))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.lifecycle_state, LifecycleState::Deprecated);
    assert_eq!(stored.trust_state, TrustState::Verified);
    assert_eq!(audit_count(&store).await, audits + 1);
    assert_eq!(store.pending_verifications().await.unwrap(), 0);
    assert_eq!(job.id, claimed.id);
}

async fn case_a_finished_job_is_never_committed(store: Arc<dyn Store>) {
    let (a, _) = queued(&store, 1).await;
    let claimed = store
        .claim_verification(Utc::now(), LEASE)
        .await
        .unwrap()
        .unwrap();
    store
        .finish_verification(claimed.id, false, &json!({ "reason": "denied by policy" }))
        .await
        .unwrap();
    let audits = audit_count(&store).await;
    let late = commit(&store, &claimed, &verified(&a)).await.unwrap();
    assert!(late.is_none(), "{late:?}");
    assert_eq!(audit_count(&store).await, audits);
    let unchanged = store.get_artifact(a.id).await.unwrap().unwrap();
    assert_eq!(unchanged.trust_state, TrustState::Unverified);
    assert_eq!(unchanged.version, a.version);
}

async fn case_the_latest_summary_of_an_artifact_is_served(store: Arc<dyn Store>) {
    let (a, _) = queued(&store, 1).await;
    let (other, _) = queued(&store, 2).await;
    assert!(store.latest_summary(a.id).await.unwrap().is_none());
    let passed = store
        .apply_change(
            &verified(&a),
            audit_for(Some(&a), "app_artifact.verify", "ci"),
            &[decision("verify", "team-a", "allow", now())],
        )
        .await
        .unwrap();
    let mut failed = verified(&passed);
    failed.artifact.trust_state = TrustState::FailedVerification;
    failed.summary = Some(summary(&passed, "FAILED"));
    store
        .apply_change(
            &failed,
            audit_for(Some(&passed), "app_artifact.verify", "ci"),
            &[decision("verify", "team-a", "allow", now())],
        )
        .await
        .unwrap();
    let latest = store.latest_summary(a.id).await.unwrap().unwrap();
    assert!(!latest.passed);
    assert_eq!(latest.envelope["result"], "FAILED");
    // Another artifact's summaries are its own.
    assert!(store.latest_summary(other.id).await.unwrap().is_none());
}
