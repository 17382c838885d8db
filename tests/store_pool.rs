//! Read/write routing and the decision-log batches: reads on SQLite's read pool see every
//! committed write (and only committed ones), multi-row decision inserts round-trip, a burst
//! through the group-committing writer keeps every decision, one record the database refuses
//! fails alone, and a batch too heavy for one PostgreSQL statement still commits (or not) whole;
//! concurrent artifact lookups (coalesced into one statement on PostgreSQL) each answer their own
//! caller, and fail every caller closed when the database fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::TimeDelta;
use common::store_harness::{Raw, artifact, audit_for, conformance, decision, now, page, register};
use gatehouse::audit::DecisionRecord;
use gatehouse::domain::{ArtifactId, ArtifactKind};
use gatehouse::store::{ArtifactChange, ArtifactFilter, LogFilter, SqliteStore, Store};
use gatehouse::store::{DecisionLogError, DecisionLogWriter};

conformance!(
    plain: [
        case_reads_after_writes_see_them,
        case_multi_row_batches_round_trip,
        case_decision_burst_keeps_every_decision,
        case_reads_during_writes_see_each_commit_in_order,
        case_heavy_decisions_round_trip,
        case_concurrent_lookups_each_get_their_own,
    ],
    raw: [
        case_a_failed_lookup_fails_every_caller,
        case_an_undecodable_row_fails_only_its_caller,
        case_one_refused_decision_fails_alone,
        case_a_refused_heavy_batch_stores_none_of_it
    ]
);

/// Every decision stored, oldest first, paging through the whole log.
async fn all_decisions(store: &Arc<dyn Store>) -> Vec<DecisionRecord> {
    let mut seen = Vec::new();
    let mut req = page(500);
    loop {
        let p = store.list_decisions(&LogFilter::default(), &req).await.unwrap();
        seen.extend(p.items);
        match p.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => return seen,
        }
    }
}

async fn case_reads_after_writes_see_them(store: Arc<dyn Store>) {
    for n in 0..20 {
        let a = register(&store, &artifact("team-a", "trainer", n, ArtifactKind::Oci)).await;
        let got = store.get_artifact(a.id).await.unwrap();
        assert_eq!(got.as_ref().map(|g| g.id), Some(a.id), "get after register {n}");
        let found = store
            .find_artifact_by_digest(&a.project, &a.digest, None)
            .await
            .unwrap();
        assert_eq!(found.map(|f| f.id), Some(a.id), "find after register {n}");
        let listed = store
            .list_artifacts(
                &ArtifactFilter {
                    project: Some(a.project.clone()),
                    ..Default::default()
                },
                &page(500),
            )
            .await
            .unwrap();
        assert_eq!(listed.items.len(), n as usize + 1, "listing after register {n}");
    }
}

async fn case_concurrent_lookups_each_get_their_own(store: Arc<dyn Store>) {
    // Two repositories of team-a hold digest 1: the lookup without a repository answers the
    // first registered (lowest id); team-b holds digest 1 too, as its own artifact.
    let mut stored = Vec::new();
    for (project, app, n) in [
        ("team-a", "trainer", 1),
        ("team-a", "other", 1),
        ("team-a", "trainer", 2),
        ("team-b", "trainer", 1),
        ("team-b", "trainer", 3),
    ] {
        stored.push(register(&store, &artifact(project, app, n, ArtifactKind::Oci)).await);
    }
    // One at a time, each a batch of one project (PostgreSQL's one-project statement): still
    // the lowest id where two repositories hold the digest.
    for (i, a) in stored.iter().enumerate() {
        let found = store
            .find_artifact_by_digest(&a.project, &a.digest, None)
            .await
            .unwrap();
        let first = if i == 1 { 0 } else { i };
        assert_eq!(
            found.map(|f| f.id),
            Some(stored[first].id),
            "artifact {i} by digest alone"
        );
    }
    let mut lookups = tokio::task::JoinSet::new();
    for round in 0..8 {
        for (i, a) in stored.iter().enumerate() {
            let (store, a) = (Arc::clone(&store), a.clone());
            lookups.spawn(async move {
                let got = store.get_artifact(a.id).await.unwrap();
                assert_eq!(got.as_ref(), Some(&a), "round {round}: artifact {i} by id");
                let found = store
                    .find_artifact_by_digest(&a.project, &a.digest, None)
                    .await
                    .unwrap();
                let first = if i == 1 { 0 } else { i };
                (i, found.map(|f| f.id), first)
            });
        }
        let store = Arc::clone(&store);
        lookups.spawn(async move {
            let missing = ArtifactId::new();
            assert_eq!(store.get_artifact(missing).await.unwrap(), None, "a missing id");
            let unknown = "sha256:".to_owned() + &"e".repeat(64);
            let found = store
                .find_artifact_by_digest(&"team-a".parse().unwrap(), &unknown.parse().unwrap(), None)
                .await
                .unwrap();
            assert_eq!(found, None, "a missing digest");
            (usize::MAX, None, usize::MAX)
        });
    }
    while let Some(answer) = lookups.join_next().await {
        let (i, found, first) = answer.unwrap();
        if i != usize::MAX {
            assert_eq!(found, Some(stored[first].id), "artifact {i} by digest");
        }
    }
}

