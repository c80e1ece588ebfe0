package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/grantd/grantd/internal/oauth/assertion"
	"github.com/grantd/grantd/internal/store"
)

// ClientAssertionTypeJWT is the client_assertion_type of private_key_jwt
// (RFC 7523 §2.2).
const ClientAssertionTypeJWT = assertion.Type

// ClientKeys fetches the JWK Set a client registered by URL (jwks_uri):
// cached, refetched when refresh asks (an assertion named an unknown kid),
// SSRF-guarded (internal/clientkeys).
type ClientKeys interface {
	Keys(ctx context.Context, uri string, refresh bool) (*jose.JSONWebKeySet, error)
}

// checkAssertion authenticates a private_key_jwt client by its assertion
// (RFC 7523 §2.2, §3): verified with the client's registered keys (inline,
// or fetched from its jwks_uri, fetched again once when the assertion's kid
// is unknown: the client rotated its keys), about the client, for this
// server (aud: the issuer, the token endpoint or the endpoint called),
// and used once (its jti is recorded until it expires, in the store every
// instance shares). A refusal is an error whose text is for the log only.
func (p *Provider) checkAssertion(ctx context.Context, c *store.Client, cr ClientCredentials) error {
	now := p.now()
	expect := assertion.Expect{ClientID: c.ID, Alg: c.Security.TokenEndpointAuthSigningAlg,
		Audiences: []string{p.Issuer, p.IssuerURL() + "/oauth/token"}}
	switch {
	case isFAPI2(c):
		// FAPI 2.0 (§5.4.1) and draft RFC 7523bis: the profile's algorithms,
		// and the issuer as the audience.
		expect.Algorithms, expect.Audiences, expect.AudienceString = FAPI2Algorithms, []string{p.Issuer}, true
	case cr.Endpoint != "":
		expect.Audiences = append(expect.Audiences, cr.Endpoint)
	}
	keys, err := p.clientKeys(ctx, c, false)
	if err != nil {
		return err
	}
	a, err := assertion.Verify(cr.Assertion, keys, expect, now)
	var ae *assertion.Error
	switch {
	case errors.As(err, &ae) && ae.UnknownKey && c.Security.JWKSURI != "":
		// The client may have rotated its keys: fetch them again (at most
		// every clientkeys.DefaultMinRefresh).
		if keys, err = p.clientKeys(ctx, c, true); err != nil {
			return err
		}
		a, err = assertion.Verify(cr.Assertion, keys, expect, now)
	case errors.As(err, &ae) && ae.UnknownKey:
		// Its inline keys may have been changed by another instance, and
		// the client come from this one's cache: judge on the stored one.
		p.Store.ForgetClient(c.ID)
		fresh, gerr := p.Store.GetClient(ctx, c.ID)
		if gerr != nil || fresh.AuthMethod != store.AuthMethodPrivateKeyJWT {
			return err
		}
		*c = fresh
		if keys, err = p.clientKeys(ctx, c, false); err != nil {
			return err
		}
		a, err = assertion.Verify(cr.Assertion, keys, expect, now)
	}
	if err != nil {
		return err
	}
	err = p.useOnce(ctx, a.Replay, a.Earliest, a.Until, now)
	switch {
	case errors.Is(err, store.ErrReplayed):
		return errors.New("client assertion: its jti was used before")
	case err != nil:
		return AsError(err)
	}
	return nil
}

// clientKeys are c's registered public keys: its jwks, or its jwks_uri's.
func (p *Provider) clientKeys(ctx context.Context, c *store.Client, refresh bool) (*jose.JSONWebKeySet, error) {
	switch {
	case len(c.Security.JWKS) > 0:
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(c.Security.JWKS, &set); err != nil {
			return nil, errors.New("client assertion: the client's registered jwks does not parse")
		}
		return &set, nil
	case c.Security.JWKSURI != "" && p.ClientKeys != nil:
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		set, err := p.ClientKeys.Keys(ctx, c.Security.JWKSURI, refresh)
		if err != nil {
			// The client's URL failed, not grantd: an authentication
			// failure, with the cause logged.
			return nil, errors.New("client assertion: fetching the client's jwks_uri: " + err.Error())
		}
		return set, nil
	}
	return nil, errors.New("client assertion: the client has no registered keys")
}
