package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/grantd/grantd/internal/seal"
	"github.com/grantd/grantd/internal/store"
)

// Supported signing algorithms.
const (
	RS256 = string(jose.RS256)
	ES256 = string(jose.ES256)
)

const (
	rsaBits = 2048
	// sealVersion is the first byte of every sealed key: it names the format
	// version || nonce (12) || AES-256-GCM ciphertext and tag, with the kid as
	// additional data.
	sealVersion byte = 1
	kekSize          = 32
)

// errWrongKEK is what opening a sealed key reports when authentication fails:
// almost always a different key-encryption key, rarely a corrupted row.
var errWrongKEK = errors.New("cannot decrypt: wrong key-encryption key, or the stored key is corrupted")

// sealer encrypts private keys at rest under the key-encryption key: the
// seal package's format with no label and the kid as the owner, so that a
// sealed key copied to another kid does not open.
type sealer struct{ s *seal.Sealer }

func newSealer(kek []byte) (sealer, error) {
	if len(kek) != kekSize {
		return sealer{}, fmt.Errorf("key-encryption key must be %d bytes, got %d", kekSize, len(kek))
	}
	s, err := seal.New(kek, "")
	if err != nil {
		return sealer{}, err
	}
	return sealer{s}, nil
}

func (c sealer) seal(kid string, plain []byte) []byte {
	out, err := c.s.Seal(plain, kid)
	if err != nil {
		panic("signer: seal: " + err.Error()) // only with a bad key, refused by newSealer
	}
	return out
}

func (c sealer) open(kid string, sealed []byte) ([]byte, error) {
	if len(sealed) > 0 && sealed[0] != sealVersion {
		return nil, fmt.Errorf("unknown sealed key version %d", sealed[0])
	}
	plain, err := c.s.Open(sealed, kid)
	if errors.Is(err, seal.ErrOpen) {
		return nil, errWrongKEK
	}
	return plain, err
}

// key is one parsed signing key. Immutable once built; shared between
// snapshots across reloads.
type key struct {
	kid       string
	alg       jose.SignatureAlgorithm
	state     string
	createdAt time.Time
	private   crypto.Signer
	public    crypto.PublicKey
}

func validAlgorithm(alg string) bool { return alg == RS256 || alg == ES256 }

func generate(alg string) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}

// thumbprint is the RFC 7638 SHA-256 JWK thumbprint, base64url: the kid.
func thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// newRecord generates a key for alg and returns it sealed, ready for the store.
func newRecord(c sealer, alg string, now time.Time) (store.SigningKey, error) {
	priv, err := generate(alg)
	if err != nil {
		return store.SigningKey{}, err
	}
	kid, err := thumbprint(priv.Public())
	if err != nil {
		return store.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, err
	}
	sealed := c.seal(kid, der)
	clear(der)
	return store.SigningKey{
		ID:           kid,
		Algorithm:    alg,
		EncryptedKey: sealed,
		State:        store.KeyCurrent,
		CreatedAt:    now.UTC(),
	}, nil
}

// parseRecord opens a stored key and checks it fits its algorithm.
func parseRecord(c sealer, rec store.SigningKey) (*key, error) {
	if !validAlgorithm(rec.Algorithm) {
		return nil, fmt.Errorf("unsupported algorithm %q", rec.Algorithm)
	}
	der, err := c.open(rec.ID, rec.EncryptedKey)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8: %w", err)
	}
	var priv crypto.Signer
	switch k := parsed.(type) {
	case *rsa.PrivateKey:
		if rec.Algorithm != RS256 {
			return nil, fmt.Errorf("RSA key labelled %s", rec.Algorithm)
		}
		if k.N.BitLen() < rsaBits {
			return nil, fmt.Errorf("RSA key of %d bits is too small", k.N.BitLen())
		}
		priv = k
	case *ecdsa.PrivateKey:
		if rec.Algorithm != ES256 || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("EC key on %s labelled %s", k.Curve.Params().Name, rec.Algorithm)
		}
		priv = k
	default:
		return nil, fmt.Errorf("unsupported key type %T", parsed)
	}
	return &key{
		kid:       rec.ID,
		alg:       jose.SignatureAlgorithm(rec.Algorithm),
		state:     rec.State,
		createdAt: rec.CreatedAt,
		private:   priv,
		public:    priv.Public(),
	}, nil
}
