-- 0007: refresh tokens bound to a client certificate (RFC 8705 §4).
--
-- A refresh family of a public client over mutual TLS records the
-- certificate's SHA-256 thumbprint (base64url, as cnf.x5t#S256), as jkt
-- records a DPoP key's: every refresh comes over mutual TLS with that
-- certificate. '' = not bound.
ALTER TABLE refresh_families ADD COLUMN x5t TEXT NOT NULL DEFAULT '';
