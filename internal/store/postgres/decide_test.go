package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres/pgtest"
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

// TestDecideMissKeepsPreparedStatements: a decision on a token that does
// not exist (a guess) answers ErrNotFound without dropping its
// connection's prepared statements, so guesses cost later decisions no
// prepares.
func TestDecideMissKeepsPreparedStatements(t *testing.T) {
	schema, _ := pgtest.Schema(t)
	s, err := Open(t.Context(), pgtest.BaseDSN(t), Options{Schema: schema, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	c := testClient(t, s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	code := testCode(c.ID, "", "")
	if err := s.CreateAuthCode(ctx, code, nil); err != nil {
		t.Fatal(err)
	}
	w := grantOf(code, now)
	if err := s.Decide(ctx, store.GrantKey{CodeHash: code.Hash}, func(store.Locked) (store.Writes, error) { return w, nil }); err != nil {
		t.Fatal(err)
	}
	cached := func() int {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cached() // prepares its own query
	before := cached()
	for _, key := range []store.GrantKey{{RefreshHash: store.Hash("guessed")}, {CodeHash: store.Hash("guessed")}} {
		err := s.Decide(ctx, key, func(store.Locked) (store.Writes, error) {
			t.Error("decide ran for a key that names nothing")
			return store.Writes{}, nil
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Decide(%x…): %v, want ErrNotFound", key.RefreshHash, err)
		}
	}
	if after := cached(); after < before {
		t.Errorf("%d prepared statements after the misses, %d before", after, before)
	}
}

// TestDecideCallerGoneWritesNothing: a caller whose context ends before
// the writes are sent gets its context's error, and nothing is written.
func TestDecideCallerGoneWritesNothing(t *testing.T) {
	s := instances(t, 1)[0]
	c := testClient(t, s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	code := testCode(c.ID, "", "")
	if err := s.CreateAuthCode(t.Context(), code, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	w := grantOf(code, now)
	err := s.Decide(ctx, store.GrantKey{CodeHash: code.Hash}, func(store.Locked) (store.Writes, error) {
		cancel() // the caller goes while its decision is made
		return w, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Decide: %v, want context.Canceled", err)
	}
	err = s.Decide(t.Context(), store.GrantKey{CodeHash: code.Hash}, func(l store.Locked) (store.Writes, error) {
		if !l.Code.UsedAt.IsZero() {
			t.Error("the code was spent by a decision whose caller had gone")
		}
		return store.Writes{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.GetRefreshToken(t.Context(), w.RefreshToken.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refresh token of a decision whose caller had gone: %v, want ErrNotFound", err)
	}
}
