package server_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/oauth/dpop"
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
