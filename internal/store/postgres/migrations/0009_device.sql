-- 0009: the device authorization grant (RFC 8628), as SQLite's 0009.
--
-- Device requests, by the key of the device_code each was given (as a
-- code is kept: the code made when the request is approved has the same
-- hash), found by the SHA-256 of its user_code, until they expire
-- (minutes). status is pending, approved or denied; poll_interval the
-- polling interval the client must keep, in nanoseconds like every
-- duration, grown by each slow_down; last_polled_at NULL before the first
-- poll. Every instance shares them: a device polls one instance while its
-- user approves at another. Not exported: nothing outlives its minutes.
CREATE TABLE device_requests (
    device_hash    bytea       NOT NULL PRIMARY KEY,
    user_hash      bytea       NOT NULL UNIQUE,
    client_id      text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes         text[]      NOT NULL,
    resources      text[]      NOT NULL,
    status         text        NOT NULL,
    poll_interval  bigint      NOT NULL,
    last_polled_at timestamptz,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL
);
CREATE INDEX device_requests_client ON device_requests (client_id);
CREATE INDEX device_requests_expires ON device_requests (expires_at);

-- An authorization request that asks its user to approve a device request
-- names it by its device_hash. NULL = a browser's request: every request
-- from before. (ADD COLUMN with no default rewrites no table.)
ALTER TABLE auth_requests ADD COLUMN device_hash bytea;
