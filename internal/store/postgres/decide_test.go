package postgres

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/store"
)

// TestDecideRollsBackOnItsConnection: a decision runs its transaction in
// pipelines on one connection of the pool (decideOnce). Whatever ends it
// (a write the server refuses, a write whose result says no, decide
// panicking), the transaction is rolled back on that connection, which goes
// back to the pool fit for use: no new connection is opened, the code the
// failed decisions locked is neither spent nor held, and the decision that
// follows redeems it.
func TestDecideRollsBackOnItsConnection(t *testing.T) {
	s := instances(t, 1)[0]
	ctx := t.Context()
	c, gone := testClient(t, s), testClient(t, s)
	if err := s.DeleteClient(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	taken := store.AccessToken{ID: uuid.NewString(), ClientID: c.ID, Format: store.TokenFormatOpaque,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
		return store.Writes{At: now, AccessToken: &taken}, nil
	}); err != nil {
		t.Fatal(err)
	}
	code := testCode(c.ID, "", "")
	if err := s.CreateAuthCode(ctx, code, nil); err != nil {
		t.Fatal(err)
	}
	key := store.GrantKey{CodeHash: code.Hash}
	conns := s.pool.Stat().NewConnsCount()

	for _, tc := range []struct {
		name  string
		write func(w *store.Writes)
		want  error
	}{
		{"a duplicate access token (the server's error, in the pipeline)", func(w *store.Writes) {
			w.AccessToken.ID = taken.ID
		}, store.ErrConflict},
		{"the first token of a deleted client (a result that says no)", func(w *store.Writes) {
			w.FirstTokenOf = gone.ID
		}, store.ErrMissingParent},
		{"a charge of a client that is not metered (a result, then a read)", func(w *store.Writes) {
			w.Charge = &store.LedgerEntry{Kind: store.LedgerCharge, ClientID: c.ID, Amount: -1}
		}, store.ErrNotMetered},
	} {
		err := s.Decide(ctx, key, func(l store.Locked) (store.Writes, error) {
			if l.Code == nil || !l.Code.UsedAt.IsZero() {
				t.Errorf("%s: locked %+v, want the unspent code", tc.name, l.Code)
			}
			w := grantOf(code, now)
			tc.write(&w)
			return w, nil
		})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("decide's panic did not come through")
			}
		}()
		_ = s.Decide(ctx, key, func(store.Locked) (store.Writes, error) { panic("decide") })
	}()

	if got := s.pool.Stat().NewConnsCount(); got != conns {
		t.Errorf("%d connections opened by failed decisions, want 0: a connection went back in a transaction", got-conns)
	}
	w := grantOf(code, now)
	if err := s.Decide(ctx, key, func(l store.Locked) (store.Writes, error) {
		if l.Code == nil || !l.Code.UsedAt.IsZero() {
			t.Errorf("after the failures: locked %+v, want the unspent code", l.Code)
		}
		return w, nil
	}); err != nil {
		t.Fatalf("the decision after the failures: %v", err)
	}
	if _, _, err := s.GetRefreshToken(ctx, w.RefreshToken.Hash); err != nil {
		t.Errorf("the grant written after the failures: %v", err)
	}
}
