//go:build boringcrypto && !libcrypto

package signer

// Crypto: see crypto_go.go.
const Crypto = "boringcrypto"
