// Package server is grantd's public HTTP surface: routes in one place,
// middleware, one handler for every token endpoint (each a dialect), one
// error writer, and the handlers that translate the other standard
// endpoints (RFC 7009, 7662, 7591, 7592, 8414, 6750) to the core and back.
package server

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// Core is the part of the OAuth core the public API uses (*oauth.Provider).
type Core interface {
	Token(ctx context.Context, pr oauth.Profile, req oauth.TokenRequest) (*oauth.TokenResult, error)
	Introspect(ctx context.Context, cr oauth.ClientCredentials, token string, proof *oauth.DPoPRequest) (*oauth.Introspection, error)
	Revoke(ctx context.Context, cr oauth.ClientCredentials, token, hint string, proof *oauth.DPoPRequest) error
	AuthorizeFrom(ctx context.Context, q url.Values, address string) (*oauth.AuthorizeResult, error)
	Push(ctx context.Context, cr oauth.ClientCredentials, q url.Values, proof *oauth.DPoPRequest) (*oauth.PushResult, error)
	AuthorizeDevice(ctx context.Context, cr oauth.ClientCredentials, scope string, resources []string) (*oauth.DeviceAuthorization, error)
	RequiresPAR() bool
	// Scopes are the scopes a client may be granted (scopes_supported).
	Scopes() []string
	CreateConnectSession(ctx context.Context, cr oauth.ClientCredentials, r oauth.ConnectSessionRequest) (*oauth.ConnectSession, error)
	DisconnectByToken(ctx context.Context, token string, proof *oauth.DPoPRequest, cert *x509.Certificate) (*oauth.ConnectionInfo, error)
	IssuerURL() string
}

var _ Core = (*oauth.Provider)(nil)

// Registrar registers clients that register themselves (RFC 7591) and lets
// them read, replace and delete their registration with its registration
// access token (RFC 7592; clients.Registration).
type Registrar interface {
	RegisterDynamic(ctx context.Context, m clients.DynamicMetadata) (clients.Registered, error)
	ReadDynamic(ctx context.Context, id, token string) (store.Client, error)
	UpdateDynamic(ctx context.Context, id, token string, m clients.DynamicMetadata) (clients.Registered, error)
	DeleteDynamic(ctx context.Context, id, token string) error
}

var _ Registrar = (*clients.Registration)(nil)

// ClientDocuments resolves Client ID Metadata Documents: a client_id that
// is an https URL is fetched, checked and stored before the request that
// names it is judged (clients.Registration.ResolveDocument).
type ClientDocuments interface {
	ResolveDocument(ctx context.Context, clientID string) error
}

var _ ClientDocuments = (*clients.Registration)(nil)

// Pinger is what readiness checks (the store).
type Pinger interface {
	Ping(ctx context.Context) error
}

// KeySet is what the JWKS endpoint serves (the signer).
type KeySet interface {
	JWKS() []byte
	Algorithm() string
	// Fresh fails when the keys were not reloaded recently enough to
	// publish every key another instance may sign with (/readyz).
	Fresh() error
}

// Pages renders the hosted authorization pages (package web). It is mounted
// under /oauth/consent and shows errors of /oauth/authorize that must not be
// redirected.
type Pages interface {
	http.Handler
	// Error renders an error page for a request that cannot be redirected.
	Error(w http.ResponseWriter, r *http.Request, status int, code, description string)
}

