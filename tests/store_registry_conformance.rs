//! Conformance of the registry side of the store (intents, issued tokens, the registry event
//! queue, unregistered pushes, artifact links): each case once, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use common::store_harness::{
    Raw, actor, artifact, audit_count, audit_for, conformance, decision, decision_count, now, page, register,
};
use gatehouse::domain::{
    AccessGrant, Artifact, ArtifactKind, ArtifactType, EventStatus, IntentKind, IssuedToken, Principal,
    PublishIntent, PullIntent, RegistryAction, RegistryEvent, Role, UnregisteredPush,
};
use gatehouse::store::{ArtifactLinks, PageRequest, Registered, RegistrationLinks, Store, StoreError};
use serde_json::json;
use uuid::Uuid;

conformance!(
    plain: [
        case_intents_round_trip,
        case_open_publish_intents_excludes_expired_and_completed,
        case_registration_completes_its_intent_once,
        case_tokens_are_listed_per_intent,
        case_enqueue_deduplicates_by_id,
        case_claim_takes_the_oldest_and_honours_leases,
        case_concurrent_claimers_never_share_an_event,
        case_finish_records_push_and_presence_atomically,
        case_release_puts_an_event_back,
        case_unregistered_pushes_page_per_project,
    ],
    raw: [case_corrupt_rows_are_reported]
);

// ---------------------------------------------------------------------------------------------
// Fixtures

const LEASE: TimeDelta = TimeDelta::seconds(30);

fn publish_intent(app: &str, created_at: DateTime<Utc>, ttl: TimeDelta) -> PublishIntent {
    PublishIntent {
        id: Uuid::now_v7(),
        project: "team-a".parse().unwrap(),
        app: app.parse().unwrap(),
        repository: format!("gpuaas/apps/team-a/{app}").parse().unwrap(),
        artifact_kind: ArtifactKind::Oci,
        artifact_type: ArtifactType::default_for(ArtifactKind::Oci),
        tag_hint: Some("v1".into()),
        expected_digest: Some(format!("sha256:{:064x}", 1).parse().unwrap()),
        actor: actor("ci"),
        principal: Principal {
            actor: actor("ci"),
            issuer: "https://issuer.test".into(),
            project_roles: [("team-a".parse().unwrap(), [Role::Operator].into())].into(),
            platform_roles: Default::default(),
            ci: Default::default(),
        },
        password_sha256: format!("{:064x}", 0xfeed_u32),
        created_at,
        expires_at: created_at + ttl,
        artifact_id: None,
        completed_at: None,
        correlation_id: "req-intent".into(),
    }
}

async fn create_publish(store: &Arc<dyn Store>, intent: &PublishIntent) {
    store
        .create_publish_intent(
            intent,
            audit_for(None, "publish_intent.create", "ci"),
            &decision("publish", "team-a", "allow", now()),
        )
        .await
        .unwrap();
}

fn event(id: &str, action: RegistryAction, n: u32, received_at: DateTime<Utc>) -> RegistryEvent {
    RegistryEvent {
        id: id.into(),
        source: "distribution".into(),
        action,
        repository: "gpuaas/apps/team-a/trainer".into(),
        digest: Some(format!("sha256:{n:064x}").parse().unwrap()),
        media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
        size: Some(1234),
        tag: Some("v1".into()),
        actor_name: Some("intent-0198".into()),
        occurred_at: Some(received_at - TimeDelta::seconds(1)),
        received_at,
        status: EventStatus::Pending,
        attempts: 0,
        result: json!({}),
    }
}

fn notify() -> gatehouse::audit::DecisionRecord {
    decision("notify", "team-a", "allow", now())
}

async fn enqueue(store: &Arc<dyn Store>, events: &[RegistryEvent]) -> Vec<bool> {
    let decisions: Vec<_> = events.iter().map(|_| notify()).collect();
    store.enqueue_registry_events(events, &decisions).await.unwrap()
}

fn push(event: &RegistryEvent, project: Option<&str>) -> UnregisteredPush {
    UnregisteredPush {
        id: Uuid::now_v7(),
        event_id: event.id.clone(),
        project: project.map(|p| p.parse().unwrap()),
        repository: event.repository.clone(),
        digest: event.digest.clone().unwrap(),
        tag: event.tag.clone(),
        actor_name: event.actor_name.clone(),
        received_at: event.received_at,
    }
}