async fn case_an_undecodable_row_fails_only_its_caller(store: Arc<dyn Store>, raw: Raw) {
    let good = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    let bad = register(&store, &artifact("team-a", "trainer", 2, ArtifactKind::Oci)).await;
    // Written around the gateway: channels that are not a list.
    raw.exec("update artifacts set channels = '\"oops\"' where tag = 'v2'")
        .await;
    let mut lookups = tokio::task::JoinSet::new();
    for round in 0..8 {
        for a in [&good, &bad] {
            let (store, a) = (Arc::clone(&store), a.clone());
            lookups.spawn(async move {
                (
                    round,
                    a.id,
                    store.get_artifact(a.id).await.map(|g| g.map(|g| g.id)),
                )
            });
        }
    }
    while let Some(answer) = lookups.join_next().await {
        let (round, id, got) = answer.unwrap();
        if id == good.id {
            assert_eq!(got.unwrap(), Some(good.id), "round {round}: the good artifact");
        } else {
            assert!(got.is_err(), "round {round}: the undecodable row answered");
        }
    }
}

async fn case_a_failed_lookup_fails_every_caller(store: Arc<dyn Store>, raw: Raw) {
    let a = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    assert_eq!(store.get_artifact(a.id).await.unwrap().map(|g| g.id), Some(a.id));
    // Only PostgreSQL's reads all go through the pool; SQLite reads inline beside it.
    let Raw::Pg(pool) = raw else {
        return;
    };
    pool.close().await;
    let mut lookups = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (store, a) = (Arc::clone(&store), a.clone());
        lookups.spawn(async move {
            let by_id = store.get_artifact(a.id).await;
            let by_digest = store.find_artifact_by_digest(&a.project, &a.digest, None).await;
            by_id.is_err() && by_digest.is_err()
        });
    }
    while let Some(failed) = lookups.join_next().await {
        assert!(
            failed.unwrap(),
            "a lookup on a closed pool answered instead of failing"
        );
    }
}

async fn case_multi_row_batches_round_trip(store: Arc<dyn Store>) {
    // 300 rows cross every chunk size (128, 128, 32, 8, 4); varied fields catch a misaligned
    // column in any of them.
    let t0 = now() - TimeDelta::hours(1);
    let records: Vec<DecisionRecord> = (0..300_i64)
        .map(|i| {
            let mut d = decision(
                if i % 3 == 0 { "promote" } else { "deploy" },
                &format!("team-{}", i % 7),
                if i % 2 == 0 { "allow" } else { "deny" },
                t0 + TimeDelta::milliseconds(i),
            );
            d.correlation_id = format!("req-{i}");
            d.artifact_id = (i % 5 == 0).then(|| ArtifactId(uuid::Uuid::now_v7()));
            d.reasons = vec![format!("reason-{i}")];
            d
        })
        .collect();
    store.append_decisions(&records).await.unwrap();
    assert_eq!(all_decisions(&store).await, records);
}

