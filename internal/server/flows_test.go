package server_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
)

const redirectURI = "http://127.0.0.1:9876/callback"

func (e *env) endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: e.srv.URL + "/oauth/authorize", TokenURL: e.srv.URL + "/oauth/token"}
}

func TestClientCredentialsWithOAuth2Library(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for name, style := range map[string]oauth2.AuthStyle{"basic": oauth2.AuthStyleInHeader, "post": oauth2.AuthStyleInParams} {
		t.Run(name, func(t *testing.T) {
			cfg := clientcredentials.Config{
				ClientID: c.ID, ClientSecret: c.Secret, TokenURL: e.srv.URL + "/oauth/token",
				Scopes: []string{"accounts"}, AuthStyle: style,
			}
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.RefreshToken != "" {
				t.Errorf("token_type %q refresh %q; want Bearer and no refresh token", tok.TokenType, tok.RefreshToken)
			}
			if d := time.Until(tok.Expiry); d < 59*time.Minute || d > 61*time.Minute {
				t.Errorf("expiry in %v, want about 1h", d)
			}
			claims := e.verifyJWT(tok.AccessToken)
			for k, want := range map[string]string{"sub": c.ID, "client_id": c.ID, "scope": "accounts", "iss": e.srv.URL, "aud": e.srv.URL} {
				if got, _ := claims[k].(string); got != want {
					t.Errorf("claim %s = %q, want %q", k, got, want)
				}
			}
			if jti, _ := claims["jti"].(string); jti == "" {
				t.Error("no jti claim")
			}
		})
	}
}

func TestClientCredentialsDefaultsAndLimits(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret)...)
	if r.Status != 200 || r.str("scope") != "accounts transactions balances" {
		t.Fatalf("no scope asked: status %d scope %q, want every scope of the client", r.Status, r.str("scope"))
	}
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
		t.Errorf("Cache-Control %q Pragma %q", r.Header.Get("Cache-Control"), r.Header.Get("Pragma"))
	}
	r = e.post("/oauth/token", "application/json", `{"grant_type":"client_credentials","client_id":"`+c.ID+`","client_secret":"`+c.Secret+`","scope":"balances"}`)
	if r.Status != 200 || r.str("scope") != "balances" {
		t.Fatalf("JSON body: status %d body %s", r.Status, r.Body)
	}
}

// codeFlow runs the authorization code flow with PKCE through x/oauth2 and
// the hosted pages, and returns the config and the first token.
func codeFlow(t *testing.T, e *env, c testClient, scopes ...string) (*oauth2.Config, *oauth2.Token) {
	t.Helper()
	cfg := &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Endpoint: e.endpoint(), RedirectURL: redirectURI, Scopes: scopes}
	if c.IsPublic() {
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	verifier := oauth2.GenerateVerifier()
	au, err := url.Parse(cfg.AuthCodeURL("st-123", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	loc := e.authorize(au.Query(), "alice", true)
	q := loc.Query()
	if loc.Scheme+"://"+loc.Host+loc.Path != redirectURI {
		t.Fatalf("redirected to %s, want %s", loc, redirectURI)
	}
	if q.Get("state") != "st-123" || q.Get("iss") != e.srv.URL || q.Get("code") == "" {
		t.Fatalf("redirect query %v: want state, iss (RFC 9207) and code", q)
	}
	tok, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return cfg, tok
}

func TestAuthorizationCodeFlowWithOAuth2Library(t *testing.T) {
	for name, opts := range map[string][]func(*store.Client){
		"confidential": nil,
		"public":       {public},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			c := e.client(opts...)
			rs := e.client(func(c *store.Client) { c.ResourceServer = true })
			cfg, tok := codeFlow(t, e, c, "accounts", "balances")
			if tok.RefreshToken == "" || !strings.HasPrefix(tok.RefreshToken, oauth.PrefixRefreshToken) {
				t.Fatalf("refresh token %q", tok.RefreshToken)
			}
			if got := tok.Extra("scope"); got != "accounts balances" {
				t.Errorf("scope %v", got)
			}
			claims := e.verifyJWT(tok.AccessToken)
			if claims["sub"] != "alice" || claims["client_id"] != c.ID || claims["connection_id"] == "" {
				t.Errorf("claims %v", claims)
			}

			// TokenSource refreshes an expired token; rotation gives a new
			// refresh token.
			old := *tok
			tok.Expiry = time.Now().Add(-time.Minute)
			fresh, err := cfg.TokenSource(context.Background(), tok).Token()
			if err != nil {
				t.Fatalf("refresh through TokenSource: %v", err)
			}
			if fresh.AccessToken == old.AccessToken || fresh.RefreshToken == old.RefreshToken || fresh.RefreshToken == "" {
				t.Fatalf("refresh did not rotate: %+v", fresh)
			}
			e.verifyJWT(fresh.AccessToken)

			// The rotated-out token is now a reuse: the family dies, with
			// the access tokens issued from it.
			r := e.refresh(c, old.RefreshToken, "")
			if r.Status != 400 || r.str("error") != "invalid_grant" {
				t.Fatalf("reuse: status %d body %s", r.Status, r.Body)
			}
			if r := e.refresh(c, fresh.RefreshToken, ""); r.str("error") != "invalid_grant" {
				t.Fatalf("family not revoked after reuse: %s", r.Body)
			}
			if e.introspect(rs, fresh.AccessToken)["active"] != false {
				t.Fatal("access token of a revoked family still active")
			}
		})
	}
}

