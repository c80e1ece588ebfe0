package storetest

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// goroutines is how many callers race on one record. Kept modest: the suite
// also runs under -race, where an embedded database is slow.
const goroutines = 50

// race runs fn from n goroutines released at once and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// tally checks that exactly one error is nil and every other is loser.
func tally(t *testing.T, what string, errs []error, loser error) {
	t.Helper()
	wins, losses := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, loser):
			losses++
		default:
			t.Errorf("%s: unexpected error: %v", what, err)
		}
	}
	if wins != 1 || losses != len(errs)-1 {
		t.Errorf("%s: %d succeeded and %d got %v, want 1 and %d", what, wins, losses, loser, len(errs)-1)
	}
}

var concurrencyTests = []test{
	{"RedeemOneCode", func(t *testing.T, s store.Store) {
		// Many redemptions of one code, deciding as the core does (Redeem):
		// one sees the code unused and spends it; every other sees it spent
		// and revokes the grant.
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		g := newCodeGrant(code, at(time.Second), store.RefreshRotating)
		var unused atomic.Int32
		errs := race(goroutines, func(int) error {
			return s.Decide(ctx, codeKey(code), func(l store.Locked) (store.Writes, error) {
				if l.Code.UsedAt.IsZero() {
					unused.Add(1)
				}
				return Redeem(g)(l)
			})
		})
		tally(t, "Decide(one code)", errs, ErrReplayed)
		if n := unused.Load(); n != 1 {
			t.Errorf("%d decisions saw the code unused, want 1", n)
		}
		// Every loser revoked the grant the winner wrote.
		if f := familyOf(t, s, g.RefreshToken.Hash); f.RevokedAt.IsZero() {
			t.Errorf("family not revoked after replays")
		}
		wantRevoked(t, s, "grant's access token", g.AccessToken.ID, true)
	}},
	{"RefreshOneToken", func(t *testing.T, s store.Store) {
		// Many refreshes of one token (Refresh): one rotates it; every other
		// sees it rotated and revokes the family, with what the winner
		// issued.
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		now := at(time.Hour)
		rotations := make([]store.Writes, goroutines)
		for i := range rotations {
			rotations[i] = rotate(g, now)
		}
		var current atomic.Int32
		errs := race(goroutines, func(i int) error {
			return s.Decide(ctx, refreshKey(g.RefreshToken.Hash), func(l store.Locked) (store.Writes, error) {
				if l.RefreshToken.UsedAt.IsZero() {
					current.Add(1)
				}
				return Refresh(rotations[i])(l)
			})
		})
		tally(t, "Decide(one refresh token)", errs, ErrReused)
		if n := current.Load(); n != 1 {
			t.Errorf("%d decisions saw the token current, want 1", n)
		}
		for i, err := range errs {
			if err == nil {
				l := peek(t, s, refreshKey(rotations[i].RefreshToken.Hash))
				if l.Family.RevokedAt.IsZero() {
					t.Errorf("the winner's new token: its family is not revoked")
				}
				wantRevoked(t, s, "winner's access token", rotations[i].AccessToken.ID, true)
				// The spent token keeps the winner's retry answer, written
				// with its rotation; a loser's revocation leaves it.
				if l := peek(t, s, refreshKey(g.RefreshToken.Hash)); !bytes.Equal(l.RefreshToken.Retry, rotations[i].Retry) {
					t.Errorf("the spent token's Retry = %q, want the winner's %q", l.RefreshToken.Retry, rotations[i].Retry)
				}
			}
		}
		if f := familyOf(t, s, g.RefreshToken.Hash); f.RevokedAt.IsZero() {
			t.Errorf("family not revoked after reuse")
		}
	}},
	{"DecideRacesRevokeConnection", func(t *testing.T, s store.Store) {
		// A redemption and a revocation of its connection at once. Whichever
		// goes first, no live token survives on the revoked connection: the
		// redemption sees the connection revoked (and refuses, as the core
		// does), or commits first and the revocation then revokes what it
		// wrote.
		ctx := t.Context()
		c := createClient(t, s)
		errRefused := errors.New("connection not active")
		for range 10 {
			conn := newConnection(c.ID, t0)
			code := newCode(c.ID, conn.ID)
			must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, &conn))
			g := newCodeGrant(code, at(time.Second), store.RefreshRotating)
			errs := race(2, func(i int) error {
				if i == 1 {
					_, err := s.RevokeConnection(ctx, conn.ID, at(time.Second))
					return err
				}
				return s.Decide(ctx, codeKey(code), func(l store.Locked) (store.Writes, error) {
					if l.Connection == nil || l.Connection.Status != store.ConnectionActive {
						return store.Writes{}, errRefused
					}
					return Redeem(g)(l)
				})
			})
			must(t, "RevokeConnection", errs[1])
			switch {
			case errors.Is(errs[0], errRefused):
			case errs[0] == nil:
				if f := familyOf(t, s, g.RefreshToken.Hash); f.RevokedAt.IsZero() {
					t.Errorf("family written before the revocation: not revoked")
				}
				wantRevokedAt(t, s, "access token written before the revocation", g.AccessToken.ID, at(time.Second))
			default:
				t.Fatalf("Decide: %v", errs[0])
			}
		}
	}},
	{"DecideRacesDeleteClient", func(t *testing.T, s store.Store) {
		// A redemption and the deletion of its client at once: the
		// redemption finds the code gone, or its writes fail for the gone
		// client, or it commits first and the deletion takes what it wrote.
		// (In PostgreSQL the two may deadlock: the cascade wants the code
		// the redemption holds, the redemption's inserts the client row the
		// delete holds. The deadlock detector fails one, after its
		// deadlock_timeout, and the retry runs it again: a few rounds only.)
		ctx := t.Context()
		for range 3 {
			c := createClient(t, s)
			code := newCode(c.ID, "")
			must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
			g := newCodeGrant(code, at(time.Second), store.RefreshRotating)
			errs := race(2, func(i int) error {
				if i == 1 {
					return s.DeleteClient(ctx, c.ID)
				}
				return s.Decide(ctx, codeKey(code), Redeem(g))
			})
			must(t, "DeleteClient", errs[1])
			if err := errs[0]; err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrMissingParent) {
				t.Fatalf("Decide: %v, want success, ErrNotFound or ErrMissingParent", err)
			}
			_, _, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash)
			wantErr(t, "GetRefreshToken after DeleteClient", err, store.ErrNotFound)
			_, err = s.GetAccessToken(ctx, g.AccessToken.ID)
			wantErr(t, "GetAccessToken after DeleteClient", err, store.ErrNotFound)
		}
	}},
	{"ChargeTheLastCredit", func(t *testing.T, s store.Store) {
		// 100 client-credentials tokens (the zero key) race for the last
		// credit: one is charged and recorded, every other gets
		// ErrInsufficientBalance and writes nothing.
		ctx := t.Context()
		c := createMetered(t, s, 1)
		const n = 100
		toks := make([]store.AccessToken, n)
		for i := range toks {
			toks[i] = newCCToken(c.ID, at(time.Second))
		}
		errs := race(n, func(i int) error {
			return s.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
				return store.Writes{At: at(time.Second), Charge: newCharge(c.ID, 1), AccessToken: &toks[i],
					FirstTokenOf: c.ID}, nil
			})
		})
		tally(t, "Decide(charge the last credit)", errs, store.ErrInsufficientBalance)
		wantBalance(t, s, "after the race", c.ID, 0, at(time.Second))
		if es := listLedger(t, s, c.ID); len(es) != 1 || es[0].Kind != store.LedgerCharge || es[0].Balance != 0 {
			t.Errorf("ledger after the race: %+v, want one charge", es)
		}
		recorded := 0
		for i, tok := range toks {
			_, err := s.GetAccessToken(ctx, tok.ID)
			switch {
			case err == nil:
				recorded++
				if errs[i] != nil {
					t.Errorf("the token of a refused charge is recorded")
				}
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("GetAccessToken: %v", err)
			}
		}
		if recorded != 1 {
			t.Errorf("%d access-token records, want 1", recorded)
		}
	}},
	{"RedeemForTheLastCredit", func(t *testing.T, s store.Store) {
		// Redemptions of different codes of one metered client race for its
		// last credit: one is charged and spends its code; every other gets
		// ErrInsufficientBalance, its code stays unspent and nothing of its
		// grant is written.
		ctx := t.Context()
		c := createMetered(t, s, 1)
		grants := make([]store.Writes, goroutines)
		codes := make([]store.AuthCode, goroutines)
		for i := range codes {
			codes[i] = newCode(c.ID, "")
			must(t, "CreateAuthCode", s.CreateAuthCode(ctx, codes[i], nil))
			grants[i] = newCodeGrant(codes[i], at(time.Second), store.RefreshRotating)
			grants[i].Charge = newCharge(c.ID, 1)
		}
		errs := race(goroutines, func(i int) error {
			return s.Decide(ctx, codeKey(codes[i]), Redeem(grants[i]))
		})
		tally(t, "Decide(redeem for the last credit)", errs, store.ErrInsufficientBalance)
		wantBalance(t, s, "after the race", c.ID, 0, at(time.Second))
		if es := listLedger(t, s, c.ID); len(es) != 1 {
			t.Errorf("ledger after the race: %+v, want one charge", es)
		}
		for i, err := range errs {
			spent := !peek(t, s, codeKey(codes[i])).Code.UsedAt.IsZero()
			_, _, rerr := s.GetRefreshToken(ctx, grants[i].RefreshToken.Hash)
			_, aerr := s.GetAccessToken(ctx, grants[i].AccessToken.ID)
			if won := err == nil; spent != won || (rerr == nil) != won || (aerr == nil) != won {
				t.Errorf("redemption %d (error %v): code spent %v, refresh token %v, access token %v", i, err, spent, rerr, aerr)
			}
		}
	}},
	{"AdjustBalanceOnce", func(t *testing.T, s store.Store) {
		// One top-up posted many times at once with one idempotency key
		// applies once; every caller gets the same entry.
		ctx := t.Context()
		c := createMetered(t, s, 0)
		const n = 20
		got := make([]store.LedgerEntry, n)
		var fresh atomic.Int32
		errs := race(n, func(i int) error {
			e, replayed, err := s.AdjustBalance(ctx, c.ID, topUp(5, "order-1", at(time.Second)))
			if err == nil && !replayed {
				fresh.Add(1)
			}
			got[i] = e
			return err
		})
		for _, err := range errs {
			must(t, "AdjustBalance", err)
		}
		if fresh.Load() != 1 {
			t.Errorf("%d top-ups applied, want 1", fresh.Load())
		}
		for _, e := range got {
			same(t, "the entry each caller got", e, got[0])
		}
		wantBalance(t, s, "after the top-ups", c.ID, 5, at(time.Second))
	}},
	{"CreateAuthRequestsCapped", func(t *testing.T, s store.Store) {
		// Many requests of one client at once, with a cap of 5: 5 are
		// stored, every other gets ErrTooMany.
		ctx := t.Context()
		c := createClient(t, s)
		const n, maxPending = 20, 5
		errs := race(n, func(int) error { return s.CreateAuthRequest(ctx, newAuthRequest(c.ID), maxPending) })
		stored := 0
		for _, err := range errs {
			switch {
			case err == nil:
				stored++
			case !errors.Is(err, store.ErrTooMany):
				t.Errorf("CreateAuthRequest: %v", err)
			}
		}
		if stored != maxPending {
			t.Errorf("%d requests stored, want %d", stored, maxPending)
		}
	}},
	{"ConsumeOneAuthRequest", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		r := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r, 0))
		errs := race(goroutines, func(int) error {
			_, err := s.ConsumeAuthRequest(ctx, r.ID, at(time.Minute))
			return err
		})
		tally(t, "ConsumeAuthRequest", errs, store.ErrNotFound)
	}},
	{"UpdateOneClient", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		const n = 20
		errs := race(n, func(int) error {
			_, err := s.UpdateClient(ctx, c.ID, func(cur *store.Client) error {
				k, _ := strconv.Atoi(cur.Metadata["n"])
				cur.Metadata["n"] = strconv.Itoa(k + 1)
				return nil
			})
			return err
		})
		for _, err := range errs {
			must(t, "UpdateClient", err)
		}
		got, err := s.GetClient(ctx, c.ID)
		must(t, "GetClient", err)
		if got.Metadata["n"] != strconv.Itoa(n) {
			t.Errorf("after %d concurrent increments: n = %q", n, got.Metadata["n"])
		}
	}},
	{"ReadsDuringWrites", func(t *testing.T, s store.Store) {
		// Readers and writers on different records at once: no errors.
		ctx := t.Context()
		c := createClient(t, s)
		const n = 10
		grants := make([]grant, n)
		for i := range grants {
			grants[i] = issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		}
		errs := race(2*n, func(i int) error {
			g := grants[i%n]
			if i < n {
				w := rotate(g, at(time.Hour))
				if err := s.Decide(ctx, refreshKey(g.RefreshToken.Hash), Refresh(w)); err != nil {
					return err
				}
				_, err := s.GetAccessToken(ctx, w.AccessToken.ID)
				return err
			}
			for range 5 {
				if _, _, err := s.GetRefreshToken(ctx, g.RefreshToken.Hash); err != nil {
					return err
				}
				if _, err := s.GetClient(ctx, c.ID); err != nil {
					return err
				}
			}
			return nil
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
	}},
	{"ClaimEventsOnce", func(t *testing.T, s store.Store) {
		// 8 claimers (8 instances' workers) at once, each claiming a few
		// events, recording them delivered, and claiming again until it
		// gets nothing: no event is claimed twice (the clock stands still,
		// so no lease ends), each connection's events come in order, and
		// every event is claimed.
		ctx := t.Context()
		c := createClient(t, s)
		const conns, claimers = 12, 8
		want := map[int64]string{} // seq -> connection
		for i := range conns {
			conn := newConnection(c.ID, t0)
			createConnection(t, s, conn)
			_, err := s.RevokeConnection(ctx, conn.ID, at(time.Duration(i+1)*time.Second))
			must(t, "RevokeConnection", err)
			for _, e := range wantTypes(t, s, "events", conn.ID, store.EventConnectionCreated, store.EventConnectionRevoked) {
				want[e.Seq] = conn.ID
			}
		}
		now := at(time.Hour)
		var (
			mu     sync.Mutex
			got    = map[int64]int{}      // seq -> times claimed
			byConn = map[string][]int64{} // connection -> seqs in claim order
		)
		errs := race(claimers, func(int) error {
			for {
				es, err := s.ClaimEvents(ctx, now, time.Minute, 2)
				if err != nil || len(es) == 0 {
					return err
				}
				mu.Lock()
				for _, e := range es {
					got[e.Seq]++
					byConn[e.ConnectionID] = append(byConn[e.ConnectionID], e.Seq)
				}
				mu.Unlock()
				for _, e := range es {
					if err := s.MarkEventDelivered(ctx, e.Seq, now, false); err != nil {
						return err
					}
				}
			}
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("claimer %d: %v", i, err)
			}
		}
		for seq, n := range got {
			if n != 1 {
				t.Errorf("event %d claimed %d times", seq, n)
			}
			if _, ok := want[seq]; !ok {
				t.Errorf("event %d claimed, not one of the test's", seq)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%d of %d events claimed", len(got), len(want))
		}
		for conn, seqs := range byConn {
			if !slices.IsSorted(seqs) {
				t.Errorf("connection %s: claimed in the order %v", conn, seqs)
			}
		}
		if es := claim(t, s, now.Add(time.Hour), 100); len(es) != 0 {
			t.Errorf("after the claimers: %d events still to claim", len(es))
		}
	}},
}
