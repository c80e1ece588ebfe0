-- 0001: the initial schema, the same logical schema as SQLite's 0001 and
-- 0002 (same tables, columns and keys), in PostgreSQL types.
--
-- Conventions (see docs/storage.md, "PostgreSQL"):
--   times      timestamptz; NULL is the zero time ("none": not used, not
--              revoked, no expiry). Columns whose meaning needs a time are
--              NOT NULL.
--   durations  bigint nanoseconds.
--   lists      text[] NOT NULL ('{}' for none); maps jsonb ('null' for a nil map).
--   secrets    bytea SHA-256 digests (store.Hash), primary keys.
--   ""         an absent reference (connection_id, family_id) is '', not NULL.
--   IDs        text: client and connection IDs are UUIDs today, but the
--              store does not require it, and a copy from SQLite keeps any ID.
-- Every row issued to a client references clients(id) ON DELETE CASCADE, so
-- deleting a client deletes everything issued to it.
-- The SQL avoids what CockroachDB would refuse (no SERIAL, no LOCK TABLE,
-- no functions or triggers).

CREATE TABLE clients (
    id                   text        NOT NULL PRIMARY KEY,
    name                 text        NOT NULL,
    secret_hash          bytea,
    auth_method          text        NOT NULL,
    grant_types          text[]      NOT NULL,
    response_types       text[]      NOT NULL,
    redirect_uris        text[]      NOT NULL,
    scopes               text[]      NOT NULL,
    environment          text        NOT NULL,
    tier                 text        NOT NULL,
    state                text        NOT NULL,
    refresh_policy       text        NOT NULL,
    refresh_idle_timeout bigint      NOT NULL,
    refresh_ttl          bigint      NOT NULL,
    access_token_ttl     bigint      NOT NULL,
    token_format         text        NOT NULL,
    consent_url          text        NOT NULL,
    resource_server      boolean     NOT NULL,
    metadata             jsonb       NOT NULL,
    created_at           timestamptz,
    updated_at           timestamptz,
    webhook_url          text        NOT NULL DEFAULT '',
    webhook_secret       bytea,
    consent_ttl          bigint      NOT NULL DEFAULT 0,
    retention_ttl        bigint      NOT NULL DEFAULT 0
);

CREATE TABLE auth_requests (
    id                    text        NOT NULL PRIMARY KEY,
    client_id             text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    response_type         text        NOT NULL,
    redirect_uri          text        NOT NULL,
    state                 text        NOT NULL,
    scopes                text[]      NOT NULL,
    code_challenge        text        NOT NULL,
    code_challenge_method text        NOT NULL,
    csrf_token            text        NOT NULL,
    subject               text        NOT NULL,
    created_at            timestamptz,
    expires_at            timestamptz NOT NULL,
    customer_id           text        NOT NULL DEFAULT '',
    customer_name         text        NOT NULL DEFAULT '',
    provider_id           text        NOT NULL DEFAULT '',
    provider_fixed        boolean     NOT NULL DEFAULT false
);
CREATE INDEX auth_requests_client ON auth_requests (client_id);
CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

CREATE TABLE connections (
    id                   text        NOT NULL PRIMARY KEY,
    client_id            text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    customer_id          text        NOT NULL,
    customer_name        text        NOT NULL,
    provider_id          text        NOT NULL,
    subject              text        NOT NULL,
    products             text[]      NOT NULL,
    entity_ids           text[]      NOT NULL,
    connection_type      text        NOT NULL,
    environment          text        NOT NULL,
    status               text        NOT NULL,
    created_at           timestamptz,
    consent_expires_at   timestamptz,
    data_retention_until timestamptz,
    revoked_at           timestamptz
);
CREATE INDEX connections_client_created ON connections (client_id, created_at);
CREATE INDEX connections_created ON connections (created_at);
CREATE INDEX connections_consent ON connections (consent_expires_at)
    WHERE status = 'active' AND consent_expires_at IS NOT NULL;
CREATE INDEX connections_retention ON connections (data_retention_until)
    WHERE data_retention_until IS NOT NULL;

CREATE TABLE auth_codes (
    hash                  bytea       NOT NULL PRIMARY KEY,
    kind                  text        NOT NULL,
    client_id             text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          text        NOT NULL,
    scopes                text[]      NOT NULL,
    subject               text        NOT NULL,
    connection_id         text        NOT NULL,
    code_challenge        text        NOT NULL,
    code_challenge_method text        NOT NULL,
    grant_id              text        NOT NULL,
    created_at            timestamptz,
    expires_at            timestamptz NOT NULL,
    used_at               timestamptz
);
CREATE INDEX auth_codes_client ON auth_codes (client_id);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);
CREATE INDEX auth_codes_connection ON auth_codes (connection_id) WHERE connection_id != '';

CREATE TABLE refresh_families (
    id            text        NOT NULL PRIMARY KEY,
    client_id     text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject       text        NOT NULL,
    connection_id text        NOT NULL,
    scopes        text[]      NOT NULL,
    policy        text        NOT NULL,
    idle_timeout  bigint      NOT NULL,
    created_at    timestamptz,
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX refresh_families_client ON refresh_families (client_id);
CREATE INDEX refresh_families_connection ON refresh_families (connection_id) WHERE connection_id != '';
CREATE INDEX refresh_families_expires ON refresh_families (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    hash       bytea       NOT NULL PRIMARY KEY,
    family_id  text        NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at timestamptz,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- family_id has no foreign key: a code grant without a refresh token still
-- groups its access tokens under the grant ID, with no family row.
CREATE TABLE access_tokens (
    id            text        NOT NULL PRIMARY KEY,
    client_id     text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject       text        NOT NULL,
    family_id     text        NOT NULL,
    connection_id text        NOT NULL,
    scopes        text[]      NOT NULL,
    format        text        NOT NULL,
    created_at    timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX access_tokens_client ON access_tokens (client_id);
CREATE INDEX access_tokens_family ON access_tokens (family_id) WHERE family_id != '';
CREATE INDEX access_tokens_connection ON access_tokens (connection_id) WHERE connection_id != '';
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

-- seq is the insertion order, for "newest first": MAX(seq) + 1, computed
-- by AddSigningKey's serializable transaction.
CREATE TABLE signing_keys (
    id            text        NOT NULL PRIMARY KEY,
    algorithm     text        NOT NULL,
    encrypted_key bytea       NOT NULL,
    state         text        NOT NULL CHECK (state IN ('current', 'previous', 'retired')),
    created_at    timestamptz,
    seq           bigint      NOT NULL UNIQUE
);
-- At most one current and one previous key.
CREATE UNIQUE INDEX signing_keys_live ON signing_keys (state) WHERE state != 'retired';

-- The outbox: one row per connection event, inserted in the transaction
-- that changed the connection (which holds the connection's row lock, so
-- one connection's events commit in seq order); delivered in seq order per
-- connection. connection_id has no foreign key: retention_reached outlives
-- the row. payload is bytea: the exact bytes delivered and signed. A bulk
-- load with explicit seq values must move the identity's sequence past
-- them (see Store.Load).
CREATE TABLE events (
    seq             bigint      GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    id              text        NOT NULL UNIQUE,
    client_id       text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    connection_id   text        NOT NULL,
    type            text        NOT NULL,
    payload         bytea       NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    failed          boolean     NOT NULL DEFAULT false
);
CREATE INDEX events_pending ON events (connection_id, seq) WHERE delivered_at IS NULL;
CREATE INDEX events_due ON events (next_attempt_at, seq) WHERE delivered_at IS NULL;
CREATE INDEX events_delivered ON events (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX events_client ON events (client_id);
