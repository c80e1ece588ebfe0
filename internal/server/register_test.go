package server_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// registerReply is a decoded answer of POST /oauth/register.
type registerReply struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func registerClient(t *testing.T, e *testenv.Env, contentType, body string) registerReply {
	t.Helper()
	return send(t, http.MethodPost, e.URL+"/oauth/register", "", contentType, body)
}

// send makes a request to uri with a body of contentType ("" = none) and
// the Bearer token ("" = none), and decodes the answer.
func send(t *testing.T, method, uri, token, contentType, body string) registerReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, uri, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := registerReply{Status: resp.StatusCode, Header: resp.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	return r
}

// An MCP-style agent's registration: a public client on a loopback port.
const agentRegistration = `{
	"client_name": "Example Agent CLI",
	"redirect_uris": ["http://127.0.0.1:51000/callback"],
	"grant_types": ["authorization_code", "refresh_token"],
	"response_types": ["code"],
	"token_endpoint_auth_method": "none",
	"client_uri": "https://agent.example",
	"logo_uri": "https://agent.example/logo.png",
	"contacts": ["ops@agent.example"],
	"software_id": "4NRB1-0XZABZI9E6-5SM3R",
	"software_version": "2.1"
}`

func TestRegisterPublicClient(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	r := registerClient(t, e, "application/json", agentRegistration)
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	want := []string{"client_id", "client_id_issued_at", "client_name", "grant_types", "redirect_uris",
		"registration_access_token", "registration_client_uri", "response_types", "scope", "token_endpoint_auth_method"}
	if got := slices.Sorted(maps.Keys(r.JSON)); !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	id, _ := r.JSON["client_id"].(string)
	if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
		t.Errorf("client_id %q is not a UUIDv7", id)
	}
	if at, _ := r.JSON["client_id_issued_at"].(float64); int64(at) != e.Clock.Now().Unix() {
		t.Errorf("client_id_issued_at %v, want %d", r.JSON["client_id_issued_at"], e.Clock.Now().Unix())
	}
	for k, v := range map[string]string{
		"client_name": "Example Agent CLI", "token_endpoint_auth_method": "none",
		"scope": "accounts transactions balances identity company directory individual employment payment pay_statement benefits quotes positions",
	} {
		if r.JSON[k] != v {
			t.Errorf("%s = %v, want %q", k, r.JSON[k], v)
		}
	}
	for k, v := range map[string][]any{
		"redirect_uris":  {"http://127.0.0.1:51000/callback"},
		"grant_types":    {"authorization_code", "refresh_token"},
		"response_types": {"code"},
	} {
		if got, _ := r.JSON[k].([]any); !slices.Equal(got, v) {
			t.Errorf("%s = %v, want %v", k, r.JSON[k], v)
		}
	}
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.Header)
	}
	c, err := e.Store.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsPublic() || len(c.SecretHash) != 0 || c.Metadata[clients.MetadataRegistration] != "dynamic" ||
		c.RefreshPolicy != store.RefreshRotating || c.State != store.ClientActive {
		t.Errorf("stored client %+v", c)
	}
}

