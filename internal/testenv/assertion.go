package testenv

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// A DPoPKey serves as a client's private_key_jwt key too: its public JWK
// goes in the client's registered JWK Set (JWKSet), and Assertion signs
// client assertions with golang-jwt, not grantd's JOSE library.

// JWKWith is the key's public JWK with members added (kid, alg, use).
func (k *DPoPKey) JWKWith(members map[string]any) map[string]any {
	out := map[string]any{}
	for n, v := range k.jwk {
		out[n] = v
	}
	for n, v := range members {
		out[n] = v
	}
	return out
}

// JWKSet is a JWK Set of JWKs (from JWKWith), as JSON.
func JWKSet(t testing.TB, keys ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// AssertionOpts change an assertion from the well-formed one Assertion
// makes.
type AssertionOpts struct {
	KID string
	// Claims and Header override or add members ("-" deletes one).
	Claims map[string]any
	Header map[string]any
	// Method signs with another algorithm of the key's type (PS256 for an
	// RS256 key, say); nil = the key's.
	Method jwt.SigningMethod
	// Key signs with this key instead (an HMAC secret, say).
	Key any
}

// Assertion is a client assertion (RFC 7523 §3) of clientID for aud, valid
// for a minute from now, with a fresh jti.
func (k *DPoPKey) Assertion(t testing.TB, clientID, aud string, now time.Time, o AssertionOpts) string {
	t.Helper()
	claims := jwt.MapClaims{"iss": clientID, "sub": clientID, "aud": aud, "jti": uuid.NewString(),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	for name, v := range o.Claims {
		if v == "-" {
			delete(claims, name)
		} else {
			claims[name] = v
		}
	}
	method := k.method
	if o.Method != nil {
		method = o.Method
	}
	tok := jwt.NewWithClaims(method, claims)
	if o.KID != "" {
		tok.Header["kid"] = o.KID
	}
	for name, v := range o.Header {
		if v == "-" {
			delete(tok.Header, name)
		} else {
			tok.Header[name] = v
		}
	}
	key := any(k.key)
	if o.Key != nil {
		key = o.Key
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
