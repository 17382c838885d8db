//! The SQL both backends run. Plain lowercase strings with `$N` placeholders, which both the
//! PostgreSQL and the SQLite driver accept, so every statement is written once.

/// Artifact columns, in the order `rows::ArtifactRow` and `bind_artifact!` use.
macro_rules! artifact_cols {
    () => {
        "id, project, app, artifact_kind, artifact_type, repository, digest, tag, media_type, \
         source_type, source_uri, source_ref, size_bytes, content_encoding, lifecycle_state, \
         trust_state, channels, signature_verified, attestations, created_by_type, created_by_id, \
         created_at, updated_at, version"
    };
}

/// Audit record columns, in the order `rows::AuditRow` and the insert use.
macro_rules! audit_cols {
    () => {
        "id, seq, occurred_at, actor_type, actor_id, action, project, artifact_id, repository, \
         digest, artifact_kind, source_type, transition, promotion, decision, correlation_id, \
         prev_hash, hash"
    };
}

/// Decision record columns, in the order `rows::DecisionRow` and the insert use.
macro_rules! decision_cols {
    () => {
        "id, decided_at, correlation_id, actor_type, actor_id, action, project, artifact_id, \
         resource, effect, policy_ids, reasons, errors, policy_hash, request, entities"
    };
}

// A `do nothing` conflict answers zero rows affected, which is how registration tells a new
// artifact from an existing one without a racy read first.
pub(super) const INSERT_ARTIFACT: &str = concat!(
    "insert into artifacts (",
    artifact_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, $24) on conflict (project, repository, digest) do nothing"
);

pub(super) const SELECT_ARTIFACT_BY_ID: &str =
    concat!("select ", artifact_cols!(), " from artifacts where id = $1");

pub(super) const SELECT_ARTIFACT_BY_KEY: &str = concat!(
    "select ",
    artifact_cols!(),
    " from artifacts where project = $1 and repository = $2 and digest = $3"
);

pub(super) const SELECT_ARTIFACT_BY_DIGEST: &str = concat!(
    "select ",
    artifact_cols!(),
    " from artifacts where project = $1 and digest = $2 and ($3 is null or repository = $3) \
     order by id limit 1"
);

/// Base of the filtered listing; `listing` appends the where clause.
pub(super) const LIST_ARTIFACTS: &str = concat!("select ", artifact_cols!(), " from artifacts where 1 = 1");

// INVARIANT: identity columns (id, project, app, kind, type, repository, digest, created_*)
// are never updated; only state moves.
pub(super) const UPDATE_ARTIFACT: &str = concat!(
    "update artifacts set tag = $3, media_type = $4, source_type = $5, source_uri = $6, \
     source_ref = $7, size_bytes = $8, content_encoding = $9, lifecycle_state = $10, \
     trust_state = $11, channels = $12, signature_verified = $13, attestations = $14, \
     updated_at = $15, version = version + 1 where id = $1 and version = $2 returning ",
    artifact_cols!()
);

pub(super) const ARTIFACT_EXISTS: &str = "select count(*) from artifacts where id = $1";

pub(super) const INSERT_EVIDENCE: &str = "insert into artifact_evidence (artifact_id, evidence_type, \
     result, reason, checked_at, details) values ($1, $2, $3, $4, $5, $6)";

pub(super) const SELECT_EVIDENCE: &str = "select evidence_type, result, reason, checked_at, details \
     from artifact_evidence where artifact_id = $1 order by id";

pub(super) const INSERT_PROMOTION: &str = "insert into artifact_promotions (artifact_id, channel, \
     target_environment, actor_type, actor_id, promoted_at, decision, reason) \
     values ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(super) const SELECT_PROMOTIONS: &str = "select channel, target_environment, actor_type, actor_id, \
     promoted_at, decision, reason from artifact_promotions where artifact_id = $1 order by id";

pub(super) const LAST_AUDIT: &str = "select seq, hash from audit_records order by seq desc limit 1";

pub(super) const INSERT_AUDIT: &str = concat!(
    "insert into audit_records (",
    audit_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
);

pub(super) const AUDIT_CHAIN_PAGE: &str = concat!(
    "select ",
    audit_cols!(),
    " from audit_records where seq > $1 order by seq limit $2"
);

/// Base of the filtered audit listing.
pub(super) const LIST_AUDIT: &str = concat!("select ", audit_cols!(), " from audit_records where 1 = 1");

pub(super) const INSERT_DECISION: &str = concat!(
    "insert into decisions (",
    decision_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
);

/// Base of the filtered decision listing.
pub(super) const LIST_DECISIONS: &str = concat!("select ", decision_cols!(), " from decisions where 1 = 1");
