//! The SQL both backends run. Plain lowercase strings with `$N` placeholders, which both the
//! PostgreSQL and the SQLite driver accept, so every statement is written once.

/// Artifact columns, in the order `rows::ArtifactRow` reads them and `bind_artifact` (in
/// `artifacts`) binds them.
macro_rules! artifact_cols {
    () => {
        "id, project, app, artifact_kind, artifact_type, repository, digest, tag, media_type, \
         source_type, source_uri, source_ref, size_bytes, content_encoding, lifecycle_state, \
         trust_state, channels, signature_verified, attestations, created_by_type, created_by_id, \
         created_at, updated_at, version, visibility, tenant, trust_facts"
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

/// Columns of an audit record not yet in the chain, in the order `rows::UnsealedRow` and the
/// unsealed insert use.
macro_rules! unsealed_audit_cols {
    () => {
        "id, occurred_at, actor_type, actor_id, action, project, artifact_id, repository, digest, \
         artifact_kind, source_type, transition, promotion, decision, correlation_id"
    };
}

/// Decision record columns, in the order `rows::DecisionRow` and the insert use.
macro_rules! decision_cols {
    () => {
        "id, decided_at, correlation_id, actor_type, actor_id, action, project, artifact_id, \
         resource, effect, policy_ids, reasons, errors, policy_hash, request, entities"
    };
}

/// Whether the database answers (`Store::ping`).
pub(super) const PING: &str = "select 1";

// A `do nothing` conflict answers zero rows affected, which is how registration tells a new
// artifact from an existing one without a racy read first.
pub(super) const INSERT_ARTIFACT: &str = concat!(
    "insert into artifacts (",
    artifact_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, $24, $25, $26, $27) on conflict (project, repository, digest) do nothing"
);

/// `INSERT_ARTIFACT` answering the new row (none on a conflict); PostgreSQL's registration.
pub(super) const INSERT_ARTIFACT_RETURNING: &str = concat!(
    "insert into artifacts (",
    artifact_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, $24, $25, $26, $27) on conflict (project, repository, digest) do nothing \
     returning ",
    artifact_cols!()
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

/// PostgreSQL's coalesced read by id (`pg_reads`): every artifact with one of these ids.
pub(super) const PG_SELECT_ARTIFACTS_BY_IDS: &str = concat!(
    "select ",
    artifact_cols!(),
    " from artifacts where id = any($1::uuid[])"
);

/// PostgreSQL's coalesced read by digest (`pg_reads`): for each (project, digest) pair, what
/// `SELECT_ARTIFACT_BY_DIGEST` answers without a repository, each through the same index.
pub(super) const PG_SELECT_ARTIFACTS_BY_DIGESTS: &str = concat!(
    "select a.* from unnest($1::text[], $2::text[]) as k(project, digest) cross join lateral \
     (select ",
    artifact_cols!(),
    " from artifacts where project = k.project and digest = k.digest order by id limit 1) as a"
);

/// PostgreSQL's coalesced read by digest when a batch's keys share one project (`pg_reads`): for
/// each digest, what `SELECT_ARTIFACT_BY_DIGEST` answers without a repository (the lowest id),
/// from one scan of the `(project, digest, id)` index. Planned per execution like the statement
/// above, but at a fraction of its cost (no join or subquery to plan), and on a table without
/// statistics it walks the project once per statement rather than once per key.
pub(super) const PG_SELECT_ARTIFACTS_BY_DIGESTS_IN_PROJECT: &str = concat!(
    "select distinct on (digest) ",
    artifact_cols!(),
    " from artifacts where project = $1 and digest = any($2::text[]) order by digest, id"
);

/// Base of the filtered listing; `listing` appends the where clause.
pub(super) const LIST_ARTIFACTS: &str = concat!("select ", artifact_cols!(), " from artifacts where 1 = 1");

// INVARIANT: identity columns (id, project, app, kind, type, repository, digest, created_*)
// are never updated; only state moves.
pub(super) const UPDATE_ARTIFACT: &str = concat!(
    "update artifacts set tag = $3, media_type = $4, source_type = $5, source_uri = $6, \
     source_ref = $7, size_bytes = $8, content_encoding = $9, lifecycle_state = $10, \
     trust_state = $11, channels = $12, signature_verified = $13, attestations = $14, \
     updated_at = $15, trust_facts = $16, version = version + 1 where id = $1 and version = $2 returning ",
    artifact_cols!()
);

pub(super) const ARTIFACT_EXISTS: &str = "select count(*) from artifacts where id = $1";

pub(super) const INSERT_EVIDENCE: &str = "insert into artifact_evidence (artifact_id, evidence_type, \
     result, reason, checked_at, details) values ($1, $2, $3, $4, $5, $6)";

/// Head of the multi-row evidence insert; the store appends `values (..), (..)`, one row per
/// check of the run. `INSERT_EVIDENCE` is its one-row form.
pub(super) const INSERT_EVIDENCE_HEAD: &str = "insert into artifact_evidence (artifact_id, evidence_type, \
     result, reason, checked_at, details) ";

pub(super) const SELECT_EVIDENCE: &str = "select evidence_type, result, reason, checked_at, details \
     from artifact_evidence where artifact_id = $1 order by id";

pub(super) const INSERT_PROMOTION: &str = "insert into artifact_promotions (artifact_id, channel, \
     target_environment, actor_type, actor_id, promoted_at, decision, reason) \
     values ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(super) const SELECT_PROMOTIONS: &str = "select channel, target_environment, actor_type, actor_id, \
     promoted_at, decision, reason from artifact_promotions where artifact_id = $1 order by id";

pub(super) const LAST_AUDIT: &str =
    "select seq, hash from audit_records where seq is not null order by seq desc limit 1";

pub(super) const INSERT_AUDIT: &str = concat!(
    "insert into audit_records (",
    audit_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
);

/// An audit record written with its state change, to be sealed into the chain after commit
/// (PostgreSQL; SQLite seals in the transaction): it waits in `audit_pending` until the sealer
/// moves it into `audit_records` with its place in the chain.
/// In the same statement (one round trip, not two) its transaction is let commit without
/// waiting for its WAL flush: `set_config(…, true)` is `set local synchronous_commit = off`,
/// evaluated once for the one row inserted (PostgreSQL only; see `append_audit_in`).
pub(super) const INSERT_UNSEALED_AUDIT: &str = concat!(
    "insert into audit_pending (",
    unsealed_audit_cols!(),
    ") select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
     from (select set_config('synchronous_commit', 'off', true)) as deferred_flush"
);

/// An unsealed audit record (`$1` to `$15`) as a `with` item, then `insert into decisions (…)
/// values `: the statements that write a change's audit record and its decisions in one.
macro_rules! unsealed_audit_then_decisions {
    () => {
        concat!(
            "with audit as (insert into audit_pending (",
            unsealed_audit_cols!(),
            ") select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
             from (select set_config('synchronous_commit', 'off', true)) as deferred_flush) \
             insert into decisions (",
            decision_cols!(),
            ") values "
        )
    };
}

/// `INSERT_UNSEALED_AUDIT` and `INSERT_DECISION` in one statement (PostgreSQL's data-modifying
/// `with`: both rows or neither), so a mutation sends its two log rows in one round trip. `$1`
/// to `$15` are the audit record's, `$16` to `$31` the decision's.
pub(super) const INSERT_UNSEALED_AUDIT_WITH_DECISION: &str = concat!(
    unsealed_audit_then_decisions!(),
    "($16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31)"
);

/// `INSERT_UNSEALED_AUDIT_WITH_DECISION` for a change that carries two decisions (a verification:
/// its `verify` decision and the `accept_source` one it took as evidence), still one round trip.
/// `$1` to `$15` are the audit record's, `$16` to `$31` the first decision's, `$32` to `$47` the
/// second's.
pub(super) const INSERT_UNSEALED_AUDIT_WITH_TWO_DECISIONS: &str = concat!(
    unsealed_audit_then_decisions!(),
    "($16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31), \
     ($32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44, $45, $46, $47)"
);

/// The sealer's queue: the oldest records not yet in the chain, in the order they were written,
/// by id (PostgreSQL only: SQLite has no unsealed records).
pub(super) const UNSEALED_AUDIT_IDS: &str = "select id from audit_pending order by append_order limit $1";

/// Waiting records by id, whole (the sealer reads those it holds no body of).
pub(super) const UNSEALED_AUDIT_BY_IDS: &str = concat!(
    "select ",
    unsealed_audit_cols!(),
    " from audit_pending where id = any($1)"
);

/// Moves the sealed records out of the queue into the chain, in one statement: each leaves
/// `audit_pending` exactly when it enters `audit_records` with its `seq` and hashes.
pub(super) const SEAL_PENDING_AUDIT: &str = concat!(
    "with moved as (delete from audit_pending where id = any($1::uuid[]) returning *), \
     placed as (select * from unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[]) \
     as v(id, seq, prev_hash, hash)) insert into audit_records (",
    audit_cols!(),
    ", append_order) select ",
    audit_cols!(),
    ", append_order from moved join placed using (id)"
);

/// Records an earlier release left unsealed in `audit_records` itself (it wrote them there and
/// sealed them in place) join the queue, keeping their append order; the sealer's sweep.
pub(super) const QUEUE_LEGACY_UNSEALED_AUDIT: &str = concat!(
    "with moved as (delete from audit_records where seq is null returning *) \
     insert into audit_pending (",
    unsealed_audit_cols!(),
    ", append_order) select ",
    unsealed_audit_cols!(),
    ", append_order from moved"
);

/// Records committed and not yet in the chain: queued, or left in place by an earlier release.
pub(super) const COUNT_UNSEALED_AUDIT: &str = "select (select count(*) from audit_pending) \
     + (select count(*) from audit_records where seq is null)";

/// One sealed record by id (the sealer answers with it when another instance sealed it).
pub(super) const SEALED_AUDIT_BY_ID: &str = concat!(
    "select ",
    audit_cols!(),
    " from audit_records where id = $1 and seq is not null"
);

pub(super) const AUDIT_CHAIN_PAGE: &str = concat!(
    "select ",
    audit_cols!(),
    " from audit_records where seq > $1 order by seq limit $2"
);

/// Base of the filtered audit listing: sealed records only (a record still waiting for its
/// place in the chain is listed once it has one).
pub(super) const LIST_AUDIT: &str = concat!(
    "select ",
    audit_cols!(),
    " from audit_records where seq is not null"
);

pub(super) const INSERT_DECISION: &str = concat!(
    "insert into decisions (",
    decision_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
);

/// Head of the multi-row decision insert; the store appends `values (..), (..)` for each chunk.
pub(super) const INSERT_DECISIONS_HEAD: &str = concat!("insert into decisions (", decision_cols!(), ") ");

/// Most rows one multi-row decision insert carries on SQLite: 128 rows of 16 values stay far
/// below its bound-variable limit (32,766; 999 before 3.32).
pub(super) const SQLITE_DECISION_ROWS_PER_INSERT: usize = 128;

/// PostgreSQL's batch insert: one array per column, unnested in step (`unnest` with several
/// arrays zips them), so the statement text and its plan are the same for every batch size. The
/// request and entity JSON arrive as text (serialized once, so the writer knows a statement's
/// size before sending it; see `pg_decisions`) and become json in the server (migration 0014:
/// validated, not parsed into jsonb).
pub(super) const PG_INSERT_DECISIONS_UNNEST: &str = concat!(
    "insert into decisions (",
    decision_cols!(),
    ") select * from unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::uuid[], $9::text[], $10::text[], $11::jsonb[], $12::jsonb[], \
     $13::jsonb[], $14::text[], $15::text[]::json[], $16::text[]::json[])"
);

/// `PG_INSERT_DECISIONS_UNNEST` for decisions that may name their input (migration 0015): a
/// decision with a request (`$15`) and entity slice (`$16`) holds them; one without names its
/// input (`$17`) and holds JSON `null`. The inputs to store (`$18` hashes, `$19` requests, `$20`
/// entity slices) are inserted, each kept once, by the same statement (both or neither).
pub(super) const PG_INSERT_DECISIONS_BY_INPUT_UNNEST: &str = concat!(
    "with inputs as (insert into decision_inputs (hash, request, entities) \
     select * from unnest($18::text[], $19::text[]::json[], $20::text[]::json[]) \
     on conflict (hash) do nothing) \
     insert into decisions (",
    decision_cols!(),
    ", input_hash) select t.id, t.decided_at, t.correlation_id, t.actor_type, t.actor_id, t.action, \
     t.project, t.artifact_id, t.resource, t.effect, t.policy_ids, t.reasons, t.errors, t.policy_hash, \
     coalesce(t.request, 'null')::json, coalesce(t.entities, 'null')::json, t.input_hash \
     from unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], \
     $7::text[], $8::uuid[], $9::text[], $10::text[], $11::jsonb[], $12::jsonb[], $13::jsonb[], \
     $14::text[], $15::text[], $16::text[], $17::text[]) as t(id, decided_at, correlation_id, \
     actor_type, actor_id, action, project, artifact_id, resource, effect, policy_ids, reasons, errors, \
     policy_hash, request, entities, input_hash)"
);

/// Base of the filtered decision listing: each row with the hash of its stored input, if it
/// names one instead of holding it (migration 0015).
pub(super) const LIST_DECISIONS: &str = concat!(
    "select ",
    decision_cols!(),
    ", input_hash from decisions where 1 = 1"
);

/// A decision with its input inline (`$15`, `$16`, and `$17` null) or naming its stored input
/// (`$15` and `$16` JSON `null`, `$17` the input's hash): the SQLite decision writer's insert.
pub(super) const INSERT_DECISION_WITH_INPUT_HASH: &str = concat!(
    "insert into decisions (",
    decision_cols!(),
    ", input_hash) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
);

/// A decision input, kept if one with the same hash (the same text) is stored already.
pub(super) const INSERT_DECISION_INPUT: &str =
    "insert into decision_inputs (hash, request, entities) values ($1, $2, $3) on conflict (hash) do nothing";

/// One stored decision input (the plan check's form of `DECISION_INPUTS_HEAD`).
pub(super) const DECISION_INPUT_BY_HASH: &str =
    "select hash, request, entities from decision_inputs where hash = $1";

/// Head of the read of a page's decision inputs; the store appends `($1, $2, …)`.
pub(super) const DECISION_INPUTS_HEAD: &str =
    "select hash, request, entities from decision_inputs where hash in ";

// ---------------------------------------------------------------------------------------------
// Intents, registry tokens, registry events, unregistered pushes, artifact links (0002).

/// Publish intent columns, in the order `PublishIntentRow` and the insert use.
macro_rules! publish_intent_cols {
    () => {
        "id, project, app, repository, artifact_kind, artifact_type, tag_hint, expected_digest, \
         actor_type, actor_id, password_sha256, created_at, expires_at, artifact_id, completed_at, \
         correlation_id, principal"
    };
}

/// Pull intent columns, in the order `PullIntentRow` and the insert use.
macro_rules! pull_intent_cols {
    () => {
        "id, project, artifact_id, repository, digest, channel, actor_type, actor_id, \
         password_sha256, created_at, expires_at, correlation_id, runtime_class"
    };
}

/// Registry token columns, in the order `TokenRow` and the insert use.
macro_rules! token_cols {
    () => {
        "jti, intent_id, intent_kind, subject, access, issued_at, expires_at"
    };
}

/// Registry event columns, in the order `EventRow` and the insert use.
macro_rules! event_cols {
    () => {
        "id, source, action, repository, digest, media_type, size, tag, actor_name, occurred_at, \
         received_at, status, attempts, result"
    };
}

/// Unregistered push columns, in the order `PushRow` and the insert use.
macro_rules! push_cols {
    () => {
        "id, event_id, project, repository, digest, tag, actor_name, received_at"
    };
}

pub(super) const INSERT_PUBLISH_INTENT: &str = concat!(
    "insert into publish_intents (",
    publish_intent_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
);

pub(super) const SELECT_PUBLISH_INTENT: &str = concat!(
    "select ",
    publish_intent_cols!(),
    " from publish_intents where id = $1"
);

pub(super) const OPEN_PUBLISH_INTENTS: &str = concat!(
    "select ",
    publish_intent_cols!(),
    " from publish_intents where repository = $1 and completed_at is null and expires_at > $2 \
     order by created_at desc, id desc"
);

// INVARIANT: an intent completes once; the `completed_at is null` guard makes a second
// registration through it match no row, which the caller turns into a conflict.
pub(super) const COMPLETE_PUBLISH_INTENT: &str = "update publish_intents set artifact_id = $2, \
     completed_at = $3 where id = $1 and completed_at is null";

pub(super) const INSERT_PULL_INTENT: &str = concat!(
    "insert into pull_intents (",
    pull_intent_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);

pub(super) const SELECT_PULL_INTENT: &str =
    concat!("select ", pull_intent_cols!(), " from pull_intents where id = $1");

pub(super) const INSERT_TOKEN: &str = concat!(
    "insert into registry_tokens (",
    token_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7)"
);

