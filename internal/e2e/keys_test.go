package e2e

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
)

// ccClient is a client-credentials client with JWT access tokens of alg
// ("" = the server's default), created in st.
func ccClient(t *testing.T, st store.Clients, alg string) (id, secret string) {
	t.Helper()
	secret = oauth.PrefixClientSecret + oauth.RandomToken(32)
	c := store.Client{
		ID: uuid.NewString(), Name: "keys " + alg, SecretHash: store.Hash(secret), AuthMethod: store.AuthMethodBasic,
		GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"accounts"}, Environment: "sandbox",
		State: store.ClientActive, TokenFormat: store.TokenFormatJWT, AccessTokenSigningAlg: alg,
		CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	if err := st.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c.ID, secret
}

// call posts a form with Basic authentication and decodes the JSON answer;
// safe from any goroutine (it never fails the test itself).
func (in *instance) call(path string, form url.Values, id, secret string) (map[string]any, error) {
	req, err := http.NewRequest(http.MethodPost, in.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %d %v %v", path, resp.StatusCode, body, err)
	}
	return body, nil
}

// jwks fetches the instance's served JWKS: its raw JSON and its cache
// lifetime header.
func (in *instance) jwks() ([]byte, string, error) {
	resp, err := http.Get(in.url + "/.well-known/jwks.json")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET jwks: %d %v", resp.StatusCode, err)
	}
	return raw, resp.Header.Get("Cache-Control"), nil
}

// kids are the key IDs of a JWKS.
func kids(raw []byte) (map[string]bool, error) {
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, k := range set.Keys {
		out[k.Kid] = true
	}
	return out, nil
}

// tokenHeader is the JOSE header of a compact JWS.
func tokenHeader(tok string) (alg, kid string, err error) {
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return "", "", err
	}
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", "", err
	}
	return h.Alg, h.Kid, nil
}

