package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/docs"
	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/wire"
)

// routes mounts every public route, in one place, and records each
// pattern (Routes lists them for the OpenAPI document's test).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, h)
	}
	handle("POST /oauth/token", s.handle(s.token))
	handle("POST /oauth/introspect", s.handle(s.introspect))
	handle("POST /oauth/revoke", s.handle(s.revoke))
	if !s.o.RegistrationDisabled {
		handle("POST /oauth/register", s.handle(s.register))
	}
	handle("POST /connect/sessions", s.handle(s.connectSession))
	handle("DELETE /connections/current", s.handle(s.disconnect))
	handle("GET /oauth/authorize", http.HandlerFunc(s.authorize))
	handle("POST /oauth/authorize", http.HandlerFunc(s.authorize))
	if s.o.Pages != nil {
		// The pages route their own methods (GET shows, POST submits).
		s.patterns = append(s.patterns, "GET /oauth/consent", "POST /oauth/consent")
		mux.Handle("/oauth/consent", s.o.Pages)
	}
	handle("GET /.well-known/oauth-authorization-server", http.HandlerFunc(s.metadata))
	handle("GET /.well-known/jwks.json", http.HandlerFunc(s.jwks))
	handle("GET /openapi.yaml", http.HandlerFunc(s.openapi))
	for _, d := range s.o.Dialects {
		path := d.Path()
		if p, ok := s.o.Mounts[d.Name()]; ok && p != "" {
			path = p
		}
		handle("POST "+path, s.dialect(d))
		// Other methods get 405 in the dialect's own error shape (not a
		// route of the API, so not listed in Routes).
		mux.Handle(path, s.dialectMethodNotAllowed(d))
	}
	handle("GET /healthz", http.HandlerFunc(s.healthz))
	handle("GET /readyz", http.HandlerFunc(s.readyz))
	return mux
}

// Routes lists the method and path of every public route, as mounted.
func (s *Server) Routes() []string { return slices.Clone(s.patterns) }

// openapi serves the OpenAPI 3.1 document of the public API.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(docs.OpenAPI)
}

// handle adapts a handler that returns an error; one place writes errors.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// writeError writes an RFC 6749 §5.2 error. The public description goes to
// the client; the private cause only to the log, with the request id.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.AsError(err)
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	args := []any{"path", r.URL.Path, "error", e.Code, "status", e.Status}
	if e.Cause != nil {
		args = append(args, "cause", e.Cause.Error())
	}
	s.o.Logger.Log(r.Context(), level, "request failed", args...)
	wire.NoStore(w)
	if e.Status == http.StatusUnauthorized {
		if e.Code == oauth.ErrCodeInvalidToken {
			w.Header().Set("WWW-Authenticate", `Bearer realm="grantd", error="invalid_token"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Basic realm="grantd"`)
		}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	wire.WriteJSON(w, e.Status, map[string]string{"error": e.Code, "error_description": e.Description})
}

// tokenResponse is the RFC 6749 §5.1 answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) error {
	p, perr := wire.DecodeBody(r)
	if perr != nil {
		return perr
	}
	cred, cerr := wire.ClientCredentials(r, p)
	if cerr != nil {
		return cerr
	}
	req := oauth.TokenRequest{
		GrantType:    p["grant_type"],
		Client:       cred,
		Code:         p["code"],
		RedirectURI:  p["redirect_uri"],
		CodeVerifier: p["code_verifier"],
		RefreshToken: p["refresh_token"],
		Scope:        p["scope"],
		HasScope:     p.Has("scope"),
	}
	resp, err := s.o.Provider.Token(r.Context(), req)
	if err != nil {
		return err
	}
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  resp.AccessToken,
		TokenType:    resp.TokenType,
		ExpiresIn:    resp.ExpiresIn,
		RefreshToken: resp.RefreshToken,
		Scope:        oauth.JoinScope(resp.Scopes),
	})
	return nil
}

// authenticate decodes the body and authenticates the calling client, for
// introspection and revocation.
func (s *Server) authenticate(r *http.Request) (wire.Params, *store.Client, error) {
	p, perr := wire.DecodeBody(r)
	if perr != nil {
		return nil, nil, perr
	}
	cred, cerr := wire.ClientCredentials(r, p)
	if cerr != nil {
		return nil, nil, cerr
	}
	c, err := s.o.Provider.AuthenticateClient(r.Context(), cred)
	if err != nil {
		return nil, nil, err
	}
	return p, &c, nil
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) error {
	p, c, err := s.authenticate(r)
	if err != nil {
		return err
	}
	// Introspection is for confidential clients and resource servers; a
	// public client's id is no credential (RFC 7662 §2.1). Public clients
	// may still revoke their own tokens (RFC 7009 §2.1).
	if c.IsPublic() {
		return oauth.InvalidClient(errors.New("public client may not introspect"))
	}
	if !p.Has("token") {
		return oauth.InvalidRequest("The token parameter is missing.")
	}
	out, err := s.o.Provider.Introspect(r.Context(), c, p["token"])
	if err != nil {
		return err
	}
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) error {
	p, c, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if !p.Has("token") {
		return oauth.InvalidRequest("The token parameter is missing.")
	}
	if err := s.o.Provider.Revoke(r.Context(), c, p["token"], p["token_type_hint"]); err != nil {
		return err
	}
	wire.NoStore(w)
	w.WriteHeader(http.StatusOK)
	return nil
}

