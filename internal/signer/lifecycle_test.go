package signer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// clock is a fake clock for the lifecycle: the tests move it, never sleep.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newSignerWith(t testing.TB, o Options) *Signer {
	t.Helper()
	s, err := New(t.Context(), o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// signUntil signs a token of alg ("" = the default) that expires at exp.
func signUntil(t testing.TB, s *Signer, alg string, exp time.Time) string {
	t.Helper()
	tok, err := s.Sign(t.Context(), alg, testClaims{Sub: "u", Exp: exp.Unix()})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// states maps each key of s to its state now.
func states(s *Signer) map[string]string {
	out := map[string]string{}
	for _, k := range s.Keys() {
		out[k.KID] = k.State
	}
	return out
}

func maintain(t testing.TB, s ...*Signer) {
	t.Helper()
	for _, x := range s {
		if err := x.Maintain(t.Context()); err != nil {
			t.Fatalf("Maintain: %v", err)
		}
	}
}

func inJWKS(t *testing.T, s *Signer, kid string) bool {
	t.Helper()
	_, ok := jwksKeys(t, s.JWKS())[kid]
	return ok
}

const testDelay = 3 * time.Minute

// TestLifecycle follows one key through next, current, retired and deleted.
func TestLifecycle(t *testing.T) {
	ctx := t.Context()
	clk, st := newClock(), &memStore{}
	s := newSignerWith(t, Options{Store: st, KEK: testKEK(t), Algorithm: ES256, PublicationDelay: testDelay, Now: clk.Now})
	t0 := clk.Now()
	k1 := s.Keys()[0]
	if k1.State != store.KeyCurrent || !k1.ActivatesAt.Equal(t0) {
		t.Fatalf("first key %+v: want current at once", k1)
	}
	tok1 := signUntil(t, s, "", t0.Add(time.Hour))
	if rec, _ := st.get(k1.KID); !rec.KeepUntil.Equal(t0.Add(time.Hour + ReserveAhead)) {
		t.Fatalf("k1 kept until %v, want a day past the token's exp", rec.KeepUntil)
	}

	rotated, err := s.Rotate(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 1 || rotated[0].State != store.KeyNext || !rotated[0].ActivatesAt.Equal(t0.Add(testDelay)) {
		t.Fatalf("Rotate: %+v, want one next key activating after the delay", rotated)
	}
	k2 := rotated[0].KID
	if got := states(s); got[k1.KID] != store.KeyCurrent || got[k2] != store.KeyNext || !inJWKS(t, s, k2) {
		t.Fatalf("after the rotation: %v; want k1 current, k2 next and published", got)
	}
	if kid := headerKID(t, signUntil(t, s, "", t0.Add(time.Hour))); kid != k1.KID {
		t.Fatalf("a next key signed")
	}
	clk.Advance(testDelay - time.Nanosecond)
	if kid := headerKID(t, signUntil(t, s, "", t0.Add(time.Hour))); kid != k1.KID {
		t.Fatalf("the next key signed before it activates")
	}
	clk.Advance(time.Nanosecond)
	if got := states(s); got[k1.KID] != store.KeyRetired || got[k2] != store.KeyCurrent {
		t.Fatalf("at activation: %v; want k1 retired, k2 current", got)
	}
	tok2 := signUntil(t, s, "", clk.Now().Add(time.Hour))
	if headerKID(t, tok2) != k2 {
		t.Fatal("the current key does not sign")
	}
	if err := s.Verify(tok1, nil); err != nil || !inJWKS(t, s, k1.KID) {
		t.Fatalf("a retired key's token: %v, published %v", err, inJWKS(t, s, k1.KID))
	}

	// Kept while its tokens (and the day after) may be valid.
	maintain(t, s)
	clk.Advance(t0.Add(time.Hour + ReserveAhead).Sub(clk.Now()))
	maintain(t, s)
	if _, ok := st.get(k1.KID); !ok {
		t.Fatal("k1 deleted at its keep_until")
	}
	clk.Advance(time.Second)
	maintain(t, s)
	if _, ok := st.get(k1.KID); ok || inJWKS(t, s, k1.KID) {
		t.Fatal("k1 kept past its keep_until")
	}
	if err := s.Verify(tok1, nil); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a deleted key's token: %v", err)
	}
	if got := states(s); len(got) != 1 || got[k2] != store.KeyCurrent {
		t.Fatalf("at the end: %v; want k2 current alone", got)
	}
}

// TestUnusedKeyDeletedAfterGrace: a key that never signed (rotated over
// before it activated) goes once retired for the publication delay.
func TestUnusedKeyDeletedAfterGrace(t *testing.T) {
	ctx := t.Context()
	clk, st := newClock(), &memStore{}
	s := newSignerWith(t, Options{Store: st, KEK: testKEK(t), Algorithm: EdDSA, PublicationDelay: testDelay, Now: clk.Now})
	first := s.Keys()[0].KID
	a, err := s.Rotate(ctx, EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	b, err := s.Rotate(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(testDelay) // b activates: a and first are retired
	if got := states(s); got[a[0].KID] != store.KeyRetired || got[b[0].KID] != store.KeyCurrent || got[first] != store.KeyRetired {
		t.Fatalf("states %v", got)
	}
	maintain(t, s)
	if len(s.Keys()) != 3 {
		t.Fatalf("deleted just after retirement: %v", states(s))
	}
	clk.Advance(testDelay)
	maintain(t, s)
	if got := states(s); len(got) != 1 || got[b[0].KID] != store.KeyCurrent {
		t.Fatalf("after the grace: %v; want only the current key", got)
	}
}

// TestReserveBeforeSigning: the store promises to keep the key until past
// every exp before Sign returns the token; it is written rarely; a failed
// write means no token.
func TestReserveBeforeSigning(t *testing.T) {
	ctx := t.Context()
	clk, st := newClock(), &memStore{}
	s := newSignerWith(t, Options{Store: st, KEK: testKEK(t), Algorithm: ES256, Now: clk.Now})
	kid := s.Keys()[0].KID
	check := func(tok string, exp time.Time) {
		t.Helper()
		rec, ok := st.get(headerKID(t, tok))
		if !ok || rec.KeepUntil.Before(exp) {
			t.Fatalf("a token expiring at %v was handed out while its key is kept until %v", exp, rec.KeepUntil)
		}
	}
	// One-hour tokens every ten minutes for two days: a write every half
	// day (a reservation keeps at least half of ReserveAhead to spare).
	for range 2 * 24 * 6 {
		exp := clk.Now().Add(time.Hour)
		check(signUntil(t, s, "", exp), exp)
		if rec, _ := st.get(kid); rec.KeepUntil.Before(exp.Add(ReserveAhead / 2)) {
			t.Fatalf("a token expiring at %v with its key kept only until %v: less than half a day to spare", exp, rec.KeepUntil)
		}
		clk.Advance(10 * time.Minute)
	}
	if st.reserves < 4 || st.reserves > 5 {
		t.Errorf("%d reservations for two days of one-hour tokens, want 4 or 5", st.reserves)
	}
	// A burst of consent-length tokens at once: one write.
	before := st.reserves
	exp := clk.Now().Add(90 * 24 * time.Hour)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			tok, err := s.Sign(ctx, "", testClaims{Exp: exp.Unix()})
			if err != nil {
				t.Error(err)
				return
			}
			check(tok, exp)
		})
	}
	wg.Wait()
	if st.reserves != before+1 {
		t.Errorf("%d reservations for a burst of 90-day tokens, want 1", st.reserves-before)
	}
	// Within what is reserved, a failing store does not matter; past it,
	// no token.
	st.reserveErr = errors.New("db down")
	signUntil(t, s, "", exp.Add(time.Hour))
	if tok, err := s.Sign(ctx, "", testClaims{Exp: exp.Add(ReserveAhead + time.Second).Unix()}); err == nil || tok != "" {
		t.Fatalf("Sign past the reservation with the store down: %q, %v", tok, err)
	}
	st.reserveErr = nil
	// A key deleted under the signer (a stale snapshot): its reservation
	// fails, the signer reloads, and with no key left there is no token.
	st.mu.Lock()
	st.keys = nil
	st.mu.Unlock()
	if tok, err := s.Sign(ctx, "", testClaims{Exp: exp.Add(2 * ReserveAhead).Unix()}); err == nil || tok != "" {
		t.Fatalf("Sign with a deleted key: %q, %v", tok, err)
	}
	if len(s.Keys()) != 0 {
		t.Fatalf("the failed reservation did not reload the keys: %v", states(s))
	}
	_ = kid
}

// TestSignAfterKeyReplaced: a signer whose snapshot is stale (its key was
// deleted and another instance added the one that replaced it) reloads
// when the reservation finds no key, and signs with the replacement: the
// grant that already committed still gets its token.
func TestSignAfterKeyReplaced(t *testing.T) {
	clk, st, kek := newClock(), &memStore{}, testKEK(t)
	s := newSignerWith(t, Options{Store: st, KEK: kek, Algorithm: ES256, Now: clk.Now})
	stale := s.Keys()[0].KID
	st.mu.Lock()
	st.keys = nil
	st.mu.Unlock()
	other := newSignerWith(t, Options{Store: st, KEK: kek, Algorithm: ES256, Now: clk.Now})
	replacement := other.Keys()[0].KID
	tok := signUntil(t, s, "", clk.Now().Add(90*24*time.Hour))
	if kid := headerKID(t, tok); kid != replacement || kid == stale {
		t.Fatalf("signed with %s, want the replacement %s (the stale key was %s)", kid, replacement, stale)
	}
	if err := other.Verify(tok, nil); err != nil {
		t.Fatalf("the other instance rejects the token: %v", err)
	}
}

// TestConsentTokenSurvivesRotations: a 90-day token stays valid and
// published through rotations every 8 days, at every instant until it
// expires; then its key goes.
func TestConsentTokenSurvivesRotations(t *testing.T) {
	clk, st, kek := newClock(), &memStore{}, testKEK(t)
	o := Options{Store: st, KEK: kek, Algorithm: ES256, RotationPeriod: 8 * 24 * time.Hour, PublicationDelay: testDelay, Now: clk.Now}
	a, b := newSignerWith(t, o), newSignerWith(t, o)
	exp := clk.Now().Add(90 * 24 * time.Hour)
	tok := signUntil(t, a, "", exp)
	kid := headerKID(t, tok)
	rotations := 0
	for clk.Now().Before(exp) {
		// Short tokens all the time at both, as a server would.
		for _, s := range []*Signer{a, b} {
			short := signUntil(t, s, "", clk.Now().Add(time.Hour))
			for _, other := range []*Signer{a, b} {
				if err := other.Verify(short, nil); err != nil {
					t.Fatalf("at %v: a fresh token: %v", clk.Now(), err)
				}
			}
		}
		for _, s := range []*Signer{a, b} {
			if err := s.Verify(tok, nil); err != nil || !inJWKS(t, s, kid) {
				t.Fatalf("at %v, %d rotations: the 90-day token: %v, key published %v", clk.Now(), rotations, err, inJWKS(t, s, kid))
			}
		}
		before := len(st.keys)
		clk.Advance(6 * time.Hour)
		maintain(t, a, b)
		if len(st.keys) > before {
			rotations++
		}
	}
	if rotations < 10 {
		t.Fatalf("%d rotations, want at least 10", rotations)
	}
	if n := len(st.keys); n > 4 {
		t.Errorf("%d keys stored: retired keys of short tokens are not deleted", n)
	}
	clk.Advance(ReserveAhead + testDelay)
	maintain(t, a, b)
	if _, ok := st.get(kid); ok || inJWKS(t, a, kid) {
		t.Fatal("the 90-day token's key is kept a day past its end")
	}
}

// TestNeverDeletedWhileValid: tokens of mixed lifetimes from two signers
// on one schedule; at every step, after both have maintained the keys
// (rotated, deleted), every token not yet expired verifies (at one or the
// other, by turns).
func TestNeverDeletedWhileValid(t *testing.T) {
	clk, st, kek := newClock(), &memStore{}, testKEK(t)
	o := Options{Store: st, KEK: kek, Algorithm: EdDSA, RotationPeriod: 2 * 24 * time.Hour, PublicationDelay: testDelay, Now: clk.Now}
	ins := []*Signer{newSignerWith(t, o), newSignerWith(t, o)}
	type issued struct {
		tok string
		exp time.Time
	}
	var live []issued
	lifetimes := []time.Duration{time.Hour, 24 * time.Hour, 5 * 24 * time.Hour, 20 * 24 * time.Hour}
	deleted := 0
	for step := range 30 * 24 / 6 {
		exp := clk.Now().Add(lifetimes[step%len(lifetimes)])
		live = append(live, issued{signUntil(t, ins[step%2], "", exp), exp})
		clk.Advance(6 * time.Hour)
		before := keyIDs(st)
		maintain(t, ins[(step+1)%2], ins[step%2])
		after := keyIDs(st)
		for _, id := range before {
			if !slices.Contains(after, id) {
				deleted++
			}
		}
		kept := live[:0]
		for _, x := range live {
			if !clk.Now().Before(x.exp) {
				continue // expired: its key may go
			}
			if err := ins[step%2].Verify(x.tok, nil); err != nil { // the signers take turns
				t.Fatalf("at %v: a token valid until %v: %v", clk.Now(), x.exp, err)
			}
			kept = append(kept, x)
		}
		live = kept
	}
	if deleted == 0 {
		t.Fatal("no key was ever deleted: the test checks nothing")
	}
}

// keyIDs lists the stored keys' IDs.
func keyIDs(st *memStore) []string {
	recs, _ := st.ListSigningKeys(context.Background())
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestScheduleAcrossSigners: two signers on one store and one schedule add
// one key per period, and each accepts what the other signs.
func TestScheduleAcrossSigners(t *testing.T) {
	clk, st, kek := newClock(), &memStore{}, testKEK(t)
	period := 30 * 24 * time.Hour
	o := Options{Store: st, KEK: kek, Algorithm: ES256, Algorithms: []string{ES256, EdDSA}, RotationPeriod: period,
		PublicationDelay: testDelay, Now: clk.Now}
	a, b := newSignerWith(t, o), newSignerWith(t, o)
	created := map[string][]time.Time{}
	seen := map[string]bool{}
	t0 := clk.Now()
	const step = 4 * time.Hour
	for i := 0; clk.Now().Before(t0.Add(100 * 24 * time.Hour)); i++ {
		if i%2 == 0 {
			maintain(t, a, b)
		} else {
			maintain(t, b, a)
		}
		recs, _ := st.ListSigningKeys(t.Context())
		for _, r := range recs {
			if !seen[r.ID] {
				seen[r.ID] = true
				created[r.Algorithm] = append(created[r.Algorithm], r.CreatedAt)
			}
		}
		for _, alg := range []string{ES256, EdDSA} {
			for _, pair := range [][2]*Signer{{a, b}, {b, a}} {
				tok := signUntil(t, pair[0], alg, clk.Now().Add(time.Hour))
				if err := pair[1].Verify(tok, nil); err != nil {
					t.Fatalf("at %v: %v", clk.Now(), err)
				}
			}
		}
		clk.Advance(step)
	}
	for _, alg := range []string{ES256, EdDSA} {
		times := created[alg]
		slices.SortFunc(times, time.Time.Compare)
		if len(times) != 4 {
			t.Fatalf("%s: %d keys in 100 days with a 30-day period, want 4: %v", alg, len(times), times)
		}
		for i := 1; i < len(times); i++ {
			if gap := times[i].Sub(times[i-1]); gap < period || gap > period+step {
				t.Errorf("%s: %v between keys, want the period", alg, gap)
			}
		}
	}
}

// fleet simulates two instances that re-read the keys every reload
// interval (out of step), with rotations at one and tokens at both, in
// steps of a second. It returns how often a token carried a kid that the
// other instance did not publish when it was issued.
func fleet(t *testing.T, delay time.Duration) int {
	t.Helper()
	const reload = 30 * time.Second
	clk, st, kek := newClock(), &memStore{}, testKEK(t)
	o := Options{Store: st, KEK: kek, Algorithm: ES256, PublicationDelay: delay, ReloadInterval: reload, Now: clk.Now}
	ins := []*Signer{newSignerWith(t, o), newSignerWith(t, o)}
	offsets := []time.Duration{0, 17 * time.Second}
	misses := 0
	for sec := range 1800 {
		at := time.Duration(sec) * time.Second
		for i, s := range ins {
			if (at+offsets[i])%reload == 0 {
				maintain(t, s)
			}
		}
		if sec%300 == 14 { // just after the other instance's reload
			if _, err := ins[0].Rotate(t.Context(), ""); err != nil {
				t.Fatal(err)
			}
		}
		for i, s := range ins {
			kid := headerKID(t, signUntil(t, s, "", clk.Now().Add(time.Hour)))
			if !inJWKS(t, ins[1-i], kid) {
				misses++
			}
		}
		clk.Advance(time.Second)
	}
	return misses
}

// TestNoInstanceSignsUnpublished: with the default publication delay, no
// instance ever signs with a key the other does not publish yet; with a
// delay shorter than the reload interval, it happens (the test sees it).
func TestNoInstanceSignsUnpublished(t *testing.T) {
	if n := fleet(t, DefaultPublicationDelay(30*time.Second)); n != 0 {
		t.Errorf("%d tokens with a kid the other instance did not publish yet", n)
	}
	if n := fleet(t, 10*time.Second); n == 0 {
		t.Error("with a 10 s delay and 30 s reloads no token met an instance without its key: the test cannot see it")
	}
}

// TestAddedAlgorithmWaits: an algorithm added to a store that has keys
// gets a key that waits for the publication delay like any rotation,
// while the instances that do not sign with it publish it.
func TestAddedAlgorithmWaits(t *testing.T) {
	clk, st, kek := newClock(), &memStore{}, testKEK(t)
	old := newSignerWith(t, Options{Store: st, KEK: kek, Algorithm: ES256, PublicationDelay: testDelay, Now: clk.Now})
	clk.Advance(time.Hour)
	both := newSignerWith(t, Options{Store: st, KEK: kek, Algorithm: ES256, Algorithms: []string{ES256, EdDSA},
		PublicationDelay: testDelay, Now: clk.Now})
	var ed KeyInfo
	for _, k := range both.Keys() {
		if k.Algorithm == EdDSA {
			ed = k
		}
	}
	if ed.State != store.KeyNext || !ed.ActivatesAt.Equal(clk.Now().Add(testDelay)) {
		t.Fatalf("the added algorithm's key %+v, want next for the delay", ed)
	}
	if _, err := both.Sign(t.Context(), EdDSA, claimsFor("u")); err == nil {
		t.Fatal("signed with a key that is not active yet")
	}
	if wait, ok := both.SignWait(EdDSA); !ok || wait != testDelay {
		t.Fatalf("SignWait(EdDSA) = %s, %v; want %s, true", wait, ok, testDelay)
	}
	if wait, ok := both.SignWait(""); !ok || wait != 0 {
		t.Fatalf("SignWait of the default = %s, %v; want 0, true", wait, ok)
	}
	if _, ok := old.SignWait(EdDSA); ok {
		t.Fatal("SignWait says an instance that does not sign EdDSA can")
	}
	maintain(t, old)
	if !inJWKS(t, old, ed.KID) {
		t.Fatal("an instance without EdDSA does not publish the EdDSA key")
	}
	clk.Advance(testDelay)
	if wait, ok := both.SignWait(EdDSA); !ok || wait != 0 {
		t.Fatalf("SignWait(EdDSA) after the delay = %s, %v; want 0, true", wait, ok)
	}
	if err := old.Verify(signUntil(t, both, EdDSA, clk.Now().Add(time.Hour)), nil); err != nil {
		t.Fatalf("an EdDSA token at the other instance: %v", err)
	}
}

// TestRotateAlgorithms: Rotate one algorithm, or all; an algorithm the
// signer does not sign with is refused.
func TestRotateAlgorithms(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	s := newSignerWith(t, Options{Store: &memStore{}, KEK: testKEK(t), Algorithm: ES256, Algorithms: []string{ES256, EdDSA},
		Now: clk.Now})
	one, err := s.Rotate(ctx, EdDSA)
	if err != nil || len(one) != 1 || one[0].Algorithm != EdDSA || one[0].State != store.KeyNext {
		t.Fatalf("Rotate(EdDSA): %+v, %v", one, err)
	}
	clk.Advance(time.Second)
	all, err := s.Rotate(ctx, "")
	if err != nil || len(all) != 2 || all[0].Algorithm != ES256 || all[1].Algorithm != EdDSA || all[1].KID == one[0].KID {
		t.Fatalf("Rotate(): %+v, %v", all, err)
	}
	if _, err := s.Rotate(ctx, RS256); err == nil {
		t.Fatal("Rotate(RS256) on a signer without RS256 succeeded")
	}
	// Describe's order: current, then next, then retired; by algorithm.
	var got []string
	for _, k := range s.Keys() {
		got = append(got, k.State+" "+k.Algorithm)
	}
	want := []string{"current ES256", "current EdDSA", "next ES256", "next EdDSA", "next EdDSA"}
	if !slices.Equal(got, want) {
		t.Fatalf("Keys() %v, want %v", got, want)
	}
}

// TestMigratedKeys: the current and previous keys as the migration leaves
// them (both activated at their creation, kept 400 days) keep working: the
// newer signs, the older verifies.
func TestMigratedKeys(t *testing.T) {
	clk, st, kek := newClock(), &memStore{}, testKEK(t)
	c, _ := newSealer(kek)
	prev, _ := newRecord(c, RS256, clk.Now().Add(-48*time.Hour), clk.Now().Add(-48*time.Hour))
	cur, _ := newRecord(c, RS256, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Hour))
	for _, r := range []store.SigningKey{prev, cur} {
		r.KeepUntil = clk.Now().Add(400 * 24 * time.Hour)
		st.add(t, r)
	}
	s := newSignerWith(t, Options{Store: st, KEK: kek, Now: clk.Now})
	if got := states(s); got[cur.ID] != store.KeyCurrent || got[prev.ID] != store.KeyRetired || len(got) != 2 {
		t.Fatalf("states %v", got)
	}
	if headerKID(t, sign(t, s, "u")) != cur.ID {
		t.Fatal("the migrated current key does not sign")
	}
	if st.reserves != 0 {
		t.Fatal("a reservation within the migration's 400 days")
	}
}

// TestRunReloads: Run re-reads the keys every interval, so a key another
// instance rotated in is published here before it activates.
func TestRunReloads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, kek := &memStore{}, testKEK(t)
		o := Options{Store: st, KEK: kek, Algorithm: ES256, ReloadInterval: time.Minute, PublicationDelay: testDelay}
		a, b := newSignerWith(t, o), newSignerWith(t, o)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { b.Run(ctx); close(done) }()
		synctest.Wait()

		time.Sleep(time.Second)
		rotated, err := a.Rotate(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		kid := rotated[0].KID
		time.Sleep(time.Minute - 2*time.Second)
		synctest.Wait()
		if inJWKS(t, b, kid) {
			t.Fatal("reloaded too early")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if !inJWKS(t, b, kid) {
			t.Fatal("Run did not reload")
		}
		time.Sleep(testDelay)
		if headerKID(t, sign(t, b, "u")) != kid {
			t.Fatal("b does not sign with the activated key")
		}
		cancel()
		<-done
	})
}