async fn register_linked(
    store: &Arc<dyn Store>,
    a: &Artifact,
    links: &RegistrationLinks,
) -> Result<Registered, StoreError> {
    let d = decision("register", a.project.as_str(), "allow", now());
    store
        .register_artifact(a, audit_for(Some(a), "app_artifact.register", "ci"), &d, links)
        .await
}

async fn claim(store: &Arc<dyn Store>, at: DateTime<Utc>) -> Option<RegistryEvent> {
    store.claim_registry_event(at, LEASE).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Cases

async fn case_intents_round_trip(store: Arc<dyn Store>) {
    let intent = publish_intent("trainer", now(), TimeDelta::minutes(10));
    create_publish(&store, &intent).await;
    let stored = store.get_publish_intent(intent.id).await.unwrap().unwrap();
    assert_eq!(stored, intent, "the password hash is stored and read back too");
    let shown = serde_json::to_value(&stored).unwrap();
    assert!(shown.get("password_sha256").is_none(), "{shown}");
    assert_eq!(store.get_publish_intent(Uuid::now_v7()).await.unwrap(), None);

    let a = register(&store, &artifact("team-a", "trainer", 9, ArtifactKind::Oci)).await;
    let pull = PullIntent {
        id: Uuid::now_v7(),
        project: a.project.clone(),
        artifact_id: a.id,
        repository: a.repository.clone(),
        digest: a.digest.clone(),
        channel: Some("prod".into()),
        actor: actor("deployer"),
        password_sha256: format!("{:064x}", 0xbeef_u32),
        created_at: now(),
        expires_at: now() + TimeDelta::minutes(5),
        correlation_id: "req-pull".into(),
        runtime_class: Some("slurm".into()),
    };
    store
        .create_pull_intent(
            &pull,
            audit_for(Some(&a), "pull_intent.create", "deployer"),
            &decision("pull", "team-a", "allow", now()),
        )
        .await
        .unwrap();
    assert_eq!(store.get_pull_intent(pull.id).await.unwrap(), Some(pull));
    assert_eq!(store.get_pull_intent(intent.id).await.unwrap(), None);
    // Each intent committed its audit record and decision with it (plus the registration's).
    assert_eq!(audit_count(&store).await, 3);
    assert_eq!(decision_count(&store).await, 3);
}

async fn case_open_publish_intents_excludes_expired_and_completed(store: Arc<dyn Store>) {
    let t = now();
    let old = publish_intent("trainer", t - TimeDelta::minutes(8), TimeDelta::minutes(10));
    let new = publish_intent("trainer", t - TimeDelta::minutes(1), TimeDelta::minutes(10));
    let expired = publish_intent("trainer", t - TimeDelta::minutes(20), TimeDelta::minutes(10));
    let mut completed = publish_intent("trainer", t - TimeDelta::minutes(2), TimeDelta::minutes(10));
    completed.completed_at = Some(t - TimeDelta::minutes(1));
    let elsewhere = publish_intent("server", t, TimeDelta::minutes(10));
    for i in [&old, &new, &expired, &completed, &elsewhere] {
        create_publish(&store, i).await;
    }
    let repo = old.repository.clone();
    assert_eq!(
        store.open_publish_intents(&repo, t).await.unwrap(),
        vec![new.clone(), old.clone()],
        "open ones only, newest first"
    );
    // Expiry is exclusive: at `expires_at` the intent is no longer open.
    assert_eq!(
        store.open_publish_intents(&repo, old.expires_at).await.unwrap(),
        vec![new.clone()]
    );
    let later = t + TimeDelta::hours(1);
    assert!(store.open_publish_intents(&repo, later).await.unwrap().is_empty());
    assert_eq!(
        store
            .open_publish_intents(&elsewhere.repository, t)
            .await
            .unwrap(),
        vec![elsewhere]
    );
}

async fn case_registration_completes_its_intent_once(store: Arc<dyn Store>) {
    let intent = publish_intent("trainer", now(), TimeDelta::minutes(10));
    create_publish(&store, &intent).await;
    let links = RegistrationLinks {
        publish_intent_id: Some(intent.id),
        event_id: Some("ev-1".into()),
        verification: None,
        attachments: Vec::new(),
    };
    let a = artifact("team-a", "trainer", 1, ArtifactKind::Oci);
    let Registered::Created(a) = register_linked(&store, &a, &links).await.unwrap() else {
        panic!("expected a new artifact");
    };
    let done = store.get_publish_intent(intent.id).await.unwrap().unwrap();
    assert_eq!(done.artifact_id, Some(a.id));
    assert!(done.completed_at.is_some());
    assert!(
        store
            .open_publish_intents(&intent.repository, now())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.artifact_links(a.id).await.unwrap(),
        ArtifactLinks {
            publish_intent_id: Some(intent.id),
            event_id: Some("ev-1".into()),
            ..Default::default()
        }
    );
    let (audits, decisions) = (audit_count(&store).await, decision_count(&store).await);

    // A second digest through the same intent is refused and leaves no trace.
    let b = artifact("team-a", "trainer", 2, ArtifactKind::Oci);
    let err = register_linked(&store, &b, &links).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(store.get_artifact(b.id).await.unwrap(), None);
    assert_eq!(
        store.artifact_links(b.id).await.unwrap(),
        ArtifactLinks::default()
    );
    assert_eq!(audit_count(&store).await, audits);
    assert_eq!(decision_count(&store).await, decisions);
    assert_eq!(store.get_publish_intent(intent.id).await.unwrap(), Some(done));

    // An intent that does not exist completes nothing either.
    let ghost = RegistrationLinks {
        publish_intent_id: Some(Uuid::now_v7()),
        event_id: None,
        verification: None,
        attachments: Vec::new(),
    };
    let err = register_linked(&store, &b, &ghost).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(store.get_artifact(b.id).await.unwrap(), None);

    // Repeating the first registration answers the existing artifact and writes nothing.
    let again = artifact("team-a", "trainer", 1, ArtifactKind::Oci);
    let answer = register_linked(&store, &again, &links).await.unwrap();
    assert_eq!(answer, Registered::Existing(a));
    assert_eq!(audit_count(&store).await, audits);

    // An event link alone is recorded too; no links, no row.
    let by_event = RegistrationLinks {
        publish_intent_id: None,
        event_id: Some("ev-2".into()),
        verification: None,
        attachments: Vec::new(),
    };
    let Registered::Created(c) = register_linked(&store, &b, &by_event).await.unwrap() else {
        panic!("expected a new artifact");
    };
    assert_eq!(
        store.artifact_links(c.id).await.unwrap().event_id.as_deref(),
        Some("ev-2")
    );
    let plain = register(&store, &artifact("team-a", "trainer", 3, ArtifactKind::Oci)).await;
    assert_eq!(
        store.artifact_links(plain.id).await.unwrap(),
        ArtifactLinks::default()
    );
}

async fn case_tokens_are_listed_per_intent(store: Arc<dyn Store>) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let t = now();
    let token = |jti: &str, intent: Option<Uuid>, kind: IntentKind, at: DateTime<Utc>| IssuedToken {
        jti: jti.into(),
        intent_id: intent,
        intent_kind: kind,
        subject: intent.map_or_else(|| "ci".to_owned(), |i| format!("intent-{i}")),
        access: vec![AccessGrant {
            resource_type: "repository".into(),
            name: "gpuaas/apps/team-a/trainer".into(),
            actions: vec!["pull".into(), "push".into()],
        }],
        issued_at: at,
        expires_at: at + TimeDelta::minutes(5),
    };
    let second = token("j2", Some(a), IntentKind::Publish, t);
    let first = token("j1", Some(a), IntentKind::Publish, t - TimeDelta::seconds(10));
    let other = token("j3", Some(b), IntentKind::Pull, t);
    let mut direct = token("j4", None, IntentKind::Direct, t);
    direct.access.clear();
    for tk in [&second, &first, &other, &direct] {
        store.record_issued_token(tk).await.unwrap();
    }
    assert_eq!(
        store.tokens_for_intent(a).await.unwrap(),
        vec![first, second.clone()]
    );
    assert_eq!(store.tokens_for_intent(b).await.unwrap(), vec![other]);
    assert!(store.tokens_for_intent(Uuid::now_v7()).await.unwrap().is_empty());
    // A jti is recorded once.
    let err = store.record_issued_token(&second).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
}

