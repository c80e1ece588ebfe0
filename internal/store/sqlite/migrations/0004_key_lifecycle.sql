-- 0004: signing keys over their whole life, and what client-secret
-- rotation, RFC 7592 and per-client algorithms store.
--
-- A key's state is no longer stored: the signer derives it from the key's
-- times (docs/keys.md). It is published from created_at, signs from
-- activates_at, and is kept at least until keep_until (the latest exp of a
-- token it signed, reserved ahead).
--
-- Existing keys: retired ones were no longer published and go. The
-- current and previous keys activated when they were created (the current
-- one at the latest, so that it stays current), and, since which key
-- signed which token is not known, are kept until a day after the latest
-- exp of a JWT access token stored (consent-length tokens included), and
-- at least 400 days.
DELETE FROM signing_keys WHERE state = 'retired';
DROP INDEX signing_keys_live;
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN keep_until INTEGER NOT NULL DEFAULT 0;
UPDATE signing_keys SET activates_at = created_at, keep_until = MAX(unixepoch() * 1000 + 400 * 86400000,
    COALESCE((SELECT MAX(expires_at) FROM access_tokens WHERE format = 'jwt'), 0) + 86400000);
UPDATE signing_keys SET activates_at = (SELECT MAX(created_at) + 1 FROM signing_keys)
    WHERE state = 'current' AND created_at < (SELECT MAX(created_at) FROM signing_keys);
ALTER TABLE signing_keys DROP COLUMN state;
-- AddSigningKey's check: a key of the algorithm created after since.
CREATE INDEX signing_keys_algorithm ON signing_keys (algorithm, created_at);

-- Client-secret rotation: the replaced secret's hash, valid until its end.
ALTER TABLE clients ADD COLUMN previous_secret_hash BLOB;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at INTEGER NOT NULL DEFAULT 0;
-- RFC 7592: the hash of the registration access token.
ALTER TABLE clients ADD COLUMN registration_token_hash BLOB;
-- The algorithm of the client's JWT access tokens; '' = the server's default.
ALTER TABLE clients ADD COLUMN access_token_signing_alg TEXT NOT NULL DEFAULT '';

-- The janitor's family sweep (DeleteExpired): one indexed statement per
-- reason a family is done with, instead of an OR that no index serves (a
-- full scan inside a write transaction, 160-220 ms per million families).
CREATE INDEX refresh_families_idle ON refresh_families (last_used_at + idle_timeout / 1000000) WHERE idle_timeout != 0;
CREATE INDEX refresh_families_revoked ON refresh_families (revoked_at) WHERE revoked_at != 0;
