package server_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/grantd/grantd/internal/janitor"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// grant runs /oauth/authorize and decides the request through the core as a
// consent app would (no pages), then exchanges the code. It returns the token
// response.
func (e *env) grant(c testClient, consent oauth.Consent) response {
	e.t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI}, "state": {"s"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	res, err := e.provider.Authorize(context.Background(), q)
	if err != nil {
		e.t.Fatalf("authorize: %v", err)
	}
	if consent.Subject == "" {
		consent.Subject = "ivy"
	}
	to, err := e.provider.Accept(context.Background(), res.Request.ID, consent)
	if err != nil {
		e.t.Fatalf("accept: %v", err)
	}
	u, _ := url.Parse(to)
	r := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if r.Status != 200 {
		e.t.Fatalf("exchange: %d %s", r.Status, r.Body)
	}
	return r
}

func (e *env) connection(id string) store.Connection {
	e.t.Helper()
	conn, err := e.store.GetConnection(context.Background(), id)
	if err != nil {
		e.t.Fatalf("connection %s: %v", id, err)
	}
	return conn
}

func TestConnectionFromCatalogue(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := e.grant(c, oauth.Consent{ProviderID: "sandbox-bank"})
	claims := e.verifyJWT(r.str("access_token"))
	conn := e.connection(claims["connection_id"].(string))
	now := e.clock.Now()
	if conn.ProviderID != "sandbox-bank" || conn.ConnectionType != "finch" || conn.Environment != "sandbox" ||
		len(conn.EntityIDs) != 2 || conn.Status != store.ConnectionActive || conn.Subject != "ivy" {
		t.Fatalf("connection %+v", conn)
	}
	if !conn.ConsentExpiresAt.Equal(now.Add(90*24*time.Hour)) || !conn.DataRetentionUntil.Equal(now.Add(120*24*time.Hour)) {
		t.Fatalf("consent %v retention %v, want 90 days and 30 more", conn.ConsentExpiresAt, conn.DataRetentionUntil)
	}
	if ents, _ := claims["entity_ids"].([]any); len(ents) != 2 || ents[0] != conn.EntityIDs[0] {
		t.Errorf("entity_ids claim %v", claims["entity_ids"])
	}
	if prods, _ := claims["products"].([]any); len(prods) != 3 {
		t.Errorf("products claim %v", claims["products"])
	}
	// A provider's own consent lifetime, and a client override of it.
	r = e.grant(c, oauth.Consent{ProviderID: "sandbox-markets", Scopes: []string{"accounts"}})
	conn = e.connection(e.verifyJWT(r.str("access_token"))["connection_id"].(string))
	if !conn.ConsentExpiresAt.Equal(now.Add(365 * 24 * time.Hour)) {
		t.Errorf("provider consent ttl: %v", conn.ConsentExpiresAt)
	}
	c2 := e.client(func(c *store.Client) { c.ConsentTTL, c.RetentionTTL = 10*24*time.Hour, 24*time.Hour })
	r = e.grant(c2, oauth.Consent{ProviderID: "sandbox-markets", Scopes: []string{"accounts"}})
	conn = e.connection(e.verifyJWT(r.str("access_token"))["connection_id"].(string))
	if !conn.ConsentExpiresAt.Equal(now.Add(10*24*time.Hour)) || !conn.DataRetentionUntil.Equal(now.Add(11*24*time.Hour)) {
		t.Errorf("client override: consent %v retention %v", conn.ConsentExpiresAt, conn.DataRetentionUntil)
	}
}

