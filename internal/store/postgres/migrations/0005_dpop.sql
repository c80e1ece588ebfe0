-- 0005: DPoP (RFC 9449), sender-constrained tokens.
--
-- A token bound to a client's DPoP key records the key's thumbprint (jkt):
-- an access token's record (its cnf.jkt for introspection), a refresh
-- family of a public client (every refresh must prove the same key), an
-- authorization request and its code when the client sent dpop_jkt.
-- '' = not bound. (ADD COLUMN with a constant default rewrites no table.)
ALTER TABLE access_tokens ADD COLUMN jkt text NOT NULL DEFAULT '';
ALTER TABLE refresh_families ADD COLUMN jkt text NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
-- A client whose access tokens must all be DPoP-bound.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens boolean NOT NULL DEFAULT false;

-- The proofs used: each proof's key (SHA-256 of its jkt and jti) once, in
-- the transaction that issued on it, kept until its iat leaves the window.
-- Every instance shares it, so a proof replayed at another instance is
-- refused too.
CREATE TABLE dpop_proofs (
    key        bytea       NOT NULL PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX dpop_proofs_expires ON dpop_proofs (expires_at);
