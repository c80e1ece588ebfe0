package oauth

import (
	"context"
	"sync"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Replays keeps single-use keys (a DPoP proof's, a client assertion's jti)
// in memory, for a store only this process issues from (the embedded
// SQLite store runs as one instance): then a proof's single use costs no
// store write. Only what this process can have seen every use of is kept
// here: a key whose earliest possible use is after Since (the process's
// start); any other goes to the store as before, so that a proof used just
// before a restart is not accepted again just after it. Memory is bounded
// (MaxReplayKeys): when full, keys go to the store too.
type Replays struct {
	since time.Time
	mu    sync.Mutex
	keys  map[[32]byte]time.Time // key → until
	order [][32]byte             // in insertion order, for the sweep
	until []time.Time
}

// MaxReplayKeys bounds a Replays: about 40 MB at most.
const MaxReplayKeys = 1 << 18

// NewReplays is a Replays covering the uses after since.
func NewReplays(since time.Time) *Replays {
	return &Replays{since: since, keys: map[[32]byte]time.Time{}}
}

// Reserve records key's use until until, for a key first usable at
// earliest: covered is false when the key is not this Replays' to judge
// (usable before since, or the memory is full, or the key is not 32 bytes):
// the caller records it in the store. fresh is false for a key used (or
// reserved) before.
func (r *Replays) Reserve(key []byte, earliest, until, now time.Time) (fresh, covered bool) {
	if r == nil || len(key) != 32 || !earliest.After(r.since) {
		return false, false
	}
	k := [32]byte(key)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(now)
	if u, ok := r.keys[k]; ok && now.Before(u) {
		return false, true
	}
	if len(r.keys) >= MaxReplayKeys {
		return false, false
	}
	r.keys[k] = until
	r.order, r.until = append(r.order, k), append(r.until, until)
	return true, true
}

// useOnce records the single use of key (first usable at earliest, kept
// until until): in memory when Replays covers it, else in the store;
// store.ErrReplayed when it was used before.
func (p *Provider) useOnce(ctx context.Context, key []byte, earliest, until, now time.Time) error {
	switch fresh, covered := p.Replays.Reserve(key, earliest, until, now); {
	case covered && fresh:
		return nil
	case covered:
		return store.ErrReplayed
	}
	return p.Store.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
		return store.Writes{At: now, Proof: &store.ProofUse{Key: key, ExpiresAt: until}}, nil
	})
}

// Release forgets a reserved key whose request was refused: its proof may
// be retried.
func (r *Replays) Release(key []byte) {
	if r == nil || len(key) != 32 {
		return
	}
	r.mu.Lock()
	delete(r.keys, [32]byte(key))
	r.mu.Unlock()
}

// sweep drops the expired keys at the front of the insertion order. r.mu
// is held.
func (r *Replays) sweep(now time.Time) {
	n := 0
	for n < len(r.order) && !now.Before(r.until[n]) {
		if u, ok := r.keys[r.order[n]]; ok && !now.Before(u) {
			delete(r.keys, r.order[n])
		}
		n++
	}
	if n > 0 {
		r.order, r.until = r.order[n:], r.until[n:]
		if cap(r.order) > 4*len(r.order)+1024 {
			r.order, r.until = append([][32]byte(nil), r.order...), append([]time.Time(nil), r.until...)
		}
	}
}