// authorize validates the request and sends the browser to the consent step,
// or back to the client with an error, or shows an error page when the
// redirect URI cannot be trusted.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			s.authorizePage(w, r, http.StatusBadRequest, oauth.ErrCodeInvalidRequest, "The request body could not be read.")
			return
		}
		q = r.PostForm
	}
	res, err := s.o.Provider.Authorize(r.Context(), q)
	if err != nil {
		var ae *oauth.AuthorizeError
		if !errors.As(err, &ae) {
			ae = &oauth.AuthorizeError{Err: oauth.AsError(err)}
		}
		if ae.Err.Status >= 500 {
			s.o.Logger.ErrorContext(r.Context(), "authorize failed", "cause", ae.Err.Error())
		}
		if ae.RedirectTo != "" {
			http.Redirect(w, r, ae.RedirectTo, http.StatusFound)
			return
		}
		s.authorizePage(w, r, ae.Err.Status, ae.Err.Code, ae.Err.Description)
		return
	}
	http.Redirect(w, r, res.RedirectTo, http.StatusFound)
}

func (s *Server) authorizePage(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	if s.o.Pages != nil {
		s.o.Pages.Error(w, r, status, code, desc)
		return
	}
	wire.WriteJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	iss := s.o.Provider.Issuer
	authMethods := []string{"client_secret_basic", "client_secret_post", "none"}
	clientAuth := []string{"client_secret_basic", "client_secret_post"}
	w.Header().Set("Cache-Control", "public, max-age=300")
	md := map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/oauth/authorize",
		"token_endpoint":                                 iss + "/oauth/token",
		"jwks_uri":                                       iss + "/.well-known/jwks.json",
		"introspection_endpoint":                         iss + "/oauth/introspect",
		"revocation_endpoint":                            iss + "/oauth/revoke",
		"response_types_supported":                       []string{"code", oauth.CodeKindTempToken},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{oauth.GrantAuthorizationCode, oauth.GrantClientCredentials, oauth.GrantRefreshToken},
		"token_endpoint_auth_methods_supported":          authMethods,
		"introspection_endpoint_auth_methods_supported":  clientAuth,
		"revocation_endpoint_auth_methods_supported":     authMethods,
		"code_challenge_methods_supported":               []string{oauth.PKCEMethodS256},
		"authorization_response_iss_parameter_supported": true,
	}
	if !s.o.RegistrationDisabled {
		md["registration_endpoint"] = iss + "/oauth/register"
	}
	wire.WriteJSON(w, http.StatusOK, md)
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(s.o.Keys.JWKS())
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	wire.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.o.Store.Ping(ctx); err != nil {
		s.o.Logger.ErrorContext(r.Context(), "readiness check failed", "cause", err.Error())
		wire.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	wire.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// dialect serves one dialect's token endpoint: decode, the shared pipeline,
// encode. Every error gets a fresh id, logged with its private cause and
// handed to the dialect's encoder.
func (s *Server) dialect(d dialect.Dialect) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) {
			e := oauth.AsError(err)
			id := uuid.NewString()
			level := slog.LevelInfo
			if e.Status >= 500 {
				level = slog.LevelError
			}
			args := []any{"dialect", d.Name(), "error_id", id, "error", e.Code, "reason", e.Reason, "status", e.Status}
			if e.Cause != nil {
				args = append(args, "cause", e.Cause.Error())
			}
			s.o.Logger.Log(r.Context(), level, "token request failed", args...)
			wire.NoStore(w)
			if e.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
			}
			d.EncodeError(w, r, e, id)
		}
		// A panic here still answers in the dialect's own error shape.
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				fail(oauth.ServerError(fmt.Errorf("panic: %v", p)))
			}
		}()
		req, err := d.Decode(r)
		if err != nil {
			fail(err)
			return
		}
		resp, err := s.o.Provider.Token(r.Context(), req)
		if err != nil {
			fail(err)
			return
		}
		wire.NoStore(w)
		d.Encode(w, r, resp)
	})
}

// dialectMethodNotAllowed answers a dialect path's other methods with 405,
// Allow: POST, in the dialect's error shape.
func (s *Server) dialectMethodNotAllowed(d dialect.Dialect) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		wire.NoStore(w)
		d.EncodeError(w, r, &oauth.Error{Code: oauth.ErrCodeInvalidRequest, Status: http.StatusMethodNotAllowed,
			Description: "Use POST for this endpoint."}, uuid.NewString())
	})
}
