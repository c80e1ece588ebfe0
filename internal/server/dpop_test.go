package server_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/singleuse"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// dpopToken is a token request of c with a DPoP proof of k, made by
// golang-jwt (testenv.DPoPKey).
func (e *env) dpopToken(c testClient, k *testenv.DPoPKey, v url.Values, o testenv.ProofOpts) response {
	e.t.Helper()
	if o.IAT.IsZero() {
		o.IAT = e.clock.Now()
	}
	proof := k.Proof(e.t, http.MethodPost, e.srv.URL+"/oauth/token", o)
	h := []string{dpop.Header, proof}
	if c.IsPublic() {
		v.Set("client_id", c.ID)
		return e.form("/oauth/token", v, h...)
	}
	return e.form("/oauth/token", v, append(basic(c.ID, c.Secret), h...)...)
}

// TestDPoPClientCredentials: a proof binds the JWT and the opaque token
// (cnf.jkt = the key's RFC 7638 thumbprint, token_type DPoP, introspection
// shows cnf), a proof is used once, and a broken proof is
// invalid_dpop_proof with nothing issued.
func TestDPoPClientCredentials(t *testing.T) {
	e := newEnv(t)
	k := testenv.NewDPoPKey(t, "ES256")
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}}
	for _, format := range []string{store.TokenFormatJWT, store.TokenFormatOpaque} {
		t.Run(format, func(t *testing.T) {
			c := e.client(func(c *store.Client) {
				c.GrantTypes, c.TokenFormat = []string{"client_credentials"}, format
			})
			r := e.dpopToken(c, k, cc, testenv.ProofOpts{JTI: "jti-" + format})
			if r.Status != http.StatusOK || r.str("token_type") != oauth.TokenTypeDPoP {
				t.Fatalf("token with a proof: %d %s, want 200 token_type DPoP", r.Status, r.Body)
			}
			if format == store.TokenFormatJWT {
				cnf, _ := e.verifyJWT(r.str("access_token"))["cnf"].(map[string]any)
				if cnf["jkt"] != k.JKT() {
					t.Errorf("cnf %v, want jkt %s", cnf, k.JKT())
				}
			}
			in := e.introspect(c, r.str("access_token"))
			if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || in["token_type"] != oauth.TokenTypeDPoP || cnf["jkt"] != k.JKT() {
				t.Errorf("introspection %v, want active, token_type DPoP, cnf.jkt %s", in, k.JKT())
			}

			// The same proof again: refused, nothing issued.
			r = e.dpopToken(c, k, cc, testenv.ProofOpts{JTI: "jti-" + format})
			if r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidDPoPProof {
				t.Errorf("a replayed proof: %d %s, want 400 invalid_dpop_proof", r.Status, r.Body)
			}
			// A proof for another URL.
			r = e.dpopToken(c, k, cc, testenv.ProofOpts{Claims: map[string]any{"htu": e.srv.URL + "/oauth/revoke"}})
			if r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidDPoPProof || r.str("access_token") != "" {
				t.Errorf("a proof for another URL: %d %s, want 400 invalid_dpop_proof", r.Status, r.Body)
			}
			// No proof: a Bearer token.
			if r = e.tokenRequest(c, cc); r.Status != http.StatusOK || r.str("token_type") != oauth.TokenTypeBearer {
				t.Errorf("no proof: %d %s, want a Bearer token", r.Status, r.Body)
			}
		})
	}
	t.Run("metadata", func(t *testing.T) {
		r := e.do(must(http.NewRequest(http.MethodGet, e.srv.URL+"/.well-known/oauth-authorization-server", nil)))
		algs, _ := r.JSON["dpop_signing_alg_values_supported"].([]any)
		if len(algs) == 0 || algs[0] != "ES256" {
			t.Errorf("dpop_signing_alg_values_supported %v", r.JSON["dpop_signing_alg_values_supported"])
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDPoPBoundClient: a client registered with dpop_bound_access_tokens
// gets no token without a proof.
func TestDPoPBoundClient(t *testing.T) {
	e := newEnv(t)
	c := e.client(func(c *store.Client) { c.GrantTypes, c.DPoPBoundAccessTokens = []string{"client_credentials"}, true })
	cc := url.Values{"grant_type": {"client_credentials"}}
	if r := e.tokenRequest(c, cc); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidDPoPProof {
		t.Errorf("a bound client without a proof: %d %s, want 400 invalid_dpop_proof", r.Status, r.Body)
	}
	if r := e.dpopToken(c, testenv.NewDPoPKey(t, "EdDSA"), cc, testenv.ProofOpts{}); r.Status != http.StatusOK {
		t.Errorf("a bound client with a proof: %d %s", r.Status, r.Body)
	}
}

// TestDPoPPublicClientRefresh: a public client's code flow with a proof
// binds its refresh tokens to the key (RFC 9449 §5): a refresh with another
// key, or none, is invalid_grant and rotates nothing; with the key it
// works. A code bound by dpop_jkt (§10) is redeemed only with that key.
func TestDPoPPublicClientRefresh(t *testing.T) {
	e := newEnv(t)
	c := e.client(public)
	k, other := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "PS256")
	code := func(jkt string) (string, string) {
		verifier := oauth2.GenerateVerifier()
		q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
			"scope": {"accounts"}, "state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
			"code_challenge_method": {"S256"}}
		if jkt != "" {
			q.Set("dpop_jkt", jkt)
		}
		return e.authorize(q, "alice", true).Query().Get("code"), verifier
	}
	exchange := func(code, verifier string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
			"code_verifier": {verifier}}
	}

	// dpop_jkt: another key's proof, and no proof, leave the code unspent.
	cd, v := code(k.JKT())
	if r := e.dpopToken(c, other, exchange(cd, v), testenv.ProofOpts{}); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidGrant {
		t.Fatalf("a dpop_jkt code with another key: %d %s, want 400 invalid_grant", r.Status, r.Body)
	}
	if r := e.tokenRequest(c, exchange(cd, v)); r.Status != http.StatusBadRequest {
		t.Fatalf("a dpop_jkt code without a proof: %d %s, want 400", r.Status, r.Body)
	}
	r := e.dpopToken(c, k, exchange(cd, v), testenv.ProofOpts{})
	if r.Status != http.StatusOK || r.str("token_type") != oauth.TokenTypeDPoP || r.str("refresh_token") == "" {
		t.Fatalf("the dpop_jkt code with its key: %d %s", r.Status, r.Body)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}}
	if r := e.dpopToken(c, other, refresh, testenv.ProofOpts{}); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidGrant {
		t.Fatalf("a bound refresh token with another key: %d %s, want 400 invalid_grant", r.Status, r.Body)
	}
	if r := e.tokenRequest(c, refresh); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidGrant {
		t.Fatalf("a bound refresh token without a proof: %d %s, want 400 invalid_grant", r.Status, r.Body)
	}
	// Refused, it rotated nothing: the key still refreshes, once.
	r = e.dpopToken(c, k, refresh, testenv.ProofOpts{})
	if r.Status != http.StatusOK || r.str("token_type") != oauth.TokenTypeDPoP {
		t.Fatalf("the bound refresh token with its key: %d %s", r.Status, r.Body)
	}
	cnf, _ := e.verifyJWT(r.str("access_token"))["cnf"].(map[string]any)
	if cnf["jkt"] != k.JKT() {
		t.Errorf("the refreshed token's cnf %v, want jkt %s", cnf, k.JKT())
	}

	// A code without dpop_jkt, redeemed without a proof: nothing bound.
	cd, v = code("")
	if r := e.tokenRequest(c, exchange(cd, v)); r.Status != http.StatusOK || r.str("token_type") != oauth.TokenTypeBearer {
		t.Fatalf("a code without a proof: %d %s, want a Bearer token", r.Status, r.Body)
	}
}

