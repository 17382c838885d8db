-- Intents, registry tokens, the registry event queue, unregistered pushes and artifact links.
-- SQLite: uuids are 16-byte blobs, times RFC 3339 text, JSON text (sqlx encodings).
-- Never edit once landed: add a new migration instead.

create table publish_intents (
    id               blob not null primary key,
    project          text not null,
    app              text not null,
    repository       text not null,
    artifact_kind    text not null,
    artifact_type    text not null,
    tag_hint         text,
    expected_digest  text,
    actor_type       text not null,
    actor_id         text not null,
    -- Hex SHA-256 of the one-time password; the password itself is never stored.
    password_sha256  text not null,
    created_at       text not null,
    expires_at       text not null,
    artifact_id      blob references artifacts (id),
    completed_at     text,
    correlation_id   text not null,
    -- The creator's roles when the intent was made: a registration that follows the registry's
    -- notification is decided as this principal.
    principal        text not null
);
-- Open intents are looked up per repository, newest first; completed ones never again.
create index publish_intents_open on publish_intents (repository, created_at) where completed_at is null;

create table pull_intents (
    id               blob not null primary key,
    project          text not null,
    artifact_id      blob not null references artifacts (id),
    repository       text not null,
    digest           text not null,
    channel          text,
    actor_type       text not null,
    actor_id         text not null,
    password_sha256  text not null,
    created_at       text not null,
    expires_at       text not null,
    correlation_id   text not null
);

-- No foreign key on intent_id: it names a publish or a pull intent, or nothing.
create table registry_tokens (
    jti          text not null primary key,
    intent_id    blob,
    intent_kind  text not null,
    subject      text not null,
    access       text not null,
    issued_at    text not null,
    expires_at   text not null
);
create index registry_tokens_intent on registry_tokens (intent_id, issued_at);

create table registry_events (
    id           text not null primary key,
    source       text not null,
    action       text not null,
    repository   text not null,
    digest       text,
    media_type   text,
    size         integer,
    tag          text,
    actor_name   text,
    occurred_at  text,
    received_at  text not null,
    status       text not null,
    attempts     integer not null default 0,
    -- A claimed event is leased to one worker until then; null when nobody holds it.
    lease_until  text,
    result       text not null default '{}'
);
-- Claiming takes the oldest pending event; the depth metric counts pending ones.
create index registry_events_queue on registry_events (status, received_at, id);

create table unregistered_pushes (
    id           blob not null primary key,
    event_id     text not null,
    project      text,
    repository   text not null,
    digest       text not null,
    tag          text,
    actor_name   text,
    received_at  text not null
);
create index unregistered_pushes_project on unregistered_pushes (project, id);

create table artifact_links (
    artifact_id        blob not null primary key references artifacts (id),
    publish_intent_id  blob references publish_intents (id),
    event_id           text,
    registry_presence  text check (registry_presence in ('present', 'deleted')),
    presence_event_id  text,
    updated_at         text not null
);
