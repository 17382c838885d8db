//! One conformance suite for every `Store` backend: each case is written once and runs against
//! SQLite (a temp file) and PostgreSQL (a fresh database per test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use common::store_harness::{
    Raw, actor, artifact, audit_count, audit_for, conformance, decision, decision_count, now, page, register,
};
use gatehouse::audit::{AuditRecord, ChainBreak, verify_chain};
use gatehouse::domain::{
    Artifact, ArtifactId, ArtifactKind, Evidence, EvidenceResult, LifecycleState, Promotion, TrustState,
};
use gatehouse::store::{
    ArtifactChange, ArtifactFilter, LogFilter, PageRequest, Registered, RegistrationLinks, Store, StoreError,
};
use serde_json::json;

conformance!(
    plain: [
        case_register_is_idempotent,
        case_get_and_find_by_digest,
        case_list_artifacts_filters_and_pages,
        case_apply_change_records_everything,
        case_conflict_writes_nothing,
        case_change_carries_every_decision,
        case_written_history_reads_back_the_same,
        case_concurrent_changes_one_wins,
        case_audit_chain_verifies,
        case_audit_filters,
        case_decisions_append_and_filter,
    ],
    raw: [case_tampering_is_detected, case_decision_inputs_are_stored_once]
);

// ---------------------------------------------------------------------------------------------
// Fixtures

