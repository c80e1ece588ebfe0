//go:build libcrypto

package signer

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestOpenSSLSignatures: what OpenSSL signs, Go's crypto/rsa verifies, for
// RS256 (PKCS #1 v1.5) and PS256 (PSS, salt as long as the digest); a
// key of one algorithm refuses the other.
func TestOpenSSLSignatures(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0")
	sum := sha256.Sum256(msg)
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.PS256} {
		sk, err := signingKey(priv, alg, "kid")
		if err != nil {
			t.Fatal(err)
		}
		o, ok := sk.(*opensslRSA)
		if !ok {
			t.Fatalf("%s: signing key %T, want OpenSSL's", alg, sk)
		}
		sig, err := o.SignPayload(msg, alg)
		if err != nil {
			t.Fatal(err)
		}
		if alg == jose.RS256 {
			err = rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, sum[:], sig)
		} else {
			err = rsa.VerifyPSS(&priv.PublicKey, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		if err != nil {
			t.Errorf("%s: Go does not verify OpenSSL's signature: %v", alg, err)
		}
		other := jose.PS256
		if alg == jose.PS256 {
			other = jose.RS256
		}
		if _, err := o.SignPayload(msg, other); err == nil {
			t.Errorf("a %s key signed %s", alg, other)
		}
	}
	if Crypto != "libcrypto" {
		t.Errorf("Crypto = %q", Crypto)
	}
}
