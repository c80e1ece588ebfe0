-- 0006: financial-grade settings, as SQLite's 0006: resource indicators
-- (RFC 8707) and pushed authorization requests (RFC 9126).
--
-- A client's financial-grade settings are one JSON document
-- (store.ClientSecurity): settings added later need no new column. '{}'
-- asks for nothing. (ADD COLUMN with a constant default rewrites no
-- table.)
ALTER TABLE clients ADD COLUMN security jsonb NOT NULL DEFAULT '{}';
-- The resource indicators a request asked for, carried to its code and
-- the code's refresh family, and an access token's audience: lists like
-- scopes; '{}' = none, the issuer's default audience.
ALTER TABLE auth_requests ADD COLUMN resources text[] NOT NULL DEFAULT '{}';
ALTER TABLE auth_codes ADD COLUMN resources text[] NOT NULL DEFAULT '{}';
ALTER TABLE refresh_families ADD COLUMN resources text[] NOT NULL DEFAULT '{}';
ALTER TABLE access_tokens ADD COLUMN audience text[] NOT NULL DEFAULT '{}';

-- Pushed authorization requests, by the SHA-256 of the request_uri each
-- was given, until it is used once at /oauth/authorize or expires (a
-- minute). params is a JSON object of each parameter's values, as the
-- client sent them. Every instance shares them: a request pushed to one
-- is used at another. Not exported: nothing outlives its minute.
CREATE TABLE pushed_requests (
    hash       bytea       NOT NULL PRIMARY KEY,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params     jsonb       NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX pushed_requests_client ON pushed_requests (client_id);
CREATE INDEX pushed_requests_expires ON pushed_requests (expires_at);

-- An access token bound to a client's certificate (RFC 8705 §3) records
-- the certificate's SHA-256 thumbprint (its cnf.x5t#S256, base64url), as
-- jkt records a DPoP key's; '' = not bound.
ALTER TABLE access_tokens ADD COLUMN x5t text NOT NULL DEFAULT '';