fn promote_change(a: &Artifact, channel: &str) -> ArtifactChange {
    let mut next = a.clone();
    next.lifecycle_state = LifecycleState::Promoted;
    next.channels.push(channel.parse().unwrap());
    next.updated_at = now();
    ArtifactChange {
        artifact: next,
        promotion: Some(Promotion {
            channel: channel.parse().unwrap(),
            target_environment: Some("prod-eu".into()),
            actor: actor("releaser"),
            promoted_at: now(),
            decision: json!({"effect": "allow", "policy_ids": ["p"]}),
            reason: Some("ship it".into()),
        }),
        evidence: vec![],
        summary: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Cases

async fn case_register_is_idempotent(store: Arc<dyn Store>) {
    let a = artifact("team-a", "trainer", 1, ArtifactKind::Oci);
    let stored = register(&store, &a).await;
    assert_eq!(stored, a);

    let mut again = artifact("team-a", "trainer", 1, ArtifactKind::Oci);
    again.tag = Some("other".into());
    let d = decision("register", "team-a", "allow", now());
    let answer = store
        .register_artifact(
            &again,
            audit_for(Some(&again), "x", "ci"),
            &d,
            &RegistrationLinks::default(),
        )
        .await
        .unwrap();
    assert_eq!(answer, Registered::Existing(a.clone()));
    assert_eq!(audit_count(&store).await, 1, "the repeat wrote no audit record");
    assert_eq!(decision_count(&store).await, 1, "the repeat wrote no decision");
    assert_eq!(store.get_artifact(again.id).await.unwrap(), None);
    store.ping().await.unwrap();
}

async fn case_get_and_find_by_digest(store: Arc<dyn Store>) {
    let a = register(&store, &artifact("team-a", "trainer", 7, ArtifactKind::Blob)).await;
    assert_eq!(store.get_artifact(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_artifact(ArtifactId::new()).await.unwrap(), None);

    let found = store
        .find_artifact_by_digest(&a.project, &a.digest, None)
        .await
        .unwrap();
    assert_eq!(found, Some(a.clone()));
    let found = store
        .find_artifact_by_digest(&a.project, &a.digest, Some(&a.repository))
        .await
        .unwrap();
    assert_eq!(found, Some(a.clone()));
    let elsewhere = "gpuaas/apps/team-a/other".parse().unwrap();
    let found = store
        .find_artifact_by_digest(&a.project, &a.digest, Some(&elsewhere))
        .await
        .unwrap();
    assert_eq!(found, None);
    let other_project = "team-b".parse().unwrap();
    assert_eq!(
        store
            .find_artifact_by_digest(&other_project, &a.digest, None)
            .await
            .unwrap(),
        None
    );
}

async fn case_list_artifacts_filters_and_pages(store: Arc<dyn Store>) {
    let mut all = Vec::new();
    for n in 0..5 {
        let kind = if n % 2 == 0 {
            ArtifactKind::Oci
        } else {
            ArtifactKind::Blob
        };
        let app = if n < 3 { "trainer" } else { "server" };
        all.push(register(&store, &artifact("team-a", app, n, kind)).await);
    }
    register(&store, &artifact("team-b", "trainer", 0, ArtifactKind::Oci)).await;
    let promoted = store
        .apply_change(
            &promote_change(&all[1], "dev"),
            audit_for(None, "p", "ci"),
            &[decision("promote", "team-a", "allow", now())],
        )
        .await
        .unwrap();
    let mut verify = promoted.clone();
    verify.trust_state = TrustState::Verified;
    let change = ArtifactChange {
        artifact: verify,
        promotion: None,
        evidence: vec![],
        summary: None,
    };
    let verified = store
        .apply_change(
            &change,
            audit_for(None, "v", "ci"),
            &[decision("verify", "team-a", "allow", now())],
        )
        .await
        .unwrap();

    let project = Some("team-a".parse().unwrap());
    let list = |f: ArtifactFilter| {
        let store = store.clone();
        async move { store.list_artifacts(&f, &page(100)).await.unwrap().items }
    };
    let base = ArtifactFilter {
        project: project.clone(),
        ..Default::default()
    };
    assert_eq!(list(base.clone()).await.len(), 5);
    assert_eq!(list(ArtifactFilter::default()).await.len(), 6);
    assert_eq!(
        list(ArtifactFilter {
            app: Some("server".into()),
            ..base.clone()
        })
        .await
        .len(),
        2
    );
    assert_eq!(
        list(ArtifactFilter {
            artifact_kind: Some(ArtifactKind::Blob),
            ..base.clone()
        })
        .await
        .len(),
        2
    );
    let by_state = list(ArtifactFilter {
        lifecycle_state: Some(LifecycleState::Promoted),
        ..base.clone()
    })
    .await;
    assert_eq!(by_state, vec![verified.clone()]);
    let by_trust = list(ArtifactFilter {
        trust_state: Some(TrustState::Verified),
        ..base.clone()
    })
    .await;
    assert_eq!(by_trust, vec![verified.clone()]);
    let by_channel = list(ArtifactFilter {
        channel: Some("dev".parse().unwrap()),
        ..base.clone()
    })
    .await;
    assert_eq!(by_channel, vec![verified.clone()]);
    assert!(
        list(ArtifactFilter {
            channel: Some("de".parse().unwrap()),
            ..base.clone()
        })
        .await
        .is_empty()
    );
    let by_digest = list(ArtifactFilter {
        digest: Some(all[3].digest.clone()),
        ..base.clone()
    })
    .await;
    assert_eq!(by_digest, vec![all[3].clone()]);

    // Three pages of two, in creation order, the last without a cursor.
    let mut seen = Vec::new();
    let mut req = page(2);
    loop {
        let p = store.list_artifacts(&base, &req).await.unwrap();
        assert!(p.items.len() <= 2);
        seen.extend(p.items.into_iter().map(|a| a.id));
        match p.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, all.iter().map(|a| a.id).collect::<Vec<_>>());

    for bad in ["not a cursor!", "Zm9v"] {
        let req = PageRequest {
            limit: 2,
            cursor: Some(bad.into()),
        };
        let err = store.list_artifacts(&base, &req).await.unwrap_err();
        assert!(matches!(err, StoreError::BadCursor), "{err:?}");
        let err = store.list_audit(&LogFilter::default(), &req).await.unwrap_err();
        assert!(matches!(err, StoreError::BadCursor), "{err:?}");
        let err = store
            .list_decisions(&LogFilter::default(), &req)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::BadCursor), "{err:?}");
    }
}

async fn case_apply_change_records_everything(store: Arc<dyn Store>) {
    let a = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    let mut change = promote_change(&a, "dev");
    change.artifact.signature_verified = true;
    change.artifact.attestations = vec!["https://slsa.dev/provenance/v1".into()];
    change.evidence = vec![
        Evidence {
            evidence_type: "signature".into(),
            result: EvidenceResult::Pass,
            reason: "cosign key k1".into(),
            checked_at: now(),
            details: json!({"key_id": "k1"}),
        },
        Evidence {
            evidence_type: "attestation".into(),
            result: EvidenceResult::Fail,
            reason: "no builder".into(),
            checked_at: now(),
            details: serde_json::Value::Null,
        },
    ];
    let d = decision("promote", "team-a", "allow", now());
    let stored = store
        .apply_change(
            &change,
            audit_for(Some(&a), "app_artifact.promote", "rel"),
            std::slice::from_ref(&d),
        )
        .await
        .unwrap();

    let mut expected = change.artifact.clone();
    expected.version = 2;
    assert_eq!(stored, expected);
    assert_eq!(store.get_artifact(a.id).await.unwrap(), Some(expected));
    assert_eq!(
        store.promotions(a.id).await.unwrap(),
        vec![change.promotion.clone().unwrap()]
    );
    assert_eq!(store.evidence(a.id).await.unwrap(), change.evidence);
    let audit = store
        .list_audit(&LogFilter::default(), &page(10))
        .await
        .unwrap()
        .items;
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1].body, audit_for(Some(&a), "app_artifact.promote", "rel"));
    let decisions = store
        .list_decisions(&LogFilter::default(), &page(10))
        .await
        .unwrap()
        .items;
    assert_eq!(decisions.last(), Some(&d));
}

