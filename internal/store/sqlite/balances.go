package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Balances: the client row holds the balance, the ledger table every
// change of it. The sequences (a charge, an adjustment) are the store
// package's (store.RunAdjustBalance, Writes.Apply); this file has the
// statements they run on.

const ledgerCols = `seq, id, client_id, kind, amount, balance, reason, idempotency_key, grant_type, created_at`

func scanLedgerEntry(row scanner) (store.LedgerEntry, error) {
	var (
		e       store.LedgerEntry
		created int64
	)
	err := row.Scan(&e.Seq, &e.ID, &e.ClientID, &e.Kind, &e.Amount, &e.Balance, &e.Reason, &e.IdempotencyKey,
		&e.GrantType, &created)
	if err != nil {
		return store.LedgerEntry{}, mapErr(err)
	}
	e.CreatedAt = fromMS(created)
	return e, nil
}

// insertLedgerEntry stores e with its seq, or, when e.Seq is 0, with the
// next one (AUTOINCREMENT), and sets in e its seq and time as stored.
func insertLedgerEntry(ctx context.Context, tx *sql.Tx, e *store.LedgerEntry) error {
	var created int64
	err := tx.QueryRowContext(ctx, `INSERT INTO ledger (`+ledgerCols+`)
		VALUES (NULLIF(?, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq, created_at`,
		e.Seq, e.ID, e.ClientID, e.Kind, e.Amount, e.Balance, e.Reason, e.IdempotencyKey, e.GrantType,
		toMS(e.CreatedAt)).Scan(&e.Seq, &created)
	e.CreatedAt = fromMS(created)
	return mapErr(err)
}

// AdjustBalance applies a top-up or a debit in one write transaction
// (store.RunAdjustBalance).
func (s *Store) AdjustBalance(ctx context.Context, clientID string, e store.LedgerEntry) (stored store.LedgerEntry, replayed bool, err error) {
	defer s.clients.Forget(clientID)
	err = s.writeTx(ctx, func(tx *sql.Tx) (err error) {
		stored, replayed, err = store.RunAdjustBalance(ctx, grantTx{tx}, clientID, e)
		return err
	})
	return stored, replayed, err
}

// ListLedger lists a page of a client's ledger, newest first; the cursor is
// the last entry's seq.
func (s *Store) ListLedger(ctx context.Context, clientID string, p store.Page) ([]store.LedgerEntry, string, error) {
	return store.ReadLedgerPage(p, func(before int64, rows int) ([]store.LedgerEntry, error) {
		return queryRows(ctx, s.r, scanLedgerEntry, `SELECT `+ledgerCols+` FROM ledger
			WHERE client_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, clientID, before, limit(rows))
	})
}

// The store.Writer and store.BalanceTx primitives on the client's row and
// the ledger. The transaction holds SQLite's write lock from its start, so
// LockClient needs no lock of its own.

var _ store.BalanceTx = grantTx{}

func (g grantTx) AddToBalance(ctx context.Context, clientID string, amount int64, belowZero bool, at time.Time) (int64, bool, error) {
	var balance int64
	err := g.tx.QueryRowContext(ctx, `UPDATE clients SET balance = balance + ?, balance_updated_at = ?
		WHERE id = ? AND metered = 1 AND (? OR balance >= -?) RETURNING balance`,
		amount, toMS(at), clientID, belowZero, amount).Scan(&balance)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return balance, err == nil, mapErr(err)
}

func (g grantTx) LockClient(ctx context.Context, id string) (store.Client, error) {
	return scanClient(g.tx.QueryRowContext(ctx, selectClient, id))
}

func (g grantTx) MarkFirstToken(ctx context.Context, clientID string, at time.Time) error {
	n, err := exec(ctx, g.tx, `UPDATE clients SET first_token_at = CASE first_token_at WHEN 0 THEN ? ELSE first_token_at END
		WHERE id = ?`, toMS(at), clientID)
	if err == nil && n == 0 {
		return fmt.Errorf("%w: no client %s", store.ErrMissingParent, clientID)
	}
	return err
}

func (g grantTx) LedgerEntryByKey(ctx context.Context, clientID, key string) (store.LedgerEntry, error) {
	return scanLedgerEntry(g.tx.QueryRowContext(ctx, `SELECT `+ledgerCols+` FROM ledger
		WHERE client_id = ? AND idempotency_key = ?`, clientID, key))
}
