package server_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"golang.org/x/oauth2"

	standard "github.com/grantd/grantd/internal/dialect/oauth2"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/oauth/dpop"
	"github.com/grantd/grantd/internal/policy/redistest"
	"github.com/grantd/grantd/internal/singleuse"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
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

// BenchmarkCoreClientCredentialsDPoP is a client-credentials ES256 JWT
// from the core (no HTTP) as a Bearer token and as a DPoP-bound one, with
// the proof's check alone beside them: a bound token should cost the
// Bearer one plus the check (one ES256 verification) plus the proof's
// single-use record, one small write (docs/fapi.md, "Cost"). Proofs are
// made outside the timer, a batch at a time, by golang-jwt.
func BenchmarkCoreClientCredentialsDPoP(b *testing.B) {
	e := newEnv(b)
	e.signWith("ES256")
	c := e.client(func(c *store.Client) { c.AccessTokenSigningAlg = "ES256" })
	k := testenv.NewDPoPKey(b, "ES256")
	tokenURL := e.srv.URL + "/oauth/token"
	req := oauth.TokenRequest{GrantType: oauth.GrantClientCredentials,
		Client: oauth.ClientCredentials{ID: c.ID, Secret: c.Secret, Presented: oauth.PresentedBasic}}
	pr := standard.New().Profile()
	ctx := context.Background()
	var proofs []string
	next := func(b *testing.B) string {
		if len(proofs) == 0 {
			b.StopTimer()
			for range 1000 {
				proofs = append(proofs, k.Proof(b, http.MethodPost, tokenURL, testenv.ProofOpts{IAT: e.clock.Now()}))
			}
			b.StartTimer()
		}
		p := proofs[len(proofs)-1]
		proofs = proofs[:len(proofs)-1]
		return p
	}
	b.Run("bearer", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.provider.Token(ctx, pr, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	// bound issues DPoP-bound tokens, a new proof each.
	bound := func(b *testing.B) {
		for b.Loop() {
			r := req
			r.DPoP = &oauth.DPoPRequest{Proofs: []string{next(b)}, Method: http.MethodPost, URL: tokenURL}
			res, err := e.provider.Token(ctx, pr, r)
			if err != nil {
				b.Fatal(err)
			}
			if res.TokenType != oauth.TokenTypeDPoP {
				b.Fatalf("token_type %q", res.TokenType)
			}
		}
	}
	b.Run("dpop", bound)
	b.Run("dpop_memory", func(b *testing.B) {
		// The single-instance replay memory (embedded SQLite after its
		// first minute): no store write per proof.
		e.provider.Replays = oauth.NewReplays(e.clock.Now().Add(-time.Hour))
		defer func() { e.provider.Replays = nil }()
		bound(b)
	})
	b.Run("dpop_redis", func(b *testing.B) {
		// The records in a shared Redis (replay_cache: redis): one SET NX
		// per proof instead of a store write.
		if os.Getenv(redistest.Env) == "" {
			b.Skipf("%s is not set", redistest.Env)
		}
		rc := redistest.Client(b)
		e.provider.Replays = singleuse.NewRedis(rc, redistest.Prefix(b, rc))
		defer func() { e.provider.Replays = nil }()
		bound(b)
	})
	b.Run("check_only", func(b *testing.B) {
		var ch dpop.Checker
		for b.Loop() {
			if _, err := ch.Check([]string{next(b)}, dpop.Request{Method: http.MethodPost, URL: tokenURL}, e.clock.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
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