/// `n` decisions whose entity slices weigh ~4 KB each: PostgreSQL sends 40 of them as several
/// statements (each under its 12 KiB bound) in one transaction.
fn heavy_decisions(n: i64) -> Vec<DecisionRecord> {
    let t0 = now() - TimeDelta::hours(1);
    (0..n)
        .map(|i| {
            let mut d = decision("deploy", "team-a", "allow", t0 + TimeDelta::milliseconds(i));
            d.correlation_id = format!("heavy-{i}");
            d.entities = serde_json::json!({ "row": i, "padding": "e".repeat(4_000) }).into();
            d
        })
        .collect()
}

async fn case_heavy_decisions_round_trip(store: Arc<dyn Store>) {
    let records = heavy_decisions(40);
    store.append_decisions(&records).await.unwrap();
    assert_eq!(
        all_decisions(&store).await,
        records,
        "every row, in order, intact"
    );
}

async fn case_a_refused_heavy_batch_stores_none_of_it(store: Arc<dyn Store>, raw: Raw) {
    let mut records = heavy_decisions(40);
    // PostgreSQL text cannot hold a NUL byte: the last statement of the batch is refused.
    records[39].resource = "Gatehouse::Project::\"team-b\0\"".into();
    let outcome = store.append_decisions(&records).await;
    if matches!(raw, Raw::Pg(_)) {
        let error = outcome.expect_err("the batch with a NUL byte is refused");
        assert!(
            error.is_refusal(),
            "a refusal, so the writer retries record by record: {error}"
        );
        assert!(
            all_decisions(&store).await.is_empty(),
            "the statements before the refused one rolled back with it"
        );
    } else {
        outcome.unwrap();
        assert_eq!(all_decisions(&store).await.len(), 40);
    }
}

