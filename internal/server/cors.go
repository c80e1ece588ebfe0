package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/grantd/grantd/internal/oauth"
)

// CORS for browser-based public clients (docs/agents.md): the token and
// revocation endpoints answer a browser's cross-origin requests from the
// origins the client allows (the core refuses any other: allowed_cors_origins),
// registration answers them from any origin, the metadata and the JWKS are
// readable by every origin. The authorization endpoint, the pages, PAR,
// introspection, connect sessions and the admin API answer none: a browser
// there is sent, not scripted.

// corsMaxAge is how long a browser may cache a preflight answer.
const corsMaxAge = "600"

// corsExposed are the response headers a browser client may read.
const corsExposed = "DPoP-Nonce, WWW-Authenticate, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"

type corsKey struct{}

// corsOrigin is the origin of a cross-origin request that reached an
// endpoint answering CORS for clients (withCORS), "" for any other: the
// core checks it against the client's allowed origins.
func corsOrigin(r *http.Request) string {
	o, _ := r.Context().Value(corsKey{}).(string)
	return o
}

// crossOrigin is r's Origin when it is a web origin other than the
// issuer's own; "" for a same-origin or non-browser request, or a
// malformed or opaque ("null") origin.
func (s *Server) crossOrigin(r *http.Request) string {
	o := r.Header.Get("Origin")
	if o == "" || !oauth.ValidOrigin(o) || o == issuerOrigin(s.o.Provider.IssuerURL()) {
		return ""
	}
	return o
}

// issuerOrigin is the scheme and host of the issuer URL.
func issuerOrigin(iss string) string {
	if i := strings.Index(iss, "://"); i >= 0 {
		if j := strings.IndexByte(iss[i+3:], '/'); j >= 0 {
			return iss[:i+3+j]
		}
	}
	return iss
}

// withCORS answers a cross-origin request to h: its origin may read the
// answer (Access-Control-Allow-Origin, no credentials: grantd uses no
// cookies there), and, when perClient, the core refuses it unless the
// client allows that origin (corsOrigin). A request without a valid
// Origin is served as before, with no CORS headers.
func (s *Server) withCORS(perClient bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := s.crossOrigin(r)
		if o == "" {
			h.ServeHTTP(w, r)
			return
		}
		hd := w.Header()
		hd.Add("Vary", "Origin")
		hd.Set("Access-Control-Allow-Origin", o)
		hd.Set("Access-Control-Expose-Headers", corsExposed)
		if perClient {
			r = r.WithContext(context.WithValue(r.Context(), corsKey{}, o))
		}
		h.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight (OPTIONS with Origin and
// Access-Control-Request-Method) for a path served with methods and
// request headers headers: 204, and the CORS headers when the origin is a
// web origin and the method one of methods. Any web origin gets them: the
// request itself is then judged (withCORS), and a preflight does nothing.
// Without them the browser does not send the request. An OPTIONS that is
// no preflight goes to other (the path's 405).
func (s *Server) preflight(methods, headers string, other http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := r.Header.Get("Access-Control-Request-Method")
		if r.Header.Get("Origin") == "" || m == "" {
			other.ServeHTTP(w, r)
			return
		}
		hd := w.Header()
		hd.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
		if o := s.crossOrigin(r); o != "" && listed(methods, m) {
			hd.Set("Access-Control-Allow-Origin", o)
			hd.Set("Access-Control-Allow-Methods", methods)
			hd.Set("Access-Control-Allow-Headers", headers)
			hd.Set("Access-Control-Max-Age", corsMaxAge)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// publicCORS makes h's answer readable by every origin: public documents
// (the metadata, the JWKS) that hold nothing per user.
func publicCORS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		h.ServeHTTP(w, r)
	})
}

// listed reports whether m is one of the comma-separated methods.
func listed(methods, m string) bool {
	for v := range strings.SplitSeq(methods, ",") {
		if strings.TrimSpace(v) == m {
			return true
		}
	}
	return false
}
