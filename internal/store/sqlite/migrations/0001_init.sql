-- 0001: the initial schema.
--
-- Conventions (see docs/storage.md):
--   times      INTEGER Unix milliseconds UTC; 0 is the zero time.
--   durations  INTEGER nanoseconds.
--   lists      TEXT, a JSON array ('null' for a nil slice); maps a JSON object.
--   secrets    BLOB SHA-256 digests (store.Hash), primary keys of WITHOUT ROWID tables.
--   ""         an absent reference (connection_id, family_id) is '', not NULL.
-- Every row issued to a client references clients(id) ON DELETE CASCADE, so
-- deleting a client deletes everything issued to it.

CREATE TABLE clients (
    id                   TEXT    NOT NULL PRIMARY KEY,
    name                 TEXT    NOT NULL,
    secret_hash          BLOB,
    auth_method          TEXT    NOT NULL,
    grant_types          TEXT    NOT NULL,
    response_types       TEXT    NOT NULL,
    redirect_uris        TEXT    NOT NULL,
    scopes               TEXT    NOT NULL,
    environment          TEXT    NOT NULL,
    tier                 TEXT    NOT NULL,
    state                TEXT    NOT NULL,
    refresh_policy       TEXT    NOT NULL,
    refresh_idle_timeout INTEGER NOT NULL,
    refresh_ttl          INTEGER NOT NULL,
    access_token_ttl     INTEGER NOT NULL,
    token_format         TEXT    NOT NULL,
    consent_url          TEXT    NOT NULL,
    resource_server      INTEGER NOT NULL CHECK (resource_server IN (0, 1)),
    metadata             TEXT    NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;

CREATE TABLE auth_requests (
    id                    TEXT    NOT NULL PRIMARY KEY,
    client_id             TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    response_type         TEXT    NOT NULL,
    redirect_uri          TEXT    NOT NULL,
    state                 TEXT    NOT NULL,
    scopes                TEXT    NOT NULL,
    code_challenge        TEXT    NOT NULL,
    code_challenge_method TEXT    NOT NULL,
    csrf_token            TEXT    NOT NULL,
    subject               TEXT    NOT NULL,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL
) STRICT;
CREATE INDEX auth_requests_client ON auth_requests (client_id);
CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

CREATE TABLE connections (
    id                   TEXT    NOT NULL PRIMARY KEY,
    client_id            TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    customer_id          TEXT    NOT NULL,
    customer_name        TEXT    NOT NULL,
    provider_id          TEXT    NOT NULL,
    subject              TEXT    NOT NULL,
    products             TEXT    NOT NULL,
    entity_ids           TEXT    NOT NULL,
    connection_type      TEXT    NOT NULL,
    environment          TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    created_at           INTEGER NOT NULL,
    consent_expires_at   INTEGER NOT NULL,
    data_retention_until INTEGER NOT NULL,
    revoked_at           INTEGER NOT NULL
) STRICT;
CREATE INDEX connections_client_created ON connections (client_id, created_at);
CREATE INDEX connections_created ON connections (created_at);

CREATE TABLE auth_codes (
    hash                  BLOB    NOT NULL PRIMARY KEY,
    kind                  TEXT    NOT NULL,
    client_id             TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          TEXT    NOT NULL,
    scopes                TEXT    NOT NULL,
    subject               TEXT    NOT NULL,
    connection_id         TEXT    NOT NULL,
    code_challenge        TEXT    NOT NULL,
    code_challenge_method TEXT    NOT NULL,
    grant_id              TEXT    NOT NULL,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    used_at               INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX auth_codes_client ON auth_codes (client_id);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

CREATE TABLE refresh_families (
    id            TEXT    NOT NULL PRIMARY KEY,
    client_id     TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject       TEXT    NOT NULL,
    connection_id TEXT    NOT NULL,
    scopes        TEXT    NOT NULL,
    policy        TEXT    NOT NULL,
    idle_timeout  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    revoked_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX refresh_families_client ON refresh_families (client_id);
CREATE INDEX refresh_families_connection ON refresh_families (connection_id) WHERE connection_id != '';
CREATE INDEX refresh_families_expires ON refresh_families (expires_at) WHERE expires_at != 0;

CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    family_id  TEXT    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- family_id has no foreign key: a code grant without a refresh token still
-- groups its access tokens under the grant ID, with no family row.
CREATE TABLE access_tokens (
    id            TEXT    NOT NULL PRIMARY KEY,
    client_id     TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject       TEXT    NOT NULL,
    family_id     TEXT    NOT NULL,
    connection_id TEXT    NOT NULL,
    scopes        TEXT    NOT NULL,
    format        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX access_tokens_client ON access_tokens (client_id);
CREATE INDEX access_tokens_family ON access_tokens (family_id) WHERE family_id != '';
CREATE INDEX access_tokens_connection ON access_tokens (connection_id) WHERE connection_id != '';
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

CREATE TABLE signing_keys (
    id            TEXT    NOT NULL PRIMARY KEY,
    algorithm     TEXT    NOT NULL,
    encrypted_key BLOB    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('current', 'previous', 'retired')),
    created_at    INTEGER NOT NULL,
    seq           INTEGER NOT NULL UNIQUE -- insertion order, for "newest first"
) STRICT;
-- At most one current and one previous key.
CREATE UNIQUE INDEX signing_keys_live ON signing_keys (state) WHERE state != 'retired';
