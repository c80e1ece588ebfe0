package testenv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// DPoPKey is a client's DPoP key, and the proofs it makes, built with
// golang-jwt (not grantd's JOSE library) and a thumbprint computed here by
// RFC 7638's rules: what grantd checks and binds is what an independent
// implementation made.
type DPoPKey struct {
	Alg    string
	key    crypto.Signer
	method jwt.SigningMethod
	jwk    map[string]any
	jkt    string
}

// NewDPoPKey makes a key for alg: ES256, ES384, PS256, RS256 or EdDSA.
func NewDPoPKey(t testing.TB, alg string) *DPoPKey {
	t.Helper()
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	k := &DPoPKey{Alg: alg}
	var members string // RFC 7638 §3.2: the required members, in order, no spaces
	switch alg {
	case "ES256", "ES384":
		curve, name, size := elliptic.P256(), "P-256", 32
		if alg == "ES384" {
			curve, name, size = elliptic.P384(), "P-384", 48
		}
		ec, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		x, y := b64(pad(ec.X, size)), b64(pad(ec.Y, size))
		k.key, k.jwk = ec, map[string]any{"kty": "EC", "crv": name, "x": x, "y": y}
		members = `{"crv":"` + name + `","kty":"EC","x":"` + x + `","y":"` + y + `"}`
		k.method = jwt.GetSigningMethod(alg)
	case "PS256", "RS256":
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		n, e := b64(rk.N.Bytes()), b64(big.NewInt(int64(rk.E)).Bytes())
		k.key, k.jwk = rk, map[string]any{"kty": "RSA", "n": n, "e": e}
		members = `{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`
		k.method = jwt.GetSigningMethod(alg)
	case "EdDSA":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		x := b64(pub)
		k.key, k.jwk = priv, map[string]any{"kty": "OKP", "crv": "Ed25519", "x": x}
		members = `{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`
		k.method = jwt.SigningMethodEdDSA
	default:
		t.Fatalf("NewDPoPKey: no %s", alg)
	}
	sum := sha256.Sum256([]byte(members))
	k.jkt = b64(sum[:])
	return k
}

func pad(n *big.Int, size int) []byte {
	b := n.Bytes()
	return append(make([]byte, size-len(b)), b...)
}

// JKT is the key's RFC 7638 SHA-256 thumbprint, base64url.
func (k *DPoPKey) JKT() string { return k.jkt }

// JWK is the key's public JWK.
func (k *DPoPKey) JWK() map[string]any { return k.jwk }

// ProofOpts change a proof from the well-formed one Proof makes.
type ProofOpts struct {
	Nonce       string
	AccessToken string // sets ath
	IAT         time.Time
	JTI         string
	// Claims and Header override or add members ("-" deletes one).
	Claims map[string]any
	Header map[string]any
	// SignWith signs with another key than the one in the header.
	SignWith *DPoPKey
}

// Proof is a proof for a request of method to url.
func (k *DPoPKey) Proof(t testing.TB, method, url string, o ProofOpts) string {
	t.Helper()
	iat := o.IAT
	if iat.IsZero() {
		iat = time.Now()
	}
	jti := o.JTI
	if jti == "" {
		jti = uuid.NewString()
	}
	claims := jwt.MapClaims{"jti": jti, "htm": method, "htu": url, "iat": iat.Unix()}
	if o.Nonce != "" {
		claims["nonce"] = o.Nonce
	}
	if o.AccessToken != "" {
		sum := sha256.Sum256([]byte(o.AccessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	for name, v := range o.Claims {
		if v == "-" {
			delete(claims, name)
		} else {
			claims[name] = v
		}
	}
	signer := k
	if o.SignWith != nil {
		signer = o.SignWith
	}
	tok := jwt.NewWithClaims(signer.method, claims)
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = k.jwk
	for name, v := range o.Header {
		if v == "-" {
			delete(tok.Header, name)
		} else {
			tok.Header[name] = v
		}
	}
	s, err := tok.SignedString(signer.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
