// Package signer holds grantd's signing keys: it signs JWT access tokens
// (RFC 9068), verifies them, publishes the JWKS, and rotates keys.
//
// Keys live in the store, sealed with AES-256-GCM under a key-encryption key
// (KEK) that never reaches the store. The signer keeps the parsed keys and
// the JWKS JSON in an immutable snapshot behind an atomic pointer: Sign,
// Verify and JWKS take no lock and parse no key. Reload builds a new
// snapshot, parsing only keys it has not seen, and swaps it in.
//
// Key lifecycle (docs/keys.md). Each algorithm has its own keys. A key is
// published (in the JWKS, and accepted by Verify) from its creation; it is
// next until its ActivatesAt, when it becomes its algorithm's current key
// (the newest activated one signs); once a newer key of its algorithm has
// activated it is retired (published, verifies, does not sign); and it is
// deleted once its KeepUntil has passed. A rotation adds a next key that
// activates after the publication delay, which covers every instance's
// reload and every cache of the JWKS: no instance signs with a key that
// another one, or a resource server's cache, does not publish yet. Before it
// signs a token whose exp is after its key's KeepUntil, the signer raises
// KeepUntil in the store (a day past the exp, so that this is rare): a key
// stays published for as long as any token it signed is valid, whatever the
// number of rotations, and a crash can only keep a key longer.
package signer

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/grantd/grantd/internal/store"
)

// KeyStore is the narrow part of store.Store the signer needs.
type KeyStore interface {
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	AddSigningKey(ctx context.Context, k store.SigningKey, since time.Time) (bool, error)
	ReserveSigningKey(ctx context.Context, kid string, until time.Time) error
	DeleteSigningKey(ctx context.Context, kid string, before time.Time) (bool, error)
}

var _ KeyStore = (store.SigningKeys)(nil)

// Options configure New.
type Options struct {
	Store KeyStore
	// KEK is the 32-byte key-encryption key (AES-256-GCM) sealing private
	// keys at rest. See LoadOrCreateKEK and ParseKEK.
	KEK []byte
	// PreviousKEKs are key-encryption keys being rotated out: keys sealed
	// under them still open; new keys are sealed under KEK (see kek.go and
	// `grantd keys rotate-kek`).
	PreviousKEKs [][]byte
	// Algorithm is what Sign uses when asked for none: RS256 (default),
	// PS256, ES256 or EdDSA. It must be one of Algorithms.
	Algorithm string
	// Algorithms are the algorithms the signer keeps keys for, rotates and
	// signs with; nil = just Algorithm. Keys of other algorithms found in
	// the store stay published (their tokens verify) but do not sign.
	Algorithms []string
	// RotationPeriod makes Run add a new key of each algorithm this long
	// after the newest one was created; 0 = only by hand (Rotate). It
	// must be longer than PublicationDelay.
	RotationPeriod time.Duration
	// PublicationDelay is how long a new key is published before it signs;
	// 0 = DefaultPublicationDelay(ReloadInterval). Every instance must use
	// the same.
	PublicationDelay time.Duration
	// ReloadInterval is how often Run re-reads the keys (0 =
	// DefaultReloadInterval). The publication delay must cover every
	// instance's.
	ReloadInterval time.Duration
	// Concurrency bounds the signatures computed at once, first come
	// first served; 0 = GOMAXPROCS. Signing is CPU-bound: more at once
	// than CPUs only adds to each one's latency.
	Concurrency int
	Now         func() time.Time // nil = time.Now
	Logger      *slog.Logger     // nil = discard
}

// ErrInvalidToken wraps every reason Verify rejects a token.
var ErrInvalidToken = errors.New("signer: invalid token")

// TokenType is the JOSE "typ" of access tokens (RFC 9068 section 2.1).
const TokenType = "at+jwt"

// maxTokenLen bounds what Verify will parse.
const maxTokenLen = 64 << 10

