-- Visibility classes of repositories, and the platform release catalog. Never edit once landed:
-- add a new migration instead.

-- Existing artifacts keep their project paths: the class defaults to `project`.
alter table artifacts add column visibility text not null default 'project';
alter table artifacts add column tenant text;

-- A platform release: a version on a channel, naming platform artifacts by digest.
create table platform_releases (
    version          text primary key,
    channel          text not null,
    created_by_type  text not null,
    created_by_id    text not null,
    created_at       text not null
);

create table platform_release_artifacts (
    version      text not null references platform_releases (version),
    name         text not null,
    artifact_id  blob not null references artifacts (id),
    repository       text not null,
    -- The artifact's manifest digest; `digest` is the file (its one layer).
    artifact_digest  text not null,
    digest       text not null,
    size_bytes   integer not null,
    media_type   text not null,
    os           text,
    arch         text,
    primary key (version, name)
);

create index platform_releases_created on platform_releases (created_at);