// Options configure the public server. Provider, Keys and Store are
// required.
type Options struct {
	Provider Core
	Keys     KeySet
	Store    Pinger
	Pages    Pages
	Logger   *slog.Logger
	// MaxBodyBytes bounds request bodies; 0 = 64 KiB.
	MaxBodyBytes int64
	// RequestTimeout bounds the time a handler may take; 0 = 10 s.
	RequestTimeout time.Duration
	// Dialects are the enabled seed dialects, each mounted at its path
	// (Mounts may move it). The standard endpoint, POST /oauth/token
	// (internal/dialect/oauth2), is always mounted.
	Dialects []dialect.Dialect
	// Mounts overrides a dialect's path, by dialect name.
	Mounts map[string]string
	// Registrar serves RFC 7591 dynamic registration (POST /oauth/register)
	// and the RFC 7592 client configuration endpoint
	// (/oauth/register/{client_id}); nil = neither is served.
	Registrar Registrar
	// ClientDocuments, when set, lets a client_id be a metadata document's
	// URL (client_id_metadata_document_supported); nil = off.
	ClientDocuments ClientDocuments
	// SigningAlgorithms are the JWS algorithms access tokens may be signed
	// with, listed in the metadata as access_token_signing_alg_values_supported
	// (what a client may register as its access_token_signing_alg); nil =
	// the member is left out.
	SigningAlgorithms []string
	// MTLSURL is the base URL of the mutual-TLS listener (RFC 8705 §5),
	// which serves MTLSHandler: the metadata's mtls_endpoint_aliases are
	// there. "" = no mutual TLS.
	MTLSURL string
	// ClientCertHeader names the header in which a TLS-terminating proxy
	// forwards the client's certificate to the mutual-TLS listener (RFC
	// 9440's Client-Cert, or URL-encoded PEM): read only from
	// ClientCertProxies; "" = only the listener's own TLS certificates
	// count.
	ClientCertHeader  string
	ClientCertProxies []netip.Prefix
	// TrustedProxies are the peers whose X-Forwarded-For or Forwarded
	// headers name the client's address; from any other peer those headers
	// are ignored.
	TrustedProxies []netip.Prefix
	// ForwardedHeader is the header the trusted proxies set:
	// HeaderXForwardedFor (the default) or HeaderForwarded (RFC 7239). Only
	// that one is read: a proxy passes the other through as the client
	// wrote it.
	ForwardedHeader string
	// AddressLimiter limits requests per source address on the open
	// endpoints (registration, authorization, connect sessions); nil =
	// none.
	AddressLimiter AddressLimiter
}

// AddressLimiter takes one request of a source address at one of the open
// endpoints (RouteRegister, RouteAuthorize, RouteConnectSessions). A refusal
// is an *oauth.Error: 429 with Retry-After.
type AddressLimiter interface {
	Allow(ctx context.Context, route, address string) error
}

// Headers that carry a client's address through proxies.
const (
	HeaderXForwardedFor = "x-forwarded-for"
	HeaderForwarded     = "forwarded"
)

// Routes an AddressLimiter is asked about.
const (
	RouteRegister        = "register"
	RouteAuthorize       = "authorize"
	RouteConnectSessions = "connect_sessions"
)

// Server holds the public handlers.
type Server struct {
	o        Options
	handler  http.Handler
	patterns []string
}

// New builds the public server and its routes.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = slog.New(LogHandler(o.Logger.Handler()))
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 10
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	s := &Server{o: o}
	s.handler = Wrap(s.hsts(s.routes()), o.Logger, o.MaxBodyBytes, o.RequestTimeout)
	return s
}

// Handler is the public handler with its middleware.
func (s *Server) Handler() http.Handler { return s.handler }

// hstsValue is the Strict-Transport-Security of an https issuer: a year,
// its subdomains left to the operator's own policy.
const hstsValue = "max-age=31536000"

// hsts tells browsers to reach an https issuer only over TLS (RFC 6797;
// FAPI 2.0 §5.2.3 against TLS stripping): on every answer when the issuer
// is https, whether grantd or a proxy in front of it terminates TLS (a
// browser ignores the header over plain HTTP).
func (s *Server) hsts(h http.Handler) http.Handler {
	if !strings.HasPrefix(s.o.Provider.IssuerURL(), "https://") {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", hstsValue)
		h.ServeHTTP(w, r)
	})
}

// MTLSHandler is the handler of the mutual-TLS listener (Options.MTLSURL):
// the endpoints a client calls with its certificate (mtlsPaths), whose URL
// is under MTLSURL (a DPoP proof's htu, an assertion's aud); every other
// path is 404 there, so no browser is ever sent to a listener that asks it
// for a certificate. Its TLS config asks for client certificates and leaves
// them to the core to judge (tls.RequestClientCert).
func (s *Server) MTLSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(mtlsPaths, r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		s.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), mtlsKey{}, true)))
	})
}

// mtlsPaths are the paths the mutual-TLS listener serves: the endpoints of
// the metadata's mtls_endpoint_aliases, and the protected resource.
var mtlsPaths = []string{"/oauth/token", "/oauth/introspect", "/oauth/revoke", "/oauth/par", "/connections/current"}

type mtlsKey struct{}

// endpointURL is the URL of the endpoint r was sent to, as its client
// addresses it: under the issuer, or under MTLSURL on the mutual-TLS
// listener.
func (s *Server) endpointURL(r *http.Request) string {
	if on, _ := r.Context().Value(mtlsKey{}).(bool); on && s.o.MTLSURL != "" {
		return s.o.MTLSURL + r.URL.Path
	}
	return s.o.Provider.IssuerURL() + r.URL.Path
}