pub(super) const TOKENS_FOR_INTENT: &str = concat!(
    "select ",
    token_cols!(),
    " from registry_tokens where intent_id = $1 order by issued_at, jti"
);

// Deduplication by id: a redelivered event matches the primary key and changes nothing.
pub(super) const INSERT_EVENT: &str = concat!(
    "insert into registry_events (",
    event_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) on conflict (id) do nothing"
);

pub(super) const SELECT_EVENT: &str =
    concat!("select ", event_cols!(), " from registry_events where id = $1");

/// Candidates for a claim, oldest first; `$1` is now, `$2` how many to fetch.
pub(super) const CLAIM_CANDIDATES: &str = "select id from registry_events where status = 'pending' \
     and (lease_until is null or lease_until < $1) order by received_at, id limit $2";

// INVARIANT: the same guard as the candidate query, re-checked under the row lock, so of two
// claimers of one event exactly one matches it.
pub(super) const CLAIM_EVENT: &str = concat!(
    "update registry_events set lease_until = $3, attempts = attempts + 1 where id = $1 \
     and status = 'pending' and (lease_until is null or lease_until < $2) returning ",
    event_cols!()
);

// Only a pending event finishes or is released: finishing twice must not apply twice.
pub(super) const FINISH_EVENT: &str = "update registry_events set status = $2, result = $3, \
     lease_until = null where id = $1 and status = 'pending'";

