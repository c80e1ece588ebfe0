package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/store"
)

// Balances: the client row holds the balance, the ledger table every
// change of it. The sequences (a charge, an adjustment) are the store
// package's (store.RunAdjustBalance, Writes.Apply); this file has the
// statements they run on, and their locks (see the package doc).

const ledgerCols = `seq, id, client_id, kind, amount, balance, reason, idempotency_key, grant_type, created_at`

func scanLedgerEntry(row scanner) (e store.LedgerEntry, err error) {
	err = row.Scan(&e.Seq, &e.ID, &e.ClientID, &e.Kind, &e.Amount, &e.Balance, &e.Reason, &e.IdempotencyKey,
		&e.GrantType, tm(&e.CreatedAt))
	if err != nil {
		return store.LedgerEntry{}, mapErr(err)
	}
	return e, nil
}

// insertLedgerEntry stores e with its seq, or, when e.Seq is 0, with the
// identity's next one, and sets in e its seq and time as stored.
func insertLedgerEntry(ctx context.Context, tx querier, e *store.LedgerEntry) error {
	return mapErr(tx.QueryRow(ctx, `INSERT INTO ledger (`+ledgerCols+`)
		VALUES (COALESCE(NULLIF($1::bigint, 0), nextval(pg_get_serial_sequence('ledger', 'seq'))),
		$2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq, created_at`,
		e.Seq, e.ID, e.ClientID, e.Kind, e.Amount, e.Balance, e.Reason, e.IdempotencyKey, e.GrantType,
		ts(e.CreatedAt)).Scan(&e.Seq, tm(&e.CreatedAt)))
}

// AdjustBalance applies a top-up or a debit in one READ COMMITTED
// transaction (store.RunAdjustBalance), retried as writeTx does. It locks
// the client's row first (LockClient), so that concurrent adjustments with
// one idempotency key queue, and the second finds the first's entry.
func (s *Store) AdjustBalance(ctx context.Context, clientID string, e store.LedgerEntry) (stored store.LedgerEntry, replayed bool, err error) {
	defer s.clients.Forget(clientID)
	err = s.writeTx(ctx, func(tx pgx.Tx) (err error) {
		stored, replayed, err = store.RunAdjustBalance(ctx, lockTx{q: tx}, clientID, e)
		return err
	})
	return stored, replayed, err
}

// ListLedger lists a page of a client's ledger, newest first; the cursor is
// the last entry's seq.
func (s *Store) ListLedger(ctx context.Context, clientID string, p store.Page) ([]store.LedgerEntry, string, error) {
	return store.ReadLedgerPage(p, func(before int64, rows int) ([]store.LedgerEntry, error) {
		return queryRows(ctx, s.pool, scanLedgerEntry, `SELECT `+ledgerCols+` FROM ledger
			WHERE client_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, clientID, before, limit(rows))
	})
}

// The store.Writer and store.BalanceTx primitives on the client's row and
// the ledger.

var _ store.BalanceTx = lockTx{}

// AddToBalance is the conditional debit (or credit): one UPDATE, which
// takes the client's row lock (FOR NO KEY UPDATE: the token rows that
// reference the client still insert). Concurrent charges queue on it; when
// the one before commits, PostgreSQL re-reads the row for the next
// (EvalPlanQual), whose balance test then sees the new balance: the last
// credit goes to one of them, the others match no row.
func (l lockTx) AddToBalance(ctx context.Context, clientID string, amount int64, belowZero bool, at time.Time) (int64, bool, error) {
	q, err := l.now(ctx)
	if err != nil {
		return 0, false, err
	}
	var balance int64
	err = q.QueryRow(ctx, `UPDATE clients SET balance = balance + $2, balance_updated_at = $3
		WHERE id = $1 AND metered AND ($4 OR balance >= -$2::bigint) RETURNING balance`,
		clientID, amount, at.UTC(), belowZero).Scan(&balance)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return balance, err == nil, mapErr(err)
}

// LockClient locks the client's row FOR NO KEY UPDATE: balance changes of
// the client wait for this transaction.
func (l lockTx) LockClient(ctx context.Context, id string) (store.Client, error) {
	q, err := l.now(ctx)
	if err != nil {
		return store.Client{}, err
	}
	return scanClient(q.QueryRow(ctx, selectClient+` FOR NO KEY UPDATE`, id))
}

func (l lockTx) MarkFirstToken(ctx context.Context, clientID string, at time.Time) error {
	q, err := l.now(ctx)
	if err != nil {
		return err
	}
	n, err := exec(ctx, q, `UPDATE clients SET first_token_at = COALESCE(first_token_at, $2) WHERE id = $1`,
		clientID, at.UTC())
	if err == nil && n == 0 {
		return fmt.Errorf("%w: no client %s", store.ErrMissingParent, clientID)
	}
	return err
}

func (l lockTx) LedgerEntryByKey(ctx context.Context, clientID, key string) (store.LedgerEntry, error) {
	q, err := l.now(ctx)
	if err != nil {
		return store.LedgerEntry{}, err
	}
	return scanLedgerEntry(q.QueryRow(ctx, `SELECT `+ledgerCols+` FROM ledger
		WHERE client_id = $1 AND idempotency_key = $2`, clientID, key))
}
