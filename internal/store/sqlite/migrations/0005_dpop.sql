-- 0005: DPoP (RFC 9449), sender-constrained tokens.
--
-- A token bound to a client's DPoP key records the key's thumbprint (jkt):
-- an access token's record (its cnf.jkt for introspection), a refresh
-- family of a public client (every refresh must prove the same key), an
-- authorization request and its code when the client sent dpop_jkt.
-- '' = not bound.
ALTER TABLE access_tokens ADD COLUMN jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_families ADD COLUMN jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
-- A client whose access tokens must all be DPoP-bound.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens INTEGER NOT NULL DEFAULT 0;

-- The proofs used: each proof's key (SHA-256 of its jkt and jti) once, in
-- the transaction that issued on it, kept until its iat leaves the window.
CREATE TABLE dpop_proofs (
    key BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX dpop_proofs_expires ON dpop_proofs (expires_at);
