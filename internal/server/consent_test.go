package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/admin"
	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/store"
)

// TestExternalConsent: with consent_url set, /oauth/authorize sends the
// browser to the integrator's consent app with a challenge; the app reads and
// accepts it through the admin API, and the redirect it gets back delivers a
// code that the client exchanges.
func TestExternalConsent(t *testing.T) {
	e := newEnv(t)
	const token = "admin-test-token"
	adm := httptest.NewServer(admin.New(admin.Options{
		Token: token, Clients: &clients.Manager{Store: e.store, Now: e.clock.Now},
		Store: e.store, Provider: e.provider, Now: e.clock.Now,
	}))
	t.Cleanup(adm.Close)
	c := e.client(func(c *store.Client) { c.ConsentURL = "https://consent.example/approve" })

	adminCall := func(method, path, body string) response {
		req, _ := http.NewRequest(method, adm.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		return e.do(req)
	}
	start := func(state string) (challenge string) {
		verifier := oauth2.GenerateVerifier()
		q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI}, "state": {state},
			"scope": {"accounts balances"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/oauth/authorize?"+q.Encode(), nil)
		r := e.do(req)
		loc, _ := url.Parse(r.Header.Get("Location"))
		if r.Status != http.StatusFound || loc == nil || loc.Host != "consent.example" || loc.Path != "/approve" {
			t.Fatalf("authorize: %d → %q, want the consent app", r.Status, r.Header.Get("Location"))
		}
		return loc.Query().Get("challenge")
	}

	ch := start("s1")
	got := adminCall("GET", "/admin/authorizations/"+ch, "")
	if got.Status != 200 || got.str("client_id") != c.ID || got.str("scope") != "accounts balances" {
		t.Fatalf("GET authorization: %d %s", got.Status, got.Body)
	}
	// Granting more than asked is refused and leaves the request pending.
	if r := adminCall("POST", "/admin/authorizations/"+ch+"/accept", `{"subject":"u-1","scope":"accounts transactions"}`); r.Status != 400 {
		t.Fatalf("over-grant: %d %s", r.Status, r.Body)
	}
	acc := adminCall("POST", "/admin/authorizations/"+ch+"/accept",
		`{"subject":"u-1","products":["accounts"],"provider_id":"acme-bank","customer_id":"cust-9","customer_name":"Acme Inc","entity_ids":["e1"]}`)
	if acc.Status != 200 {
		t.Fatalf("accept: %d %s", acc.Status, acc.Body)
	}
	to, _ := url.Parse(acc.str("redirect_to"))
	if !strings.HasPrefix(to.String(), redirectURI+"?") || to.Query().Get("state") != "s1" || to.Query().Get("code") == "" {
		t.Fatalf("redirect_to %s", to)
	}
	if r := adminCall("POST", "/admin/authorizations/"+ch+"/accept", `{"subject":"u-1"}`); r.Status != 404 {
		t.Fatalf("second accept: %d", r.Status)
	}

	// The code is bound to the PKCE challenge: no verifier, no token.
	r := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {to.Query().Get("code")}, "redirect_uri": {redirectURI}})
	if r.str("error") != "invalid_grant" {
		t.Fatalf("exchange without verifier: %s", r.Body)
	}

	// The connection carries what the consent app said.
	list := adminCall("GET", "/admin/connections?client_id="+c.ID, "")
	var conns struct {
		Connections []map[string]any `json:"connections"`
	}
	if err := json.Unmarshal(list.Body, &conns); err != nil || len(conns.Connections) != 1 {
		t.Fatalf("connections: %s", list.Body)
	}
	conn := conns.Connections[0]
	if conn["provider_id"] != "acme-bank" || conn["customer_name"] != "Acme Inc" || conn["subject"] != "u-1" || conn["status"] != "active" {
		t.Fatalf("connection %v", conn)
	}

	// Reject: the client is told access_denied.
	ch = start("s2")
	rej := adminCall("POST", "/admin/authorizations/"+ch+"/reject", "")
	to, _ = url.Parse(rej.str("redirect_to"))
	if rej.Status != 200 || to.Query().Get("error") != "access_denied" || to.Query().Get("state") != "s2" {
		t.Fatalf("reject: %d %s", rej.Status, rej.Body)
	}
}

// TestConnectionRevocationKillsTokens: revoking a connection makes its
// access tokens inactive and its refresh tokens useless.
func TestConnectionRevocationKillsTokens(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	_, tok := codeFlow(t, e, c, "accounts")
	connID, _ := e.verifyJWT(tok.AccessToken)["connection_id"].(string)
	if _, err := e.store.RevokeConnection(t.Context(), connID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if e.introspect(c, tok.AccessToken)["active"] != false {
		t.Fatal("access token of a revoked connection active")
	}
	if r := e.refresh(c, tok.RefreshToken, ""); r.str("error") != "invalid_grant" {
		t.Fatalf("refresh of a revoked connection: %s", r.Body)
	}
}
