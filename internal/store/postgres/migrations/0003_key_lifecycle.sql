-- 0003: signing keys over their whole life, and what client-secret
-- rotation, RFC 7592 and per-client algorithms store; as SQLite's 0004.
--
-- A key's state is no longer stored: the signer derives it from the key's
-- times (docs/keys.md). It is published from created_at, signs from
-- activates_at, and is kept at least until keep_until (the latest exp of a
-- token it signed, reserved ahead; NULL = nothing reserved).
--
-- Existing keys: retired ones were no longer published and go. The
-- current and previous keys activated when they were created (the current
-- one at the latest, so that it stays current), and, since which key
-- signed which token is not known, are kept until a day after the latest
-- exp of a JWT access token stored and the latest end of an active
-- consent (instances of the previous version, still running during a
-- rolling upgrade, sign consent-length tokens with them and reserve
-- nothing), and at least 400 days.
--
-- Unlike SQLite's 0004, the state column stays, unread by this version,
-- with a default: instances of the previous version, still running during
-- a rolling upgrade, read it (they keep signing with the key they call
-- current, which this version keeps published). A later migration drops
-- it. Its unique index goes: this version stores many keys.
DELETE FROM signing_keys WHERE state = 'retired';
DROP INDEX signing_keys_live;
ALTER TABLE signing_keys
    ADD COLUMN activates_at timestamptz,
    ADD COLUMN keep_until   timestamptz;
UPDATE signing_keys SET activates_at = created_at, keep_until = GREATEST(now() + interval '400 days',
    (SELECT MAX(expires_at) + interval '1 day' FROM access_tokens WHERE format = 'jwt'),
    (SELECT MAX(consent_expires_at) + interval '1 day' FROM connections WHERE status = 'active'));
UPDATE signing_keys SET activates_at = (SELECT MAX(created_at) + interval '1 millisecond' FROM signing_keys)
    WHERE state = 'current' AND created_at < (SELECT MAX(created_at) FROM signing_keys);
-- A key an instance of the previous version adds (which the docs forbid
-- during the upgrade) names neither column: the defaults keep it from
-- being taken for a retired key nothing reserved, and deleted under it.
ALTER TABLE signing_keys ALTER COLUMN state SET DEFAULT 'previous',
    ALTER COLUMN activates_at SET DEFAULT now(),
    ALTER COLUMN keep_until SET DEFAULT now() + interval '400 days';
-- AddSigningKey's check: a key of the algorithm created after since.
CREATE INDEX signing_keys_algorithm ON signing_keys (algorithm, created_at);

ALTER TABLE clients
    -- Client-secret rotation: the replaced secret's hash, valid until its end.
    ADD COLUMN previous_secret_hash       bytea,
    ADD COLUMN previous_secret_expires_at timestamptz,
    -- RFC 7592: the hash of the registration access token.
    ADD COLUMN registration_token_hash    bytea,
    -- The algorithm of the client's JWT access tokens; '' = the server's default.
    ADD COLUMN access_token_signing_alg   text NOT NULL DEFAULT '';