// TestDPoPNonce: with server nonces, a proof without one is use_dpop_nonce
// with the DPoP-Nonce header; the retry with it succeeds and carries the
// nonce on.
func TestDPoPNonce(t *testing.T) {
	e := newEnv(t)
	nonces, err := dpop.NewNonces(bytes.Repeat([]byte{3}, 32), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.provider.DPoP = &dpop.Checker{Nonces: nonces}
	c := e.client(func(c *store.Client) { c.GrantTypes = []string{"client_credentials"} })
	k := testenv.NewDPoPKey(t, "ES256")
	cc := url.Values{"grant_type": {"client_credentials"}}
	r := e.dpopToken(c, k, cc, testenv.ProofOpts{})
	nonce := r.Header.Get(dpop.NonceHeader)
	if r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeUseDPoPNonce || nonce == "" {
		t.Fatalf("a proof without the nonce: %d %s (DPoP-Nonce %q), want 400 use_dpop_nonce with a nonce", r.Status, r.Body, nonce)
	}
	r = e.dpopToken(c, k, cc, testenv.ProofOpts{Nonce: nonce})
	if r.Status != http.StatusOK || r.Header.Get(dpop.NonceHeader) == "" {
		t.Fatalf("the retry with the nonce: %d %s, want 200 with DPoP-Nonce", r.Status, r.Body)
	}
	e.clock.Advance(3 * time.Minute)
	r = e.dpopToken(c, k, cc, testenv.ProofOpts{Nonce: nonce})
	if r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeUseDPoPNonce {
		t.Fatalf("a stale nonce: %d %s, want use_dpop_nonce", r.Status, r.Body)
	}
}

// TestDPoPAtTheResource: DELETE /connections/current, a protected resource,
// takes a DPoP-bound token only with the DPoP scheme and a proof of its key
// with the token's ath (RFC 9449 §7), answering a 401 with the DPoP
// challenge otherwise; an unbound token only as a Bearer token.
func TestDPoPAtTheResource(t *testing.T) {
	e := newEnv(t)
	c := e.client(public)
	k, other := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "ES256")
	connURL := e.srv.URL + "/connections/current"
	boundToken := func() string {
		verifier := oauth2.GenerateVerifier()
		q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
			"scope": {"accounts"}, "state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
			"code_challenge_method": {"S256"}}
		cd := e.authorize(q, "alice", true).Query().Get("code")
		r := e.dpopToken(c, k, url.Values{"grant_type": {"authorization_code"}, "code": {cd}, "redirect_uri": {redirectURI},
			"code_verifier": {verifier}}, testenv.ProofOpts{})
		if r.Status != http.StatusOK || r.str("token_type") != oauth.TokenTypeDPoP {
			t.Fatalf("token: %d %s", r.Status, r.Body)
		}
		return r.str("access_token")
	}
	disconnect := func(scheme, token, proof string) response {
		req := must(http.NewRequest(http.MethodDelete, connURL, nil))
		req.Header.Set("Authorization", scheme+" "+token)
		if proof != "" {
			req.Header.Set(dpop.Header, proof)
		}
		return e.do(req)
	}
	tok := boundToken()
	now := e.clock.Now()
	for name, r := range map[string]response{
		"as a Bearer token":         disconnect("Bearer", tok, ""),
		"with no proof":             disconnect("DPoP", tok, ""),
		"with a proof without ath":  disconnect("DPoP", tok, k.Proof(t, "DELETE", connURL, testenv.ProofOpts{IAT: now})),
		"with a proof of other key": disconnect("DPoP", tok, other.Proof(t, "DELETE", connURL, testenv.ProofOpts{IAT: now, AccessToken: tok})),
		"with a proof for POST":     disconnect("DPoP", tok, k.Proof(t, "POST", connURL, testenv.ProofOpts{IAT: now, AccessToken: tok})),
	} {
		if ch := r.Header.Get("WWW-Authenticate"); r.Status != http.StatusUnauthorized || !strings.HasPrefix(ch, "DPoP ") || !strings.Contains(ch, "algs=") {
			t.Errorf("a bound token %s: %d %s (WWW-Authenticate %q), want 401 with a DPoP challenge", name, r.Status, r.Body, ch)
		}
	}
	r := disconnect("DPoP", tok, k.Proof(t, "DELETE", connURL, testenv.ProofOpts{IAT: now, AccessToken: tok}))
	if r.Status != http.StatusOK || r.str("status") != store.ConnectionRevoked {
		t.Fatalf("the bound token with its proof: %d %s, want 200 revoked", r.Status, r.Body)
	}

	// An unbound token presented with the DPoP scheme is refused.
	cc := e.client(func(c *store.Client) { c.GrantTypes = []string{"client_credentials"} })
	bearer := e.tokenRequest(cc, url.Values{"grant_type": {"client_credentials"}}).str("access_token")
	if r := disconnect("DPoP", bearer, k.Proof(t, "DELETE", connURL, testenv.ProofOpts{IAT: now, AccessToken: bearer})); r.Status != http.StatusUnauthorized {
		t.Errorf("a Bearer token with the DPoP scheme: %d %s, want 401", r.Status, r.Body)
	}
}

