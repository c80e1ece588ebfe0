package clientkeys

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MaxURLLen bounds a jwks_uri.
const MaxURLLen = 2048

// CheckURL reports whether uri may be fetched at all, before any DNS: an
// absolute https URL (http too with AllowPrivate) of at most MaxURLLen
// bytes, with a host (a DNS name, or an IP literal that is public unless
// AllowPrivate), a valid port if any, and no userinfo or fragment. A host
// name is not resolved here: where it points is checked when it is dialed.
// Registration calls CheckURL to refuse a bad jwks_uri early; Keys calls it
// first too.
func (f *Fetcher) CheckURL(uri string) error {
	bad := func(detail string) error { return newError(KindBadURL, detail, nil) }
	if len(uri) > MaxURLLen {
		return bad("longer than " + strconv.Itoa(MaxURLLen) + " bytes")
	}
	if strings.Contains(uri, "#") {
		return bad("has a fragment")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return bad("does not parse")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && f.allowPrivate:
	default:
		return bad("scheme must be https")
	}
	if u.Opaque != "" || u.Host == "" {
		return bad("has no host")
	}
	if u.User != nil {
		return bad("has userinfo")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("invalid port")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("invalid port")
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if !f.allowPrivate && !isPublic(a) {
			return newError(KindNotPublic, a.String(), nil)
		}
		return nil
	}
	if !validHostname(host) {
		return bad("invalid host name")
	}
	return nil
}

// validHostname reports whether h is a DNS name: ASCII letters, digits,
// hyphens and underscores in dot-separated labels of 1 to 63 bytes, at
// most 253 bytes in all (an absolute name's trailing dot aside), whose
// last label is not numeric (a URL parser would take "127.1" or
// "0x7f000001" for an IPv4 address, and so might a resolver).
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	last := strings.ToLower(labels[len(labels)-1])
	numeric := strings.Trim(last, "0123456789") == ""
	hex := strings.HasPrefix(last, "0x") && strings.Trim(last[2:], "0123456789abcdef") == ""
	return !numeric && !hex
}

// Address ranges that are not public, beyond what netip's predicates
// (loopback, private, link-local, multicast, unspecified) cover: the IANA
// special-purpose registries' ranges that are not globally reachable, and
// documentation and benchmarking ranges, where no JWK Set is served.
var (
	nonPublic4 = prefixes(
		"0.0.0.0/8",       // "this network" (RFC 791); 0.0.0.0 reaches the host itself
		"10.0.0.0/8",      // private (RFC 1918)
		"100.64.0.0/10",   // shared address space, CGNAT (RFC 6598)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata at 169.254.169.254
		"172.16.0.0/12",   // private (RFC 1918)
		"192.0.0.0/24",    // IETF protocol assignments (RFC 6890)
		"192.0.2.0/24",    // TEST-NET-1 (RFC 5737)
		"192.88.99.0/24",  // 6to4 relay anycast, deprecated (RFC 7526)
		"192.168.0.0/16",  // private (RFC 1918)
		"198.18.0.0/15",   // benchmarking (RFC 2544)
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
	)
	// Only 2000::/3 is global unicast IPv6; outside it only the NAT64
	// well-known prefix is let through (for what it embeds).
	global6    = netip.MustParsePrefix("2000::/3")
	nat64      = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: embeds an IPv4 address in its last 32 bits
	sixToFour  = netip.MustParsePrefix("2002::/16")    // RFC 3056: embeds an IPv4 address in bits 16-47
	nonPublic6 = prefixes(
		"2001::/23",     // IETF protocol assignments: Teredo, benchmarking, ORCHID, ... (RFC 2928)
		"2001:db8::/32", // documentation (RFC 3849)
		"3fff::/20",     // documentation (RFC 9637)
	)
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// isPublic reports whether a is a public unicast address: one a client's
// JWK Set may be fetched from. An IPv4-mapped IPv6 address is judged as the
// IPv4 address it maps, and a NAT64 (64:ff9b::/96) or 6to4 (2002::/16)
// address as the IPv4 address it embeds. An address with a zone is not
// public (zones scope link-local addresses).
func isPublic(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsMulticast() ||
		a.IsUnspecified() || !a.IsGlobalUnicast() {
		return false
	}
	if a.Is4() {
		return !inAny(nonPublic4, a)
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return isPublic(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return isPublic(netip.AddrFrom4([4]byte(b[2:6])))
	case !global6.Contains(a):
		return false
	}
	return !inAny(nonPublic6, a)
}

// notPublicError is the dial guard's refusal.
type notPublicError struct{ addr string }

func (e *notPublicError) Error() string { return "address " + e.addr + " is not public" }

// dialGuard is the net.Dialer's Control: it runs after DNS, on the address
// about to be connected to, before the connection is made (so before any
// TLS). Checking there rather than the name's resolution beforehand means
// a name that resolves to a public address for a check and to a private
// one for the connection (DNS rebinding) gets nowhere. A name with several
// addresses has each checked as it is tried.
func dialGuard(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &notPublicError{addr: address}
	}
	if !isPublic(ap.Addr()) {
		return &notPublicError{addr: ap.Addr().String()}
	}
	return nil
}

// newTransport is the HTTP transport Keys fetches through: no proxy from
// the environment (a proxy would dial for us, unguarded), every address
// dialed checked by dialGuard unless allowPrivate, TLS with the system
// roots, and each phase bounded by timeout.
func newTransport(timeout time.Duration, allowPrivate bool) *http.Transport {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = dialGuard
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 32 << 10,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        60 * time.Second,
	}
}