async fn case_conflict_writes_nothing(store: Arc<dyn Store>) {
    let a = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    let first = promote_change(&a, "dev");
    let second = promote_change(&a, "test");
    let d = || decision("promote", "team-a", "allow", now());
    store
        .apply_change(&first, audit_for(Some(&a), "p", "ci"), &[d()])
        .await
        .unwrap();
    let (audits, decisions) = (audit_count(&store).await, decision_count(&store).await);

    let err = store
        .apply_change(&second, audit_for(Some(&a), "p", "ci"), &[d()])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(audit_count(&store).await, audits);
    assert_eq!(decision_count(&store).await, decisions);
    assert_eq!(store.promotions(a.id).await.unwrap().len(), 1);
    assert_eq!(store.get_artifact(a.id).await.unwrap().unwrap().version, 2);

    let mut ghost = promote_change(&a, "dev");
    ghost.artifact.id = ArtifactId::new();
    let err = store
        .apply_change(&ghost, audit_for(None, "p", "ci"), &[d()])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(audit_count(&store).await, audits);
}

/// A change may carry more than the decision that allowed it (a verification logs its
/// `accept_source` decision with its trust change): all of them commit with it, in order, and
/// none when the change loses.
async fn case_change_carries_every_decision(store: Arc<dyn Store>) {
    let a = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    let mut verified = a.clone();
    verified.trust_state = TrustState::Verified;
    verified.updated_at = now();
    let change = ArtifactChange {
        artifact: verified,
        promotion: None,
        evidence: vec![],
        summary: None,
    };
    let taken = [
        decision("verify", "team-a", "allow", now()),
        decision("accept_source", "team-a", "deny", now()),
    ];
    let (audits, decisions) = (audit_count(&store).await, decision_count(&store).await);
    store
        .apply_change(&change, audit_for(Some(&a), "app_artifact.verify", "ci"), &taken)
        .await
        .unwrap();
    assert_eq!(audit_count(&store).await, audits + 1);
    let logged = store
        .list_decisions(&LogFilter::default(), &page(10))
        .await
        .unwrap()
        .items;
    assert_eq!(logged.len(), decisions + 2);
    assert_eq!(logged[logged.len() - 2..], taken);

    // The same change again finds the version moved: neither its record nor its decisions stay.
    let again = [
        decision("verify", "team-a", "allow", now()),
        decision("accept_source", "team-a", "allow", now()),
    ];
    let err = store
        .apply_change(&change, audit_for(Some(&a), "app_artifact.verify", "ci"), &again)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(audit_count(&store).await, audits + 1);
    assert_eq!(decision_count(&store).await, decisions + 2);
}

