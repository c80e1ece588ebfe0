package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddress is where a request came from: the peer, unless the peer is
// a trusted proxy, in which case the forwarded chain (X-Forwarded-For, or
// Forwarded per RFC 7239, whichever Options.ForwardedHeader names) is read
// from the right and the first address that
// is not a trusted proxy is the client. A chain that cannot be read gives
// the last trusted hop: a client may write anything into the left of the
// chain, so nothing left of an untrusted hop is believed.
func (s *Server) clientAddress(r *http.Request) string {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !s.trusted(peer) {
		return peer.String()
	}
	chain := forwardedFor(r.Header, s.o.ForwardedHeader)
	client := peer
	for i := len(chain) - 1; i >= 0; i-- {
		a, ok := parseHost(chain[i])
		if !ok {
			break
		}
		client = a
		if !s.trusted(a) {
			break
		}
	}
	return client.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.o.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor lists the hops a request passed, leftmost first: the for=
// parameters of Forwarded, or X-Forwarded-For (the default).
func forwardedFor(h http.Header, header string) []string {
	var out []string
	if header == HeaderForwarded {
		for _, line := range h.Values("Forwarded") {
			for _, elem := range strings.Split(line, ",") {
				for _, pair := range strings.Split(elem, ";") {
					k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
					if strings.EqualFold(k, "for") {
						out = append(out, strings.Trim(v, `"`))
					}
				}
			}
		}
		return out
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for _, a := range strings.Split(line, ",") {
			out = append(out, strings.TrimSpace(a))
		}
	}
	return out
}

// parseHost reads an address with or without a port: "203.0.113.7",
// "203.0.113.7:4711", "[2001:db8::1]:4711", "2001:db8::1". IPv4-mapped IPv6
// addresses are unmapped, so that one client has one address.
func parseHost(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
