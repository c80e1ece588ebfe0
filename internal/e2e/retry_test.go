package e2e

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// TestRefreshRetryAcrossInstances: two instances on one PostgreSQL
// database, with a retry window: a rotated refresh token sent again to
// both at once, many times, gets one answer, the same everywhere; raced
// against its successor's use, each retry gets either that answer or a
// refusal, and once a refusal revoked the family no token of it is live.
func TestRefreshRetryAcrossInstances(t *testing.T) {
	ins := startInstances(t, 2)
	for _, in := range ins {
		in.provider.RefreshRetryWindow, in.provider.RetryKey = 30*time.Second, []byte("one key every instance derives..")
	}
	ctx := context.Background()
	const redirect = "http://127.0.0.1:9876/callback"
	secret := oauth.PrefixClientSecret + oauth.RandomToken(32)
	client := store.Client{
		ID: uuid.NewString(), Name: "Retry app", SecretHash: store.Hash(secret), AuthMethod: store.AuthMethodBasic,
		GrantTypes:    []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		ResponseTypes: []string{"code"}, RedirectURIs: []string{redirect}, Scopes: []string{"accounts"},
		Environment: "sandbox", State: store.ClientActive, RefreshPolicy: store.RefreshRotating,
		TokenFormat: store.TokenFormatOpaque, CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	if err := ins[0].store.CreateClient(ctx, client); err != nil {
		t.Fatal(err)
	}
	refreshOf := func() string {
		t.Helper()
		res, err := ins[0].provider.Authorize(ctx, url.Values{"response_type": {"code"}, "client_id": {client.ID}, "redirect_uri": {redirect}})
		if err != nil {
			t.Fatal(err)
		}
		to, err := ins[0].provider.Accept(ctx, res.Request.ID, oauth.Consent{Subject: "sam", ProviderID: "sandbox-bank"})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(to)
		r := ins[1].post(t, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
			"redirect_uri": {redirect}}, client.ID, secret)
		if r.status != 200 {
			t.Fatalf("exchange: %d %v", r.status, r.body)
		}
		return r.str("refresh_token")
	}
	refresh := func(in *instance, rt string) answer {
		return in.post(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, client.ID, secret)
	}
	live := func(tok string) bool {
		r := ins[0].post(t, "/oauth/introspect", url.Values{"token": {tok}}, client.ID, secret)
		return r.body["active"] == true
	}

	// Many retries at both instances at once: one answer.
	rt0 := refreshOf()
	first := refresh(ins[0], rt0)
	if first.status != 200 {
		t.Fatalf("rotation: %d %v", first.status, first.body)
	}
	var wg sync.WaitGroup
	answers := make([]answer, 20)
	for i := range answers {
		wg.Go(func() { answers[i] = refresh(ins[i%2], rt0) })
	}
	wg.Wait()
	for _, a := range answers {
		if a.status != 200 || a.str("refresh_token") != first.str("refresh_token") || a.str("access_token") != first.str("access_token") {
			t.Fatalf("a concurrent retry: %d %v, want the first answer", a.status, a.body)
		}
	}
	if !live(first.str("refresh_token")) {
		t.Fatal("the successor is not live after retries")
	}

	// Retries raced against the successor's use: each is the first answer
	// or a refusal; after a refusal the family is revoked.
	for round := range 5 {
		rt0 := refreshOf()
		first := refresh(ins[0], rt0)
		var succ answer
		retries := make([]answer, 8)
		wg.Go(func() { succ = refresh(ins[1], first.str("refresh_token")) })
		for i := range retries {
			wg.Go(func() { retries[i] = refresh(ins[i%2], rt0) })
		}
		wg.Wait()
		refused := 0
		for _, a := range retries {
			switch {
			case a.status == 200 && a.str("refresh_token") == first.str("refresh_token"):
			case a.status == 400 && a.str("error") == "invalid_grant":
				refused++
			default:
				t.Fatalf("round %d: a racing retry: %d %v", round, a.status, a.body)
			}
		}
		if refused > 0 && succ.status == 200 && live(succ.str("refresh_token")) {
			t.Fatalf("round %d: %d retries refused as reuse, yet the successor's successor is live", round, refused)
		}
	}
}
