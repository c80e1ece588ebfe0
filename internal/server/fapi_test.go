package server_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// fapiClient is a FAPI 2.0 client as registration makes one: private_key_jwt
// with an ES256 key, the code grant with fixed refresh tokens, ES256 access
// tokens.
func (e *env) fapiClient(k *testenv.DPoPKey) testClient {
	return e.keyClient(store.ClientSecurity{Profile: store.ProfileFAPI2,
		JWKS: testenv.JWKSet(e.t, k.JWKWith(map[string]any{"kid": "f1"}))}, func(c *store.Client) {
		c.GrantTypes, c.RefreshPolicy, c.AccessTokenSigningAlg = []string{"authorization_code", "refresh_token"}, store.RefreshFixed, "ES256"
	})
}

// TestFAPI2Profile: a client with profile fapi2 runs the whole flow the
// FAPI 2.0 Security Profile asks for — PAR with PKCE, private_key_jwt with
// the issuer as aud, a DPoP-bound token signed ES256, a refresh that keeps
// its refresh token — and each thing the profile forbids is refused: an
// authorization request not pushed, a push without PKCE or without
// redirect_uri, an assertion signed RS256 or for the token endpoint's URL,
// a token request without sender-constraint, a DPoP proof signed RS256, a
// code older than 60 seconds (even when the server's codes live longer).
func TestFAPI2Profile(t *testing.T) {
	e := newEnv(t)
	e.signWith("ES256")
	e.provider.CodeTTL = 5 * time.Minute
	k, dk := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "ES256")
	c := e.fapiClient(k)
	assertion := func(aud string, o testenv.AssertionOpts) string {
		o.KID = "f1"
		return k.Assertion(t, c.ID, aud, e.clock.Now(), o)
	}
	push := func(q url.Values) response {
		return e.form("/oauth/par", withAssertion(q, assertion(e.srv.URL, testenv.AssertionOpts{})))
	}
	code := func() (string, string) {
		q, verifier := codeRequest(c)
		r := push(q)
		if r.Status != http.StatusCreated {
			t.Fatalf("push: %d %s", r.Status, r.Body)
		}
		return e.authorize(url.Values{"client_id": {c.ID}, "request_uri": {r.str("request_uri")}}, "alice", true).Query().Get("code"), verifier
	}
	exchange := func(cd, verifier string, a string, proof ...string) response {
		return e.form("/oauth/token", withAssertion(url.Values{"grant_type": {"authorization_code"}, "code": {cd},
			"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, a), proof...)
	}
	proof := func(k *testenv.DPoPKey) []string {
		return []string{dpop.Header, k.Proof(t, http.MethodPost, e.srv.URL+"/oauth/token", testenv.ProofOpts{IAT: e.clock.Now()})}
	}

	// A pushed request lives less than 600 s (§5.3.2.2), whatever --par-ttl.
	e.provider.PARTTL = oauth.MaxPARTTL
	long, _ := codeRequest(c)
	if r := push(long); r.Status != http.StatusCreated || r.JSON["expires_in"] != float64(599) {
		t.Errorf("a fapi2 push with --par-ttl 10m: %d expires_in %v, want 599", r.Status, r.JSON["expires_in"])
	}
	e.provider.PARTTL = 0

	// The whole flow.
	cd, verifier := code()
	r := exchange(cd, verifier, assertion(e.srv.URL, testenv.AssertionOpts{}), proof(dk)...)
	if r.Status != http.StatusOK || r.str("token_type") != oauth.TokenTypeDPoP {
		t.Fatalf("the FAPI 2.0 flow: %d %s", r.Status, r.Body)
	}
	claims := e.verifyJWT(r.str("access_token"))
	if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != dk.JKT() {
		t.Errorf("cnf %v, want jkt", claims["cnf"])
	}
	if h, _ := base64.RawURLEncoding.DecodeString(strings.SplitN(r.str("access_token"), ".", 2)[0]); !strings.Contains(string(h), `"alg":"ES256"`) {
		t.Errorf("the access token's header %s, want alg ES256", h)
	}
	rt := r.str("refresh_token")
	refresh := e.form("/oauth/token", withAssertion(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}},
		assertion(e.srv.URL, testenv.AssertionOpts{})), proof(dk)...)
	if refresh.Status != http.StatusOK || refresh.str("refresh_token") != "" {
		t.Errorf("refresh: %d %s, want a token and the refresh token kept (not rotated)", refresh.Status, refresh.Body)
	}

	// What the profile forbids.
	q, _ := codeRequest(c)
	if loc := e.authorize(q, "alice", true); loc.Query().Get("error") != oauth.ErrCodeInvalidRequest {
		t.Errorf("an authorization request not pushed: %s, want invalid_request", loc)
	}
	noPKCE, _ := codeRequest(c)
	noPKCE.Del("code_challenge")
	noPKCE.Del("code_challenge_method")
	if r := push(noPKCE); r.Status != http.StatusBadRequest {
		t.Errorf("a push without PKCE: %d %s, want 400", r.Status, r.Body)
	}
	noRedirect, _ := codeRequest(c)
	noRedirect.Del("redirect_uri")
	if r := push(noRedirect); r.Status != http.StatusBadRequest {
		t.Errorf("a push without redirect_uri: %d %s, want 400", r.Status, r.Body)
	}
	rsa := testenv.NewDPoPKey(t, "RS256")
	c2 := e.keyClient(store.ClientSecurity{Profile: store.ProfileFAPI2,
		JWKS: testenv.JWKSet(t, rsa.JWKWith(map[string]any{"kid": "r1"}))}, func(c *store.Client) { c.AccessTokenSigningAlg = "ES256" })
	q2, _ := codeRequest(c2)
	if r := e.form("/oauth/par", withAssertion(q2, rsa.Assertion(t, c2.ID, e.srv.URL, e.clock.Now(), testenv.AssertionOpts{KID: "r1"}))); r.Status != http.StatusUnauthorized {
		t.Errorf("an assertion signed RS256: %d %s, want 401", r.Status, r.Body)
	}
	if r := e.form("/oauth/par", withAssertion(first(codeRequest(c)), assertion(e.srv.URL+"/oauth/par", testenv.AssertionOpts{}))); r.Status != http.StatusUnauthorized {
		t.Errorf("an assertion for the endpoint's URL, not the issuer: %d %s, want 401", r.Status, r.Body)
	}
	cd, verifier = code()
	if r := exchange(cd, verifier, assertion(e.srv.URL, testenv.AssertionOpts{})); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidRequest {
		t.Errorf("a token request without DPoP or mutual TLS: %d %s, want 400 invalid_request", r.Status, r.Body)
	}
	rsaProof := testenv.NewDPoPKey(t, "RS256")
	if r := exchange(cd, verifier, assertion(e.srv.URL, testenv.AssertionOpts{}), proof(rsaProof)...); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidDPoPProof {
		t.Errorf("a DPoP proof signed RS256: %d %s, want 400 invalid_dpop_proof", r.Status, r.Body)
	}
	if r := exchange(cd, verifier, assertion(e.srv.URL, testenv.AssertionOpts{}), proof(dk)...); r.Status != http.StatusOK {
		t.Errorf("the code, left unspent by the refusals: %d %s", r.Status, r.Body)
	}
	aud := k.Assertion(t, c.ID, e.srv.URL, e.clock.Now(), testenv.AssertionOpts{KID: "f1",
		Claims: map[string]any{"aud": []string{e.srv.URL}}})
	if r := e.form("/oauth/par", withAssertion(first(codeRequest(c)), aud)); r.Status != http.StatusUnauthorized {
		t.Errorf("an assertion whose aud is an array: %d %s, want 401 (the issuer as a string)", r.Status, r.Body)
	}
	if r := e.form("/connect/sessions", withAssertion(url.Values{"products": {"accounts"}, "redirect_uri": {redirectURI}},
		assertion(e.srv.URL, testenv.AssertionOpts{}))); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeUnauthorizedClient {
		t.Errorf("a connect session (no PAR, no PKCE): %d %s, want 400 unauthorized_client", r.Status, r.Body)
	}
	secretFAPI := e.client(func(c *store.Client) { c.Security.Profile = store.ProfileFAPI2 }) // as if edited in the store
	if r := e.tokenRequest(secretFAPI, url.Values{"grant_type": {"client_credentials"}}); r.Status != http.StatusUnauthorized {
		t.Errorf("a fapi2 client with a secret: %d %s, want 401", r.Status, r.Body)
	}
	cd, verifier = code()
	e.clock.Advance(61 * time.Second)
	if r := exchange(cd, verifier, assertion(e.srv.URL, testenv.AssertionOpts{}), proof(dk)...); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidGrant {
		t.Errorf("a code 61 s old: %d %s, want invalid_grant (60 s at most)", r.Status, r.Body)
	}
}

// TestAuthorizeRedirectStatus: /oauth/authorize answers a GET with 302 and
// a form POST with 303, so that the browser follows with a GET and never
// re-posts the form (RFC 9700 §4.11; FAPI 2.0 forbids 307).
func TestAuthorizeRedirectStatus(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	q, _ := codeRequest(c)
	get := e.do(must(http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+q.Encode(), nil)))
	post := e.form("/oauth/authorize", q)
	if get.Status != http.StatusFound || post.Status != http.StatusSeeOther {
		t.Errorf("authorize: GET %d, POST %d; want 302 and 303", get.Status, post.Status)
	}
	q.Set("scope", "admin") // an error sent back to the client, after a POST too
	if r := e.form("/oauth/authorize", q); r.Status != http.StatusSeeOther || r.Header.Get("Location") == "" {
		t.Errorf("an error redirect after POST: %d, want 303", r.Status)
	}
}
