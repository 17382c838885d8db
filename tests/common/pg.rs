//! Fresh PostgreSQL databases for tests. Under `CI=true` an unreachable server is a failure;
//! elsewhere the PostgreSQL half of a test is skipped with a notice.

use sqlx::{AssertSqlSafe, Connection};

/// The server tests use: `GATEHOUSE_TEST_DATABASE_URL`, else the local trust-auth server.
pub fn admin_url() -> String {
    std::env::var("GATEHOUSE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database created for one test and dropped when it ends.
pub struct FreshDb {
    /// URL of the fresh database.
    pub url: String,
    name: String,
}

/// Creates a fresh database, or `None` (skip) when PostgreSQL is unreachable outside CI.
pub async fn fresh_db() -> Option<FreshDb> {
    let admin = admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(error) => {
            super::skip::missing(
                &format!("PostgreSQL is unreachable at GATEHOUSE_TEST_DATABASE_URL ({error})"),
                "the PostgreSQL halves of these tests",
            );
            return None;
        }
    };
    let name = format!("gh_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(AssertSqlSafe(format!("create database {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base)
        .to_owned();
    Some(FreshDb {
        url: format!("{base}/{name}"),
        name,
    })
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        // Best effort, on a thread of its own because Drop cannot await.
        let admin = admin_url();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "drop database if exists {name} with (force)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}
