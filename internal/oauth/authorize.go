package oauth

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/store"
)

// Kinds of one-time codes; they are also the response_type values.
const (
	CodeKindCode      = "code"
	CodeKindTempToken = "temp_token"
)

// Bounds on authorization request parameters.
const (
	maxStateLen       = 1024
	maxRedirectURILen = 2048
)

// AuthorizeError is an error at /oauth/authorize. When RedirectTo is set the
// browser is sent there (the redirect URI is trusted); otherwise the error
// must be shown as a page, never redirected (RFC 6749 §4.1.2.1).
type AuthorizeError struct {
	Err        *Error
	RedirectTo string
}

func (e *AuthorizeError) Error() string { return e.Err.Error() }
func (e *AuthorizeError) Unwrap() error { return e.Err }

// AuthorizeResult is a validated, stored authorization request and where the
// browser goes next: the external consent app or the hosted pages.
type AuthorizeResult struct {
	Request    store.AuthRequest
	Client     store.Client
	RedirectTo string
}

// Authorize validates an authorization request (RFC 6749 §4.1.1, RFC 7636,
// OAuth 2.1) and stores it under a fresh challenge.
func (p *Provider) Authorize(ctx context.Context, q url.Values) (*AuthorizeResult, error) {
	return p.AuthorizeFrom(ctx, q, "")
}

// AuthorizeFrom is Authorize for a browser at address: the cap on pending
// requests (MaxPendingAuthRequests) counts per client and address, so that
// nobody can fill a client's requests for everyone else.
func (p *Provider) AuthorizeFrom(ctx context.Context, q url.Values, address string) (*AuthorizeResult, error) {
	q, pushed, err := p.pushedParams(ctx, q)
	if err != nil {
		return nil, &AuthorizeError{Err: AsError(err)}
	}
	return p.authorize(ctx, q, address, pushed, false)
}

