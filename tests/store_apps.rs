//! `AppStore` on both backends: apps and versions round-trip with their links, taken slugs and
//! versions and a second publish are conflicts that write nothing, entitlements are idempotent,
//! listings page by their keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::store_harness::{
    actor, artifact, audit_count, audit_for, conformance, decision, decision_count, now, page, register,
};
use gatehouse::domain::{App, AppVersion, AppVersionStatus, ArtifactKind, Entitlement, LinkedArtifact};
use gatehouse::store::{PageRequest, Store, StoreError};
use serde_json::json;
use uuid::Uuid;

conformance!(
    plain: [
        case_app_and_version_round_trip,
        case_taken_slugs_and_versions_write_nothing,
        case_publish_once,
        case_entitlements_are_idempotent_and_listed,
    ],
    raw: []
);

fn app(slug: &str) -> App {
    App {
        slug: slug.parse().unwrap(),
        project: "team-a".parse().unwrap(),
        display_name: format!("{slug} app"),
        manifest: json!({ "slug": slug, "nested": { "b": 1, "a": [true, null] } }),
        created_by: actor("ada"),
        created_at: now(),
    }
}

fn version(slug: &str, number: &str, links: Vec<LinkedArtifact>) -> AppVersion {
    AppVersion {
        id: Uuid::now_v7(),
        app: slug.parse().unwrap(),
        version: number.parse().unwrap(),
        status: AppVersionStatus::Draft,
        manifest: json!({ "version": number }),
        manifest_digest: format!("sha256:{}", "ab".repeat(32)),
        artifacts: links,
        created_by: actor("ada"),
        created_at: now(),
        published_by: None,
        published_at: None,
    }
}

async fn linked(store: &Arc<dyn Store>, n: u32) -> LinkedArtifact {
    let a = register(store, &artifact("team-a", "web", n, ArtifactKind::Oci)).await;
    LinkedArtifact {
        name: format!("image-{n}"),
        artifact_id: a.id,
        digest: a.digest,
    }
}

async fn create(store: &Arc<dyn Store>, a: &App, v: &AppVersion) -> Result<(), StoreError> {
    let d = decision("register_app", "team-a", "allow", now());
    store
        .create_app(a, v, vec![audit_for(None, "app.register", "ada")], &[d])
        .await
}

async fn case_app_and_version_round_trip(store: Arc<dyn Store>) {
    let links = vec![linked(&store, 1).await, linked(&store, 2).await];
    let (a, v) = (app("web"), version("web", "1.0.0", links));
    create(&store, &a, &v).await.unwrap();
    assert_eq!(store.get_app(&a.slug).await.unwrap(), Some(a.clone()));
    let stored = store.get_app_version(&a.slug, &v.version).await.unwrap().unwrap();
    assert_eq!(stored, v);
    assert!(store.get_app(&"none".parse().unwrap()).await.unwrap().is_none());

    let second = version("web", "1.1.0", vec![linked(&store, 3).await]);
    let d = decision("register_app_version", "team-a", "allow", now());
    store
        .create_app_version(&second, audit_for(None, "app_version.register", "ada"), &d)
        .await
        .unwrap();
    let first_page = store.list_app_versions(&a.slug, None, &page(1)).await.unwrap();
    assert_eq!(first_page.items, std::slice::from_ref(&v));
    let rest = store
        .list_app_versions(
            &a.slug,
            None,
            &PageRequest {
                limit: 1,
                cursor: first_page.next_cursor,
            },
        )
        .await
        .unwrap();
    assert_eq!((rest.items, rest.next_cursor), (vec![second], None));
    let published = store
        .list_app_versions(&a.slug, Some(AppVersionStatus::Published), &page(10))
        .await
        .unwrap();
    assert!(published.items.is_empty());

    create(&store, &app("api"), &version("api", "0.1.0", vec![]))
        .await
        .unwrap();
    let apps = store.list_apps(&page(1)).await.unwrap();
    assert_eq!(apps.items[0].slug.as_str(), "api");
    let apps = store
        .list_apps(&PageRequest {
            limit: 1,
            cursor: apps.next_cursor,
        })
        .await
        .unwrap();
    assert_eq!(apps.items[0].slug.as_str(), "web");
    assert!(apps.next_cursor.is_none());
}

