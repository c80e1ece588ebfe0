package admin_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/admin"
	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/seal"
	"github.com/grantd/grantd/internal/store/sqlite"
	"github.com/grantd/grantd/internal/testenv"
)

// newWebhookEnv is the admin API with webhooks available (a Manager with a
// sealer), on a real SQLite file.
func newWebhookEnv(t *testing.T) (*env, *seal.Sealer) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "grantd.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	sl, err := seal.New(bytes.Repeat([]byte{5}, seal.KeySize), "webhook-secret")
	if err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(admin.New(admin.Options{
		Token:   adminToken,
		Clients: &clients.Manager{Store: st, Now: clk.Now, Seal: sl.Seal},
		Store:   st,
		Logger:  logger,
		Now:     clk.Now,
	}))
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: st, clock: clk, logs: logs}, sl
}

// wantStoredSecret checks the store holds secret sealed for the client.
func wantStoredSecret(t *testing.T, e *env, sl *seal.Sealer, id, secret string) {
	t.Helper()
	if !strings.HasPrefix(secret, "whsec_") || len(secret) != 6+43 {
		t.Fatalf("webhook_secret %q", secret)
	}
	c, err := e.store.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sl.Open(c.WebhookSecret, id)
	if err != nil || string(got) != secret {
		t.Fatalf("the stored webhook secret opens to %q, %v", got, err)
	}
}

func TestWebhookSecretShownOnce(t *testing.T) {
	e, sl := newWebhookEnv(t)

	r := e.createClient(`{"name":"Acme","webhook_url":"https://hooks.acme.example/grantd"}`)
	id, secret := r.str("client_id"), r.str("webhook_secret")
	if r.str("webhook_url") != "https://hooks.acme.example/grantd" || r.str("client_secret") == "" {
		t.Fatalf("create answer %s", r.raw)
	}
	wantStoredSecret(t, e, sl, id, secret)

	// Reads never show it.
	for _, path := range []string{"/admin/clients/" + id, "/admin/clients"} {
		g := e.call("GET", path, "")
		if g.status != 200 || !bytes.Contains(g.raw, []byte("https://hooks.acme.example/grantd")) ||
			bytes.Contains(g.raw, []byte("webhook_secret")) || bytes.Contains(g.raw, []byte(secret[6:])) {
			t.Errorf("GET %s: %d %s", path, g.status, g.raw)
		}
	}
	// Nor does a patch that keeps the webhook.
	p := e.call("PATCH", "/admin/clients/"+id, `{"webhook_url":"https://hooks.acme.example/v2"}`)
	if p.status != 200 || p.str("webhook_url") != "https://hooks.acme.example/v2" || bytes.Contains(p.raw, []byte("webhook_secret")) {
		t.Errorf("patch: %d %s", p.status, p.raw)
	}
	wantStoredSecret(t, e, sl, id, secret)

	// A client without a webhook gets its secret from the patch that adds one.
	plain := e.createClient(`{"name":"Plain"}`)
	if _, ok := plain.body["webhook_secret"]; ok || plain.str("webhook_url") != "" {
		t.Errorf("a client without webhook: %s", plain.raw)
	}
	p = e.call("PATCH", "/admin/clients/"+plain.str("client_id"), `{"webhook_url":"http://127.0.0.1:9000/hook"}`)
	if p.status != 200 {
		t.Fatalf("patch: %d %s", p.status, p.raw)
	}
	wantStoredSecret(t, e, sl, plain.str("client_id"), p.str("webhook_secret"))

	if logs := e.logs.String(); strings.Contains(logs, secret[6:]) || strings.Contains(logs, p.str("webhook_secret")[6:]) {
		t.Error("a webhook secret was logged")
	}
}

func TestWebhookSecretRotation(t *testing.T) {
	e, sl := newWebhookEnv(t)
	r := e.createClient(`{"name":"Acme","webhook_url":"https://hooks.acme.example/grantd"}`)
	id, old := r.str("client_id"), r.str("webhook_secret")

	e.clock.Advance(time.Hour)
	rot := e.call("POST", "/admin/clients/"+id+"/webhook-secret", "")
	if rot.status != 200 || rot.str("client_id") != id || rot.str("webhook_secret") == old ||
		rot.str("updated_at") != "2026-03-01T13:00:00Z" || rot.str("client_secret") != "" {
		t.Fatalf("rotate: %d %s", rot.status, rot.raw)
	}
	wantStoredSecret(t, e, sl, id, rot.str("webhook_secret"))
	if again := e.call("POST", "/admin/clients/"+id+"/webhook-secret", "{}"); again.status != 200 ||
		again.str("webhook_secret") == rot.str("webhook_secret") {
		t.Errorf("second rotation: %d %s", again.status, again.raw)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "webhook secret rotated") || strings.Contains(logs, rot.str("webhook_secret")[6:]) {
		t.Errorf("logs:\n%s", logs)
	}

	plain := e.createClient(`{"name":"Plain"}`).str("client_id")
	wantError(t, e.call("POST", "/admin/clients/"+plain+"/webhook-secret", ""), 400, "invalid_client_metadata")
	wantError(t, e.call("POST", "/admin/clients/00000000-0000-0000-0000-000000000000/webhook-secret", ""), 404, "not_found")
	wantError(t, e.call("POST", "/admin/clients/"+id+"/webhook-secret", `{"secret":"mine"}`), 400, "invalid_request")
	wantError(t, e.call("GET", "/admin/clients/"+id+"/webhook-secret", ""), 405, "method_not_allowed")
	wantStoredSecret(t, e, sl, id, e.call("POST", "/admin/clients/"+id+"/webhook-secret", "").str("webhook_secret"))
}

func TestWebhookURLRefused(t *testing.T) {
	e, _ := newWebhookEnv(t)
	for _, u := range []string{"http://hooks.acme.example/grantd", "ftp://hooks.acme.example/", "https://hooks.acme.example/#x", "/hook"} {
		r := e.call("POST", "/admin/clients", `{"name":"Acme","webhook_url":"`+u+`"}`)
		wantError(t, r, 400, "invalid_client_metadata")
		if !strings.Contains(r.str("error_description"), "webhook_url") {
			t.Errorf("%s: %s", u, r.raw)
		}
	}
	id := e.createClient(`{"name":"Acme"}`).str("client_id")
	wantError(t, e.call("PATCH", "/admin/clients/"+id, `{"webhook_url":"http://hooks.acme.example/"}`), 400, "invalid_client_metadata")
	wantError(t, e.call("PATCH", "/admin/clients/"+id, `{"webhook_url":["https://a.example/"]}`), 400, "invalid_request")

	// Without a sealer (no key-encryption key), webhooks are refused.
	srv := httptest.NewServer(admin.New(admin.Options{Token: adminToken, Clients: &clients.Manager{Store: e.store}}))
	defer srv.Close()
	noSeal := &env{t: t, srv: srv, store: e.store}
	r := noSeal.call("POST", "/admin/clients", `{"name":"Acme","webhook_url":"https://hooks.acme.example/grantd"}`)
	wantError(t, r, 400, "invalid_client_metadata")
	if !strings.Contains(r.str("error_description"), "not available") {
		t.Errorf("no sealer: %s", r.raw)
	}
	wantError(t, noSeal.call("POST", "/admin/clients/"+id+"/webhook-secret", ""), 400, "invalid_client_metadata")
	if r := noSeal.call("GET", "/admin/clients/"+id, ""); r.status != http.StatusOK {
		t.Errorf("get: %d", r.status)
	}
}
