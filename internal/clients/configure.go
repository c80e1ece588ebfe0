package clients

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// RFC 7592 client configuration: a dynamically registered client reads,
// replaces and deletes its own registration with the registration access
// token its registration answered. The token is 256 random bits, stored as
// store.Hash only, and rotated by every update; an operator's clients have
// none, so they cannot be managed this way. The wire is the server's; the
// rules are here.

// PrefixRegistrationToken starts every registration access token.
const PrefixRegistrationToken = "grat_"

// maxRegistrationTokenLen bounds what is hashed of a presented token: a
// real one is 48 bytes.
const maxRegistrationTokenLen = 512

func newRegistrationToken() string { return PrefixRegistrationToken + oauth.RandomToken(32) }

// invalidRegistrationToken is the one answer to a wrong token, a token of
// another client, an unknown client and a client without a token (RFC 7592
// §2.1: 401, as RFC 6750 says): it tells none of them from the others.
func invalidRegistrationToken(cause string) *oauth.Error {
	return &oauth.Error{Code: oauth.ErrCodeInvalidToken, Status: http.StatusUnauthorized,
		Description: "The registration access token is not valid for this client.", Cause: errors.New(cause)}
}

// NoRegistrationToken answers a request to the client configuration
// endpoint without a Bearer token: 401 with a challenge and no error code
// (RFC 6750 §3.1).
func NoRegistrationToken() *oauth.Error {
	e := oauth.NoBearerToken()
	e.Description = "The request needs the registration access token as a Bearer credential."
	return e
}

// registrationTokenMatches compares token with c's registration token in
// constant time; a client without one is compared with a zero hash, so that
// the time taken does not tell it from a wrong token.
func registrationTokenMatches(c *store.Client, token string) bool {
	want := c.RegistrationTokenHash
	if len(want) != sha256.Size {
		want = make([]byte, sha256.Size)
	}
	ok := subtle.ConstantTimeCompare(store.Hash(token), want) == 1
	return ok && len(c.RegistrationTokenHash) == sha256.Size
}

// plausible refuses, before the store is asked, what cannot be a client id
// and a registration token.
func plausible(id, token string) *oauth.Error {
	switch {
	case token == "":
		return NoRegistrationToken()
	case id == "" || len(id) > 255 || len(token) > maxRegistrationTokenLen || !strings.HasPrefix(token, PrefixRegistrationToken):
		return invalidRegistrationToken("not a client id and registration token")
	}
	return nil
}

// ReadDynamic returns the client id when token is its registration access
// token (RFC 7592 §2.1). Every refusal is the same 401 invalid_token
// *oauth.Error.
func (g *Registration) ReadDynamic(ctx context.Context, id, token string) (store.Client, error) {
	if e := plausible(id, token); e != nil {
		return store.Client{}, e
	}
	c, err := g.Manager.Get(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		registrationTokenMatches(&store.Client{}, token) // as long as a wrong token
		return store.Client{}, invalidRegistrationToken("unknown client")
	case err != nil:
		return store.Client{}, oauth.ServerError(err)
	case !registrationTokenMatches(&c, token):
		return store.Client{}, invalidRegistrationToken("wrong registration access token")
	}
	return c, nil
}

// UpdateDynamic replaces the registration of the client id (RFC 7592 §2.2)
// when token is its registration access token: m is the whole new
// metadata, checked as a registration is (RegisterDynamic), and what it
// leaves out returns to the registration's defaults. What an operator set
// that is not client metadata (state, tier, metering, lifetimes, metadata
// such as registration: dynamic) is kept. The registration access token is
// rotated: the answer carries the new one, and the old one stops working.
// The check of the token, the change and the rotation are one
// store.UpdateClient transaction, so that of two updates with one token
// only the first applies. Errors: the 401 of ReadDynamic, the RFC 7591
// *oauth.Error of RegisterDynamic.
func (g *Registration) UpdateDynamic(ctx context.Context, id, token string, m DynamicMetadata) (Registered, error) {
	if e := plausible(id, token); e != nil {
		return Registered{}, e
	}
	next := newRegistrationToken()
	c, err := g.Manager.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		if !registrationTokenMatches(c, token) {
			return invalidRegistrationToken("wrong registration access token")
		}
		if m.ClientID != c.ID {
			return metadataError("client_id must be the client's id, as the registration answered it (RFC 7592 §2.2).")
		}
		if m.ClientSecret != "" {
			return metadataError("client_secret must be left out: the client has no secret.")
		}
		asked, perr := g.params(m)
		if perr != nil {
			return perr
		}
		p := ParamsOf(*c)
		p.Name, p.GrantTypes, p.ResponseTypes, p.RedirectURIs = asked.Name, asked.GrantTypes, asked.ResponseTypes, asked.RedirectURIs
		p.TokenEndpointAuthMethod, p.Scope, p.AccessTokenSigningAlg = asked.TokenEndpointAuthMethod, asked.Scope, asked.AccessTokenSigningAlg
		p.DPoPBoundAccessTokens = asked.DPoPBoundAccessTokens
		p.RequirePushedAuthorizationRequests = asked.RequirePushedAuthorizationRequests
		p.JWKS, p.JWKSURI, p.TokenEndpointAuthSigningAlg = asked.JWKS, asked.JWKSURI, asked.TokenEndpointAuthSigningAlg
		// The tier is the operator's, not the client's to fix.
		check := *g.Manager
		check.Tiers = nil
		updated, err := check.toClient(p)
		if err != nil {
			return err
		}
		if updated.AuthMethod != c.AuthMethod {
			return metadataError("token_endpoint_auth_method must stay %s: register a new client to change it.", c.AuthMethod)
		}
		keepStored(&updated, c)
		updated.RegistrationTokenHash, updated.UpdatedAt = store.Hash(next), g.Manager.now()
		*c = updated
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Registered{}, invalidRegistrationToken("unknown client")
	case err != nil:
		return Registered{}, dynamicError(err)
	}
	return Registered{Client: c, RegistrationToken: next}, nil
}

// DeleteDynamic deletes the client id and everything issued to it (RFC 7592
// §2.3) when token is its registration access token; the token then opens
// nothing. Errors: the 401 of ReadDynamic.
func (g *Registration) DeleteDynamic(ctx context.Context, id, token string) error {
	if _, err := g.ReadDynamic(ctx, id, token); err != nil {
		return err
	}
	// A concurrent update with the same token may rotate it meanwhile: the
	// holder of the token that was valid then deletes the client.
	switch err := g.Manager.Delete(ctx, id); {
	case errors.Is(err, store.ErrNotFound):
		return invalidRegistrationToken("client deleted meanwhile")
	case err != nil:
		return oauth.ServerError(err)
	}
	return nil
}