async fn case_decision_burst_keeps_every_decision(store: Arc<dyn Store>) {
    let (writer, handle) = DecisionLogWriter::spawn(Arc::clone(&store), 64);
    let burst: Vec<DecisionRecord> = (0..600)
        .map(|i| decision("deploy", &format!("team-{}", i % 3), "allow", now()))
        .collect();
    let ids: HashSet<_> = burst.iter().map(|d| d.id).collect();
    let tasks: Vec<_> = burst
        .into_iter()
        .map(|d| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.record(d).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    drop(writer);
    handle.await.unwrap();
    let stored = all_decisions(&store).await;
    assert_eq!(stored.len(), 600, "every acknowledged decision is stored once");
    assert_eq!(stored.iter().map(|d| d.id).collect::<HashSet<_>>(), ids);
}

/// Readers hammer one artifact (by id and by digest) while a writer changes it again and again:
/// every read answers the artifact as of some commit — never an error, never a torn row (its tag
/// always names the version it was written at) — each reader's versions never go back, and the
/// writer reads its own change as soon as it is answered (a revocation is seen by the next
/// review).
async fn case_reads_during_writes_see_each_commit_in_order(store: Arc<dyn Store>) {
    const CHANGES: i64 = 40;
    let first = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|reader| {
            let (store, done, first) = (Arc::clone(&store), Arc::clone(&done), first.clone());
            tokio::spawn(async move {
                let (mut last, mut reads) = (first.version, 0);
                while !done.load(std::sync::atomic::Ordering::Acquire) || reads == 0 {
                    let seen = if (reader + reads) % 2 == 0 {
                        store.get_artifact(first.id).await
                    } else {
                        store
                            .find_artifact_by_digest(&first.project, &first.digest, None)
                            .await
                    };
                    let seen = seen
                        .expect("a read during writes fails")
                        .expect("the artifact vanished");
                    if seen.version > first.version {
                        assert_eq!(
                            seen.tag,
                            Some(format!("v{}", seen.version)),
                            "a torn read: {seen:?}"
                        );
                    }
                    assert!(
                        seen.version >= last,
                        "reader {reader} went back: {} after {last}",
                        seen.version
                    );
                    last = seen.version;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let mut current = first.clone();
    for _ in 0..CHANGES {
        let mut next = current.clone();
        next.tag = Some(format!("v{}", current.version + 1));
        let change = ArtifactChange {
            artifact: next,
            promotion: None,
            evidence: vec![],
            summary: None,
        };
        current = store
            .apply_change(
                &change,
                audit_for(Some(&current), "app_artifact.retag", "ci"),
                &[decision("verify", "team-a", "allow", now())],
            )
            .await
            .unwrap();
        let read = store.get_artifact(first.id).await.unwrap().unwrap();
        assert_eq!(
            read.version, current.version,
            "the writer's next read sees its change"
        );
        assert_eq!(read.tag, current.tag);
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    for reader in readers {
        assert!(reader.await.unwrap() > 0);
    }
    assert_eq!(current.version, first.version + CHANGES);
}

async fn case_one_refused_decision_fails_alone(store: Arc<dyn Store>, raw: Raw) {
    let (writer, handle) = DecisionLogWriter::spawn(Arc::clone(&store), 64);
    let mut burst: Vec<DecisionRecord> = (0..20)
        .map(|_| decision("deploy", "team-a", "allow", now()))
        .collect();
    // PostgreSQL text cannot hold a NUL byte; SQLite stores it.
    burst[7].resource = "Gatehouse::Project::\"team-b\0\"".into();
    let poisoned = burst[7].id;
    // Queue them all before the writer runs, so they share a batch.
    let tasks: Vec<_> = burst
        .iter()
        .cloned()
        .map(|d| {
            let writer = writer.clone();
            tokio::spawn(async move { (d.id, writer.record(d).await) })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    drop(writer);
    handle.await.unwrap();

    let refused = matches!(raw, Raw::Pg(_));
    for (id, outcome) in &outcomes {
        if *id == poisoned && refused {
            assert!(
                matches!(outcome, Err(DecisionLogError::WriteFailed)),
                "the refused record fails closed: {outcome:?}"
            );
        } else {
            assert!(outcome.is_ok(), "{id}: {outcome:?}");
        }
    }
    let stored: HashSet<_> = all_decisions(&store).await.iter().map(|d| d.id).collect();
    let expected: HashSet<_> = burst
        .iter()
        .map(|d| d.id)
        .filter(|id| !(refused && *id == poisoned))
        .collect();
    assert_eq!(
        stored, expected,
        "every acknowledged decision, and only those, is stored"
    );
}

// ---------------------------------------------------------------------------------------------
// SQLite's read pool

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_do_not_wait_for_the_writer_and_see_only_commits() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    let sqlite = SqliteStore::connect(&url).await.unwrap();
    let writer = sqlite.pool().clone();
    let reads = sqlite.reads().clone();
    let store: Arc<dyn Store> = Arc::new(sqlite);
    store.migrate().await.unwrap();
    let a = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;

    // The writer's only connection is inside an open transaction: a read that needed it would
    // wait for the pool's acquire timeout and fail.
    let mut tx = writer.begin().await.unwrap();
    sqlx::query("update artifacts set tag = 'uncommitted' where id = $1")
        .bind(a.id.0)
        .execute(&mut *tx)
        .await
        .unwrap();
    let during = store.get_artifact(a.id).await.unwrap().unwrap();
    assert_eq!(during.tag, a.tag, "an uncommitted write is not visible to reads");
    tx.commit().await.unwrap();
    let after = store.get_artifact(a.id).await.unwrap().unwrap();
    assert_eq!(after.tag.as_deref(), Some("uncommitted"), "a committed write is");

    let refused = sqlx::query("delete from decisions").execute(&reads).await;
    assert!(refused.is_err(), "read connections cannot write");
}

#[tokio::test]
async fn sqlite_in_memory_reads_share_the_writers_database() {
    let store = gatehouse::store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let a = register(&store, &artifact("team-a", "trainer", 1, ArtifactKind::Oci)).await;
    assert_eq!(store.get_artifact(a.id).await.unwrap().map(|g| g.id), Some(a.id));
}
