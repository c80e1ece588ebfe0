package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/docs"
	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/dialect/oauth2"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/oauth/assertion"
	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/wire"
)

// standard is the standard token endpoint, and its error encoder is the RFC
// 6749 §5.2 shape of every other standard endpoint.
var standard = oauth2.New()

// routes mounts every public route, in one place, and records each
// pattern (Routes lists them for the OpenAPI document's test). Every API
// path answers another method with 405, Allow and a JSON error in its
// endpoint's shape.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, h)
	}
	api := func(method, path string, enc dialect.ErrorEncoder, h http.Handler) {
		handle(method+" "+path, h)
		// Other methods (not a route of the API, so not in Routes).
		mux.Handle(path, s.methodNotAllowed(method, enc))
	}
	// Browser-based clients call the token and revocation endpoints from
	// their origins (CORS: cors.go); the core checks the client allows it.
	const clientHeaders = "Authorization, Content-Type, DPoP"
	handle("OPTIONS "+oauth2.Path, s.preflight(http.MethodPost, clientHeaders, s.methodNotAllowed(http.MethodPost, standard)))
	handle("OPTIONS /oauth/revoke", s.preflight(http.MethodPost, clientHeaders, s.methodNotAllowed(http.MethodPost, standard)))
	api(http.MethodPost, oauth2.Path, standard, s.withCORS(true, s.tokenEndpoint(standard)))
	api(http.MethodPost, "/oauth/introspect", standard, s.handle(standard, s.introspect))
	api(http.MethodPost, "/oauth/revoke", standard, s.withCORS(true, s.handle(standard, s.revoke)))
	// A push is an authorization request: the same per-address budget.
	api(http.MethodPost, parPath, standard, s.handle(standard, s.limited(RouteAuthorize, s.par)))
	if s.o.Pages != nil {
		// The device flow (RFC 8628) needs the verification page.
		api(http.MethodPost, devicePath, standard, s.checkOrigin(s.handle(standard, s.limited(RouteAuthorize, s.deviceAuthorization))))
	}
	if s.o.Registrar != nil {
		// Open registration answers every origin (a browser app registers
		// itself); RFC 7592's requests carry their registration token.
		handle("OPTIONS "+registrationPath, s.preflight(http.MethodPost, "Content-Type", s.methodNotAllowed(http.MethodPost, standard)))
		api(http.MethodPost, registrationPath, standard, s.withCORS(false, s.handle(standard, s.limited(RouteRegister, s.register))))
		// RFC 7592: one resource, three methods, 405 for the others.
		client := registrationPath + "/{client_id}"
		handle("OPTIONS "+client, s.preflight("GET, PUT, DELETE", "Authorization, Content-Type", s.methodNotAllowed("GET, PUT, DELETE", registrationErrors)))
		handle("GET "+client, s.withCORS(false, s.handle(registrationErrors, s.readRegistration)))
		handle("PUT "+client, s.withCORS(false, s.handle(registrationErrors, s.updateRegistration)))
		handle("DELETE "+client, s.withCORS(false, s.handle(registrationErrors, s.deleteRegistration)))
		mux.Handle(client, s.methodNotAllowed("GET, PUT, DELETE", registrationErrors))
	}
	api(http.MethodPost, "/connect/sessions", standard, s.handle(standard, s.limited(RouteConnectSessions, s.connectSession)))
	api(http.MethodDelete, "/connections/current", bearerErrors{standard}, s.handle(bearerErrors{standard}, s.disconnect))
	handle("GET /oauth/authorize", http.HandlerFunc(s.authorize))
	handle("POST /oauth/authorize", http.HandlerFunc(s.authorize))
	if s.o.Pages != nil {
		// The pages route their own methods (GET shows, POST submits).
		s.patterns = append(s.patterns, "GET /oauth/consent", "POST /oauth/consent")
		mux.Handle("/oauth/consent", s.o.Pages)
		// The device flow's verification page (RFC 8628 §3.3); a code
		// entered is an authorization request: the same per-address budget.
		s.patterns = append(s.patterns, "GET "+oauth.DevicePath, "POST "+oauth.DevicePath)
		mux.Handle("GET "+oauth.DevicePath, s.o.Pages)
		mux.Handle("POST "+oauth.DevicePath, s.limitedPage(RouteAuthorize, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.o.Pages.ServeHTTP(w, r.WithContext(oauth.WithClientAddress(r.Context(), s.clientAddress(r))))
		})))
	}
	handle("GET /.well-known/oauth-authorization-server", publicCORS(http.HandlerFunc(s.metadata)))
	handle("GET /.well-known/jwks.json", publicCORS(http.HandlerFunc(s.jwks)))
	handle("GET /openapi.yaml", http.HandlerFunc(s.openapi))
	for _, d := range s.mounted() {
		// No CORS there, but a browser's form POST from another page is
		// judged like one (checkOrigin): refused unless the client lists
		// the origin.
		api(http.MethodPost, mountPath(d, s.o.Mounts), d, s.checkOrigin(s.tokenEndpoint(d)))
	}
	handle("GET /healthz", http.HandlerFunc(s.healthz))
	handle("GET /readyz", http.HandlerFunc(s.readyz))
	return mux
}

