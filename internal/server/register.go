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

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/wire"
)

// POST /oauth/register: the wire of RFC 7591 dynamic registration. The
// policy (who may register what) is clients.Registration's. The client
// configuration endpoint (RFC 7592) is in registration.go.

// maxRegisterBody bounds a registration request, below the server-wide
// bound: a public client's metadata is small.
const maxRegisterBody = 16 << 10

// registerRequest is the RFC 7591 §2 client metadata grantd reads. Other
// members are ignored, as §2 asks.
type registerRequest struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              string   `json:"client_name"`
	Scope                   string   `json:"scope"`
	AccessTokenSigningAlg   string   `json:"access_token_signing_alg"`
	DPoPBoundAccessTokens   bool     `json:"dpop_bound_access_tokens"`
	RequirePAR              bool     `json:"require_pushed_authorization_requests"`
	AllowedCORSOrigins      []string `json:"allowed_cors_origins"`
	// A private_key_jwt client's keys (RFC 7591 §2).
	JWKS                        json.RawMessage `json:"jwks"`
	JWKSURI                     string          `json:"jwks_uri"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg"`
	// An RFC 7592 update carries these (§2.2); registration ignores them.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// The server's fields of a client information response: an RFC 7592
	// update must not carry them (§2.2); registration ignores them.
	// Read raw, whatever their type, to be refused by name.
	RegistrationAccessToken json.RawMessage `json:"registration_access_token"`
	RegistrationClientURI   json.RawMessage `json:"registration_client_uri"`
	ClientSecretExpiresAt   json.RawMessage `json:"client_secret_expires_at"`
	ClientIDIssuedAt        json.RawMessage `json:"client_id_issued_at"`
	// Human-readable metadata grantd does not keep, read to be checked.
	ClientURI       string   `json:"client_uri"`
	LogoURI         string   `json:"logo_uri"`
	TOSURI          string   `json:"tos_uri"`
	PolicyURI       string   `json:"policy_uri"`
	SoftwareID      string   `json:"software_id"`
	SoftwareVersion string   `json:"software_version"`
	Contacts        []string `json:"contacts"`
}

func (m registerRequest) metadata() clients.DynamicMetadata {
	text := map[string][]string{}
	for k, v := range map[string]string{"client_uri": m.ClientURI, "logo_uri": m.LogoURI, "tos_uri": m.TOSURI,
		"policy_uri": m.PolicyURI, "software_id": m.SoftwareID, "software_version": m.SoftwareVersion} {
		if v != "" {
			text[k] = []string{v}
		}
	}
	if len(m.Contacts) > 0 {
		text["contacts"] = m.Contacts
	}
	return clients.DynamicMetadata{
		RedirectURIs: m.RedirectURIs, TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
		GrantTypes: m.GrantTypes, ResponseTypes: m.ResponseTypes, ClientName: m.ClientName, Scope: m.Scope,
		AccessTokenSigningAlg: m.AccessTokenSigningAlg, DPoPBoundAccessTokens: m.DPoPBoundAccessTokens,
		RequirePushedAuthorizationRequests: m.RequirePAR, AllowedCORSOrigins: m.AllowedCORSOrigins,
		JWKS: m.JWKS, JWKSURI: m.JWKSURI, TokenEndpointAuthSigningAlg: m.TokenEndpointAuthSigningAlg,
		ClientID: m.ClientID, ClientSecret: m.ClientSecret,
		Text: text,
	}
}

// serverFields names the first of the server's fields m carries, or "".
func (m registerRequest) serverFields() string {
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{{"registration_access_token", m.RegistrationAccessToken}, {"registration_client_uri", m.RegistrationClientURI},
		{"client_secret_expires_at", m.ClientSecretExpiresAt}, {"client_id_issued_at", m.ClientIDIssuedAt}} {
		if f.v != nil {
			return f.name
		}
	}
	return ""
}