// TestNoTokenOutlivesItsConsent: access tokens and refresh families end with
// the consent; refresh after it fails; the janitor marks the connection
// expired and later purges it with every record.
func TestNoTokenOutlivesItsConsent(t *testing.T) {
	e := newEnv(t)
	c := e.client(func(c *store.Client) { c.ConsentTTL, c.RetentionTTL = 90*time.Minute, time.Hour })
	rs := e.client(func(c *store.Client) { c.ResourceServer = true })
	r := e.grant(c, oauth.Consent{ProviderID: "sandbox-bank"})
	connID := e.verifyJWT(r.str("access_token"))["connection_id"].(string)
	if r.JSON["expires_in"].(float64) != 3600 {
		t.Fatalf("expires_in %v", r.JSON["expires_in"])
	}
	e.clock.Advance(time.Hour)
	r = e.refresh(c, r.str("refresh_token"), "")
	if r.Status != 200 || r.JSON["expires_in"].(float64) != 1800 {
		t.Fatalf("refresh 30 min before consent end: %d %s, want expires_in 1800", r.Status, r.Body)
	}
	claims := e.verifyJWT(r.str("access_token"))
	if exp := int64(claims["exp"].(float64)); exp != e.connection(connID).ConsentExpiresAt.Unix() {
		t.Fatalf("exp %d, consent ends %d", exp, e.connection(connID).ConsentExpiresAt.Unix())
	}
	rt, at := r.str("refresh_token"), r.str("access_token")
	if in := e.introspect(c, rt); in["active"] != true || int64(in["exp"].(float64)) != e.connection(connID).ConsentExpiresAt.Unix() {
		t.Fatalf("refresh token introspection: %v", in)
	}

	e.clock.Advance(30 * time.Minute) // consent over
	if r := e.refresh(c, rt, ""); r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("refresh after consent: %d %s", r.Status, r.Body)
	}
	if e.introspect(rs, at)["active"] != false || e.introspect(c, rt)["active"] != false {
		t.Fatal("tokens active after the consent ended")
	}

	jan := &janitor.Janitor{Store: e.store, Now: e.clock.Now}
	res, err := jan.RunOnce(context.Background())
	if err != nil || res.Expired != 1 || res.Purged != 0 {
		t.Fatalf("janitor at consent end: %+v %v", res, err)
	}
	if got := e.connection(connID).Status; got != store.ConnectionExpired {
		t.Fatalf("status %s, want expired", got)
	}
	e.clock.Advance(time.Hour) // retention over
	res, err = jan.RunOnce(context.Background())
	if err != nil || res.Purged != 1 {
		t.Fatalf("janitor at retention end: %+v %v", res, err)
	}
	if _, err := e.store.GetConnection(context.Background(), connID); err != store.ErrNotFound {
		t.Fatalf("connection after retention: %v", err)
	}
	if _, _, err := e.store.GetRefreshToken(context.Background(), oauth.SecretKey(rt)); err != store.ErrNotFound {
		t.Fatalf("refresh token after retention: %v", err)
	}
}

