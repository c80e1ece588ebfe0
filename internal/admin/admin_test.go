package admin_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/admin"
	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/testenv"
)

const (
	adminToken = "gat_admin_test_token_0123456789"
	issuer     = "https://issuer.example"
)

// The fake clock and the log buffer come from testenv.
type (
	clock      = testenv.Clock
	syncBuffer = testenv.SyncBuffer
)

// env is the admin API on real parts: a SQLite file, a signer, the core.
type env struct {
	t        *testing.T
	srv      *httptest.Server
	store    *sqlite.Store
	provider *oauth.Provider
	clock    *clock
	logs     *syncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with a change to the clients manager (its tiers).
func newEnvWith(t *testing.T, manager func(*clients.Manager)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	clk := testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	sg, err := signer.New(ctx, signer.Options{Store: st, KEK: make([]byte, 32), Algorithm: signer.ES256, Now: clk.Now})
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := &oauth.Provider{Store: st, Signer: sg, Issuer: issuer, Now: clk.Now, Logger: logger,
		ConsentURL: "https://consent.example/decide"}
	m := &clients.Manager{Store: st, Now: clk.Now}
	if manager != nil {
		manager(m)
	}
	h := admin.New(admin.Options{
		Token:    adminToken,
		Clients:  m,
		Store:    st,
		Provider: p,
		Keys:     sg,
		Logger:   logger,
		Now:      clk.Now,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: st, provider: p, clock: clk, logs: logs}
}

// resp is a decoded answer.
type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r resp) str(k string) string { s, _ := r.body[k].(string); return s }

// call sends a request with the admin token and a JSON body (when body is
// not "").
func (e *env) call(method, path, body string) resp {
	e.t.Helper()
	return e.callWith(method, path, body, map[string]string{"Authorization": "Bearer " + adminToken})
}

func (e *env) callWith(method, path, body string, hdr map[string]string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := resp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, raw)
		}
	}
	return r
}

// wantError checks an error answer's status and code.
func wantError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

func (e *env) createClient(body string) resp {
	e.t.Helper()
	r := e.call("POST", "/admin/clients", body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create client: %d %s", r.status, r.raw)
	}
	return r
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminToken))
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"no header", "", 401},
		{"wrong token", "Bearer not-the-token", 401},
		{"token prefix", "Bearer " + adminToken[:10], 401},
		{"token plus suffix", "Bearer " + adminToken + "x", 401},
		{"wrong scheme", basic, 401},
		{"token as scheme", adminToken, 401},
		{"empty bearer", "Bearer ", 401},
		{"right token", "Bearer " + adminToken, 200},
		{"scheme is case-insensitive", "bearer " + adminToken, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/admin/clients", "/admin/keys", "/admin/nowhere"} {
				r := e.callWith("GET", path, "", map[string]string{"Authorization": tt.header})
				if tt.want == 401 {
					wantError(t, r, 401, "unauthorized")
					if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
					}
				} else if path != "/admin/nowhere" && r.status != tt.want {
					t.Errorf("%s: %d %s", path, r.status, r.raw)
				}
			}
		})
	}

	// With no token configured, nothing gets in.
	srv := httptest.NewServer(admin.New(admin.Options{Clients: &clients.Manager{Store: e.store}}))
	defer srv.Close()
	for _, h := range []string{"", "Bearer ", "Bearer x"} {
		req, _ := http.NewRequest("GET", srv.URL+"/admin/clients", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("no admin token configured, %q: %d", h, res.StatusCode)
		}
	}
	if strings.Contains(e.logs.String(), adminToken[4:]) {
		t.Errorf("the admin token was logged")
	}
}