// authorize validates an authorization request and, unless push, stores
// it. pushed: its parameters come from a pushed request (RFC 9126), which
// satisfies a requirement to push; push: it is being pushed now, so it is
// only validated (Push stores it).
func (p *Provider) authorize(ctx context.Context, q url.Values, address string, pushed, push bool) (*AuthorizeResult, error) {
	page := func(e *Error) (*AuthorizeResult, error) { return nil, &AuthorizeError{Err: e} }
	for k, v := range q {
		if len(v) > 1 && (k != "resource" || len(v) > MaxResources) {
			return page(InvalidRequest("%s is repeated.", ParamPhrase(k)))
		}
		for _, v := range v {
			if !ValidText(k) || !ValidText(v) {
				return page(InvalidRequest("%s is not valid UTF-8 text.", ParamPhrase(k)))
			}
		}
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		return page(InvalidRequest("The client_id parameter is missing."))
	}
	if len(clientID) > 255 {
		return page(InvalidRequest("The client_id parameter is invalid."))
	}
	client, err := p.Store.GetClient(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return page(&Error{Code: ErrCodeInvalidClient, Status: http.StatusBadRequest, Description: "The client is unknown."})
	}
	if err != nil {
		return page(ServerError(err))
	}
	given := q.Get("redirect_uri")
	if given == "" && push && isFAPI2(&client) {
		return page(InvalidRequest("A FAPI 2.0 client's pushed request must name its redirect_uri."))
	}
	if len(given) > maxRedirectURILen {
		return page(InvalidRequest("The redirect_uri parameter is too long."))
	}
	redirect, ok := EffectiveRedirect(&client, given)
	if !ok {
		return page(&Error{Code: ErrCodeInvalidRequest, Status: http.StatusBadRequest,
			Description: "The redirect_uri is missing or not registered for this client."})
	}
	state := q.Get("state")
	if len(state) > maxStateLen {
		// Not echoed: the state itself is what is wrong.
		return page(InvalidRequest("The state parameter is too long."))
	}
	back := func(e *Error) (*AuthorizeResult, error) {
		return nil, &AuthorizeError{Err: e, RedirectTo: p.errorRedirect(redirect, state, e)}
	}

	rt := q.Get("response_type")
	allowed := client.ResponseTypes
	if len(allowed) == 0 {
		allowed = []string{CodeKindCode}
	}
	switch {
	case rt == "":
		return back(InvalidRequest("The response_type parameter is missing."))
	case rt != CodeKindCode && rt != CodeKindTempToken:
		return back(&Error{Code: ErrCodeUnsupportedResponseType, Status: http.StatusBadRequest,
			Description: "The response_type is not supported."})
	case !slices.Contains(allowed, rt):
		return back(UnauthorizedClient("The client may not use response_type %s.", rt))
	}
	if !slices.Contains(client.GrantTypes, GrantAuthorizationCode) && rt == CodeKindCode {
		return back(UnauthorizedClient("The client may not use the authorization_code grant."))
	}
	if q.Has("request") {
		return back(&Error{Code: "request_not_supported", Status: http.StatusBadRequest,
			Description: "Request objects are not supported."})
	}
	if q.Has("request_uri") {
		// RFC 9126 §2.1: a pushed request holds no request_uri; one at
		// /oauth/authorize was taken by pushedParams.
		return back(InvalidRequest("The request_uri parameter may not be pushed."))
	}
	if !pushed && !push && p.parRequired(&client) {
		return back(InvalidRequest("The client's authorization requests must be pushed first (POST /oauth/par)."))
	}
	if _, err := p.policy().Check(ctx, PolicyRequest{Client: &client, Action: ActionAuthorize, Now: p.now()}); err != nil {
		return back(AsError(err))
	}
	if err := p.hostedPagesAllowed(&client); err != nil {
		return page(err)
	}
	scopes, err := requestedScope(q.Get("scope"), client.Scopes, "The requested scope exceeds what the client may ask for.")
	if err != nil {
		return back(AsError(err))
	}

	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return back(InvalidRequest("The code_challenge parameter is missing."))
	case challenge == "" && client.IsPublic():
		return back(InvalidRequest("Public clients must use PKCE with code_challenge_method S256."))
	case challenge == "" && isFAPI2(&client):
		return back(InvalidRequest("A FAPI 2.0 client must use PKCE with code_challenge_method S256."))
	case challenge != "" && method != PKCEMethodS256:
		// An absent method means plain (RFC 7636 §4.3); grantd refuses plain.
		return back(InvalidRequest("The code_challenge_method must be S256."))
	case challenge != "" && !validChallenge(challenge):
		return back(InvalidRequest("The code_challenge is malformed."))
	case challenge != "" && rt == CodeKindTempToken:
		// The temp-token exchange has no code_verifier: such a temp token
		// could never be exchanged.
		return back(InvalidRequest("PKCE is not used with response_type temp_token."))
	}
	// RFC 9449 §10: the code is bound to this DPoP key's thumbprint (a
	// base64url SHA-256).
	jkt := q.Get("dpop_jkt")
	if jkt != "" && (len(jkt) != 43 || !validChallenge(jkt)) {
		return back(InvalidRequest("The dpop_jkt is not a JWK SHA-256 thumbprint."))
	}

	// RFC 8707 §2.1: the resources the tokens of this grant may be for.
	resources, err := p.checkResources(&client, q["resource"], nil, false)
	if err != nil {
		return back(AsError(err))
	}

	now := p.now()
	if push {
		return &AuthorizeResult{Client: client, Request: store.AuthRequest{ClientID: client.ID, Resources: resources, DPoPJKT: jkt}}, nil
	}
	ar := store.AuthRequest{
		ID:                  RandomToken(32),
		ClientID:            client.ID,
		ResponseType:        rt,
		RedirectURI:         given,
		State:               state,
		Scopes:              scopes,
		CodeChallenge:       challenge,
		CodeChallengeMethod: method,
		DPoPJKT:             jkt,
		Resources:           resources,
		CSRFToken:           RandomToken(32),
		SourceAddress:       address,
		CreatedAt:           now,
		ExpiresAt:           now.Add(p.authRequestTTL()),
	}
	if err := p.Store.CreateAuthRequest(ctx, ar, p.MaxPendingAuthRequests); err != nil {
		if errors.Is(err, store.ErrTooMany) {
			e := tooManyPending(err)
			p.refused(ctx, PolicyRequest{Client: &client, Action: ActionAuthorize, Address: address, Now: now}, e)
			return back(e)
		}
		if errors.Is(err, store.ErrMissingParent) {
			// The client was deleted meanwhile: as for an unknown client.
			return page(&Error{Code: ErrCodeInvalidClient, Status: http.StatusBadRequest, Description: "The client is unknown.", Cause: err})
		}
		return back(ServerError(err))
	}
	return &AuthorizeResult{Request: ar, Client: client, RedirectTo: p.consentLocation(&client, ar.ID)}, nil
}

// externalConsent reports whether requests of c are decided by an external
// consent app (the client's, or the server's) rather than the hosted pages.
func (p *Provider) externalConsent(c *store.Client) bool {
	return c.ConsentURL != "" || p.ConsentURL != ""
}

