-- The policy set each reload activates, so every gateway instance on this database converges
-- on it. Never edit once landed: add a new migration instead.

create table policy_bundles (
    hash          text primary key,
    -- [[file name, text], …] sorted by name: what the instances load.
    files         text not null,
    activated_at  text not null,
    activated_by  text not null
);
create index policy_bundles_latest on policy_bundles (activated_at);