// The lease is kept: a released event is retried once it expires, so an outage is not hammered.
pub(super) const RELEASE_EVENT: &str = "update registry_events set result = $2 \
     where id = $1 and status = 'pending'";

pub(super) const EVENT_EXISTS: &str = "select count(*) from registry_events where id = $1";

pub(super) const PENDING_EVENTS: &str = "select count(*) from registry_events where status = 'pending'";

pub(super) const OLDEST_PENDING_EVENT: &str =
    "select received_at from registry_events where status = 'pending' order by received_at, id limit 1";

pub(super) const INSERT_PUSH: &str = concat!(
    "insert into unregistered_pushes (",
    push_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8)"
);

/// Base of the unregistered-push listing; `events` appends the where clause.
pub(super) const LIST_PUSHES: &str =
    concat!("select ", push_cols!(), " from unregistered_pushes where 1 = 1");

pub(super) const INSERT_LINKS: &str = "insert into artifact_links (artifact_id, publish_intent_id, \
     event_id, updated_at) values ($1, $2, $3, $4)";

pub(super) const UPSERT_PRESENCE: &str = "insert into artifact_links (artifact_id, registry_presence, \
     presence_event_id, updated_at) values ($1, $2, $3, $4) on conflict (artifact_id) do update set \
     registry_presence = excluded.registry_presence, presence_event_id = excluded.presence_event_id, \
     updated_at = excluded.updated_at";