// TestDPoPAtRevocationAndIntrospection: a proof sent to the revocation or
// introspection endpoint is checked as at the token endpoint (a proof for
// another URL, or one used before, is invalid_dpop_proof), and a public
// client revokes its DPoP-bound refresh token only with a proof of its key.
func TestDPoPAtRevocationAndIntrospection(t *testing.T) {
	e := newEnv(t)
	k, other := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "EdDSA")
	revokeURL, introspectURL := e.srv.URL+"/oauth/revoke", e.srv.URL+"/oauth/introspect"
	proof := func(k *testenv.DPoPKey, u string, o testenv.ProofOpts) []string {
		o.IAT = e.clock.Now()
		return []string{dpop.Header, k.Proof(t, http.MethodPost, u, o)}
	}

	rs := e.client(func(c *store.Client) { c.GrantTypes = []string{"client_credentials"} })
	tok := e.dpopToken(rs, k, url.Values{"grant_type": {"client_credentials"}}, testenv.ProofOpts{}).str("access_token")
	introspect := func(h []string) response {
		return e.form("/oauth/introspect", url.Values{"token": {tok}}, append(basic(rs.ID, rs.Secret), h...)...)
	}
	if r := introspect(proof(k, revokeURL, testenv.ProofOpts{})); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidDPoPProof {
		t.Errorf("introspection with a proof for another URL: %d %s, want 400 invalid_dpop_proof", r.Status, r.Body)
	}
	once := proof(k, introspectURL, testenv.ProofOpts{JTI: "introspect-once"})
	if r := introspect(once); r.Status != http.StatusOK || r.JSON["active"] != true {
		t.Errorf("introspection with a proof: %d %s, want 200 active", r.Status, r.Body)
	}
	if r := introspect(once); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidDPoPProof {
		t.Errorf("introspection with a proof used before: %d %s, want 400 invalid_dpop_proof", r.Status, r.Body)
	}

	// A public client's bound refresh token.
	c := e.client(public)
	verifier := oauth2.GenerateVerifier()
	cd := e.authorize(url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
		"scope": {"accounts"}, "state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}}, "alice", true).Query().Get("code")
	r := e.dpopToken(c, k, url.Values{"grant_type": {"authorization_code"}, "code": {cd}, "redirect_uri": {redirectURI},
		"code_verifier": {verifier}}, testenv.ProofOpts{})
	rt, at := r.str("refresh_token"), r.str("access_token")
	if r.Status != http.StatusOK || rt == "" {
		t.Fatalf("token: %d %s", r.Status, r.Body)
	}
	revoke := func(token string, h []string) response {
		return e.form("/oauth/revoke", url.Values{"token": {token}, "client_id": {c.ID}}, h...)
	}
	for name, h := range map[string][]string{
		"no proof":                       nil,
		"a proof of another key":         proof(other, revokeURL, testenv.ProofOpts{}),
		"a proof for the token endpoint": proof(k, e.srv.URL+"/oauth/token", testenv.ProofOpts{}),
	} {
		for what, token := range map[string]string{"refresh token": rt, "access token": at} {
			if r := revoke(token, h); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidDPoPProof {
				t.Errorf("revoking the bound %s with %s: %d %s, want 400 invalid_dpop_proof", what, name, r.Status, r.Body)
			}
		}
	}
	// Refused, nothing was revoked: the family still refreshes.
	refresh := e.dpopToken(c, k, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, testenv.ProofOpts{})
	if refresh.Status != http.StatusOK {
		t.Fatalf("refresh after the refused revocations: %d %s", refresh.Status, refresh.Body)
	}
	rt = refresh.str("refresh_token")
	if r := revoke(rt, proof(k, revokeURL, testenv.ProofOpts{})); r.Status != http.StatusOK {
		t.Fatalf("revoking with a proof of the key: %d %s, want 200", r.Status, r.Body)
	}
	if r := e.dpopToken(c, k, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, testenv.ProofOpts{}); r.Status != http.StatusBadRequest {
		t.Errorf("refresh after the revocation: %d %s, want 400", r.Status, r.Body)
	}
}