func TestRegisterDefaults(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	r := registerClient(t, e, "application/json; charset=utf-8",
		`{"redirect_uris":["com.example.agent:/oauth/callback","http://[::1]/cb"],"scope":"accounts balances"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	if r.JSON["client_name"] != "Unnamed application" || r.JSON["token_endpoint_auth_method"] != "none" || r.JSON["scope"] != "accounts balances" {
		t.Errorf("defaults: %s", r.Body)
	}
	if g, _ := r.JSON["grant_types"].([]any); !slices.Equal(g, []any{"authorization_code", "refresh_token"}) {
		t.Errorf("grant_types %v", r.JSON["grant_types"])
	}
	// authorization_code alone is honoured: no refresh tokens.
	r = registerClient(t, e, "application/json", `{"redirect_uris":["http://localhost:8080/cb"],"grant_types":["authorization_code"]}`)
	if g, _ := r.JSON["grant_types"].([]any); r.Status != 201 || !slices.Equal(g, []any{"authorization_code"}) {
		t.Errorf("authorization_code only: %d %s", r.Status, r.Body)
	}
}

// TestRegisterErrors: RFC 7591 §3.2.2 errors, 400 (413 for a body too
// large), exactly {error, error_description}, never a 500.
func TestRegisterErrors(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	const js = "application/json"
	loop := `"redirect_uris":["http://127.0.0.1:51000/callback"]`
	tests := []struct {
		name, ct, body string
		status         int
		err            string
	}{
		{"form body", "application/x-www-form-urlencoded", "redirect_uris=http://127.0.0.1/cb", 400, "invalid_client_metadata"},
		{"no content type", "", `{` + loop + `}`, 400, "invalid_client_metadata"},
		{"malformed json", js, `{"redirect_uris":`, 400, "invalid_client_metadata"},
		{"json array", js, `[` + loop[16:] + `]`, 400, "invalid_client_metadata"},
		{"json null", js, `null`, 400, "invalid_client_metadata"},
		{"trailing data", js, `{` + loop + `} {}`, 400, "invalid_client_metadata"},
		{"wrong type", js, `{"redirect_uris":"http://127.0.0.1/cb"}`, 400, "invalid_client_metadata"},
		{"oversized", js, `{` + loop + `,"x":"` + strings.Repeat("a", 20<<10) + `"}`, 413, "invalid_client_metadata"},
		{"no redirect_uris", js, `{"client_name":"x"}`, 400, "invalid_redirect_uri"},
		{"empty redirect_uris", js, `{"redirect_uris":[]}`, 400, "invalid_redirect_uri"},
		{"https redirect", js, `{"redirect_uris":["https://agent.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"http remote redirect", js, `{"redirect_uris":["http://agent.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"scheme without dot", js, `{"redirect_uris":["agent:/cb"]}`, 400, "invalid_redirect_uri"},
		{"javascript scheme", js, `{"redirect_uris":["javascript:alert(1)"]}`, 400, "invalid_redirect_uri"},
		{"private scheme no path", js, `{"redirect_uris":["com.example.app:"]}`, 400, "invalid_redirect_uri"},
		{"fragment", js, `{"redirect_uris":["http://127.0.0.1/cb#x"]}`, 400, "invalid_redirect_uri"},
		{"userinfo", js, `{"redirect_uris":["http://u:p@127.0.0.1/cb"]}`, 400, "invalid_redirect_uri"},
		{"relative", js, `{"redirect_uris":["/cb"]}`, 400, "invalid_redirect_uri"},
		{"too many", js, `{"redirect_uris":[` + strings.Repeat(`"http://127.0.0.1/cb",`, 20) + `"http://127.0.0.1/cb"]}`, 400, "invalid_redirect_uri"},
		{"second bad", js, `{"redirect_uris":["http://127.0.0.1/cb","https://evil.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"confidential", js, `{` + loop + `,"token_endpoint_auth_method":"client_secret_basic"}`, 400, "invalid_client_metadata"},
		{"private_key_jwt", js, `{` + loop + `,"token_endpoint_auth_method":"private_key_jwt"}`, 400, "invalid_client_metadata"},
		{"client_credentials", js, `{` + loop + `,"grant_types":["client_credentials"]}`, 400, "invalid_client_metadata"},
		{"implicit", js, `{` + loop + `,"grant_types":["authorization_code","implicit"]}`, 400, "invalid_client_metadata"},
		{"refresh only", js, `{` + loop + `,"grant_types":["refresh_token"]}`, 400, "invalid_client_metadata"},
		{"no grants", js, `{` + loop + `,"grant_types":[]}`, 400, "invalid_client_metadata"},
		{"token response", js, `{` + loop + `,"response_types":["token"]}`, 400, "invalid_client_metadata"},
		{"no responses", js, `{` + loop + `,"response_types":[]}`, 400, "invalid_client_metadata"},
		{"scope not offered", js, `{` + loop + `,"scope":"accounts admin"}`, 400, "invalid_client_metadata"},
		{"scope malformed", js, `{` + loop + `,"scope":"a\"b"}`, 400, "invalid_client_metadata"},
		{"name too long", js, `{` + loop + `,"client_name":"` + strings.Repeat("n", 201) + `"}`, 400, "invalid_client_metadata"},
		{"name control chars", js, `{` + loop + `,"client_name":"a\u0007b"}`, 400, "invalid_client_metadata"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := registerClient(t, e, tc.ct, tc.body)
			if r.Status != tc.status || r.JSON["error"] != tc.err {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tc.status, tc.err)
			}
			if d, _ := r.JSON["error_description"].(string); d == "" || len(r.JSON) != 2 {
				t.Errorf("body %s, want exactly {error, error_description}", r.Body)
			}
		})
	}
	clients, _, err := e.Store.ListClients(context.Background(), store.Page{})
	if err != nil || len(clients) != 0 {
		t.Errorf("refused registrations stored %d clients (%v)", len(clients), err)
	}
}

// TestRegisteredClientCodeFlowWithOAuth2Library: a dynamically registered
// client completes the code flow with PKCE using golang.org/x/oauth2, on any
// loopback port, and its refresh tokens rotate.
func TestRegisteredClientCodeFlowWithOAuth2Library(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	r := registerClient(t, e, "application/json", agentRegistration)
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	c, err := e.Store.GetClient(context.Background(), r.JSON["client_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// Registered on port 51000, the authorization uses another loopback port
	// (testenv.RedirectURI), as RFC 8252 §7.3 allows.
	g := e.Code(t, c, oauth.Consent{Subject: "agent-user", Scopes: []string{"accounts", "balances"}}, true)
	cfg := oauth2.Config{
		ClientID:    c.ID,
		Endpoint:    oauth2.Endpoint{AuthURL: e.URL + "/oauth/authorize", TokenURL: e.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: g.RedirectURI,
	}
	ctx := context.Background()
	tok, err := cfg.Exchange(ctx, g.Code, oauth2.VerifierOption(g.Verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Extra("scope") != "accounts balances" {
		t.Fatalf("token %+v scope %v", tok, tok.Extra("scope"))
	}
	claims := e.VerifyJWT(t, tok.AccessToken)
	if claims["client_id"] != c.ID || claims["sub"] != "agent-user" {
		t.Errorf("claims %v", claims)
	}
	// Refresh: the token rotates.
	e.Clock.Advance(2 * time.Hour)
	old := tok.RefreshToken
	tok.Expiry = time.Now().Add(-time.Minute) // oauth2 checks expiry by the real clock
	fresh, err := cfg.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == old {
		t.Errorf("refresh token did not rotate")
	}
	e.VerifyJWT(t, fresh.AccessToken)
	// The same code again: refused, and the grant is revoked (RFC 6749
	// §4.1.2), rotated refresh tokens included.
	if _, err := cfg.Exchange(ctx, g.Code, oauth2.VerifierOption(g.Verifier)); err == nil {
		t.Error("code replay accepted")
	}
	fresh.Expiry = time.Now().Add(-time.Minute)
	if _, err := cfg.TokenSource(ctx, fresh).Token(); err == nil {
		t.Error("refresh after code replay accepted")
	}
}
