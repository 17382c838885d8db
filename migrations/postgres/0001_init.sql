-- Gatehouse schema, PostgreSQL. Never edit once landed: add a new migration instead.

create table artifacts (
    id                uuid primary key,
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
    size_bytes        bigint,
    content_encoding  text,
    lifecycle_state   text not null,
    trust_state       text not null,
    -- JSON array of channel slugs, in the configured order.
    channels          jsonb not null default '[]',
    signature_verified boolean not null default false,
    attestations      jsonb not null default '[]',
    created_by_type   text not null,
    created_by_id     text not null,
    created_at        timestamptz not null,
    updated_at        timestamptz not null,
    version           bigint not null,
    unique (project, repository, digest)
);

-- Listings are always per project, ordered by id.
create index artifacts_project_id on artifacts (project, id);
create index artifacts_project_app on artifacts (project, app);
create index artifacts_digest on artifacts (digest);

create table artifact_evidence (
    id             bigint generated always as identity primary key,
    artifact_id    uuid not null references artifacts (id),
    evidence_type  text not null,
    result         text not null,
    reason         text not null,
    checked_at     timestamptz not null,
    details        jsonb not null
);
create index artifact_evidence_artifact on artifact_evidence (artifact_id, id);

create table artifact_promotions (
    id                  bigint generated always as identity primary key,
    artifact_id         uuid not null references artifacts (id),
    channel             text not null,
    target_environment  text,
    actor_type          text not null,
    actor_id            text not null,
    promoted_at         timestamptz not null,
    decision            jsonb not null,
    reason              text
);
create index artifact_promotions_artifact on artifact_promotions (artifact_id, id);

-- No foreign keys on the logs: a log row must never be refused because of what it names.
create table audit_records (
    id              uuid primary key,
    seq             bigint not null unique,
    occurred_at     timestamptz not null,
    actor_type      text not null,
    actor_id        text not null,
    action          text not null,
    project         text,
    artifact_id     uuid,
    repository      text,
    digest          text,
    artifact_kind   text,
    source_type     text,
    transition      jsonb,
    promotion       jsonb,
    decision        jsonb,
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
    id              uuid primary key,
    decided_at      timestamptz not null,
    correlation_id  text not null,
    actor_type      text not null,
    actor_id        text not null,
    action          text not null,
    project         text,
    artifact_id     uuid,
    resource        text not null,
    effect          text not null,
    policy_ids      jsonb not null,
    reasons         jsonb not null,
    errors          jsonb not null,
    policy_hash     text not null,
    request         jsonb not null,
    entities        jsonb not null
);
create index decisions_project on decisions (project, id);
create index decisions_artifact on decisions (artifact_id, id);
create index decisions_action on decisions (action, id);
create index decisions_actor on decisions (actor_id, id);
create index decisions_decided on decisions (decided_at);