func TestClients(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	// A confidential client: the secret is shown once.
	r := e.createClient(`{"name":"Acme Web","redirect_uris":["https://acme.example/cb"],"scope":"accounts balances",
		"refresh_policy":"fixed","refresh_idle_timeout":"720h","access_token_ttl":900,"tier":"gold","metadata":{"team":"x"}}`)
	id, secret := r.str("client_id"), r.str("client_secret")
	if !strings.HasPrefix(secret, "gcs_") || id == "" {
		t.Fatalf("create answer %s", r.raw)
	}
	if loc := r.header.Get("Location"); loc != "/admin/clients/"+id {
		t.Errorf("Location %q", loc)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	for k, want := range map[string]any{
		"name": "Acme Web", "token_endpoint_auth_method": "client_secret_basic", "scope": "accounts balances",
		"environment": "sandbox", "state": "active", "refresh_policy": "fixed", "refresh_idle_timeout": 2592000.0,
		"refresh_token_ttl": 0.0, "access_token_ttl": 900.0, "access_token_format": "jwt", "tier": "gold",
		"resource_server": false, "consent_url": "", "created_at": "2026-03-01T12:00:00Z",
	} {
		if r.body[k] != want {
			t.Errorf("%s = %v, want %v", k, r.body[k], want)
		}
	}
	if g := r.body["grant_types"]; len(g.([]any)) != 2 {
		t.Errorf("grant_types %v", g)
	}
	c, err := e.store.GetClient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.SecretHash, store.Hash(secret)) {
		t.Errorf("the store does not hold the secret's hash")
	}
	if bytes.Contains(c.SecretHash, []byte(secret)) {
		t.Errorf("the store holds the plaintext secret")
	}
	if _, err := e.provider.AuthenticateClient(ctx, oauth.ClientCredentials{ID: id, Secret: secret, Presented: oauth.PresentedBasic}); err != nil {
		t.Errorf("the returned secret does not authenticate: %v", err)
	}

	// GET and list never show it.
	g := e.call("GET", "/admin/clients/"+id, "")
	if g.status != 200 || g.str("client_id") != id {
		t.Fatalf("get: %d %s", g.status, g.raw)
	}
	l := e.call("GET", "/admin/clients", "")
	if l.status != 200 || len(l.body["clients"].([]any)) != 1 {
		t.Fatalf("list: %d %s", l.status, l.raw)
	}
	for _, raw := range [][]byte{g.raw, l.raw} {
		if bytes.Contains(raw, []byte("client_secret\"")) || bytes.Contains(raw, []byte(secret)) {
			t.Errorf("a read shows the secret: %s", raw)
		}
	}

	// A public client has no secret.
	p := e.createClient(`{"name":"CLI","token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1/callback"]}`)
	if _, ok := p.body["client_secret"]; ok {
		t.Errorf("a public client got a secret: %s", p.raw)
	}
	if pc, _ := e.store.GetClient(ctx, p.str("client_id")); pc.SecretHash != nil || !pc.IsPublic() {
		t.Errorf("public client stored with a secret hash")
	}

	// PATCH changes only what is present.
	pa := e.call("PATCH", "/admin/clients/"+id, `{"name":"Acme","state":"suspended","metadata":null}`)
	if pa.status != 200 || pa.str("name") != "Acme" || pa.str("state") != "suspended" || pa.str("scope") != "accounts balances" ||
		pa.str("refresh_policy") != "fixed" || pa.body["access_token_ttl"] != 900.0 || len(pa.body["metadata"].(map[string]any)) != 0 {
		t.Fatalf("patch: %d %s", pa.status, pa.raw)
	}
	if _, ok := pa.body["client_secret"]; ok {
		t.Errorf("patch answer shows a secret")
	}
	if c2, _ := e.store.GetClient(ctx, id); !bytes.Equal(c2.SecretHash, c.SecretHash) || c2.State != "suspended" {
		t.Errorf("patch lost the secret or the change")
	}

	// DELETE, then it is gone.
	if d := e.call("DELETE", "/admin/clients/"+id, ""); d.status != http.StatusNoContent || len(d.raw) != 0 {
		t.Fatalf("delete: %d %s", d.status, d.raw)
	}
	wantError(t, e.call("GET", "/admin/clients/"+id, ""), 404, "not_found")
	wantError(t, e.call("DELETE", "/admin/clients/"+id, ""), 404, "not_found")
	wantError(t, e.call("PATCH", "/admin/clients/"+id, `{"name":"x"}`), 404, "not_found")

	if logs := e.logs.String(); strings.Contains(logs, secret) || strings.Contains(logs, secret[4:]) {
		t.Errorf("the client secret was logged")
	}
}

