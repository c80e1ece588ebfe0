package storetest

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

func newSigningKey(created time.Time) store.SigningKey {
	return store.SigningKey{
		ID:           newID(),
		Algorithm:    "ES256",
		EncryptedKey: newHash(), // opaque bytes to the store
		CreatedAt:    created,
		ActivatesAt:  created.Add(3 * time.Minute),
		KeepUntil:    created.Add(25 * time.Hour),
	}
}

// keyOf is a new key of alg created at created.
func keyOf(alg string, created time.Time) store.SigningKey {
	k := newSigningKey(created)
	k.Algorithm = alg
	return k
}

// addKey adds k with since and checks whether it was added.
func addKey(t *testing.T, s store.Store, k store.SigningKey, since time.Time, want bool) {
	t.Helper()
	added, err := s.AddSigningKey(t.Context(), k, since)
	must(t, "AddSigningKey", err)
	if added != want {
		t.Fatalf("AddSigningKey(%s created %v, since %v) = %v, want %v", k.Algorithm, k.CreatedAt, since, added, want)
	}
}

func listKeys(t *testing.T, s store.Store) []store.SigningKey {
	t.Helper()
	keys, err := s.ListSigningKeys(t.Context())
	must(t, "ListSigningKeys", err)
	return keys
}

var signingKeyTests = []test{
	{"FirstKeyOfEachAlgorithm", func(t *testing.T, s store.Store) {
		// The zero since adds only when the store has no key of the
		// algorithm; every field round-trips.
		if keys := listKeys(t, s); len(keys) != 0 {
			t.Fatalf("ListSigningKeys on an empty store: %+v", keys)
		}
		rs, es := keyOf("RS256", t0), keyOf("ES256", at(time.Minute))
		es.CreatedAt = es.CreatedAt.In(elsewhere) // comes back in UTC
		es.KeepUntil = time.Time{}                // nothing reserved yet
		addKey(t, s, rs, time.Time{}, true)
		addKey(t, s, keyOf("RS256", at(time.Hour)), time.Time{}, false)
		addKey(t, s, es, time.Time{}, true)
		same(t, "keys", listKeys(t, s), []store.SigningKey{es, rs})
	}},
	{"Since", func(t *testing.T, s store.Store) {
		// One key per period: only when no key of the algorithm was
		// created after since.
		k1 := keyOf("RS256", t0)
		addKey(t, s, k1, time.Time{}, true)
		k2 := keyOf("RS256", at(90*24*time.Hour))
		addKey(t, s, k2, k1.CreatedAt, true)
		addKey(t, s, keyOf("RS256", at(90*24*time.Hour+time.Second)), k1.CreatedAt, false) // k2 was
		// Another algorithm's keys do not count.
		addKey(t, s, keyOf("EdDSA", t0), time.Time{}, true)
		ed := keyOf("EdDSA", at(time.Hour))
		addKey(t, s, ed, t0, true)
		k3 := keyOf("RS256", at(180*24*time.Hour))
		addKey(t, s, k3, k2.CreatedAt, true)
		keys := listKeys(t, s)
		if ids := keyIDs(keys); len(ids) != 5 || ids[0] != k3.ID || ids[1] != k2.ID || ids[2] != ed.ID {
			t.Errorf("keys %v", ids)
		}
	}},
	{"ListOrder", func(t *testing.T, s store.Store) {
		// Newest first by creation, then by insertion (the later first).
		a, b, c, d := keyOf("RS256", at(time.Hour)), keyOf("PS256", t0), keyOf("ES256", at(2*time.Hour)),
			keyOf("EdDSA", at(time.Hour))
		for _, k := range []store.SigningKey{a, b, c, d} {
			addKey(t, s, k, time.Time{}, true)
		}
		same(t, "keys", keyIDs(listKeys(t, s)), []string{c.ID, d.ID, a.ID, b.ID})
	}},
	{"AddDuplicate", func(t *testing.T, s store.Store) {
		k1 := keyOf("RS256", t0)
		addKey(t, s, k1, time.Time{}, true)
		dup := keyOf("ES256", at(time.Hour))
		dup.ID = k1.ID
		_, err := s.AddSigningKey(t.Context(), dup, time.Time{})
		wantErr(t, "AddSigningKey(duplicate ID)", err, store.ErrConflict)
		same(t, "keys after a failed AddSigningKey", listKeys(t, s), []store.SigningKey{k1})
	}},
	{"Reserve", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		k := keyOf("RS256", t0)
		k.KeepUntil = time.Time{}
		other := keyOf("ES256", t0)
		addKey(t, s, k, time.Time{}, true)
		addKey(t, s, other, time.Time{}, true)
		for _, tc := range []struct {
			until, want time.Time
		}{
			{at(time.Hour), at(time.Hour)},           // from none
			{at(48 * time.Hour), at(48 * time.Hour)}, // raised
			{at(2 * time.Hour), at(48 * time.Hour)},  // never lowered
		} {
			must(t, "ReserveSigningKey", s.ReserveSigningKey(ctx, k.ID, tc.until.In(elsewhere)))
			k.KeepUntil = tc.want
			same(t, "keys after ReserveSigningKey", listKeys(t, s), []store.SigningKey{other, k})
		}
		wantErr(t, "ReserveSigningKey(unknown)", s.ReserveSigningKey(ctx, newID(), at(time.Hour)), store.ErrNotFound)
	}},
	{"Delete", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		kept, unused := keyOf("RS256", t0), keyOf("ES256", t0)
		unused.KeepUntil = time.Time{} // signed nothing
		addKey(t, s, kept, time.Time{}, true)
		addKey(t, s, unused, time.Time{}, true)
		del := func(kid string, before time.Time, want bool) {
			t.Helper()
			ok, err := s.DeleteSigningKey(ctx, kid, before)
			must(t, "DeleteSigningKey", err)
			if ok != want {
				t.Fatalf("DeleteSigningKey(before %v) = %v, want %v", before, ok, want)
			}
		}
		del(kept.ID, kept.KeepUntil, false) // not before: a token may still be valid
		del(kept.ID, kept.KeepUntil.Add(-time.Hour), false)
		same(t, "keys", listKeys(t, s), []store.SigningKey{unused, kept})
		del(unused.ID, t0, true)
		del(kept.ID, kept.KeepUntil.Add(time.Millisecond), true)
		del(kept.ID, kept.KeepUntil.Add(time.Hour), false) // gone
		del(newID(), at(time.Hour), false)
		if keys := listKeys(t, s); len(keys) != 0 {
			t.Errorf("keys after deleting both: %+v", keys)
		}
	}},
	{"Reseal", resealTest},
	{"ResealIsAtomic", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		addKey(t, s, keyOf("RS256", t0), time.Time{}, true)
		addKey(t, s, keyOf("ES256", t0), time.Time{}, true)
		c := createClient(t, s)
		before := listKeys(t, s)
		calls := 0
		n, err := s.Reseal(ctx, func(kind, owner string, sealed []byte) ([]byte, error) {
			if calls++; calls == 3 { // the keys are done, the secret fails
				return nil, errCheck
			}
			return append(bytes.Clone(sealed), 0xEE), nil
		})
		if !errors.Is(err, errCheck) || n != 0 {
			t.Fatalf("Reseal with a failing fn: %d, %v; want 0 and its error", n, err)
		}
		same(t, "keys after a failed Reseal", listKeys(t, s), before)
		got, err := s.GetClient(ctx, c.ID)
		must(t, "GetClient", err)
		same(t, "client after a failed Reseal", got, c)
	}},
}

