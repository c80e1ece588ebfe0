package assertion_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/grantd/grantd/internal/oauth/assertion"
	"github.com/grantd/grantd/internal/testenv"
)

const (
	clientID = "0197a5c4-2f8e-7c4b-9a51-6f0e3d2b1c7a"
	issuer   = "https://as.example.com"
)

func keySet(t *testing.T, jwks []byte) *jose.JSONWebKeySet {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	return &set
}

// TestVerify: assertions signed by golang-jwt with each algorithm family
// verify, by kid or without one, with aud a string or an array.
func TestVerify(t *testing.T) {
	now := time.Now()
	expect := assertion.Expect{ClientID: clientID, Audiences: []string{issuer, issuer + "/oauth/token"}}
	for _, alg := range []string{"PS256", "ES256", "ES384", "EdDSA", "RS256"} {
		k := testenv.NewDPoPKey(t, alg)
		keys := keySet(t, testenv.JWKSet(t, k.JWKWith(map[string]any{"kid": "k1"})))
		for name, o := range map[string]testenv.AssertionOpts{
			"kid":       {KID: "k1"},
			"no kid":    {},
			"aud array": {KID: "k1", Claims: map[string]any{"aud": []string{"https://other.example", issuer + "/oauth/token"}}},
			// FAPI 2.0 §5.3.2.1: iat and nbf up to 10 s ahead accepted.
			"iat 10 s ahead": {KID: "k1", Claims: map[string]any{"iat": now.Add(10 * time.Second).Unix(), "nbf": now.Add(10 * time.Second).Unix()}},
		} {
			a, err := assertion.Verify(k.Assertion(t, clientID, issuer, now, o), keys, expect, now)
			if err != nil {
				t.Errorf("%s, %s: %v", alg, name, err)
				continue
			}
			if len(a.Replay) != 32 || !a.Until.After(now) {
				t.Errorf("%s, %s: %+v", alg, name, a)
			}
		}
	}
}

// TestVerifyRefuses: one refusal per check of RFC 7523 §3 and of the
// signature.
func TestVerifyRefuses(t *testing.T) {
	now := time.Now()
	k, other := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "ES256")
	rsaKey := testenv.NewDPoPKey(t, "RS256")
	encKey := testenv.NewDPoPKey(t, "ES256")
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	weakJWK := map[string]any{"kty": "RSA", "kid": "w1", "n": b64(weak.N.Bytes()), "e": b64(big.NewInt(int64(weak.E)).Bytes())}
	weakTok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": clientID, "sub": clientID, "aud": issuer,
		"jti": "w", "exp": now.Add(time.Minute).Unix()})
	weakTok.Header["kid"] = "w1"
	weakJWT, err := weakTok.SignedString(weak)
	if err != nil {
		t.Fatal(err)
	}
	keys := keySet(t, testenv.JWKSet(t, k.JWKWith(map[string]any{"kid": "k1"}),
		rsaKey.JWKWith(map[string]any{"kid": "r1", "alg": "RS256"}), encKey.JWKWith(map[string]any{"kid": "e1", "use": "enc"}), weakJWK))
	expect := assertion.Expect{ClientID: clientID, Audiences: []string{issuer}}
	in := func(d time.Duration) int64 { return now.Add(d).Unix() }
	for _, tc := range []struct {
		name    string
		jwt     string
		expect  *assertion.Expect
		unknown bool
	}{
		{"not a JWT", "abc.def", nil, false},
		{"empty", "", nil, false},
		{"alg none", noneJWT(t), nil, false},
		{"HS256 with the key's x", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Method: jwt.SigningMethodHS256, Key: []byte("secret")}), nil, false},
		{"signed by another key", other.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1"}), nil, false},
		{"unknown kid", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k9"}), nil, true},
		{"alg the key is not registered for", rsaKey.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "r1", Method: jwt.SigningMethodPS256}), nil, true},
		{"alg other than the client's", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1"}), &assertion.Expect{ClientID: clientID, Audiences: []string{issuer}, Alg: "PS256"}, false},
		{"alg outside a profile's", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1"}), &assertion.Expect{ClientID: clientID, Audiences: []string{issuer}, Algorithms: []string{"PS256", "EdDSA"}}, false},
		{"iss another", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"iss": "x"}}), nil, false},
		{"sub another", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"sub": "x"}}), nil, false},
		{"aud another", k.Assertion(t, clientID, "https://other.example", now, testenv.AssertionOpts{KID: "k1"}), nil, false},
		{"aud missing", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"aud": "-"}}), nil, false},
		{"exp missing", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"exp": "-"}}), nil, false},
		{"expired", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"exp": in(-2 * time.Minute)}}), nil, false},
		{"exp too far", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"exp": in(time.Hour)}}), nil, false},
		{"exp a string", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"exp": "soon"}}), nil, false},
		{"nbf in the future", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"nbf": in(5 * time.Minute)}}), nil, false},
		{"iat in the future", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"iat": in(5 * time.Minute)}}), nil, false},
		{"iat 61 s ahead", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"iat": in(61 * time.Second)}}), nil, false},
		{"nbf 61 s ahead", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"nbf": in(61 * time.Second)}}), nil, false},
		{"jti missing", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"jti": "-"}}), nil, false},
		{"typ dpop+jwt", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Header: map[string]any{"typ": "dpop+jwt"}}), nil, false},
		{"typ at+jwt", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Header: map[string]any{"typ": "at+jwt"}}), nil, false},
		{"a crit header", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Header: map[string]any{"crit": []string{"x"}, "x": 1}}), nil, false},
		{"jti too long", k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1", Claims: map[string]any{"jti": strings.Repeat("j", 257)}}), nil, false},
		{"a key for encryption", encKey.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "e1"}), nil, true},
		{"an RSA key under 2048 bits", weakJWT, nil, true},
	} {
		e := expect
		if tc.expect != nil {
			e = *tc.expect
		}
		_, err := assertion.Verify(tc.jwt, keys, e, now)
		var ae *assertion.Error
		if !errors.As(err, &ae) {
			t.Errorf("%s: %v, want a refusal", tc.name, err)
			continue
		}
		if ae.UnknownKey != tc.unknown {
			t.Errorf("%s: UnknownKey %v (%s), want %v", tc.name, ae.UnknownKey, ae.Reason, tc.unknown)
		}
	}
}