// brokenList is a key store whose ListSigningKeys fails once broken is set.
type brokenList struct {
	*memStore
	broken atomic.Bool
}

func (b *brokenList) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	if b.broken.Load() {
		return nil, errors.New("db down")
	}
	return b.memStore.ListSigningKeys(ctx)
}

// TestFresh: an instance whose reloads fail stops being fresh (its /readyz
// fails) before a key created after its last reload could sign, and is
// fresh again once a reload succeeds.
func TestFresh(t *testing.T) {
	clk := newClock()
	st := &brokenList{memStore: &memStore{}}
	s := newSignerWith(t, Options{Store: st, KEK: testKEK(t), Algorithm: ES256, Now: clk.Now}) // default timings
	loaded := clk.Now()
	if err := s.Fresh(); err != nil {
		t.Fatalf("fresh after New: %v", err)
	}
	st.broken.Store(true)
	limit := DefaultPublicationDelay(DefaultReloadInterval) - JWKSMaxAge - DefaultReloadInterval
	for clk.Now().Sub(loaded)+DefaultReloadInterval <= limit {
		clk.Advance(DefaultReloadInterval)
		if s.Maintain(t.Context()) == nil {
			t.Fatal("Maintain succeeded with the store down")
		}
		if err := s.Fresh(); err != nil {
			t.Fatalf("stale %s after the last reload, within %s: %v", clk.Now().Sub(loaded), limit, err)
		}
	}
	clk.Advance(limit - clk.Now().Sub(loaded) + time.Second)
	if err := s.Fresh(); err == nil {
		t.Fatalf("still fresh %s after the last reload: a key created just after it signs %s after its creation",
			clk.Now().Sub(loaded), DefaultPublicationDelay(DefaultReloadInterval))
	}
	st.broken.Store(false)
	maintain(t, s)
	if err := s.Fresh(); err != nil {
		t.Fatalf("not fresh after a reload: %v", err)
	}
}

// expirerClaims say their exp (signer.Expirer), as oauth.Claims do.
type expirerClaims struct {
	Exp int64 `json:"exp"`
}

func (c expirerClaims) Expiry() time.Time {
	if c.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(c.Exp, 0)
}

// TestSignExpirer: claims that say their exp are reserved for by it, as
// those whose exp Sign reads from the JSON; one with no exp is refused.
func TestSignExpirer(t *testing.T) {
	ctx := t.Context()
	clk, st := newClock(), &memStore{}
	s := newSignerWith(t, Options{Store: st, KEK: testKEK(t), Algorithm: ES256, Now: clk.Now})
	exp := clk.Now().Add(90 * 24 * time.Hour)
	tok, err := s.Sign(ctx, "", expirerClaims{Exp: exp.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if rec, ok := st.get(headerKID(t, tok)); !ok || rec.KeepUntil.Before(exp) {
		t.Fatalf("a token expiring at %v was handed out while its key is kept until %v", exp, rec.KeepUntil)
	}
	if tok, err := s.Sign(ctx, "", expirerClaims{}); err == nil || tok != "" {
		t.Fatalf("Sign(claims with no exp): %q, %v", tok, err)
	}
}