func keyIDs(keys []store.SigningKey) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

// resealTest: Reseal hands fn every signing key and every webhook secret
// (not a client without one), with their kind and owner, writes what fn
// returns, and changes nothing else.
func resealTest(t *testing.T, s store.Store) {
	ctx := t.Context()
	if n, err := s.Reseal(ctx, func(string, string, []byte) ([]byte, error) { return nil, errCheck }); err != nil || n != 0 {
		t.Fatalf("Reseal of an empty store: %d, %v", n, err)
	}
	k1, k2 := keyOf("RS256", t0), keyOf("EdDSA", at(time.Hour))
	addKey(t, s, k1, time.Time{}, true)
	addKey(t, s, k2, time.Time{}, true)
	c1, c2 := createClient(t, s), createClient(t, s)
	bare := store.Client{ID: newUUID(), Name: "no webhook", AuthMethod: store.AuthMethodNone, CreatedAt: t0}
	must(t, "CreateClient", s.CreateClient(ctx, bare))

	type call struct{ kind, owner string }
	var calls []call
	n, err := s.Reseal(ctx, func(kind, owner string, sealed []byte) ([]byte, error) {
		calls = append(calls, call{kind, owner})
		return append([]byte("resealed:"), sealed...), nil
	})
	must(t, "Reseal", err)
	if n != 4 {
		t.Errorf("Reseal re-sealed %d, want 4", n)
	}
	want := []call{{store.SealedSigningKey, k1.ID}, {store.SealedSigningKey, k2.ID},
		{store.SealedWebhookSecret, c1.ID}, {store.SealedWebhookSecret, c2.ID}}
	sortCalls := func(cs []call) {
		slices.SortFunc(cs, func(a, b call) int {
			if a.kind != b.kind {
				return -strings.Compare(a.kind, b.kind) // signing keys first
			}
			return strings.Compare(a.owner, b.owner)
		})
	}
	sortCalls(calls)
	sortCalls(want)
	same(t, "what Reseal handed fn", calls, want)

	for _, k := range []*store.SigningKey{&k1, &k2} {
		k.EncryptedKey = append([]byte("resealed:"), k.EncryptedKey...)
	}
	same(t, "keys after Reseal", listKeys(t, s), []store.SigningKey{k2, k1})
	for _, c := range []store.Client{c1, c2, bare} {
		if c.WebhookSecret != nil {
			c.WebhookSecret = append([]byte("resealed:"), c.WebhookSecret...)
		}
		got, err := s.GetClient(ctx, c.ID)
		must(t, "GetClient", err)
		same(t, "client after Reseal", got, c)
	}
}

