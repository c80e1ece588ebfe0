//go:build !libcrypto

package signer

import (
	"crypto"

	"github.com/go-jose/go-jose/v4"
)

// signingKey is what jose.NewSigner signs with for priv: the key itself
// (Go's crypto). The libcrypto build signs RSA with OpenSSL instead
// (rsa_libcrypto.go).
func signingKey(priv crypto.Signer, _ jose.SignatureAlgorithm, kid string) (any, error) {
	return jose.JSONWebKey{Key: priv, KeyID: kid}, nil
}
