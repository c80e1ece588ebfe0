package signer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/grantd/grantd/internal/store"
)

// memStore is an in-memory KeyStore following the store.SigningKeys
// contract (the real stores run the conformance suite): List newest first
// by CreatedAt, then insertion; Add with since; Reserve never lowers;
// Delete only past KeepUntil. reserveErr, when set, fails reservations.
type memStore struct {
	mu         sync.Mutex
	keys       []store.SigningKey // insertion order
	reserves   int                // successful ReserveSigningKey calls
	reserveErr error
}

func (m *memStore) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]store.SigningKey, 0, len(m.keys))
	for i := len(m.keys) - 1; i >= 0; i-- { // later insertions first
		k := m.keys[i]
		k.EncryptedKey = bytes.Clone(k.EncryptedKey)
		out = append(out, k)
	}
	slices.SortStableFunc(out, func(a, b store.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (m *memStore) AddSigningKey(ctx context.Context, k store.SigningKey, since time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, have := range m.keys {
		if have.ID == k.ID {
			return false, store.ErrConflict
		}
	}
	for _, have := range m.keys {
		if have.Algorithm == k.Algorithm && (since.IsZero() || have.CreatedAt.After(since)) {
			return false, nil
		}
	}
	k.EncryptedKey = bytes.Clone(k.EncryptedKey)
	m.keys = append(m.keys, k)
	return true, nil
}

func (m *memStore) ReserveSigningKey(ctx context.Context, kid string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reserveErr != nil {
		return m.reserveErr
	}
	for i := range m.keys {
		if m.keys[i].ID == kid {
			if until.After(m.keys[i].KeepUntil) {
				m.keys[i].KeepUntil = until
			}
			m.reserves++
			return nil
		}
	}
	return store.ErrNotFound
}

func (m *memStore) DeleteSigningKey(ctx context.Context, kid string, before time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, k := range m.keys {
		if k.ID == kid && k.KeepUntil.Before(before) {
			m.keys = slices.Delete(m.keys, i, i+1)
			return true, nil
		}
	}
	return false, nil
}

// get returns the stored key kid.
func (m *memStore) get(kid string) (store.SigningKey, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if k.ID == kid {
			return k, true
		}
	}
	return store.SigningKey{}, false
}

// add stores rec as it is, whatever else is stored (a key some other
// program or a migration stored).
func (m *memStore) add(t testing.TB, rec store.SigningKey) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, rec)
}

func testKEK(t testing.TB) []byte {
	t.Helper()
	kek := make([]byte, 32)
	rand.Read(kek)
	return kek
}

func newSigner(t testing.TB, st KeyStore, kek []byte, alg string) *Signer {
	t.Helper()
	s, err := New(t.Context(), Options{Store: st, KEK: kek, Algorithm: alg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

type testClaims struct {
	Sub   string `json:"sub"`
	Scope string `json:"scope"`
	Exp   int64  `json:"exp"`
}

func claimsFor(sub string) testClaims {
	return testClaims{Sub: sub, Scope: "read", Exp: time.Now().Add(time.Hour).Unix()}
}

func sign(t testing.TB, s *Signer, sub string) string {
	t.Helper()
	tok, err := s.Sign(t.Context(), "", claimsFor(sub))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// jwksKeys parses JWKS JSON by hand (not with go-jose) into public keys by kid.
func jwksKeys(t *testing.T, raw []byte) map[string]jwkEntry {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("JWKS JSON: %v\n%s", err, raw)
	}
	out := map[string]jwkEntry{}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS publishes private parameter %q", private)
			}
		}
		if k["kid"] == "" || k["use"] != "sig" || k["alg"] == "" {
			t.Fatalf("JWKS entry lacks kid, use=sig or alg: %v", k)
		}
		e := jwkEntry{alg: k["alg"]}
		switch k["kty"] {
		case "RSA":
			e.pub = &rsa.PublicKey{N: b64Int(t, k["n"]), E: int(b64Int(t, k["e"]).Int64())}
		case "EC":
			if k["crv"] != "P-256" {
				t.Fatalf("crv = %q", k["crv"])
			}
			e.pub = &ecdsa.PublicKey{Curve: elliptic.P256(), X: b64Int(t, k["x"]), Y: b64Int(t, k["y"])}
		case "OKP":
			x, err := base64.RawURLEncoding.DecodeString(k["x"])
			if k["crv"] != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
				t.Fatalf("OKP key: crv %q, x %q", k["crv"], k["x"])
			}
			e.pub = ed25519.PublicKey(x)
		default:
			t.Fatalf("kty = %q", k["kty"])
		}
		if _, dup := out[k["kid"]]; dup {
			t.Fatalf("JWKS has kid %s twice", k["kid"])
		}
		out[k["kid"]] = e
	}
	return out
}