// keyConcurrencyTests race what several instances do at once.
var keyConcurrencyTests = []test{
	{"FirstKeysAtOnce", func(t *testing.T, s store.Store) {
		// Of many instances adding a first key of each algorithm to an
		// empty store at once, exactly one per algorithm succeeds.
		algs := []string{"RS256", "PS256", "ES256", "EdDSA"}
		const perAlg = 6
		added := raceKeys(t, s, len(algs)*perAlg, func(i int) (store.SigningKey, time.Time) {
			return keyOf(algs[i%len(algs)], t0), time.Time{}
		})
		keys := listKeys(t, s)
		if len(added) != len(algs) || len(keys) != len(algs) {
			t.Fatalf("added %v, stored %+v; want one key of each algorithm", added, keys)
		}
		for _, k := range keys {
			if !slices.Contains(added, k.ID) {
				t.Errorf("stored key %s was not reported added", k.ID)
			}
		}
	}},
	{"RotateAtOnce", func(t *testing.T, s store.Store) {
		// Instances on one schedule see the same newest key and rotate
		// at once: one new key.
		first := keyOf("RS256", t0)
		addKey(t, s, first, time.Time{}, true)
		added := raceKeys(t, s, 8, func(int) (store.SigningKey, time.Time) {
			return keyOf("RS256", at(24*time.Hour)), first.CreatedAt
		})
		if keys := listKeys(t, s); len(added) != 1 || len(keys) != 2 || keys[0].ID != added[0] {
			t.Fatalf("added %v, stored %v; want one rotation", added, keyIDs(keys))
		}
	}},
	{"ReserveRacesDelete", func(t *testing.T, s store.Store) {
		// A reservation and a deletion of one key: either the deletion
		// comes first and every reservation finds no key, or a
		// reservation does and the key stays.
		ctx := t.Context()
		for round := range 10 {
			k := keyOf("RS256", at(time.Duration(round)*time.Hour))
			k.KeepUntil = k.CreatedAt
			addKey(t, s, k, k.CreatedAt.Add(-time.Millisecond), true) // after the rounds before
			before := k.CreatedAt.Add(time.Minute)
			until := k.CreatedAt.Add(time.Hour)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var reserved, missed, deleted int
			for i := range 8 {
				wg.Go(func() {
					if i%2 == 0 {
						err := s.ReserveSigningKey(ctx, k.ID, until)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil:
							reserved++
						case errors.Is(err, store.ErrNotFound):
							missed++
						default:
							t.Errorf("ReserveSigningKey: %v", err)
						}
						return
					}
					ok, err := s.DeleteSigningKey(ctx, k.ID, before)
					if err != nil {
						t.Errorf("DeleteSigningKey: %v", err)
					}
					if ok {
						mu.Lock()
						deleted++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			keys := listKeys(t, s)
			stored := slices.IndexFunc(keys, func(x store.SigningKey) bool { return x.ID == k.ID })
			switch {
			case deleted == 1 && reserved == 0 && missed == 4 && stored < 0:
			case deleted == 0 && reserved == 4 && stored >= 0:
				sameTime(t, "keep_until after the race", keys[stored].KeepUntil, until)
			default:
				t.Fatalf("round %d: %d deleted, %d reserved, %d missed, stored %v", round, deleted, reserved, missed, stored >= 0)
			}
		}
	}},
}

// raceKeys calls AddSigningKey with what next returns from n goroutines
// released at once, and returns the IDs of the keys it added.
func raceKeys(t *testing.T, s store.Store, n int, next func(i int) (store.SigningKey, time.Time)) []string {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	added := make(chan string, n)
	for i := range n {
		k, since := next(i)
		wg.Go(func() {
			<-start
			ok, err := s.AddSigningKey(t.Context(), k, since)
			if err != nil {
				t.Errorf("AddSigningKey: %v", err)
			}
			if ok {
				added <- k.ID
			}
		})
	}
	close(start)
	wg.Wait()
	close(added)
	var ids []string
	for id := range added {
		ids = append(ids, id)
	}
	return ids
}
