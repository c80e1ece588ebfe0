package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/wire"
)

// Dynamic client registration (RFC 7591) for public native clients: AI
// agents and CLIs that register themselves, then run the code flow with
// PKCE on a loopback or private-use-scheme redirect. It is open (no initial
// access token) and registers public clients only, so that a registration
// grants nothing by itself: every token still needs an end user's consent,
// delivered to a redirect on the user's own device. See docs/dialects.md (public).
const (
	// maxRegisterBody bounds a registration request, below the server-wide
	// bound: a public client's metadata is small.
	maxRegisterBody = 16 << 10
	// defaultDynamicClientName is the name of a client that sent no
	// client_name (RFC 7591 makes it optional; grantd's clients need one).
	defaultDynamicClientName = "Unnamed application"
	// MetadataRegistration is the client metadata key that marks a client
	// registered through POST /oauth/register, with value "dynamic".
	MetadataRegistration = "registration"
)

// registerRequest is the RFC 7591 §2 client metadata grantd understands.
// Other metadata (client_uri, logo_uri, contacts, software_id, …) is
// ignored, as §2 asks.
type registerRequest struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              string   `json:"client_name"`
	Scope                   string   `json:"scope"`
}

// registerResponse is the RFC 7591 §3.2.1 answer. A public client gets no
// client_secret; there is no registration_access_token (RFC 7592 is not
// served).
type registerResponse struct {
	ClientID                string   `json:"client_id"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scope                   string   `json:"scope"`
}

// registrationError is an RFC 7591 §3.2.2 error: 400 with
// invalid_redirect_uri or invalid_client_metadata.
func registrationError(code, format string, args ...any) *oauth.Error {
	return &oauth.Error{Code: code, Status: http.StatusBadRequest, Description: fmt.Sprintf(format, args...)}
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return registrationError(oauth.ErrCodeInvalidClientMetadata, "The Content-Type must be application/json.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegisterBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			e := registrationError(oauth.ErrCodeInvalidClientMetadata, "The registration request is larger than %d bytes.", maxRegisterBody)
			e.Status = http.StatusRequestEntityTooLarge
			return e
		}
		return registrationError(oauth.ErrCodeInvalidClientMetadata, "The request body could not be read.")
	}
	req, derr := decodeRegisterRequest(body)
	if derr != nil {
		return derr
	}
	p, verr := s.dynamicClientParams(req)
	if verr != nil {
		return verr
	}
	m := clients.Manager{Store: s.o.Provider.Store, Now: s.o.Provider.Now}
	c, _, _, err := m.Register(r.Context(), p)
	var ve *clients.ValidationError
	switch {
	case errors.As(err, &ve):
		code := oauth.ErrCodeInvalidClientMetadata
		if slices.ContainsFunc(ve.Problems, func(p string) bool { return strings.HasPrefix(p, "redirect_uris") }) {
			code = oauth.ErrCodeInvalidRedirectURI
		}
		return registrationError(code, "%s.", strings.Join(ve.Problems, "; "))
	case err != nil:
		return oauth.ServerError(err)
	}
	s.o.Logger.InfoContext(r.Context(), "client registered", "client_id", c.ID, "registration", "dynamic",
		"redirect_uris", len(c.RedirectURIs))
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusCreated, registerResponse{
		ClientID:                c.ID,
		ClientIDIssuedAt:        c.CreatedAt.Unix(),
		ClientName:              c.Name,
		RedirectURIs:            c.RedirectURIs,
		GrantTypes:              c.GrantTypes,
		ResponseTypes:           c.ResponseTypes,
		TokenEndpointAuthMethod: c.AuthMethod,
		Scope:                   oauth.JoinScope(c.Scopes),
	})
	return nil
}

// decodeRegisterRequest reads one JSON object; unknown members are ignored,
// a known member of the wrong type is an error.
func decodeRegisterRequest(body []byte) (registerRequest, *oauth.Error) {
	var req registerRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return req, registrationError(oauth.ErrCodeInvalidClientMetadata, "The %s member has the wrong type (%s).", oauth.SafeName(te.Field), te.Value)
		}
		return req, registrationError(oauth.ErrCodeInvalidClientMetadata, "The body is not a JSON object of client metadata.")
	}
	if bytes.TrimSpace(body)[0] != '{' {
		return req, registrationError(oauth.ErrCodeInvalidClientMetadata, "The body is not a JSON object of client metadata.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, registrationError(oauth.ErrCodeInvalidClientMetadata, "The body has data after the JSON object.")
	}
	return req, nil
}

// dynamicClientParams checks what only dynamic registration restricts (a
// public client, native redirects, the code flow, the dynamic scope) and
// fills in RFC 7591's defaults; clients.Manager checks the rest.
func (s *Server) dynamicClientParams(req registerRequest) (clients.Params, *oauth.Error) {
	metadata := func(format string, args ...any) (clients.Params, *oauth.Error) {
		return clients.Params{}, registrationError(oauth.ErrCodeInvalidClientMetadata, format, args...)
	}
	switch n := len(req.RedirectURIs); {
	case n == 0:
		return clients.Params{}, registrationError(oauth.ErrCodeInvalidRedirectURI, "redirect_uris is required: at least one loopback (http://127.0.0.1:PORT/…) or private-use scheme (com.example.app:/…) redirect URI.")
	case n > clients.MaxRedirectURIs:
		return clients.Params{}, registrationError(oauth.ErrCodeInvalidRedirectURI, "redirect_uris has more than %d entries.", clients.MaxRedirectURIs)
	}
	for i, u := range req.RedirectURIs {
		if msg := nativeRedirectProblem(u); msg != "" {
			return clients.Params{}, registrationError(oauth.ErrCodeInvalidRedirectURI, "redirect_uris[%d] %s.", i, msg)
		}
	}
	if m := req.TokenEndpointAuthMethod; m != "" && m != store.AuthMethodNone {
		return metadata("token_endpoint_auth_method must be none: this endpoint registers public clients only.")
	}
	grants := req.GrantTypes
	if grants == nil {
		// RFC 7591's default is authorization_code alone; an agent or CLI
		// without refresh would ask its user again every hour.
		grants = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
	}
	for _, g := range grants {
		if g != oauth.GrantAuthorizationCode && g != oauth.GrantRefreshToken {
			return metadata("grant_types may only hold authorization_code and refresh_token.")
		}
	}
	if !slices.Contains(grants, oauth.GrantAuthorizationCode) {
		return metadata("grant_types must include authorization_code.")
	}
	responses := req.ResponseTypes
	if responses == nil {
		responses = []string{clients.ResponseTypeCode}
	}
	if len(responses) == 0 || slices.ContainsFunc(responses, func(t string) bool { return t != clients.ResponseTypeCode }) {
		return metadata("response_types may only hold code.")
	}
	allowed := s.dynamicClientScopes()
	scopes := allowed
	if req.Scope != "" {
		asked, ok := oauth.ParseScope(req.Scope)
		if !ok {
			return metadata("scope must be space-delimited values of printable ASCII without quotes or backslashes.")
		}
		for _, sc := range asked {
			if !slices.Contains(allowed, sc) {
				return metadata("scope may only hold values this server offers dynamic clients: %s.", oauth.JoinScope(allowed))
			}
		}
		scopes = asked
	}
	name := req.ClientName
	if strings.TrimSpace(name) == "" {
		name = defaultDynamicClientName
	}
	return clients.Params{
		Name:                    name,
		GrantTypes:              grants,
		ResponseTypes:           responses,
		RedirectURIs:            req.RedirectURIs,
		TokenEndpointAuthMethod: store.AuthMethodNone,
		Scope:                   oauth.JoinScope(scopes),
		Metadata:                map[string]string{MetadataRegistration: "dynamic"},
	}, nil
}

// dynamicClientScopes is the scope a dynamic client may register with, and
// gets when it asks for none: every product of the data-provider catalogue,
// which is what the hosted pages can grant, unless
// Options.RegistrationScope says otherwise.
func (s *Server) dynamicClientScopes() []string {
	if s.o.RegistrationScope != nil {
		return s.o.RegistrationScope
	}
	var out []string
	for _, d := range s.o.Provider.Catalogue {
		for _, p := range d.Products {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// nativeRedirectProblem allows the redirect URIs of native apps only (RFC
// 8252 §7): http on a loopback host (any port at authorization time), or a
// private-use scheme containing a dot. https is refused: open registration
// of web redirects would let anyone deliver codes to any site.
func nativeRedirectProblem(s string) string {
	if len(s) > clients.MaxRedirectURILen {
		return fmt.Sprintf("is longer than %d characters", clients.MaxRedirectURILen)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= 0x20 || r >= 0x7f }) {
		return "must be printable ASCII without spaces"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme == "":
		return "must be an absolute URI"
	case strings.Contains(s, "#"):
		return "must not have a fragment"
	case u.User != nil:
		return "must not have userinfo"
	}
	switch u.Scheme {
	case "http":
		if !oauth.IsLoopbackHost(u.Hostname()) {
			return "may use http only with a loopback host (127.0.0.1, [::1] or localhost)"
		}
	case "https":
		return "may not use https: dynamic registration is for native apps (http on a loopback host, or a private-use scheme such as com.example.app:/callback); ask the operator to register a web client"
	default:
		if !strings.Contains(u.Scheme, ".") {
			return "must use http on a loopback host or a private-use scheme containing a dot (com.example.app:/callback)"
		}
		if u.Opaque != "" || (u.Host == "" && u.Path == "") {
			return "with a private-use scheme must have a path (com.example.app:/callback)"
		}
	}
	return ""
}