// reservedPaths are the paths of the public API that no dialect may take.
var reservedPaths = []string{oauth2.Path, "/oauth/introspect", "/oauth/revoke", parPath, devicePath, oauth.DevicePath, "/oauth/register", "/oauth/authorize",
	"/oauth/consent", "/connect/sessions", "/connections/current", "/.well-known/oauth-authorization-server",
	"/.well-known/jwks.json", "/openapi.yaml", "/healthz", "/readyz"}

func mountPath(d dialect.Dialect, mounts map[string]string) string {
	if p := mounts[d.Name()]; p != "" {
		return p
	}
	return d.Path()
}

// CheckMounts reports a dialect whose path, as mounted, is another's or one
// of the standard endpoints', which the public server could not serve.
func CheckMounts(ds []dialect.Dialect, mounts map[string]string) error {
	taken := reserved()
	for _, d := range ds {
		if err := claim(taken, d, mounts); err != nil {
			return err
		}
	}
	return nil
}

func reserved() map[string]string {
	taken := map[string]string{}
	for _, p := range reservedPaths {
		taken[p] = "the standard endpoints"
	}
	return taken
}

// claim takes d's path in taken, or says whose it is. The standard
// endpoint itself is mounted anyway, and claims nothing.
func claim(taken map[string]string, d dialect.Dialect, mounts map[string]string) error {
	if d.Name() == oauth2.Name {
		return nil
	}
	p := mountPath(d, mounts)
	if other, ok := taken[p]; ok {
		return fmt.Errorf("dialects.%s: the path %s is taken by %s", d.Name(), p, other)
	}
	taken[p] = "dialects." + d.Name()
	return nil
}

// mounted are the dialects mounted beside the standard endpoint: the
// standard one is never mounted twice, and one whose path is taken (which
// CheckMounts refuses at start-up) is left out and logged.
func (s *Server) mounted() []dialect.Dialect {
	taken := reserved()
	var out []dialect.Dialect
	for _, d := range s.o.Dialects {
		if d.Name() == oauth2.Name {
			continue
		}
		if err := claim(taken, d, s.o.Mounts); err != nil {
			s.o.Logger.Error("dialect not mounted", "cause", err.Error())
			continue
		}
		out = append(out, d)
	}
	return out
}

// Routes lists the method and path of every public route, as mounted.
func (s *Server) Routes() []string { return slices.Clone(s.patterns) }

// openapi serves the OpenAPI 3.1 document of the public API.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(docs.OpenAPI)
}

// tokenEndpoint is the one handler of every token endpoint: the dialect
// decodes, the core runs the pipeline with the dialect's profile, the
// dialect encodes. A panic still answers in the dialect's error shape.
func (s *Server) tokenEndpoint(d dialect.Dialect) http.Handler {
	profile := d.Profile()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer s.recoverInto(w, r, d, d.Name())
		req, err := d.Decode(r)
		if err != nil {
			s.fail(w, r, d, d.Name(), err)
			return
		}
		req.Client.Address, req.Client.Endpoint, req.Client.Certificates = s.clientAddress(r), s.endpointURL(r), s.peerCertificates(r)
		req.Client.Origin, req.DPoP = corsOrigin(r), s.proofs(r)
		res, err := s.o.Provider.Token(r.Context(), profile, req)
		if err != nil {
			s.fail(w, r, d, d.Name(), err)
			return
		}
		wire.NoStore(w)
		rateLimitHeaders(w, res.RateLimit)
		if res.DPoPNonce != "" {
			w.Header().Set(dpop.NonceHeader, res.DPoPNonce)
		}
		d.Encode(w, r, res)
	})
}