// Signer signs and verifies access tokens. It is safe for concurrent use.
type Signer struct {
	store  KeyStore
	sealer sealer
	alg    string   // Sign's default
	algs   []string // what it keeps keys for and signs with
	period time.Duration
	delay  time.Duration
	every  time.Duration
	now    func() time.Time
	log    *slog.Logger
	// slots bounds the signatures computed at once to the CPUs: a request
	// waits its turn, first come first served, instead of every request's
	// goroutine sharing the cores at once, which stretched the tail of
	// RS256 to 13 x its median (docs/benchmarks.md).
	slots chan struct{}

	mu     sync.Mutex // serialises Reload, Rotate and Maintain; readers never take it
	snap   atomic.Pointer[snapshot]
	loaded atomic.Int64 // when the last reload succeeded (UnixNano, by now)
}

// snapshot is one immutable view of the stored keys.
type snapshot struct {
	keys  []*key                             // every stored key, newest first
	byKID map[string]*key                    //
	byAlg map[jose.SignatureAlgorithm][]*key // latest ActivatesAt first
	algs  []jose.SignatureAlgorithm          // of the keys held: all Verify accepts
	jwks  []byte
}

// current is alg's current key at now: the one activated last (of two
// activated at once, the newer). Nil if none has activated.
func (sn *snapshot) current(alg jose.SignatureAlgorithm, now time.Time) *key {
	for _, k := range sn.byAlg[alg] {
		if !k.activatesAt.After(now) {
			return k
		}
	}
	return nil
}

