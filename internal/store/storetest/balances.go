package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// createMetered stores a metered client with balance (no overdraft, no
// first token yet).
func createMetered(t *testing.T, s store.Store, balance int64) store.Client {
	t.Helper()
	c := newMetered(balance)
	must(t, "CreateClient", s.CreateClient(t.Context(), c))
	return c
}

// wantBalance checks a client's balance (and, when updated is not zero,
// when it last changed).
func wantBalance(t *testing.T, s store.Store, what, clientID string, balance int64, updated time.Time) {
	t.Helper()
	c, err := s.GetClient(t.Context(), clientID)
	must(t, "GetClient", err)
	if c.Balance != balance {
		t.Errorf("%s: balance %d, want %d", what, c.Balance, balance)
	}
	if !updated.IsZero() {
		sameTime(t, what+": BalanceUpdatedAt", c.BalanceUpdatedAt, updated)
	}
}

func topUp(amount int64, key string, now time.Time) store.LedgerEntry {
	return store.LedgerEntry{Kind: store.LedgerTopUp, Amount: amount, Reason: "prepaid credits", IdempotencyKey: key,
		CreatedAt: now}
}

func debit(amount int64, key string, now time.Time) store.LedgerEntry {
	return store.LedgerEntry{Kind: store.LedgerDebit, Amount: -amount, Reason: "API calls", IdempotencyKey: key,
		CreatedAt: now}
}

// newCharge is a token's charge of cost to client.
func newCharge(clientID string, cost int64) *store.LedgerEntry {
	return &store.LedgerEntry{ClientID: clientID, Kind: store.LedgerCharge, Amount: -cost,
		Reason: "client_credentials token", GrantType: "client_credentials"}
}

// adjust runs AdjustBalance and fails the test if it fails.
func adjust(t *testing.T, s store.Store, clientID string, e store.LedgerEntry) (store.LedgerEntry, bool) {
	t.Helper()
	got, replayed, err := s.AdjustBalance(t.Context(), clientID, e)
	must(t, fmt.Sprintf("AdjustBalance(%s %+d)", e.Kind, e.Amount), err)
	return got, replayed
}