func (e *env) refresh(c testClient, rt, scope string) response {
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if scope != "" {
		v.Set("scope", scope)
	}
	return e.tokenRequest(c, v)
}

// tokenRequest authenticates as c the way its auth method says.
func (e *env) tokenRequest(c testClient, v url.Values) response {
	if c.IsPublic() {
		v.Set("client_id", c.ID)
		return e.form("/oauth/token", v)
	}
	return e.form("/oauth/token", v, basic(c.ID, c.Secret)...)
}

func (e *env) introspect(caller testClient, token string) map[string]any {
	e.t.Helper()
	r := e.form("/oauth/introspect", url.Values{"token": {token}}, basic(caller.ID, caller.Secret)...)
	if r.Status != 200 {
		e.t.Fatalf("introspect: status %d body %s", r.Status, r.Body)
	}
	return r.JSON
}

func TestFixedRefreshPolicy(t *testing.T) {
	e := newEnv(t)
	c := e.client(fixed)
	_, tok := codeFlow(t, e, c, "accounts")
	for i := range 3 {
		e.clock.Advance(29 * 24 * time.Hour) // inside the 30-day idle timeout each time
		r := e.refresh(c, tok.RefreshToken, "")
		if r.Status != 200 {
			t.Fatalf("refresh %d: status %d body %s", i, r.Status, r.Body)
		}
		if r.JSON["refresh_token"] != nil {
			t.Fatalf("fixed policy returned a refresh token: %s", r.Body)
		}
	}
	e.clock.Advance(30*24*time.Hour + time.Second)
	if r := e.refresh(c, tok.RefreshToken, ""); r.str("error") != "invalid_grant" {
		t.Fatalf("after 30 idle days: %s", r.Body)
	}
}

// TestRefreshRecordsLastUseCoarsely: a refresh records the family's last
// use only when the recorded one is 1 % of the idle timeout old (7.2 h of
// 30 days); introspection's exp of the refresh token shows the recorded
// use, and the family ends idle from it: early by at most that share,
// never late.
func TestRefreshRecordsLastUseCoarsely(t *testing.T) {
	e := newEnv(t)
	c := e.client(fixed)
	_, tok := codeFlow(t, e, c, "accounts")
	t0 := e.clock.Now()
	const idle = 30 * 24 * time.Hour
	exp := func(what string, want time.Time) {
		t.Helper()
		got := e.introspect(c, tok.RefreshToken)["exp"]
		if got != float64(want.Unix()) {
			t.Errorf("%s: exp %v, want %d (the last use recorded + 30 days)", what, got, want.Unix())
		}
	}
	refresh := func(what string) {
		t.Helper()
		if r := e.refresh(c, tok.RefreshToken, ""); r.Status != 200 {
			t.Fatalf("%s: status %d body %s", what, r.Status, r.Body)
		}
	}
	e.clock.Advance(7 * time.Hour)
	refresh("7 h after the grant")
	exp("7 h after the grant: not recorded", t0.Add(idle))
	e.clock.Advance(15 * time.Minute)
	refresh("7.25 h after the grant")
	last := e.clock.Now()
	exp("7.25 h after the grant: recorded", last.Add(idle))
	e.clock.Advance(idle - time.Second)
	refresh("idle for just under 30 days since the recorded use")
	e.clock.Advance(idle + time.Second)
	if r := e.refresh(c, tok.RefreshToken, ""); r.str("error") != "invalid_grant" {
		t.Fatalf("after 30 idle days: %s", r.Body)
	}
}

func TestRefreshScopeNarrowing(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	_, tok := codeFlow(t, e, c, "accounts", "balances")
	r := e.refresh(c, tok.RefreshToken, "accounts transactions")
	if r.Status != 400 || r.str("error") != "invalid_scope" {
		t.Fatalf("widening: status %d body %s", r.Status, r.Body)
	}
	r = e.refresh(c, tok.RefreshToken, "balances")
	if r.Status != 200 || r.str("scope") != "balances" {
		t.Fatalf("narrowing: status %d body %s", r.Status, r.Body)
	}
	// The family keeps its scope: the next refresh may ask for all of it.
	r = e.refresh(c, r.str("refresh_token"), "")
	if r.Status != 200 || r.str("scope") != "accounts balances" {
		t.Fatalf("after narrowing: status %d body %s", r.Status, r.Body)
	}
}