/// What a change wrote, as `written_history` answers it without reading, is byte for byte what
/// the reads answer: the same times (to the backend's precision) and JSON (in its key order).
async fn case_written_history_reads_back_the_same(store: Arc<dyn Store>) {
    let a = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    // Nanoseconds, and keys neither sorted nor in `jsonb` order, at two depths.
    let at = chrono::Utc::now();
    let mut change = promote_change(&a, "dev");
    change.artifact.trust_state = TrustState::Verified;
    let promotion = change.promotion.as_mut().unwrap();
    promotion.promoted_at = at;
    promotion.decision = json!({"policy_hash": "h", "effect": "allow", "policy_ids": ["p", "q"]});
    change.evidence = vec![Evidence {
        evidence_type: "source_policy".into(),
        result: EvidenceResult::Pass,
        reason: "allowed".into(),
        checked_at: at,
        details: json!({"policy_ids": ["p"], "policy_hash": "h", "z": {"bb": 1, "a": [{"yy": true, "x": 2.5}]}}),
    }];
    let (evidence, promotion) = store.written_history(&change);
    store
        .apply_change(
            &change,
            audit_for(Some(&a), "p", "ci"),
            &[decision("promote", "team-a", "allow", now())],
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_string(&store.evidence(a.id).await.unwrap()).unwrap(),
        serde_json::to_string(&evidence).unwrap()
    );
    assert_eq!(
        serde_json::to_string(&store.promotions(a.id).await.unwrap()).unwrap(),
        serde_json::to_string(&vec![promotion.unwrap()]).unwrap()
    );
}

async fn case_concurrent_changes_one_wins(store: Arc<dyn Store>) {
    let a = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    let (c1, c2) = (promote_change(&a, "dev"), promote_change(&a, "test"));
    let (d1, d2) = (
        decision("promote", "team-a", "allow", now()),
        decision("promote", "team-a", "allow", now()),
    );
    let (r1, r2) = tokio::join!(
        store.apply_change(&c1, audit_for(Some(&a), "p", "a"), std::slice::from_ref(&d1)),
        store.apply_change(&c2, audit_for(Some(&a), "p", "b"), std::slice::from_ref(&d2)),
    );
    let wins = [&r1, &r2].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{r1:?} {r2:?}");
    let loser = if r1.is_ok() { r2 } else { r1 };
    assert!(matches!(loser, Err(StoreError::Conflict)), "{loser:?}");
    assert_eq!(audit_count(&store).await, 2);
    assert_eq!(store.promotions(a.id).await.unwrap().len(), 1);
    let (_, hash) = verify_chain(&store.audit_chain_page(0, 100).await.unwrap(), 0, String::new()).unwrap();
    assert!(!hash.is_empty());
}