// Decisions are written for every enqueue call, duplicates included: each records a `notify`
// decision that was taken; only the event rows are deduplicated.
async fn case_enqueue_deduplicates_by_id(store: Arc<dyn Store>) {
    let t = now();
    let e1 = event("ev-1", RegistryAction::Push, 1, t);
    let e2 = event("ev-2", RegistryAction::Delete, 2, t);
    assert_eq!(enqueue(&store, &[e1.clone(), e2.clone()]).await, vec![true, true]);

    let mut changed = e1.clone();
    changed.repository = "elsewhere".into();
    changed.digest = None;
    changed.received_at = t + TimeDelta::seconds(5);
    let e3 = event("ev-3", RegistryAction::Pull, 3, t);
    assert_eq!(enqueue(&store, &[changed, e3.clone()]).await, vec![false, true]);
    assert_eq!(
        store.get_registry_event("ev-1").await.unwrap(),
        Some(e1),
        "stored copy untouched"
    );
    assert_eq!(store.get_registry_event("ev-2").await.unwrap(), Some(e2));
    assert_eq!(store.get_registry_event("ev-3").await.unwrap(), Some(e3));
    assert_eq!(store.get_registry_event("ev-9").await.unwrap(), None);

    // The same id twice in one delivery: the first is new, the second is not.
    let e4 = event("ev-4", RegistryAction::Push, 4, t);
    assert_eq!(enqueue(&store, &[e4.clone(), e4]).await, vec![true, false]);
    assert_eq!(
        store.enqueue_registry_events(&[], &[]).await.unwrap(),
        Vec::<bool>::new()
    );
    assert_eq!(
        decision_count(&store).await,
        6,
        "one decision per event delivered"
    );
    assert_eq!(store.pending_registry_events().await.unwrap(), 4);
}

