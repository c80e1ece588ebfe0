//go:build boringcrypto

package signer

// Crypto: see crypto_go.go.
const Crypto = "boringcrypto"
