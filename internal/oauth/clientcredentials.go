package oauth

import (
	"time"

	"github.com/grantd/grantd/internal/store"
)

// clientCredentials is RFC 6749 §4.4: a confidential client's own token.
// A JWT needs no record (nothing can cascade to it, and revoking it records
// its jti); an opaque token is known only by its record.
func clientCredentials(p *Provider, c *store.Client, _ Profile, req TokenRequest, now time.Time) (plan, error) {
	if c.IsPublic() {
		return plan{}, UnauthorizedClient("Public clients may not use the client_credentials grant.").With(ReasonGrantNotAllowed, "grant_type")
	}
	scopes, err := requestedScope(req.Scope, c.Scopes, "The requested scope exceeds what the client may ask for.")
	if err != nil {
		return plan{}, err
	}
	aud, err := p.checkResources(c, req.Resources, nil, false)
	if err != nil {
		return plan{}, err
	}
	d := decision{access: p.newAccessToken(c, c.ID, nil, "", scopes, aud, false, now)}
	if d.access.claims == nil {
		d.writes = store.Writes{At: now, AccessToken: &d.access.rec}
	}
	return plan{decide: func(store.Locked) (decision, error) { return d, nil }}, nil
}