// TestDPoPNonceOnErrors: with server nonces on, every token-endpoint answer
// carries DPoP-Nonce, an error unrelated to the proof too (RFC 9449 §8.2).
func TestDPoPNonceOnErrors(t *testing.T) {
	e := newEnv(t)
	nonces, err := dpop.NewNonces(bytes.Repeat([]byte{4}, 32), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.provider.DPoP = &dpop.Checker{Nonces: nonces}
	c := e.client(func(c *store.Client) { c.GrantTypes = []string{"client_credentials"} })
	r := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}})
	if r.Status != http.StatusBadRequest || r.Header.Get(dpop.NonceHeader) == "" {
		t.Errorf("an error with nonces on: %d %s (DPoP-Nonce %q), want 400 with a nonce", r.Status, r.Body, r.Header.Get(dpop.NonceHeader))
	}
}

// TestDPoPResourceServer: a resource server written here, with golang-jwt
// and RFC 7638 computed by hand (none of grantd's code), accepts grantd's
// DPoP-bound JWT on a call with a proof of the bound key, and refuses the
// same token with another key's proof or as a Bearer token: what grantd
// binds is checkable by anyone's resource server (RFC 9449 §7).
func TestDPoPResourceServer(t *testing.T) {
	e := newEnv(t)
	c := e.client(func(c *store.Client) { c.GrantTypes = []string{"client_credentials"} })
	k, thief := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "ES256")
	r := e.dpopToken(c, k, url.Values{"grant_type": {"client_credentials"}}, testenv.ProofOpts{})
	tok := r.str("access_token")
	if r.Status != http.StatusOK || tok == "" {
		t.Fatalf("token: %d %s", r.Status, r.Body)
	}

	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		scheme, at, _ := strings.Cut(req.Header.Get("Authorization"), " ")
		if scheme != "DPoP" {
			http.Error(w, "DPoP scheme required", http.StatusUnauthorized)
			return
		}
		claims := e.verifyJWT(at) // grantd's JWKS
		cnf, _ := claims["cnf"].(map[string]any)
		var jkt string
		proof, err := jwt.Parse(req.Header.Get("DPoP"), func(p *jwt.Token) (any, error) {
			jwk, _ := p.Header["jwk"].(map[string]any)
			if p.Header["typ"] != "dpop+jwt" || jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
				return nil, errors.New("not an ES256 dpop+jwt")
			}
			x, errX := base64.RawURLEncoding.DecodeString(fmt.Sprint(jwk["x"]))
			y, errY := base64.RawURLEncoding.DecodeString(fmt.Sprint(jwk["y"]))
			if errX != nil || errY != nil {
				return nil, errors.New("bad jwk")
			}
			sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + jwk["x"].(string) + `","y":"` + jwk["y"].(string) + `"}`))
			jkt = base64.RawURLEncoding.EncodeToString(sum[:])
			return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}, nil
		}, jwt.WithValidMethods([]string{"ES256"}))
		if err != nil {
			http.Error(w, "bad proof: "+err.Error(), http.StatusUnauthorized)
			return
		}
		pc := proof.Claims.(jwt.MapClaims)
		ath := sha256.Sum256([]byte(at))
		switch {
		case pc["htm"] != req.Method || pc["htu"] != "http://"+req.Host+req.URL.Path:
			http.Error(w, "proof for another request", http.StatusUnauthorized)
		case pc["ath"] != base64.RawURLEncoding.EncodeToString(ath[:]):
			http.Error(w, "proof for another token", http.StatusUnauthorized)
		case cnf["jkt"] != jkt:
			http.Error(w, "token not bound to the proof's key", http.StatusUnauthorized)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer rs.Close()
	call := func(scheme string, key *testenv.DPoPKey) int {
		req := must(http.NewRequest(http.MethodGet, rs.URL+"/accounts", nil))
		req.Header.Set("Authorization", scheme+" "+tok)
		req.Header.Set("DPoP", key.Proof(t, http.MethodGet, rs.URL+"/accounts", testenv.ProofOpts{AccessToken: tok}))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := call("DPoP", k); st != http.StatusOK {
		t.Errorf("the bound token with a proof of its key: %d, want 200", st)
	}
	if st := call("DPoP", thief); st != http.StatusUnauthorized {
		t.Errorf("the bound token with another key's proof: %d, want 401", st)
	}
	if st := call("Bearer", k); st != http.StatusUnauthorized {
		t.Errorf("the bound token as a Bearer token: %d, want 401", st)
	}
}

// TestDPoPReplaysInMemory: with the single-instance replay memory
// (oauth.Replays, embedded SQLite), a proof issues once, without a store
// write; a refused request releases its proof, which may be retried.
func TestDPoPReplaysInMemory(t *testing.T) {
	e := newEnv(t)
	e.provider.Replays = oauth.NewReplays(e.clock.Now().Add(-time.Hour))
	c := e.client(func(c *store.Client) { c.GrantTypes = []string{"client_credentials"} })
	k := testenv.NewDPoPKey(t, "ES256")
	bad := url.Values{"grant_type": {"client_credentials"}, "scope": {"payroll"}}
	good := url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}}
	if r := e.dpopToken(c, k, bad, testenv.ProofOpts{JTI: "mem-1"}); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidScope {
		t.Fatalf("a refused request: %d %s", r.Status, r.Body)
	}
	if r := e.dpopToken(c, k, good, testenv.ProofOpts{JTI: "mem-1"}); r.Status != http.StatusOK || r.str("token_type") != oauth.TokenTypeDPoP {
		t.Fatalf("the proof retried after a refusal: %d %s", r.Status, r.Body)
	}
	if r := e.dpopToken(c, k, good, testenv.ProofOpts{JTI: "mem-1"}); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidDPoPProof {
		t.Errorf("the proof again: %d %s, want invalid_dpop_proof", r.Status, r.Body)
	}
}