pub(super) const SELECT_LINKS: &str = "select publish_intent_id, event_id, registry_presence, \
     presence_event_id from artifact_links where artifact_id = $1";

// ---------------------------------------------------------------------------------------------
// Verification jobs and attached attestations (0003).

pub(super) const INSERT_JOB: &str = "insert into verification_jobs (id, artifact_id, principal, status, \
     attempts, enqueued_at, result) values ($1, $2, $3, 'pending', 0, $4, $5)";

// Queues a job unless one for the same artifact is pending and not yet claimed (`$4` is now):
// that one will read the registry as it is when it runs. A claimed job may have read it already,
// so it does not count. Two concurrent enqueues may both insert; a second run is harmless.
pub(super) const INSERT_JOB_UNLESS_WAITING: &str = "insert into verification_jobs (id, artifact_id, \
     principal, status, attempts, enqueued_at, result) select $1, $2, $3, 'pending', 0, $4, $5 \
     where not exists (select 1 from verification_jobs where artifact_id = $2 and status = 'pending' \
     and (lease_until is null or lease_until < $4))";

/// Candidates for a claim, oldest first; `$1` is now, `$2` how many to fetch.
pub(super) const CLAIM_JOB_CANDIDATES: &str = "select id from verification_jobs where status = 'pending' \
     and (lease_until is null or lease_until < $1) order by enqueued_at, id limit $2";