// hostedPagesAllowed is the one production-consent rule: the hosted pages
// sign users in with sandbox rules (any user name), so a production client
// must decide in its own consent app.
func (p *Provider) hostedPagesAllowed(c *store.Client) *Error {
	if c.Environment == "production" && !p.externalConsent(c) {
		return UnauthorizedClient("This application is in production and has no consent app configured (consent_url); the hosted sandbox sign-in is not available to it.")
	}
	return nil
}

// consentLocation is where the browser goes to decide on a request: the
// client's or the server's external consent app, or the hosted pages.
func (p *Provider) consentLocation(c *store.Client, challenge string) string {
	base := c.ConsentURL
	if base == "" {
		base = p.ConsentURL
	}
	if base == "" {
		base = p.HostedConsentPath
		if base == "" {
			base = "/oauth/consent"
		}
	}
	return addQuery(base, url.Values{"challenge": {challenge}})
}

// EffectiveRedirect resolves the redirect URI of a request: the given one
// when it matches a registered one, or the only registered one when none is
// given (RFC 6749 §3.1.2.3).
func EffectiveRedirect(c *store.Client, given string) (string, bool) {
	if given == "" {
		if len(c.RedirectURIs) == 1 {
			return c.RedirectURIs[0], true
		}
		return "", false
	}
	for _, r := range c.RedirectURIs {
		if RedirectMatches(r, given) {
			return given, true
		}
	}
	return "", false
}

// RedirectMatches compares a registered redirect URI with a presented one
// as strings, exactly (OAuth 2.1 §4.1.1, RFC 6749 §3.1.2.3): no case
// folding, no percent-decoding, no normalization. The one exception is RFC
// 8252 §7.3: a loopback http redirect (an IP literal of 127.0.0.0/8, [::1],
// or localhost) matches on any port, 1 to 65535; everything else about it
// must still be the very same text.
func RedirectMatches(registered, presented string) bool {
	if strings.Contains(presented, "#") {
		return false // a fragment, even empty, is never allowed (RFC 6749 §3.1.2)
	}
	if registered == presented {
		return true
	}
	rHost, _, rRest, ok := splitLoopback(registered)
	if !ok {
		return false
	}
	pHost, _, pRest, ok := splitLoopback(presented)
	return ok && rHost == pHost && rRest == pRest
}

// splitLoopback splits "http://HOST[:PORT]REST" where HOST is a loopback
// host, as written (brackets kept), and PORT, when present, is a decimal
// port of 1 to 65535 without leading zeros. REST is the path and query. ok
// is false for anything else, userinfo included.
func splitLoopback(s string) (host, port, rest string, ok bool) {
	after, found := strings.CutPrefix(s, "http://")
	if !found {
		return "", "", "", false
	}
	end := strings.IndexAny(after, "/?")
	if end < 0 {
		end = len(after)
	}
	authority, rest := after[:end], after[end:]
	if strings.Contains(authority, "@") {
		return "", "", "", false
	}
	host = authority
	hasPort := false
	if strings.HasPrefix(authority, "[") {
		i := strings.Index(authority, "]")
		if i < 0 {
			return "", "", "", false
		}
		host, port = authority[:i+1], authority[i+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return "", "", "", false
		}
		port, hasPort = strings.CutPrefix(port, ":")
	} else if i := strings.LastIndex(authority, ":"); i >= 0 {
		host, port, hasPort = authority[:i], authority[i+1:], true
	}
	if hasPort && !ValidPort(port) {
		return "", "", "", false
	}
	if !IsLoopbackHost(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")) {
		return "", "", "", false
	}
	return host, port, rest, true
}

// ValidPort reports whether p is a TCP port, 1 to 65535, in canonical
// decimal.
func ValidPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// knownParams are the parameter names grantd reads on some endpoint. An
// error message may name one of them; any other name is the client's own
// text (it could be a secret pasted in the wrong place) and is never
// echoed.
var knownParams = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`grant_type client_id client_secret code redirect_uri code_verifier
		refresh_token scope token token_type_hint temp_token response_type response_mode state
		code_challenge code_challenge_method nonce prompt login_hint request request_uri resource audience
		client_assertion client_assertion_type username password customer_id customer_name products
		provider_id redirect_to subject entity_ids connection_type challenge csrf_token action
		redirect_uris token_endpoint_auth_method grant_types response_types client_name client_uri logo_uri
		tos_uri policy_uri software_id software_version contacts jwks jwks_uri dpop_jkt
		dpop_bound_access_tokens`) {
		knownParams[k] = true
	}
}