// TestSingleUseUnavailable: when the shared single-use records (Redis,
// replay_cache: redis) do not answer, a DPoP proof and a client assertion
// are refused with 503 temporarily_unavailable and Retry-After, in the
// token endpoint's and introspection's shapes: never let through
// unchecked, never a 500. A request without either still issues.
func TestSingleUseUnavailable(t *testing.T) {
	e := newEnv(t)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	e.provider.Replays = singleuse.NewRedis(dead, "")
	c := e.client(func(c *store.Client) {
		c.GrantTypes, c.ResourceServer = []string{"client_credentials"}, true
	})
	k := testenv.NewDPoPKey(t, "ES256")
	cc := url.Values{"grant_type": {"client_credentials"}}
	unavailable := func(what string, r response) {
		t.Helper()
		if r.Status != http.StatusServiceUnavailable || r.str("error") != oauth.ErrCodeTemporarilyUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s with Redis down: %d %s (Retry-After %q), want 503 temporarily_unavailable", what, r.Status, r.Body, r.Header.Get("Retry-After"))
		}
	}
	unavailable("a DPoP token request", e.dpopToken(c, k, cc, testenv.ProofOpts{}))
	r := e.form("/oauth/token", cc, basic(c.ID, c.Secret)...)
	if r.Status != http.StatusOK {
		t.Fatalf("a Bearer token request with Redis down: %d %s", r.Status, r.Body)
	}
	proof := k.Proof(t, http.MethodPost, e.srv.URL+"/oauth/introspect", testenv.ProofOpts{IAT: e.clock.Now()})
	unavailable("introspection with a proof", e.form("/oauth/introspect", url.Values{"token": {r.str("access_token")}},
		append(basic(c.ID, c.Secret), dpop.Header, proof)...))

	kc := e.keyClient(store.ClientSecurity{JWKS: testenv.JWKSet(t, k.JWKWith(map[string]any{"kid": "k1"}))},
		func(c *store.Client) { c.GrantTypes = []string{"client_credentials"} })
	a := k.Assertion(t, kc.ID, e.srv.URL, e.clock.Now(), testenv.AssertionOpts{KID: "k1"})
	unavailable("a client assertion", e.form("/oauth/token", withAssertion(url.Values{"grant_type": {"client_credentials"}}, a)))
}
