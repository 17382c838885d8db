-- A decision's request and entity slice (~1.6 KB of JSON) are most of its row, and they repeat:
-- a deployer asks about the same artifact again and again, and each answer logs the same input.
-- The decision log's batches store each distinct input once here, keyed by the SHA-256 of its
-- text (`store::decision_inputs::input_hash`), and the decision names it in `input_hash`; such a
-- decision's own `request` and `entities` hold JSON `null`. Rows written before this migration,
-- and decisions written with a mutation, keep their input inline (`input_hash` null). Inputs are
-- never updated or deleted. Never edit once landed: add a new migration instead.
create table decision_inputs (
    hash      text not null primary key,
    request   text not null,
    entities  text not null
);

alter table decisions add column input_hash text;