// TestRotationsUnderTraffic: two instances over one PostgreSQL database,
// rotations at one of them for a few seconds, tokens of two algorithms at
// both all the while. Every token's kid was in both instances' JWKS before
// the token was issued; every token introspects active at the other
// instance; the store keeps each token's key past its exp.
func TestRotationsUnderTraffic(t *testing.T) {
	ins := startInstancesOpts(t, 2, instanceOptions{signer: func(o *signer.Options) {
		o.Algorithm, o.Algorithms = signer.ES256, []string{signer.ES256, signer.EdDSA}
		o.ReloadInterval, o.PublicationDelay = 50*time.Millisecond, time.Second
	}})
	a := ins[0]
	type cred struct{ id, secret, alg string }
	var creds []cred
	for _, alg := range []string{"", signer.EdDSA} {
		id, secret := ccClient(t, a.store, alg)
		creds = append(creds, cred{id, secret, alg})
	}

	ctx, stop := context.WithTimeout(context.Background(), 4*time.Second)
	defer stop()
	var (
		wg      sync.WaitGroup
		issued  atomic.Int64
		kidSeen sync.Map
		errs    = make(chan error, 64)
	)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for i := range 4 { // two clients at each instance
		at, other, c := ins[i%2], ins[1-i%2], creds[i/2]
		wg.Go(func() {
			for ctx.Err() == nil {
				// What both instances publish before the token exists.
				var before [2]map[string]bool
				for j, in := range []*instance{at, other} {
					raw, _, err := in.jwks()
					if err == nil {
						before[j], err = kids(raw)
					}
					if err != nil {
						fail(err)
						return
					}
				}
				body, err := at.call("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, c.id, c.secret)
				if err != nil {
					fail(err)
					return
				}
				tok, _ := body["access_token"].(string)
				alg, kid, err := tokenHeader(tok)
				if err != nil {
					fail(err)
					return
				}
				if want := cmp.Or(c.alg, signer.ES256); alg != want {
					fail(fmt.Errorf("a token of client alg %q signed %s", c.alg, alg))
				}
				if !before[0][kid] || !before[1][kid] {
					fail(fmt.Errorf("token %d carries kid %s, not yet published by the issuing instance (%v) or the other (%v)",
						issued.Load(), kid, before[0][kid], before[1][kid]))
				}
				kidSeen.Store(kid, true)
				got, err := other.call("/oauth/introspect", url.Values{"token": {tok}}, c.id, c.secret)
				if err != nil {
					fail(err)
					return
				}
				if got["active"] != true {
					fail(fmt.Errorf("a token from one instance (kid %s) is inactive at the other: %v", kid, got))
				}
				exp, _ := got["exp"].(float64)
				keys, err := at.store.ListSigningKeys(context.Background())
				if err != nil {
					fail(err)
					return
				}
				for _, k := range keys {
					if k.ID == kid && k.KeepUntil.Before(time.Unix(int64(exp), 0)) {
						fail(fmt.Errorf("key %s is kept until %v, before its token's exp %v", kid, k.KeepUntil, exp))
					}
				}
				issued.Add(1)
			}
		})
	}
	rotations := 0
	for ctx.Err() == nil {
		if _, err := a.signer.Rotate(ctx, ""); err != nil && ctx.Err() == nil {
			t.Fatalf("Rotate: %v", err)
		}
		rotations++
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	used := 0
	kidSeen.Range(func(any, any) bool { used++; return true })
	t.Logf("%d tokens, %d rotations, %d keys signed", issued.Load(), rotations, used)
	if issued.Load() < 20 || rotations < 5 || used < 4 {
		t.Errorf("%d tokens, %d rotations, %d keys used: the loop did not exercise rotations", issued.Load(), rotations, used)
	}
}

// TestEveryAlgorithmVerifiesIndependently: tokens of each algorithm
// verify with golang-jwt against the JWKS an instance serves, with the
// served JWKS's cache lifetime within what the publication delay covers.
func TestEveryAlgorithmVerifiesIndependently(t *testing.T) {
	ins := startInstancesOpts(t, 2, instanceOptions{signer: func(o *signer.Options) {
		o.Algorithms = signer.Algorithms
	}})
	raw, cacheControl, err := ins[1].jwks()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("max-age=%d", int(signer.JWKSMaxAge.Seconds())); !strings.Contains(cacheControl, want) {
		t.Errorf("JWKS Cache-Control %q, want %s (signer.JWKSMaxAge)", cacheControl, want)
	}
	keys := parseJWKS(t, raw)
	if len(keys) != len(signer.Algorithms) {
		t.Fatalf("the JWKS has %d keys, want one per algorithm", len(keys))
	}
	for _, alg := range signer.Algorithms {
		id, secret := ccClient(t, ins[0].store, alg)
		body, err := ins[0].call("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, id, secret)
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := body["access_token"].(string)
		parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
			kid, _ := tk.Header["kid"].(string)
			k, ok := keys[kid]
			if !ok || k.alg != tk.Method.Alg() {
				return nil, errors.New("no key of that kid and alg in the JWKS")
			}
			return k.pub, nil
		}, jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired(), jwt.WithIssuer("https://auth.example.test"))
		if err != nil {
			t.Errorf("%s: golang-jwt rejects the token: %v", alg, err)
			continue
		}
		if parsed.Header["typ"] != signer.TokenType {
			t.Errorf("%s: typ %v", alg, parsed.Header["typ"])
		}
	}
}

type publicKey struct {
	alg string
	pub crypto.PublicKey
}

// parseJWKS reads a JWKS by hand into public keys by kid.
func parseJWKS(t *testing.T, raw []byte) map[string]publicKey {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			t.Fatalf("bad base64url %q", s)
		}
		return b
	}
	num := func(s string) *big.Int { return new(big.Int).SetBytes(b64(s)) }
	out := map[string]publicKey{}
	for _, k := range set.Keys {
		if k["use"] != "sig" || k["d"] != "" {
			t.Fatalf("JWKS entry %v", k)
		}
		var pub crypto.PublicKey
		switch k["kty"] + " " + k["crv"] {
		case "RSA ":
			pub = &rsa.PublicKey{N: num(k["n"]), E: int(num(k["e"]).Int64())}
		case "EC P-256":
			pub = &ecdsa.PublicKey{Curve: elliptic.P256(), X: num(k["x"]), Y: num(k["y"])}
		case "OKP Ed25519":
			pub = ed25519.PublicKey(b64(k["x"]))
		default:
			t.Fatalf("JWKS entry of kty %q crv %q", k["kty"], k["crv"])
		}
		out[k["kid"]] = publicKey{alg: k["alg"], pub: pub}
	}
	return out
}