func TestClientErrors(t *testing.T) {
	e := newEnv(t)
	id := e.createClient(`{"name":"x"}`).str("client_id")
	huge := `{"name":"` + strings.Repeat("a", 1<<20) + `"}`
	tests := []struct {
		name, method, path, body, ctype string
		status                          int
		code                            string
		desc                            []string
	}{
		{"every problem at once", "POST", "/admin/clients",
			`{"name":"","grant_types":["password"],"redirect_uris":["http://evil.example/cb"],"environment":"moon","access_token_ttl":"48h"}`,
			"", 400, "invalid_client_metadata",
			[]string{"name is required", "environment", `"password"`, "redirect_uris[0]", "access_token_ttl"}},
		{"unknown field", "POST", "/admin/clients", `{"name":"x","client_secret":"mine"}`, "", 400, "invalid_request", []string{"client_secret"}},
		{"wrong type", "POST", "/admin/clients", `{"name":["x"]}`, "", 400, "invalid_request", []string{"name"}},
		{"malformed JSON", "POST", "/admin/clients", `{"name":`, "", 400, "invalid_request", nil},
		{"trailing data", "POST", "/admin/clients", `{"name":"x"}{}`, "", 400, "invalid_request", nil},
		{"empty body", "POST", "/admin/clients", "", "", 400, "invalid_request", []string{"body is required"}},
		{"form body", "POST", "/admin/clients", `{"name":"x"}`, "application/x-www-form-urlencoded", 400, "invalid_request", []string{"application/json"}},
		{"no content type", "POST", "/admin/clients", `{"name":"x"}`, "-", 400, "invalid_request", []string{"application/json"}},
		{"charset is fine", "POST", "/admin/clients", `{"name":"x"}`, "application/json; charset=utf-8", 201, "", nil},
		{"too large", "POST", "/admin/clients", huge, "", 413, "invalid_request", nil},
		{"patch validation", "PATCH", "/admin/clients/" + id, `{"grant_types":["refresh_token"],"tier":"a b"}`, "", 400,
			"invalid_client_metadata", []string{"refresh_token grant requires", "tier"}},
		{"patch unknown field", "PATCH", "/admin/clients/" + id, `{"client_id":"other"}`, "", 400, "invalid_request", []string{"client_id"}},
		{"patch empty", "PATCH", "/admin/clients/" + id, "", "", 400, "invalid_request", nil},
		{"unknown route", "GET", "/admin/nothing", "", "", 404, "not_found", nil},
		{"wrong method", "PUT", "/admin/clients/" + id, `{}`, "", 405, "method_not_allowed", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": "Bearer " + adminToken}
			switch tt.ctype {
			case "":
			case "-":
				hdr["Content-Type"] = ""
			default:
				hdr["Content-Type"] = tt.ctype
			}
			r := e.callWith(tt.method, tt.path, tt.body, hdr)
			if tt.code == "" {
				if r.status != tt.status {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				return
			}
			wantError(t, r, tt.status, tt.code)
			for _, d := range tt.desc {
				if !strings.Contains(r.str("error_description"), d) {
					t.Errorf("error_description %q lacks %q", r.str("error_description"), d)
				}
			}
			if tt.status == 405 && r.header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
		})
	}
	if r := e.call("GET", "/admin/clients/"+id, ""); r.str("name") != "x" || r.str("tier") != "" {
		t.Errorf("a refused patch changed the client: %s", r.raw)
	}
}

// authorize starts an authorization request through the core, as
// /oauth/authorize would, and returns its challenge.
func (e *env) authorize(clientID, responseType, scope, state string) string {
	e.t.Helper()
	q := url.Values{"client_id": {clientID}, "response_type": {responseType}, "state": {state},
		"redirect_uri": {"https://acme.example/cb"}}
	if scope != "" {
		q.Set("scope", scope)
	}
	res, err := e.provider.Authorize(context.Background(), q)
	if err != nil {
		e.t.Fatalf("authorize: %v", err)
	}
	if !strings.HasPrefix(res.RedirectTo, "https://consent.example/decide?challenge=") {
		e.t.Fatalf("authorize redirects to %q", res.RedirectTo)
	}
	return res.Request.ID
}

func redirectQuery(t *testing.T, r resp) url.Values {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("decision: %d %s", r.status, r.raw)
	}
	u, err := url.Parse(r.str("redirect_to"))
	if err != nil || u.Scheme+"://"+u.Host+u.Path != "https://acme.example/cb" {
		t.Fatalf("redirect_to %q", r.str("redirect_to"))
	}
	return u.Query()
}

