package oauth

import (
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// refreshToken is RFC 6749 §6: a refresh token of the family's policy is
// exchanged for a new access token; a rotating family also gets a new
// refresh token, and the presented one is spent.
func refreshToken(p *Provider, c *store.Client, _ Profile, req TokenRequest, now time.Time) (plan, error) {
	if req.RefreshToken == "" {
		return plan{}, InvalidRequest("The refresh_token parameter is missing.").With(ReasonMissingParam, "refresh_token")
	}
	invalid := InvalidGrant("The refresh token is invalid.").With(ReasonRefreshInvalid, "refresh_token")
	if len(req.RefreshToken) > 512 || !strings.HasPrefix(req.RefreshToken, PrefixRefreshToken) {
		return plan{}, invalid
	}
	asked, ok := ParseScope(req.Scope)
	if !ok {
		return plan{}, InvalidScope("The scope parameter is malformed.").With(ReasonMalformedParam, "scope")
	}
	decide := func(l store.Locked) (decision, error) {
		tok, fam := l.RefreshToken, l.Family
		if !tok.UsedAt.IsZero() {
			// A client resending a rotation whose answer it lost gets that
			// answer again (retry.go); any other reuse revokes.
			if err := proofBound(fam.JKT, req.proof, "refresh token", "refresh_token"); err == nil {
				switch d, ok, err := p.retryOf(c, l, req.RefreshToken, req, now); {
				case err != nil:
					return decision{}, err
				case ok:
					return d, nil
				}
			}
			// OAuth 2.1 §4.3.1: a rotated refresh token presented again was
			// stolen or leaked: the whole family ends, whatever its state,
			// so that every replay is reported as one.
			return decision{
				writes:   store.Writes{At: now, RevokeGrant: fam.ID},
				warn:     "rotated refresh token reused; family revoked",
				warnArgs: []any{"client_id", c.ID, "family_id", fam.ID},
			}, InvalidGrant("The refresh token has already been used.").With(ReasonRefreshReused, "refresh_token")
		}
		if fam.ClientID != c.ID {
			return decision{}, invalid
		}
		if err := familyLive(fam, now); err != nil {
			return decision{}, err
		}
		if err := proofBound(fam.JKT, req.proof, "refresh token", "refresh_token"); err != nil {
			return decision{}, err
		}
		if err := certBound(fam.X5T, req.Client.Certificates); err != nil {
			return decision{}, err
		}
		if err := connectionLive(l.Connection, fam.ConnectionID, now); err != nil {
			return decision{}, err
		}
		if err := p.providerOpen(c, l.Connection, now); err != nil {
			return decision{}, err
		}
		// RFC 6749 §6: narrowing is allowed, widening is not; the family
		// keeps its original scope.
		scopes, ok := NarrowScope(asked, fam.Scopes)
		if !ok {
			return decision{}, InvalidScope("The requested scope exceeds the scope originally granted.").With(ReasonScopeNotAllowed, "scope")
		}
		// RFC 8707 §2.2: a refresh may ask for some of the grant's
		// resources; the family keeps them all.
		resources, err := p.checkResources(c, req.Resources, fam.Resources, true)
		if err != nil {
			return decision{}, err
		}
		d := decision{access: p.newAccessToken(c, fam.Subject, l.Connection, fam.ID, scopes,
			audienceOf(resources, fam.Resources), false, now), conn: l.Connection}
		d.writes = store.Writes{At: now, TouchFamily: touchDue(fam, now), AccessToken: &d.access.rec}
		if fam.Policy == store.RefreshFixed {
			d.refreshUnchanged = true
		} else {
			var nt store.RefreshToken
			d.refresh, nt = p.newRefreshToken(fam.ID, now)
			d.writes.RotateRefreshToken, d.writes.RefreshToken = true, &nt
		}
		return d, nil
	}
	return plan{key: store.GrantKey{RefreshHash: SecretKey(req.RefreshToken)}, decide: decide, missing: invalid}, nil
}

// touchShare: a refresh records the family's last use only when the use
// recorded is at least 1/touchShare of its idle timeout old (7.2 hours of
// the default 30 days). So a family refreshed often is not written for it
// on every refresh (a rotating one is written anyway: its token; a fixed
// one writes only its access token), and it may end idle up to that share
// of its idle timeout early, never late (docs/protocol.md).
const touchShare = 100

// touchDue reports whether a refresh of fam at now records now as its last
// use (store.Writes.TouchFamily).
func touchDue(fam *store.RefreshFamily, now time.Time) bool {
	return now.Sub(fam.LastUsedAt) >= fam.IdleTimeout/touchShare
}
