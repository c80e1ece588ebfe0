package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// Dynamic client registration (RFC 7591) for public native clients: AI
// agents and CLIs that register themselves, then run the code flow with
// PKCE on a loopback or private-use-scheme redirect. It is open (no initial
// access token) and registers public clients only, so that a registration
// grants nothing by itself: every token still needs an end user's consent,
// delivered to a redirect on the user's own device. See docs/dialects.md
// (public). The wire (JSON decoding, the answer) is the server's; the
// policy is here.

// Dynamic registration constants.
const (
	// DefaultDynamicClientName is the name of a client that sent no
	// client_name (RFC 7591 makes it optional; grantd's clients need one).
	DefaultDynamicClientName = "Unnamed application"
	// MetadataRegistration is the client metadata key that marks a client
	// registered through RFC 7591, with value MetadataDynamic. The consent
	// page shows such clients as unverified.
	MetadataRegistration = "registration"
	MetadataDynamic      = "dynamic"
)

// IsDynamic reports whether c registered itself (RFC 7591): its name and
// metadata are its own claims, not the operator's.
func IsDynamic(c *store.Client) bool { return c.Metadata[MetadataRegistration] == MetadataDynamic }

// DynamicMetadata is the RFC 7591 §2 client metadata of a registration
// request. Other metadata is ignored, as §2 asks, except that the
// human-readable members in Text are checked.
type DynamicMetadata struct {
	RedirectURIs            []string
	TokenEndpointAuthMethod string
	GrantTypes              []string // nil = absent
	ResponseTypes           []string // nil = absent
	ClientName              string
	Scope                   string
	// AccessTokenSigningAlg is grantd's own member: the algorithm of the
	// client's access tokens; "" = the server's default.
	AccessTokenSigningAlg string
	// DPoPBoundAccessTokens is RFC 9449 §5.2's dpop_bound_access_tokens.
	DPoPBoundAccessTokens bool
	// RequirePushedAuthorizationRequests is RFC 9126 §6's member.
	RequirePushedAuthorizationRequests bool
	// AllowedCORSOrigins are the web origins a browser-based client calls
	// the token and revocation endpoints from (grantd's member, as Ory
	// Hydra names it).
	AllowedCORSOrigins []string
	// JWKS, JWKSURI and TokenEndpointAuthSigningAlg are the keys of a
	// client registering with token_endpoint_auth_method private_key_jwt
	// (RFC 7591 §2, RFC 7523).
	JWKS                        json.RawMessage
	JWKSURI                     string
	TokenEndpointAuthSigningAlg string
	// ClientID and ClientSecret are what an RFC 7592 update carries (§2.2):
	// the client's id, which must be the one it updates, and its secret,
	// which a public client does not have. Registration ignores them.
	ClientID     string
	ClientSecret string
	// Text holds the other human-readable members sent (client_uri,
	// logo_uri, tos_uri, policy_uri, software_id, software_version, and
	// each contact), by member name. grantd keeps none of them, but
	// refuses control, bidi and invisible characters in any, as in
	// client_name: such text is shown to people.
	Text map[string][]string
}

// Registration is the policy of dynamic registration (RFC 7591) and of the
// management of such a registration by its client (RFC 7592,
// configure.go).
type Registration struct {
	Manager *Manager
	// Scope is what a dynamic client may register with, and gets when it
	// asks for none; nil = every product of Catalogue (what the hosted pages
	// can grant).
	Scope     []string
	Catalogue []oauth.DataProvider
	// Documents fetches Client ID Metadata Documents (document.go); nil =
	// a client_id that is a URL is no client.
	Documents Documents
	// DocumentHost says whether a metadata document may be fetched from a
	// host (lower case); nil = any public host.
	DocumentHost func(host string) bool
}

// registrationError is an RFC 7591 §3.2.2 error: 400 with
// invalid_redirect_uri or invalid_client_metadata.
func registrationError(code, format string, args ...any) *oauth.Error {
	return &oauth.Error{Code: code, Status: http.StatusBadRequest, Description: fmt.Sprintf(format, args...)}
}

func metadataError(format string, args ...any) *oauth.Error {
	return registrationError(oauth.ErrCodeInvalidClientMetadata, format, args...)
}

// Registered is a dynamically registered client and its RFC 7592
// registration access token, whose plaintext exists nowhere else (the store
// keeps only store.Hash of it): shown this once.
type Registered struct {
	Client            store.Client
	RegistrationToken string
}

// RegisterDynamic checks m against what only dynamic registration allows (a
// public client, native redirects, the code flow, the dynamic scope, plain
// text), fills in RFC 7591's defaults and registers the client with a new
// registration access token. Its errors are *oauth.Error with the RFC 7591
// codes, safe to show.
func (g *Registration) RegisterDynamic(ctx context.Context, m DynamicMetadata) (Registered, error) {
	p, perr := g.params(m)
	if perr != nil {
		return Registered{}, perr
	}
	token := newRegistrationToken()
	c, _, _, err := g.Manager.register(ctx, p, func(c *store.Client) { c.RegistrationTokenHash = store.Hash(token) })
	if err != nil {
		return Registered{}, dynamicError(err)
	}
	return Registered{Client: c, RegistrationToken: token}, nil
}