// INVARIANT: the candidate guard re-checked under the row lock: of two claimers one matches.
pub(super) const CLAIM_JOB: &str = "update verification_jobs set lease_until = $3, attempts = attempts + 1 \
     where id = $1 and status = 'pending' and (lease_until is null or lease_until < $2) \
     returning id, artifact_id, principal, enqueued_at, attempts";

// Only a pending job finishes or is released: finishing twice must not apply twice.
pub(super) const FINISH_JOB: &str = "update verification_jobs set status = $2, result = $3, \
     lease_until = null where id = $1 and status = 'pending'";

// The lease is kept: a released job is retried once it expires, not in a tight loop.
pub(super) const RELEASE_JOB: &str =
    "update verification_jobs set result = $2 where id = $1 and status = 'pending'";

pub(super) const PENDING_JOBS: &str = "select count(*) from verification_jobs where status = 'pending'";

pub(super) const OLDEST_PENDING_JOB: &str =
    "select enqueued_at from verification_jobs where status = 'pending' order by enqueued_at, id limit 1";

pub(super) const INSERT_ATTESTATION: &str =
    "insert into artifact_attestations (id, artifact_id, envelope, added_at) values ($1, $2, $3, $4)";

pub(super) const SELECT_ATTESTATIONS: &str =
    "select envelope from artifact_attestations where artifact_id = $1 order by added_at, id";

// ---------------------------------------------------------------------------------------------
// Verification summaries (0012): the latest is the one served.

pub(super) const INSERT_SUMMARY: &str = "insert into verification_summaries (id, artifact_id, result, \
     created_at, envelope) values ($1, $2, $3, $4, $5)";

pub(super) const LATEST_SUMMARY: &str = "select result, envelope from verification_summaries \
     where artifact_id = $1 order by created_at desc, id desc limit 1";

// ---------------------------------------------------------------------------------------------
// Policy bundles (0004): re-activating a known set only moves its activation time.

pub(super) const UPSERT_BUNDLE: &str = "insert into policy_bundles (hash, files, activated_at, activated_by) \
     values ($1, $2, $3, $4) on conflict (hash) do update \
     set activated_at = excluded.activated_at, activated_by = excluded.activated_by";

pub(super) const LATEST_BUNDLE: &str =
    "select hash, files from policy_bundles order by activated_at desc limit 1";
