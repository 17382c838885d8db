-- Audit records are written unsealed with the state change they describe (no seq, prev_hash or
-- hash yet), so concurrent mutations commit without waiting for one another; a sealer then
-- places them in the chain in batches, in the order they were appended (`append_order`).
create sequence audit_append_order;

alter table audit_records
    alter column seq drop not null,
    alter column prev_hash drop not null,
    alter column hash drop not null,
    add column append_order bigint;

-- Set after the column exists, so existing (sealed) rows are not rewritten.
alter table audit_records alter column append_order set default nextval('audit_append_order');

-- A record is either sealed (all three set) or not (none set).
alter table audit_records add constraint audit_records_sealed_whole
    check ((seq is null) = (prev_hash is null) and (seq is null) = (hash is null));

-- The sealer's queue: only unsealed records, in append order.
create index audit_records_unsealed on audit_records (append_order) where seq is null;
