-- Signed verification summaries (SLSA VSA v1 in a DSSE envelope), one per verification run that
-- ended `verified` or `failed_verification` while a `[vsa]` key was configured; written in the
-- run's own transaction. Never edit once landed: add a new migration instead.
create table verification_summaries (
    id           uuid primary key,
    artifact_id  uuid not null references artifacts (id),
    result       text not null check (result in ('PASSED', 'FAILED')),
    created_at   timestamptz not null,
    envelope     jsonb not null
);
-- `GET /v1/artifacts/{id}/vsa` reads an artifact's latest.
create index verification_summaries_latest on verification_summaries (artifact_id, created_at, id);