// handle adapts a handler of the other standard endpoints, which returns
// an error, to the one error writer with enc's shape.
func (s *Server) handle(enc dialect.ErrorEncoder, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer s.recoverInto(w, r, enc, "")
		if err := h(w, r); err != nil {
			s.fail(w, r, enc, "", err)
		}
	})
}

// recoverInto answers a panic as a server error in enc's shape.
func (s *Server) recoverInto(w http.ResponseWriter, r *http.Request, enc dialect.ErrorEncoder, name string) {
	if p := recover(); p != nil {
		if p == http.ErrAbortHandler {
			panic(p)
		}
		s.fail(w, r, enc, name, oauth.ServerError(fmt.Errorf("panic: %v", p)))
	}
}

// fail is the one error writer of the public API. Each error gets a fresh
// id, logged with its private cause (never shown) and handed to the
// endpoint's encoder; the answer is never cached and carries Retry-After
// when the core set one. name is the dialect of a token endpoint ("" for
// the other endpoints).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, enc dialect.ErrorEncoder, name string, err error) {
	e := oauth.AsError(err)
	id := uuid.NewString()
	level := slog.LevelInfo
	msg, args := "request failed", []any{"path", r.URL.Path}
	if name != "" {
		msg, args = "token request failed", []any{"dialect", name}
	}
	switch {
	case e.Status >= 500 && abandoned(r, e):
		// The client hung up (or its deadline passed) and the work it
		// started stopped with it: nobody reads this answer, and it is not
		// a server error.
		msg = "request abandoned by the client"
	case e.Status >= 500 && e.Reason == "":
		// A server error; a 503 with a reason (outside operating hours, a
		// limiter failing closed) is the policy answering.
		level = slog.LevelError
	}
	args = append(args, "error_id", id, "error", e.Code, "reason", e.Reason, "status", e.Status)
	if e.Cause != nil {
		args = append(args, "cause", e.Cause.Error())
	}
	s.o.Logger.Log(r.Context(), level, msg, args...)
	wire.NoStore(w)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	rateLimitHeaders(w, e.RateLimit)
	if e.DPoPNonce != "" {
		w.Header().Set(dpop.NonceHeader, e.DPoPNonce)
	}
	enc.EncodeError(w, r, e, id)
}

// abandoned reports whether e is the request's own context ending: the
// client closed the connection, so what it asked for stopped.
func abandoned(r *http.Request, e *oauth.Error) bool {
	return r.Context().Err() != nil && e.Cause != nil &&
		(errors.Is(e.Cause, context.Canceled) || errors.Is(e.Cause, context.DeadlineExceeded))
}

// rateLimitHeaders writes a client's rate-limit window
// (draft-ietf-httpapi-ratelimit-headers): the quota, what is left, and the
// seconds until it is whole again.
func rateLimitHeaders(w http.ResponseWriter, rl *oauth.RateLimit) {
	if rl == nil {
		return
	}
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.FormatInt(rl.Limit, 10))
	h.Set("RateLimit-Remaining", strconv.FormatInt(max(rl.Remaining, 0), 10))
	h.Set("RateLimit-Reset", strconv.FormatInt(int64((rl.Reset+time.Second-1)/time.Second), 10))
}

// limited asks the address limiter before an open endpoint's handler runs.
func (s *Server) limited(route string, h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.o.AddressLimiter != nil {
			if err := s.o.AddressLimiter.Allow(r.Context(), route, s.clientAddress(r)); err != nil {
				return err
			}
		}
		return h(w, r)
	}
}

