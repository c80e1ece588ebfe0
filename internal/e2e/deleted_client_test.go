package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/grantd/grantd/internal/dialect/all"
	"github.com/grantd/grantd/internal/dialect/oauth2"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/server"
	"github.com/grantd/grantd/internal/signer"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/store/postgres"
	"github.com/grantd/grantd/internal/store/postgres/pgtest"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/web"
)

// TestDeletedClientUnderTraffic deletes clients while they have token,
// authorize and connect-session requests in flight, on both backends. A
// request whose client vanished mid-way answers as for an unknown client
// (401 invalid_client, an authorize error page, invalid_grant for a code
// that went with it), never a 500: the store reports the missing client
// (store.ErrMissingParent) instead of a foreign-key failure.
func TestDeletedClientUnderTraffic(t *testing.T) {
	backends := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "grantd.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		"postgres": func(t *testing.T) store.Store {
			_, dsn := pgtest.Schema(t)
			st, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 16})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) { deletedClientRace(t, open(t)) })
	}
}

func deletedClientRace(t *testing.T, st store.Store) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sg, err := signer.New(ctx, signer.Options{Store: st, KEK: make([]byte, 32), Algorithm: signer.ES256, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	p := &oauth.Provider{Store: st, Signer: sg, Issuer: srv.URL, Logger: logger, HostedConsentPath: web.Path,
		Catalogue: oauth.SandboxCatalogue()}
	srv.Config.Handler = server.New(server.Options{Provider: p, Keys: sg, Store: st, Logger: logger,
		Dialects: all.Dialects()}).Handler()
	const redirect = "http://127.0.0.1:9876/callback"
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	var mu sync.Mutex
	seen := map[string]int{} // "status error" -> count
	record := func(status int, body []byte) {
		var e struct{ Error string }
		_ = json.Unmarshal(body, &e)
		mu.Lock()
		seen[http.StatusText(status)+" "+e.Error]++
		mu.Unlock()
		if status >= 500 {
			t.Errorf("%d: %s", status, body)
		}
	}
	do := func(req *http.Request) {
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusFound && !strings.HasPrefix(loc, web.Path+"?") {
			// /oauth/authorize sends the browser on to the consent step, or
			// back with an error that must not be a server error.
			t.Errorf("authorize redirected to %s", loc)
		}
		record(resp.StatusCode, b)
	}
	post := func(path, ct, body, id, secret string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		do(req)
	}

	const rounds, workers = 12, 6
	for round := range rounds {
		secret := oauth.PrefixClientSecret + oauth.RandomToken(32)
		now := time.Now()
		c := store.Client{ID: uuid.NewString(), Name: "Doomed", SecretHash: store.Hash(secret), AuthMethod: store.AuthMethodBasic,
			GrantTypes:    []string{oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
			ResponseTypes: []string{"code"}, RedirectURIs: []string{redirect}, Scopes: []string{"accounts"},
			Environment: "sandbox", State: store.ClientActive, RefreshPolicy: store.RefreshRotating,
			// Opaque tokens: even client_credentials writes a record, which
			// refers to the client.
			TokenFormat: store.TokenFormatOpaque, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		var codes, refresh []string
		for range workers {
			res, err := p.Authorize(ctx, url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirect}})
			if err != nil {
				t.Fatal(err)
			}
			to, err := p.Accept(ctx, res.Request.ID, oauth.Consent{Subject: "u", ProviderID: "sandbox-bank"})
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(to)
			codes = append(codes, u.Query().Get("code"))
		}
		// A refresh token per worker, from one more code each.
		for range workers {
			res, err := p.Authorize(ctx, url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirect}})
			if err != nil {
				t.Fatal(err)
			}
			to, err := p.Accept(ctx, res.Request.ID, oauth.Consent{Subject: "u", ProviderID: "sandbox-bank"})
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(to)
			tok, err := p.Token(ctx, oauth2.New().Profile(), oauth.TokenRequest{GrantType: oauth.GrantAuthorizationCode,
				Code: u.Query().Get("code"), RedirectURI: redirect,
				Client: oauth.ClientCredentials{ID: c.ID, Secret: secret, Presented: oauth.PresentedBasic}})
			if err != nil {
				t.Fatal(err)
			}
			refresh = append(refresh, tok.RefreshToken)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					switch (i + w) % 5 {
					case 0:
						post("/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", c.ID, secret)
					case 1:
						post("/oauth/token", "application/x-www-form-urlencoded",
							url.Values{"grant_type": {"authorization_code"}, "code": {codes[w]}, "redirect_uri": {redirect}}.Encode(), c.ID, secret)
					case 2:
						req, _ := http.NewRequest(http.MethodGet, srv.URL+"/oauth/authorize?"+url.Values{"response_type": {"code"},
							"client_id": {c.ID}, "redirect_uri": {redirect}, "state": {"s"}}.Encode(), nil)
						do(req)
					case 3:
						post("/connect/sessions", "application/json", `{"customer_id":"cust"}`, c.ID, secret)
					case 4:
						// A fixed family would be idempotent; this one rotates:
						// the first use wins, the rest are reuse.
						post("/oauth/token", "application/x-www-form-urlencoded",
							url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh[w]}}.Encode(), c.ID, secret)
					}
				}
			})
		}
		time.Sleep(time.Duration(5+round%4*5) * time.Millisecond)
		if err := st.DeleteClient(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		close(stop)
		wg.Wait()
	}
	t.Logf("answers: %v", seen)
	for k := range seen {
		switch k {
		case "OK ", "Found ", "Bad Request invalid_grant", "Unauthorized invalid_client", "Bad Request invalid_client":
		default:
			t.Errorf("unexpected answer %q (%d times)", k, seen[k])
		}
	}
}
