package storetest

import (
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
	}
}

func withState(k store.SigningKey, state string) store.SigningKey {
	k.State = state
	return k
}

var signingKeyTests = []test{
	{"AddFirstSigningKey", firstKeyTest},
	{"Rotation", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		keys, err := s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		if len(keys) != 0 {
			t.Fatalf("ListSigningKeys on an empty store: %d keys", len(keys))
		}
		k1, k2, k3 := newSigningKey(t0), newSigningKey(at(time.Hour)), newSigningKey(at(2*time.Hour))
		k3.Algorithm = "RS256"

		must(t, "AddSigningKey(k1)", s.AddSigningKey(ctx, k1))
		keys, err = s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		same(t, "keys after k1", keys, []store.SigningKey{withState(k1, store.KeyCurrent)})

		must(t, "AddSigningKey(k2)", s.AddSigningKey(ctx, k2))
		keys, err = s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		same(t, "keys after k2", keys, []store.SigningKey{
			withState(k2, store.KeyCurrent), withState(k1, store.KeyPrevious)})

		must(t, "AddSigningKey(k3)", s.AddSigningKey(ctx, k3))
		keys, err = s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		same(t, "keys after k3 (k1 retired)", keys, []store.SigningKey{
			withState(k3, store.KeyCurrent), withState(k2, store.KeyPrevious)})
	}},
	{"AddDuplicate", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		k1, k2 := newSigningKey(t0), newSigningKey(at(time.Hour))
		must(t, "AddSigningKey(k1)", s.AddSigningKey(ctx, k1))
		must(t, "AddSigningKey(k2)", s.AddSigningKey(ctx, k2))
		dup := newSigningKey(at(2 * time.Hour))
		dup.ID = k1.ID
		wantErr(t, "AddSigningKey(duplicate ID)", s.AddSigningKey(ctx, dup), store.ErrConflict)
		keys, err := s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		same(t, "keys after a failed AddSigningKey", keys, []store.SigningKey{
			withState(k2, store.KeyCurrent), withState(k1, store.KeyPrevious)})
	}},
}

// firstKeyTest: of many callers adding a first key to an empty store at
// once, exactly one succeeds, and later calls add nothing.
func firstKeyTest(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 8
	var wg sync.WaitGroup
	added := make(chan string, n)
	for range n {
		wg.Go(func() {
			k := newSigningKey(t0)
			ok, err := s.AddFirstSigningKey(ctx, k)
			if err != nil {
				t.Errorf("AddFirstSigningKey: %v", err)
			}
			if ok {
				added <- k.ID
			}
		})
	}
	wg.Wait()
	close(added)
	var winners []string
	for id := range added {
		winners = append(winners, id)
	}
	keys, err := s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys", err)
	if len(winners) != 1 || len(keys) != 1 || keys[0].ID != winners[0] || keys[0].State != store.KeyCurrent {
		t.Fatalf("winners %v, keys %+v: want one current first key", winners, keys)
	}
	if ok, err := s.AddFirstSigningKey(ctx, newSigningKey(at(time.Hour))); ok || err != nil {
		t.Fatalf("a first key was added over a current one: %v %v", ok, err)
	}
}
