package oauth

import (
	"encoding/hex"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// access is an access token a grant decided to issue: its record, and what
// issuing it still takes once the record is written: the claims of a JWT to
// sign, or nothing for an opaque token, which is complete.
type access struct {
	rec    store.AccessToken
	ttl    time.Duration
	claims *Claims // a JWT, signed by the pipeline after the store commits
	opaque string  // an opaque token
}

// newAccessToken prepares an access token of client c for subject. It never
// outlives the consent of its connection; untilConsentEnd makes it live
// exactly that long (Profile.UntilConsentEnd).
// aud is the token's audience (its resources, RFC 8707), nil for the
// default.
func (p *Provider) newAccessToken(c *store.Client, subject string, conn *store.Connection, familyID string, scopes, aud []string, untilConsentEnd bool, now time.Time) access {
	ttl := c.AccessTokenTTL
	if ttl <= 0 {
		ttl = DefaultAccessTokenTTL
	}
	var connectionID string
	if conn != nil {
		connectionID = conn.ID
		if !conn.ConsentExpiresAt.IsZero() {
			if untilConsentEnd {
				ttl = conn.ConsentExpiresAt.Sub(now)
			}
			ttl = min(ttl, conn.ConsentExpiresAt.Sub(now))
		}
	}
	a := access{ttl: ttl, rec: store.AccessToken{
		ClientID:     c.ID,
		Subject:      subject,
		FamilyID:     familyID,
		ConnectionID: connectionID,
		Scopes:       scopes,
		Format:       c.TokenFormat,
		CreatedAt:    now,
		ExpiresAt:    now.Add(ttl),
		// The audience as issued, the default's too: changing the default
		// later does not re-target tokens issued before.
		Audience: []string(p.audience(aud)),
	}}
	if a.rec.Format == store.TokenFormatOpaque {
		a.opaque = p.newSecret(PrefixAccessToken, now)
		a.rec.ID = opaqueID(a.opaque)
		return a
	}
	a.rec.Format = store.TokenFormatJWT
	a.rec.ID = newID()
	a.claims = &Claims{
		Issuer:       p.Issuer,
		Subject:      subject,
		Audience:     p.audience(aud),
		ExpiresAt:    a.rec.ExpiresAt.Unix(),
		IssuedAt:     now.Unix(),
		ID:           a.rec.ID,
		ClientID:     c.ID,
		Scope:        JoinScope(scopes),
		ConnectionID: connectionID,
	}
	if conn != nil {
		a.claims.Products = scopes
		a.claims.EntityIDs = append([]string{}, conn.EntityIDs...)
	}
	return a
}

// opaqueID is the record ID of an opaque access token: the hex of its key
// (SecretKey).
func opaqueID(token string) string { return hex.EncodeToString(SecretKey(token)) }

// newFamily is the refresh family a code grant starts, with the endpoint's
// policy (pr.RefreshPolicy) or else the client's.
func newFamily(c *store.Client, code *store.AuthCode, conn *store.Connection, policy string, now time.Time) store.RefreshFamily {
	fam := store.RefreshFamily{
		ID:           code.GrantID,
		ClientID:     c.ID,
		Subject:      code.Subject,
		ConnectionID: code.ConnectionID,
		Scopes:       code.Scopes,
		Resources:    code.Resources,
		Policy:       c.RefreshPolicy,
		IdleTimeout:  c.RefreshIdleTimeout,
		CreatedAt:    now,
		LastUsedAt:   now,
	}
	if policy != "" {
		fam.Policy = policy
	}
	// OAuth 2.1 §4.3.1: a public client's refresh tokens must rotate.
	if fam.Policy == "" || c.IsPublic() {
		fam.Policy = store.RefreshRotating
	}
	if fam.IdleTimeout <= 0 {
		fam.IdleTimeout = DefaultRefreshIdleTimeout
	}
	// Fixed refresh tokens have no absolute expiry; rotating families end
	// at the client's RefreshTTL when one is set.
	if fam.Policy == store.RefreshRotating && c.RefreshTTL > 0 {
		fam.ExpiresAt = now.Add(c.RefreshTTL)
	}
	// No refresh token outlives its consent.
	if conn != nil && !conn.ConsentExpiresAt.IsZero() && (fam.ExpiresAt.IsZero() || conn.ConsentExpiresAt.Before(fam.ExpiresAt)) {
		fam.ExpiresAt = conn.ConsentExpiresAt
	}
	return fam
}

func (p *Provider) newRefreshToken(familyID string, now time.Time) (string, store.RefreshToken) {
	t := p.newSecret(PrefixRefreshToken, now)
	return t, store.RefreshToken{Hash: SecretKey(t), FamilyID: familyID, CreatedAt: now}
}

// connectionLive checks that the connection behind a grant is active and its
// consent has not ended. A grant with no connection (id "") passes; one whose
// connection row is gone does not.
func connectionLive(conn *store.Connection, id string, now time.Time) error {
	if id == "" {
		return nil
	}
	if conn == nil || conn.Status != store.ConnectionActive {
		return InvalidGrant("The connection behind this grant is no longer active.").With(ReasonConsentEnded, "")
	}
	if !conn.ConsentExpiresAt.IsZero() && !now.Before(conn.ConsentExpiresAt) {
		return InvalidGrant("The consent behind this grant has expired.").With(ReasonConsentEnded, "")
	}
	return nil
}

// familyLive checks a family's revocation, absolute and idle expiry.
func familyLive(fam *store.RefreshFamily, now time.Time) error {
	if !fam.RevokedAt.IsZero() {
		return InvalidGrant("The refresh token is invalid.").With(ReasonRefreshInvalid, "refresh_token")
	}
	if !fam.ExpiresAt.IsZero() && !now.Before(fam.ExpiresAt) {
		return InvalidGrant("The refresh token has expired.").With(ReasonRefreshExpired, "refresh_token")
	}
	if fam.IdleTimeout > 0 && !now.Before(fam.LastUsedAt.Add(fam.IdleTimeout)) {
		return InvalidGrant("The refresh token has expired after being idle.").With(ReasonRefreshExpired, "refresh_token")
	}
	return nil
}
