-- Apps registered from manifest packages, their immutable versions, the artifacts each version
-- links by digest, and project entitlements. Never edit once landed: add a new migration instead.

create table apps (
    slug             text primary key,
    project          text not null,
    display_name     text not null,
    -- The `app` layer of the manifest that registered it.
    manifest         text not null,
    created_by_type  text not null,
    created_by_id    text not null,
    created_at       text not null
);
create index apps_project on apps (project, slug);

create table app_versions (
    id                 blob not null primary key,
    app                text not null references apps (slug),
    version            text not null,
    status             text not null,
    -- The `version` layer, and the sha256 of its canonical JSON (what makes a re-registration
    -- identical).
    manifest           text not null,
    manifest_digest    text not null,
    created_by_type    text not null,
    created_by_id      text not null,
    created_at         text not null,
    published_by_type  text,
    published_by_id    text,
    published_at       text,
    unique (app, version)
);
create index app_versions_app on app_versions (app, id);

create table app_version_artifacts (
    version_id   blob not null references app_versions (id),
    position     integer not null,
    name         text not null,
    artifact_id  blob not null references artifacts (id),
    digest       text not null,
    primary key (version_id, position)
);
create index app_version_artifacts_artifact on app_version_artifacts (artifact_id);

create table entitlements (
    project          text not null,
    app              text not null references apps (slug),
    granted_by_type  text not null,
    granted_by_id    text not null,
    granted_at       text not null,
    primary key (project, app)
);
create index entitlements_app on entitlements (app, project);
