-- Durable verification jobs and the attestations that travel with verify calls.
-- Never edit once landed: add a new migration instead.

create table verification_jobs (
    id           blob primary key,
    artifact_id  blob not null references artifacts (id),
    -- Who the verification is decided as: the registering principal, roles as they were.
    principal    text not null,
    status       text not null check (status in ('pending', 'done', 'failed')),
    attempts     integer not null default 0,
    lease_until  text,
    enqueued_at  text not null,
    result       text not null
);
-- Claims look for pending jobs, oldest first.
create index verification_jobs_pending on verification_jobs (enqueued_at, id) where status = 'pending';

-- DSSE envelopes attached to an artifact; every verification re-checks them all.
create table artifact_attestations (
    id           blob primary key,
    artifact_id  blob not null references artifacts (id),
    envelope     text not null,
    added_at     text not null
);
create index artifact_attestations_artifact on artifact_attestations (artifact_id, added_at);
