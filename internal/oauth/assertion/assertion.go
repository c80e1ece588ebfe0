// Package assertion verifies JWT client assertions (RFC 7523 §2.2, RFC
// 7521 §4.2): a client authenticates with private_key_jwt by signing a
// short-lived JWT about itself with a key of its own, whose public half it
// registered. Verify runs every check but the jti's single use, which needs
// the store: it returns the assertion's replay key and until when to keep
// it, and the core records it. The package does no I/O: the caller hands it
// the client's keys.
package assertion

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Type is the client_assertion_type of a JWT assertion (RFC 7523 §2.2).
const Type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Algorithms are the assertion algorithms accepted: asymmetric only (a MAC
// would need a shared secret, which private_key_jwt has none of), the
// metadata's token_endpoint_auth_signing_alg_values_supported.
var Algorithms = []string{"PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "EdDSA"}

var algorithms = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// Bounds and defaults.
const (
	// MaxLen bounds an assertion: one with an RSA-4096 signature and every
	// claim is under 2 KB.
	MaxLen = 8192
	// MaxJTILen bounds a jti.
	MaxJTILen = 256
	// DefaultMaxLifetime is how far in the future an assertion's exp may
	// be: an assertion is made for one request.
	DefaultMaxLifetime = 10 * time.Minute
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = time.Minute
	minRSABits    = 2048
)

// Expect is what an assertion must say.
type Expect struct {
	// ClientID is the client it must be about: its iss and sub.
	ClientID string
	// Audiences are the values its aud may name (one is enough): the
	// issuer, the token endpoint's URL, the URL of the endpoint called.
	Audiences []string
	// Alg, when not "", is the one algorithm allowed (the client's
	// token_endpoint_auth_signing_alg); Algorithms, when not nil, narrows
	// the accepted ones (a profile's).
	Alg        string
	Algorithms []string
	// AudienceString: aud must be a JSON string, not an array (FAPI 2.0
	// §5.3.2.1, draft RFC 7523bis).
	AudienceString bool
	// MaxLifetime and Leeway; 0 = the defaults.
	MaxLifetime time.Duration
	Leeway      time.Duration
}

// Assertion is an assertion that passed Verify.
type Assertion struct {
	// Replay is the key its single use is recorded under: SHA-256 of the
	// client id and the jti, so that two clients' jtis never collide and
	// the store keeps none of the client's text.
	Replay []byte
	// Until is when the record may go: past its exp, with the leeway, it
	// is refused anyway.
	Until time.Time
	// Earliest is the first moment it could have been accepted: its exp
	// less the longest lifetime and the leeway.
	Earliest time.Time
}

// Error is a refused assertion: Reason says which check failed (for the
// log: the answer to the client is a plain invalid_client).
type Error struct {
	Reason string
	// UnknownKey: no registered key has the assertion's kid (or none fits
	// it); a client's keys by URL may have rotated, and a refetch may help.
	UnknownKey bool
}

func (e *Error) Error() string { return "client assertion: " + e.Reason }

func refuse(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// claims are the claims read (RFC 7523 §3).
type claims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	ExpiresAt *json.Number    `json:"exp"`
	NotBefore *json.Number    `json:"nbf"`
	IssuedAt  *json.Number    `json:"iat"`
	ID        string          `json:"jti"`
}

// Peek reads who an assertion claims to be, its sub, without verifying
// anything: to know whose keys verify it. ok is false for anything that
// is not a compact JWS of a JSON object with a sub.
func Peek(s string) (sub string, ok bool) {
	if len(s) > MaxLen {
		return "", false
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Subject string `json:"sub"`
	}
	if json.Unmarshal(b, &c) != nil || c.Subject == "" {
		return "", false
	}
	return c.Subject, true
}

// Verify checks an assertion against the client's keys and what it must
// say (RFC 7523 §3): signed with one of the keys (by kid; every fitting
// key when it has none) with an accepted asymmetric algorithm; iss and sub
// the client id; aud one of e.Audiences; exp present, not past (with the
// leeway) and at most MaxLifetime ahead; nbf and iat not in the future; a
// jti.
func Verify(s string, keys *jose.JSONWebKeySet, e Expect, now time.Time) (Assertion, error) {
	if s == "" || len(s) > MaxLen {
		return Assertion{}, refuse("missing or longer than %d bytes", MaxLen)
	}
	jws, err := jose.ParseSignedCompact(s, algorithms)
	if err != nil {
		return Assertion{}, refuse("not a compact JWS of an accepted algorithm")
	}
	h := jws.Signatures[0].Protected
	alg := h.Algorithm
	switch {
	case e.Alg != "" && alg != e.Alg:
		return Assertion{}, refuse("signed with %s, the client registered %s", alg, e.Alg)
	case e.Algorithms != nil && !slices.Contains(e.Algorithms, alg):
		return Assertion{}, refuse("signed with %s, not one of %s", alg, strings.Join(e.Algorithms, ", "))
	case len(h.ExtraHeaders) > 0 && h.ExtraHeaders["crit"] != nil:
		return Assertion{}, refuse("crit headers are not understood")
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "" && !strings.EqualFold(typ, "JWT") &&
		!strings.EqualFold(typ, "client-authentication+jwt") {
		return Assertion{}, refuse("typ %q", typ)
	}
	payload, err := verifyWith(jws, keys, h.KeyID, alg)
	if err != nil {
		return Assertion{}, err
	}
	var c claims
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if dec.Decode(&c) != nil {
		return Assertion{}, refuse("the claims are not a JSON object")
	}
	return check(&c, e, now)
}

// verifyWith verifies jws with the registered key it names (kid), or with
// each key that fits alg when it names none.
func verifyWith(jws *jose.JSONWebSignature, keys *jose.JSONWebKeySet, kid, alg string) ([]byte, error) {
	var candidates []jose.JSONWebKey
	if keys != nil {
		if kid != "" {
			candidates = keys.Key(kid)
		} else {
			candidates = keys.Keys
		}
	}
	fitting := 0
	for _, k := range candidates {
		if !k.IsPublic() || (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != alg) || !keyFits(k.Key, alg) {
			continue
		}
		fitting++
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, nil
		}
	}
	if fitting == 0 {
		return nil, &Error{Reason: fmt.Sprintf("no registered key fits kid %q and alg %s", kid, alg), UnknownKey: true}
	}
	return nil, refuse("the signature does not verify with the client's keys")
}

// keyFits reports whether a public key is of the kind alg needs, and
// strong enough.
func keyFits(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")) && k.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ES")
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

func check(c *claims, e Expect, now time.Time) (Assertion, error) {
	leeway, life := e.Leeway, e.MaxLifetime
	if leeway <= 0 {
		leeway = DefaultLeeway
	}
	if life <= 0 {
		life = DefaultMaxLifetime
	}
	switch {
	case c.Issuer != e.ClientID || c.Subject != e.ClientID:
		return Assertion{}, refuse("iss and sub must both be the client id")
	case c.ID == "" || len(c.ID) > MaxJTILen:
		return Assertion{}, refuse("jti missing or longer than %d characters", MaxJTILen)
	case !audienceOK(c.Audience, e.Audiences, e.AudienceString):
		return Assertion{}, refuse("aud names none of %s", strings.Join(e.Audiences, ", "))
	}
	exp, ok := date(c.ExpiresAt)
	switch {
	case !ok:
		return Assertion{}, refuse("exp missing or not a NumericDate")
	case !now.Before(exp.Add(leeway)):
		return Assertion{}, refuse("expired")
	case exp.After(now.Add(life + leeway)):
		return Assertion{}, refuse("exp is more than %s ahead", life)
	}
	for name, n := range map[string]*json.Number{"nbf": c.NotBefore, "iat": c.IssuedAt} {
		if n == nil {
			continue
		}
		t, ok := date(n)
		if !ok {
			return Assertion{}, refuse("%s is not a NumericDate", name)
		}
		if t.After(now.Add(leeway)) {
			return Assertion{}, refuse("%s is in the future", name)
		}
	}
	sum := sha256.Sum256([]byte("grantd client assertion v1\x00" + e.ClientID + "\x00" + c.ID))
	return Assertion{Replay: sum[:], Until: exp.Add(leeway), Earliest: exp.Add(-life - leeway)}, nil
}

// audienceOK reports whether aud (a string or an array of strings) names
// one of want.
func audienceOK(raw json.RawMessage, want []string, onlyString bool) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one != "" && slices.Contains(want, one)
	}
	if onlyString {
		return false
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return false
	}
	for _, a := range many {
		if slices.Contains(want, a) {
			return true
		}
	}
	return false
}

// date reads a NumericDate (RFC 7519 §2).
func date(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
}
