package server

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientAddress: forwarded headers count only from a trusted proxy, and
// only as far right as the first hop that is not one.
func TestClientAddress(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	xff := &Server{o: Options{TrustedProxies: proxies}}
	fwd := &Server{o: Options{TrustedProxies: proxies, ForwardedHeader: HeaderForwarded}}
	for _, tt := range []struct {
		name, peer string
		header     http.Header
		want       string
		forwarded  bool // the proxies set Forwarded
	}{
		{"direct", "203.0.113.7:4711", nil, "203.0.113.7", false},
		{"untrusted peer's header ignored", "203.0.113.7:4711", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "203.0.113.7", false},
		{"trusted proxy", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1", false},
		{"spoofed left of the real client", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"1.2.3.4, 198.51.100.1"}}, "198.51.100.1", false},
		{"two trusted hops", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"198.51.100.1, 10.9.9.9"}}, "198.51.100.1", false},
		{"several header lines", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"198.51.100.1", "10.9.9.9"}}, "198.51.100.1", false},
		{"all trusted", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"10.4.4.4"}}, "10.4.4.4", false},
		{"garbage stops the walk", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"198.51.100.1, nonsense"}}, "10.1.2.3", false},
		{"no header", "10.1.2.3:80", nil, "10.1.2.3", false},
		{"Forwarded", "[::1]:80", http.Header{"Forwarded": {`for=198.51.100.9;proto=https, for="[2001:db8::7]:4711"`}}, "2001:db8::7", true},
		// Only the header the proxies set counts: the other is the client's.
		{"a client's Forwarded behind an X-Forwarded-For proxy", "10.1.2.3:80",
			http.Header{"Forwarded": {"for=198.51.100.9"}, "X-Forwarded-For": {"203.0.113.5"}}, "203.0.113.5", false},
		{"a client's X-Forwarded-For behind a Forwarded proxy", "10.1.2.3:80",
			http.Header{"Forwarded": {"for=198.51.100.9"}, "X-Forwarded-For": {"1.2.3.4"}}, "198.51.100.9", true},
		{"IPv4-mapped peer", "[::ffff:203.0.113.7]:4711", nil, "203.0.113.7", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
			r.RemoteAddr = tt.peer
			for k, v := range tt.header {
				r.Header[k] = v
			}
			s := xff
			if tt.forwarded {
				s = fwd
			}
			if got := s.clientAddress(r); got != tt.want {
				t.Errorf("clientAddress = %q, want %q", got, tt.want)
			}
		})
	}
}
