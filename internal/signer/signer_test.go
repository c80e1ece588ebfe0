package signer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
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
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/grantd/grantd/internal/store"
)

// memStore is an in-memory KeyStore following the store.SigningKeys
// contract: AddSigningKey makes the new key current, the old current key
// previous and any older previous key retired; List returns the keys not
// retired, newest first. (The real SQLite store is tested by its own suite.)
type memStore struct {
	mu   sync.Mutex
	keys []store.SigningKey // newest first
}

func (m *memStore) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.SigningKey
	for _, k := range m.keys {
		if k.State != store.KeyRetired {
			k.EncryptedKey = bytes.Clone(k.EncryptedKey)
			out = append(out, k)
		}
	}
	return out, nil
}

func (m *memStore) AddSigningKey(ctx context.Context, k store.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].ID == k.ID {
			return store.ErrConflict
		}
	}
	for i := range m.keys {
		switch m.keys[i].State {
		case store.KeyCurrent:
			m.keys[i].State = store.KeyPrevious
		case store.KeyPrevious:
			m.keys[i].State = store.KeyRetired
		}
	}
	k.State = store.KeyCurrent
	k.EncryptedKey = bytes.Clone(k.EncryptedKey)
	m.keys = append([]store.SigningKey{k}, m.keys...)
	return nil
}

func (m *memStore) AddFirstSigningKey(ctx context.Context, k store.SigningKey) (bool, error) {
	m.mu.Lock()
	for _, have := range m.keys {
		if have.State == store.KeyCurrent {
			m.mu.Unlock()
			return false, nil
		}
	}
	m.mu.Unlock()
	return true, m.AddSigningKey(ctx, k)
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
	tok, err := s.Sign(claimsFor(sub))
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
		default:
			t.Fatalf("kty = %q", k["kty"])
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
// names by the token's kid.
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
	}, jwt.WithValidMethods([]string{"RS256", "ES256"}), jwt.WithExpirationRequired())
}

func TestSignVerifyIndependent(t *testing.T) {
	for _, alg := range []string{RS256, ES256} {
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

func TestKIDIsThumbprint(t *testing.T) {
	s := newSigner(t, &memStore{}, testKEK(t), ES256)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	tp, err := set.Keys[0].Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.RawURLEncoding.EncodeToString(tp); set.Keys[0].KeyID != want {
		t.Fatalf("kid %s, RFC 7638 thumbprint %s", set.Keys[0].KeyID, want)
	}
}

func TestRotation(t *testing.T) {
	st := &memStore{}
	s := newSigner(t, st, testKEK(t), ES256)
	kid1 := s.Keys()[0].KID
	tok1 := sign(t, s, "before")

	kid2, err := s.Rotate(t.Context())
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if kid2 == kid1 {
		t.Fatal("Rotate returned the old kid")
	}
	if err := s.Verify(tok1, nil); err != nil {
		t.Fatalf("token from the previous key: %v", err)
	}
	if _, err := verifyIndependently(t, s.JWKS(), tok1); err != nil {
		t.Fatalf("previous key not published: %v", err)
	}
	tok2 := sign(t, s, "after")
	if got := headerKID(t, tok2); got != kid2 {
		t.Fatalf("new token kid %s, want %s", got, kid2)
	}
	wantKeys(t, s, kid2, kid1)

	kid3, err := s.Rotate(t.Context())
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	wantKeys(t, s, kid3, kid2)
	if _, ok := jwksKeys(t, s.JWKS())[kid1]; ok {
		t.Fatal("retired key still in JWKS")
	}
	if err := s.Verify(tok1, nil); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token from a retired key: err = %v", err)
	}
	if err := s.Verify(tok2, nil); err != nil {
		t.Fatalf("token from the previous key: %v", err)
	}
	if got := headerKID(t, sign(t, s, "x")); got != kid3 {
		t.Fatalf("kid %s, want %s", got, kid3)
	}
}

func wantKeys(t *testing.T, s *Signer, current, previous string) {
	t.Helper()
	keys := s.Keys()
	if len(keys) != 2 || keys[0].KID != current || keys[0].State != store.KeyCurrent ||
		keys[1].KID != previous || keys[1].State != store.KeyPrevious {
		t.Fatalf("Keys() = %+v, want current %s, previous %s", keys, current, previous)
	}
	jwks := jwksKeys(t, s.JWKS())
	if len(jwks) != 2 {
		t.Fatalf("JWKS has %d keys", len(jwks))
	}
	for _, kid := range []string{current, previous} {
		if _, ok := jwks[kid]; !ok {
			t.Fatalf("JWKS lacks %s", kid)
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

func TestReloadSeesOtherInstance(t *testing.T) {
	st := &memStore{}
	kek := testKEK(t)
	a := newSigner(t, st, kek, ES256)
	b := newSigner(t, st, kek, ES256)
	if a.Keys()[0].KID != b.Keys()[0].KID {
		t.Fatal("second instance generated its own key")
	}
	kid, err := a.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, a, "x")
	if err := b.Verify(tok, nil); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("before reload: err = %v", err)
	}
	if err := b.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(tok, nil); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	if got := headerKID(t, sign(t, b, "y")); got != kid {
		t.Fatalf("b signs with %s, want %s", got, kid)
	}
}

func TestRunReloads(t *testing.T) {
	st := &memStore{}
	kek := testKEK(t)
	a := newSigner(t, st, kek, ES256)
	b := newSigner(t, st, kek, ES256)
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { b.Run(ctx, time.Minute); close(done) }()

		kid, err := a.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute - time.Second)
		synctest.Wait()
		if b.Keys()[0].KID == kid {
			t.Fatal("reloaded too early")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if b.Keys()[0].KID != kid {
			t.Fatal("Run did not reload")
		}
		cancel()
		<-done
	})
}

