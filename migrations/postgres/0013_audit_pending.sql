-- Audit records waiting for their seal get a table of their own (issue 12): a mutation inserts
-- its record here (two indexes), and the sealer moves it into `audit_records` with its place in
-- the chain (one insert), instead of inserting it into `audit_records` unsealed and updating it
-- there, which wrote every one of that table's eight indexes twice (setting `seq` is never a HOT
-- update). `audit_records` again holds sealed records only. Never edit once landed: add a new
-- migration instead.
create table audit_pending (
    id              uuid primary key,
    append_order    bigint not null default nextval('audit_append_order'),
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
    correlation_id  text not null
);
-- The sealer's queue, in append order.
create index audit_pending_order on audit_pending (append_order);

-- Records a stopped gateway left unsealed move over, keeping their append order. (A gateway of an
-- earlier release still running beside this one may leave more there: the sealer's sweep moves
-- those too.)
insert into audit_pending (id, append_order, occurred_at, actor_type, actor_id, action, project,
    artifact_id, repository, digest, artifact_kind, source_type, transition, promotion, decision,
    correlation_id)
select id, append_order, occurred_at, actor_type, actor_id, action, project, artifact_id,
    repository, digest, artifact_kind, source_type, transition, promotion, decision, correlation_id
from audit_records where seq is null;
delete from audit_records where seq is null;
