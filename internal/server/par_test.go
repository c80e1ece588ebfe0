package server_test

import (
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

// push posts an authorization request to /oauth/par as client c (Basic
// for a confidential client, client_id for a public one).
func (e *env) push(c testClient, v url.Values, header ...string) response {
	e.t.Helper()
	if c.IsPublic() {
		v.Set("client_id", c.ID)
		return e.form("/oauth/par", v, header...)
	}
	return e.form("/oauth/par", v, append(basic(c.ID, c.Secret), header...)...)
}

// codeRequest is a code request of c with PKCE, and its verifier.
func codeRequest(c testClient) (url.Values, string) {
	verifier := oauth2.GenerateVerifier()
	return url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
		"scope": {"accounts"}, "state": {"pushed-state"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}}, verifier
}

// TestPAR: a pushed request (RFC 9126) gets a one-time request_uri
// (urn:ietf:params:oauth:request_uri:…, 60 s); /oauth/authorize with
// client_id and it runs the pushed request, ignoring the other parameters
// sent (§4); it cannot be used twice, by another client, or once expired.
func TestPAR(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	q, verifier := codeRequest(c)
	r := e.push(c, q)
	uri := r.str("request_uri")
	if r.Status != http.StatusCreated || !strings.HasPrefix(uri, oauth.RequestURIPrefix) || r.JSON["expires_in"] != float64(60) {
		t.Fatalf("push: %d %s, want 201 with a request_uri and expires_in 60", r.Status, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("push: Cache-Control %q", cc)
	}
	// The query's other parameters are ignored: the pushed state comes back.
	loc := e.authorize(url.Values{"client_id": {c.ID}, "request_uri": {uri}, "state": {"not-pushed"}, "scope": {"balances"}}, "alice", true)
	if loc.Query().Get("state") != "pushed-state" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize with the request_uri: redirect %s, want a code and the pushed state", loc)
	}
	tok := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if tok.Status != http.StatusOK || tok.str("scope") != "accounts" {
		t.Fatalf("exchange: %d %s, want the pushed scope", tok.Status, tok.Body)
	}

	page := func(q url.Values) response {
		return newBrowser(e).send(must(http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+q.Encode(), nil)))
	}
	if r := page(url.Values{"client_id": {c.ID}, "request_uri": {uri}}); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), oauth.ErrCodeInvalidRequestURI) {
		t.Errorf("the request_uri again: %d %s, want 400 invalid_request_uri", r.Status, r.Body)
	}
	other := e.client()
	r = e.push(c, first(codeRequest(c)))
	if r := page(url.Values{"client_id": {other.ID}, "request_uri": {r.str("request_uri")}}); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), oauth.ErrCodeInvalidRequestURI) {
		t.Errorf("another client's request_uri: %d %s, want 400 invalid_request_uri", r.Status, r.Body)
	}
	// The guess with another client's id did not use it up.
	if loc := e.authorize(url.Values{"client_id": {c.ID}, "request_uri": {r.str("request_uri")}}, "alice", true); loc.Query().Get("code") == "" {
		t.Errorf("the request_uri after another client's try: redirect %s, want a code", loc)
	}
	r = e.push(c, first(codeRequest(c)))
	e.clock.Advance(61 * time.Second)
	if r := page(url.Values{"client_id": {c.ID}, "request_uri": {r.str("request_uri")}}); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), oauth.ErrCodeInvalidRequestURI) {
		t.Errorf("an expired request_uri: %d %s, want 400 invalid_request_uri", r.Status, r.Body)
	}
	if r := page(url.Values{"request_uri": {uri}}); r.Status != http.StatusBadRequest {
		t.Errorf("a request_uri without client_id: %d %s, want 400", r.Status, r.Body)
	}

	md := e.do(must(http.NewRequest(http.MethodGet, e.srv.URL+"/.well-known/oauth-authorization-server", nil)))
	if md.JSON["pushed_authorization_request_endpoint"] != e.srv.URL+"/oauth/par" || md.JSON["require_pushed_authorization_requests"] != false {
		t.Errorf("metadata: %v %v", md.JSON["pushed_authorization_request_endpoint"], md.JSON["require_pushed_authorization_requests"])
	}
}

func first[A, B any](a A, _ B) A { return a }

