//! Filtered, keyset-paginated listings, shared by both backends. Cursors are the base64url of
//! the last key returned (artifact or decision id, audit seq); values are always bound, never
//! interpolated.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::{Page, StoreError};

/// The largest page the store answers, whatever the caller asks.
const MAX_LIMIT: u32 = 500;

/// Clamps a requested page size to 1..=500.
pub(super) fn clamp(limit: u32) -> u32 {
    limit.clamp(1, MAX_LIMIT)
}

fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode(cursor: &str) -> Result<String, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::BadCursor)?;
    String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)
}

/// The key a string-keyed cursor points after (e.g. an app slug).
pub(super) fn decode_key(cursor: &str) -> Result<String, StoreError> {
    decode(cursor)
}

/// The id a uuid-keyed cursor points after.
pub(super) fn uuid_after(cursor: &str) -> Result<Uuid, StoreError> {
    decode(cursor)?.parse().map_err(|_| StoreError::BadCursor)
}

/// The seq a seq-keyed cursor points after.
pub(super) fn seq_after(cursor: &str) -> Result<i64, StoreError> {
    decode(cursor)?.parse().map_err(|_| StoreError::BadCursor)
}

/// Cuts the `limit + 1` rows fetched down to a page; the extra row only proves there is more.
pub(super) fn paginate<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode(&key(last)))
    } else {
        None
    };
    Page { items, next_cursor }
}

/// Generates the listing methods for one backend (`$db` is its `sqlx::Database`).
macro_rules! listing_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::audit::{AuditRecord, DecisionRecord};
            use $crate::domain::Artifact;
            use $crate::store::listing::{clamp, paginate, seq_after, uuid_after};
            use $crate::store::rows::{ArtifactRow, AuditRow, DecisionRow, convert};
            use $crate::store::{ArtifactFilter, LogFilter, Page, PageRequest, StoreError, sql};

            type Builder = sqlx::QueryBuilder<$db>;

            /// The filters audit and decision listings share; `time` names the time column.
            fn push_log_filter(qb: &mut Builder, f: &LogFilter, time: &str) {
                if let Some(v) = &f.project {
                    qb.push(" and project = ").push_bind(v.clone());
                }
                if let Some(v) = f.artifact_id {
                    qb.push(" and artifact_id = ").push_bind(v.0);
                }
                if let Some(v) = &f.action {
                    qb.push(" and action = ").push_bind(v.clone());
                }
                if let Some(v) = &f.actor {
                    qb.push(" and actor_id = ").push_bind(v.clone());
                }
                if let Some(v) = f.since {
                    qb.push(format!(" and {time} >= ")).push_bind(v);
                }
                if let Some(v) = f.until {
                    qb.push(format!(" and {time} < ")).push_bind(v);
                }
            }

            impl $store {
                async fn list_artifacts_impl(
                    &self,
                    f: &ArtifactFilter,
                    page: &PageRequest,
                ) -> Result<Page<Artifact>, StoreError> {
                    let limit = clamp(page.limit);
                    let mut qb = Builder::new(sql::LIST_ARTIFACTS);
                    if let Some(v) = &f.project {
                        qb.push(" and project = ").push_bind(v.as_str().to_owned());
                    }
                    if let Some(v) = &f.app {
                        qb.push(" and app = ").push_bind(v.clone());
                    }
                    if let Some(v) = f.artifact_kind {
                        qb.push(" and artifact_kind = ").push_bind(v.as_str());
                    }
                    if let Some(v) = f.lifecycle_state {
                        qb.push(" and lifecycle_state = ").push_bind(v.as_str());
                    }
                    if let Some(v) = f.trust_state {
                        qb.push(" and trust_state = ").push_bind(v.as_str());
                    }
                    // Channels are a JSON array of slugs; a slug holds no `%`, `_` or `"`, so
                    // matching its quoted form is exact and works the same on both engines.
                    if let Some(v) = &f.channel {
                        qb.push(" and cast(channels as text) like ")
                            .push_bind(format!("%\"{}\"%", v.as_str()));
                    }
                    if let Some(v) = &f.digest {
                        qb.push(" and digest = ").push_bind(v.as_str().to_owned());
                    }
                    if let Some(c) = &page.cursor {
                        qb.push(" and id > ").push_bind(uuid_after(c)?);
                    }
                    qb.push(" order by id limit ")
                        .push_bind(i64::from(limit) + 1);
                    let rows: Vec<ArtifactRow> = qb.build_query_as().fetch_all(self.reads()).await?;
                    Ok(paginate(convert(rows)?, limit, |a: &Artifact| {
                        a.id.0.to_string()
                    }))
                }

                async fn list_audit_impl(
                    &self,
                    f: &LogFilter,
                    page: &PageRequest,
                ) -> Result<Page<AuditRecord>, StoreError> {
                    let limit = clamp(page.limit);
                    let mut qb = Builder::new(sql::LIST_AUDIT);
                    push_log_filter(&mut qb, f, "occurred_at");
                    if let Some(c) = &page.cursor {
                        qb.push(" and seq > ").push_bind(seq_after(c)?);
                    }
                    qb.push(" order by seq limit ")
                        .push_bind(i64::from(limit) + 1);
                    let rows: Vec<AuditRow> = qb.build_query_as().fetch_all(self.reads()).await?;
                    Ok(paginate(convert(rows)?, limit, |r: &AuditRecord| {
                        r.seq.to_string()
                    }))
                }

                async fn list_decisions_impl(
                    &self,
                    f: &LogFilter,
                    page: &PageRequest,
                ) -> Result<Page<DecisionRecord>, StoreError> {
                    let limit = clamp(page.limit);
                    let mut qb = Builder::new(sql::LIST_DECISIONS);
                    push_log_filter(&mut qb, f, "decided_at");
                    if let Some(v) = &f.effect {
                        qb.push(" and effect = ").push_bind(v.clone());
                    }
                    if let Some(id) = f.decision_id {
                        qb.push(" and id = ").push_bind(id);
                    }
                    if let Some(c) = &page.cursor {
                        qb.push(" and id > ").push_bind(uuid_after(c)?);
                    }
                    qb.push(" order by id limit ")
                        .push_bind(i64::from(limit) + 1);
                    let rows: Vec<DecisionRow> = qb.build_query_as().fetch_all(self.reads()).await?;
                    Ok(paginate(convert(rows)?, limit, |d: &DecisionRecord| {
                        d.id.to_string()
                    }))
                }
            }
        };
    };
}
pub(super) use listing_impl;
