package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/grantd/grantd/internal/seal"
	"github.com/grantd/grantd/internal/store"
)

// Supported signing algorithms. Each has its own keys: an RS256 key never
// signs PS256 tokens, nor the other way round.
const (
	RS256 = string(jose.RS256) // RSASSA-PKCS1-v1_5, RSA 2048
	PS256 = string(jose.PS256) // RSASSA-PSS, RSA 2048
	ES256 = string(jose.ES256) // ECDSA P-256
	EdDSA = string(jose.EdDSA) // Ed25519
)

// Algorithms lists the supported algorithms.
var Algorithms = []string{RS256, PS256, ES256, EdDSA}

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

func newSealer(kek []byte, previous ...[]byte) (sealer, error) {
	if len(kek) != kekSize {
		return sealer{}, fmt.Errorf("key-encryption key must be %d bytes, got %d", kekSize, len(kek))
	}
	s, err := NewKeySealer(kek, previous...)
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

// key is one parsed signing key. Its material, its jose signer and its
// times are immutable; keepUntil only grows. A key is shared by every
// snapshot from the reload that parsed it until it leaves the store, so
// that what one signature reserved the next one sees.
type key struct {
	kid         string
	alg         jose.SignatureAlgorithm
	createdAt   time.Time
	activatesAt time.Time
	private     crypto.Signer
	public      crypto.PublicKey
	signer      jose.Signer

	keepUntil atomic.Int64 // unix nanoseconds; 0 = not reserved
	reserving sync.Mutex   // one store write at a time for this key
}

// keptUntil is how long the store promises to keep the key published.
func (k *key) keptUntil() time.Time {
	ns := k.keepUntil.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// raiseKeepUntil moves keepUntil to t if that is later (never earlier).
func (k *key) raiseKeepUntil(t time.Time) {
	if t.IsZero() {
		return
	}
	ns := t.UnixNano()
	for {
		cur := k.keepUntil.Load()
		if cur >= ns || k.keepUntil.CompareAndSwap(cur, ns) {
			return
		}
	}
}

func validAlgorithm(alg string) bool { return slices.Contains(Algorithms, alg) }

func generate(alg string) (crypto.Signer, error) {
	switch alg {
	case RS256, PS256:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
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

// newRecord generates a key for alg, created at now and signing from
// activatesAt, and returns it sealed, ready for the store.
func newRecord(c sealer, alg string, now, activatesAt time.Time) (store.SigningKey, error) {
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
		CreatedAt:    now.UTC(),
		ActivatesAt:  activatesAt.UTC(),
	}, nil
}

// parseRecord opens a stored key, checks it fits its algorithm and its
// kid, and makes its jose signer.
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
		if rec.Algorithm != RS256 && rec.Algorithm != PS256 {
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
	case ed25519.PrivateKey:
		if rec.Algorithm != EdDSA {
			return nil, fmt.Errorf("Ed25519 key labelled %s", rec.Algorithm)
		}
		priv = k
	default:
		return nil, fmt.Errorf("unsupported key type %T", parsed)
	}
	// The kid names the key material: a row whose kid is not its key's
	// thumbprint was not written by a signer.
	if tp, err := thumbprint(priv.Public()); err != nil || tp != rec.ID {
		return nil, errors.New("kid is not the key's thumbprint")
	}
	alg := jose.SignatureAlgorithm(rec.Algorithm)
	sig, err := JOSESigner(priv, rec.Algorithm, rec.ID)
	if err != nil {
		return nil, err
	}
	k := &key{
		kid:         rec.ID,
		alg:         alg,
		createdAt:   rec.CreatedAt,
		activatesAt: rec.ActivatesAt,
		private:     priv,
		public:      priv.Public(),
		signer:      sig,
	}
	k.raiseKeepUntil(rec.KeepUntil)
	return k, nil
}

// JOSESigner is the JWS signer of priv as the signer uses it: alg, kid
// and typ at+jwt in the header, and this build's crypto (Crypto). The
// bench's floors sign with it, so that they measure the same signature.
func JOSESigner(priv crypto.Signer, alg, kid string) (jose.Signer, error) {
	sk, err := signingKey(priv, jose.SignatureAlgorithm(alg), kid)
	if err != nil {
		return nil, err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: sk}, (&jose.SignerOptions{}).WithType(TokenType))
	if err != nil {
		return nil, fmt.Errorf("build signer: %w", err)
	}
	return sig, nil
}
