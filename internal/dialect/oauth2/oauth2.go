// Package oauth2 is the standard token endpoint, POST /oauth/token (RFC
// 6749 §3.2, OAuth 2.1): form or JSON bodies, client_secret_basic,
// client_secret_post and public clients (none), the grants
// client_credentials, authorization_code (with PKCE), refresh_token and the
// device code (RFC 8628), and
// RFC 6749 §5.1/§5.2 answers. It also serves the public-client profile of
// seed 002 (AI agents and CLIs), and its error encoder is the RFC 6749 error
// shape the other standard endpoints (introspection, revocation,
// registration, connect sessions) answer with. It only translates; see
// docs/dialects.md and docs/protocol.md.
package oauth2

import (
	"net/http"

	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/wire"
)

// Name and path of the standard endpoint.
const (
	Name = "oauth2"
	Path = "/oauth/token"
)

// Dialect is the standard token endpoint. It has no state.
type Dialect struct{}

var _ dialect.Dialect = (*Dialect)(nil)

// New returns the dialect.
func New() *Dialect { return &Dialect{} }

// Name implements dialect.Dialect.
func (*Dialect) Name() string { return Name }

// Path implements dialect.Dialect.
func (*Dialect) Path() string { return Path }

// Profile implements dialect.Dialect: every grant, for every client, with
// the client's refresh policy.
func (*Dialect) Profile() oauth.Profile {
	return oauth.Profile{
		Grants:        []string{oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantDeviceCode},
		CodeKind:      oauth.CodeKindCode,
		RefreshTokens: true,
		RedirectURI:   true,
		PKCE:          true,
		Clients:       oauth.ClientsAll,
		DPoP:          true,
		MTLS:          true,
	}
}

// Decode implements dialect.Dialect.
func (*Dialect) Decode(r *http.Request) (oauth.TokenRequest, error) {
	p, lists, perr := wire.Decode(r, wire.Options{Repeated: []string{"resource"}})
	if perr != nil {
		return oauth.TokenRequest{}, perr
	}
	cred, cerr := wire.ClientAuth(r, p)
	if cerr != nil {
		return oauth.TokenRequest{}, cerr
	}
	return oauth.TokenRequest{
		GrantType:    p["grant_type"],
		Client:       cred,
		Code:         p["code"],
		RedirectURI:  p["redirect_uri"],
		CodeVerifier: p["code_verifier"],
		RefreshToken: p["refresh_token"],
		DeviceCode:   p["device_code"],
		Scope:        p["scope"],
		Resources:    lists["resource"],
	}, nil
}

// tokenResponse is the RFC 6749 §5.1 answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// Encode implements dialect.Dialect.
func (*Dialect) Encode(w http.ResponseWriter, _ *http.Request, res *oauth.TokenResult) {
	wire.WriteJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  res.AccessToken,
		TokenType:    res.TokenType,
		ExpiresIn:    res.ExpiresIn,
		RefreshToken: res.RefreshToken,
		Scope:        oauth.JoinScope(res.Scopes),
	})
}

// EncodeError implements dialect.Dialect: RFC 6749 §5.2, {"error",
// "error_description"} with the core's status, and a Basic challenge on 401
// (§5.2: the client may authenticate with HTTP Basic). The description is
// made printable ASCII without '"' or '\' (§5.2). The id is only logged.
func (*Dialect) EncodeError(w http.ResponseWriter, _ *http.Request, e *oauth.Error, _ string) {
	if e.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="grantd"`)
	}
	wire.WriteJSON(w, e.Status, map[string]string{"error": e.Code, "error_description": oauth.DescriptionText(e.Description)})
}
