package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/admin"
	"github.com/grantd/grantd/internal/clients"
	"github.com/grantd/grantd/internal/config"
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
	"--state", "suspended", "--state-reason", "awaiting contract",
	"--metered", "--overdraft",
	"--operating-hours", `{"time_zone":"Europe/Bucharest","weekly":{"mon":["09:00-17:00"]}}`,
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
	h := admin.New(admin.Options{Token: "t0ken", Clients: configManager(st), Store: st})
	body := `{"name":"Budget app","grant_types":["authorization_code","refresh_token"],` +
		`"redirect_uris":["https://app.example.com/callback"],"scope":"accounts balances","environment":"production",` +
		`"refresh_policy":"fixed","refresh_idle_timeout":"720h","access_token_ttl":900,"metadata":{"team":"payments"},` +
		`"state":"suspended","state_reason":"awaiting contract","metered":true,"overdraft":true,` +
		`"operating_hours":{"time_zone":"Europe/Bucharest","weekly":{"mon":["09:00-17:00"]}}}`
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
	mustRun(t, env, "client", "create", "--name", "Reporting job", "--grant-type", "client_credentials", "--token-format", "opaque", "--tier", "enterprise")

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

var (
	entryIDRE = regexp.MustCompile(`led_[0-9a-f]+`)
	madeKeyRE = regexp.MustCompile(regexp.QuoteMeta(clients.PrefixIdempotencyKey) + `[A-Za-z0-9_-]{22}`)
)

// normalizeLedger is normalize, and ledger entry ids and made idempotency
// keys replaced by placeholders of the same width.
func normalizeLedger(s string) string {
	s = entryIDRE.ReplaceAllStringFunc(normalize(s), func(id string) string { return "led_" + strings.Repeat("0", len(id)-4) })
	return madeKeyRE.ReplaceAllString(s, clients.PrefixIdempotencyKey+"MADE_KEY_XXXXXXXXXXXXX")
}

// configManager is the clients manager serve makes with the default
// configuration: the built-in tiers, free by default.
func configManager(st clients.Store) *clients.Manager {
	var cfg config.Config
	return &clients.Manager{Store: st, Tiers: cfg.TierNames(), DefaultTier: cfg.EffectiveDefaultTier()}
}