var balanceTests = []test{
	{"AdjustBalance", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createMetered(t, s, 0)
		now := at(time.Hour).In(elsewhere)
		up := topUp(50, "order-1", now)
		got, replayed := adjust(t, s, c.ID, up)
		want := up
		want.ClientID, want.Balance, want.Seq, want.ID = c.ID, 50, got.Seq, got.ID
		if replayed || got.Seq <= 0 || got.ID == "" {
			t.Errorf("AdjustBalance: replayed %v, seq %d, ID %q; want a new entry", replayed, got.Seq, got.ID)
		}
		same(t, "AdjustBalance(top-up)", got, want)
		wantBalance(t, s, "after a top-up", c.ID, 50, now)
		same(t, "ListLedger", listLedger(t, s, c.ID), []store.LedgerEntry{want})

		// The same key again: the first entry, applied once.
		again, replayed := adjust(t, s, c.ID, topUp(50, "order-1", at(2*time.Hour)))
		if !replayed {
			t.Errorf("AdjustBalance(the same key): not replayed")
		}
		same(t, "AdjustBalance(the same key)", again, want)
		wantBalance(t, s, "after a replayed top-up", c.ID, 50, now)
		for name, e := range map[string]store.LedgerEntry{
			"another amount": topUp(51, "order-1", now),
			"another kind":   debit(50, "order-1", now),
		} {
			_, _, err := s.AdjustBalance(ctx, c.ID, e)
			wantErr(t, "AdjustBalance(the same key, "+name+")", err, store.ErrConflict)
		}

		// Debits down to zero, not below.
		d, _ := adjust(t, s, c.ID, debit(20, "meter-1", at(3*time.Hour)))
		if d.Balance != 30 || d.Amount != -20 || d.Kind != store.LedgerDebit {
			t.Errorf("AdjustBalance(debit): %+v, want balance 30", d)
		}
		_, _, err := s.AdjustBalance(ctx, c.ID, debit(31, "meter-2", at(4*time.Hour)))
		wantErr(t, "AdjustBalance(a debit below zero)", err, store.ErrInsufficientBalance)
		wantBalance(t, s, "after a refused debit", c.ID, 30, at(3*time.Hour))
		d, _ = adjust(t, s, c.ID, debit(30, "", at(4*time.Hour)))
		if d.Balance != 0 {
			t.Errorf("AdjustBalance(debit to zero): balance %d", d.Balance)
		}
		// A refused key was not used: it applies later.
		adjust(t, s, c.ID, topUp(5, "meter-2", at(5*time.Hour)))
		wantBalance(t, s, "after a top-up", c.ID, 5, at(5*time.Hour))

		// With overdraft, a debit may go below zero; a top-up raises it
		// whatever it is.
		_, err = s.UpdateClient(ctx, c.ID, func(c *store.Client) error { c.Overdraft = true; return nil })
		must(t, "UpdateClient", err)
		d, _ = adjust(t, s, c.ID, debit(8, "meter-3", at(6*time.Hour)))
		if d.Balance != -3 {
			t.Errorf("AdjustBalance(overdraft): balance %d, want -3", d.Balance)
		}
		u, _ := adjust(t, s, c.ID, topUp(1, "", at(7*time.Hour)))
		if u.Balance != -2 {
			t.Errorf("AdjustBalance(top-up below zero): balance %d, want -2", u.Balance)
		}
		wantBalance(t, s, "at the end", c.ID, -2, at(7*time.Hour))

		// Keys are per client.
		o := createMetered(t, s, 0)
		if e, replayed := adjust(t, s, o.ID, topUp(7, "order-1", now)); replayed || e.Balance != 7 {
			t.Errorf("another client's key: %+v, replayed %v", e, replayed)
		}
		if n := len(listLedger(t, s, c.ID)); n != 6 {
			t.Errorf("ledger: %d entries, want 6", n)
		}
	}},
	{"AdjustBalanceRefuses", func(t *testing.T, s store.Store) {
		// Nothing is written for a refused adjustment.
		ctx := t.Context()
		c := createMetered(t, s, 10)
		free := createClient(t, s)
		_, err := s.UpdateClient(ctx, free.ID, func(c *store.Client) error { c.Metered = false; return nil })
		must(t, "UpdateClient", err)
		for name, tc := range map[string]struct {
			client string
			e      store.LedgerEntry
			want   error
		}{
			"no client":        {newUUID(), topUp(1, "", t0), store.ErrNotFound},
			"not metered":      {free.ID, topUp(1, "", t0), store.ErrNotMetered},
			"a zero amount":    {c.ID, topUp(0, "", t0), nil},
			"a negative topup": {c.ID, topUp(-1, "", t0), nil},
			"a positive debit": {c.ID, debit(-1, "", t0), nil},
			"a charge":         {c.ID, *newCharge(c.ID, 1), nil},
			"the zero time":    {c.ID, topUp(1, "", time.Time{}), nil},
			"another kind":     {c.ID, store.LedgerEntry{Kind: "gift", Amount: 1, CreatedAt: t0}, nil},
		} {
			_, _, err := s.AdjustBalance(ctx, tc.client, tc.e)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("AdjustBalance(%s): %v, want an error (%v)", name, err, tc.want)
			}
		}
		wantBalance(t, s, "after refused adjustments", c.ID, 10, time.Time{})
		for _, id := range []string{c.ID, free.ID} {
			if es := listLedger(t, s, id); len(es) != 0 {
				t.Errorf("ledger after refused adjustments: %+v", es)
			}
		}
	}},
	{"ListLedger", func(t *testing.T, s store.Store) {
		// Newest first, limit at a time; the cursor is the seq.
		ctx := t.Context()
		c, other := createMetered(t, s, 0), createMetered(t, s, 0)
		var want []store.LedgerEntry
		for i := range 5 {
			e, _ := adjust(t, s, c.ID, topUp(int64(i+1), fmt.Sprint("k", i), at(time.Duration(i)*time.Minute)))
			want = append([]store.LedgerEntry{e}, want...)
			adjust(t, s, other.ID, topUp(1, fmt.Sprint("k", i), t0))
		}
		same(t, "ListLedger", listLedger(t, s, c.ID), want)
		list := func(p store.Page) ([]store.LedgerEntry, string, error) { return s.ListLedger(ctx, c.ID, p) }
		for _, limit := range []int{1, 2, 5, 6} {
			var got []store.LedgerEntry
			for _, page := range walk(t, "ListLedger", limit, list) {
				got = append(got, page...)
			}
			same(t, fmt.Sprintf("ListLedger in pages of %d", limit), got, want)
		}
		page, next, err := s.ListLedger(ctx, c.ID, store.Page{Limit: 2})
		must(t, "ListLedger", err)
		if next != fmt.Sprint(want[1].Seq) || len(page) != 2 {
			t.Errorf("ListLedger cursor %q, want the seq %d as text", next, want[1].Seq)
		}
		for _, bad := range []string{"x", "-1", "1.5"} {
			_, _, err := s.ListLedger(ctx, c.ID, store.Page{After: bad})
			wantErr(t, "ListLedger(a bad cursor)", err, store.ErrInvalidCursor)
		}
		if es := listLedger(t, s, newUUID()); len(es) != 0 {
			t.Errorf("ListLedger(no client): %+v", es)
		}
	}},
	{"Charge", func(t *testing.T, s store.Store) {
		// A token's charge, in the decision that issues it (the zero key: a
		// client-credentials token).
		ctx := t.Context()
		c := createMetered(t, s, 5)
		now := at(time.Hour)
		tok := newCCToken(c.ID, now)
		charge := newCharge(c.ID, 3)
		charge.CreatedAt = at(-time.Hour) // the store stamps it At
		decide(t, s, store.GrantKey{}, store.Writes{At: now.In(elsewhere), Charge: charge, AccessToken: &tok})
		wantBalance(t, s, "after a charge", c.ID, 2, now)
		es := listLedger(t, s, c.ID)
		if len(es) != 1 {
			t.Fatalf("ledger after a charge: %+v", es)
		}
		want := *charge
		want.Seq, want.ID, want.Balance, want.CreatedAt = es[0].Seq, es[0].ID, 2, now
		same(t, "the charge's ledger entry", es[0], want)
		if es[0].Seq <= 0 || es[0].ID == "" {
			t.Errorf("the charge's entry: seq %d, ID %q", es[0].Seq, es[0].ID)
		}
		_, err := s.GetAccessToken(ctx, tok.ID)
		must(t, "GetAccessToken", err)

		// A charge alone (a client-credentials JWT writes nothing else).
		decide(t, s, store.GrantKey{}, store.Writes{At: now, Charge: newCharge(c.ID, 2)})
		wantBalance(t, s, "after a charge alone", c.ID, 0, now)

		// Not covered: nothing written, whatever the overdraft.
		_, err = s.UpdateClient(ctx, c.ID, func(c *store.Client) error { c.Overdraft = true; return nil })
		must(t, "UpdateClient", err)
		tok2 := newCCToken(c.ID, now)
		err = s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
			return store.Writes{At: at(2 * time.Hour), Charge: newCharge(c.ID, 1), AccessToken: &tok2, FirstTokenOf: c.ID}, nil
		})
		wantErr(t, "Decide(a charge not covered)", err, store.ErrInsufficientBalance)
		_, err = s.GetAccessToken(ctx, tok2.ID)
		wantErr(t, "GetAccessToken(not charged)", err, store.ErrNotFound)
		wantBalance(t, s, "after a refused charge", c.ID, 0, now)
		got, err := s.GetClient(ctx, c.ID)
		must(t, "GetClient", err)
		sameTime(t, "FirstTokenAt after a refused charge", got.FirstTokenAt, time.Time{})
		if n := len(listLedger(t, s, c.ID)); n != 2 {
			t.Errorf("ledger after a refused charge: %d entries, want 2", n)
		}
	}},
	{"ChargeOnARedemption", func(t *testing.T, s store.Store) {
		// A redemption the balance does not cover: the code stays unspent,
		// no grant row is written; once topped up, it goes through.
		ctx := t.Context()
		c := createMetered(t, s, 1)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		g := newCodeGrant(code, at(time.Second), store.RefreshRotating)
		g.Charge = newCharge(c.ID, 2)
		wantErr(t, "Decide(redeem, not covered)", s.Decide(ctx, codeKey(code), Redeem(g)), store.ErrInsufficientBalance)
		wantOnly(t, "the code after a refused charge", peek(t, s, codeKey(code)), store.Locked{Code: &code})
		_, _, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash)
		wantErr(t, "GetRefreshToken(not charged)", err, store.ErrNotFound)
		_, err = s.GetAccessToken(ctx, g.AccessToken.ID)
		wantErr(t, "GetAccessToken(not charged)", err, store.ErrNotFound)

		adjust(t, s, c.ID, topUp(1, "", at(2*time.Second)))
		must(t, "Decide(redeem)", s.Decide(ctx, codeKey(code), Redeem(g)))
		wantBalance(t, s, "after the redemption", c.ID, 0, at(time.Second))
		if l := peek(t, s, codeKey(code)); l.Code.UsedAt.IsZero() {
			t.Errorf("the code is not spent")
		}
		must(t, "GetAccessToken", errOf(s.GetAccessToken(ctx, g.AccessToken.ID)))
	}},
	{"ChargeRefuses", func(t *testing.T, s store.Store) {
		// A client that is no longer metered, or gone: the charge's error,
		// nothing written.
		ctx := t.Context()
		free := createClient(t, s)
		_, err := s.UpdateClient(ctx, free.ID, func(c *store.Client) error { c.Metered = false; return nil })
		must(t, "UpdateClient", err)
		gone := createMetered(t, s, 10)
		must(t, "DeleteClient", s.DeleteClient(ctx, gone.ID))
		for _, tc := range []struct {
			name string
			c    store.Client
			want error
		}{{"not metered", free, store.ErrNotMetered}, {"deleted", gone, store.ErrMissingParent}} {
			tok := newCCToken(tc.c.ID, t0)
			err := s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
				return store.Writes{At: t0, Charge: newCharge(tc.c.ID, 1), AccessToken: &tok}, nil
			})
			wantErr(t, "Decide(a charge, "+tc.name+")", err, tc.want)
			_, err = s.GetAccessToken(ctx, tok.ID)
			wantErr(t, "GetAccessToken", err, store.ErrNotFound)
		}
		// A malformed charge is refused before anything is written.
		c := createMetered(t, s, 10)
		bad := newCharge(c.ID, 1)
		bad.Amount = 1
		if err := s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
			return store.Writes{At: t0, Charge: bad}, nil
		}); err == nil {
			t.Errorf("Decide(a charge that adds): no error")
		}
		wantBalance(t, s, "after a malformed charge", c.ID, 10, time.Time{})
	}},
	{"FirstTokenOf", func(t *testing.T, s store.Store) {
		// Set once, to the first time.
		ctx := t.Context()
		c := createMetered(t, s, 0)
		decide(t, s, store.GrantKey{}, store.Writes{At: at(time.Hour).In(elsewhere), FirstTokenOf: c.ID})
		decide(t, s, store.GrantKey{}, store.Writes{At: at(2 * time.Hour), FirstTokenOf: c.ID})
		got, err := s.GetClient(ctx, c.ID)
		must(t, "GetClient", err)
		sameTime(t, "FirstTokenAt", got.FirstTokenAt, at(time.Hour))
		want := c
		want.FirstTokenAt = at(time.Hour)
		same(t, "the client after its first token", got, want)

		must(t, "DeleteClient", s.DeleteClient(ctx, c.ID))
		err = s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
			return store.Writes{At: at(3 * time.Hour), FirstTokenOf: c.ID}, nil
		})
		wantErr(t, "Decide(first token of a deleted client)", err, store.ErrMissingParent)
		err = s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
			return store.Writes{FirstTokenOf: c.ID}, nil
		})
		if err == nil {
			t.Errorf("Decide(first token at the zero time): no error")
		}
	}},
}

// errOf drops a value, keeping its error.
func errOf[T any](_ T, err error) error { return err }
