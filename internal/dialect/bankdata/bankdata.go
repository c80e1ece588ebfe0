// Package bankdata is the bank-data outbound-auth dialect (seed
// 001_a8f467fac3bce104.txt): POST /api/v1/token with the grants
// client_credentials, authorization_code and refresh_token, answers of
// access_token, token_type, expires_in (and refresh_token for a code), and
// errors {error, error_description}. See docs/dialects.md (bankdata).
//
// Its profile: refresh tokens it issues never rotate (oauth.RefreshFixed:
// the core's 30-day idle timeout and no absolute expiry), and a refresh
// answers no refresh_token. It serves confidential clients only: the client
// authenticates with client_secret_basic or client_id and client_secret in
// the body.
package bankdata

import (
	"net/http"

	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/wire"
)

// The seed's fixed error descriptions. server_error keeps the seed's
// spelling ("occured"): clients may match on the text.
const (
	UnsupportedGrantTypeDescription = "The authorization grant type is not supported by the authorization server."
	ServerErrorDescription          = "An unhandled error occured on the server."
)

// Dialect is the bank-data dialect. It has no state.
type Dialect struct{}

var _ dialect.Dialect = (*Dialect)(nil)

// New returns the dialect.
func New() *Dialect { return &Dialect{} }

// Name implements dialect.Dialect.
func (*Dialect) Name() string { return "bankdata" }

// Path implements dialect.Dialect.
func (*Dialect) Path() string { return "/api/v1/token" }

// Profile implements dialect.Dialect: the three grants, for confidential
// clients, with refresh tokens that never rotate.
func (*Dialect) Profile() oauth.Profile {
	return oauth.Profile{
		Grants:        []string{oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		CodeKind:      oauth.CodeKindCode,
		RefreshTokens: true,
		RefreshPolicy: oauth.RefreshFixed,
		RedirectURI:   true,
		PKCE:          true,
		Clients:       oauth.ClientsConfidential,
	}
}

// Decode implements dialect.Dialect. Each grant takes only its documented
// fields (plus code_verifier, for a code whose request carried PKCE); the
// others are ignored, as RFC 6749 §3.2 asks for unknown parameters.
func (*Dialect) Decode(r *http.Request) (oauth.TokenRequest, error) {
	p, perr := wire.DecodeBody(r)
	if perr != nil {
		return oauth.TokenRequest{}, perr
	}
	cred, cerr := wire.ClientCredentials(r, p)
	if cerr != nil {
		return oauth.TokenRequest{}, cerr
	}
	req := oauth.TokenRequest{GrantType: p["grant_type"], Client: cred}
	switch req.GrantType {
	case oauth.GrantClientCredentials:
		req.Scope = p["scope"]
	case oauth.GrantAuthorizationCode:
		req.Code, req.RedirectURI, req.CodeVerifier = p["code"], p["redirect_uri"], p["code_verifier"]
	case oauth.GrantRefreshToken:
		req.RefreshToken = p["refresh_token"]
	}
	return req, nil
}

// tokenResponse is the seed's 200 answer; scope is not sent (see the docs).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
}

// Encode implements dialect.Dialect. A refresh of a fixed family (every
// family this dialect creates) returns no refresh_token; a refresh that
// rotated (a family another endpoint created with the rotating policy)
// returns the new one, which the client would otherwise lose.
func (*Dialect) Encode(w http.ResponseWriter, _ *http.Request, resp *oauth.TokenResult) {
	out := tokenResponse{
		AccessToken: resp.AccessToken,
		TokenType:   "Bearer",
		ExpiresIn:   resp.ExpiresIn,
	}
	if resp.GrantType != oauth.GrantClientCredentials {
		out.RefreshToken = resp.RefreshToken
	}
	wire.WriteJSON(w, http.StatusOK, out)
}

type errorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// EncodeError implements dialect.Dialect: {error, error_description}, with
// the seed's texts for unsupported_grant_type and server_error, 401 for a
// client that failed to authenticate and 403 unauthorized_client for one
// that may not have what it asked for (a grant it is not allowed, or a state
// such as suspended, whatever status the policy chose). Every other status
// and code is the core's (the policy's 402, 429, 503 …). The id is only
// logged: the seed's shape has no field for it.
func (*Dialect) EncodeError(w http.ResponseWriter, _ *http.Request, e *oauth.Error, _ string) {
	status, out := e.Status, errorResponse{Error: e.Code, ErrorDescription: oauth.DescriptionText(e.Description)}
	switch {
	case status >= 500 && (e.Code == oauth.ErrCodeServerError || status == http.StatusInternalServerError):
		status, out = http.StatusInternalServerError, errorResponse{oauth.ErrCodeServerError, ServerErrorDescription}
	case e.Code == oauth.ErrCodeUnsupportedGrantType:
		out.ErrorDescription = UnsupportedGrantTypeDescription
	case e.Code == oauth.ErrCodeInvalidClient:
		status = http.StatusUnauthorized
	case e.Code == oauth.ErrCodeUnauthorizedClient || e.Reason == oauth.ReasonClientState:
		// A grant the client may not use, or a client whose state forbids
		// tokens (suspended, pending: the policy may say 409 elsewhere).
		status, out.Error = http.StatusForbidden, oauth.ErrCodeUnauthorizedClient
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="grantd"`)
	}
	wire.WriteJSON(w, status, out)
}
