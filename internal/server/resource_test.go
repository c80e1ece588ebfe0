package server_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// The resource servers of these tests: two of the client's own, one of the
// server's, one nobody allowed.
const (
	accountsAPI = "https://accounts.example.com/"
	paymentsAPI = "https://payments.example.com/v1"
	serverAPI   = "https://mcp.example.com/mcp"
	strangerAPI = "https://stranger.example.com/"
)

func allowed(resources ...string) func(*store.Client) {
	return func(c *store.Client) { c.Security.AllowedResources = resources }
}

// audOf is a JWT's or an introspection's aud as a list.
func audOf(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, s := range a {
			out = append(out, s.(string))
		}
		return out
	}
	return nil
}

// TestResourceClientCredentials: golang.org/x/oauth2's client-credentials
// client asks for resources (RFC 8707 §2); the JWT's aud and the
// introspection's are them (one as a string, two as an array), the
// issuer when none is asked; a resource the client may not ask for, or
// one that is no absolute URI without fragment, is invalid_target and
// nothing is issued.
func TestResourceClientCredentials(t *testing.T) {
	e := newEnv(t)
	e.provider.Resources = []string{serverAPI}
	c := e.client(allowed(accountsAPI, paymentsAPI), func(c *store.Client) { c.GrantTypes = []string{"client_credentials"} })
	token := func(resources ...string) (string, error) {
		cfg := clientcredentials.Config{ClientID: c.ID, ClientSecret: c.Secret, TokenURL: e.srv.URL + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader, EndpointParams: url.Values{"resource": resources}}
		tok, err := cfg.Token(context.Background())
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}
	for _, tc := range []struct {
		name string
		ask  []string
		want []string
	}{
		{"none", nil, []string{e.srv.URL}},
		{"one of the client's", []string{accountsAPI}, []string{accountsAPI}},
		{"two", []string{accountsAPI, paymentsAPI}, []string{accountsAPI, paymentsAPI}},
		{"the server's", []string{serverAPI}, []string{serverAPI}},
		{"one twice", []string{accountsAPI, accountsAPI}, []string{accountsAPI}},
	} {
		at, err := token(tc.ask...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := audOf(e.verifyJWTFor(at, tc.want[0])["aud"]); !slices.Equal(got, tc.want) {
			t.Errorf("%s: JWT aud %v, want %v", tc.name, got, tc.want)
		}
		if got := audOf(e.introspect(c, at)["aud"]); !slices.Equal(got, tc.want) {
			t.Errorf("%s: introspection aud %v, want %v", tc.name, got, tc.want)
		}
	}
	for name, ask := range map[string][]string{
		"a stranger":     {strangerAPI},
		"a relative":     {"/accounts"},
		"a fragment":     {accountsAPI + "#x"},
		"one bad of two": {accountsAPI, strangerAPI},
	} {
		r := e.tokenRequest(c, url.Values{"grant_type": {"client_credentials"}, "resource": ask})
		if r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidTarget || r.str("access_token") != "" {
			t.Errorf("%s: %d %s, want 400 invalid_target", name, r.Status, r.Body)
		}
	}
	// A JSON body may give resource as an array.
	r := e.post("/oauth/token", "application/json", `{"grant_type":"client_credentials","resource":["`+accountsAPI+`","`+paymentsAPI+`"]}`, basic(c.ID, c.Secret)...)
	if got := audOf(e.verifyJWTFor(r.str("access_token"), accountsAPI)["aud"]); r.Status != http.StatusOK || !slices.Equal(got, []string{accountsAPI, paymentsAPI}) {
		t.Errorf("JSON resource array: %d %s (aud %v)", r.Status, r.Body, got)
	}
}

// TestResourceDefaultAudience: the server's default audience is the aud of
// a token asked for no resource, of opaque tokens' introspection too.
func TestResourceDefaultAudience(t *testing.T) {
	e := newEnv(t)
	e.provider.DefaultAudience = []string{accountsAPI}
	c := e.client(opaque, func(c *store.Client) { c.GrantTypes = []string{"client_credentials"} })
	r := e.tokenRequest(c, url.Values{"grant_type": {"client_credentials"}})
	if got := audOf(e.introspect(c, r.str("access_token"))["aud"]); !slices.Equal(got, []string{accountsAPI}) {
		t.Errorf("default audience: introspection aud %v, want %v", got, accountsAPI)
	}
	// It may be asked for by name too.
	r = e.tokenRequest(c, url.Values{"grant_type": {"client_credentials"}, "resource": {accountsAPI}})
	if r.Status != http.StatusOK {
		t.Errorf("asking for the default audience: %d %s", r.Status, r.Body)
	}
}

// TestResourceCodeFlow: resources asked at authorization bind the grant
// (RFC 8707 §2.1); the code exchange and every refresh may narrow them to
// some (the aud is those), never widen them (invalid_target, the code and
// the refresh token left unspent); asked for none, a token is for the whole
// grant. An authorization request for a resource the client may not ask
// for is sent back with invalid_target.
func TestResourceCodeFlow(t *testing.T) {
	e := newEnv(t)
	c := e.client(opaque, allowed(accountsAPI, paymentsAPI, serverAPI))
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
		"scope": {"accounts"}, "state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}, "resource": {accountsAPI, paymentsAPI}}
	code := e.authorize(q, "alice", true).Query().Get("code")
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"code_verifier": {verifier}}

	widen := cloneValues(exchange)
	widen["resource"] = []string{accountsAPI, serverAPI}
	if r := e.tokenRequest(c, widen); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidTarget {
		t.Fatalf("exchange widening the resources: %d %s, want 400 invalid_target", r.Status, r.Body)
	}
	narrow := cloneValues(exchange)
	narrow.Set("resource", paymentsAPI)
	r := e.tokenRequest(c, narrow)
	if r.Status != http.StatusOK {
		t.Fatalf("exchange narrowing (the code must be unspent after the refusal): %d %s", r.Status, r.Body)
	}
	if got := audOf(e.introspect(c, r.str("access_token"))["aud"]); !slices.Equal(got, []string{paymentsAPI}) {
		t.Errorf("narrowed exchange: aud %v, want %v", got, paymentsAPI)
	}
	rt := r.str("refresh_token")

	refresh := func(resources ...string) response {
		return e.tokenRequest(c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": resources})
	}
	if r := refresh(serverAPI); r.Status != http.StatusBadRequest || r.str("error") != oauth.ErrCodeInvalidTarget {
		t.Fatalf("refresh widening: %d %s, want 400 invalid_target", r.Status, r.Body)
	}
	r = refresh(accountsAPI) // the grant keeps both, whatever the exchange asked
	if r.Status != http.StatusOK {
		t.Fatalf("refresh for the other resource (the token must be unspent after the refusal): %d %s", r.Status, r.Body)
	}
	if got := audOf(e.introspect(c, r.str("access_token"))["aud"]); !slices.Equal(got, []string{accountsAPI}) {
		t.Errorf("refresh for one resource: aud %v, want %v", got, accountsAPI)
	}
	rt = r.str("refresh_token")
	r = refresh()
	if got := audOf(e.introspect(c, r.str("access_token"))["aud"]); r.Status != http.StatusOK || !slices.Equal(got, []string{accountsAPI, paymentsAPI}) {
		t.Errorf("refresh for no resource: %d, aud %v, want the grant's %v", r.Status, got, []string{accountsAPI, paymentsAPI})
	}

	// At authorization, a resource the client may not ask for.
	q.Set("resource", strangerAPI)
	loc := e.authorize(q, "alice", true)
	if loc.Query().Get("error") != oauth.ErrCodeInvalidTarget || loc.Query().Get("state") != "s" {
		t.Errorf("authorization for a stranger's resource: redirect %s, want error=invalid_target", loc)
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// TestResourceNotForUs: a token issued for another resource (its aud names
// no audience of grantd's) is not taken at grantd's own protected
// resource, DELETE /connections/current: no replay of a token across
// resources (RFC 8707).
func TestResourceNotForUs(t *testing.T) {
	e := newEnv(t)
	c := e.client(allowed(accountsAPI))
	token := func(resources ...string) string {
		verifier := oauth2.GenerateVerifier()
		q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
			"scope": {"accounts"}, "state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
			"code_challenge_method": {"S256"}, "resource": resources}
		code := e.authorize(q, "alice", true).Query().Get("code")
		return e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
			"code_verifier": {verifier}}).str("access_token")
	}
	disconnect := func(at string) response {
		req := must(http.NewRequest(http.MethodDelete, e.srv.URL+"/connections/current", nil))
		req.Header.Set("Authorization", "Bearer "+at)
		return e.do(req)
	}
	if r := disconnect(token(accountsAPI)); r.Status != http.StatusUnauthorized {
		t.Errorf("a token for another resource: %d %s, want 401", r.Status, r.Body)
	}
	if r := disconnect(token(accountsAPI, e.srv.URL)); r.Status != http.StatusOK {
		t.Errorf("a token for another resource and grantd: %d %s, want 200", r.Status, r.Body)
	}
	if r := disconnect(token()); r.Status != http.StatusOK {
		t.Errorf("a token for the default audience: %d %s, want 200", r.Status, r.Body)
	}
}