// adminCall answers path from the admin API on the store file db, for
// comparing the CLI's --output json with it.
func adminCall(t *testing.T, db, method, path, body string) (int, string) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := admin.New(admin.Options{Token: "t0ken", Clients: configManager(st), Store: st})
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer t0ken")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestClientBalanceCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "grantd.db")
	env := map[string]string{"GRANTD_DATA_DIR": dir}
	created := func(args ...string) string {
		var v clients.View
		if err := json.Unmarshal([]byte(mustRun(t, env, append([]string{"client", "create", "--output", "json"}, args...)...)), &v); err != nil {
			t.Fatal(err)
		}
		return v.ClientID
	}
	id := created("--name", "Metered", "--metered", "--tier", "pro")
	plain := created("--name", "Plain")

	golden(t, "client-balance-get-text.golden", normalizeLedger(mustRun(t, env, "client", "balance", "get", id)))
	topUp := []string{"client", "balance", "add", id, "--amount", "500", "--reason", "invoice 2026-03", "--idempotency-key", "inv-2026-03"}
	golden(t, "client-balance-add-text.golden", normalizeLedger(mustRun(t, env, topUp...)))
	golden(t, "client-balance-add-replay-text.golden", normalizeLedger(mustRun(t, env, topUp...)))

	// Without a key, one is made and printed (on stderr: stdout stays the
	// answer).
	r := runCLI(t, env, "client", "balance", "add", id, "--amount", "-200", "--reason", "api calls", "--output", "json")
	if r.code != 0 {
		t.Fatalf("debit: %+v", r)
	}
	var debit clients.AdjustmentView
	if err := json.Unmarshal([]byte(r.stdout), &debit); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(debit.Entry.IdempotencyKey, clients.PrefixIdempotencyKey) || debit.Balance != 300 ||
		!strings.Contains(r.stderr, "idempotency key: "+debit.Entry.IdempotencyKey+" ") {
		t.Errorf("debit with a made key: %+v, stderr %q", debit, r.stderr)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"below zero", []string{"balance", "add", id, "--amount", "-301", "--reason", "api calls", "--idempotency-key", "k2"}, "below zero"},
		{"not metered", []string{"balance", "add", plain, "--amount", "1", "--reason", "r", "--idempotency-key", "k3"}, "is not metered"},
		{"key with another amount", []string{"balance", "add", id, "--amount", "499", "--reason", "r", "--idempotency-key", "inv-2026-03"}, "used before"},
		{"invalid", []string{"balance", "add", id, "--idempotency-key", "k4"}, "amount is required"},
		{"unknown client", []string{"balance", "get", "no-such-client"}, `client "no-such-client" not found`},
		{"unknown client's ledger", []string{"ledger", "no-such-client"}, `client "no-such-client" not found`},
		{"create with a tier the config lacks", []string{"create", "--name", "x", "--tier", "gold"}, `tier "gold" is not one of enterprise, free, pro`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, env, append([]string{"client"}, tt.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("%+v, want exit 1 and %q", r, tt.want)
			}
		})
	}
	for _, args := range [][]string{{"balance"}, {"balance", "set", id}, {"balance", "get"}, {"ledger", id, "--limit", "0"}} {
		if r := runCLI(t, env, append([]string{"client"}, args...)...); r.code != 2 {
			t.Errorf("%q: %+v, want a usage error", args, r)
		}
	}

	golden(t, "client-ledger-text.golden", normalizeLedger(mustRun(t, env, "client", "ledger", id)))
	page := mustRun(t, env, "client", "ledger", id, "--limit", "1")
	i := strings.Index(page, "More entries: --cursor ")
	if i < 0 {
		t.Fatalf("ledger --limit 1:\n%s", page)
	}
	cursor := strings.TrimSpace(page[i+len("More entries: --cursor "):])
	rest := mustRun(t, env, "client", "ledger", id, "--limit", "5", "--cursor", cursor)
	if strings.Count(rest, "\n") != 2 || !strings.Contains(rest, "topup") || strings.Contains(rest, "More entries") {
		t.Errorf("second page:\n%s", rest)
	}

	// --output json prints what the admin API answers.
	for _, tt := range []struct {
		args []string
		path string
	}{
		{[]string{"balance", "get", id}, "/admin/clients/" + id + "/balance"},
		{[]string{"ledger", id}, "/admin/clients/" + id + "/ledger"},
		{[]string{"ledger", id, "--limit", "1"}, "/admin/clients/" + id + "/ledger?limit=1"},
		{[]string{"list"}, "/admin/clients"},
	} {
		cli := mustRun(t, env, append(append([]string{"client"}, tt.args...), "--output", "json")...)
		status, api := adminCall(t, db, "GET", tt.path, "")
		if status != http.StatusOK || cli != api {
			t.Errorf("%q\ncli:   %s\nadmin: %d %s", tt.args, cli, status, api)
		}
	}
	cli := mustRun(t, env, append(topUp, "--output", "json")...)
	status, api := adminCall(t, db, "POST", "/admin/clients/"+id+"/balance",
		`{"amount":500,"reason":"invoice 2026-03","idempotency_key":"inv-2026-03"}`)
	if status != http.StatusOK || cli != api {
		t.Errorf("replayed top-up\ncli:   %s\nadmin: %d %s", cli, status, api)
	}
}

