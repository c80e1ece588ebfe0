package oauth

import (
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/store"
)

// CORS (the Fetch standard): a browser-based client calls the token and
// revocation endpoints from its web origin; the server sets Origin in
// ClientCredentials there, and the client must list that origin in its
// allowed_cors_origins (store.ClientSecurity.AllowedCORSOrigins). The
// server answers preflights and sets the response headers; which client
// may be called from where is decided here.

// maxOriginLen bounds an origin.
const maxOriginLen = 255

// ValidOrigin reports whether o is a web origin as a browser serializes it
// in an Origin header (RFC 6454 §6.2): scheme "://" host [":" port], in
// lower case, no default port, no path, query or fragment; https, or http
// on a loopback host (a development app). "null" is no origin.
func ValidOrigin(o string) bool {
	if len(o) > maxOriginLen || o != strings.ToLower(o) {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || u.User != nil || u.Host == "" || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" ||
		u.Path != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") || u.Scheme+"://"+u.Host != o {
		return false
	}
	port := u.Port()
	switch u.Scheme {
	case "https":
		return port != "443" && !strings.HasSuffix(u.Host, ":")
	case "http":
		host := u.Hostname()
		loopback := host == "localhost" || (net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback())
		return loopback && port != "80" && !strings.HasSuffix(u.Host, ":")
	}
	return false
}

// originAllowed reports whether c may be called from a browser at origin.
func originAllowed(c *store.Client, origin string) bool {
	return slices.Contains(c.Security.AllowedCORSOrigins, origin)
}

// originRefused is the refusal of a request from a browser origin the
// client does not list: 400 unauthorized_client, with nothing done.
func originRefused() *Error {
	return UnauthorizedClient("The client does not allow browser requests from this origin (allowed_cors_origins).").
		With(ReasonOriginNotAllowed, "")
}
