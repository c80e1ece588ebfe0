//go:build libcrypto

package signer

/*
#cgo LDFLAGS: -lcrypto
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

// A private key from DER (PKCS#8), or NULL.
static EVP_PKEY *grantd_load(const unsigned char *der, long len) {
	const unsigned char *p = der;
	return d2i_AutoPrivateKey(NULL, &p, len);
}

// Signs msg with SHA-256: RSASSA-PKCS1-v1_5 (RS256), or RSASSA-PSS with a
// salt as long as the digest (PS256, as Go's crypto/rsa signs it).
// Returns 1 on success. Each call has its own EVP_MD_CTX: the key is
// shared between threads, read only.
static int grantd_sign(EVP_PKEY *pkey, int pss, const unsigned char *msg, size_t n, unsigned char *sig, size_t *siglen) {
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = ctx != NULL
		&& EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, pkey) == 1
		&& (!pss || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
			&& EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1))
		&& EVP_DigestSign(ctx, sig, siglen, msg, n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}
*/
import "C"

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/go-jose/go-jose/v4"
)

// The libcrypto build (go build -tags libcrypto, cgo and Debian's
// libssl-dev): RS256 and PS256 signatures by the system's OpenSSL, about
// three times as fast as Go's crypto/rsa (docs/benchmarks.md). The other
// algorithms, key generation and every verification stay Go's.

// opensslRSA is an RSA key held by OpenSSL, as go-jose's opaque signer.
type opensslRSA struct {
	pkey *C.EVP_PKEY
	size int
	alg  jose.SignatureAlgorithm
	pub  *jose.JSONWebKey
}

func signingKey(priv crypto.Signer, alg jose.SignatureAlgorithm, kid string) (any, error) {
	k, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return jose.JSONWebKey{Key: priv, KeyID: kid}, nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	pkey := C.grantd_load((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)))
	if pkey == nil {
		return nil, errors.New("libcrypto: OpenSSL cannot read the RSA key")
	}
	o := &opensslRSA{pkey: pkey, size: int(C.EVP_PKEY_get_size(pkey)), alg: alg,
		pub: &jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: string(alg), Use: "sig"}}
	runtime.AddCleanup(o, func(p *C.EVP_PKEY) { C.EVP_PKEY_free(p) }, pkey)
	return o, nil
}

func (o *opensslRSA) Public() *jose.JSONWebKey        { return o.pub }
func (o *opensslRSA) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{o.alg} }

func (o *opensslRSA) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != o.alg || len(payload) == 0 {
		return nil, fmt.Errorf("libcrypto: cannot sign %s with a %s key", alg, o.alg)
	}
	pss := C.int(0)
	if alg == jose.PS256 {
		pss = 1
	}
	sig := make([]byte, o.size)
	n := C.size_t(len(sig))
	ok := C.grantd_sign(o.pkey, pss, (*C.uchar)(unsafe.Pointer(&payload[0])), C.size_t(len(payload)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &n)
	runtime.KeepAlive(o)
	if ok != 1 {
		return nil, errors.New("libcrypto: OpenSSL failed to sign")
	}
	return sig[:n], nil
}