func TestAuthorizationsAndConnections(t *testing.T) {
	e := newEnv(t)
	cr := e.createClient(`{"name":"Acme","redirect_uris":["https://acme.example/cb"],"scope":"accounts balances identity"}`)
	clientID := cr.str("client_id")

	// GET shows the pending request.
	ch := e.authorize(clientID, "code", "accounts balances", "st-1")
	g := e.call("GET", "/admin/authorizations/"+ch, "")
	if g.status != 200 {
		t.Fatalf("get authorization: %d %s", g.status, g.raw)
	}
	for k, want := range map[string]string{
		"challenge": ch, "client_id": clientID, "client_name": "Acme", "response_type": "code",
		"redirect_uri": "https://acme.example/cb", "scope": "accounts balances", "state": "st-1",
		"requested_at": "2026-03-01T12:00:00Z", "expires_at": "2026-03-01T12:30:00Z",
	} {
		if g.str(k) != want {
			t.Errorf("%s = %q, want %q", k, g.str(k), want)
		}
	}

	// Refused decisions leave the request pending.
	for _, tt := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"no subject", `{"products":["accounts"]}`, 400, "invalid_request"},
		{"more than requested", `{"subject":"u1","scope":"accounts identity"}`, 400, "invalid_scope"},
		{"scope and products", `{"subject":"u1","scope":"accounts","products":["accounts"]}`, 400, "invalid_request"},
		{"empty products", `{"subject":"u1","products":[]}`, 400, "invalid_scope"},
		{"bad product", `{"subject":"u1","products":["a b"]}`, 400, "invalid_scope"},
		{"unknown field", `{"subject":"u1","user":"x"}`, 400, "invalid_request"},
		{"bad connection type", `{"subject":"u1","connection_type":"magic"}`, 400, "invalid_request"},
		{"no body", ``, 400, "invalid_request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.call("POST", "/admin/authorizations/"+ch+"/accept", tt.body), tt.status, tt.code)
			if r := e.call("GET", "/admin/authorizations/"+ch, ""); r.status != 200 {
				t.Errorf("the refused decision consumed the request: %d", r.status)
			}
		})
	}

	// Accept: code + state + iss.
	a := e.call("POST", "/admin/authorizations/"+ch+"/accept", `{"subject":"user-1","products":["accounts"],
		"provider_id":"bank-x","customer_id":"cust-1","customer_name":"Jane","entity_ids":["e1","e2"],"connection_type":"finch"}`)
	q := redirectQuery(t, a)
	if !strings.HasPrefix(q.Get("code"), oauth.PrefixCode) || q.Get("state") != "st-1" || q.Get("iss") != issuer {
		t.Errorf("accept redirect query %v", q)
	}
	// Decided once: a second decision and a GET are 404.
	wantError(t, e.call("POST", "/admin/authorizations/"+ch+"/accept", `{"subject":"user-1"}`), 404, "not_found")
	wantError(t, e.call("POST", "/admin/authorizations/"+ch+"/reject", ``), 404, "not_found")
	wantError(t, e.call("GET", "/admin/authorizations/"+ch, ""), 404, "not_found")
	wantError(t, e.call("GET", "/admin/authorizations/unknown", ""), 404, "not_found")

	// Reject: access_denied + state + iss; the description is passed on.
	ch2 := e.authorize(clientID, "code", "", "st-2")
	rq := redirectQuery(t, e.call("POST", "/admin/authorizations/"+ch2+"/reject", `{"error_description":"User said no."}`))
	if rq.Get("error") != "access_denied" || rq.Get("state") != "st-2" || rq.Get("iss") != issuer ||
		rq.Get("error_description") != "User said no." || rq.Has("code") {
		t.Errorf("reject redirect query %v", rq)
	}
	// Reject with no body at all.
	ch3 := e.authorize(clientID, "code", "", "st-3")
	if rq := redirectQuery(t, e.callWith("POST", "/admin/authorizations/"+ch3+"/reject", "",
		map[string]string{"Authorization": "Bearer " + adminToken})); rq.Get("error") != "access_denied" {
		t.Errorf("reject without body: %v", rq)
	}

	// Accept with scope as a string, and no products: everything requested.
	ch4 := e.authorize(clientID, "code", "", "")
	q4 := redirectQuery(t, e.call("POST", "/admin/authorizations/"+ch4+"/accept", `{"subject":"user-2"}`))
	if q4.Get("code") == "" || q4.Has("state") {
		t.Errorf("accept without state: %v", q4)
	}

	// A temp_token client ends the flow with temp_token.
	tt := e.createClient(`{"name":"TT","response_types":["temp_token"],"redirect_uris":["https://acme.example/cb"],"scope":"accounts"}`)
	ch5 := e.authorize(tt.str("client_id"), "temp_token", "", "s5")
	q5 := redirectQuery(t, e.call("POST", "/admin/authorizations/"+ch5+"/accept", `{"subject":"u","scope":"accounts"}`))
	if !strings.HasPrefix(q5.Get("temp_token"), oauth.PrefixTempToken) || q5.Has("code") {
		t.Errorf("temp_token redirect %v", q5)
	}

	// Connections of the client, newest first.
	l := e.call("GET", "/admin/connections?client_id="+url.QueryEscape(clientID), "")
	conns, _ := l.body["connections"].([]any)
	if l.status != 200 || len(conns) != 2 {
		t.Fatalf("list connections: %d %s", l.status, l.raw)
	}
	if all := e.call("GET", "/admin/connections", ""); len(all.body["connections"].([]any)) != 3 {
		t.Errorf("all connections: %s", all.raw)
	}
	if none := e.call("GET", "/admin/connections?client_id=nobody", ""); none.status != 200 || string(none.raw) != "{\"connections\":[]}\n" {
		t.Errorf("connections of an unknown client: %d %s", none.status, none.raw)
	}
	var first map[string]any
	for _, c := range conns {
		if c.(map[string]any)["subject"] == "user-1" {
			first = c.(map[string]any)
		}
	}
	if first == nil {
		t.Fatalf("no connection for user-1 in %s", l.raw)
	}
	connID := first["id"].(string)
	gc := e.call("GET", "/admin/connections/"+connID, "")
	want := map[string]any{
		"id": connID, "client_id": clientID, "customer_id": "cust-1", "customer_name": "Jane", "provider_id": "bank-x",
		"subject": "user-1", "products": []any{"accounts"}, "entity_ids": []any{"e1", "e2"}, "connection_type": "finch",
		"environment": "sandbox", "status": "active", "created_at": "2026-03-01T12:00:00Z",
		// bank-x is not in the (empty) catalogue: the default lifetimes,
		// 90 days of consent and 30 more of retention.
		"consent_expires_at": "2026-05-30T12:00:00Z", "data_retention_until": "2026-06-29T12:00:00Z",
	}
	if gc.status != 200 {
		t.Fatalf("get connection: %d %s", gc.status, gc.raw)
	}
	for k, w := range want {
		gj, _ := json.Marshal(gc.body[k])
		wj, _ := json.Marshal(w)
		if !bytes.Equal(gj, wj) {
			t.Errorf("connection %s = %s, want %s", k, gj, wj)
		}
	}
	for _, k := range []string{"revoked_at"} {
		if _, ok := gc.body[k]; ok {
			t.Errorf("zero time %s shown", k)
		}
	}

	// Revoke, twice.
	e.clock.Advance(time.Hour)
	for range 2 {
		rv := e.call("POST", "/admin/connections/"+connID+"/revoke", "")
		if rv.status != 200 || rv.str("status") != "revoked" || rv.str("revoked_at") != "2026-03-01T13:00:00Z" {
			t.Fatalf("revoke: %d %s", rv.status, rv.raw)
		}
	}
	if c, _ := e.store.GetConnection(context.Background(), connID); c.Status != store.ConnectionRevoked {
		t.Errorf("stored status %q", c.Status)
	}
	wantError(t, e.call("GET", "/admin/connections/nope", ""), 404, "not_found")
	wantError(t, e.call("POST", "/admin/connections/nope/revoke", ""), 404, "not_found")
	wantError(t, e.call("POST", "/admin/connections/"+connID+"/revoke", `{"reason":"x"}`), 400, "invalid_request")
}