// registerResponse is the RFC 7591 §3.2.1 client information response, as
// RFC 7592 §3 extends it. A public client gets no client_secret. The
// registration access token is the one made (registration, update) or
// presented (read).
type registerResponse struct {
	RegistrationAccessToken     string          `json:"registration_access_token,omitempty"`
	RegistrationClientURI       string          `json:"registration_client_uri"`
	ClientID                    string          `json:"client_id"`
	ClientIDIssuedAt            int64           `json:"client_id_issued_at"`
	ClientName                  string          `json:"client_name"`
	RedirectURIs                []string        `json:"redirect_uris"`
	GrantTypes                  []string        `json:"grant_types"`
	ResponseTypes               []string        `json:"response_types"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method"`
	Scope                       string          `json:"scope"`
	AccessTokenSigningAlg       string          `json:"access_token_signing_alg,omitempty"`
	DPoPBoundAccessTokens       bool            `json:"dpop_bound_access_tokens,omitempty"`
	RequirePAR                  bool            `json:"require_pushed_authorization_requests,omitempty"`
	JWKS                        json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                     string          `json:"jwks_uri,omitempty"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	AllowedCORSOrigins          []string        `json:"allowed_cors_origins,omitempty"`
	// Profile is grantd's member: "fapi2" for a client held to the FAPI
	// 2.0 Security Profile (--fapi2 makes a keyed client so), which the
	// server metadata cannot say per client.
	Profile string `json:"profile,omitempty"`
}

// clientInformation is the answer about c with its registration access
// token.
func (s *Server) clientInformation(c store.Client, token string) registerResponse {
	return registerResponse{
		RegistrationAccessToken:     token,
		RegistrationClientURI:       s.o.Provider.IssuerURL() + registrationPath + "/" + url.PathEscape(c.ID),
		ClientID:                    c.ID,
		ClientIDIssuedAt:            c.CreatedAt.Unix(),
		ClientName:                  c.Name,
		RedirectURIs:                c.RedirectURIs,
		GrantTypes:                  c.GrantTypes,
		ResponseTypes:               c.ResponseTypes,
		TokenEndpointAuthMethod:     c.AuthMethod,
		Scope:                       oauth.JoinScope(c.Scopes),
		AccessTokenSigningAlg:       c.AccessTokenSigningAlg,
		DPoPBoundAccessTokens:       c.DPoPBoundAccessTokens,
		RequirePAR:                  c.Security.RequirePAR || c.Security.Profile == store.ProfileFAPI2 || s.o.Provider.RequiresPAR(),
		Profile:                     c.Security.Profile,
		AllowedCORSOrigins:          c.Security.AllowedCORSOrigins,
		JWKS:                        c.Security.JWKS,
		JWKSURI:                     c.Security.JWKSURI,
		TokenEndpointAuthSigningAlg: c.Security.TokenEndpointAuthSigningAlg,
	}
}

func metadataError(format string, args ...any) *oauth.Error {
	return &oauth.Error{Code: oauth.ErrCodeInvalidClientMetadata, Status: http.StatusBadRequest, Description: fmt.Sprintf(format, args...)}
}

// registrationPath is where clients register (POST) and, below it, the
// client configuration endpoint of each (RFC 7592).
const registrationPath = "/oauth/register"

func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	req, err := readClientMetadata(w, r)
	if err != nil {
		return err
	}
	reg, err := s.o.Registrar.RegisterDynamic(r.Context(), req.metadata())
	if err != nil {
		return err
	}
	c := reg.Client
	s.o.Logger.InfoContext(r.Context(), "client registered", "client_id", c.ID, "registration", "dynamic",
		"redirect_uris", len(c.RedirectURIs))
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusCreated, s.clientInformation(c, reg.RegistrationToken))
	return nil
}

// readClientMetadata reads the client metadata of a registration or an
// update: one JSON object of at most maxRegisterBody bytes.
func readClientMetadata(w http.ResponseWriter, r *http.Request) (registerRequest, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return registerRequest{}, metadataError("The Content-Type must be application/json.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegisterBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			e := metadataError("The registration request is larger than %d bytes.", maxRegisterBody)
			e.Status = http.StatusRequestEntityTooLarge
			return registerRequest{}, e
		}
		return registerRequest{}, metadataError("The request body could not be read.")
	}
	req, derr := decodeRegisterRequest(body)
	if derr != nil {
		return registerRequest{}, derr
	}
	return req, nil
}

// decodeRegisterRequest reads one JSON object; unknown members are ignored,
// a known member of the wrong type is an error.
func decodeRegisterRequest(body []byte) (registerRequest, *oauth.Error) {
	var req registerRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			if oauth.KnownParam(te.Field) {
				return req, metadataError("The %s member has the wrong type (%s).", te.Field, te.Value)
			}
			return req, metadataError("A member has the wrong type (%s).", te.Value)
		}
		return req, metadataError("The body is not a JSON object of client metadata.")
	}
	if bytes.TrimSpace(body)[0] != '{' {
		return req, metadataError("The body is not a JSON object of client metadata.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, metadataError("The body has data after the JSON object.")
	}
	return req, nil
}