async fn case_claim_takes_the_oldest_and_honours_leases(store: Arc<dyn Store>) {
    let t = now();
    let mut done = event("ev-done", RegistryAction::Push, 0, t - TimeDelta::minutes(4));
    done.status = EventStatus::Applied;
    let new = event("ev-new", RegistryAction::Push, 3, t - TimeDelta::minutes(1));
    let old = event("ev-old", RegistryAction::Push, 1, t - TimeDelta::minutes(3));
    let mid = event("ev-mid", RegistryAction::Push, 2, t - TimeDelta::minutes(2));
    enqueue(&store, &[done, new, old.clone(), mid]).await;
    assert_eq!(store.pending_registry_events().await.unwrap(), 3);

    let first = claim(&store, t).await.unwrap();
    assert_eq!(first, RegistryEvent { attempts: 1, ..old });
    let order = [
        first.id,
        claim(&store, t).await.unwrap().id,
        claim(&store, t).await.unwrap().id,
    ];
    assert_eq!(order, ["ev-old", "ev-mid", "ev-new"]);
    assert_eq!(claim(&store, t).await, None, "all leased");
    assert_eq!(
        claim(&store, t + LEASE - TimeDelta::seconds(1)).await,
        None,
        "leases still held"
    );

    // Once the lease has expired the event is claimable again, one attempt more.
    let retried = claim(&store, t + LEASE + TimeDelta::seconds(1)).await.unwrap();
    assert_eq!((retried.id.as_str(), retried.attempts), ("ev-old", 2));
    let stored = store.get_registry_event("ev-old").await.unwrap().unwrap();
    assert_eq!(stored.attempts, 2);
    assert_eq!(
        store.pending_registry_events().await.unwrap(),
        3,
        "claimed is still pending"
    );
}