type jwkEntry struct {
	alg string
	pub crypto.PublicKey
}

func b64Int(t *testing.T, s string) *big.Int {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		t.Fatalf("bad base64url integer %q: %v", s, err)
	}
	return new(big.Int).SetBytes(b)
}

// verifyIndependently checks tok with golang-jwt against the key the JWKS
// names by the token's kid, with the JWKS entry's alg.
func verifyIndependently(t *testing.T, jwks []byte, tok string) (*jwt.Token, error) {
	t.Helper()
	keys := jwksKeys(t, jwks)
	return jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("kid %q not in JWKS", kid)
		}
		if tk.Method.Alg() != k.alg {
			return nil, fmt.Errorf("alg %s, key is %s", tk.Method.Alg(), k.alg)
		}
		return k.pub, nil
	}, jwt.WithValidMethods(Algorithms), jwt.WithExpirationRequired())
}

func TestSignVerifyIndependent(t *testing.T) {
	for _, alg := range Algorithms {
		t.Run(alg, func(t *testing.T) {
			s := newSigner(t, &memStore{}, testKEK(t), alg)
			if s.Algorithm() != alg {
				t.Fatalf("Algorithm() = %q", s.Algorithm())
			}
			tok := sign(t, s, "user-1")

			parsed, err := verifyIndependently(t, s.JWKS(), tok)
			if err != nil {
				t.Fatalf("golang-jwt rejects our token: %v", err)
			}
			if parsed.Header["typ"] != "at+jwt" {
				t.Errorf("typ = %v", parsed.Header["typ"])
			}
			if parsed.Header["alg"] != alg {
				t.Errorf("alg = %v", parsed.Header["alg"])
			}
			keys := s.Keys()
			if len(keys) != 1 || keys[0].State != store.KeyCurrent || keys[0].Algorithm != alg {
				t.Fatalf("Keys() = %+v", keys)
			}
			if parsed.Header["kid"] != keys[0].KID {
				t.Errorf("kid = %v, want %s", parsed.Header["kid"], keys[0].KID)
			}
			if sub, _ := parsed.Claims.GetSubject(); sub != "user-1" {
				t.Errorf("sub = %q", sub)
			}

			var got testClaims
			if err := s.Verify(tok, &got); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Sub != "user-1" || got.Scope != "read" {
				t.Errorf("claims = %+v", got)
			}
		})
	}
}