// ParamPhrase names parameter k in an error message: "The scope parameter"
// for a name grantd knows, "An unknown parameter" for any other.
func ParamPhrase(k string) string {
	if knownParams[k] {
		return "The " + k + " parameter"
	}
	return "An unknown parameter"
}

// KnownParam reports whether k is a parameter name grantd reads somewhere,
// and so may be named in an error.
func KnownParam(k string) bool { return knownParams[k] }

// IsLoopbackHost reports whether h is a loopback IP literal or "localhost".
func IsLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// errorRedirect builds the error response redirect (RFC 6749 §4.1.2.1, with
// iss per RFC 9207).
func (p *Provider) errorRedirect(redirect, state string, e *Error) string {
	v := url.Values{"error": {e.Code}, "error_description": {DescriptionText(e.Description)}}
	if state != "" {
		v.Set("state", state)
	}
	if p.Issuer != "" {
		v.Set("iss", p.Issuer)
	}
	return addQuery(redirect, v)
}

func addQuery(base string, v url.Values) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + v.Encode()
}

// GetAuthorization returns a pending request and its client.
func (p *Provider) GetAuthorization(ctx context.Context, challenge string) (store.AuthRequest, store.Client, error) {
	ar, err := p.Store.GetAuthRequest(ctx, challenge, p.now())
	if err != nil {
		return ar, store.Client{}, notFoundOr(err, "The authorization request is unknown or has expired.")
	}
	c, err := p.Store.GetClient(ctx, ar.ClientID)
	if err != nil {
		return ar, c, notFoundOr(err, "The client of this authorization request no longer exists.")
	}
	return ar, c, nil
}

// SetSubject records who signed in on the hosted page.
func (p *Provider) SetSubject(ctx context.Context, challenge, subject string) (store.AuthRequest, error) {
	ar, err := p.Store.UpdateAuthRequest(ctx, challenge, p.now(), func(r *store.AuthRequest) error {
		r.Subject = subject
		return nil
	})
	if err != nil {
		return ar, notFoundOr(err, "The authorization request is unknown or has expired.")
	}
	return ar, nil
}

func notFoundOr(err error, desc string) error {
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Code: "not_found", Status: http.StatusNotFound, Description: desc}
	}
	return ServerError(err)
}

// Consent is the decision on an authorization request: who the user is,
// what was granted, and the connection's details.
type Consent struct {
	Subject        string
	Scopes         []string // nil = everything the request asked for
	ProviderID     string
	CustomerID     string
	CustomerName   string
	EntityIDs      []string
	ConnectionType string // "provider" (default) or "finch"
}