// New loads the keys from the store. For each algorithm the store has no
// key of, it generates one (RSA 2048 for RS256 and PS256, P-256 for ES256,
// Ed25519 for EdDSA) and adds it unless another instance just did. On an
// empty store the first keys sign at once: no instance runs that could
// lack them. A key added beside existing keys (an algorithm added to the
// configuration) waits for the publication delay like any new key.
func New(ctx context.Context, o Options) (*Signer, error) {
	if o.Store == nil {
		return nil, errors.New("signer: no key store")
	}
	alg := o.Algorithm
	if alg == "" {
		alg = RS256
	}
	algs := slices.Clone(o.Algorithms)
	if algs == nil {
		algs = []string{alg}
	}
	for _, a := range algs {
		if !validAlgorithm(a) {
			return nil, fmt.Errorf("signer: unsupported algorithm %q (want %s)", a, strings.Join(Algorithms, ", "))
		}
	}
	if !slices.Contains(algs, alg) {
		return nil, fmt.Errorf("signer: the default algorithm %s is not among the algorithms %s", alg, strings.Join(algs, ", "))
	}
	if o.RotationPeriod < 0 || o.PublicationDelay < 0 || o.ReloadInterval < 0 {
		return nil, errors.New("signer: negative rotation period, publication delay or reload interval")
	}
	c, err := newSealer(o.KEK, o.PreviousKEKs...)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	s := &Signer{store: o.Store, sealer: c, alg: alg, algs: unique(algs), period: o.RotationPeriod,
		delay: o.PublicationDelay, every: o.ReloadInterval, now: o.Now, log: o.Logger,
		slots: make(chan struct{}, cmp.Or(max(o.Concurrency, 0), runtime.GOMAXPROCS(0)))}
	if s.every == 0 {
		s.every = DefaultReloadInterval
	}
	if s.delay == 0 {
		s.delay = DefaultPublicationDelay(s.every)
	}
	if s.period > 0 && s.period <= s.delay {
		return nil, fmt.Errorf("signer: rotation period %s is not longer than the publication delay %s", s.period, s.delay)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if min := JWKSMaxAge + s.every; s.delay < min {
		s.log.Warn("signer: the key publication delay is shorter than the JWKS cache lifetime plus the reload interval: "+
			"other instances and resource servers may meet a new key before they publish it",
			"delay", s.delay, "jwks_max_age", JWKSMaxAge, "reload_interval", s.every)
	}

	recs, err := s.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signer: list signing keys: %w", err)
	}
	var missing []string
	for _, a := range s.algs {
		if !slices.ContainsFunc(recs, func(r store.SigningKey) bool { return r.Algorithm == a }) {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		now := s.now()
		activates := now.Add(s.delay)
		if len(recs) == 0 {
			activates = now
		}
		news, err := generateAll(s.sealer, missing, now, activates)
		if err != nil {
			return nil, fmt.Errorf("signer: generate first keys: %w", err)
		}
		for _, rec := range news {
			// Only if no other instance added one meanwhile: they all
			// agree on one first key of each algorithm.
			added, err := s.store.AddSigningKey(ctx, rec, time.Time{})
			if err != nil {
				return nil, fmt.Errorf("signer: add first %s key: %w", rec.Algorithm, err)
			}
			if added {
				s.log.Info("signer: generated first signing key", "kid", rec.ID, "alg", rec.Algorithm,
					"activates_at", rec.ActivatesAt)
			}
		}
	}
	if err := s.reloadLocked(ctx); err != nil {
		return nil, err
	}
	now := s.now()
	for _, a := range s.algs {
		if s.snap.Load().current(jose.SignatureAlgorithm(a), now) == nil {
			s.log.Warn("signer: no active key of an algorithm yet; its tokens fail until one activates", "alg", a)
		}
	}
	return s, nil
}

// unique is l without repeats, in order.
func unique(l []string) []string {
	var out []string
	for _, v := range l {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// generateAll generates one key of each of algs at once (RSA generation
// takes a while).
func generateAll(c sealer, algs []string, now, activatesAt time.Time) ([]store.SigningKey, error) {
	out := make([]store.SigningKey, len(algs))
	errs := make([]error, len(algs))
	var wg sync.WaitGroup
	for i, a := range algs {
		wg.Go(func() { out[i], errs[i] = newRecord(c, a, now, activatesAt) })
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// SignWait reports how long until Sign can sign with alg ("" = the
// default): 0 when alg has an active key, the time until its earliest key
// activates otherwise (an algorithm just added beside existing keys waits
// for the publication delay), and false when alg is not enabled or has no
// key at all.
func (s *Signer) SignWait(alg string) (time.Duration, bool) {
	if alg == "" {
		alg = s.alg
	}
	if !slices.Contains(s.algs, alg) {
		return 0, false
	}
	keys := s.snap.Load().byAlg[jose.SignatureAlgorithm(alg)]
	if len(keys) == 0 {
		return 0, false
	}
	now := s.now()
	wait := keys[0].activatesAt.Sub(now) // latest activation first: the earliest is last
	for _, k := range keys {
		if !k.activatesAt.After(now) {
			return 0, true
		}
		wait = min(wait, k.activatesAt.Sub(now))
	}
	return wait, true
}

// Sign marshals claims to JSON and returns a compact JWS signed with the
// current key of alg ("" = the default algorithm), with header alg, kid and
// typ "at+jwt". claims must marshal to a JSON object with a numeric exp
// (seconds). If exp is after the key's KeepUntil, Sign first raises it in
// the store to a day past exp, and fails if it cannot: no token leaves
// before the store promises to publish its key until it expires.
func (s *Signer) Sign(ctx context.Context, alg string, claims any) (string, error) {
	if alg == "" {
		alg = s.alg
	}
	if !slices.Contains(s.algs, alg) {
		return "", fmt.Errorf("signer: algorithm %q is not enabled", alg)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("signer: marshal claims: %w", err)
	}
	if len(payload) == 0 || payload[0] != '{' {
		return "", errors.New("signer: claims must be a JSON object")
	}
	var exp time.Time
	if e, ok := claims.(Expirer); ok {
		// The claims say their exp: parsing it back out of the JSON cost
		// 4 % of an ES256 token's CPU.
		if exp = e.Expiry(); exp.IsZero() {
			return "", errors.New("signer: claims need a numeric exp")
		}
	} else if exp, err = expiry(payload); err != nil {
		return "", err
	}
	k, err := s.reserved(ctx, jose.SignatureAlgorithm(alg), exp)
	if err != nil {
		return "", err
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	jws, err := k.signer.Sign(payload)
	<-s.slots
	if err != nil {
		return "", fmt.Errorf("signer: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// Expirer is claims that know the exp they marshal to (whole seconds; the
// zero time for none): Sign takes it from Expiry instead of parsing the
// JSON for it.
type Expirer interface {
	Expiry() time.Time
}

// expiry reads the exp claim (NumericDate, RFC 7519 section 2) of a JSON
// object.
func expiry(payload []byte) (time.Time, error) {
	var c struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Exp == nil {
		return time.Time{}, errors.New("signer: claims need a numeric exp")
	}
	if sec, err := c.Exp.Int64(); err == nil {
		return time.Unix(sec, 0), nil
	}
	f, err := c.Exp.Float64()
	if err != nil || f < 0 || f > 1<<40 {
		return time.Time{}, errors.New("signer: claims need a numeric exp")
	}
	return time.Unix(int64(f)+1, 0), nil // a fraction: round up
}

// reserveAttempts bounds how often Sign tries to reserve: the token's grant
// has committed by then (a code is spent), so a passing store error is
// worth a retry, and a key another instance deleted (this snapshot is
// stale) is worth a reload and the key that replaced it.
const reserveAttempts = 3

// reserved returns alg's current key once the store keeps it published
// past exp (reserve), retrying a failed reservation.
func (s *Signer) reserved(ctx context.Context, alg jose.SignatureAlgorithm, exp time.Time) (*key, error) {
	var err error
	for attempt := range reserveAttempts {
		k := s.snap.Load().current(alg, s.now())
		if k == nil {
			return nil, fmt.Errorf("signer: no active %s key", alg)
		}
		if err = s.reserve(ctx, k, exp); err == nil {
			return k, nil
		}
		if errors.Is(err, store.ErrNotFound) {
			if rerr := s.Reload(ctx); rerr != nil {
				return nil, errors.Join(err, rerr)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return nil, err
}

// reserve makes sure the store keeps k published until exp with half of
// ReserveAhead to spare: if not, it raises KeepUntil to exp + ReserveAhead,
// once for all the goroutines that need it.
func (s *Signer) reserve(ctx context.Context, k *key, exp time.Time) error {
	need := exp.Add(ReserveAhead / 2)
	if !need.After(k.keptUntil()) {
		return nil // the fast path: no lock, no write
	}
	k.reserving.Lock()
	defer k.reserving.Unlock()
	if !need.After(k.keptUntil()) {
		return nil // another goroutine reserved while we waited
	}
	until := exp.Add(ReserveAhead).UTC()
	if err := s.store.ReserveSigningKey(ctx, k.kid, until); err != nil {
		return fmt.Errorf("signer: keep key %s published until %s: %w", k.kid, until.Format(time.RFC3339), err)
	}
	k.raiseKeepUntil(until)
	return nil
}

// Verify checks token's signature against the published key named by its
// kid, with that key's algorithm (only algorithms of keys it holds parse at
// all), and typ at+jwt, then unmarshals the payload into claims (unless
// claims is nil). It does not check exp, nbf, iss or aud: the caller does.
// Every failure wraps ErrInvalidToken.
func (s *Signer) Verify(token string, claims any) error {
	if len(token) > maxTokenLen {
		return fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	snap := s.snap.Load()
	jws, err := jose.ParseSignedCompact(token, snap.algs)
	if err != nil {
		return fmt.Errorf("%w: malformed or unsupported algorithm", ErrInvalidToken)
	}
	if len(jws.Signatures) != 1 {
		return fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	k := snap.byKID[h.KeyID]
	if k == nil {
		return fmt.Errorf("%w: unknown kid", ErrInvalidToken)
	}
	if h.Algorithm != string(k.alg) {
		return fmt.Errorf("%w: alg does not match the key", ErrInvalidToken)
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isAccessTokenType(typ) {
		return fmt.Errorf("%w: typ is not %s", ErrInvalidToken, TokenType)
	}
	// We never set crit or b64; refuse tokens that rely on either.
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return fmt.Errorf("%w: crit header", ErrInvalidToken)
	}
	if _, ok := h.ExtraHeaders["b64"]; ok {
		return fmt.Errorf("%w: b64 header", ErrInvalidToken)
	}
	payload, err := jws.Verify(k.public)
	if err != nil {
		return fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	if claims == nil {
		return nil
	}
	if err := json.Unmarshal(payload, claims); err != nil {
		return fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	return nil
}

// isAccessTokenType accepts "at+jwt" and its full media type (RFC 7515
// section 4.1.9), case-insensitively.
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, TokenType) || strings.EqualFold(typ, "application/"+TokenType)
}

// JWKS returns the JSON of the published public keys, {"keys":[...]}, every
// stored key of every algorithm (next, current and retired), newest first,
// each with kid, alg and use "sig". The slice is shared and precomputed: do
// not modify it. Serve it with Cache-Control max-age JWKSMaxAge at most.
func (s *Signer) JWKS() []byte { return s.snap.Load().jwks }

// Algorithm returns the default algorithm, the one Sign uses when asked for
// none.
func (s *Signer) Algorithm() string { return s.alg }

// Algorithms returns the algorithms Sign signs with (the configured ones).
func (s *Signer) Algorithms() []string { return slices.Clone(s.algs) }

// Keys describes the stored keys as they are now: current keys first, then
// next, then retired; by algorithm; newest first.
func (s *Signer) Keys() []KeyInfo {
	return Describe(s.snap.Load().records(), s.now())
}

// Reload re-reads the keys from the store (another instance or the CLI may
// have rotated, reserved or deleted). On error the previous snapshot stays
// in use.
func (s *Signer) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked(ctx)
}

func (s *Signer) reloadLocked(ctx context.Context) error {
	recs, err := s.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("signer: list signing keys: %w", err)
	}
	old := s.snap.Load()
	next, err := s.build(recs, old)
	if err != nil {
		return err
	}
	s.snap.Store(next)
	s.loaded.Store(s.now().UnixNano())
	if old != nil {
		for _, k := range next.keys {
			if old.byKID[k.kid] == nil {
				s.log.Info("signer: new signing key published", "kid", k.kid, "alg", string(k.alg), "activates_at", k.activatesAt)
			}
		}
		for _, k := range old.keys {
			if next.byKID[k.kid] == nil {
				s.log.Info("signer: signing key removed", "kid", k.kid, "alg", string(k.alg))
			}
		}
	}
	return nil
}

// Fresh reports whether the keys were reloaded recently enough that this
// instance publishes every key another instance may sign with: a key
// signs a publication delay after it is created, and a resource server may
// hold this instance's JWKS for JWKSMaxAge, so a snapshot older than the
// delay less the JWKS lifetime and one reload interval (at least two
// intervals) may lack a key that signs. /readyz fails then, so that a load
// balancer takes the instance out until a reload succeeds.
func (s *Signer) Fresh() error {
	age := s.now().Sub(time.Unix(0, s.loaded.Load()))
	if limit := s.staleAfter(); age > limit {
		return fmt.Errorf("signer: the signing keys were last reloaded %s ago (more than %s)", age.Truncate(time.Second), limit)
	}
	return nil
}

func (s *Signer) staleAfter() time.Duration {
	return max(s.delay-JWKSMaxAge-s.every, 2*s.every)
}

// build makes a snapshot from the store's keys (newest first), reusing keys
// already parsed in old so that a reload opens only new keys.
func (s *Signer) build(recs []store.SigningKey, old *snapshot) (*snapshot, error) {
	next := &snapshot{byKID: make(map[string]*key, len(recs)), byAlg: map[jose.SignatureAlgorithm][]*key{}}
	for _, rec := range recs {
		if _, dup := next.byKID[rec.ID]; dup {
			return nil, fmt.Errorf("signer: duplicate kid %q in store", rec.ID)
		}
		var k *key
		if old != nil {
			if prev := old.byKID[rec.ID]; prev != nil && string(prev.alg) == rec.Algorithm &&
				prev.activatesAt.Equal(rec.ActivatesAt) && prev.createdAt.Equal(rec.CreatedAt) {
				k = prev
				k.raiseKeepUntil(rec.KeepUntil) // what other instances reserved
			}
		}
		if k == nil {
			var err error
			if k, err = parseRecord(s.sealer, rec); err != nil {
				return nil, fmt.Errorf("signer: signing key %q: %w", rec.ID, err)
			}
		}
		next.keys = append(next.keys, k)
		next.byKID[k.kid] = k
		if !slices.Contains(next.algs, k.alg) {
			next.algs = append(next.algs, k.alg)
		}
		next.byAlg[k.alg] = append(next.byAlg[k.alg], k)
	}
	for _, ks := range next.byAlg {
		// Stable: of keys activating at once, the newer (listed first) wins.
		slices.SortStableFunc(ks, func(a, b *key) int { return b.activatesAt.Compare(a.activatesAt) })
	}

	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(next.keys))}
	for _, k := range next.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.public, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("signer: marshal JWKS: %w", err)
	}
	// Guard against ever publishing a private parameter.
	if bytes.Contains(jwks, []byte(`"d":`)) {
		return nil, errors.New("signer: JWKS would contain private key material")
	}
	next.jwks = jwks
	return next, nil
}