// dynamicError is the RFC 7591 §3.2.2 answer to a registration the Manager
// refused; a store failure is a server error.
func dynamicError(err error) error {
	var (
		ve *ValidationError
		oe *oauth.Error
	)
	switch {
	case errors.As(err, &ve):
		code := oauth.ErrCodeInvalidClientMetadata
		if slices.ContainsFunc(ve.Problems, func(p string) bool { return strings.HasPrefix(p, "redirect_uris") }) {
			code = oauth.ErrCodeInvalidRedirectURI
		}
		return registrationError(code, "%s.", strings.Join(ve.Problems, "; "))
	case errors.As(err, &oe):
		return oe
	}
	return oauth.ServerError(err)
}

func (g *Registration) params(m DynamicMetadata) (Params, *oauth.Error) {
	switch n := len(m.RedirectURIs); {
	case n == 0:
		return Params{}, registrationError(oauth.ErrCodeInvalidRedirectURI, "redirect_uris is required: at least one loopback (http://127.0.0.1:PORT/...) or private-use scheme (com.example.app:/...) redirect URI.")
	case n > MaxRedirectURIs:
		return Params{}, registrationError(oauth.ErrCodeInvalidRedirectURI, "redirect_uris has more than %d entries.", MaxRedirectURIs)
	}
	// A client with keys of its own (private_key_jwt) is confidential: it
	// may be a web application, with https redirect URIs; a public one is
	// an app on the user's device, with native ones only.
	keyed := m.TokenEndpointAuthMethod == store.AuthMethodPrivateKeyJWT
	for i, u := range m.RedirectURIs {
		if msg := checkRedirectURI(u, !keyed); msg != "" {
			return Params{}, registrationError(oauth.ErrCodeInvalidRedirectURI, "redirect_uris[%d] %s.", i, msg)
		}
	}
	if !printable(m.ClientName) {
		return Params{}, metadataError("client_name must be valid UTF-8 without control characters, bidi controls or invisible characters (such as U+202E).")
	}
	for _, k := range slices.Sorted(maps.Keys(m.Text)) {
		for _, v := range m.Text[k] {
			if !printable(v) {
				return Params{}, metadataError("%s must be valid UTF-8 without control characters, bidi controls or invisible characters (such as U+202E).", k)
			}
		}
	}
	method := store.AuthMethodNone
	switch a := m.TokenEndpointAuthMethod; {
	case keyed:
		method = a
	case a != "" && a != store.AuthMethodNone:
		return Params{}, metadataError("token_endpoint_auth_method must be none (a public client) or private_key_jwt (a client with its own keys): this endpoint issues no client secrets.")
	case len(m.JWKS) > 0 || m.JWKSURI != "" || m.TokenEndpointAuthSigningAlg != "":
		return Params{}, metadataError("jwks, jwks_uri and token_endpoint_auth_signing_alg go with token_endpoint_auth_method private_key_jwt.")
	}
	grants := m.GrantTypes
	if grants == nil {
		// RFC 7591's default is authorization_code alone; an agent or CLI
		// without refresh would ask its user again every hour.
		grants = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
	}
	for _, gt := range grants {
		if gt != oauth.GrantAuthorizationCode && gt != oauth.GrantRefreshToken && gt != oauth.GrantDeviceCode {
			return Params{}, metadataError("grant_types may only hold authorization_code, refresh_token and urn:ietf:params:oauth:grant-type:device_code.")
		}
	}
	if !slices.Contains(grants, oauth.GrantAuthorizationCode) {
		return Params{}, metadataError("grant_types must include authorization_code.")
	}
	responses := m.ResponseTypes
	if responses == nil {
		responses = []string{ResponseTypeCode}
	}
	if len(responses) == 0 || slices.ContainsFunc(responses, func(t string) bool { return t != ResponseTypeCode }) {
		return Params{}, metadataError("response_types may only hold code.")
	}
	allowed := g.scope()
	asked, ok := oauth.ParseScope(m.Scope)
	if !ok {
		return Params{}, metadataError("scope must be space-delimited values of printable ASCII without quotes or backslashes.")
	}
	scopes, ok := oauth.NarrowScope(asked, allowed)
	if !ok {
		return Params{}, metadataError("scope may only hold values this server offers dynamic clients: %s.", oauth.JoinScope(allowed))
	}
	name := m.ClientName
	if strings.TrimSpace(name) == "" {
		name = DefaultDynamicClientName
	}
	return Params{
		Name:                               name,
		GrantTypes:                         grants,
		ResponseTypes:                      responses,
		RedirectURIs:                       m.RedirectURIs,
		TokenEndpointAuthMethod:            method,
		JWKS:                               m.JWKS,
		JWKSURI:                            m.JWKSURI,
		TokenEndpointAuthSigningAlg:        m.TokenEndpointAuthSigningAlg,
		Scope:                              oauth.JoinScope(scopes),
		AccessTokenSigningAlg:              m.AccessTokenSigningAlg,
		DPoPBoundAccessTokens:              m.DPoPBoundAccessTokens,
		RequirePushedAuthorizationRequests: m.RequirePushedAuthorizationRequests,
		AllowedCORSOrigins:                 m.AllowedCORSOrigins,
		Metadata:                           map[string]string{MetadataRegistration: MetadataDynamic},
	}, nil
}

// scope is what a dynamic client may register with.
func (g *Registration) scope() []string {
	if g.Scope != nil {
		return g.Scope
	}
	var out []string
	for _, d := range g.Catalogue {
		for _, p := range d.Products {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}
