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
// the store never holds, and from the server's RetryKey (derived from the
// key-encryption key), which the store does not hold either: only the
// server, with that token presented, can open it; neither a copy of the
// database nor one with an old refresh token opens anything.

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
// store never holds, with the server's secret as the salt.
func retryAEAD(secret []byte, rt string) (cipher.AEAD, error) {
	if len(secret) < 32 {
		return nil, errors.New("retry: no server key")
	}
	key, err := hkdf.Key(sha256.New, []byte(rt), secret, "grantd refresh retry v1", 32)
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
func sealRetry(secret []byte, rt, family string, plain []byte) ([]byte, error) {
	aead, err := retryAEAD(secret, rt)
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
func openRetry(secret []byte, rt, family string, sealed []byte) ([]byte, error) {
	aead, err := retryAEAD(secret, rt)
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
	if p.RefreshRetryWindow <= 0 || len(p.RetryKey) < 32 {
		return decide
	}
	return func(l store.Locked) (decision, error) {
		d, err := decide(l)
		if err != nil || !d.writes.RotateRefreshToken || d.refresh == "" || l.Family == nil {
			return d, err
		}
		plain, jerr := json.Marshal(retryAnswer{Refresh: d.refresh, Opaque: d.access.opaque, Claims: d.access.claims, Access: d.access.rec})
		sealed, serr := sealRetry(p.RetryKey, rt, l.Family.ID, plain)
		if jerr != nil || serr != nil {
			return d, nil // no retry for this rotation: it still rotates
		}
		d.writes.Retry = sealed
		return d, nil
	}
}

// retrySkew is how far before its rotation a retry may seem to come: the
// rotation may have been stamped by another instance whose clock is a
// little ahead.
const retrySkew = time.Second

// retryOf is the answer to a retry of the rotated refresh token rt (tok),
// when it is one: within the window of its rotation, of a live family of
// client c, presented with the same DPoP key and certificate as the first
// time, with an answer kept. ok is false for any other reuse; err refuses
// what a refresh would refuse now (the consent ended, the provider
// closed), revoking nothing. The decision writes nothing; confirmRetry
// then checks the successor was never used and its access token not
// revoked.
func (p *Provider) retryOf(c *store.Client, l store.Locked, rt string, req TokenRequest, now time.Time) (_ decision, ok bool, err error) {
	tok, fam := l.RefreshToken, l.Family
	since := now.Sub(tok.UsedAt)
	if p.RefreshRetryWindow <= 0 || since < -retrySkew || since >= p.RefreshRetryWindow || len(tok.Retry) == 0 ||
		fam.ClientID != c.ID || familyLive(fam, now) != nil {
		return decision{}, false, nil
	}
	plain, err := openRetry(p.RetryKey, rt, fam.ID, tok.Retry)
	if err != nil {
		return decision{}, false, nil
	}
	var a retryAnswer
	if json.Unmarshal(plain, &a) != nil || a.Refresh == "" {
		return decision{}, false, nil
	}
	jkt := ""
	if req.proof != nil {
		jkt = req.proof.JKT
	}
	ttl := a.Access.ExpiresAt.Sub(now)
	if a.Access.JKT != jkt || a.Access.X5T != req.x5t || ttl <= 0 {
		return decision{}, false, nil
	}
	if err := connectionLive(l.Connection, fam.ConnectionID, now); err != nil {
		return decision{}, false, err
	}
	if err := p.providerOpen(c, l.Connection, now); err != nil {
		return decision{}, false, err
	}
	return decision{access: access{rec: a.Access, ttl: ttl, claims: a.Claims, opaque: a.Opaque}, refresh: a.Refresh,
		retry: SecretKey(a.Refresh), conn: l.Connection}, true, nil
}

// confirmRetry gives a retry's answer d only if its successor refresh
// token was never used (it is still the family's current one) and its
// access token was not revoked meanwhile: else the presented token is a
// reuse after all, and its family is revoked.
func (p *Provider) confirmRetry(ctx context.Context, c *store.Client, d decision) (decision, error) {
	now := p.now()
	reuse := InvalidGrant("The refresh token has already been used.").With(ReasonRefreshReused, "refresh_token")
	rec, err := p.Store.GetAccessToken(ctx, d.access.rec.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return decision{}, ServerError(err)
	}
	revoked := err != nil || rec.Revoked // gone: purged, or never written
	return p.run(ctx, plan{key: store.GrantKey{RefreshHash: d.retry}, missing: reuse, decide: func(l store.Locked) (decision, error) {
		if !revoked && l.RefreshToken.UsedAt.IsZero() && familyLive(l.Family, now) == nil {
			out := d // its writes (a proof's use) are committed already
			out.retry, out.writes = nil, store.Writes{}
			return out, nil
		}
		return decision{
			writes:   store.Writes{At: now, RevokeGrant: l.Family.ID},
			warn:     "rotated refresh token reused after its successor's use or its access token's revocation; family revoked",
			warnArgs: []any{"client_id", c.ID, "family_id", l.Family.ID},
		}, reuse
	}})
}
