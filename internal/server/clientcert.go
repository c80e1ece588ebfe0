package server

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
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
// say) is not read. There it is the TLS connection's own, else the one a
// trusted proxy forwarded in Options.ClientCertHeader.
func (s *Server) peerCertificates(r *http.Request) []*x509.Certificate {
	if on, _ := r.Context().Value(mtlsKey{}).(bool); !on {
		return nil
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.TLS.PeerCertificates
	}
	if s.o.ClientCertHeader == "" || r.Header.Get(s.o.ClientCertHeader) == "" {
		return nil
	}
	if peer, ok := parseHost(r.RemoteAddr); !ok || !s.trusted(peer) {
		return nil // anyone may write the header: only a trusted proxy's counts
	}
	return forwardedCerts(r.Header, s.o.ClientCertHeader)
}

// forwardedCerts reads the certificate chain a proxy put in header name,
// leaf first: RFC 9440's form (a structured-field byte sequence,
// ":<base64 DER>:", and for Client-Cert the intermediates in
// Client-Cert-Chain, a list of such), or URL-encoded PEM (what nginx's
// $ssl_client_escaped_cert and some cloud load balancers send), one or
// more certificates. Anything malformed, or a chain longer than
// maxForwardedCerts, is no certificate.
func forwardedCerts(h http.Header, name string) []*x509.Certificate {
	v := strings.TrimSpace(h.Get(name))
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
		rest := []byte(unescaped)
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				return nil
			}
			ders = append(ders, b.Bytes)
			if len(ders) > maxForwardedCerts {
				return nil
			}
		}
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

// sfBinary decodes an RFC 8941 byte sequence, ":<base64>:".
func sfBinary(s string) ([]byte, bool) {
	if len(s) < 2 || s[0] != ':' || s[len(s)-1] != ':' {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(s[1 : len(s)-1])
	if err != nil || len(b) == 0 {
		return nil, false
	}
	return b, true
}
