package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// What the backends' migration tests (migrate_test.go, which seed a
// database at each schema version with raw SQL) check through the Store
// after migrating, where both backends' seeds hold the same records.

// CheckMigratedBalance checks client c1 and its ledger as the seed of a
// version with 0003 (SQLite) or 0002 (PostgreSQL) stores them: a suspended,
// metered client with overdraft, operating hours, a balance of 42 from one
// top-up (ledger seq ledgerSeq, key order-1) and no first token; then that
// the data works: a replayed key, a new entry after the stored one, and
// the janitor's cleanup.
func CheckMigratedBalance(t *testing.T, s store.Store, stateChangedMS, balanceMS, ledgerSeq int64) {
	t.Helper()
	ctx := t.Context()
	c, err := s.GetClient(ctx, "c1")
	if err != nil || c.StateReason != "unpaid" || c.StateChangedAt.UnixMilli() != stateChangedMS || !c.Metered ||
		!c.Overdraft || c.Balance != 42 || c.BalanceUpdatedAt.UnixMilli() != balanceMS || !c.FirstTokenAt.IsZero() ||
		!reflect.DeepEqual(c.OperatingHours, &store.Schedule{TimeZone: "UTC", Weekly: map[string][]string{"mon": {"09:00-17:00"}}}) {
		t.Errorf("client: %+v, %v", c, err)
	}
	es, _, err := s.ListLedger(ctx, "c1", store.Page{})
	want := []store.LedgerEntry{{Seq: ledgerSeq, ID: "led_1", ClientID: "c1", Kind: store.LedgerTopUp, Amount: 42, Balance: 42,
		Reason: "prepaid", IdempotencyKey: "order-1", CreatedAt: time.UnixMilli(balanceMS).UTC()}}
	if err != nil || !reflect.DeepEqual(es, want) {
		t.Errorf("ledger:\n got %+v, %v\nwant %+v", es, err, want)
	}
	at := time.UnixMilli(balanceMS + 1000).UTC()
	if e, replayed, err := s.AdjustBalance(ctx, "c1", store.LedgerEntry{Kind: store.LedgerTopUp, Amount: 42,
		IdempotencyKey: "order-1", CreatedAt: at}); err != nil || !replayed || e != want[0] {
		t.Errorf("a stored key again: %+v, %v, %v", e, replayed, err)
	}
	if e, _, err := s.AdjustBalance(ctx, "c1", store.LedgerEntry{Kind: store.LedgerDebit, Amount: -50, CreatedAt: at}); err != nil ||
		e.Seq <= ledgerSeq || e.Balance != -8 {
		t.Errorf("a new entry: %+v, %v; want seq > %d, balance -8 (overdraft)", e, err, ledgerSeq)
	}
	// Metered, c1 is kept by the cleanup of unused clients (its
	// balance and ledger are an operator's); once not metered, it goes.
	if n, err := s.DeleteUnusedClients(ctx, "k", "v", at, 10); err != nil || n != 0 {
		t.Errorf("DeleteUnusedClients: %d, %v; want the metered c1 kept", n, err)
	}
	if _, err := s.UpdateClient(ctx, "c1", func(c *store.Client) error { c.Metered = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteUnusedClients(ctx, "k", "v", at, 10); err != nil || n != 1 {
		t.Errorf("DeleteUnusedClients: %d, %v; want c1 (no first token) deleted", n, err)
	}
}

// CheckClientBeforeBalances checks a client stored before the migration
// that added balances (SQLite's 0003, PostgreSQL's 0002): the fields it
// added take their defaults, but the client counts as having obtained a
// token at firstTokenMS (its earliest token, else its creation), so that
// the janitor does not delete it, and it has no ledger.
func CheckClientBeforeBalances(t *testing.T, s store.Store, c store.Client, firstTokenMS int64) {
	t.Helper()
	if c.StateReason != "" || !c.StateChangedAt.IsZero() || c.OperatingHours != nil || c.Metered || c.Overdraft ||
		c.Balance != 0 || !c.BalanceUpdatedAt.IsZero() || c.FirstTokenAt.UnixMilli() != firstTokenMS {
		t.Errorf("client %s: the balances migration's fields %q %v %v %v %v %d %v %v; want defaults, first token at %d",
			c.ID, c.StateReason, c.StateChangedAt, c.OperatingHours, c.Metered, c.Overdraft, c.Balance, c.BalanceUpdatedAt,
			c.FirstTokenAt, firstTokenMS)
	}
	if es, _, err := s.ListLedger(t.Context(), c.ID, store.Page{}); err != nil || len(es) != 0 {
		t.Errorf("ledger of client %s: %+v, %v", c.ID, es, err)
	}
	if n, err := s.DeleteUnusedClients(t.Context(), "k", "v", time.UnixMilli(1<<50), 10); err != nil || n != 0 {
		t.Errorf("DeleteUnusedClients of clients from before the balances migration: %d, %v; want none", n, err)
	}
}