// Accept consumes a pending request, creates its connection and a one-time
// code (or temp token), and returns the redirect that delivers it.
func (p *Provider) Accept(ctx context.Context, challenge string, c Consent) (string, error) {
	if c.Subject == "" || len(c.Subject) > 255 {
		return "", InvalidRequest("The subject is missing or too long.")
	}
	if len(c.Scopes) > MaxScopes || len(c.EntityIDs) > 1000 {
		return "", InvalidRequest("Too many scopes.")
	}
	now := p.now()
	// Check the decision against the pending request before spending it, so
	// that a consent app that grants too much can correct itself.
	pending, err := p.Store.GetAuthRequest(ctx, challenge, now)
	if err != nil {
		return "", notFoundOr(err, "The authorization request is unknown, expired or already decided.")
	}
	if c.Scopes != nil && !subset(c.Scopes, pending.Scopes) {
		return "", InvalidScope("The granted scope exceeds the requested scope.")
	}
	ar, err := p.Store.ConsumeAuthRequest(ctx, challenge, now)
	if err != nil {
		return "", notFoundOr(err, "The authorization request is unknown, expired or already decided.")
	}
	client, err := p.Store.GetClient(ctx, ar.ClientID)
	if err != nil {
		return "", notFoundOr(err, "The client of this authorization request no longer exists.")
	}
	redirect, ok := EffectiveRedirect(&client, ar.RedirectURI)
	if !ok && ar.DeviceHash == nil {
		return "", InvalidRequest("The redirect_uri is no longer registered for this client.")
	}
	if ar.DeviceHash != nil {
		// A device's request (RFC 8628) is approved once, whichever of its
		// authorization requests is accepted first.
		if err := p.Store.DecideDeviceRequest(ctx, ar.DeviceHash, store.DeviceApproved, now); err != nil {
			return "", notFoundOr(err, "The device's request is unknown, expired or already decided.")
		}
	}
	scopes := ar.Scopes
	if c.Scopes != nil {
		scopes = c.Scopes
	}
	// What the decision leaves out comes from the request (a connect
	// session's customer and provider) and the catalogue.
	providerID := cmp.Or(c.ProviderID, ar.ProviderID)
	d, known := p.DataProvider(providerID)
	connType := cmp.Or(c.ConnectionType, d.ConnectionType, ConnectionTypeProvider)
	entities := c.EntityIDs
	if entities == nil && known {
		entities = d.EntityIDs
	}
	consentTTL, retention := p.lifetimes(&client, providerID)
	conn := store.Connection{
		ID:                 newID(),
		ClientID:           client.ID,
		CustomerID:         cmp.Or(c.CustomerID, ar.CustomerID),
		CustomerName:       cmp.Or(c.CustomerName, ar.CustomerName),
		ProviderID:         providerID,
		Subject:            c.Subject,
		Products:           scopes,
		EntityIDs:          entities,
		ConnectionType:     connType,
		Environment:        client.Environment,
		Status:             store.ConnectionActive,
		CreatedAt:          now,
		ConsentExpiresAt:   now.Add(consentTTL),
		DataRetentionUntil: now.Add(consentTTL + retention),
	}
	prefix := PrefixCode
	if ar.ResponseType == CodeKindTempToken {
		prefix = PrefixTempToken
	}
	secret := p.newSecret(prefix, now)
	hash := SecretKey(secret)
	expires := now.Add(p.codeTTLFor(&client))
	if ar.DeviceHash != nil {
		// The device redeems it with its device_code: no secret to send,
		// by a poll that may come an interval later (its poll is refused
		// once the device code expired, whatever the code's expiry).
		hash, expires = ar.DeviceHash, now.Add(p.deviceCodeTTL())
	}
	code := store.AuthCode{
		Hash:                hash,
		Kind:                ar.ResponseType,
		ClientID:            client.ID,
		RedirectURI:         ar.RedirectURI,
		Scopes:              scopes,
		Subject:             c.Subject,
		ConnectionID:        conn.ID,
		CodeChallenge:       ar.CodeChallenge,
		CodeChallengeMethod: ar.CodeChallengeMethod,
		DPoPJKT:             ar.DPoPJKT,
		Resources:           ar.Resources,
		GrantID:             newID(),
		CreatedAt:           now,
		ExpiresAt:           expires,
	}
	if err := p.Store.CreateAuthCode(ctx, code, &conn); err != nil {
		if errors.Is(err, store.ErrMissingParent) {
			return "", notFoundOr(store.ErrNotFound, "The client of this authorization request no longer exists.")
		}
		return "", ServerError(err)
	}
	if ar.DeviceHash != nil {
		return p.deviceDone(true), nil
	}
	v := url.Values{ar.ResponseType: {secret}}
	if ar.State != "" {
		v.Set("state", ar.State)
	}
	if p.Issuer != "" {
		v.Set("iss", p.Issuer)
	}
	return addQuery(redirect, v), nil
}

// Reject consumes a pending request and returns the redirect that tells the
// client the user (or the consent app) said no.
func (p *Provider) Reject(ctx context.Context, challenge, description string) (string, error) {
	ar, err := p.Store.ConsumeAuthRequest(ctx, challenge, p.now())
	if err != nil {
		return "", notFoundOr(err, "The authorization request is unknown, expired or already decided.")
	}
	if ar.DeviceHash != nil {
		if err := p.Store.DecideDeviceRequest(ctx, ar.DeviceHash, store.DeviceDenied, p.now()); err != nil {
			return "", notFoundOr(err, "The device's request is unknown, expired or already decided.")
		}
		return p.deviceDone(false), nil
	}
	client, err := p.Store.GetClient(ctx, ar.ClientID)
	if err != nil {
		return "", notFoundOr(err, "The client of this authorization request no longer exists.")
	}
	redirect, ok := EffectiveRedirect(&client, ar.RedirectURI)
	if !ok {
		return "", InvalidRequest("The redirect_uri is no longer registered for this client.")
	}
	if description == "" || len(description) > 256 {
		description = "The resource owner denied the request."
	}
	e := &Error{Code: ErrCodeAccessDenied, Description: description}
	return p.errorRedirect(redirect, ar.State, e), nil
}
