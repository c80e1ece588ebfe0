// Package dpop checks DPoP proofs (RFC 9449): a JWT that a client signs
// with a key of its own, sent in the DPoP header of each request, so that
// the tokens issued to it can be bound to that key (cnf.jkt) and are of no
// use to anyone without it. Check runs every check of §4.3 but the jti's
// single use, which needs the store: it returns the proof's Replay key and
// how long to keep it, and the core records it in the transaction that
// issues. Nonces makes the server-provided nonces of §8. The package does
// no I/O.
package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Algorithms are the proof algorithms accepted: asymmetric only (§4.3 point
// 6: never none, never a MAC), the metadata's
// dpop_signing_alg_values_supported.
var Algorithms = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}

var algorithms = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// Bounds of a proof.
const (
	// MaxProofLen bounds a DPoP header: a proof with an RSA-4096 key is
	// about 1.5 KB.
	MaxProofLen = 8192
	// MaxJTILen bounds a jti: long enough for any UUID or random string.
	MaxJTILen = 256
	// minRSABits is the smallest RSA key accepted.
	minRSABits = 2048
)

// Defaults of a Checker.
const (
	// DefaultMaxAge is how old a proof's iat may be: a proof is single use
	// and made for one request, so a few minutes covers any client's clock
	// and any retry; the replay record is kept as long.
	DefaultMaxAge = 5 * time.Minute
	// DefaultLeeway is how far in the future a proof's iat may be (a
	// client's clock ahead of the server's).
	DefaultLeeway = time.Minute
)

// Header is the HTTP header a proof travels in, and the one the server's
// nonces are given in.
const (
	Header      = "DPoP"
	NonceHeader = "DPoP-Nonce"
)

// Proof is a proof that passed Check.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key,
	// base64url: the cnf.jkt of what is bound to it.
	JKT string
	// Alg is the proof's signature algorithm.
	Alg string
	// Earliest is the first moment the proof could have been accepted
	// (its iat less the leeway for clocks ahead).
	Earliest time.Time
	// Replay is the key under which the proof's single use is recorded:
	// SHA-256 of the thumbprint and the jti, so that two clients' jtis
	// never collide and the store holds no client's text.
	Replay []byte
	// Until is how long the replay record must be kept: past it, the
	// proof's iat is out of the window and Check refuses it anyway.
	Until time.Time
}

// Request is what a proof must match: the request it came with.
type Request struct {
	// Method is the HTTP method (htm).
	Method string
	// URL is the request's URL as the client addressed it (htu), without
	// query and fragment: the issuer's origin and the path.
	URL string
	// AccessToken, when not "", is the access token the request presents;
	// the proof's ath must be its hash (§4.3 point 12).
	AccessToken string
}

// Error is a refused proof. Nonce reports that the refusal is for a
// missing or stale nonce (the use_dpop_nonce error of §8), which the client
// cures by retrying with the nonce the answer carries.
type Error struct {
	Reason string
	Nonce  bool
}

func (e *Error) Error() string { return "dpop: " + e.Reason }

func refuse(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Checker checks proofs. The zero value checks with the defaults and asks
// for no nonce.
type Checker struct {
	MaxAge time.Duration // 0 = DefaultMaxAge
	Leeway time.Duration // 0 = DefaultLeeway
	// Nonces, when not nil, makes every proof carry a nonce of the
	// server's (§8).
	Nonces *Nonces
}

// claims are a proof's claims (§4.2).
type claims struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   json.RawMessage `json:"iat"`
	ATH   string          `json:"ath"`
	Nonce string          `json:"nonce"`
}

// Check checks the DPoP header values of a request (headers, as the
// request carried them) against r at now, every check of RFC 9449 §4.3 but
// the jti's single use (the caller records Proof.Replay). Its errors are
// *Error.
func (c *Checker) Check(headers []string, r Request, now time.Time) (Proof, error) {
	switch {
	case len(headers) == 0:
		return Proof{}, refuse("no DPoP proof")
	case len(headers) > 1:
		return Proof{}, refuse("more than one DPoP header")
	case len(headers[0]) > MaxProofLen:
		return Proof{}, refuse("the proof is too long")
	}
	proof := headers[0]
	jws, err := jose.ParseSignedCompact(proof, algorithms)
	if err != nil {
		return Proof{}, refuse("the proof is not a JWS of an accepted algorithm")
	}
	if len(jws.Signatures) != 1 {
		return Proof{}, refuse("the proof has not one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return Proof{}, refuse("the proof's typ is not dpop+jwt")
	}
	if _, crit := h.ExtraHeaders["crit"]; crit {
		return Proof{}, refuse("the proof has critical headers")
	}
	jwk := h.JSONWebKey
	if jwk == nil {
		return Proof{}, refuse("the proof has no jwk header")
	}
	// go-jose refuses an embedded private key when it parses.
	if err := keyFits(jwk, h.Algorithm); err != nil {
		return Proof{}, err
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return Proof{}, refuse("the proof's signature does not verify with its jwk")
	}
	var cl claims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return Proof{}, refuse("the proof's claims are not a JSON object")
	}
	switch {
	case cl.JTI == "" || len(cl.JTI) > MaxJTILen:
		return Proof{}, refuse("the proof's jti is missing or too long")
	case cl.HTM != r.Method:
		return Proof{}, refuse("the proof's htm is not the request's method")
	case !SameURL(cl.HTU, r.URL):
		return Proof{}, refuse("the proof's htu is not the request's URL")
	}
	iat, ok := numericDate(cl.IAT)
	maxAge, leeway := c.maxAge(), c.leeway()
	switch {
	case !ok:
		return Proof{}, refuse("the proof's iat is missing or not a number")
	case iat.Before(now.Add(-maxAge)):
		return Proof{}, refuse("the proof is too old")
	case iat.After(now.Add(leeway)):
		return Proof{}, refuse("the proof's iat is in the future")
	}
	if r.AccessToken != "" {
		sum := sha256.Sum256([]byte(r.AccessToken))
		if !hmac.Equal([]byte(cl.ATH), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) {
			return Proof{}, refuse("the proof's ath is not the access token's hash")
		}
	}
	if c.Nonces != nil && !c.Nonces.Valid(cl.Nonce, now) {
		return Proof{}, &Error{Reason: "the proof has no current nonce of the server's", Nonce: true}
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return Proof{}, refuse("the proof's jwk has no thumbprint")
	}
	jkt := base64.RawURLEncoding.EncodeToString(tp)
	replay := sha256.Sum256([]byte(jkt + "\x00" + cl.JTI))
	return Proof{JKT: jkt, Alg: jws.Signatures[0].Protected.Algorithm, Replay: replay[:], Until: iat.Add(maxAge).Add(time.Second),
		Earliest: iat.Add(-c.leeway())}, nil
}

