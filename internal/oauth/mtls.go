package oauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/grantd/grantd/internal/store"
)

// Mutual TLS (RFC 8705): a client authenticates with its TLS client
// certificate (§2), and its access tokens may be bound to that certificate
// (§3: cnf.x5t#S256), useless to anyone without its private key.

// CertThumbprint is a certificate's x5t#S256 (RFC 8705 §3.1):
// base64url(SHA-256(DER)).
func CertThumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkTLSClient authenticates c by the request's certificate chain, leaf
// first: for tls_client_auth, a chain to one of the server's client CAs,
// for client authentication, whose leaf carries the client's registered
// name (§2.1); for self_signed_tls_client_auth, a leaf that is one of the
// certificates (x5c) of the client's registered keys (§2.2), within its
// validity. A refusal is an error whose text is for the log only.
func (p *Provider) checkTLSClient(ctx context.Context, c *store.Client, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("mutual TLS: no client certificate (the request did not come over the mutual-TLS listener, or sent none)")
	}
	leaf, now := chain[0], p.now()
	if c.AuthMethod == store.AuthMethodTLS {
		if p.ClientCAs == nil {
			return errors.New("mutual TLS: the server has no client CA bundle")
		}
		inter := x509.NewCertPool()
		for _, ic := range chain[1:] {
			inter.AddCert(ic)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: p.ClientCAs, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			return errors.New("mutual TLS: the client certificate does not chain to a trusted client CA: " + err.Error())
		}
		if !certNamed(leaf, &c.Security) {
			return errors.New("mutual TLS: the client certificate does not carry the client's registered subject or SAN")
		}
		return nil
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return errors.New("mutual TLS: the self-signed client certificate is not valid now")
	}
	for _, refresh := range []bool{false, true} {
		if refresh && c.Security.JWKSURI == "" {
			break
		}
		keys, err := p.clientKeys(ctx, c, refresh)
		if err != nil {
			return err
		}
		for _, k := range keys.Keys {
			for _, kc := range k.Certificates {
				if bytes.Equal(kc.Raw, leaf.Raw) {
					return nil
				}
			}
		}
	}
	return errors.New("mutual TLS: the self-signed client certificate is not in the client's registered keys (x5c)")
}

// certNamed reports whether leaf carries the one name the client
// registered (RFC 8705 §2.1.2): its subject DN, or a SAN of one kind.
func certNamed(leaf *x509.Certificate, s *store.ClientSecurity) bool {
	switch {
	case s.TLSClientAuthSubjectDN != "":
		return subjectMatches(leaf.RawSubject, s.TLSClientAuthSubjectDN)
	case s.TLSClientAuthSANDNS != "":
		return slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return strings.EqualFold(n, s.TLSClientAuthSANDNS) })
	case s.TLSClientAuthSANURI != "":
		return slices.ContainsFunc(leaf.URIs, func(u *url.URL) bool { return u.String() == s.TLSClientAuthSANURI })
	case s.TLSClientAuthSANIP != "":
		want, err := netip.ParseAddr(s.TLSClientAuthSANIP)
		return err == nil && slices.ContainsFunc(leaf.IPAddresses, func(ip net.IP) bool {
			got, ok := netip.AddrFromSlice(ip)
			return ok && got.Unmap() == want.Unmap()
		})
	case s.TLSClientAuthSANEmail != "":
		return slices.ContainsFunc(leaf.EmailAddresses, func(e string) bool { return strings.EqualFold(e, s.TLSClientAuthSANEmail) })
	}
	return false
}

// certBinding is the thumbprint an endpoint with profile pr binds c's
// access tokens to (RFC 8705 §3), "" for none: a client registered with
// tls_client_certificate_bound_access_tokens gets its tokens bound to the
// request's certificate, and must make its requests over mutual TLS.
func certBinding(pr Profile, c *store.Client, chain []*x509.Certificate) (string, error) {
	switch {
	case !c.Security.TLSCertBoundAccessTokens:
		return "", nil
	case !pr.MTLS:
		return "", InvalidRequest("The client's tokens are certificate-bound; this endpoint issues none.")
	case len(chain) == 0:
		return "", InvalidRequest("The client's access tokens are certificate-bound: make the request over mutual TLS with the client's certificate.")
	}
	return CertThumbprint(chain[0]), nil
}

// certBound checks the certificate of a request that redeems a refresh
// token bound to the certificate x5t (a public client's, RFC 8705 §4):
// only a request over mutual TLS with that certificate redeems it.
func certBound(x5t string, chain []*x509.Certificate) error {
	if x5t == "" || (len(chain) > 0 && CertThumbprint(chain[0]) == x5t) {
		return nil
	}
	return InvalidGrant("The refresh token is bound to a TLS client certificate: refresh over mutual TLS with that certificate.").
		With(ReasonCertBound, "refresh_token")
}

// certOf checks that a public client presents a token bound to the
// certificate x5t over mutual TLS with that certificate, as proofOf does
// for DPoP: its client id is no credential. A confidential client's
// authentication suffices.
func certOf(c *store.Client, x5t string, chain []*x509.Certificate) error {
	if x5t == "" || !c.IsPublic() || (len(chain) > 0 && CertThumbprint(chain[0]) == x5t) {
		return nil
	}
	return InvalidRequest("The token is bound to a TLS client certificate: send the request over mutual TLS with that certificate.")
}

// certPresented checks, at a protected resource, that a token bound to the
// certificate x5t came with that certificate (RFC 8705 §3).
func (p *Provider) certPresented(x5t string, cert *x509.Certificate) error {
	if x5t == "" {
		return nil
	}
	if cert == nil || CertThumbprint(cert) != x5t {
		return &Error{Code: ErrCodeInvalidToken, Status: 401, Description: "The access token is bound to a TLS client certificate: present it over mutual TLS with that certificate."}
	}
	return nil
}