async fn case_audit_chain_verifies(store: Arc<dyn Store>) {
    let a = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    let d = decision("promote", "team-a", "allow", now());
    store
        .apply_change(
            &promote_change(&a, "dev"),
            audit_for(Some(&a), "p", "ci"),
            std::slice::from_ref(&d),
        )
        .await
        .unwrap();
    let mut appended = Vec::new();
    for _ in 0..3 {
        let mut body = audit_for(None, "policy.reload", "admin");
        body.transition = None;
        appended.push(store.append_audit(body).await.unwrap());
    }
    // Walk the chain in pages of two, continuing each check where the last one ended.
    let (mut seq, mut hash, mut all) = (0, String::new(), Vec::<AuditRecord>::new());
    loop {
        let records = store.audit_chain_page(seq, 2).await.unwrap();
        if records.is_empty() {
            break;
        }
        for r in &records {
            assert_eq!(r.compute_hash(), r.hash);
        }
        (seq, hash) = verify_chain(&records, seq, hash).unwrap();
        all.extend(records);
    }
    assert_eq!(seq, 5);
    assert_eq!(hash, appended[2].hash);
    assert_eq!(
        &all[2..],
        &appended[..],
        "records read back equal the records appended"
    );
}

async fn case_tampering_is_detected(store: Arc<dyn Store>, raw: Raw) {
    for _ in 0..3 {
        store
            .append_audit(audit_for(None, "policy.reload", "admin"))
            .await
            .unwrap();
    }
    raw.exec("update audit_records set project = 'x' where seq = 2")
        .await;
    let records = store.audit_chain_page(0, 10).await.unwrap();
    let err = verify_chain(&records, 0, String::new()).unwrap_err();
    assert!(matches!(err, ChainBreak::Altered { seq: 2, .. }), "{err}");
}

/// The decision log's batches log an input inline the first time and store it once in
/// `decision_inputs` when it repeats (migration 0015), and every decision lists back whole;
/// decisions written with a change keep their input inline and list back the same.
async fn case_decision_inputs_are_stored_once(store: Arc<dyn Store>, raw: Raw) {
    let first = decision("pull", "team-a", "allow", now());
    let same = |first: &gatehouse::audit::DecisionRecord| gatehouse::audit::DecisionRecord {
        id: uuid::Uuid::now_v7(),
        ..first.clone()
    };
    let again = same(&first);
    let other = decision("pull", "team-b", "deny", now());
    let third = same(&first);
    let fourth = same(&first);
    let fifth = same(&first);
    // The first two share a batch: neither was seen before it committed, so both are inline.
    let batches = [
        vec![first.clone(), again.clone()],
        vec![other.clone()],
        vec![third.clone(), fourth.clone()],
        vec![fifth.clone()],
    ];
    for batch in batches {
        store.append_decisions(&batch).await.unwrap();
    }
    let a = register(&store, &artifact("team-c", "trainer", 3, ArtifactKind::Oci)).await;

    assert_eq!(
        raw.count("select count(*) from decision_inputs").await,
        1,
        "the repeated input, once"
    );
    assert_eq!(
        raw.count("select count(*) from decisions where input_hash is not null")
            .await,
        3,
        "the third, fourth and fifth name it"
    );
    let listed = store
        .list_decisions(&LogFilter::default(), &page(100))
        .await
        .unwrap()
        .items;
    assert_eq!(&listed[..6], &[first, again, other, third, fourth, fifth]);
    assert_eq!(listed.len(), 7);
    assert_eq!(listed[6].project.as_deref(), Some(a.project.as_str()));
    assert!(
        listed[6].entities.get().contains("team-c"),
        "the change's decision holds its input"
    );
}

