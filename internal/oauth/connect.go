package oauth

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/store"
)

// ConnectSessionRequest is what an integrator's backend sends to start a
// connect flow for one of its customers.
type ConnectSessionRequest struct {
	CustomerID   string
	CustomerName string
	Products     []string // nil = every product the client may ask for
	RedirectURI  string   // "" = the client's only registered one
	ProviderID   string   // "" = the user chooses
	State        string
}

// ConnectSession is a started connect flow: the session id and the link to
// send the end user to. The session lives 24 hours and can be used once.
type ConnectSession struct {
	ID         string
	ConnectURL string
	Request    store.AuthRequest
}

// CreateConnectSession authenticates the client that presents cr (a
// confidential client: a public client's backend has no secret to prove it
// is the integrator's), validates its connect-session request and stores it
// as a pending authorization request, which the hosted pages (or the
// client's consent app) then walk the user through.
func (p *Provider) CreateConnectSession(ctx context.Context, cr ClientCredentials, r ConnectSessionRequest) (*ConnectSession, error) {
	client, err := p.AuthenticateClient(ctx, cr)
	if err != nil {
		return nil, err
	}
	c := &client
	if c.IsPublic() {
		return nil, UnauthorizedClient("Public clients may not create connect sessions.")
	}
	if isFAPI2(c) {
		// A connect session is an authorization request without PKCE and
		// without the pushed request the profile asks for.
		return nil, UnauthorizedClient("A FAPI 2.0 client starts its authorization requests with POST /oauth/par.")
	}
	if _, err := p.policy().Check(ctx, PolicyRequest{Client: c, Action: ActionConnectSession, Address: cr.Address, Now: p.now()}); err != nil {
		return nil, err
	}
	rt := CodeKindCode
	if !slices.Contains(c.ResponseTypes, CodeKindCode) && slices.Contains(c.ResponseTypes, CodeKindTempToken) {
		rt = CodeKindTempToken
	}
	if rt == CodeKindCode && !slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		return nil, UnauthorizedClient("The client may not use the authorization_code grant.")
	}
	if len(r.CustomerID) > 255 || len(r.CustomerName) > 255 || len(r.State) > maxStateLen || len(r.RedirectURI) > maxRedirectURILen {
		return nil, InvalidRequest("A parameter is too long.")
	}
	if r.CustomerID == "" {
		return nil, InvalidRequest("The customer_id parameter is missing.")
	}
	if _, ok := EffectiveRedirect(c, r.RedirectURI); !ok {
		return nil, InvalidRequest("The redirect_uri is missing or not registered for this client.")
	}
	if r.Products != nil && len(r.Products) == 0 || len(r.Products) > MaxScopes {
		return nil, InvalidScope("The products parameter is empty or too long.")
	}
	for _, s := range r.Products {
		if !validScopeToken(s) {
			return nil, InvalidScope("The products parameter is malformed.")
		}
	}
	products, ok := NarrowScope(r.Products, c.Scopes)
	if !ok {
		return nil, InvalidScope("The requested products exceed what the client may ask for.")
	}
	if len(products) == 0 {
		return nil, InvalidScope("The products parameter is empty or too long.")
	}
	if err := p.hostedPagesAllowed(c); err != nil {
		return nil, err
	}
	// With an external consent app the integrator's app decides (and may
	// name any provider); without one the hosted pages do, from the
	// catalogue.
	if r.ProviderID != "" && !p.externalConsent(c) {
		d, ok := p.DataProvider(r.ProviderID)
		if !ok {
			return nil, InvalidRequest("The provider_id is not in the catalogue.")
		}
		if !d.Offers(products) {
			return nil, InvalidScope("The provider does not offer every requested product.")
		}
	}
	now := p.now()
	ar := store.AuthRequest{
		ID:           RandomToken(32),
		ClientID:     c.ID,
		ResponseType: rt,
		RedirectURI:  r.RedirectURI,
		State:        r.State,
		Scopes:       slices.Compact(slices.Clone(products)),
		CSRFToken:    RandomToken(32),
		CustomerID:   r.CustomerID,
		CustomerName: r.CustomerName,
		ProviderID:   r.ProviderID,
		CreatedAt:    now,
		// A provider the integrator named is fixed: the user may not
		// choose another.
		ProviderFixed: r.ProviderID != "",
		ExpiresAt:     now.Add(ConnectSessionTTL),
	}
	if err := p.Store.CreateAuthRequest(ctx, ar, p.MaxPendingConnectSessions); err != nil {
		if errors.Is(err, store.ErrTooMany) {
			e := tooManyPending(err)
			p.refused(ctx, PolicyRequest{Client: c, Action: ActionConnectSession, Address: cr.Address, Now: now}, e)
			return nil, e
		}
		if errors.Is(err, store.ErrMissingParent) {
			return nil, clientGone(err)
		}
		return nil, ServerError(err)
	}
	link := p.consentLocation(c, ar.ID)
	if strings.HasPrefix(link, "/") {
		link = p.Issuer + link // the hosted pages, on this server
	}
	return &ConnectSession{ID: ar.ID, ConnectURL: link, Request: ar}, nil
}
