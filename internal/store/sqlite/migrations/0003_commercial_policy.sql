-- 0003: commercial policy: the reason and time of a client's state, its
-- operating hours, prepaid balances with their ledger, and when a client
-- first obtained a token (the janitor deletes dynamically registered
-- clients that never did).

ALTER TABLE clients ADD COLUMN state_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN state_changed_at INTEGER NOT NULL DEFAULT 0;
-- A JSON store.Schedule; NULL = none.
ALTER TABLE clients ADD COLUMN operating_hours TEXT;
ALTER TABLE clients ADD COLUMN metered INTEGER NOT NULL DEFAULT 0 CHECK (metered IN (0, 1));
ALTER TABLE clients ADD COLUMN overdraft INTEGER NOT NULL DEFAULT 0 CHECK (overdraft IN (0, 1));
ALTER TABLE clients ADD COLUMN balance INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN balance_updated_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN first_token_at INTEGER NOT NULL DEFAULT 0;

-- Clients from before this version count as having obtained a token (a
-- client-credentials JWT leaves no row, so "never" cannot be known): the
-- earliest token, family or spent code of theirs, else their creation,
-- else now. Otherwise the janitor would delete clients in use.
UPDATE clients SET first_token_at = COALESCE(
    (SELECT MIN(t) FROM (
        SELECT MIN(created_at) AS t FROM access_tokens WHERE client_id = clients.id AND created_at != 0
        UNION ALL SELECT MIN(created_at) FROM refresh_families WHERE client_id = clients.id AND created_at != 0
        UNION ALL SELECT MIN(used_at) FROM auth_codes WHERE client_id = clients.id AND used_at != 0)),
    NULLIF(created_at, 0),
    unixepoch() * 1000);
CREATE INDEX clients_unused ON clients (created_at) WHERE first_token_at = 0;

-- The pending-request cap counts per client and source address.
ALTER TABLE auth_requests ADD COLUMN source_address TEXT NOT NULL DEFAULT '';
CREATE INDEX auth_requests_pending ON auth_requests (client_id, source_address, expires_at);

-- Every change of a metered client's balance: top-ups, debits, token
-- charges, with the balance after it. seq is the order (and the list
-- cursor); an idempotency key applies once per client.
CREATE TABLE ledger (
    seq             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    client_id       TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('topup', 'debit', 'charge')),
    amount          INTEGER NOT NULL,
    balance         INTEGER NOT NULL,
    reason          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    grant_type      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX ledger_client ON ledger (client_id, seq);
CREATE UNIQUE INDEX ledger_idempotency ON ledger (client_id, idempotency_key) WHERE idempotency_key != '';

-- ListConnections pages newest first by (created_at, id).
CREATE INDEX connections_page ON connections (created_at, id);
