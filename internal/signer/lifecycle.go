package signer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Timings of the key lifecycle (docs/keys.md explains each).
const (
	// JWKSMaxAge is how long anyone may cache the JWKS: the public server
	// sends Cache-Control: public, max-age=JWKSMaxAge with it. The
	// publication delay covers it.
	JWKSMaxAge = 60 * time.Second
	// DefaultReloadInterval is how often Run re-reads the keys when
	// Options.ReloadInterval is 0 (as config's default).
	DefaultReloadInterval = 30 * time.Second
	// PublicationMargin is what DefaultPublicationDelay adds to one JWKS
	// cache lifetime and two reload intervals: clock skew between
	// instances and resource servers, a slow reload, the JWKS on the wire.
	PublicationMargin = time.Minute
	// ReserveAhead is how far past a token's exp Sign reserves its key:
	// the store is written once per key per ReserveAhead for tokens shorter
	// than it, and a resource server whose clock runs late still finds the
	// key.
	ReserveAhead = 24 * time.Hour
)

// DefaultPublicationDelay is the publication delay for instances that
// re-read the keys every reload: a resource server may have fetched the
// JWKS from an instance that had not yet re-read the keys (up to one
// interval; a second one covers a failed reload) and may cache it for
// JWKSMaxAge, plus PublicationMargin. With the default 30 s interval it is
// 3 minutes.
func DefaultPublicationDelay(reload time.Duration) time.Duration {
	return JWKSMaxAge + 2*reload + PublicationMargin
}

// KeyInfo describes a stored key (`grantd keys list`, GET /admin/keys).
type KeyInfo struct {
	KID       string
	Algorithm string
	State     string // store.KeyNext, KeyCurrent or KeyRetired
	CreatedAt time.Time
	// ActivatesAt is when the key signs from (current, unless a newer key
	// of its algorithm activated since).
	ActivatesAt time.Time
	// KeepUntil is how long the key stays published at least (past the
	// latest exp it signed); zero = it has signed nothing yet.
	KeepUntil time.Time
}

// MarshalJSON is the key as GET /admin/keys and `grantd keys list
// --output json` show it: kid, alg, state, and the times in RFC 3339 (UTC,
// to the second); keep_until is left out while zero.
func (k KeyInfo) MarshalJSON() ([]byte, error) {
	format := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	return json.Marshal(struct {
		KID         string `json:"kid"`
		Algorithm   string `json:"alg"`
		State       string `json:"state"`
		CreatedAt   string `json:"created_at"`
		ActivatesAt string `json:"activates_at"`
		KeepUntil   string `json:"keep_until,omitempty"`
	}{k.KID, k.Algorithm, k.State, format(k.CreatedAt), format(k.ActivatesAt), format(k.KeepUntil)})
}

// Describe derives each key's state at now from its times (a key is next
// until ActivatesAt; the newest activated key of an algorithm is current;
// the older activated ones are retired). recs are as ListSigningKeys lists
// them, newest first. The result lists current keys first, then next, then
// retired; within a state by algorithm (in the order of Algorithms), newest
// first.
func Describe(recs []store.SigningKey, now time.Time) []KeyInfo {
	cur := currentIndexes(recs, now)
	out := make([]KeyInfo, len(recs))
	for i, r := range recs {
		state := store.KeyRetired
		switch {
		case r.ActivatesAt.After(now):
			state = store.KeyNext
		case cur[r.Algorithm] == i:
			state = store.KeyCurrent
		}
		out[i] = KeyInfo{KID: r.ID, Algorithm: r.Algorithm, State: state, CreatedAt: r.CreatedAt.UTC(),
			ActivatesAt: r.ActivatesAt.UTC(), KeepUntil: r.KeepUntil.UTC()}
	}
	rank := map[string]int{store.KeyCurrent: 0, store.KeyNext: 1, store.KeyRetired: 2}
	algIndex := func(a string) int {
		if i := slices.Index(Algorithms, a); i >= 0 {
			return i
		}
		return len(Algorithms)
	}
	slices.SortStableFunc(out, func(a, b KeyInfo) int {
		return cmp.Or(cmp.Compare(rank[a.State], rank[b.State]), cmp.Compare(algIndex(a.Algorithm), algIndex(b.Algorithm)))
	})
	return out
}

// currentIndexes maps each algorithm to the index in recs of its current
// key at now: the latest ActivatesAt not after now; of two, the one listed
// first (the newer).
func currentIndexes(recs []store.SigningKey, now time.Time) map[string]int {
	cur := map[string]int{}
	for i, r := range recs {
		if r.ActivatesAt.After(now) {
			continue
		}
		if j, ok := cur[r.Algorithm]; !ok || r.ActivatesAt.After(recs[j].ActivatesAt) {
			cur[r.Algorithm] = i
		}
	}
	return cur
}

