-- 0009: the device authorization grant (RFC 8628).
--
-- Device requests, by the key of the device_code each was given (as a
-- code is kept: the code made when the request is approved has the same
-- hash), found by the SHA-256 of its user_code, until they expire
-- (minutes). scopes and resources are JSON lists like auth_requests';
-- 'null' = none. status is pending, approved or denied; poll_interval the
-- polling interval the client must keep, in nanoseconds like every
-- duration, grown by each slow_down; last_polled_at 0 before the first
-- poll. Not exported: nothing outlives its minutes.
CREATE TABLE device_requests (
    device_hash    BLOB    NOT NULL PRIMARY KEY,
    user_hash      BLOB    NOT NULL UNIQUE,
    client_id      TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes         TEXT    NOT NULL,
    resources      TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    poll_interval  INTEGER NOT NULL,
    last_polled_at INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX device_requests_client ON device_requests (client_id);
CREATE INDEX device_requests_expires ON device_requests (expires_at);

-- An authorization request that asks its user to approve a device request
-- names it by its device_hash. NULL = a browser's request: every request
-- from before.
ALTER TABLE auth_requests ADD COLUMN device_hash BLOB;
