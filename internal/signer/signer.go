// Package signer holds grantd's signing keys: it signs JWT access tokens
// (RFC 9068), verifies them, publishes the JWKS, and rotates keys.
//
// Keys live in the store, sealed with AES-256-GCM under a key-encryption key
// (KEK) that never reaches the store. The signer keeps the parsed keys, a
// ready go-jose signer for the current key and the JWKS JSON in an immutable
// snapshot behind an atomic pointer: Sign, Verify and JWKS take no lock and
// parse no key. Reload and Rotate build a new snapshot and swap it in.
//
// Key lifecycle (the store enforces it in AddSigningKey): a new key becomes
// current; the old current key becomes previous and stays published, so
// tokens it signed keep verifying; the key before that is retired and
// disappears from the JWKS, and its tokens stop verifying. Rotate no more
// often than the longest access-token lifetime.
package signer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	AddSigningKey(ctx context.Context, k store.SigningKey) error
	AddFirstSigningKey(ctx context.Context, k store.SigningKey) (bool, error)
}

var _ KeyStore = (store.SigningKeys)(nil)

// Options configure New.
type Options struct {
	Store KeyStore
	// KEK is the 32-byte key-encryption key (AES-256-GCM) sealing private
	// keys at rest. See LoadOrCreateKEK and ParseKEK.
	KEK []byte
	// Algorithm of keys this signer generates: RS256 (default) or ES256.
	// Changing it takes effect at the next rotation; the current key keeps
	// signing with its own algorithm until then.
	Algorithm string
	Now       func() time.Time // nil = time.Now
	Logger    *slog.Logger     // nil = discard
}

