package storetest

import (
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
		ctx := t.Context()
		c := createClient(t, s)
		code := newCode(c.ID, "")
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code, nil))
		g := newCodeGrant(code, at(time.Second), store.RefreshRotating)
		var checks atomic.Int32
		errs := race(goroutines, func(int) error {
			_, err := s.RedeemAuthCode(ctx, code.Hash, at(time.Second), func(store.AuthCode, *store.Connection) (store.CodeGrant, error) {
				checks.Add(1)
				return g, nil
			})
			return err
		})
		tally(t, "RedeemAuthCode", errs, store.ErrAlreadyUsed)
		if n := checks.Load(); n != 1 {
			t.Errorf("check ran %d times, want 1", n)
		}
		// Every loser was a replay, so the grant ends revoked.
		if f := familyOf(t, s, g.RefreshToken.Hash); f.RevokedAt.IsZero() {
			t.Errorf("family not revoked after replays")
		}
		wantRevoked(t, s, "grant's access token", g.AccessToken.ID, true)
	}},
	{"RefreshOneToken", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		g := issueGrant(t, s, c.ID, nil, store.RefreshRotating)
		now := at(time.Hour)
		newTokens := make([]store.RefreshGrant, goroutines)
		for i := range newTokens {
			newTokens[i], _ = rotate(g, now, nil, nil, nil)
		}
		var checks atomic.Int32
		errs := race(goroutines, func(i int) error {
			_, err := s.Refresh(ctx, g.RefreshToken.Hash, now,
				func(store.RefreshFamily, store.RefreshToken, *store.Connection) (store.RefreshGrant, error) {
					checks.Add(1)
					return newTokens[i], nil
				})
			return err
		})
		tally(t, "Refresh", errs, store.ErrRefreshReused)
		if n := checks.Load(); n != 1 {
			t.Errorf("check ran %d times, want 1", n)
		}
		for i, err := range errs {
			if err == nil {
				_, err := s.Refresh(ctx, newTokens[i].NewToken.Hash, now, noRefreshCheck(t))
				wantErr(t, "Refresh(winner's new token)", err, store.ErrRevoked)
				wantRevoked(t, s, "winner's access token", newTokens[i].AccessToken.ID, true)
			}
		}
		if f := familyOf(t, s, g.RefreshToken.Hash); f.RevokedAt.IsZero() {
			t.Errorf("family not revoked after reuse")
		}
	}},
	{"ConsumeOneAuthRequest", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := createClient(t, s)
		r := newAuthRequest(c.ID)
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
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
				rg, check := rotate(g, at(time.Hour), nil, nil, nil)
				if _, err := s.Refresh(ctx, g.RefreshToken.Hash, at(time.Hour), check); err != nil {
					return err
				}
				_, err := s.GetAccessToken(ctx, rg.AccessToken.ID)
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
