package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
)

// A metered client's balance changes in two ways, both written here once
// over a backend's primitives (Writer): a token's charge, inside the
// transaction that issues the token (Writes.Charge, applied by
// Writes.Apply), and an operator's top-up or a resource server's debit
// (Balances.AdjustBalance, which every backend runs as RunAdjustBalance in
// its write transaction). Each change is one conditional update of the
// client's row and one ledger entry, in the same transaction.

// BalanceTx is a backend's write transaction as RunAdjustBalance uses it.
type BalanceTx interface {
	Writer
	// LedgerEntryByKey returns the client's ledger entry with that
	// idempotency key; ErrNotFound when there is none.
	LedgerEntryByKey(ctx context.Context, clientID, key string) (LedgerEntry, error)
}

// RunAdjustBalance is Balances.AdjustBalance inside a backend's write
// transaction: it locks the client's row (LockClient), checks that the
// client is metered, answers a replayed idempotency key with the first
// entry, and otherwise applies the entry. A top-up may leave the balance
// below zero (it only raises it); a debit may take it there only when the
// client allows overdraft. An error must roll the transaction back.
func RunAdjustBalance(ctx context.Context, tx BalanceTx, clientID string, e LedgerEntry) (stored LedgerEntry, replayed bool, err error) {
	switch {
	case !(e.Kind == LedgerTopUp && e.Amount > 0) && !(e.Kind == LedgerDebit && e.Amount < 0):
		return LedgerEntry{}, false, fmt.Errorf("store: AdjustBalance with a %q of %d: want a %q above 0 or a %q below 0",
			e.Kind, e.Amount, LedgerTopUp, LedgerDebit)
	case e.CreatedAt.IsZero():
		return LedgerEntry{}, false, errors.New("store: AdjustBalance at the zero time")
	}
	c, err := tx.LockClient(ctx, clientID)
	if err != nil {
		return LedgerEntry{}, false, err
	}
	if !c.Metered {
		return LedgerEntry{}, false, fmt.Errorf("%w: client %s", ErrNotMetered, clientID)
	}
	if e.IdempotencyKey != "" {
		first, err := tx.LedgerEntryByKey(ctx, clientID, e.IdempotencyKey)
		switch {
		case err == nil && (first.Kind != e.Kind || first.Amount != e.Amount):
			return LedgerEntry{}, false, fmt.Errorf("%w: idempotency key %q was a %s of %d, not a %s of %d",
				ErrConflict, e.IdempotencyKey, first.Kind, first.Amount, e.Kind, e.Amount)
		case err == nil:
			return first, true, nil
		case !errors.Is(err, ErrNotFound):
			return LedgerEntry{}, false, err
		}
	}
	if (e.Amount > 0 && c.Balance > math.MaxInt64-e.Amount) || (e.Amount < 0 && c.Balance < math.MinInt64-e.Amount) {
		return LedgerEntry{}, false, fmt.Errorf("store: AdjustBalance: a balance of %d%+d is out of range", c.Balance, e.Amount)
	}
	e.ClientID = clientID
	stored, err = post(ctx, tx, e, e.Kind == LedgerTopUp || c.Overdraft)
	return stored, false, err
}

// post applies e.Amount to the balance of client e.ClientID at
// e.CreatedAt, unless that would take it below zero and belowZero is
// false, and appends e, with the store's ID, Seq and the balance after, to
// the ledger. It returns e as stored. When the balance does not change it
// says why: ErrMissingParent (no such client), ErrNotMetered, or
// ErrInsufficientBalance.
func post(ctx context.Context, tx Writer, e LedgerEntry, belowZero bool) (LedgerEntry, error) {
	balance, ok, err := tx.AddToBalance(ctx, e.ClientID, e.Amount, belowZero, e.CreatedAt)
	if err != nil {
		return LedgerEntry{}, err
	}
	if !ok {
		c, err := tx.LockClient(ctx, e.ClientID)
		switch {
		case errors.Is(err, ErrNotFound):
			return LedgerEntry{}, fmt.Errorf("%w: client %s", ErrMissingParent, e.ClientID)
		case err != nil:
			return LedgerEntry{}, err
		case !c.Metered:
			return LedgerEntry{}, fmt.Errorf("%w: client %s", ErrNotMetered, e.ClientID)
		}
		return LedgerEntry{}, fmt.Errorf("%w: client %s has %d, a %s of %d", ErrInsufficientBalance, e.ClientID,
			c.Balance, e.Kind, e.Amount)
	}
	e.Seq, e.ID, e.Balance = 0, newLedgerID(), balance
	if err := tx.Put(ctx, Record{LedgerEntry: &e}); err != nil {
		return LedgerEntry{}, err
	}
	return e, nil
}

func newLedgerID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "led_" + hex.EncodeToString(b[:])
}
