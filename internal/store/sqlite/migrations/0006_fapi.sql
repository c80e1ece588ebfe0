-- 0006: financial-grade settings: resource indicators (RFC 8707) and
-- pushed authorization requests (RFC 9126).
--
-- A client's financial-grade settings are one JSON document
-- (store.ClientSecurity): settings added later need no new column. '{}'
-- asks for nothing.
ALTER TABLE clients ADD COLUMN security TEXT NOT NULL DEFAULT '{}';
-- The resource indicators a request asked for, carried to its code and
-- the code's refresh family, and an access token's audience: JSON lists
-- like scopes; 'null' (a nil list) = none, the issuer's default audience.
ALTER TABLE auth_requests ADD COLUMN resources TEXT NOT NULL DEFAULT 'null';
ALTER TABLE auth_codes ADD COLUMN resources TEXT NOT NULL DEFAULT 'null';
ALTER TABLE refresh_families ADD COLUMN resources TEXT NOT NULL DEFAULT 'null';
ALTER TABLE access_tokens ADD COLUMN audience TEXT NOT NULL DEFAULT 'null';

-- Pushed authorization requests, by the SHA-256 of the request_uri each
-- was given, until it is used once at /oauth/authorize or expires (a
-- minute). params is a JSON object of each parameter's values, as the
-- client sent them. Not exported: nothing outlives its minute.
CREATE TABLE pushed_requests (
    hash       BLOB    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX pushed_requests_client ON pushed_requests (client_id);
CREATE INDEX pushed_requests_expires ON pushed_requests (expires_at);

-- An access token bound to a client's certificate (RFC 8705 §3) records
-- the certificate's SHA-256 thumbprint (its cnf.x5t#S256, base64url), as
-- jkt records a DPoP key's; '' = not bound.
ALTER TABLE access_tokens ADD COLUMN x5t TEXT NOT NULL DEFAULT '';
