//go:build libcrypto

package signer

// Crypto: see crypto_go.go. RSA signatures by OpenSSL (rsa_libcrypto.go),
// the rest by Go.
const Crypto = "libcrypto"