func (c *Checker) maxAge() time.Duration {
	if c.MaxAge > 0 {
		return c.MaxAge
	}
	return DefaultMaxAge
}

func (c *Checker) leeway() time.Duration {
	if c.Leeway > 0 {
		return c.Leeway
	}
	return DefaultLeeway
}

// keyFits checks that the proof's key is of the kind its alg needs, and
// strong enough.
func keyFits(jwk *jose.JSONWebKey, alg string) error {
	switch k := jwk.Key.(type) {
	case *rsa.PublicKey:
		if !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS") {
			return refuse("the proof's alg does not fit its RSA key")
		}
		if k.N.BitLen() < minRSABits {
			return refuse("the proof's RSA key is shorter than %d bits", minRSABits)
		}
	case *ecdsa.PublicKey:
		if !strings.HasPrefix(alg, "ES") {
			return refuse("the proof's alg does not fit its EC key")
		}
	case ed25519.PublicKey:
		if alg != "EdDSA" {
			return refuse("the proof's alg does not fit its Ed25519 key")
		}
	default:
		return refuse("the proof's jwk is not an asymmetric public key")
	}
	return nil
}

// numericDate reads a JWT NumericDate (RFC 7519 §2): seconds, possibly
// with a fraction.
func numericDate(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 || len(raw) > 32 {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

// SameURL reports whether a proof's htu names the URL want, ignoring its
// query and fragment (§4.3 point 9), after the syntax- and scheme-based
// normalisation of RFC 3986 §6.2.2 and §6.2.3: case of the scheme and host,
// the default port, an empty path, and percent-encoding.
func SameURL(htu, want string) bool {
	if htu == "" || len(htu) > 2048 {
		return false
	}
	a, ok := normalURL(htu)
	b, ok2 := normalURL(want)
	return ok && ok2 && a == b
}

func normalURL(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	// url.Parse decodes the path: EscapedPath re-encodes it in one
	// canonical form, so that %7E and ~, or %2f and %2F, compare equal.
	path := (&url.URL{Path: u.Path}).EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// Nonces makes and checks the server's DPoP nonces (§8): a nonce names a
// period of time and is an HMAC of it under a key every instance derives
// from the same secret, so that any instance accepts another's nonce
// without sharing state. A nonce is valid in its period and the next:
// clients see a new one at least once a period (every answer carries the
// current one) and never one refused as soon as it was given.
type Nonces struct {
	key    []byte
	period time.Duration
}

// DefaultNoncePeriod is how long a nonce stays current.
const DefaultNoncePeriod = 5 * time.Minute

// NewNonces returns the nonces under key (at least 32 bytes: derive it from
// a secret shared by every instance) with period (0 = DefaultNoncePeriod).
func NewNonces(key []byte, period time.Duration) (*Nonces, error) {
	if len(key) < 32 {
		return nil, errors.New("dpop: a nonce key needs at least 32 bytes")
	}
	if period <= 0 {
		period = DefaultNoncePeriod
	}
	return &Nonces{key: key, period: period}, nil
}

// Current is the nonce of now's period.
func (n *Nonces) Current(now time.Time) string { return n.of(n.index(now)) }

// Valid reports whether nonce is of now's period or the one before.
func (n *Nonces) Valid(nonce string, now time.Time) bool {
	if nonce == "" || len(nonce) > 64 {
		return false
	}
	i := n.index(now)
	return hmac.Equal([]byte(nonce), []byte(n.of(i))) || hmac.Equal([]byte(nonce), []byte(n.of(i-1)))
}

func (n *Nonces) index(now time.Time) uint64 { return uint64(now.UnixNano() / int64(n.period)) }

func (n *Nonces) of(i uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("grantd dpop nonce\x00"))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(append(b[:], m.Sum(nil)[:16]...))
}
