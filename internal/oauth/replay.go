package oauth

import (
	"context"
	"sync"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// SingleUse judges single-use keys (a DPoP proof's, a client assertion's
// jti) outside the store: Replays in memory for a store only this process
// issues from, or a Redis shared by every instance (internal/singleuse).
// Reserve records key's use until until, for a key first usable at
// earliest. An error means the use cannot be judged now: the request is
// refused (503), never let through. Release forgets one reservation (r, as
// Reserve gave it) whose request was refused before anything was issued,
// so that its proof may be retried; a reservation made since by another
// request is kept.
type SingleUse interface {
	Reserve(ctx context.Context, key []byte, earliest, until, now time.Time) (Reservation, error)
	Release(ctx context.Context, key []byte, r Reservation)
}

// Reservation is what SingleUse.Reserve found.
type Reservation struct {
	// Fresh: the key was not used or reserved before; this request holds it.
	Fresh bool
	// Covered: the SingleUse judged the key; false = the caller records
	// the use in the store.
	Covered bool
	// Token tells this reservation from a later one of the same key.
	Token string
}

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

var _ SingleUse = (*Replays)(nil)

// Reserve implements SingleUse: a key usable before since, or one past a
// full memory, or one not 32 bytes long is not covered.
func (r *Replays) Reserve(_ context.Context, key []byte, earliest, until, now time.Time) (Reservation, error) {
	if r == nil || len(key) != 32 || !earliest.After(r.since) {
		return Reservation{}, nil
	}
	k := [32]byte(key)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(now)
	if u, ok := r.keys[k]; ok && now.Before(u) {
		return Reservation{Covered: true}, nil
	}
	if len(r.keys) >= MaxReplayKeys {
		return Reservation{}, nil
	}
	r.keys[k] = until
	r.order, r.until = append(r.order, k), append(r.until, until)
	return Reservation{Fresh: true, Covered: true}, nil
}

// useOnce records the single use of key (first usable at earliest, kept
// until until): in Replays when it covers it, else in the store;
// store.ErrReplayed when it was used before, an *Error when Replays cannot
// judge it now.
func (p *Provider) useOnce(ctx context.Context, key []byte, earliest, until, now time.Time) error {
	res, err := p.reserve(ctx, key, earliest, until, now)
	switch {
	case err != nil:
		return err
	case res.Covered && res.Fresh:
		return nil
	case res.Covered:
		return store.ErrReplayed
	}
	return p.Store.Decide(ctx, store.GrantKey{}, func(store.Locked) (store.Writes, error) {
		return store.Writes{At: now, Proof: &store.ProofUse{Key: key, ExpiresAt: until}}, nil
	})
}

// reserve asks p.Replays, if any, to judge key; an error it gives is the
// 503 singleUseUnavailable.
func (p *Provider) reserve(ctx context.Context, key []byte, earliest, until, now time.Time) (Reservation, error) {
	if p.Replays == nil {
		return Reservation{}, nil
	}
	res, err := p.Replays.Reserve(ctx, key, earliest, until, now)
	if err != nil {
		p.logger().WarnContext(ctx, "single-use records unavailable: refusing", "cause", err.Error())
		return Reservation{}, singleUseUnavailable(err)
	}
	return res, nil
}

// release forgets a reservation of reserve.
func (p *Provider) release(ctx context.Context, key []byte, res Reservation) {
	if p.Replays != nil {
		p.Replays.Release(context.WithoutCancel(ctx), key, res)
	}
}

// Release implements SingleUse. The memory judges under one lock and
// the process's one clock: a reservation released is the request's own.
func (r *Replays) Release(_ context.Context, key []byte, _ Reservation) {
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