// TestPARRefusals: a pushed request is validated as /oauth/authorize
// validates, and every error is answered at the endpoint, as JSON, never
// at the redirect URI (RFC 9126 §2.3).
func TestPARRefusals(t *testing.T) {
	e := newEnv(t)
	c := e.client(allowed(accountsAPI))
	with := func(k, v string) url.Values {
		q, _ := codeRequest(c)
		q.Set(k, v)
		if v == "" {
			q.Del(k)
		}
		return q
	}
	for _, tc := range []struct {
		name   string
		r      response
		status int
		code   string
	}{
		{"an unregistered redirect_uri", e.push(c, with("redirect_uri", "https://evil.example/cb")), 400, oauth.ErrCodeInvalidRequest},
		{"a request_uri pushed", e.push(c, with("request_uri", oauth.RequestURIPrefix+"x")), 400, oauth.ErrCodeInvalidRequest},
		{"another client_id than the Basic one", e.push(c, with("client_id", e.client().ID)), 401, oauth.ErrCodeInvalidClient},
		{"no response_type", e.push(c, with("response_type", "")), 400, oauth.ErrCodeInvalidRequest},
		{"a scope not allowed", e.push(c, with("scope", "payroll")), 400, oauth.ErrCodeInvalidScope},
		{"a resource not allowed", e.push(c, with("resource", strangerAPI)), 400, oauth.ErrCodeInvalidTarget},
		{"the wrong secret", e.form("/oauth/par", first(codeRequest(c)), basic(c.ID, "gcs_wrong")...), 401, oauth.ErrCodeInvalidClient},
		{"no client authentication", e.form("/oauth/par", first(codeRequest(c))), 401, oauth.ErrCodeInvalidClient},
	} {
		if tc.r.Status != tc.status || tc.r.str("error") != tc.code || tc.r.Header.Get("Location") != "" {
			t.Errorf("push with %s: %d %s, want %d %s as JSON", tc.name, tc.r.Status, tc.r.Body, tc.status, tc.code)
		}
	}
	// A resource allowed is pushed and bound to the grant.
	q, verifier := codeRequest(c)
	q.Set("resource", accountsAPI)
	code := e.authorize(url.Values{"client_id": {c.ID}, "request_uri": {e.push(c, q).str("request_uri")}}, "alice", true).Query().Get("code")
	tok := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if aud := audOf(e.verifyJWTFor(tok.str("access_token"), accountsAPI)["aud"]); len(aud) != 1 || aud[0] != accountsAPI {
		t.Errorf("a pushed resource: aud %v", aud)
	}
}

// TestPARRequired: a client registered with
// require_pushed_authorization_requests, or every client under the
// server's --require-par, is refused at /oauth/authorize without a pushed
// request (sent back with invalid_request), and served with one.
func TestPARRequired(t *testing.T) {
	e := newEnv(t)
	c := e.client(func(c *store.Client) { c.Security.RequirePAR = true })
	q, _ := codeRequest(c)
	if loc := e.authorize(q, "alice", true); loc.Query().Get("error") != oauth.ErrCodeInvalidRequest {
		t.Errorf("a PAR client's request not pushed: redirect %s, want error=invalid_request", loc)
	}
	if loc := e.authorize(url.Values{"client_id": {c.ID}, "request_uri": {e.push(c, q).str("request_uri")}}, "alice", true); loc.Query().Get("code") == "" {
		t.Errorf("a PAR client's pushed request: redirect %s, want a code", loc)
	}
	other := e.client()
	q, _ = codeRequest(other)
	if loc := e.authorize(q, "alice", true); loc.Query().Get("code") == "" {
		t.Errorf("another client's request not pushed: redirect %s, want a code", loc)
	}
	e.provider.RequirePAR = true
	if loc := e.authorize(q, "alice", true); loc.Query().Get("error") != oauth.ErrCodeInvalidRequest {
		t.Errorf("under --require-par, a request not pushed: redirect %s, want error=invalid_request", loc)
	}
	md := e.do(must(http.NewRequest(http.MethodGet, e.srv.URL+"/.well-known/oauth-authorization-server", nil)))
	if md.JSON["require_pushed_authorization_requests"] != true {
		t.Errorf("metadata under --require-par: require_pushed_authorization_requests %v", md.JSON["require_pushed_authorization_requests"])
	}
}

// TestPARDPoP: a public client pushes with a DPoP proof (RFC 9449 §10.1):
// the code is bound to the proof's key as by dpop_jkt; a dpop_jkt of
// another key beside the proof is invalid_dpop_proof; the proof is spent.
func TestPARDPoP(t *testing.T) {
	e := newEnv(t)
	c := e.client(public)
	k, other := testenv.NewDPoPKey(t, "ES256"), testenv.NewDPoPKey(t, "ES256")
	parURL := e.srv.URL + "/oauth/par"
	q, verifier := codeRequest(c)
	proof := k.Proof(t, http.MethodPost, parURL, testenv.ProofOpts{IAT: e.clock.Now(), JTI: "par-1"})
	r := e.push(c, q, dpop.Header, proof)
	if r.Status != http.StatusCreated {
		t.Fatalf("push with a proof: %d %s", r.Status, r.Body)
	}
	if again := e.push(c, first(codeRequest(c)), dpop.Header, proof); again.Status != http.StatusBadRequest || again.str("error") != oauth.ErrCodeInvalidDPoPProof {
		t.Errorf("push with a proof used before: %d %s, want 400 invalid_dpop_proof", again.Status, again.Body)
	}
	code := e.authorize(url.Values{"client_id": {c.ID}, "request_uri": {r.str("request_uri")}}, "alice", true).Query().Get("code")
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	if r := e.dpopToken(c, other, exchange, testenv.ProofOpts{}); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidGrant {
		t.Errorf("the code with another key: %d %s, want invalid_grant", r.Status, r.Body)
	}
	if r := e.dpopToken(c, k, exchange, testenv.ProofOpts{}); r.Status != http.StatusOK || r.str("token_type") != oauth.TokenTypeDPoP {
		t.Errorf("the code with the pushing key: %d %s, want a DPoP token", r.Status, r.Body)
	}

	q, _ = codeRequest(c)
	q.Set("dpop_jkt", other.JKT())
	r = e.push(c, q, dpop.Header, k.Proof(t, http.MethodPost, parURL, testenv.ProofOpts{IAT: e.clock.Now()}))
	if r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidDPoPProof {
		t.Errorf("push with a dpop_jkt of another key than the proof's: %d %s, want invalid_dpop_proof", r.Status, r.Body)
	}
}