async fn case_taken_slugs_and_versions_write_nothing(store: Arc<dyn Store>) {
    let (a, v) = (app("web"), version("web", "1.0.0", vec![linked(&store, 1).await]));
    create(&store, &a, &v).await.unwrap();
    let (audits, decisions) = (audit_count(&store).await, decision_count(&store).await);

    let err = create(&store, &a, &version("web", "2.0.0", vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    let d = decision("register_app_version", "team-a", "allow", now());
    let err = store
        .create_app_version(&version("web", "1.0.0", vec![]), audit_for(None, "x", "ada"), &d)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(audit_count(&store).await, audits);
    assert_eq!(decision_count(&store).await, decisions);
    let versions = store.list_app_versions(&a.slug, None, &page(10)).await.unwrap();
    assert_eq!(versions.items, [v]);
}

async fn case_publish_once(store: Arc<dyn Store>) {
    let (a, v) = (app("web"), version("web", "1.0.0", vec![]));
    create(&store, &a, &v).await.unwrap();
    let at = now();
    let d = || decision("publish_app_version", "team-a", "allow", now());
    store
        .publish_app_version(
            v.id,
            &actor("pat"),
            at,
            audit_for(None, "app_version.publish", "pat"),
            &d(),
        )
        .await
        .unwrap();
    let stored = store.get_app_version(&a.slug, &v.version).await.unwrap().unwrap();
    assert_eq!(stored.status, AppVersionStatus::Published);
    assert_eq!(
        (stored.published_by, stored.published_at),
        (Some(actor("pat")), Some(at))
    );

    let audits = audit_count(&store).await;
    let err = store
        .publish_app_version(v.id, &actor("pat"), now(), audit_for(None, "x", "pat"), &d())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(audit_count(&store).await, audits);
}

async fn case_entitlements_are_idempotent_and_listed(store: Arc<dyn Store>) {
    for slug in ["web", "api"] {
        create(&store, &app(slug), &version(slug, "1.0.0", vec![]))
            .await
            .unwrap();
    }
    let grant = |slug: &str, by: &str| Entitlement {
        project: "team-b".parse().unwrap(),
        app: slug.parse().unwrap(),
        granted_by: actor(by),
        granted_at: now(),
    };
    let d = || decision("grant_entitlement", "team-b", "allow", now());
    let first = grant("web", "bea");
    let (stored, created) = store
        .grant_entitlement(&first, audit_for(None, "entitlement.grant", "bea"), &d())
        .await
        .unwrap();
    assert_eq!((stored, created), (first.clone(), true));
    let audits = audit_count(&store).await;
    let (stored, created) = store
        .grant_entitlement(
            &grant("web", "ben"),
            audit_for(None, "entitlement.grant", "ben"),
            &d(),
        )
        .await
        .unwrap();
    assert_eq!((stored, created), (first.clone(), false));
    assert_eq!(audit_count(&store).await, audits);
    store
        .grant_entitlement(
            &grant("api", "bea"),
            audit_for(None, "entitlement.grant", "bea"),
            &d(),
        )
        .await
        .unwrap();

    let team_b = "team-b".parse().unwrap();
    let page1 = store.list_entitlements(&team_b, &page(1)).await.unwrap();
    assert_eq!(page1.items[0].app.as_str(), "api");
    let page2 = store
        .list_entitlements(
            &team_b,
            &PageRequest {
                limit: 1,
                cursor: page1.next_cursor,
            },
        )
        .await
        .unwrap();
    assert_eq!(page2.items, [first]);
    let projects = store.entitled_projects(&"web".parse().unwrap()).await.unwrap();
    assert_eq!(projects, [team_b]);
    assert!(
        store
            .entitled_projects(&"none".parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}
