package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/dialect/all"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/postgres/pgtest"
)

// instance is one grantd on a shared PostgreSQL database: its own pool,
// signer, core and HTTP server, as a second process would have.
type instance struct {
	url      string
	dsn      string // the schema's, for a test's own queries
	store    *postgres.Store
	signer   *signer.Signer
	provider *oauth.Provider
}

// startInstances starts n grantd instances on one fresh schema, behind one
// issuer (as behind a load balancer), with the same key-encryption key.
func startInstances(t *testing.T, n int) []*instance {
	t.Helper()
	return startInstancesWith(t, n, nil)
}

// startInstancesWith is startInstances with each instance's policy made by
// policyOf (nil: the default state policy).
func startInstancesWith(t *testing.T, n int, policyOf func(i int) oauth.Policy) []*instance {
	t.Helper()
	return startInstancesOpts(t, n, instanceOptions{policyOf: policyOf})
}

// instanceOptions change what startInstancesOpts starts.
type instanceOptions struct {
	policyOf func(i int) oauth.Policy // nil: the default state policy
	// signer changes each instance's signer options (by default: RS256,
	// keys re-read every 100 ms, published 500 ms before they sign).
	signer func(o *signer.Options)
	// replays gives each instance its single-use records outside the
	// store (nil: every use is a store write).
	replays func(i int) oauth.SingleUse
}