// TestPeek reads the sub without verifying, and refuses what is no JWT.
func TestPeek(t *testing.T) {
	k := testenv.NewDPoPKey(t, "ES256")
	if sub, ok := assertion.Peek(k.Assertion(t, clientID, issuer, time.Now(), testenv.AssertionOpts{})); !ok || sub != clientID {
		t.Errorf("Peek = %q, %v", sub, ok)
	}
	for _, s := range []string{"", "a.b", "a.b.c", "x.eyJpc3MiOiJ4In0.y"} {
		if _, ok := assertion.Peek(s); ok {
			t.Errorf("Peek(%q) ok", s)
		}
	}
}

// noneJWT is an unsigned JWT (alg none) of clientID for issuer.
func noneJWT(t *testing.T) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": clientID, "sub": clientID, "aud": issuer,
		"jti": "j", "exp": time.Now().Add(time.Minute).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerifySharedKid: FAPI 2.0 §5.4.3: when keys share a kid, their other
// members choose: an encryption key and a key of another type under the
// client's kid do not stand in the way of its signing key.
func TestVerifySharedKid(t *testing.T) {
	now := time.Now()
	k, enc, rsa := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "RS256")
	keys := keySet(t, testenv.JWKSet(t, enc.JWKWith(map[string]any{"kid": "k1", "use": "enc"}),
		rsa.JWKWith(map[string]any{"kid": "k1"}), k.JWKWith(map[string]any{"kid": "k1", "use": "sig"})))
	expect := assertion.Expect{ClientID: clientID, Audiences: []string{issuer}}
	if _, err := assertion.Verify(k.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1"}), keys, expect, now); err != nil {
		t.Errorf("the signing key among keys sharing its kid: %v", err)
	}
	if _, err := assertion.Verify(enc.Assertion(t, clientID, issuer, now, testenv.AssertionOpts{KID: "k1"}), keys, expect, now); err == nil {
		t.Error("an assertion signed with the encryption key verified")
	}
}