// limitedPage is limited for a hosted page: a refusal is an error page,
// with Retry-After.
func (s *Server) limitedPage(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.o.AddressLimiter != nil {
			if err := s.o.AddressLimiter.Allow(r.Context(), route, s.clientAddress(r)); err != nil {
				e := oauth.AsError(err)
				if e.RetryAfter > 0 {
					w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
				}
				s.authorizePage(w, r, e.Status, e.Code, e.Description)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// methodNotAllowed answers an API path's other methods with 405 and Allow,
// in the endpoint's error shape.
func (s *Server) methodNotAllowed(allow string, enc dialect.ErrorEncoder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		s.fail(w, r, enc, "", &oauth.Error{Code: oauth.ErrCodeInvalidRequest, Status: http.StatusMethodNotAllowed,
			Description: "Use " + allow + " for this endpoint."})
	})
}

// bearerErrors is the error shape of an endpoint that takes an access token
// (RFC 6750 §3): the RFC 6749 JSON error, with a Bearer challenge. A
// request with no token gets a challenge without an error code (§3.1).
type bearerErrors struct{ dialect.ErrorEncoder }

func (b bearerErrors) EncodeError(w http.ResponseWriter, r *http.Request, e *oauth.Error, id string) {
	switch {
	case e.Reason == oauth.ReasonDPoPBound:
		// RFC 9449 §7.1: the DPoP challenge, with the algorithms accepted.
		w.Header().Set("WWW-Authenticate", `DPoP realm="grantd", error="`+e.Code+`", algs="`+strings.Join(dpop.Algorithms, " ")+`"`)
	case e.Code == oauth.ErrCodeInvalidToken && e.Reason == oauth.ReasonNoCredentials:
		w.Header().Set("WWW-Authenticate", `Bearer realm="grantd"`)
	case e.Code == oauth.ErrCodeInvalidToken, e.Code == oauth.ErrCodeInsufficientScope:
		w.Header().Set("WWW-Authenticate", `Bearer realm="grantd", error="`+e.Code+`"`)
	}
	b.ErrorEncoder.EncodeError(w, r, e, id)
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) error {
	p, cred, err := s.credentials(r)
	if err != nil {
		return err
	}
	out, err := s.o.Provider.Introspect(r.Context(), cred, p["token"], s.proofs(r))
	if err != nil {
		return err
	}
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) error {
	p, cred, err := s.credentials(r)
	if err != nil {
		return err
	}
	if err := s.o.Provider.Revoke(r.Context(), cred, p["token"], p["token_type_hint"], s.proofs(r)); err != nil {
		return err
	}
	wire.NoStore(w)
	w.WriteHeader(http.StatusOK)
	return nil
}

// parPath is the pushed authorization request endpoint (RFC 9126).
const parPath = "/oauth/par"

// authenticatedForm decodes a client's form (resource may repeat) and its
// credentials, with what the server knows of the request.
func (s *Server) authenticatedForm(r *http.Request) (wire.Params, map[string][]string, oauth.ClientCredentials, error) {
	p, lists, perr := wire.Decode(r, wire.Options{Repeated: []string{"resource"}})
	if perr != nil {
		return nil, nil, oauth.ClientCredentials{}, perr
	}
	cred, cerr := wire.ClientAuth(r, p)
	if cerr != nil {
		return nil, nil, oauth.ClientCredentials{}, cerr
	}
	cred.Address, cred.Endpoint, cred.Certificates = s.clientAddress(r), s.endpointURL(r), s.peerCertificates(r)
	cred.Origin = corsOrigin(r)
	return p, lists, cred, nil
}

// devicePath is the device authorization endpoint (RFC 8628 §3.1).
const devicePath = "/oauth/device_authorization"

// deviceAuthorization is RFC 8628 §3.1–3.2: a client (a public one by its
// client_id) asks for a device code and a user code.
func (s *Server) deviceAuthorization(w http.ResponseWriter, r *http.Request) error {
	p, lists, cred, err := s.authenticatedForm(r)
	if err != nil {
		return err
	}
	if err := s.resolveClientDocument(r, cred); err != nil {
		return err
	}
	res, err := s.o.Provider.AuthorizeDevice(r.Context(), cred, p["scope"], lists["resource"])
	if err != nil {
		return err
	}
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusOK, res)
	return nil
}

// par takes a pushed authorization request (RFC 9126 §2): the body is the
// authorization request's parameters (resource may repeat), with the
// client's authentication; the answer is 201 with the request_uri.
func (s *Server) par(w http.ResponseWriter, r *http.Request) error {
	p, lists, cred, err := s.authenticatedForm(r)
	if err != nil {
		return err
	}
	if err := s.resolveClientDocument(r, cred); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	for k, v := range lists {
		q[k] = v
	}
	res, err := s.o.Provider.Push(r.Context(), cred, q, s.proofs(r))
	if err != nil {
		return err
	}
	wire.NoStore(w)
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"request_uri": res.RequestURI, "expires_in": res.ExpiresIn})
	return nil
}