func TestCodeReplayRevokesTokens(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	verifier := oauth2.GenerateVerifier()
	loc := e.authorize(url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI}, "state": {"s"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}, "bob", true)
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	first := e.tokenRequest(c, exchange)
	if first.Status != 200 {
		t.Fatalf("first exchange: %d %s", first.Status, first.Body)
	}
	second := e.tokenRequest(c, exchange)
	if second.Status != 400 || second.str("error") != "invalid_grant" {
		t.Fatalf("replay: %d %s", second.Status, second.Body)
	}
	if strings.Contains(string(second.Body), loc.Query().Get("code")) {
		t.Fatal("error echoes the code")
	}
	if e.introspect(c, first.str("access_token"))["active"] != false {
		t.Fatal("access token from a replayed code still active")
	}
	if r := e.refresh(c, first.str("refresh_token"), ""); r.str("error") != "invalid_grant" {
		t.Fatalf("refresh token from a replayed code still works: %s", r.Body)
	}
}

func TestConcurrentCodeExchangeHasOneWinner(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	verifier := oauth2.GenerateVerifier()
	loc := e.authorize(url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}, "carol", true)
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	const n = 20
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { statuses <- e.tokenRequest(c, exchange).Status })
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[200] != 1 || count[400] != n-1 {
		t.Fatalf("statuses %v, want one 200 and %d 400", count, n-1)
	}
}

func TestExpiredCode(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	verifier := oauth2.GenerateVerifier()
	loc := e.authorize(url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}, "dave", true)
	e.clock.Advance(61 * time.Second)
	r := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("expired code: %d %s", r.Status, r.Body)
	}
}

func TestDenyRedirectsWithAccessDenied(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	loc := e.authorize(url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI}, "state": {"xyz"},
		"code_challenge": {oauth.S256Challenge(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"},
	}, "erin", false)
	q := loc.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != "xyz" || q.Get("iss") != e.srv.URL || q.Has("code") {
		t.Fatalf("deny redirect %s", loc)
	}
}

func TestIntrospectionAndRevocation(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	other := e.client()
	rs := e.client(func(c *store.Client) { c.ResourceServer = true })
	cc := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret)...)
	at := cc.str("access_token")

	got := e.introspect(c, at)
	if got["active"] != true || got["client_id"] != c.ID || got["token_type"] != "Bearer" || got["scope"] != "accounts transactions balances" {
		t.Fatalf("introspect own token: %v", got)
	}
	if e.introspect(other, at)["active"] != false {
		t.Error("another client sees a foreign token as active")
	}
	if e.introspect(rs, at)["active"] != true {
		t.Error("a resource server cannot introspect")
	}
	if e.introspect(c, "garbage")["active"] != false || e.introspect(c, at+"x")["active"] != false {
		t.Error("garbage is active")
	}

	// Another client may not revoke it.
	r := e.form("/oauth/revoke", url.Values{"token": {at}}, basic(other.ID, other.Secret)...)
	if r.Status != 400 || r.str("error") != "unauthorized_client" {
		t.Fatalf("foreign revoke: %d %s", r.Status, r.Body)
	}
	r = e.form("/oauth/revoke", url.Values{"token": {at}, "token_type_hint": {"access_token"}}, basic(c.ID, c.Secret)...)
	if r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if e.introspect(c, at)["active"] != false {
		t.Fatal("revoked token still active")
	}
	// Unknown tokens revoke fine (RFC 7009 §2.2).
	if r := e.form("/oauth/revoke", url.Values{"token": {"nope"}}, basic(c.ID, c.Secret)...); r.Status != 200 {
		t.Fatalf("revoke unknown: %d", r.Status)
	}
	// An unknown hint is ignored (RFC 7009 §2.1: the hint only helps).
	if r := e.form("/oauth/revoke", url.Values{"token": {"x"}, "token_type_hint": {"id_token"}}, basic(c.ID, c.Secret)...); r.Status != 200 {
		t.Fatalf("unknown hint: %d %s", r.Status, r.Body)
	}

	// Expiry.
	at2 := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret)...).str("access_token")
	e.clock.Advance(time.Hour)
	if e.introspect(c, at2)["active"] != false {
		t.Fatal("expired token active")
	}
}