// KeyInfo describes a published key, for `grantd keys list`.
type KeyInfo struct {
	KID       string    `json:"kid"`
	Algorithm string    `json:"alg"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
}

// ErrInvalidToken wraps every reason Verify rejects a token.
var ErrInvalidToken = errors.New("signer: invalid token")

// TokenType is the JOSE "typ" of access tokens (RFC 9068 section 2.1).
const TokenType = "at+jwt"

// maxTokenLen bounds what Verify will parse.
const maxTokenLen = 64 << 10

// acceptedAlgs is every algorithm a key of ours can have; anything else
// (none, HS*, PS*, …) fails parsing.
var acceptedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Signer signs and verifies access tokens. It is safe for concurrent use.
type Signer struct {
	store  KeyStore
	sealer sealer
	alg    string
	now    func() time.Time
	log    *slog.Logger

	mu   sync.Mutex // serialises Reload and Rotate; readers never take it
	snap atomic.Pointer[snapshot]
}

// snapshot is one immutable view of the published keys.
type snapshot struct {
	current *key
	signer  jose.Signer
	byKID   map[string]*key // current and previous
	jwks    []byte
	infos   []KeyInfo // current first, then previous, newest first
}

// New loads the keys from the store. If the store has none, it generates the
// first one (RSA 2048 for RS256, P-256 for ES256) and adds it.
func New(ctx context.Context, o Options) (*Signer, error) {
	if o.Store == nil {
		return nil, errors.New("signer: no key store")
	}
	alg := o.Algorithm
	if alg == "" {
		alg = RS256
	}
	if !validAlgorithm(alg) {
		return nil, fmt.Errorf("signer: unsupported algorithm %q (want RS256 or ES256)", alg)
	}
	c, err := newSealer(o.KEK)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	s := &Signer{store: o.Store, sealer: c, alg: alg, now: o.Now, log: o.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}

	recs, err := s.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signer: list signing keys: %w", err)
	}
	if !hasCurrent(recs) {
		rec, err := newRecord(s.sealer, alg, s.now())
		if err != nil {
			return nil, fmt.Errorf("signer: generate first key: %w", err)
		}
		// Only if no other instance added one meanwhile: they all agree on
		// one first key and none signs with a key another one retired.
		added, err := s.store.AddFirstSigningKey(ctx, rec)
		if err != nil {
			return nil, fmt.Errorf("signer: add first key: %w", err)
		}
		if added {
			s.log.Info("signer: generated first signing key", "kid", rec.ID, "alg", alg)
		}
	}
	if err := s.reloadLocked(ctx); err != nil {
		return nil, err
	}
	if cur := s.snap.Load().current; string(cur.alg) != alg {
		s.log.Warn("signer: current key uses another algorithm than configured; rotate to switch",
			"kid", cur.kid, "key_alg", string(cur.alg), "configured_alg", alg)
	}
	return s, nil
}

func hasCurrent(recs []store.SigningKey) bool {
	for _, r := range recs {
		if r.State == store.KeyCurrent {
			return true
		}
	}
	return false
}

// Sign marshals claims to JSON and returns a compact JWS signed with the
// current key, with header alg, kid and typ "at+jwt". claims must marshal to
// a JSON object.
func (s *Signer) Sign(claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("signer: marshal claims: %w", err)
	}
	if len(payload) == 0 || payload[0] != '{' {
		return "", errors.New("signer: claims must be a JSON object")
	}
	jws, err := s.snap.Load().signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signer: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// Verify checks token's signature against the published key named by its
// kid, with that key's algorithm, and typ at+jwt, then unmarshals the payload
// into claims (unless claims is nil). It does not check exp, nbf, iss or aud:
// the caller does. Every failure wraps ErrInvalidToken.
func (s *Signer) Verify(token string, claims any) error {
	if len(token) > maxTokenLen {
		return fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	jws, err := jose.ParseSignedCompact(token, acceptedAlgs)
	if err != nil {
		return fmt.Errorf("%w: malformed or unsupported algorithm", ErrInvalidToken)
	}
	if len(jws.Signatures) != 1 {
		return fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	k := s.snap.Load().byKID[h.KeyID]
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

// JWKS returns the JSON of the published public keys, {"keys":[...]},
// current first. The slice is shared and precomputed: do not modify it.
func (s *Signer) JWKS() []byte { return s.snap.Load().jwks }

// Algorithm returns the algorithm of the current key, the one Sign uses.
func (s *Signer) Algorithm() string { return string(s.snap.Load().current.alg) }

// Keys describes the published keys, current first.
func (s *Signer) Keys() []KeyInfo {
	infos := s.snap.Load().infos
	return append([]KeyInfo(nil), infos...)
}

// Rotate generates a key with the configured algorithm, adds it to the store
// as the current key, and reloads. It returns the new key's kid.
func (s *Signer) Rotate(ctx context.Context) (kid string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := newRecord(s.sealer, s.alg, s.now())
	if err != nil {
		return "", fmt.Errorf("signer: generate key: %w", err)
	}
	if err := s.store.AddSigningKey(ctx, rec); err != nil {
		return "", fmt.Errorf("signer: add key: %w", err)
	}
	s.log.Info("signer: rotated signing key", "kid", rec.ID, "alg", s.alg)
	if err := s.reloadLocked(ctx); err != nil {
		return rec.ID, err
	}
	return rec.ID, nil
}

// Reload re-reads the keys from the store (another instance or the CLI may
// have rotated). On error the previous snapshot stays in use.
func (s *Signer) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked(ctx)
}

// Run calls Reload every `every` until ctx is done, logging errors. It
// returns at once if every is not positive.
func (s *Signer) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		s.log.Warn("signer: key reload disabled", "every", every)
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("signer: reload signing keys", "err", err)
			}
		}
	}
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
	if old == nil || old.current.kid != next.current.kid {
		s.log.Info("signer: signing with key", "kid", next.current.kid, "alg", string(next.current.alg),
			"published", len(next.infos))
	}
	return nil
}

// build makes a snapshot from the store's keys (newest first), reusing keys
// already parsed in old so that a reload opens only new keys.
func (s *Signer) build(recs []store.SigningKey, old *snapshot) (*snapshot, error) {
	next := &snapshot{byKID: make(map[string]*key, len(recs))}
	var published []*key
	for _, rec := range recs {
		if rec.State != store.KeyCurrent && rec.State != store.KeyPrevious {
			continue
		}
		if _, dup := next.byKID[rec.ID]; dup {
			return nil, fmt.Errorf("signer: duplicate kid %q in store", rec.ID)
		}
		var k *key
		if old != nil {
			if prev := old.byKID[rec.ID]; prev != nil && string(prev.alg) == rec.Algorithm {
				cp := *prev
				cp.state, cp.createdAt = rec.State, rec.CreatedAt
				k = &cp
			}
		}
		if k == nil {
			var err error
			if k, err = parseRecord(s.sealer, rec); err != nil {
				return nil, fmt.Errorf("signer: signing key %q: %w", rec.ID, err)
			}
		}
		next.byKID[k.kid] = k
		// The store lists newest first; the first current key wins.
		if k.state == store.KeyCurrent && next.current == nil {
			next.current = k
			published = append([]*key{k}, published...)
		} else {
			published = append(published, k)
		}
	}
	if next.current == nil {
		return nil, errors.New("signer: the store has no current signing key")
	}

	if old != nil && old.current.kid == next.current.kid {
		next.signer = old.signer
	} else {
		opts := (&jose.SignerOptions{}).WithType(TokenType)
		sig, err := jose.NewSigner(jose.SigningKey{
			Algorithm: next.current.alg,
			Key:       jose.JSONWebKey{Key: next.current.private, KeyID: next.current.kid},
		}, opts)
		if err != nil {
			return nil, fmt.Errorf("signer: build signer: %w", err)
		}
		next.signer = sig
	}

	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(published))}
	next.infos = make([]KeyInfo, 0, len(published))
	for _, k := range published {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       k.public,
			KeyID:     k.kid,
			Algorithm: string(k.alg),
			Use:       "sig",
		})
		next.infos = append(next.infos, KeyInfo{
			KID: k.kid, Algorithm: string(k.alg), State: k.state, CreatedAt: k.createdAt,
		})
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