func TestKeys(t *testing.T) {
	e := newEnv(t)
	l := e.call("GET", "/admin/keys", "")
	keys, _ := l.body["keys"].([]any)
	if l.status != 200 || len(keys) != 1 {
		t.Fatalf("keys: %d %s", l.status, l.raw)
	}
	old := keys[0].(map[string]any)
	if old["state"] != store.KeyCurrent || old["alg"] != "ES256" || old["kid"] == "" || old["created_at"] != "2026-03-01T12:00:00Z" ||
		old["activates_at"] != "2026-03-01T12:00:00Z" || old["keep_until"] != nil {
		t.Errorf("key %v", old)
	}
	r := e.call("POST", "/admin/keys/rotate", "")
	keys, _ = r.body["keys"].([]any)
	rotated, _ := r.body["rotated"].([]any)
	if r.status != 200 || len(keys) != 2 || len(rotated) != 1 {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}
	next := rotated[0].(map[string]any)
	// Published at once, signing after the default publication delay.
	if next["state"] != store.KeyNext || next["kid"] == old["kid"] || next["activates_at"] != "2026-03-01T12:03:00Z" {
		t.Errorf("rotated %v", next)
	}
	states := func(keys []any) map[string]string {
		out := map[string]string{}
		for _, k := range keys {
			m := k.(map[string]any)
			out[m["kid"].(string)] = m["state"].(string)
		}
		return out
	}
	if got := states(keys); got[next["kid"].(string)] != store.KeyNext || got[old["kid"].(string)] != store.KeyCurrent {
		t.Errorf("states after rotation: %v", got)
	}
	e.clock.Advance(3 * time.Minute)
	keys, _ = e.call("GET", "/admin/keys", "").body["keys"].([]any)
	if got := states(keys); got[next["kid"].(string)] != store.KeyCurrent || got[old["kid"].(string)] != store.KeyRetired {
		t.Errorf("states after the publication delay: %v", got)
	}
	if r := e.call("POST", "/admin/keys/rotate", `{"alg":"ES256"}`); r.status != 200 {
		t.Errorf("rotate ES256: %d %s", r.status, r.raw)
	}
	wantError(t, e.call("POST", "/admin/keys/rotate", `{"alg":"RS256"}`), 400, "invalid_request")
	wantError(t, e.call("POST", "/admin/keys/rotate", `{"algorithm":"ES256"}`), 400, "invalid_request")
	wantError(t, e.call("GET", "/admin/keys/rotate", ""), 405, "method_not_allowed")
}