async fn case_audit_filters(store: Arc<dyn Store>) {
    let a = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let between = now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut other = audit_for(None, "policy.reload", "admin");
    other.project = Some("team-b".into());
    store.append_audit(other).await.unwrap();

    let list = |f: LogFilter| {
        let store = store.clone();
        async move { store.list_audit(&f, &page(100)).await.unwrap().items }
    };
    let one = |items: Vec<AuditRecord>| items.into_iter().map(|r| r.body.action).collect::<Vec<_>>();
    let reg = vec!["app_artifact.register".to_owned()];
    let reload = vec!["policy.reload".to_owned()];
    assert_eq!(
        one(list(LogFilter {
            project: Some("team-a".into()),
            ..Default::default()
        })
        .await),
        reg
    );
    assert_eq!(
        one(list(LogFilter {
            artifact_id: Some(a.id),
            ..Default::default()
        })
        .await),
        reg
    );
    assert_eq!(
        one(list(LogFilter {
            action: Some("policy.reload".into()),
            ..Default::default()
        })
        .await),
        reload
    );
    assert_eq!(
        one(list(LogFilter {
            actor: Some("admin".into()),
            ..Default::default()
        })
        .await),
        reload
    );
    assert_eq!(
        one(list(LogFilter {
            since: Some(between),
            ..Default::default()
        })
        .await),
        reload
    );
    assert_eq!(
        one(list(LogFilter {
            until: Some(between),
            ..Default::default()
        })
        .await),
        reg
    );

    let first = store.list_audit(&LogFilter::default(), &page(1)).await.unwrap();
    assert_eq!(one(first.items), reg);
    let rest = PageRequest {
        limit: 1,
        cursor: first.next_cursor,
    };
    let second = store.list_audit(&LogFilter::default(), &rest).await.unwrap();
    assert_eq!((one(second.items), second.next_cursor), (reload, None));
}

async fn case_decisions_append_and_filter(store: Arc<dyn Store>) {
    let t0 = now() - TimeDelta::hours(1);
    let at = |m: i64| t0 + TimeDelta::minutes(m);
    let records = vec![
        decision("promote", "team-a", "allow", at(0)),
        decision("promote", "team-a", "deny", at(10)),
        decision("pull", "team-b", "allow", at(20)),
        decision("register", "team-a", "deny", at(30)),
    ];
    store.append_decisions(&records).await.unwrap();
    store.append_decisions(&[]).await.unwrap();

    let list = |f: LogFilter| {
        let store = store.clone();
        async move { store.list_decisions(&f, &page(100)).await.unwrap().items }
    };
    let pick = |ix: &[usize]| ix.iter().map(|i| records[*i].clone()).collect::<Vec<_>>();
    assert_eq!(
        list(LogFilter::default()).await,
        records,
        "decisions round-trip unchanged"
    );
    assert_eq!(
        list(LogFilter {
            effect: Some("deny".into()),
            ..Default::default()
        })
        .await,
        pick(&[1, 3])
    );
    assert_eq!(
        list(LogFilter {
            action: Some("promote".into()),
            ..Default::default()
        })
        .await,
        pick(&[0, 1])
    );
    assert_eq!(
        list(LogFilter {
            project: Some("team-b".into()),
            ..Default::default()
        })
        .await,
        pick(&[2])
    );
    assert_eq!(
        list(LogFilter {
            actor: Some("nobody".into()),
            ..Default::default()
        })
        .await,
        pick(&[])
    );
    let window = LogFilter {
        since: Some(at(10)),
        until: Some(at(30)),
        ..Default::default()
    };
    assert_eq!(list(window).await, pick(&[1, 2]));
    let both = LogFilter {
        effect: Some("allow".into()),
        project: Some("team-a".into()),
        ..Default::default()
    };
    assert_eq!(list(both).await, pick(&[0]));

    let mut seen = Vec::new();
    let mut req = page(3);
    loop {
        let p = store.list_decisions(&LogFilter::default(), &req).await.unwrap();
        seen.extend(p.items);
        match p.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, records);
}

// ---------------------------------------------------------------------------------------------
// Connecting by url

#[tokio::test]
async fn connect_chooses_the_backend_by_scheme() {
    let err = gatehouse::store::connect("mysql://root:hunter2@db/x")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::UnsupportedUrl));
    let message = err.to_string();
    assert!(
        message.contains("postgres://") && message.contains("sqlite:"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let memory = gatehouse::store::connect("sqlite::memory:").await.unwrap();
    memory.migrate().await.unwrap();
    register(&memory, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    assert_eq!(audit_count(&memory).await, 1);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/gatehouse.db");
    let file = gatehouse::store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    file.migrate().await.unwrap();
    file.ping().await.unwrap();
    assert!(path.exists());
}
