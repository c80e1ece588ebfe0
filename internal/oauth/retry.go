package oauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// The idempotent refresh retry (docs/protocol.md): a client whose answer to
// a rotation was lost on the network presents the rotated refresh token
// again. Within Provider.RefreshRetryWindow of that rotation, while the
// successor it was given has never been used, the same answer is given
// again instead of the reuse revoking the family: the same refresh token,
// and the same access token (the same record and claims; a JWT signed
// again, so its signature bytes may differ). Any other reuse revokes the
// family, as ever.
//
// The answer is kept on the rotated token's row (store.Writes.Retry),
// sealed under a key derived from the rotated refresh token itself, which
// the store never holds: only whoever presents that token can open it, and
// nothing of the answer is stored in clear.

// MaxRefreshRetryWindow bounds Provider.RefreshRetryWindow: a retry is a
// client's immediate resend, not a second use.
const MaxRefreshRetryWindow = time.Minute

// retryAnswer is a rotation's answer, as kept for its retry.
type retryAnswer struct {
	Refresh string            `json:"rt"`
	Opaque  string            `json:"at,omitempty"`
	Claims  *Claims           `json:"claims,omitempty"`
	Access  store.AccessToken `json:"rec"`
}

// retryAEAD seals and opens the answer kept for a retry of refresh token
// rt: AES-256-GCM under a key derived (HKDF-SHA-256) from rt, which the
// store never holds.
func retryAEAD(rt string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(rt), nil, "grantd refresh retry v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealRetry seals plain for family (the associated data): a random nonce,
// then the ciphertext.
func sealRetry(rt, family string, plain []byte) ([]byte, error) {
	aead, err := retryAEAD(rt)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, []byte(family)), nil
}

// openRetry opens what sealRetry sealed.
func openRetry(rt, family string, sealed []byte) ([]byte, error) {
	aead, err := retryAEAD(rt)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("retry: sealed answer too short")
	}
	n := aead.NonceSize()
	return aead.Open(nil, sealed[:n], sealed[n:], []byte(family))
}

// keepRetry adds, to a rotation's writes, the answer sealed for its retry
// (when retries are on): it wraps the decision once bindTo has bound it,
// so that the answer kept is the one given.
func (p *Provider) keepRetry(rt string, decide func(store.Locked) (decision, error)) func(store.Locked) (decision, error) {
	if p.RefreshRetryWindow <= 0 {
		return decide
	}
	return func(l store.Locked) (decision, error) {
		d, err := decide(l)
		if err != nil || !d.writes.RotateRefreshToken || d.refresh == "" || l.Family == nil {
			return d, err
		}
		plain, jerr := json.Marshal(retryAnswer{Refresh: d.refresh, Opaque: d.access.opaque, Claims: d.access.claims, Access: d.access.rec})
		sealed, serr := sealRetry(rt, l.Family.ID, plain)
		if jerr != nil || serr != nil {
			return d, nil // no retry for this rotation: it still rotates
		}
		d.writes.Retry = sealed
		return d, nil
	}
}

// retryOf is the answer to a retry of the rotated refresh token rt (tok),
// when it is one: within the window of its rotation, of a live family of
// client c, presented with the same DPoP key and certificate as the first
// time, with an answer kept. ok is false for any other reuse. The decision
// writes nothing; confirmRetry then checks the successor was never used.
func (p *Provider) retryOf(c *store.Client, l store.Locked, rt string, req TokenRequest, now time.Time) (decision, bool) {
	tok, fam := l.RefreshToken, l.Family
	since := now.Sub(tok.UsedAt)
	if p.RefreshRetryWindow <= 0 || since < 0 || since >= p.RefreshRetryWindow || len(tok.Retry) == 0 ||
		fam.ClientID != c.ID || familyLive(fam, now) != nil {
		return decision{}, false
	}
	plain, err := openRetry(rt, fam.ID, tok.Retry)
	if err != nil {
		return decision{}, false
	}
	var a retryAnswer
	if json.Unmarshal(plain, &a) != nil || a.Refresh == "" {
		return decision{}, false
	}
	jkt := ""
	if req.proof != nil {
		jkt = req.proof.JKT
	}
	ttl := a.Access.ExpiresAt.Sub(now)
	if a.Access.JKT != jkt || a.Access.X5T != req.x5t || ttl <= 0 {
		return decision{}, false
	}
	return decision{access: access{rec: a.Access, ttl: ttl, claims: a.Claims, opaque: a.Opaque}, refresh: a.Refresh,
		retry: SecretKey(a.Refresh), conn: l.Connection}, true
}

// confirmRetry gives a retry's answer d only if its successor refresh
// token was never used (it is still the family's current one): else the
// presented token is a reuse after all, and its family is revoked.
func (p *Provider) confirmRetry(ctx context.Context, c *store.Client, d decision) (decision, error) {
	now := p.now()
	reuse := InvalidGrant("The refresh token has already been used.").With(ReasonRefreshReused, "refresh_token")
	return p.run(ctx, plan{key: store.GrantKey{RefreshHash: d.retry}, missing: reuse, decide: func(l store.Locked) (decision, error) {
		if l.RefreshToken.UsedAt.IsZero() && familyLive(l.Family, now) == nil {
			out := d // its writes (a proof's use) are committed already
			out.retry, out.writes = nil, store.Writes{}
			return out, nil
		}
		return decision{
			writes:   store.Writes{At: now, RevokeGrant: l.Family.ID},
			warn:     "rotated refresh token reused after its successor; family revoked",
			warnArgs: []any{"client_id", c.ID, "family_id", l.Family.ID},
		}, reuse
	}})
}
