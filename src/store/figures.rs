//! Operational figures read at scrape time: queue depths and ages, pool connections.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// The two work queues the database holds (registry events, verification jobs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFigures {
    /// Registry events waiting to be applied.
    pub events_pending: i64,
    /// When the oldest of them arrived.
    pub oldest_event: Option<DateTime<Utc>>,
    /// Verification jobs waiting to run.
    pub jobs_pending: i64,
    /// When the oldest of them was queued.
    pub oldest_job: Option<DateTime<Utc>>,
}

/// One connection pool's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolFigures {
    /// `primary`, or `reads` for SQLite's separate read-only pool.
    pub pool: &'static str,
    /// Connections open.
    pub size: u32,
    /// Of those, idle.
    pub idle: u32,
    /// Most connections the pool opens.
    pub max: u32,
}

impl PoolFigures {
    /// The figures of a sqlx pool.
    pub fn of<DB: sqlx::Database>(pool: &'static str, p: &sqlx::Pool<DB>) -> Self {
        let size = p.size();
        Self {
            pool,
            size,
            idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX).min(size),
            max: p.options().get_max_connections(),
        }
    }
}

/// Queue figures; a part of [`super::Store`]. (Pool figures, which each backend keeps its own
/// way, are `Store::pool_figures`.)
#[async_trait]
pub trait FigureStore: Send + Sync {
    /// Depth and oldest entry of the registry-event and verification-job queues (metrics).
    async fn queue_figures(&self) -> Result<QueueFigures, StoreError>;
}

/// Implements `FigureStore` for one backend, through its reads pool.
macro_rules! figures_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use $crate::store::figures::{FigureStore, QueueFigures};
            use $crate::store::{RegistryEventStore, StoreError, VerificationStore, sql};

            #[async_trait::async_trait]
            impl FigureStore for $store {
                async fn queue_figures(&self) -> Result<QueueFigures, StoreError> {
                    let oldest_event: Option<(DateTime<Utc>,)> = sqlx::query_as(sql::OLDEST_PENDING_EVENT)
                        .fetch_optional(self.reads())
                        .await?;
                    let oldest_job: Option<(DateTime<Utc>,)> = sqlx::query_as(sql::OLDEST_PENDING_JOB)
                        .fetch_optional(self.reads())
                        .await?;
                    Ok(QueueFigures {
                        events_pending: self.pending_registry_events().await?,
                        oldest_event: oldest_event.map(|(at,)| at),
                        jobs_pending: self.pending_verifications().await?,
                        oldest_job: oldest_job.map(|(at,)| at),
                    })
                }
            }
        };
    };
}
pub(super) use figures_impl;
