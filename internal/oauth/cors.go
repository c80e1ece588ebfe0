package oauth

import (
	"net/netip"
	"slices"
	"strconv"
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
// on a loopback host (a development app). The host is an ASCII DNS name
// (an internationalized one in its punycode form, as browsers send it) or
// an IP address written canonically ([::1], not [0:0:0:0:0:0:0:1]); the
// port has no leading zero. "null" is no origin.
func ValidOrigin(o string) bool {
	if len(o) > maxOriginLen {
		return false
	}
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || (scheme != "https" && scheme != "http") {
		return false
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, port = rest[:i], rest[i+1:]
		if !canonicalPort(port) || (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
			return false
		}
	}
	var loopback bool
	switch {
	case strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]"):
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" || a.String() != host[1:len(host)-1] {
			return false
		}
		loopback = a.IsLoopback()
	case isIPv4ish(host):
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() || a.String() != host {
			return false
		}
		loopback = a.IsLoopback()
	case dnsName(host):
		loopback = host == "localhost"
	default:
		return false
	}
	return scheme == "https" || loopback
}

// canonicalPort reports whether p is a port as a browser writes it: 1 to
// 65535, no leading zero.
func canonicalPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// isIPv4ish reports whether h is made of digits and dots only (an IPv4
// literal, or nothing valid).
func isIPv4ish(h string) bool {
	return h != "" && strings.Trim(h, "0123456789.") == ""
}

// dnsName reports whether h is a lower-case ASCII DNS name: labels of
// letters, digits and hyphens, 1 to 63 long, not starting or ending with a
// hyphen, no trailing dot.
func dnsName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
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