// failingStore fails every call, with a cause that must not be shown.
type failingStore struct{}

var errDB = errors.New("db down: password=hunter2")

func (failingStore) GetConnection(context.Context, string) (store.Connection, error) {
	return store.Connection{}, errDB
}
func (failingStore) ListConnections(context.Context, string, store.Page) ([]store.Connection, string, error) {
	return nil, "", errDB
}
func (failingStore) RevokeConnection(context.Context, string, time.Time) (store.Connection, error) {
	return store.Connection{}, errDB
}
func (failingStore) ExpireConsents(context.Context, time.Time, int) (int, error)   { return 0, errDB }
func (failingStore) PurgeConnections(context.Context, time.Time, int) (int, error) { return 0, errDB }

func TestServerErrorHidesCause(t *testing.T) {
	logs := &syncBuffer{}
	srv := httptest.NewServer(admin.New(admin.Options{
		Token: adminToken, Store: failingStore{}, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}))
	defer srv.Close()
	for _, path := range []string{"/admin/connections", "/admin/connections/x"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var body map[string]string
		json.Unmarshal(raw, &body)
		if res.StatusCode != 500 || body["error"] != "server_error" || strings.Contains(string(raw), "hunter2") {
			t.Errorf("%s: %d %s", path, res.StatusCode, raw)
		}
		// The answer's error id is in the log, next to the cause.
		i := strings.Index(body["error_description"], "error id ")
		if i < 0 {
			t.Fatalf("no error id in %q", body["error_description"])
		}
		errID := strings.TrimSuffix(body["error_description"][i+len("error id "):], ").")
		if !slices.ContainsFunc(strings.Split(logs.String(), "\n"), func(l string) bool {
			return strings.Contains(l, errID) && strings.Contains(l, "hunter2")
		}) {
			t.Errorf("the log has no line with error id %s and the cause:\n%s", errID, logs.String())
		}
	}
	// Routes whose dependency is missing do not exist.
	req, _ := http.NewRequest("GET", srv.URL+"/admin/clients", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("clients route without a manager: %d", res.StatusCode)
	}
}