// resolveDocument fetches, checks and stores the metadata document a
// client_id names when it is one's URL (ClientDocuments): then the request
// is judged as any client's.
func (s *Server) resolveDocument(r *http.Request, clientID string) error {
	if s.o.ClientDocuments == nil || clientID == "" {
		return nil
	}
	return s.resolveDocumentID(r, clientID)
}

// resolveClientDocument is resolveDocument for a client's credentials: a
// keyed client may name itself only in its assertion (RFC 7523 sub).
func (s *Server) resolveClientDocument(r *http.Request, cred oauth.ClientCredentials) error {
	id := cred.ID
	if id == "" && cred.Presented == oauth.PresentedJWT {
		id, _ = assertion.Peek(cred.Assertion)
	}
	return s.resolveDocument(r, id)
}

func (s *Server) resolveDocumentID(r *http.Request, clientID string) error {
	err := s.o.ClientDocuments.ResolveDocument(r.Context(), clientID)
	if err != nil {
		s.o.Logger.InfoContext(r.Context(), "client metadata document refused", "client_id", clientID, "cause", err.Error())
	}
	return err
}

// proofs is the request's DPoP proofs (RFC 9449 §4) with the method and
// URL they must match, nil when it has none.
func (s *Server) proofs(r *http.Request) *oauth.DPoPRequest {
	proofs := r.Header.Values(dpop.Header)
	if len(proofs) == 0 {
		return nil
	}
	return &oauth.DPoPRequest{Proofs: proofs, Method: r.Method, URL: s.endpointURL(r)}
}

// credentials decodes a body and the client credentials it and the Basic
// header carry, with the address they came from.
func (s *Server) credentials(r *http.Request) (wire.Params, oauth.ClientCredentials, error) {
	p, perr := wire.DecodeBody(r)
	if perr != nil {
		return nil, oauth.ClientCredentials{}, perr
	}
	cred, cerr := wire.ClientAuth(r, p)
	if cerr != nil {
		return nil, oauth.ClientCredentials{}, cerr
	}
	cred.Address, cred.Endpoint, cred.Certificates = s.clientAddress(r), s.endpointURL(r), s.peerCertificates(r)
	cred.Origin = corsOrigin(r)
	return p, cred, nil
}

// authorize validates the request and sends the browser to the consent step,
// or back to the client with an error, or shows an error page when the
// redirect URI cannot be trusted.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if s.o.AddressLimiter != nil {
		if err := s.o.AddressLimiter.Allow(r.Context(), RouteAuthorize, s.clientAddress(r)); err != nil {
			e := oauth.AsError(err)
			if e.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
			}
			s.authorizePage(w, r, e.Status, e.Code, e.Description)
			return
		}
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			s.authorizePage(w, r, http.StatusBadRequest, oauth.ErrCodeInvalidRequest, "The request body could not be read.")
			return
		}
		q = r.PostForm
	}
	if err := s.resolveDocument(r, q.Get("client_id")); err != nil {
		e := oauth.AsError(err)
		s.authorizePage(w, r, e.Status, e.Code, e.Description)
		return
	}
	res, err := s.o.Provider.AuthorizeFrom(r.Context(), q, s.clientAddress(r))
	if err != nil {
		var ae *oauth.AuthorizeError
		if !errors.As(err, &ae) {
			ae = &oauth.AuthorizeError{Err: oauth.AsError(err)}
		}
		if ae.Err.Status >= 500 {
			s.o.Logger.ErrorContext(r.Context(), "authorize failed", "cause", ae.Err.Error())
		}
		if ae.RedirectTo != "" {
			http.Redirect(w, r, ae.RedirectTo, redirectStatus(r))
			return
		}
		s.authorizePage(w, r, ae.Err.Status, ae.Err.Code, ae.Err.Description)
		return
	}
	http.Redirect(w, r, res.RedirectTo, redirectStatus(r))
}

// redirectStatus is the status of a redirect answering r: 303 after a POST,
// so that the browser follows with a GET and never re-posts the form
// (RFC 9700 §4.11, FAPI 2.0), 302 after a GET.
func redirectStatus(r *http.Request) int {
	if r.Method == http.MethodPost {
		return http.StatusSeeOther
	}
	return http.StatusFound
}