// TestAllAlgorithms: one signer with every algorithm signs each with its own
// key, publishes them all, and verifies each token only with its own key.
func TestAllAlgorithms(t *testing.T) {
	st, kek := &memStore{}, testKEK(t)
	s, err := New(t.Context(), Options{Store: st, KEK: kek, Algorithm: ES256, Algorithms: Algorithms})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Algorithms(), Algorithms) || s.Algorithm() != ES256 {
		t.Fatalf("Algorithms() %v, Algorithm() %s", s.Algorithms(), s.Algorithm())
	}
	jwks := jwksKeys(t, s.JWKS())
	if len(jwks) != len(Algorithms) {
		t.Fatalf("JWKS has %d keys, want %d", len(jwks), len(Algorithms))
	}
	kids := map[string]string{}
	for _, alg := range Algorithms {
		tok, err := s.Sign(t.Context(), alg, claimsFor("u"))
		if err != nil {
			t.Fatalf("Sign(%s): %v", alg, err)
		}
		h := decodeSegment(t, tok, 0)
		if h["alg"] != alg {
			t.Errorf("Sign(%s): header alg %v", alg, h["alg"])
		}
		kid := h["kid"].(string)
		if jwks[kid].alg != alg {
			t.Errorf("Sign(%s): signed with a key published for %s", alg, jwks[kid].alg)
		}
		kids[alg] = kid
		if _, err := verifyIndependently(t, s.JWKS(), tok); err != nil {
			t.Errorf("golang-jwt rejects our %s token: %v", alg, err)
		}
		if err := s.Verify(tok, nil); err != nil {
			t.Errorf("Verify(%s): %v", alg, err)
		}
	}
	if kids[RS256] == kids[PS256] || jwks[kids[RS256]].pub.(*rsa.PublicKey).Equal(jwks[kids[PS256]].pub) {
		t.Error("RS256 and PS256 share a key")
	}
	// The default is the configured Algorithm.
	if tok := sign(t, s, "u"); decodeSegment(t, tok, 0)["alg"] != ES256 {
		t.Errorf("Sign with no algorithm: %v", decodeSegment(t, tok, 0))
	}
	// A PS256 signature by the RS256 key under the RS256 kid, and the other
	// way round: refused (the header alg must be the key's).
	for signAs, keyOf := range map[string]string{PS256: RS256, RS256: PS256} {
		k := s.snap.Load().byKID[kids[keyOf]]
		if err := s.Verify(joseSign(t, jose.SignatureAlgorithm(signAs), k.private, k.kid, "at+jwt"), nil); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("a %s signature with the %s key: %v", signAs, keyOf, err)
		}
	}
	if _, err := s.Sign(t.Context(), "HS256", claimsFor("u")); err == nil {
		t.Error("Sign(HS256) succeeded")
	}
	// A signer of one algorithm refuses the others, but verifies their
	// tokens while their keys are stored.
	only := newSignerWith(t, Options{Store: st, KEK: kek, Algorithm: ES256})
	if _, err := only.Sign(t.Context(), EdDSA, claimsFor("u")); err == nil {
		t.Error("a signer without EdDSA signs EdDSA")
	}
	tok, err := s.Sign(t.Context(), EdDSA, claimsFor("u"))
	if err != nil {
		t.Fatal(err)
	}
	if err := only.Verify(tok, nil); err != nil {
		t.Errorf("an EdDSA token at a signer without EdDSA, with the key stored: %v", err)
	}
}

func TestKIDIsThumbprint(t *testing.T) {
	s, err := New(t.Context(), Options{Store: &memStore{}, KEK: testKEK(t), Algorithm: ES256, Algorithms: []string{ES256, EdDSA}})
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(tp); k.KeyID != want {
			t.Fatalf("kid %s, RFC 7638 thumbprint %s", k.KeyID, want)
		}
	}
}

func headerKID(t *testing.T, tok string) string {
	t.Helper()
	h := decodeSegment(t, tok, 0)
	kid, _ := h["kid"].(string)
	return kid
}

