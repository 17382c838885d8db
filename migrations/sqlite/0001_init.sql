-- Gatehouse schema, SQLite. Uuids are 16-byte blobs, times RFC 3339 text, JSON text (sqlx encodings). Never edit once landed: add a new migration instead.

create table artifacts (
    id                blob not null primary key,
    project           text not null,
    app               text not null,
    artifact_kind     text not null,
    artifact_type     text not null,
    repository        text not null,
    digest            text not null,
    tag               text,
    media_type        text,
    source_type       text not null,
    source_uri        text not null,
    source_ref        text,
    size_bytes        integer,
    content_encoding  text,
    lifecycle_state   text not null,
    trust_state       text not null,
    -- JSON array of channel slugs, in the configured order.
    channels          text not null default '[]',
    signature_verified integer not null default 0,
    attestations      text not null default '[]',
    created_by_type   text not null,
    created_by_id     text not null,
    created_at        text not null,
    updated_at        text not null,
    version           integer not null,
    unique (project, repository, digest)
);

-- Listings are always per project, ordered by id.
create index artifacts_project_id on artifacts (project, id);
create index artifacts_project_app on artifacts (project, app);
create index artifacts_digest on artifacts (digest);

create table artifact_evidence (
    id             integer primary key autoincrement,
    artifact_id    blob not null references artifacts (id),
    evidence_type  text not null,
    result         text not null,
    reason         text not null,
    checked_at     text not null,
    details        text not null
);
create index artifact_evidence_artifact on artifact_evidence (artifact_id, id);

create table artifact_promotions (
    id                  integer primary key autoincrement,
    artifact_id         blob not null references artifacts (id),
    channel             text not null,
    target_environment  text,
    actor_type          text not null,
    actor_id            text not null,
    promoted_at         text not null,
    decision            text not null,
    reason              text
);
create index artifact_promotions_artifact on artifact_promotions (artifact_id, id);

-- No foreign keys on the logs: a log row must never be refused because of what it names.
create table audit_records (
    id              blob not null primary key,
    seq             integer not null unique,
    occurred_at     text not null,
    actor_type      text not null,
    actor_id        text not null,
    action          text not null,
    project         text,
    artifact_id     blob,
    repository      text,
    digest          text,
    artifact_kind   text,
    source_type     text,
    transition      text,
    promotion       text,
    decision        text,
    correlation_id  text not null,
    prev_hash       text not null,
    hash            text not null
);
create index audit_records_project on audit_records (project, seq);
create index audit_records_artifact on audit_records (artifact_id, seq);
create index audit_records_action on audit_records (action, seq);
create index audit_records_actor on audit_records (actor_id, seq);
create index audit_records_occurred on audit_records (occurred_at);

create table decisions (
    id              blob not null primary key,
    decided_at      text not null,
    correlation_id  text not null,
    actor_type      text not null,
    actor_id        text not null,
    action          text not null,
    project         text,
    artifact_id     blob,
    resource        text not null,
    effect          text not null,
    policy_ids      text not null,
    reasons         text not null,
    errors          text not null,
    policy_hash     text not null,
    request         text not null,
    entities        text not null
);
create index decisions_project on decisions (project, id);
create index decisions_artifact on decisions (artifact_id, id);
create index decisions_action on decisions (action, id);
create index decisions_actor on decisions (actor_id, id);
create index decisions_decided on decisions (decided_at);