func (s *Server) authorizePage(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	if s.o.Pages != nil {
		s.o.Pages.Error(w, r, status, code, desc)
		return
	}
	wire.WriteJSON(w, status, map[string]string{"error": code, "error_description": oauth.DescriptionText(desc)})
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	iss := s.o.Provider.IssuerURL()
	authMethods := []string{"client_secret_basic", "client_secret_post", "none", "private_key_jwt"}
	clientAuth := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	w.Header().Set("Cache-Control", "public, max-age=300")
	md := map[string]any{
		"issuer":                                                   iss,
		"authorization_endpoint":                                   iss + "/oauth/authorize",
		"token_endpoint":                                           iss + oauth2.Path,
		"jwks_uri":                                                 iss + "/.well-known/jwks.json",
		"introspection_endpoint":                                   iss + "/oauth/introspect",
		"revocation_endpoint":                                      iss + "/oauth/revoke",
		"response_types_supported":                                 []string{"code", oauth.CodeKindTempToken},
		"response_modes_supported":                                 []string{"query"},
		"grant_types_supported":                                    standard.Profile().Grants,
		"token_endpoint_auth_methods_supported":                    authMethods,
		"introspection_endpoint_auth_methods_supported":            clientAuth,
		"revocation_endpoint_auth_methods_supported":               authMethods,
		"code_challenge_methods_supported":                         []string{oauth.PKCEMethodS256},
		"authorization_response_iss_parameter_supported":           true,
		"dpop_signing_alg_values_supported":                        dpop.Algorithms,
		"pushed_authorization_request_endpoint":                    iss + parPath,
		"token_endpoint_auth_signing_alg_values_supported":         assertion.Algorithms,
		"introspection_endpoint_auth_signing_alg_values_supported": assertion.Algorithms,
		"revocation_endpoint_auth_signing_alg_values_supported":    assertion.Algorithms,
		"require_pushed_authorization_requests":                    s.o.Provider.RequiresPAR(),
	}
	if scopes := s.o.Provider.Scopes(); len(scopes) > 0 {
		md["scopes_supported"] = scopes // the catalogue's products (MCP clients read it)
	}
	if s.o.Registrar != nil {
		md["registration_endpoint"] = iss + registrationPath
	}
	if s.o.ClientDocuments != nil {
		md["client_id_metadata_document_supported"] = true
	}
	if s.o.Pages != nil {
		md["device_authorization_endpoint"] = iss + devicePath
	} else {
		// No verification page, no device grant.
		md["grant_types_supported"] = slices.DeleteFunc(slices.Clone(standard.Profile().Grants), func(g string) bool { return g == oauth.GrantDeviceCode })
	}
	if m := s.o.MTLSURL; m != "" {
		// RFC 8705 §3.3, §5: the mutual-TLS listener's endpoints.
		md["tls_client_certificate_bound_access_tokens"] = true
		md["mtls_endpoint_aliases"] = map[string]string{
			"token_endpoint": m + oauth2.Path, "introspection_endpoint": m + "/oauth/introspect",
			"revocation_endpoint": m + "/oauth/revoke", "pushed_authorization_request_endpoint": m + parPath,
		}
		tls := []string{"tls_client_auth", "self_signed_tls_client_auth"}
		md["token_endpoint_auth_methods_supported"] = append(authMethods, tls...)
		md["introspection_endpoint_auth_methods_supported"] = append(clientAuth, tls...)
		md["revocation_endpoint_auth_methods_supported"] = append(authMethods, tls...)
	}
	if s.o.SigningAlgorithms != nil {
		// grantd's own member, in the style of OpenID's
		// *_signing_alg_values_supported: the values of a client's
		// access_token_signing_alg.
		md["access_token_signing_alg_values_supported"] = s.o.SigningAlgorithms
	}
	wire.WriteJSON(w, http.StatusOK, md)
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(signer.JWKSMaxAge/time.Second)))
	_, _ = w.Write(s.o.Keys.JWKS())
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	wire.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.o.Store.Ping(ctx)
	if err == nil {
		err = s.o.Keys.Fresh()
	}
	if err != nil {
		s.o.Logger.ErrorContext(r.Context(), "readiness check failed", "cause", err.Error())
		wire.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	wire.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
