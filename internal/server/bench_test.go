package server_test

import (
	"context"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	standard "github.com/grantd/grantd/internal/dialect/oauth2"
	"github.com/grantd/grantd/internal/oauth"
)

// The benchmarks measure whole token requests over real HTTP on loopback,
// against a real SQLite file. Compare them with BenchmarkSign* in package
// signer, run in the same invocation: a client-credentials JWT should cost
// about one signature plus the round trip (docs/benchmarks.md).

func BenchmarkClientCredentialsJWT(b *testing.B) {
	e := newEnv(b)
	c := e.client()
	body := url.Values{"grant_type": {"client_credentials"}}
	b.ResetTimer()
	for b.Loop() {
		if r := e.form("/oauth/token", body, basic(c.ID, c.Secret)...); r.Status != 200 {
			b.Fatalf("status %d", r.Status)
		}
	}
}

func BenchmarkClientCredentialsOpaque(b *testing.B) {
	e := newEnv(b)
	c := e.client(opaque)
	body := url.Values{"grant_type": {"client_credentials"}}
	b.ResetTimer()
	for b.Loop() {
		if r := e.form("/oauth/token", body, basic(c.ID, c.Secret)...); r.Status != 200 {
			b.Fatalf("status %d", r.Status)
		}
	}
}

// BenchmarkCoreClientCredentialsJWT is the core alone, without HTTP.
func BenchmarkCoreClientCredentialsJWT(b *testing.B) {
	e := newEnv(b)
	c := e.client()
	req := oauth.TokenRequest{GrantType: oauth.GrantClientCredentials,
		Client: oauth.ClientCredentials{ID: c.ID, Secret: c.Secret, Presented: oauth.PresentedBasic}}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.provider.Token(ctx, standard.New().Profile(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRefreshRotatingOpaque(b *testing.B) {
	e := newEnv(b)
	c := e.client(opaque)
	verifier := oauth2.GenerateVerifier()
	loc := e.authorize(url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirectURI},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}, "bench", true)
	r := e.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	rt := r.str("refresh_token")
	b.ResetTimer()
	for b.Loop() {
		r := e.refresh(c, rt, "")
		if r.Status != 200 {
			b.Fatalf("status %d %s", r.Status, r.Body)
		}
		rt = r.str("refresh_token")
	}
}

func BenchmarkIntrospectJWT(b *testing.B) {
	e := newEnv(b)
	c := e.client()
	at := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.ID, c.Secret)...).str("access_token")
	body := url.Values{"token": {at}}
	b.ResetTimer()
	for b.Loop() {
		if r := e.form("/oauth/introspect", body, basic(c.ID, c.Secret)...); r.JSON["active"] != true {
			b.Fatalf("inactive: %s", r.Body)
		}
	}
}
