//! Announcing policy activations: on PostgreSQL every activation is a `NOTIFY` on one channel
//! and each instance `LISTEN`s, so others adopt a reload at once; SQLite (one process) has no
//! such channel and instances poll. Polling stays on as the fallback either way: a notification
//! sent while a listener reconnects is lost, the next poll is not.

use async_trait::async_trait;
use sqlx::postgres::PgListener;

use super::{PostgresStore, SqliteStore, StoreError};

/// The channel activations are announced on (the payload is the activated hash).
pub const POLICY_CHANNEL: &str = "gatehouse_policy_activated";

/// How a backend tells other instances about an activation; a part of [`super::Store`].
#[async_trait]
pub trait PolicyChangeStore: Send + Sync {
    /// A listener woken by every activation, where the database announces them (PostgreSQL);
    /// `None` where instances must poll (SQLite).
    async fn listen_policy_changes(&self) -> Result<Option<Box<dyn PolicyChangeListener>>, StoreError>;
}

/// Wakes the policy-sync loop when some instance activates a policy set.
#[async_trait]
pub trait PolicyChangeListener: Send {
    /// Resolves at the next announcement; an error means the listener is lost.
    async fn next(&mut self) -> Result<(), StoreError>;
}

struct PostgresListener(PgListener);

#[async_trait]
impl PolicyChangeListener for PostgresListener {
    async fn next(&mut self) -> Result<(), StoreError> {
        self.0.recv().await?;
        Ok(())
    }
}

impl PostgresStore {
    pub(super) async fn announce_policy_activation(&self, hash: &str) -> Result<(), StoreError> {
        sqlx::query("select pg_notify($1, $2)")
            .bind(POLICY_CHANNEL)
            .bind(hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[async_trait]
impl PolicyChangeStore for PostgresStore {
    async fn listen_policy_changes(&self) -> Result<Option<Box<dyn PolicyChangeListener>>, StoreError> {
        let mut listener = PgListener::connect_with(self.pool()).await?;
        listener.listen(POLICY_CHANNEL).await?;
        Ok(Some(Box::new(PostgresListener(listener))))
    }
}

impl SqliteStore {
    #[allow(clippy::unused_async, reason = "the same call shape as PostgreSQL's")]
    pub(super) async fn announce_policy_activation(&self, _hash: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl PolicyChangeStore for SqliteStore {
    async fn listen_policy_changes(&self) -> Result<Option<Box<dyn PolicyChangeListener>>, StoreError> {
        Ok(None)
    }
}