// startInstancesOpts is startInstances with o.
func startInstancesOpts(t *testing.T, n int, o instanceOptions) []*instance {
	t.Helper()
	policyOf := o.policyOf
	schema, dsn := pgtest.Schema(t)
	base := pgtest.BaseDSN(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kek := make([]byte, 32)
	for i := range kek {
		kek[i] = byte(i)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	const issuer = "https://auth.example.test"
	out := make([]*instance, n)
	for i := range out {
		st, err := postgres.Open(ctx, base, postgres.Options{Schema: schema, MaxConns: 8})
		if err != nil {
			t.Fatalf("instance %d: open: %v", i, err)
		}
		t.Cleanup(func() { st.Close() })
		// Each instance re-reads the keys often, as key_reload_interval
		// says, and the publication delay covers that.
		so := signer.Options{Store: st, KEK: kek, Logger: logger, ReloadInterval: 100 * time.Millisecond,
			PublicationDelay: 500 * time.Millisecond}
		if o.signer != nil {
			o.signer(&so)
		}
		sg, err := signer.New(ctx, so)
		if err != nil {
			t.Fatalf("instance %d: signer: %v", i, err)
		}
		go sg.Run(ctx)
		p := &oauth.Provider{Store: st, Signer: sg, Issuer: issuer, Logger: logger, Catalogue: oauth.SandboxCatalogue()}
		if policyOf != nil {
			p.Policy = policyOf(i)
		}
		if o.replays != nil {
			p.Replays = o.replays(i)
		}
		srv := httptest.NewServer(server.New(server.Options{Provider: p, Keys: sg, Store: st, Logger: logger,
			Dialects: all.Dialects()}).Handler())
		t.Cleanup(srv.Close)
		out[i] = &instance{url: srv.URL, dsn: dsn, store: st, signer: sg, provider: p}
	}
	return out
}

type answer struct {
	status int
	body   map[string]any
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

func (in *instance) post(t *testing.T, path string, form url.Values, id, secret string) answer {
	t.Helper()
	return in.postWith(t, path, form, id, secret)
}

// TestInstancesShareOneDatabase: what one instance does, every other sees.
// It needs GRANTD_TEST_POSTGRES (skipped without it; required in CI).
func TestInstancesShareOneDatabase(t *testing.T) {
	ins := startInstances(t, 2)
	a, b := ins[0], ins[1]
	ctx := context.Background()

	secret := oauth.PrefixClientSecret + oauth.RandomToken(32)
	client := store.Client{
		ID: uuid.NewString(), Name: "Two-instance app", SecretHash: store.Hash(secret), AuthMethod: store.AuthMethodBasic,
		GrantTypes:    []string{oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		ResponseTypes: []string{"code"}, RedirectURIs: []string{"http://127.0.0.1:9876/callback"},
		Scopes: []string{"accounts", "balances"}, Environment: "sandbox", State: store.ClientActive,
		RefreshPolicy: store.RefreshRotating, TokenFormat: store.TokenFormatJWT, CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	if err := a.store.CreateClient(ctx, client); err != nil {
		t.Fatal(err)
	}
	code := func(at *instance) string {
		t.Helper()
		res, err := at.provider.Authorize(ctx, url.Values{"response_type": {"code"}, "client_id": {client.ID},
			"redirect_uri": {"http://127.0.0.1:9876/callback"}})
		if err != nil {
			t.Fatal(err)
		}
		to, err := at.provider.Accept(ctx, res.Request.ID, oauth.Consent{Subject: "sam", ProviderID: "sandbox-bank"})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(to)
		return u.Query().Get("code")
	}
	exchange := func(at *instance, c string) answer {
		return at.post(t, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {c},
			"redirect_uri": {"http://127.0.0.1:9876/callback"}}, client.ID, secret)
	}

	// A code issued at A is redeemed at B, once; the replay at A fails and
	// revokes what B issued.
	c1 := code(a)
	first := exchange(b, c1)
	if first.status != 200 {
		t.Fatalf("redeem at B: %d %v", first.status, first.body)
	}
	if r := exchange(a, c1); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("replay at A: %d %v", r.status, r.body)
	}
	introspect := func(at *instance, tok string) bool {
		r := at.post(t, "/oauth/introspect", url.Values{"token": {tok}}, client.ID, secret)
		if r.status != 200 {
			t.Fatalf("introspect: %d %v", r.status, r.body)
		}
		return r.body["active"] == true
	}
	if introspect(a, first.str("access_token")) || introspect(b, first.str("access_token")) {
		t.Fatal("a token of a replayed code is active")
	}

	// The same code at both instances at the same instant: one winner.
	c2 := code(b)
	var wg sync.WaitGroup
	statuses := make(chan int, 10)
	for i := range 10 {
		at := ins[i%2]
		wg.Go(func() { statuses <- exchange(at, c2).status })
	}
	wg.Wait()
	close(statuses)
	wins := 0
	for s := range statuses {
		switch s {
		case 200:
			wins++
		case 400:
		default:
			t.Errorf("status %d", s)
		}
	}
	if wins != 1 {
		t.Fatalf("%d instances redeemed one code", wins)
	}

	// A refresh family rotated at A and replayed at B is revoked everywhere.
	tok := exchange(a, code(a))
	rotated := a.post(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}}, client.ID, secret)
	if rotated.status != 200 {
		t.Fatalf("rotate at A: %d %v", rotated.status, rotated.body)
	}
	replay := b.post(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}}, client.ID, secret)
	if replay.status != 400 {
		t.Fatalf("replay at B: %d %v", replay.status, replay.body)
	}
	if r := a.post(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated.str("refresh_token")}}, client.ID, secret); r.status != 400 {
		t.Fatalf("the family survived a reuse: %d %v", r.status, r.body)
	}
	if introspect(a, rotated.str("access_token")) {
		t.Fatal("an access token of a revoked family is active")
	}

	// A connection revoked at B is inactive at A.
	tok = exchange(b, code(b))
	if !introspect(a, tok.str("access_token")) {
		t.Fatal("a fresh token is inactive at A")
	}
	req, _ := http.NewRequest(http.MethodDelete, b.url+"/connections/current", nil)
	req.Header.Set("Authorization", "Bearer "+tok.str("access_token"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("disconnect at B: %v %v", resp, err)
	}
	resp.Body.Close()
	if introspect(a, tok.str("access_token")) {
		t.Fatal("a token of a connection revoked at B is active at A")
	}

	// A key rotated at A verifies at B within the reload interval, and the
	// JWKS is the same everywhere once both have reloaded (keys_test.go
	// races rotations and traffic).
	if _, err := a.signer.Rotate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	cc := a.post(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, client.ID, secret)
	deadline := time.Now().Add(5 * time.Second)
	for !introspect(b, cc.str("access_token")) {
		if time.Now().After(deadline) {
			t.Fatal("B never accepted a token signed with the key A rotated in")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for string(a.signer.JWKS()) != string(b.signer.JWKS()) {
		if time.Now().After(deadline) {
			t.Fatal("the instances publish different JWKS")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
