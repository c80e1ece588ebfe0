package server

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Client certificates forwarded by a TLS-terminating proxy: the proxy
// checks the client's proof of possession in its own TLS handshake and
// passes the certificate on in a header, which grantd reads on the
// mutual-TLS listener only, and only from a trusted proxy
// (Options.ClientCertHeader, docs/fapi.md).

// maxForwardedCerts bounds a forwarded chain (the leaf and its
// intermediates).
const maxForwardedCerts = 8

// HeaderClientCert is RFC 9440's header; its chain is in
// HeaderClientCertChain.
const (
	HeaderClientCert      = "Client-Cert"
	HeaderClientCertChain = "Client-Cert-Chain"
)

// peerCertificates is the request's TLS client certificate chain, leaf
// first; nil without one. Only the mutual-TLS listener's requests carry
// one: a certificate that reached another listener (a resumed TLS session,
// say) is not read. From a certificate proxy (Options.ClientCertProxies)
// it is only the one the proxy forwarded in Options.ClientCertHeader,
// never the proxy's own TLS certificate (a mesh's proxy presents one);
// from any other peer it is the TLS connection's own, and the header is
// ignored (anyone may write it).
func (s *Server) peerCertificates(r *http.Request) []*x509.Certificate {
	if on, _ := r.Context().Value(mtlsKey{}).(bool); !on {
		return nil
	}
	if s.o.ClientCertHeader != "" {
		if peer, ok := parseHost(r.RemoteAddr); ok && s.certProxy(peer) {
			return forwardedCerts(r.Header, s.o.ClientCertHeader)
		}
	}
	if r.TLS != nil {
		return r.TLS.PeerCertificates
	}
	return nil
}

// certProxy reports whether a is one of the proxies whose forwarded
// client certificates are believed.
func (s *Server) certProxy(a netip.Addr) bool {
	for _, p := range s.o.ClientCertProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedCerts reads the certificate chain a proxy put in header name,
// leaf first: RFC 9440's form (a structured-field byte sequence,
// ":<base64 DER>:", and for Client-Cert the intermediates in
// Client-Cert-Chain, a list of such), or URL-encoded PEM of the one
// certificate (what nginx's $ssl_client_escaped_cert and some cloud load
// balancers send). The header must come once (a proxy that appends
// rather than replaces would let the client's own line win): anything
// else, anything malformed, or a chain longer than maxForwardedCerts, is
// no certificate.
func forwardedCerts(h http.Header, name string) []*x509.Certificate {
	lines := h.Values(name)
	if len(lines) != 1 {
		return nil
	}
	v := strings.TrimSpace(lines[0])
	var ders [][]byte
	if strings.HasPrefix(v, ":") {
		leaf, ok := sfBinary(v)
		if !ok {
			return nil
		}
		ders = append(ders, leaf)
		if http.CanonicalHeaderKey(name) == HeaderClientCert {
			for _, line := range h.Values(HeaderClientCertChain) {
				for _, item := range strings.Split(line, ",") {
					der, ok := sfBinary(strings.TrimSpace(item))
					if !ok {
						return nil
					}
					ders = append(ders, der)
				}
			}
		}
	} else {
		unescaped, err := url.PathUnescape(v) // keeps a '+' of base64 as it is
		if err != nil {
			return nil
		}
		b, rest := pem.Decode([]byte(unescaped))
		if b == nil || b.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
			return nil
		}
		ders = append(ders, b.Bytes)
	}
	if len(ders) == 0 || len(ders) > maxForwardedCerts {
		return nil
	}
	chain := make([]*x509.Certificate, 0, len(ders))
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil
		}
		chain = append(chain, c)
	}
	return chain
}

// sfBinary decodes an RFC 8941 byte sequence item, ":<base64>:", its
// parameters (";…") ignored; base64 with or without its padding (§4.2.7).
func sfBinary(s string) ([]byte, bool) {
	if len(s) < 2 || s[0] != ':' {
		return nil, false
	}
	end := strings.IndexByte(s[1:], ':') + 1 // base64 has no ':'
	if end < 1 || (end < len(s)-1 && s[end+1] != ';') {
		return nil, false
	}
	body := strings.TrimRight(s[1:end], "=")
	b, err := base64.RawStdEncoding.DecodeString(body)
	if err != nil || len(b) == 0 {
		return nil, false
	}
	return b, true
}
