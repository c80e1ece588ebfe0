package oauth

import (
	"crypto/x509"
	"slices"
	"time"

	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/store"
)

// The FAPI 2.0 Security Profile, per client (store.ProfileFAPI2): the rules
// grantd enforces for such a client beyond its own, each at the step that
// decides it. Registration (internal/clients) refuses what the profile
// forbids a client to be; these are the run-time checks.

// FAPI2Algorithms are the only JWS algorithms of the profile (§5.4.1):
// never RS256, never a MAC.
var FAPI2Algorithms = []string{"PS256", "ES256", "EdDSA"}

// FAPI2AuthMethods are the client authentication methods of the profile
// (§5.3.2.1: private_key_jwt or mutual TLS).
var FAPI2AuthMethods = []string{store.AuthMethodPrivateKeyJWT, store.AuthMethodTLS, store.AuthMethodSelfSignedTLS}

// FAPI2MaxCodeTTL is the longest an authorization code of the profile
// lives (§5.3.2.2: at most 60 seconds).
const FAPI2MaxCodeTTL = 60 * time.Second

func isFAPI2(c *store.Client) bool { return c.Security.Profile == store.ProfileFAPI2 }

// codeTTLFor is how long c's codes live.
func (p *Provider) codeTTLFor(c *store.Client) time.Duration {
	if isFAPI2(c) {
		return min(p.codeTTL(), FAPI2MaxCodeTTL)
	}
	return p.codeTTL()
}

// fapi2Token checks a token request of a FAPI 2.0 client at an endpoint
// with profile pr: only sender-constrained access tokens (§5.3.2.1), by a
// DPoP proof of an algorithm of the profile or by the request's TLS client
// certificate, to which the token is then bound even when the client did
// not register tls_client_certificate_bound_access_tokens. It returns the
// certificate thumbprint to bind, as certBinding does.
func fapi2Token(pr Profile, c *store.Client, proof *dpop.Proof, x5t string, chain []*x509.Certificate) (string, error) {
	if !isFAPI2(c) {
		return x5t, nil
	}
	if c.TokenFormat != store.TokenFormatOpaque && !slices.Contains(FAPI2Algorithms, c.AccessTokenSigningAlg) {
		// Registration sets one; a client changed in the store is refused
		// rather than signed with the server's default (RS256, say).
		return "", UnauthorizedClient("A FAPI 2.0 client's access tokens are signed with PS256, ES256 or EdDSA; this client's access_token_signing_alg is not one of them.")
	}
	if proof != nil && !slices.Contains(FAPI2Algorithms, proof.Alg) {
		return "", InvalidDPoPProof("The DPoP proof is signed with %s; a FAPI 2.0 client's must use PS256, ES256 or EdDSA.", proof.Alg)
	}
	if x5t == "" && pr.MTLS && len(chain) > 0 {
		x5t = CertThumbprint(chain[0])
	}
	if proof == nil && x5t == "" {
		return "", InvalidRequest("A FAPI 2.0 client's access tokens must be sender-constrained: send a DPoP proof, or make the request over mutual TLS with the client's certificate.")
	}
	return x5t, nil
}