func decodeSegment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyRejects(t *testing.T) {
	s := newSigner(t, &memStore{}, testKEK(t), RS256)
	kid := s.Keys()[0].KID
	good := sign(t, s, "user-1")
	parts := strings.Split(good, ".")
	cur := s.snap.Load().byKID[kid]

	// A token signed by some other key that claims our kid.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spoofed := joseSign(t, jose.RS256, other, kid, "at+jwt")

	// A token from another signer: valid, but its kid is unknown here.
	foreign := sign(t, newSigner(t, &memStore{}, testKEK(t), RS256), "user-1")

	// HS256 with the public key (PEM and JWKS JSON) as the HMAC secret.
	der, err := x509.MarshalPKIXPublicKey(cur.public)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs := func(secret []byte) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "user-1", "exp": time.Now().Add(time.Hour).Unix()})
		tk.Header["kid"] = kid
		tk.Header["typ"] = "at+jwt"
		out, err := tk.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// An EdDSA token from a key of ours under our kid: EdDSA is no
	// algorithm of a key this signer holds.
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)

	tampered := func() string {
		c := decodeSegment(t, good, 1)
		c["sub"] = "admin"
		return parts[0] + "." + encodeSegment(t, c) + "." + parts[2]
	}()
	none := encodeSegment(t, map[string]string{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + "."
	noneSig := encodeSegment(t, map[string]string{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + "." + parts[2]
	headerSwap := func(h map[string]any) string {
		return encodeSegment(t, h) + "." + parts[1] + "." + parts[2]
	}

	cases := map[string]string{
		"tampered payload":       tampered,
		"tampered signature":     parts[0] + "." + parts[1] + "." + flipLast(parts[2]),
		"alg none":               none,
		"alg none with sig":      noneSig,
		"HS256 with PEM":         hs(pemKey),
		"HS256 with DER":         hs(der),
		"HS256 with JWKS":        hs(s.JWKS()),
		"unknown kid":            foreign,
		"no kid":                 joseSign(t, jose.RS256, cur.private, "", "at+jwt"),
		"our kid, other key":     spoofed,
		"typ JWT":                joseSign(t, jose.RS256, cur.private, kid, "JWT"),
		"no typ":                 joseSign(t, jose.RS256, cur.private, kid, ""),
		"alg PS256, our key":     joseSign(t, jose.PS256, cur.private, kid, "at+jwt"),
		"alg EdDSA, our kid":     joseSign(t, jose.EdDSA, edKey, kid, "at+jwt"),
		"header alg ES256":       headerSwap(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid}),
		"crit header":            headerSwap(map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": kid, "crit": []string{"exp"}, "exp": 1}),
		"garbage":                "not a token",
		"empty":                  "",
		"two dots":               "..",
		"JSON serialization":     `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
		"too long":               good + strings.Repeat("A", maxTokenLen),
		"extra segment":          good + ".x",
		"payload is not an obj.": joseSignPayload(t, jose.RS256, cur.private, kid, "at+jwt", []byte(`"hello"`)),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			var c testClaims
			err := s.Verify(tok, &c)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}

	// Sanity: our own construction helper makes tokens Verify accepts, so the
	// cases above fail for the reason they name.
	if err := s.Verify(joseSign(t, jose.RS256, cur.private, kid, "at+jwt"), nil); err != nil {
		t.Fatalf("control token: %v", err)
	}
	if err := s.Verify(joseSign(t, jose.RS256, cur.private, kid, "application/AT+JWT"), nil); err != nil {
		t.Fatalf("full media type: %v", err)
	}
}

func flipLast(s string) string {
	b := []byte(s)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}

func joseSign(t *testing.T, alg jose.SignatureAlgorithm, priv crypto.Signer, kid, typ string) string {
	t.Helper()
	c, _ := json.Marshal(claimsFor("user-1"))
	return joseSignPayload(t, alg, priv, kid, typ, c)
}

func joseSignPayload(t *testing.T, alg jose.SignatureAlgorithm, priv crypto.Signer, kid, typ string, payload []byte) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSignRejects(t *testing.T) {
	s := newSigner(t, &memStore{}, testKEK(t), ES256)
	ctx := t.Context()
	for _, c := range []any{"str", 42, []string{"a"}, nil, func() {},
		json.RawMessage(`{"sub":"x"}`), json.RawMessage(`{"exp":"tomorrow"}`), json.RawMessage(`{"exp":null}`)} {
		if _, err := s.Sign(ctx, "", c); err == nil {
			t.Errorf("Sign(%v) succeeded", c)
		}
	}
	if _, err := s.Sign(ctx, "", json.RawMessage(`{"sub":"x","exp":4102444800}`)); err != nil {
		t.Errorf("Sign(RawMessage): %v", err)
	}
	for _, alg := range []string{RS256, "none", "HS256", "es256"} {
		if _, err := s.Sign(ctx, alg, claimsFor("x")); err == nil {
			t.Errorf("Sign(%s) on an ES256 signer succeeded", alg)
		}
	}
}

func TestWrongKEK(t *testing.T) {
	st := &memStore{}
	newSigner(t, st, testKEK(t), ES256)
	_, err := New(t.Context(), Options{Store: st, KEK: testKEK(t), Algorithm: ES256})
	if err == nil || !strings.Contains(err.Error(), "wrong key-encryption key") {
		t.Fatalf("New with another KEK: err = %v", err)
	}
	if n := len(st.keys); n != 1 {
		t.Fatalf("store has %d keys: a wrong KEK must not add one", n)
	}
}

func TestCorruptStoredKey(t *testing.T) {
	kek := testKEK(t)
	c, _ := newSealer(kek)
	now := time.Now()
	good, err := newRecord(c, ES256, now, now)
	if err != nil {
		t.Fatal(err)
	}
	rsaRec, err := newRecord(c, RS256, now, now)
	if err != nil {
		t.Fatal(err)
	}
	edRec, err := newRecord(c, EdDSA, now, now)
	if err != nil {
		t.Fatal(err)
	}
	resealed := func(k *store.SigningKey, kid string) {
		// The same material under another kid, sealed for that kid.
		der, err := c.open(k.ID, k.EncryptedKey)
		if err != nil {
			t.Fatal(err)
		}
		k.ID, k.EncryptedKey = kid, c.seal(kid, der)
	}
	mutate := map[string]func(*store.SigningKey){
		"flipped byte": func(k *store.SigningKey) { k.EncryptedKey[len(k.EncryptedKey)-1] ^= 1 },
		"truncated":    func(k *store.SigningKey) { k.EncryptedKey = k.EncryptedKey[:5] },
		"empty":        func(k *store.SigningKey) { k.EncryptedKey = nil },
		"version":      func(k *store.SigningKey) { k.EncryptedKey[0] = 9 },
		"kid swapped":  func(k *store.SigningKey) { k.ID = "other" },
		"kid not the thumbprint": func(k *store.SigningKey) {
			resealed(k, "other")
		},
		"alg HS256":    func(k *store.SigningKey) { k.Algorithm = "HS256" },
		"alg mismatch": func(k *store.SigningKey) { k.Algorithm = RS256 },
		"RSA as ES256": func(k *store.SigningKey) {
			*k = rsaRec
			k.Algorithm = ES256
			k.EncryptedKey = bytes.Clone(rsaRec.EncryptedKey)
		},
		"RSA as EdDSA": func(k *store.SigningKey) {
			*k = rsaRec
			k.Algorithm = EdDSA
			k.EncryptedKey = bytes.Clone(rsaRec.EncryptedKey)
		},
		"Ed25519 as ES256": func(k *store.SigningKey) {
			*k = edRec
			k.Algorithm = ES256
			k.EncryptedKey = bytes.Clone(edRec.EncryptedKey)
		},
		"sealed by KEK": func(k *store.SigningKey) {
			other, _ := newSealer(testKEK(t))
			k.EncryptedKey = other.seal(k.ID, []byte("x"))
		},
	}
	for name, fn := range mutate {
		t.Run(name, func(t *testing.T) {
			rec := good
			rec.EncryptedKey = bytes.Clone(good.EncryptedKey)
			fn(&rec)
			st := &memStore{}
			st.add(t, rec)
			if _, err := New(t.Context(), Options{Store: st, KEK: kek, Algorithm: ES256}); err == nil {
				t.Fatal("New accepted a bad stored key")
			}
		})
	}
}

func TestReloadErrorKeepsSnapshot(t *testing.T) {
	st := &memStore{}
	s := newSigner(t, st, testKEK(t), ES256)
	tok := sign(t, s, "x")
	// Another instance with a different KEK rotates: we cannot open its key.
	other, _ := newSealer(testKEK(t))
	rec, err := newRecord(other, ES256, time.Now(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st.add(t, rec)
	if err := s.Reload(t.Context()); err == nil {
		t.Fatal("Reload accepted a key it cannot decrypt")
	}
	if err := s.Verify(tok, nil); err != nil {
		t.Fatalf("old snapshot lost: %v", err)
	}
	sign(t, s, "still signs")
}

func TestOptions(t *testing.T) {
	ctx := t.Context()
	for name, o := range map[string]Options{
		"no store":            {KEK: testKEK(t)},
		"short KEK":           {Store: &memStore{}, KEK: make([]byte, 16)},
		"no KEK":              {Store: &memStore{}},
		"HS256":               {Store: &memStore{}, KEK: testKEK(t), Algorithm: "HS256"},
		"none":                {Store: &memStore{}, KEK: testKEK(t), Algorithm: "none"},
		"lowercase":           {Store: &memStore{}, KEK: testKEK(t), Algorithm: "rs256"},
		"one unsupported":     {Store: &memStore{}, KEK: testKEK(t), Algorithm: ES256, Algorithms: []string{ES256, "ES384"}},
		"default not listed":  {Store: &memStore{}, KEK: testKEK(t), Algorithm: RS256, Algorithms: []string{ES256}},
		"no algorithms":       {Store: &memStore{}, KEK: testKEK(t), Algorithm: ES256, Algorithms: []string{}},
		"period within delay": {Store: &memStore{}, KEK: testKEK(t), Algorithm: ES256, RotationPeriod: time.Minute},
		"negative delay":      {Store: &memStore{}, KEK: testKEK(t), Algorithm: ES256, PublicationDelay: -time.Second},
	} {
		if _, err := New(ctx, o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	// Default algorithm, timings and injected clock.
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := New(ctx, Options{Store: &memStore{}, KEK: testKEK(t), Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if s.Algorithm() != RS256 || !slices.Equal(s.Algorithms(), []string{RS256}) {
		t.Errorf("default algorithms %s, %v", s.Algorithm(), s.Algorithms())
	}
	if s.every != DefaultReloadInterval || s.delay != 3*time.Minute || DefaultPublicationDelay(DefaultReloadInterval) != 3*time.Minute {
		t.Errorf("default reload %s, delay %s; want 30s, 3m", s.every, s.delay)
	}
	if k := s.Keys()[0]; !k.CreatedAt.Equal(at) || !k.ActivatesAt.Equal(at) || !k.KeepUntil.IsZero() {
		t.Errorf("first key %+v: want created and active at %v, nothing reserved", k, at)
	}
}

func TestConcurrentSignVerifyReload(t *testing.T) {
	st := &memStore{}
	clk := newClock()
	s := newSignerWith(t, Options{Store: st, KEK: testKEK(t), Algorithm: ES256, Algorithms: []string{ES256, EdDSA},
		PublicationDelay: time.Minute, ReloadInterval: time.Second, Now: clk.Now})
	ctx := t.Context()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			alg := []string{ES256, EdDSA}[i%2]
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				// Some tokens past what was reserved: reservations race.
				c := testClaims{Sub: fmt.Sprint(i, n), Exp: clk.Now().Add(time.Duration(n%50) * time.Hour).Unix()}
				tok, err := s.Sign(ctx, alg, c)
				if err != nil {
					errs <- err
					return
				}
				if err := s.Verify(tok, &c); err != nil {
					errs <- err
					return
				}
				if len(s.JWKS()) == 0 || len(s.Keys()) == 0 {
					errs <- errors.New("empty JWKS")
					return
				}
			}
		})
	}
	// Rotations that activate, amid reloads and maintenance.
	for i := range 60 {
		if i%10 == 0 {
			if _, err := s.Rotate(ctx, ""); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(20 * time.Second)
		if err := s.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range Algorithms {
		b.Run(alg, func(b *testing.B) {
			s := newSigner(b, &memStore{}, testKEK(b), alg)
			c := claimsFor("user-1")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(b.Context(), "", c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range Algorithms {
		b.Run(alg, func(b *testing.B) {
			s := newSigner(b, &memStore{}, testKEK(b), alg)
			tok := sign(b, s, "user-1")
			b.ReportAllocs()
			for b.Loop() {
				var c testClaims
				if err := s.Verify(tok, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSignWaitsItsTurn: signatures run at most GOMAXPROCS at once; a
// request that finds every slot taken waits first come first served, and
// gives up when its context ends.
func TestSignWaitsItsTurn(t *testing.T) {
	s := newSigner(t, &memStore{}, testKEK(t), "ES256")
	if cap(s.slots) != runtime.GOMAXPROCS(0) {
		t.Fatalf("%d slots, want GOMAXPROCS %d", cap(s.slots), runtime.GOMAXPROCS(0))
	}
	for range cap(s.slots) {
		s.slots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Sign(ctx, "", claimsFor("u")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sign with every slot taken: %v, want the context's end", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Sign(t.Context(), "", claimsFor("u"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Sign ran with every slot taken: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	<-s.slots // one slot frees: the waiting signature runs
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	one, err := New(t.Context(), Options{Store: &memStore{}, KEK: testKEK(t), Algorithm: "ES256", Concurrency: 1})
	if err != nil || cap(one.slots) != 1 {
		t.Fatalf("Concurrency 1: %v, %d slots", err, cap(one.slots))
	}
}