func TestVerifyRejects(t *testing.T) {
	s := newSigner(t, &memStore{}, testKEK(t), RS256)
	kid := s.Keys()[0].KID
	good := sign(t, s, "user-1")
	parts := strings.Split(good, ".")
	cur := s.snap.Load().current

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

func TestSignRejectsNonObject(t *testing.T) {
	s := newSigner(t, &memStore{}, testKEK(t), ES256)
	for _, c := range []any{"str", 42, []string{"a"}, nil, func() {}} {
		if _, err := s.Sign(c); err == nil {
			t.Errorf("Sign(%T) succeeded", c)
		}
	}
	if _, err := s.Sign(json.RawMessage(`{"sub":"x"}`)); err != nil {
		t.Errorf("Sign(RawMessage): %v", err)
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
	good, err := newRecord(c, ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rsaRec, err := newRecord(c, RS256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mutate := map[string]func(*store.SigningKey){
		"flipped byte": func(k *store.SigningKey) { k.EncryptedKey[len(k.EncryptedKey)-1] ^= 1 },
		"truncated":    func(k *store.SigningKey) { k.EncryptedKey = k.EncryptedKey[:5] },
		"empty":        func(k *store.SigningKey) { k.EncryptedKey = nil },
		"version":      func(k *store.SigningKey) { k.EncryptedKey[0] = 9 },
		"kid swapped":  func(k *store.SigningKey) { k.ID = "other" },
		"alg HS256":    func(k *store.SigningKey) { k.Algorithm = "HS256" },
		"alg mismatch": func(k *store.SigningKey) { k.Algorithm = RS256 },
		"RSA as ES256": func(k *store.SigningKey) {
			*k = rsaRec
			k.Algorithm = ES256
			k.EncryptedKey = bytes.Clone(rsaRec.EncryptedKey)
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
			if err := st.AddSigningKey(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
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
	other, err := New(t.Context(), Options{Store: &memStore{}, KEK: testKEK(t), Algorithm: ES256})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := newRecord(other.sealer, ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddSigningKey(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
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
		"no store":    {KEK: testKEK(t)},
		"short KEK":   {Store: &memStore{}, KEK: make([]byte, 16)},
		"no KEK":      {Store: &memStore{}},
		"HS256":       {Store: &memStore{}, KEK: testKEK(t), Algorithm: "HS256"},
		"none":        {Store: &memStore{}, KEK: testKEK(t), Algorithm: "none"},
		"lowercase":   {Store: &memStore{}, KEK: testKEK(t), Algorithm: "rs256"},
		"unsupported": {Store: &memStore{}, KEK: testKEK(t), Algorithm: "PS256"},
	} {
		if _, err := New(ctx, o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	// Default algorithm and injected clock.
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := New(ctx, Options{Store: &memStore{}, KEK: testKEK(t), Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if s.Algorithm() != RS256 {
		t.Errorf("default algorithm %s", s.Algorithm())
	}
	if got := s.Keys()[0].CreatedAt; !got.Equal(at) {
		t.Errorf("created_at %v, want %v", got, at)
	}
}

func TestAlgorithmChangeTakesEffectOnRotate(t *testing.T) {
	st := &memStore{}
	kek := testKEK(t)
	es := newSigner(t, st, kek, ES256)
	rs := newSigner(t, st, kek, RS256) // config changed: the ES256 key stays current
	if rs.Algorithm() != ES256 {
		t.Fatalf("Algorithm() = %s before rotation", rs.Algorithm())
	}
	tok := sign(t, es, "x")
	if _, err := rs.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rs.Algorithm() != RS256 {
		t.Fatalf("Algorithm() = %s after rotation", rs.Algorithm())
	}
	if err := rs.Verify(tok, nil); err != nil {
		t.Fatalf("ES256 token after switch to RS256: %v", err)
	}
	algs := []string{}
	for _, k := range rs.Keys() {
		algs = append(algs, k.Algorithm)
	}
	if !slices.Equal(algs, []string{RS256, ES256}) {
		t.Fatalf("published algorithms %v", algs)
	}
}

func TestConcurrentSignVerifyReload(t *testing.T) {
	st := &memStore{}
	s := newSigner(t, st, testKEK(t), ES256)
	ctx := t.Context()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := s.Sign(claimsFor(fmt.Sprint(i, n)))
				if err != nil {
					errs <- err
					return
				}
				var c testClaims
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
	// One rotation (so a token is never two rotations old) amid reloads.
	for i := range 50 {
		if i == 25 {
			if _, err := s.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Reload(ctx); err != nil {
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

func BenchmarkSignRS256(b *testing.B) {
	s := newSigner(b, &memStore{}, testKEK(b), RS256)
	c := claimsFor("user-1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B) {
	s := newSigner(b, &memStore{}, testKEK(b), RS256)
	tok := sign(b, s, "user-1")
	b.ReportAllocs()
	for b.Loop() {
		var c testClaims
		if err := s.Verify(tok, &c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignES256(b *testing.B) {
	s := newSigner(b, &memStore{}, testKEK(b), ES256)
	c := claimsFor("user-1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyES256(b *testing.B) {
	s := newSigner(b, &memStore{}, testKEK(b), ES256)
	tok := sign(b, s, "user-1")
	b.ReportAllocs()
	for b.Loop() {
		var c testClaims
		if err := s.Verify(tok, &c); err != nil {
			b.Fatal(err)
		}
	}
}
