package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// Pushed authorization requests (RFC 9126): a client posts its
// authorization request to /oauth/par, authenticated as at the token
// endpoint, and gets a one-time request_uri to send the browser to
// /oauth/authorize with instead of the parameters.

// RequestURIPrefix begins every request_uri grantd issues (RFC 9126 §2.2).
const RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// Lifetimes of a pushed request: the default, and the most allowed (RFC
// 9126 §2.2 suggests 5 to 600 seconds).
const (
	DefaultPARTTL = time.Minute
	MaxPARTTL     = 10 * time.Minute
	// fapi2MaxPARTTL is a fapi2 client's longest request_uri life: FAPI
	// 2.0 §5.3.2.2 asks for less than 600 seconds.
	fapi2MaxPARTTL = 599 * time.Second
)

// ErrCodeInvalidRequestURI is RFC 9101 §7's error for a request_uri that is
// unknown, used or expired.
const ErrCodeInvalidRequestURI = "invalid_request_uri"

// PushResult is the answer to a pushed request (RFC 9126 §2.2).
type PushResult struct {
	RequestURI string
	ExpiresIn  int64 // seconds
}

// clientAuthParams are the parameters of client authentication, which a
// pushed request does not keep: they authenticated the push.
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// RequiresPAR reports whether every client must push its authorization
// requests (the metadata's require_pushed_authorization_requests).
func (p *Provider) RequiresPAR() bool { return p.RequirePAR }

// parRequired reports whether c's authorization requests must be pushed.
func (p *Provider) parRequired(c *store.Client) bool {
	return p.RequirePAR || c.Security.RequirePAR || isFAPI2(c)
}

func (p *Provider) parTTL() time.Duration {
	if p.PARTTL > 0 {
		return min(p.PARTTL, MaxPARTTL)
	}
	return DefaultPARTTL
}

// Push validates an authorization request the client that presents cr
// pushes (RFC 9126 §2.1) exactly as /oauth/authorize would, and stores it
// for one use: every error is answered here, as JSON, and none at the
// redirect URI. A client_id in q must be the authenticated client's. A
// DPoP proof, if the request has one, is checked and spent, and binds the
// code to its key as dpop_jkt would (RFC 9449 §10.1); a dpop_jkt sent as
// well must be that key's.
func (p *Provider) Push(ctx context.Context, cr ClientCredentials, q url.Values, proof *DPoPRequest) (*PushResult, error) {
	// The proof is checked before the client's authentication spends
	// anything (an assertion's jti), so that a use_dpop_nonce retry may
	// carry the same assertion.
	if _, err := p.verifyProof(proof); err != nil {
		return nil, err
	}
	client, err := p.AuthenticateClient(ctx, cr)
	if err != nil {
		return nil, err
	}
	if id := q.Get("client_id"); id != "" && id != client.ID {
		return nil, InvalidClient(errors.New("client_id differs from the authenticated client"))
	}
	// Only what the authorization endpoint reads is kept: nothing else of
	// the client's text is stored.
	kept := url.Values{}
	for k, v := range q {
		if KnownParam(k) && !slices.Contains(clientAuthParams, k) {
			kept[k] = append([]string(nil), v...)
		}
	}
	q = kept
	q.Set("client_id", client.ID)
	res, err := p.authorize(ctx, q, cr.Address, false, true)
	var ae *AuthorizeError
	if errors.As(err, &ae) {
		return nil, ae.Err
	}
	if err != nil {
		return nil, err
	}
	used, err := p.spendProof(ctx, proof)
	if err != nil {
		return nil, err
	}
	if used != nil {
		switch jkt := res.Request.DPoPJKT; {
		case jkt == "":
			q.Set("dpop_jkt", used.JKT)
		case jkt != used.JKT:
			return nil, InvalidDPoPProof("The dpop_jkt is not the thumbprint of the DPoP proof's key.")
		}
	}
	uri := RequestURIPrefix + RandomToken(32)
	now := p.now()
	ttl := p.parTTL()
	if isFAPI2(&client) {
		// FAPI 2.0 §5.3.2.2: expires_in less than 600 seconds.
		ttl = min(ttl, fapi2MaxPARTTL)
	}
	err = p.Store.PushRequest(ctx, store.PushedRequest{Hash: store.Hash(uri), ClientID: client.ID, Params: q,
		CreatedAt: now, ExpiresAt: now.Add(ttl)})
	if errors.Is(err, store.ErrMissingParent) {
		return nil, clientGone(err)
	}
	if err != nil {
		return nil, ServerError(err)
	}
	return &PushResult{RequestURI: uri, ExpiresIn: int64(ttl / time.Second)}, nil
}

// pushedParams resolves an authorization request that names a pushed one
// (RFC 9126 §4): its parameters are the pushed request's, and the others
// sent are ignored, but client_id, which must be the pushing client's. The
// request_uri is used up. A request without request_uri is returned as it
// came (pushed false).
func (p *Provider) pushedParams(ctx context.Context, q url.Values) (url.Values, bool, error) {
	uri := q.Get("request_uri")
	if uri == "" {
		return q, false, nil
	}
	invalid := &Error{Code: ErrCodeInvalidRequestURI, Status: http.StatusBadRequest,
		Description: "The request_uri is unknown, used or expired."}
	clientID := q.Get("client_id")
	switch {
	case len(q["request_uri"]) > 1:
		return nil, false, InvalidRequest("The request_uri parameter is repeated.")
	case clientID == "":
		return nil, false, InvalidRequest("The client_id parameter is missing.")
	case !strings.HasPrefix(uri, RequestURIPrefix) || len(uri) > 256:
		return nil, false, invalid
	}
	// Taken only by the client that pushed it: a guess with another
	// client's id leaves the user's request in place.
	pr, err := p.Store.TakePushedRequest(ctx, store.Hash(uri), clientID, p.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, invalid
	}
	if err != nil {
		return nil, false, ServerError(err)
	}
	return url.Values(pr.Params), true, nil
}
