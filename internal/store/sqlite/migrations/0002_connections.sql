-- 0002: connections first-class: webhooks and consent/retention overrides
-- per client, connect-session fields on authorization requests, lifecycle
-- indexes, and the events outbox.

ALTER TABLE clients ADD COLUMN webhook_url TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN webhook_secret BLOB;
ALTER TABLE clients ADD COLUMN consent_ttl INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN retention_ttl INTEGER NOT NULL DEFAULT 0;

ALTER TABLE auth_requests ADD COLUMN customer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN customer_name TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN provider_id TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN provider_fixed INTEGER NOT NULL DEFAULT 0 CHECK (provider_fixed IN (0, 1));

CREATE INDEX connections_consent ON connections (consent_expires_at)
    WHERE status = 'active' AND consent_expires_at != 0;
CREATE INDEX connections_retention ON connections (data_retention_until)
    WHERE data_retention_until != 0;
CREATE INDEX auth_codes_connection ON auth_codes (connection_id) WHERE connection_id != '';

-- The outbox: one row per connection event, inserted in the transaction
-- that changed the connection; delivered in seq order per connection.
-- connection_id has no foreign key: retention_reached outlives the row.
CREATE TABLE events (
    seq             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    client_id       TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    connection_id   TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    delivered_at    INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0 CHECK (failed IN (0, 1))
) STRICT;
CREATE INDEX events_pending ON events (connection_id, seq) WHERE delivered_at = 0;
CREATE INDEX events_due ON events (next_attempt_at, seq) WHERE delivered_at = 0;
CREATE INDEX events_delivered ON events (delivered_at) WHERE delivered_at != 0;
CREATE INDEX events_client ON events (client_id);
