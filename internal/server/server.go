// Package server is grantd's public HTTP surface: routes, middleware and the
// handlers that translate the standard OAuth wire (RFC 6749, 7009, 7662,
// 8414) to the core and back.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/oauth"
)

// Pinger is what readiness checks (the store).
type Pinger interface {
	Ping(ctx context.Context) error
}

// KeySet is what the JWKS endpoint serves (the signer).
type KeySet interface {
	JWKS() []byte
	Algorithm() string
}

// Pages renders the hosted authorization pages (package web). It is mounted
// under /oauth/consent and shows errors of /oauth/authorize that must not be
// redirected.
type Pages interface {
	http.Handler
	// Error renders an error page for a request that cannot be redirected.
	Error(w http.ResponseWriter, r *http.Request, status int, code, description string)
}

// Options configure the public server. Every field but Pages is required.
type Options struct {
	Provider *oauth.Provider
	Keys     KeySet
	Store    Pinger
	Pages    Pages
	Logger   *slog.Logger
	// MaxBodyBytes bounds request bodies; 0 = 64 KiB.
	MaxBodyBytes int64
	// RequestTimeout bounds the time a handler may take; 0 = 10 s.
	RequestTimeout time.Duration
	// Dialects are the enabled token-endpoint dialects, each mounted at its
	// path (Mounts may move it).
	Dialects []dialect.Dialect
	// Mounts overrides a dialect's path, by dialect name.
	Mounts map[string]string
	// RegistrationDisabled turns RFC 7591 dynamic registration
	// (POST /oauth/register) off; it is on by default.
	RegistrationDisabled bool
	// RegistrationScope is what a dynamically registered client may ask
	// for; nil = every product of the provider catalogue.
	RegistrationScope []string
}

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
	s.handler = Wrap(s.routes(), o.Logger, o.MaxBodyBytes, o.RequestTimeout)
	return s
}

// Handler is the public handler with its middleware.
func (s *Server) Handler() http.Handler { return s.handler }
