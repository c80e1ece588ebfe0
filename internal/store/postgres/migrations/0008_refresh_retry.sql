-- 0008: idempotent refresh retries, as SQLite's 0008.
--
-- A rotated refresh token records the answer a retry of the rotation that
-- spent it gets for a few seconds: sealed by the core, opaque here (as
-- clients.webhook_secret). NULL = none: tokens from before, and every
-- token until it is rotated. (ADD COLUMN with no default rewrites no
-- table.)
ALTER TABLE refresh_tokens ADD COLUMN retry bytea;
