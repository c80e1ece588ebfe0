package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/admin"
	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/store/sqlite"
)

var createArgs = []string{
	"--name", "Budget app",
	"--grant-type", "authorization_code", "--grant-type", "refresh_token",
	"--redirect-uri", "https://app.example.com/callback",
	"--scope", "accounts balances",
	"--environment", "production",
	"--refresh-policy", "fixed", "--refresh-idle-timeout", "720h",
	"--access-token-ttl", "900",
	"--metadata", "team=payments",
}

func TestClientCreateJSON(t *testing.T) {
	dir := t.TempDir()
	out := mustRun(t, nil, append([]string{"client", "create", "--data-dir", dir, "--output", "json"}, createArgs...)...)
	golden(t, "client-create-json.golden", normalize(out))

	var v clients.View
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if !uuidRE.MatchString(v.ClientID) || !strings.HasPrefix(v.ClientSecret, "gcs_") {
		t.Errorf("client_id %q, client_secret %q", v.ClientID, v.ClientSecret)
	}

	// The same parameters through POST /admin/clients answer the same JSON.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "admin.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := admin.New(admin.Options{Token: "t0ken", Clients: &clients.Manager{Store: st}, Store: st})
	body := `{"name":"Budget app","grant_types":["authorization_code","refresh_token"],` +
		`"redirect_uris":["https://app.example.com/callback"],"scope":"accounts balances","environment":"production",` +
		`"refresh_policy":"fixed","refresh_idle_timeout":"720h","access_token_ttl":900,"metadata":{"team":"payments"}}`
	req := httptest.NewRequest("POST", "/admin/clients", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer t0ken")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /admin/clients: %d %s", rec.Code, rec.Body)
	}
	if got, want := normalize(out), normalize(rec.Body.String()); got != want {
		t.Errorf("CLI JSON differs from POST /admin/clients\ncli:   %s\nadmin: %s", got, want)
	}
}

func TestClientCommands(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"GRANTD_DATA_DIR": dir}
	out := mustRun(t, env, append([]string{"client", "create"}, createArgs...)...)
	golden(t, "client-create-text.golden", normalize(out))
	mustRun(t, env, "client", "create", "--name", "CLI tool", "--auth-method", "none",
		"--grant-type", "authorization_code,refresh_token", "--redirect-uri", "http://127.0.0.1/cb")
	mustRun(t, env, "client", "create", "--name", "Reporting job", "--grant-type", "client_credentials", "--token-format", "opaque", "--tier", "gold")

	list := mustRun(t, env, "client", "list")
	golden(t, "client-list.golden", normalize(list))

	var listed struct {
		Clients []clients.View `json:"clients"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "client", "list", "--output", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed.Clients) != 3 {
		t.Fatalf("listed %d clients, want 3", len(listed.Clients))
	}
	for _, v := range listed.Clients {
		if v.ClientSecret != "" {
			t.Errorf("list shows a secret for %s", v.ClientID)
		}
	}

	id := listed.Clients[0].ClientID
	got := mustRun(t, env, "client", "get", id)
	if !strings.Contains(got, id) || strings.Contains(got, "gcs_") {
		t.Errorf("client get:\n%s", got)
	}
	var one clients.View
	if err := json.Unmarshal([]byte(mustRun(t, env, "client", "get", "--output", "json", id)), &one); err != nil || one.ClientID != id {
		t.Fatalf("client get --output json: %+v, %v", one, err)
	}

	if got := mustRun(t, env, "client", "delete", id); got != "deleted client "+id+"\n" {
		t.Errorf("client delete: %q", got)
	}
	if r := runCLI(t, env, "client", "get", id); r.code != 1 {
		t.Errorf("get after delete: %+v", r)
	}
	if n := strings.Count(mustRun(t, env, "client", "list"), "\n"); n != 3 { // header + 2
		t.Errorf("list after delete has %d lines", n)
	}
}

func TestKeysCommands(t *testing.T) {
	env := map[string]string{"GRANTD_DATA_DIR": t.TempDir(), "GRANTD_SIGNING_ALGORITHM": "ES256"}
	if got := mustRun(t, env, "keys", "list"); got != "KID  ALG  STATE  CREATED\n" {
		t.Errorf("keys list on an empty store: %q", got)
	}
	if got := mustRun(t, env, "keys", "rotate"); !strings.HasPrefix(got, "first signing key ") {
		t.Errorf("first rotate: %q", got)
	}
	if got := mustRun(t, env, "keys", "rotate"); !strings.HasPrefix(got, "new current key ") {
		t.Errorf("second rotate: %q", got)
	}
	var keys struct {
		Keys []struct{ KID, Alg, State string } `json:"keys"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "keys", "list", "--output", "json")), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys.Keys) != 2 || keys.Keys[0].State != "current" || keys.Keys[1].State != "previous" || keys.Keys[0].Alg != "ES256" {
		t.Errorf("keys: %+v", keys.Keys)
	}
	// A store with keys and no key-encryption key: refuse to make a new one.
	r := runCLI(t, map[string]string{"GRANTD_DATA_DIR": t.TempDir(), "GRANTD_STORE": filepath.Join(env["GRANTD_DATA_DIR"], "grantd.db")}, "keys", "rotate")
	if r.code != 1 || !strings.Contains(r.stderr, "GRANTD_KEY_ENCRYPTION_KEY") {
		t.Errorf("rotate without the KEK: %+v", r)
	}
}

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	store := "sqlite://" + filepath.Join(dir, "sub", "g.db") // sqlite:///abs
	for range 2 {
		got := mustRun(t, nil, "migrate", "--store", store)
		if want := "sqlite:" + filepath.Join(dir, "sub", "g.db") + ": schema version"; !strings.HasPrefix(got, want) {
			t.Errorf("migrate: %q, want prefix %q", got, want)
		}
	}
}
