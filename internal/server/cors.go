package server

import (
	"context"
	"net/http"
	"net/url"
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
const corsExposed = "DPoP-Nonce, WWW-Authenticate, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, X-Request-Id"

type corsKey struct{}

// corsOrigin is the Origin of a browser's request from another origin that
// reached a client-authenticating endpoint (withCORS, checkOrigin), ""
// for any other: the core refuses it unless the client lists it, so an
// opaque ("null") or malformed Origin, which no client can list, is
// always refused there.
func corsOrigin(r *http.Request) string {
	o, _ := r.Context().Value(corsKey{}).(string)
	return o
}

// foreignOrigin is r's Origin when it has one other than the issuer's own:
// a browser's request from another page, whatever its origin looks like.
func (s *Server) foreignOrigin(r *http.Request) string {
	o := r.Header.Get("Origin")
	if o == "" || o == issuerOrigin(s.o.Provider.IssuerURL()) {
		return ""
	}
	return o
}

// crossOrigin is r's Origin when it is a web origin other than the
// issuer's own, one a CORS answer may name; "" for a same-origin or
// non-browser request, or a malformed or opaque ("null") origin.
func (s *Server) crossOrigin(r *http.Request) string {
	if o := s.foreignOrigin(r); oauth.ValidOrigin(o) {
		return o
	}
	return ""
}

// issuerOrigin is the origin of the issuer URL as a browser writes it:
// scheme and host in lower case, without a default port.
func issuerOrigin(iss string) string {
	u, err := url.Parse(iss)
	if err != nil {
		return iss
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" && !(scheme == "https" && port == "443") && !(scheme == "http" && port == "80") {
		host += ":" + port
	}
	return scheme + "://" + host
}

// checkOrigin makes the core judge a browser's request from another page
// at a client-authenticating endpoint that answers no CORS (the seed
// dialects' token endpoints): a form POST needs no preflight, so the
// browser sends it even though it will not show the answer; the core
// refuses it unless the client lists the origin, and nothing is done.
func (s *Server) checkOrigin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := s.foreignOrigin(r); o != "" {
			r = r.WithContext(context.WithValue(r.Context(), corsKey{}, o))
		}
		h.ServeHTTP(w, r)
	})
}

// withCORS answers a cross-origin request to h: its origin may read the
// answer (Access-Control-Allow-Origin, no credentials: grantd uses no
// cookies there), and, when perClient, the core refuses it unless the
// client allows that origin (corsOrigin). A request without a valid
// Origin is served as before, with no CORS headers.
func (s *Server) withCORS(perClient bool, h http.Handler) http.Handler {
	if perClient {
		h = s.checkOrigin(h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Add("Vary", "Origin") // the answer depends on it, Origin or not
		if o := s.crossOrigin(r); o != "" {
			hd.Set("Access-Control-Allow-Origin", o)
			hd.Set("Access-Control-Expose-Headers", corsExposed)
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