func TestClientRotateSecret(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "grantd.db")
	env := map[string]string{"GRANTD_DATA_DIR": dir}
	var created clients.View
	if err := json.Unmarshal([]byte(mustRun(t, env, "client", "create", "--name", "Job", "--output", "json")), &created); err != nil {
		t.Fatal(err)
	}
	id := created.ClientID

	out := mustRun(t, env, "client", "rotate-secret", id)
	golden(t, "client-rotate-secret-text.golden", normalize(out))
	secrets := secretRE.FindAllString(out, -1)
	if len(secrets) != 1 || secrets[0] == created.ClientSecret {
		t.Fatalf("rotate-secret printed %v (created with %s)", secrets, created.ClientSecret)
	}
	get := mustRun(t, env, "client", "get", id)
	if !strings.Contains(get, "previous_secret_expires_at:") || strings.Contains(get, "gcs_") {
		t.Errorf("client get after a rotation:\n%s", get)
	}

	var v clients.SecretView
	if err := json.Unmarshal([]byte(mustRun(t, env, "client", "rotate-secret", "--grace", "0", "--output", "json", id)), &v); err != nil {
		t.Fatal(err)
	}
	if v.ClientID != id || !strings.HasPrefix(v.ClientSecret, "gcs_") || v.PreviousSecretExpiresAt != nil {
		t.Errorf("rotate-secret --grace 0: %+v", v)
	}
	if get := mustRun(t, env, "client", "get", id); strings.Contains(get, "previous_secret_expires_at") {
		t.Errorf("client get after a rotation at once:\n%s", get)
	}
	// The flags may follow the id, and --grace takes seconds.
	if err := json.Unmarshal([]byte(mustRun(t, env, "client", "rotate-secret", id, "--grace", "3600", "--output", "json")), &v); err != nil || v.PreviousSecretExpiresAt == nil {
		t.Errorf("rotate-secret ID --grace 3600: %+v, %v", v, err)
	}

	// --output json has the fields of POST /admin/clients/{id}/secret.
	status, api := adminCall(t, db, "POST", "/admin/clients/"+id+"/secret", `{"grace":"1h"}`)
	cli := mustRun(t, env, "client", "rotate-secret", id, "--grace", "1h", "--output", "json")
	if status != http.StatusCreated || normalize(cli) != normalize(api) {
		t.Errorf("rotate-secret --output json\ncli:   %s\nadmin: %d %s", cli, status, api)
	}

	pub := mustRun(t, env, "client", "create", "--name", "CLI tool", "--auth-method", "none", "--redirect-uri", "http://127.0.0.1/cb", "--output", "json")
	var pv clients.View
	if err := json.Unmarshal([]byte(pub), &pv); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{pv.ClientID}, "is public"},
		{[]string{"no-such-client"}, `client "no-such-client" not found`},
		{[]string{id, "--grace", "721h"}, "grace must be at most"},
		{[]string{id, "--grace", "-1s"}, "grace must not be negative"},
	} {
		r := runCLI(t, env, append([]string{"client", "rotate-secret"}, tt.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
			t.Errorf("%q: %+v, want exit 1 and %q", tt.args, r, tt.want)
		}
	}
	for _, args := range [][]string{{}, {id, "extra"}, {id, "--grace", "a day"}} {
		if r := runCLI(t, env, append([]string{"client", "rotate-secret"}, args...)...); r.code != 2 {
			t.Errorf("%q: %+v, want a usage error", args, r)
		}
	}
}

func TestClientCreateSigningAlg(t *testing.T) {
	env := map[string]string{"GRANTD_DATA_DIR": t.TempDir()}
	var v clients.View
	if err := json.Unmarshal([]byte(mustRun(t, env, "client", "create", "--name", "FAPI", "--access-token-signing-alg", "PS256", "--output", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.AccessTokenSigningAlg != "PS256" {
		t.Errorf("access_token_signing_alg %q", v.AccessTokenSigningAlg)
	}
	// The configuration's algorithms bound it.
	env["GRANTD_SIGNING_ALGORITHMS"] = "RS256,ES256"
	env["GRANTD_SIGNING_ALGORITHM"] = "RS256"
	r := runCLI(t, env, "client", "create", "--name", "FAPI", "--access-token-signing-alg", "PS256")
	if r.code != 1 || !strings.Contains(r.stderr, `access_token_signing_alg "PS256" is not one of RS256, ES256`) {
		t.Errorf("an algorithm the server does not sign with: %+v", r)
	}
}