func TestRevokeRefreshTokenRevokesFamily(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	_, tok := codeFlow(t, e, c, "accounts")
	in := e.introspect(c, tok.RefreshToken)
	if in["active"] != true || in["token_type"] != "refresh_token" {
		t.Fatalf("introspect refresh token: %v", in)
	}
	r := e.form("/oauth/revoke", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}, basic(c.ID, c.Secret)...)
	if r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if e.introspect(c, tok.AccessToken)["active"] != false || e.introspect(c, tok.RefreshToken)["active"] != false {
		t.Fatal("family still active after revoking its refresh token")
	}
	if r := e.refresh(c, tok.RefreshToken, ""); r.str("error") != "invalid_grant" {
		t.Fatalf("refresh after revoke: %s", r.Body)
	}
}

func TestOpaqueAccessTokens(t *testing.T) {
	e := newEnv(t)
	c := e.client(opaque)
	r := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret)...)
	at := r.str("access_token")
	if !strings.HasPrefix(at, oauth.PrefixAccessToken) || strings.Count(at, ".") != 0 {
		t.Fatalf("opaque token %q", at)
	}
	if e.introspect(c, at)["active"] != true {
		t.Fatal("opaque token inactive")
	}
	_, tok := codeFlow(t, e, c, "accounts")
	if in := e.introspect(c, tok.AccessToken); in["active"] != true || in["sub"] != "alice" {
		t.Fatalf("opaque code-grant token: %v", in)
	}
	e.form("/oauth/revoke", url.Values{"token": {at}}, basic(c.ID, c.Secret)...)
	if e.introspect(c, at)["active"] != false {
		t.Fatal("revoked opaque token active")
	}
}

func TestDeletedClientTokensInactive(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	rs := e.client(func(c *store.Client) { c.ResourceServer = true })
	at := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret)...).str("access_token")
	if err := e.store.DeleteClient(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	if e.introspect(rs, at)["active"] != false {
		t.Fatal("token of a deleted client active")
	}
}

func TestMetadataAndJWKS(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/.well-known/oauth-authorization-server", nil)
	r := e.do(req)
	if r.Status != 200 || r.str("issuer") != e.srv.URL || r.str("token_endpoint") != e.srv.URL+"/oauth/token" {
		t.Fatalf("metadata: %d %s", r.Status, r.Body)
	}
	for _, k := range []string{"authorization_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"} {
		if !strings.HasPrefix(r.str(k), e.srv.URL+"/") {
			t.Errorf("metadata %s = %q", k, r.str(k))
		}
	}
	if r.str("registration_endpoint") != e.srv.URL+"/oauth/register" {
		t.Errorf("registration_endpoint %q", r.str("registration_endpoint"))
	}
	if m, _ := r.JSON["revocation_endpoint_auth_methods_supported"].([]any); len(m) != 4 || m[2] != "none" || m[3] != "private_key_jwt" {
		t.Errorf("revocation_endpoint_auth_methods_supported %v", m)
	}
	if m, _ := r.JSON["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
		t.Errorf("code_challenge_methods_supported %v", m)
	}
	// scopes_supported: every product of the catalogue, once (MCP clients
	// read it to ask for scopes).
	if m, _ := r.JSON["scopes_supported"].([]any); !slices.Contains(m, any("accounts")) || !slices.Contains(m, any("pay_statement")) ||
		len(m) != len(e.provider.Scopes()) {
		t.Errorf("scopes_supported %v", m)
	}
	if len(e.jwksKeys()) == 0 {
		t.Fatal("empty JWKS")
	}
	// Key rotation: an old token still verifies, new ones use the new key
	// once it activates (after the publication delay).
	c := e.client()
	before := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret)...).str("access_token")
	if _, err := e.signer.Rotate(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(signer.DefaultPublicationDelay(signer.DefaultReloadInterval))
	e.verifyJWT(before)
	after := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret)...).str("access_token")
	e.verifyJWT(after)
	if e.introspect(c, before)["active"] != true {
		t.Fatal("token signed by the previous key inactive")
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	get := func(p string) int {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+p, nil)
		return e.do(req).Status
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if st := get(p); st != 200 {
			t.Errorf("%s: %d", p, st)
		}
	}
	// Keys not reloaded for longer than a new key takes to sign: this
	// instance may lack a key others sign with, so it is not ready (but
	// alive) until a reload succeeds.
	e.clock.Advance(signer.DefaultPublicationDelay(signer.DefaultReloadInterval))
	if st := get("/readyz"); st != http.StatusServiceUnavailable {
		t.Errorf("/readyz with stale keys: %d, want 503", st)
	}
	if st := get("/healthz"); st != 200 {
		t.Errorf("/healthz with stale keys: %d, want 200", st)
	}
	if err := e.signer.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := get("/readyz"); st != 200 {
		t.Errorf("/readyz after a reload: %d, want 200", st)
	}
}