async fn case_concurrent_claimers_never_share_an_event(store: Arc<dyn Store>) {
    let t = now();
    let events: Vec<_> = (0..7)
        .map(|n| {
            event(
                &format!("ev-{n}"),
                RegistryAction::Push,
                n,
                t - TimeDelta::seconds(i64::from(n)),
            )
        })
        .collect();
    enqueue(&store, &events).await;
    let mut seen = Vec::new();
    loop {
        let (a, b, c) = tokio::join!(claim(&store, t), claim(&store, t), claim(&store, t));
        let got: Vec<_> = [a, b, c].into_iter().flatten().map(|e| e.id).collect();
        if got.is_empty() {
            break;
        }
        seen.extend(got);
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(unique.len(), 7, "an event was claimed twice: {seen:?}");
}

async fn case_finish_records_push_and_presence_atomically(store: Arc<dyn Store>) {
    let t = now();
    let pushed = event("ev-push", RegistryAction::Push, 1, t - TimeDelta::seconds(3));
    let deleted = event("ev-del", RegistryAction::Delete, 2, t - TimeDelta::seconds(2));
    let repushed = event("ev-again", RegistryAction::Push, 2, t - TimeDelta::seconds(1));
    enqueue(&store, &[pushed.clone(), deleted.clone(), repushed]).await;
    let a = register(&store, &artifact("team-a", "trainer", 2, ArtifactKind::Oci)).await;

    // A push with no intent: applied, recorded as unregistered.
    claim(&store, t).await.unwrap();
    let unregistered = push(&pushed, Some("team-a"));
    let result = json!({"unregistered": true});
    store
        .finish_registry_event(
            "ev-push",
            EventStatus::Applied,
            &result,
            Some(&unregistered),
            None,
        )
        .await
        .unwrap();
    let stored = store.get_registry_event("ev-push").await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.attempts, &stored.result),
        (EventStatus::Applied, 1, &result)
    );
    let project = "team-a".parse().unwrap();
    let listed = store.list_unregistered_pushes(&project, &page(10)).await.unwrap();
    assert_eq!(listed.items, vec![unregistered.clone()]);
    assert_eq!(store.pending_registry_events().await.unwrap(), 2);

    // Finishing twice is refused and records nothing more; an unknown id is not found.
    let err = store
        .finish_registry_event(
            "ev-push",
            EventStatus::Applied,
            &result,
            Some(&unregistered),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    let err = store
        .finish_registry_event("ev-none", EventStatus::Failed, &result, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(
        store
            .list_unregistered_pushes(&project, &page(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // A delete marks presence; a bad presence value rolls the whole finish back.
    let bad = store
        .finish_registry_event(
            "ev-del",
            EventStatus::Applied,
            &json!({}),
            Some(&push(&deleted, None)),
            Some((a.id, "gone")),
        )
        .await;
    assert!(bad.is_err(), "{bad:?}");
    let still = store.get_registry_event("ev-del").await.unwrap().unwrap();
    assert_eq!(still.status, EventStatus::Pending);
    assert_eq!(
        store.artifact_links(a.id).await.unwrap(),
        ArtifactLinks::default()
    );
    store
        .finish_registry_event(
            "ev-del",
            EventStatus::Applied,
            &json!({"deleted": a.id}),
            None,
            Some((a.id, "deleted")),
        )
        .await
        .unwrap();
    let expected = ArtifactLinks {
        registry_presence: Some("deleted".into()),
        presence_event_id: Some("ev-del".into()),
        ..Default::default()
    };
    assert_eq!(store.artifact_links(a.id).await.unwrap(), expected);

    // Presence is upserted: a later push marks it present again, keeping the registration links.
    let intent = publish_intent("trainer", t, TimeDelta::minutes(10));
    create_publish(&store, &intent).await;
    let links = RegistrationLinks {
        publish_intent_id: Some(intent.id),
        event_id: Some("ev-reg".into()),
        verification: None,
        attachments: Vec::new(),
    };
    let Registered::Created(b) = register_linked(
        &store,
        &artifact("team-a", "trainer", 5, ArtifactKind::Oci),
        &links,
    )
    .await
    .unwrap() else {
        panic!("expected a new artifact");
    };
    store
        .finish_registry_event(
            "ev-again",
            EventStatus::Applied,
            &json!({}),
            None,
            Some((b.id, "present")),
        )
        .await
        .unwrap();
    assert_eq!(
        store.artifact_links(b.id).await.unwrap(),
        ArtifactLinks {
            publish_intent_id: Some(intent.id),
            event_id: Some("ev-reg".into()),
            registry_presence: Some("present".into()),
            presence_event_id: Some("ev-again".into()),
        }
    );
    assert_eq!(store.pending_registry_events().await.unwrap(), 0);
    assert_eq!(
        claim(&store, t + TimeDelta::hours(1)).await,
        None,
        "finished events are never claimed"
    );
}

async fn case_release_puts_an_event_back(store: Arc<dyn Store>) {
    let t = now();
    enqueue(&store, &[event("ev-1", RegistryAction::Push, 1, t)]).await;
    assert_eq!(claim(&store, t).await.unwrap().attempts, 1);
    assert_eq!(claim(&store, t).await, None);

    let error = json!({"error": "registry unreachable"});
    store.release_registry_event("ev-1", &error).await.unwrap();
    let stored = store.get_registry_event("ev-1").await.unwrap().unwrap();
    assert_eq!((stored.status, &stored.result), (EventStatus::Pending, &error));
    assert_eq!(store.pending_registry_events().await.unwrap(), 1);
    // Released keeps the lease as a backoff: not claimable again until it expires.
    assert_eq!(
        claim(&store, t).await,
        None,
        "a released event waits out its lease"
    );
    let again = claim(&store, t + LEASE + TimeDelta::seconds(1)).await.unwrap();
    assert_eq!((again.id.as_str(), again.attempts), ("ev-1", 2));

    let err = store.release_registry_event("ev-9", &error).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    store
        .finish_registry_event("ev-1", EventStatus::Failed, &error, None, None)
        .await
        .unwrap();
    let err = store.release_registry_event("ev-1", &error).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(
        store.get_registry_event("ev-1").await.unwrap().unwrap().status,
        EventStatus::Failed
    );
}

async fn case_unregistered_pushes_page_per_project(store: Arc<dyn Store>) {
    let t = now();
    let mut team_a = Vec::new();
    for (n, project) in [
        Some("team-a"),
        Some("team-b"),
        Some("team-a"),
        None,
        Some("team-a"),
        Some("team-a"),
        Some("team-a"),
    ]
    .into_iter()
    .enumerate()
    {
        let n = u32::try_from(n).unwrap();
        let e = event(&format!("ev-{n}"), RegistryAction::Push, n, t);
        enqueue(&store, std::slice::from_ref(&e)).await;
        let p = push(&e, project);
        store
            .finish_registry_event(&e.id, EventStatus::Applied, &json!({}), Some(&p), None)
            .await
            .unwrap();
        if project == Some("team-a") {
            team_a.push(p);
        }
    }
    let project = "team-a".parse().unwrap();
    let mut seen = Vec::new();
    let mut req = page(2);
    loop {
        let p = store.list_unregistered_pushes(&project, &req).await.unwrap();
        assert!(p.items.len() <= 2);
        seen.extend(p.items);
        match p.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, team_a, "team-a's pushes, oldest first, over three pages");
    let team_b = store
        .list_unregistered_pushes(&"team-b".parse().unwrap(), &page(10))
        .await
        .unwrap();
    assert_eq!((team_b.items.len(), team_b.next_cursor), (1, None));
    let none = store
        .list_unregistered_pushes(&"team-c".parse().unwrap(), &page(10))
        .await
        .unwrap();
    assert!(none.items.is_empty());
    let bad = PageRequest {
        limit: 2,
        cursor: Some("not a cursor!".into()),
    };
    let err = store.list_unregistered_pushes(&project, &bad).await.unwrap_err();
    assert!(matches!(err, StoreError::BadCursor), "{err:?}");
}

async fn case_corrupt_rows_are_reported(store: Arc<dyn Store>, raw: Raw) {
    let t = now();
    enqueue(&store, &[event("ev-1", RegistryAction::Push, 1, t)]).await;
    let intent = publish_intent("trainer", t, TimeDelta::minutes(10));
    create_publish(&store, &intent).await;
    raw.exec("update registry_events set digest = 'sha256:nope'")
        .await;
    raw.exec("update publish_intents set project = 'Not A Slug'")
        .await;
    let err = store.get_registry_event("ev-1").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let err = store.claim_registry_event(t, LEASE).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let err = store.get_publish_intent(intent.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    raw.exec("update registry_events set digest = null, action = 'teleport'")
        .await;
    let err = store.get_registry_event("ev-1").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}
