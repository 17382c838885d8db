//! How the gateway connects to PostgreSQL: on this host without TLS when the URL and the
//! environment name no TLS setting (loopback traffic never leaves the host, and TLS cost every
//! statement an encryption on both sides), with TLS exactly as asked when they do; a URL that
//! does not parse is refused; a decision batch far over one TLS record round-trips whole, in
//! order, over a plaintext connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use common::store_harness::{decision, now, page};
use gatehouse::audit::DecisionRecord;
use gatehouse::store::{LogFilter, PostgresStore, Store};

const TLS_VARIABLES: &[&str] = &["PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"];

async fn store(url: &str) -> PostgresStore {
    PostgresStore::connect_sized(url, Duration::from_secs(5), 2)
        .await
        .unwrap_or_else(|e| panic!("cannot connect: {e}"))
}

/// Whether the store's connections negotiated TLS, as the server sees them.
async fn uses_tls(store: &PostgresStore) -> bool {
    sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// The fresh database's URL when it names a loopback host and nothing in the environment sets
/// TLS (else this test says nothing and is skipped).
fn loopback_url(url: &str) -> Option<&str> {
    let host = url.split('@').nth(1).unwrap_or(url);
    let on_loopback = host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
    let environment_sets_tls = TLS_VARIABLES.iter().any(|v| std::env::var_os(v).is_some());
    if !on_loopback || environment_sets_tls || url.contains('?') {
        eprintln!("skipped: the test server is not a plain loopback URL, or PGSSL* is set");
        return None;
    }
    Some(url)
}

/// A fresh database (dropped with the handle), its URL and a store on that URL as given, when
/// the URL is a plain loopback one.
async fn loopback_store() -> Option<(common::pg::FreshDb, String, PostgresStore)> {
    let db = common::pg::fresh_db().await?;
    let url = loopback_url(&db.url)?.to_owned();
    let store = store(&url).await;
    Some((db, url, store))
}

#[tokio::test]
async fn a_loopback_url_without_tls_settings_connects_without_tls() {
    let Some((_db, _url, store)) = loopback_store().await else {
        return;
    };
    assert!(
        !uses_tls(&store).await,
        "a loopback connection negotiated TLS nobody asked for"
    );
}

#[tokio::test]
async fn a_loopback_url_that_asks_for_tls_gets_it() {
    let Some((_db, url, plain)) = loopback_store().await else {
        return;
    };
    let server_has_tls: String = sqlx::query_scalar("show ssl")
        .fetch_one(plain.pool())
        .await
        .unwrap();
    if server_has_tls != "on" {
        eprintln!("skipped: the test server has ssl = off");
        return;
    }
    for mode in ["prefer", "require"] {
        let asked = store(&format!("{url}?sslmode={mode}")).await;
        assert!(
            uses_tls(&asked).await,
            "sslmode={mode} on loopback did not use TLS"
        );
    }
}

#[tokio::test]
async fn a_url_that_does_not_parse_is_refused() {
    for url in [
        "postgres://postgres@127.0.0.1:notaport/db",
        "postgres://postgres@127.0.0.1:5432/db?sslmode=sometimes",
    ] {
        assert!(
            PostgresStore::connect_sized(url, Duration::from_secs(1), 1)
                .await
                .is_err(),
            "{url} was accepted"
        );
    }
}

#[tokio::test]
async fn a_heavy_batch_round_trips_over_a_plaintext_connection() {
    let Some((_db, _url, plain)) = loopback_store().await else {
        return;
    };
    assert!(!uses_tls(&plain).await);
    let store: Arc<dyn Store> = Arc::new(plain);
    store.migrate().await.unwrap();
    // ~4 KB each: 60 of them are ~240 KB, fifteen TLS records' worth.
    let t0 = now() - TimeDelta::hours(1);
    let records: Vec<DecisionRecord> = (0..60)
        .map(|i| {
            let mut d = decision("deploy", "team-a", "allow", t0 + TimeDelta::milliseconds(i));
            d.correlation_id = format!("heavy-{i}");
            d.entities = serde_json::json!({ "row": i, "padding": "e".repeat(4_000) }).into();
            d
        })
        .collect();
    store.append_decisions(&records).await.unwrap();
    let stored = store
        .list_decisions(&LogFilter::default(), &page(100))
        .await
        .unwrap();
    assert_eq!(stored.items, records, "every row, in order, intact");
}
