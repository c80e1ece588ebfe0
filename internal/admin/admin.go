// Package admin is grantd's admin API: an http.Handler for its own listener
// (--admin-addr). It registers clients and rotates their secrets, decides
// authorization requests for an integrator's external consent app, keeps
// metered clients' balances, lists and revokes connections, and rotates
// signing keys. Every request needs the admin bearer token.
//
// Handlers return errors; writeError is the one place that turns them into
// JSON answers ({"error", "error_description"}).
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
)

// KeyManager is the part of the signer the admin API uses.
type KeyManager interface {
	Rotate(ctx context.Context, alg string) ([]signer.KeyInfo, error)
	Keys() []signer.KeyInfo
	Algorithms() []string
}

var _ KeyManager = (*signer.Signer)(nil)

// Authorizations is the part of the OAuth core the admin API uses to let an
// external consent app decide (*oauth.Provider).
type Authorizations interface {
	GetAuthorization(ctx context.Context, challenge string) (store.AuthRequest, store.Client, error)
	Accept(ctx context.Context, challenge string, c oauth.Consent) (string, error)
	Reject(ctx context.Context, challenge, description string) (string, error)
}

var _ Authorizations = (*oauth.Provider)(nil)

// Options configure New. Token and Clients are required; a route whose
// dependency is nil (Store, Provider, Keys) answers 404.
type Options struct {
	Token    string // the admin bearer token; "" refuses every request
	Clients  *clients.Manager
	Store    store.Connections
	Provider Authorizations
	Keys     KeyManager
	Logger   *slog.Logger     // nil = discard
	Now      func() time.Time // nil = time.Now; connection revocation time and expiry display
}

type api struct {
	tokenHash [sha256.Size]byte
	hasToken  bool
	clients   *clients.Manager
	conns     store.Connections
	provider  Authorizations
	keys      KeyManager
	log       *slog.Logger
	now       func() time.Time
	mux       *http.ServeMux
}

// New returns the admin API handler.
func New(o Options) http.Handler {
	a := &api{
		tokenHash: sha256.Sum256([]byte(o.Token)),
		hasToken:  o.Token != "",
		clients:   o.Clients,
		conns:     o.Store,
		provider:  o.Provider,
		keys:      o.Keys,
		log:       o.Logger,
		now:       o.Now,
		mux:       http.NewServeMux(),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.routes()
	return a
}

// routes registers every route of the admin API, in one place.
func (a *api) routes() {
	h := func(pattern string, f handlerFunc) { a.mux.Handle(pattern, a.handle(f)) }
	if a.clients != nil {
		h("POST /admin/clients", a.createClient)
		h("GET /admin/clients", a.listClients)
		h("GET /admin/clients/{id}", a.getClient)
		h("PATCH /admin/clients/{id}", a.patchClient)
		h("DELETE /admin/clients/{id}", a.deleteClient)
		h("POST /admin/clients/{id}/secret", a.rotateSecret)
		h("POST /admin/clients/{id}/webhook-secret", a.rotateWebhookSecret)
		h("GET /admin/clients/{id}/balance", a.getBalance)
		h("POST /admin/clients/{id}/balance", a.adjustBalance)
		h("GET /admin/clients/{id}/ledger", a.listLedger)
	}
	if a.provider != nil {
		h("GET /admin/authorizations/{challenge}", a.getAuthorization)
		h("POST /admin/authorizations/{challenge}/accept", a.acceptAuthorization)
		h("POST /admin/authorizations/{challenge}/reject", a.rejectAuthorization)
	}
	if a.conns != nil {
		h("GET /admin/connections", a.listConnections)
		h("GET /admin/connections/{id}", a.getConnection)
		h("POST /admin/connections/{id}/revoke", a.revokeConnection)
	}
	if a.keys != nil {
		h("GET /admin/keys", a.listKeys)
		h("POST /admin/keys/rotate", a.rotateKey)
	}
	a.profileRoutes()
}

// ServeHTTP authenticates the request, then routes it. Unknown routes and
// wrong methods get the JSON error shape too.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !a.authorized(r) {
		a.log.WarnContext(r.Context(), "admin: unauthorized request",
			"method", r.Method, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="grantd-admin"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{
			Error: "unauthorized", Description: "A valid admin bearer token is required.",
		})
		return
	}
	if _, pattern := a.mux.Handler(r); pattern == "" {
		a.notRouted(w, r)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// authorized checks "Authorization: Bearer <token>" in constant time. Both
// sides are hashed first, so the comparison leaks not even the length.
func (a *api) authorized(r *http.Request) bool {
	if !a.hasToken {
		return false
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	token = strings.TrimLeft(token, " ")
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], a.tokenHash[:]) == 1
}

// notRouted answers a request that matches no route: the mux's own answer
// (404, 405 with Allow, or a redirect to a cleaned path) with its status and
// headers, but a JSON body.
func (a *api) notRouted(w http.ResponseWriter, r *http.Request) {
	h, _ := a.mux.Handler(r)
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		writeJSON(w, rec.status, errorBody{Error: "method_not_allowed", Description: "The method is not allowed on this resource."})
	case http.StatusMovedPermanently, http.StatusPermanentRedirect, http.StatusFound, http.StatusTemporaryRedirect:
		if loc := rec.header.Get("Location"); loc != "" {
			w.Header().Set("Location", loc)
		}
		w.WriteHeader(rec.status)
	default:
		writeJSON(w, http.StatusNotFound, errorBody{Error: "not_found", Description: "No such resource."})
	}
}

// headerRecorder keeps the status and headers a handler writes and drops
// the body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}
func (h *headerRecorder) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(b), nil
}
