-- The platform catalog: stable ids ("registry families") seeded from schemas/catalog.yaml and
-- contributed through the API. An id is never reused: retired entries stay as tombstones.
-- Never edit once landed: add a new migration instead.

create table catalog_entries (
    id             text primary key,
    family         text not null,
    description    text not null,
    owner_product  text not null,
    enabled        boolean not null,
    -- `active` (usable when enabled) | `pending` (contributed, awaiting approval) | `retired`
    status         text not null,
    fields         text not null,
    created_by     text not null,
    created_at     text not null,
    updated_at     text not null
);
create index catalog_entries_family on catalog_entries (family, id);
