//go:build !boringcrypto && !libcrypto

package signer

// Crypto names the cryptography this build signs with: "go", the standard
// library's pure-Go implementation (the default build), or "boringcrypto"
// (GOEXPERIMENT=boringcrypto, cgo; docs/benchmarks.md). The startup log and
// grantd-bench print it.
const Crypto = "go"