func TestDisconnectCurrent(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := e.grant(c, oauth.Consent{ProviderID: "sandbox-payroll", Scopes: []string{"accounts"}})
	at, rt := r.str("access_token"), r.str("refresh_token")
	connID := e.verifyJWT(at)["connection_id"].(string)
	del := func(header ...string) response {
		req, _ := http.NewRequest(http.MethodDelete, e.srv.URL+"/connections/current", nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return e.do(req)
	}
	// RFC 6750 §3.1: no credentials, a challenge without an error code; an
	// invalid token, error="invalid_token"; a valid token that grants no
	// connection, 403 insufficient_scope.
	if r := del(); r.Status != 401 || r.str("error") != "invalid_token" || r.Header.Get("WWW-Authenticate") != `Bearer realm="grantd"` {
		t.Fatalf("no token: %d %s %q", r.Status, r.Body, r.Header.Get("WWW-Authenticate"))
	}
	if r := del("Authorization", "Bearer garbage"); r.Status != 401 || r.Header.Get("WWW-Authenticate") != `Bearer realm="grantd", error="invalid_token"` {
		t.Fatalf("garbage token: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	cc := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret)...).str("access_token")
	if r := del("Authorization", "Bearer "+cc); r.Status != 403 || r.str("error") != "insufficient_scope" ||
		r.Header.Get("WWW-Authenticate") != `Bearer realm="grantd", error="insufficient_scope"` || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("client-credentials token: %d %s %q", r.Status, r.Body, r.Header.Get("WWW-Authenticate"))
	}
	e.clock.Advance(24 * time.Hour)
	before := e.connection(connID)
	e.clock.Advance(-24 * time.Hour)
	r = del("Authorization", "Bearer "+at)
	if r.Status != 200 || r.str("connection_id") != connID || r.str("status") != "revoked" {
		t.Fatalf("disconnect: %d %s", r.Status, r.Body)
	}
	if e.introspect(c, at)["active"] != false {
		t.Fatal("access token active after disconnect")
	}
	if r := e.refresh(c, rt, ""); r.str("error") != "invalid_grant" {
		t.Fatalf("refresh after disconnect: %s", r.Body)
	}
	after := e.connection(connID)
	if after.Status != store.ConnectionRevoked || !after.DataRetentionUntil.Before(before.DataRetentionUntil) ||
		!after.DataRetentionUntil.Equal(e.clock.Now().Add(30*24*time.Hour)) {
		t.Fatalf("after disconnect: %+v (retention was %v)", after, before.DataRetentionUntil)
	}
	if r := del("Authorization", "Bearer "+at); r.Status != 401 {
		t.Fatalf("second disconnect: %d", r.Status)
	}
}

func TestConnectSessions(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	pub := e.client(public)
	post := func(body string, header ...string) response {
		return e.post("/connect/sessions", "application/json", body, header...)
	}
	auth := basic(c.ID, c.Secret)
	r := post(`{"customer_id":"cust-1","customer_name":"Acme Inc","products":["accounts","balances"],"provider_id":"sandbox-bank","state":"st9","redirect_uri":"`+redirectURI+`"}`, auth...)
	if r.Status != 200 || r.str("session_id") == "" || !strings.HasPrefix(r.str("connect_url"), e.srv.URL+"/oauth/consent?challenge=") {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if exp, err := time.Parse(time.RFC3339, r.str("expires_at")); err != nil || !exp.Equal(e.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("expires_at %q", r.str("expires_at"))
	}
	sid := r.str("session_id")
	to, err := e.provider.Accept(context.Background(), sid, oauth.Consent{Subject: "jo"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	if u.Query().Get("state") != "st9" || u.Query().Get("code") == "" {
		t.Fatalf("redirect %s", to)
	}
	tok := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {redirectURI}})
	if tok.Status != 200 {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Body)
	}
	conn := e.connection(e.verifyJWT(tok.str("access_token"))["connection_id"].(string))
	if conn.CustomerID != "cust-1" || conn.CustomerName != "Acme Inc" || conn.ProviderID != "sandbox-bank" || strings.Join(conn.Products, " ") != "accounts balances" {
		t.Fatalf("connection %+v", conn)
	}
	if _, err := e.provider.Accept(context.Background(), sid, oauth.Consent{Subject: "jo"}); err == nil {
		t.Fatal("a session was used twice")
	}

	// Form body, products as a string, redirect omitted (one registered).
	r = e.form("/connect/sessions", url.Values{"customer_id": {"c2"}, "products": {"accounts"}}, auth...)
	if r.Status != 200 {
		t.Fatalf("form: %d %s", r.Status, r.Body)
	}
	// A session expires after 24 h.
	e.clock.Advance(24*time.Hour + time.Second)
	if _, err := e.provider.Accept(context.Background(), r.str("session_id"), oauth.Consent{Subject: "x"}); err == nil {
		t.Fatal("an expired session was accepted")
	}

	bad := []struct {
		name, body string
		header     []string
		status     int
		err        string
	}{
		{"no auth", `{"customer_id":"c"}`, nil, 401, "invalid_client"},
		{"public client", `{"customer_id":"c","client_id":"` + pub.ID + `"}`, nil, 400, "unauthorized_client"},
		{"missing customer", `{"products":["accounts"]}`, auth, 400, "invalid_request"},
		{"products not allowed", `{"customer_id":"c","products":["payroll"]}`, auth, 400, "invalid_scope"},
		{"provider unknown", `{"customer_id":"c","provider_id":"nope"}`, auth, 400, "invalid_request"},
		{"provider lacks product", `{"customer_id":"c","products":["transactions"],"provider_id":"sandbox-markets"}`, auth, 400, "invalid_scope"},
		{"redirect not registered", `{"customer_id":"c","redirect_uri":"https://evil.example/cb"}`, auth, 400, "invalid_request"},
		{"unknown field", `{"customer_id":"c","colour":"red"}`, auth, 400, "invalid_request"},
		{"bad products", `{"customer_id":"c","products":[1,2]}`, auth, 400, "invalid_request"},
		{"not json", `{"customer_id":`, auth, 400, "invalid_request"},
		{"empty products", `{"customer_id":"c","products":[]}`, auth, 400, "invalid_scope"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := post(tt.body, tt.header...)
			if r.Status != tt.status || r.str("error") != tt.err {
				t.Fatalf("%d %s, want %d %s", r.Status, r.Body, tt.status, tt.err)
			}
		})
	}
}

// TestTempTokenIssuance: a client registered for temp_token ends the flow
// with a one-time temp_token, stored only as a hash; it is no code.
func TestTempTokenIssuance(t *testing.T) {
	e := newEnv(t)
	c := e.client(func(c *store.Client) { c.ResponseTypes = []string{"temp_token"} })
	res, err := e.provider.Authorize(context.Background(), url.Values{"response_type": {"temp_token"}, "client_id": {c.ID},
		"redirect_uri": {redirectURI}, "state": {"t1"}})
	if err != nil {
		t.Fatal(err)
	}
	to, err := e.provider.Accept(context.Background(), res.Request.ID, oauth.Consent{Subject: "kim", ProviderID: "sandbox-bank"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	tt := u.Query().Get("temp_token")
	if !strings.HasPrefix(tt, oauth.PrefixTempToken) || u.Query().Has("code") || u.Query().Get("state") != "t1" {
		t.Fatalf("redirect %s", to)
	}
	// A temp token is not a code.
	if r := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {tt}, "redirect_uri": {redirectURI}}); r.str("error") != "invalid_grant" && r.str("error") != "unauthorized_client" {
		t.Fatalf("temp token as a code: %s", r.Body)
	}
	// Only its hash is on disk.
	e.store.Close()
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(e.dbPath), "grantd.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(filepath.Dir(e.dbPath), "grantd.db-wal"))
	if strings.Contains(string(raw)+string(wal), tt) || strings.Contains(string(raw)+string(wal), tt[len(oauth.PrefixTempToken):]) {
		t.Fatal("the temp token is stored in the clear")
	}
}

// TestConnectSessionConsentApps: a production client needs its own consent
// app; with one, connect_url sends the user there and any provider may be
// named (the consent app is the source of truth).
func TestConnectSessionConsentApps(t *testing.T) {
	e := newEnv(t)
	prod := e.client(func(c *store.Client) { c.Environment = "production" })
	r := e.post("/connect/sessions", "application/json", `{"customer_id":"c1","provider_id":"sandbox-bank"}`, basic(prod.ID, prod.Secret)...)
	if r.Status != 400 || r.str("error") != "unauthorized_client" {
		t.Fatalf("production client without consent app: %d %s", r.Status, r.Body)
	}
	app := e.client(func(c *store.Client) { c.Environment, c.ConsentURL = "production", "https://consent.example/decide" })
	r = e.post("/connect/sessions", "application/json", `{"customer_id":"c1","provider_id":"gusto"}`, basic(app.ID, app.Secret)...)
	if r.Status != 200 || !strings.HasPrefix(r.str("connect_url"), "https://consent.example/decide?challenge=") {
		t.Fatalf("with a consent app: %d %s", r.Status, r.Body)
	}
}

// TestRedirectURISentThoughOmitted: a client that omitted redirect_uri at
// authorization may send the one the code was delivered to.
func TestRedirectURISentThoughOmitted(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	res, err := e.provider.Authorize(context.Background(), url.Values{"response_type": {"code"}, "client_id": {c.ID}})
	if err != nil {
		t.Fatal(err)
	}
	to, err := e.provider.Accept(context.Background(), res.Request.ID, oauth.Consent{Subject: "lee"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	code := u.Query().Get("code")
	if r := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:9876/other"}}); r.str("error") != "invalid_grant" {
		t.Fatalf("another redirect_uri: %s", r.Body)
	}
	if r := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}); r.Status != 200 {
		t.Fatalf("the delivered redirect_uri: %d %s", r.Status, r.Body)
	}
}