// records is the snapshot's keys as store records, with the KeepUntil this
// instance knows (at least the stored one).
func (sn *snapshot) records() []store.SigningKey {
	recs := make([]store.SigningKey, len(sn.keys))
	for i, k := range sn.keys {
		recs[i] = store.SigningKey{ID: k.kid, Algorithm: string(k.alg), CreatedAt: k.createdAt,
			ActivatesAt: k.activatesAt, KeepUntil: k.keptUntil()}
	}
	return recs
}

// newest is the most recently created key of alg, if any.
func (sn *snapshot) newest(alg string) (*key, bool) {
	for _, k := range sn.keys { // newest first
		if string(k.alg) == alg {
			return k, true
		}
	}
	return nil, false
}

// Rotate adds a next key of alg ("" = of every algorithm of the signer)
// that signs from now plus the publication delay, and reloads. A rotation
// of the same algorithm that another instance committed meanwhile wins
// instead (the keys are added with AddSigningKey's since). It returns the
// newest key of each algorithm rotated: the one it added, or the winner.
func (s *Signer) Rotate(ctx context.Context, alg string) ([]KeyInfo, error) {
	algs := s.algs
	if alg != "" {
		if !slices.Contains(s.algs, alg) {
			return nil, fmt.Errorf("signer: algorithm %q is not enabled (enabled: %s)", alg, s.algs)
		}
		algs = []string{alg}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reloadLocked(ctx); err != nil {
		return nil, err
	}
	if _, err := s.addNext(ctx, algs, "by hand"); err != nil {
		return nil, err
	}
	if err := s.reloadLocked(ctx); err != nil {
		return nil, err
	}
	snap := s.snap.Load()
	infos := Describe(snap.records(), s.now())
	var out []KeyInfo
	for _, a := range algs {
		if k, ok := snap.newest(a); ok {
			out = append(out, infos[slices.IndexFunc(infos, func(i KeyInfo) bool { return i.KID == k.kid })])
		}
	}
	return out, nil
}

// addNext generates a next key of each of algs and adds it unless a key of
// its algorithm newer than the newest this instance knows was added
// meanwhile. It returns how many it added.
func (s *Signer) addNext(ctx context.Context, algs []string, why string) (int, error) {
	if len(algs) == 0 {
		return 0, nil
	}
	snap := s.snap.Load()
	now := s.now()
	recs, err := generateAll(s.sealer, algs, now, now.Add(s.delay))
	if err != nil {
		return 0, fmt.Errorf("signer: generate key: %w", err)
	}
	n := 0
	for _, rec := range recs {
		var since time.Time // zero: no key of the algorithm at all
		if k, ok := snap.newest(rec.Algorithm); ok {
			since = k.createdAt
		}
		added, err := s.store.AddSigningKey(ctx, rec, since)
		if err != nil {
			return n, fmt.Errorf("signer: add %s key: %w", rec.Algorithm, err)
		}
		if !added {
			s.log.Info("signer: another instance rotated first", "alg", rec.Algorithm, "rotation", why)
			continue
		}
		n++
		s.log.Info("signer: rotated signing key", "kid", rec.ID, "alg", rec.Algorithm, "rotation", why,
			"activates_at", rec.ActivatesAt)
	}
	return n, nil
}

// Maintain is one round of Run: it reloads the keys, adds a next key of
// each algorithm whose newest key is RotationPeriod old (if the schedule is
// on), and deletes each retired key whose KeepUntil has passed (once it has
// been retired for the publication delay, so that an instance whose clock
// runs late does not meet it gone), then reloads if it changed anything.
// Several instances may run it at once: the store adds one key per period
// and deletes what no token needs.
func (s *Signer) Maintain(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reloadLocked(ctx); err != nil {
		return err
	}
	now := s.now()
	snap := s.snap.Load()
	var errs []error
	changed := 0

	if s.period > 0 {
		var due []string
		for _, a := range s.algs {
			if k, ok := snap.newest(a); ok && !now.Before(k.createdAt.Add(s.period)) {
				due = append(due, a)
			}
		}
		n, err := s.addNext(ctx, due, "schedule")
		changed += n
		errs = append(errs, err)
	}

	recs := snap.records()
	cur := currentIndexes(recs, now)
	for _, info := range Describe(recs, now) {
		if info.State != store.KeyRetired || !info.KeepUntil.Before(now) {
			continue
		}
		if c, ok := cur[info.Algorithm]; ok && now.Before(recs[c].ActivatesAt.Add(s.delay)) {
			continue // retired only just
		}
		deleted, err := s.store.DeleteSigningKey(ctx, info.KID, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("signer: delete key %s: %w", info.KID, err))
			continue
		}
		if deleted {
			changed++
			s.log.Info("signer: deleted a retired signing key no token needs", "kid", info.KID, "alg", info.Algorithm,
				"keep_until", info.KeepUntil)
		}
	}
	if changed > 0 {
		errs = append(errs, s.reloadLocked(ctx))
	}
	return errors.Join(errs...)
}

// Run calls Maintain at once and then every reload interval until ctx is
// done, logging errors.
func (s *Signer) Run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		if err := s.Maintain(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("signer: maintain signing keys", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
